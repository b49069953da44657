/**
 * Where a stream is sent as GB28181 PS over RTP: a ZLMediaKit openRtpServer port, an
 * upper platform, a recorder. The one definition used by the config (`jt1078.forward`),
 * the forwards API and the media worker's RTP senders (muxing outputs and packet relays).
 */
export interface Destination {
  host: string;
  port: number;
  /** udp, or tcp with RFC 4571 framing (camgate connects; the receiver is passive). */
  transport: 'udp' | 'tcp';
  /** Fixed SSRC; absent: derived from the stream name. */
  ssrc?: number;
  /**
   * tcp only: the receiver connects to us (an upper platform's `a=setup:active` offer).
   * `port` is the port we listen on (0 in a `forward.add` to the media process: one of
   * media.rtpPorts is taken); only `host` (the offer's c= address) or one of `peers`
   * (where its SIP came from, for a receiver behind NAT) may connect.
   */
  listen?: { acceptTimeoutMs: number; peers?: string[] };
}

/** A destination with the SSRC it is sent with (given, or derived). */
export type DestinationWithSsrc = Destination & { ssrc: number };

/** A stable SSRC for a name (FNV-1a, never 0), so a restart keeps it. */
export function ssrcForName(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash === 0 ? 1 : hash;
}
