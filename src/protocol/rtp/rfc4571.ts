/**
 * RFC 4571 framing (RTP over TCP, GB28181 TCP active/passive): each packet is preceded by a
 * 16-bit big-endian length. The decoder takes TCP chunks as they come and hands out whole
 * packets; a packet that spans chunks is gathered in a fixed 64 KB buffer, so memory stays
 * bounded whatever the peer sends. With `requireRtpVersion` (default on) a frame that does
 * not start like RTP v2 means we lost the framing: bytes are skipped until a plausible
 * length + RTP header shows up again (same SSRC as the last good packet, when known).
 */

/** Prefix a packet with its length (a copy; the packetizer's `rfc4571` mode avoids it). */
export function encodeRfc4571(packet: Uint8Array): Uint8Array {
  return encodeRfc4571Batch([packet]);
}

/**
 * Packets back to back in one new buffer, each preceded by its RFC 4571 length when
 * `framed` (one TCP write), or not (for datagrams). Returns the buffer; packet i starts at
 * the sum of the earlier packets' sizes plus 2 per packet when framed.
 */
export function encodeRfc4571Batch(packets: readonly Uint8Array[], framed = true): Buffer {
  const prefix = framed ? 2 : 0;
  let size = 0;
  for (const packet of packets) {
    if (packet.length > 0xffff) throw new RangeError('RFC 4571 packets are at most 65535 bytes');
    size += prefix + packet.length;
  }
  const out = Buffer.allocUnsafe(size);
  let p = 0;
  for (const packet of packets) {
    if (framed) {
      out[p] = packet.length >> 8;
      out[p + 1] = packet.length & 0xff;
    }
    out.set(packet, p + prefix);
    p += prefix + packet.length;
  }
  return out;
}

export interface Rfc4571DecoderOptions {
  /** Frames whose first byte is not RTP version 2 are framing errors. Default true. */
  requireRtpVersion?: boolean;
  /** Smallest valid frame; shorter ones are framing errors when `requireRtpVersion`. Default 12. */
  minPacketBytes?: number;
}

export interface Rfc4571DecoderStats {
  packets: number;
  /** Zero-length frames (legal, nothing to hand out). */
  emptyFrames: number;
  /** Times the framing was lost and the decoder resynchronised. */
  resyncs: number;
  skippedBytes: number;
}

/**
 * Receives each packet. The view is either part of the chunk given to `push` or a fresh copy;
 * never memory the decoder reuses, so it may be kept (e.g. in a reorder window).
 */
export type Rfc4571PacketSink = (packet: Uint8Array) => void;

export class Rfc4571Decoder {
  readonly stats: Rfc4571DecoderStats = { packets: 0, emptyFrames: 0, resyncs: 0, skippedBytes: 0 };
  private readonly requireRtpVersion: boolean;
  private readonly minPacketBytes: number;
  /** Partial frame (length prefix included) carried between chunks. */
  private readonly pending = Buffer.allocUnsafeSlow(2 + 0xffff);
  private pendingBytes = 0;
  /** SSRC of the last packet delivered, to make resynchronisation unlikely to lock onto junk. */
  private lastSsrc = -1;

  constructor(
    private readonly onPacket: Rfc4571PacketSink,
    options: Rfc4571DecoderOptions = {},
  ) {
    this.requireRtpVersion = options.requireRtpVersion ?? true;
    this.minPacketBytes = options.minPacketBytes ?? 12;
  }

  /** Bytes held for a frame not yet complete. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  push(chunk: Uint8Array): void {
    let pos = 0;
    const end = chunk.length;
    if (this.pendingBytes > 0) {
      pos = this.completePending(chunk);
      if (pos < 0) return; // everything went into the pending frame
    }
    while (end - pos >= 2) {
      const length = (chunk[pos]! << 8) | chunk[pos + 1]!;
      if (!this.plausible(chunk, pos, end, length)) {
        this.loseSync();
        pos = this.resync(chunk, pos + 1, end);
        continue;
      }
      if (end - pos - 2 < length) break;
      this.deliver(chunk.subarray(pos + 2, pos + 2 + length), length);
      pos += 2 + length;
    }
    if (pos < end) {
      this.pending.set(chunk.subarray(pos, end), 0);
      this.pendingBytes = end - pos;
    }
  }

  reset(): void {
    this.pendingBytes = 0;
  }

  /** Fill the pending frame from `chunk`; returns where the chunk continues, or -1 if used up. */
  private completePending(chunk: Uint8Array): number {
    let pos = 0;
    while (this.pendingBytes < 2 && pos < chunk.length) this.pending[this.pendingBytes++] = chunk[pos++]!;
    if (this.pendingBytes < 2) return -1;
    const length = (this.pending[0]! << 8) | this.pending[1]!;
    // The RTP first byte is needed to judge the length.
    if (length > 0 && this.pendingBytes < 3) {
      if (pos >= chunk.length) return -1;
      this.pending[this.pendingBytes++] = chunk[pos++]!;
    }
    if (!this.plausible(this.pending, 0, this.pendingBytes, length)) {
      // Framing lost: run what we held, minus its first byte, through the resync path.
      const rest = Buffer.concat([this.pending.subarray(1, this.pendingBytes), chunk.subarray(pos)]);
      this.pendingBytes = 0;
      this.loseSync();
      this.stats.skippedBytes += 1;
      this.push(rest);
      return -1;
    }
    const n = Math.min(2 + length - this.pendingBytes, chunk.length - pos);
    this.pending.set(chunk.subarray(pos, pos + n), this.pendingBytes);
    this.pendingBytes += n;
    pos += n;
    if (this.pendingBytes < 2 + length) return -1;
    this.pendingBytes = 0;
    this.deliver(Buffer.from(this.pending.subarray(2, 2 + length)), length);
    return pos;
  }

  private deliver(packet: Uint8Array, length: number): void {
    if (length === 0) {
      this.stats.emptyFrames++;
      return;
    }
    this.stats.packets++;
    if (length >= 12) this.lastSsrc = ((packet[8]! << 24) | (packet[9]! << 16) | (packet[10]! << 8) | packet[11]!) >>> 0;
    this.onPacket(packet);
  }

  /** Does a frame of `length` starting at `pos` look valid (as far as the bytes present tell)? */
  private plausible(buf: Uint8Array, pos: number, end: number, length: number): boolean {
    if (!this.requireRtpVersion) return true;
    if (length === 0) return true;
    if (length < this.minPacketBytes) return false;
    if (pos + 2 < end && buf[pos + 2]! >> 6 !== 2) return false;
    return true;
  }

  /** The RTP header at `p` carries the last SSRC (true when unknown or not all here yet). */
  private sameSsrc(buf: Uint8Array, p: number, end: number): boolean {
    if (this.lastSsrc < 0 || p + 12 > end) return true;
    return ((buf[p + 8]! << 24) | (buf[p + 9]! << 16) | (buf[p + 10]! << 8) | buf[p + 11]!) >>> 0 === this.lastSsrc;
  }

  private loseSync(): void {
    this.stats.resyncs++;
  }

  /** First position from `from` where a plausible frame starts (or where the data runs out). */
  private resync(chunk: Uint8Array, from: number, end: number): number {
    let i = from;
    while (end - i >= 3) {
      const length = (chunk[i]! << 8) | chunk[i + 1]!;
      if (length >= this.minPacketBytes && chunk[i + 2]! >> 6 === 2 && this.sameSsrc(chunk, i + 2, end)) break;
      i++;
    }
    this.stats.skippedBytes += i - from + 1;
    return i;
  }
}
