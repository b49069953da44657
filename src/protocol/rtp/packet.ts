/**
 * RTP fixed header (RFC 3550 §5.1) parse and serialize. Packets come from devices, so parsing
 * returns a typed error instead of throwing; the payload is a view of the input (no copy).
 */

export interface RtpHeaderExtension {
  /** "defined by profile" 16-bit value (0xBEDE for RFC 8285 one-byte headers). */
  profile: number;
  /** Extension data, a multiple of 4 bytes. */
  data: Uint8Array;
}

export interface RtpHeader {
  marker: boolean;
  payloadType: number;
  /** 16-bit. */
  sequenceNumber: number;
  /** 32-bit, unsigned. */
  timestamp: number;
  /** 32-bit, unsigned. */
  ssrc: number;
  /** Up to 15 contributing sources. */
  csrcs: readonly number[];
  extension: RtpHeaderExtension | null;
}

export interface RtpPacket extends RtpHeader {
  /** Padding bytes removed from the end (0 when the P bit is clear). */
  paddingLength: number;
  /** Payload without padding, a view of the parsed buffer. */
  payload: Uint8Array;
}

export type RtpParseError = 'too-short' | 'bad-version' | 'truncated-csrc' | 'truncated-extension' | 'bad-padding';

export type RtpParseResult = { ok: true; packet: RtpPacket } | { ok: false; error: RtpParseError };

export const RTP_HEADER_BYTES = 12;
const NO_CSRCS: readonly number[] = Object.freeze([]);

export function parseRtpPacket(buf: Uint8Array): RtpParseResult {
  if (buf.length < RTP_HEADER_BYTES) return { ok: false, error: 'too-short' };
  const b0 = buf[0]!;
  if (b0 >> 6 !== 2) return { ok: false, error: 'bad-version' };
  const csrcCount = b0 & 0x0f;
  let p = RTP_HEADER_BYTES + 4 * csrcCount;
  if (p > buf.length) return { ok: false, error: 'truncated-csrc' };
  let csrcs = NO_CSRCS;
  if (csrcCount > 0) {
    const list: number[] = [];
    for (let i = RTP_HEADER_BYTES; i < p; i += 4) list.push(readU32(buf, i));
    csrcs = list;
  }
  let extension: RtpHeaderExtension | null = null;
  if (b0 & 0x10) {
    if (p + 4 > buf.length) return { ok: false, error: 'truncated-extension' };
    const words = (buf[p + 2]! << 8) | buf[p + 3]!;
    const dataEnd = p + 4 + 4 * words;
    if (dataEnd > buf.length) return { ok: false, error: 'truncated-extension' };
    extension = { profile: (buf[p]! << 8) | buf[p + 1]!, data: buf.subarray(p + 4, dataEnd) };
    p = dataEnd;
  }
  let end = buf.length;
  let paddingLength = 0;
  if (b0 & 0x20) {
    paddingLength = buf[end - 1]!;
    if (paddingLength === 0 || end - paddingLength < p) return { ok: false, error: 'bad-padding' };
    end -= paddingLength;
  }
  const b1 = buf[1]!;
  return {
    ok: true,
    packet: {
      marker: (b1 & 0x80) !== 0,
      payloadType: b1 & 0x7f,
      sequenceNumber: (buf[2]! << 8) | buf[3]!,
      timestamp: readU32(buf, 4),
      ssrc: readU32(buf, 8),
      csrcs,
      extension,
      paddingLength,
      payload: buf.subarray(p, end),
    },
  };
}

/** Header bytes `writeRtpHeader` writes for this header (fixed part, CSRCs, extension). */
export function rtpHeaderLength(header: RtpHeader): number {
  return RTP_HEADER_BYTES + 4 * Math.min(15, header.csrcs.length) + (header.extension ? 4 + header.extension.data.length : 0);
}

/**
 * Write the header at `offset`; returns the bytes written. `paddingLength` > 0 sets the P bit
 * (the caller appends the padding). Extension data must be a multiple of 4 bytes.
 * Throws RangeError when `out` is too small (a programmer error, not bad input).
 */
export function writeRtpHeader(header: RtpHeader, out: Uint8Array, offset = 0, paddingLength = 0): number {
  const length = rtpHeaderLength(header);
  if (offset + length > out.length) throw new RangeError('RTP header does not fit the buffer');
  if (paddingLength > 255) throw new RangeError('RTP padding is at most 255 bytes');
  const csrcCount = Math.min(15, header.csrcs.length);
  out[offset] = 0x80 | (paddingLength > 0 ? 0x20 : 0) | (header.extension ? 0x10 : 0) | csrcCount;
  out[offset + 1] = (header.marker ? 0x80 : 0) | (header.payloadType & 0x7f);
  out[offset + 2] = (header.sequenceNumber >> 8) & 0xff;
  out[offset + 3] = header.sequenceNumber & 0xff;
  writeU32(out, offset + 4, header.timestamp);
  writeU32(out, offset + 8, header.ssrc);
  let p = offset + RTP_HEADER_BYTES;
  for (let i = 0; i < csrcCount; i++, p += 4) writeU32(out, p, header.csrcs[i]!);
  if (header.extension) {
    const data = header.extension.data;
    if (data.length % 4 !== 0) throw new RangeError('RTP header extension must be a multiple of 4 bytes');
    out[p] = (header.extension.profile >> 8) & 0xff;
    out[p + 1] = header.extension.profile & 0xff;
    out[p + 2] = (data.length / 4) >> 8;
    out[p + 3] = (data.length / 4) & 0xff;
    out.set(data, p + 4);
    p += 4 + data.length;
  }
  return p - offset;
}

/** A complete packet (header + payload + padding) in a new buffer. */
export function serializeRtpPacket(header: RtpHeader, payload: Uint8Array, paddingLength = 0): Uint8Array {
  const out = Buffer.alloc(rtpHeaderLength(header) + payload.length + paddingLength);
  const p = writeRtpHeader(header, out, 0, paddingLength);
  out.set(payload, p);
  if (paddingLength > 0) out[out.length - 1] = paddingLength;
  return out;
}

/** Sequence number of an RTP packet without a full parse (caller checked length >= 12). */
export function peekSequenceNumber(buf: Uint8Array): number {
  return (buf[2]! << 8) | buf[3]!;
}

/**
 * Give a packet (in place, at `offset` of `buf`) another sender's sequence number and SSRC,
 * as a relay does: timestamp, marker, payload type and payload stay as they came.
 */
export function restampRtpPacket(buf: Uint8Array, offset: number, sequenceNumber: number, ssrc: number): void {
  buf[offset + 2] = (sequenceNumber >> 8) & 0xff;
  buf[offset + 3] = sequenceNumber & 0xff;
  writeU32(buf, offset + 8, ssrc);
}

function readU32(buf: Uint8Array, p: number): number {
  return ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
}

function writeU32(out: Uint8Array, p: number, value: number): void {
  const v = value >>> 0;
  out[p] = v >>> 24;
  out[p + 1] = (v >>> 16) & 0xff;
  out[p + 2] = (v >>> 8) & 0xff;
  out[p + 3] = v & 0xff;
}
