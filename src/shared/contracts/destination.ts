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

/** A stable SSRC for a stream name (FNV-1a, never 0), so a restart keeps it. */
export function ssrcForName(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash === 0 ? 1 : hash;
}
