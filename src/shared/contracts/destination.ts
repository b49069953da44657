/**
 * Where a stream's RTP goes: a forward, a ZLMediaKit RTP server, an upper platform.
 * One definition for the API, the media process and both RTP senders of a worker.
 */
export interface Destination {
  host: string;
  port: number;
  transport: 'udp' | 'tcp';
  /** Our SSRC towards this destination; derived from the stream name when absent. */
  ssrc?: number;
}
