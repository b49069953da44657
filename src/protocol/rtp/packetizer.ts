/**
 * PS over RTP (GB28181, `a=rtpmap:96 PS/90000`): the PS bytes of one frame become RTP
 * packets with payloads of at most `maxPayloadBytes`, the marker on the frame's last packet
 * and the frame's 90 kHz time as timestamp (audio and video share the clock). One instance
 * per destination: it owns the SSRC and the sequence numbers.
 *
 * Speed: all packets of a frame are written into one buffer (headers in place, payload copied
 * once from the muxer's slices) and handed out as views. With `rfc4571` each packet is
 * preceded by its 2-byte length, so `wire` is a single TCP write.
 */
import { RTP_HEADER_BYTES } from './packet.js';

export interface PsRtpPacketizerOptions {
  ssrc: number;
  /** Default 96. */
  payloadType?: number;
  /** Largest RTP payload in bytes. Default 1400 (fits a 1500-byte MTU with IP/UDP headers). */
  maxPayloadBytes?: number;
  /** First sequence number; default random, as RFC 3550 asks. */
  initialSequenceNumber?: number;
  /** Prefix each packet with the RFC 4571 2-byte length in `wire` (RTP over TCP). */
  rfc4571?: boolean;
  /**
   * Write every frame into the same buffer. Only safe when the packets are sent (or copied)
   * before the next `packetize` call; dgram.send is asynchronous, so the default is off.
   */
  reuseBuffer?: boolean;
}

const TWO_POW_32 = 0x100000000;

export class PsRtpPacketizer {
  readonly ssrc: number;
  readonly payloadType: number;
  readonly maxPayloadBytes: number;
  /** Sequence number of the next packet. */
  sequenceNumber: number;
  /** RTCP sender-report counters. */
  packetCount = 0;
  octetCount = 0;

  private readonly prefix: number;
  private readonly reuseBuffer: boolean;
  private buffer: Uint8Array = new Uint8Array(0);
  private wireBytes = 0;

  constructor(options: PsRtpPacketizerOptions) {
    this.ssrc = options.ssrc >>> 0;
    this.payloadType = (options.payloadType ?? 96) & 0x7f;
    this.maxPayloadBytes = Math.max(1, Math.min(65535 - RTP_HEADER_BYTES, Math.floor(options.maxPayloadBytes ?? 1400)));
    this.sequenceNumber = (options.initialSequenceNumber ?? Math.floor(Math.random() * 0x10000)) & 0xffff;
    this.prefix = options.rfc4571 ? 2 : 0;
    this.reuseBuffer = options.reuseBuffer ?? false;
  }

  /**
   * RTP packets (views, without the RFC 4571 prefix) carrying `ps`, a buffer or the slices
   * `PsMuxer.muxSlices` returns. `timestamp` is the frame's 90 kHz time; it is wrapped to 32 bits.
   */
  packetize(ps: Uint8Array | readonly Uint8Array[], timestamp: number): Uint8Array[] {
    const slices: readonly Uint8Array[] = ps instanceof Uint8Array ? [ps] : ps;
    let total = 0;
    for (let i = 0; i < slices.length; i++) total += slices[i]!.length;
    const packets: Uint8Array[] = [];
    this.wireBytes = 0;
    if (total === 0) return packets;

    const max = this.maxPayloadBytes;
    const count = Math.ceil(total / max);
    const perPacket = this.prefix + RTP_HEADER_BYTES;
    const size = total + count * perPacket;
    if (!this.reuseBuffer || this.buffer.length < size) this.buffer = Buffer.allocUnsafe(size);
    const out = this.buffer;

    let ts = timestamp % TWO_POW_32;
    if (ts < 0) ts += TWO_POW_32;
    ts = Math.floor(ts);
    const ts0 = ts >>> 24;
    const ts1 = (ts >>> 16) & 0xff;
    const ts2 = (ts >>> 8) & 0xff;
    const ts3 = ts & 0xff;
    const ssrc = this.ssrc;
    let seq = this.sequenceNumber;

    let sliceIndex = 0;
    let sliceOffset = 0;
    let left = total;
    let p = 0;
    for (let k = 0; k < count; k++) {
      const payloadBytes = left < max ? left : max;
      const packetStart = p + this.prefix;
      if (this.prefix) {
        const length = RTP_HEADER_BYTES + payloadBytes;
        out[p] = length >> 8;
        out[p + 1] = length & 0xff;
      }
      p = packetStart;
      out[p] = 0x80;
      out[p + 1] = (k === count - 1 ? 0x80 : 0) | this.payloadType;
      out[p + 2] = seq >> 8;
      out[p + 3] = seq & 0xff;
      out[p + 4] = ts0;
      out[p + 5] = ts1;
      out[p + 6] = ts2;
      out[p + 7] = ts3;
      out[p + 8] = ssrc >>> 24;
      out[p + 9] = (ssrc >>> 16) & 0xff;
      out[p + 10] = (ssrc >>> 8) & 0xff;
      out[p + 11] = ssrc & 0xff;
      p += RTP_HEADER_BYTES;
      // Copy this packet's payload from as many slices as it spans.
      let need = payloadBytes;
      while (need > 0) {
        const slice = slices[sliceIndex]!;
        const avail = slice.length - sliceOffset;
        if (avail === 0) {
          sliceIndex++;
          sliceOffset = 0;
          continue;
        }
        const n = avail < need ? avail : need;
        out.set(n === slice.length ? slice : slice.subarray(sliceOffset, sliceOffset + n), p);
        p += n;
        sliceOffset += n;
        need -= n;
      }
      packets.push(out.subarray(packetStart, p));
      left -= payloadBytes;
      seq = (seq + 1) & 0xffff;
    }
    this.sequenceNumber = seq;
    this.packetCount += count;
    this.octetCount += total;
    this.wireBytes = p;
    return packets;
  }

  /**
   * Bytes of the last `packetize` call as laid out in the buffer: with `rfc4571` the
   * length-prefixed packets back to back (one TCP write), else the packets back to back.
   */
  get wire(): Uint8Array {
    return this.buffer.subarray(0, this.wireBytes);
  }
}
