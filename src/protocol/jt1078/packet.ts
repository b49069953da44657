/**
 * One JT/T 1078 media packet (the "RTP-like" stream packet of JT/T 1078-2016 §5.5.3),
 * parsed from a buffer offset without I/O, in both header forms: 2016 (SIM = BCD[6]) and
 * the "2019" form some terminals send (SIM = BCD[10], every later field moved by +4).
 *
 * Why a pure function over (buffer, offset): the TCP framer, a UDP datagram handler and
 * the tests all call the same code, and bad device input comes back as a value, never as
 * an exception. Masks and shifts only; the body is a `subarray` view (no copy); the
 * 64-bit timestamp is read as two 32-bit halves and returned as a double (exact below
 * 2^53 ms, i.e. for every clock seen in the field) plus the halves for exact differences.
 */

/** The 4-byte frame-header magic `30 31 63 64` ("01cd"). */
export const JT1078_MAGIC = Buffer.from([0x30, 0x31, 0x63, 0x64]);
export const JT1078_MAGIC_U32 = 0x30316364;

export type HeaderVariant = '2016' | '2019';

/** High nibble of byte 15 (2016) / 19 (2019). */
export const DataType = {
  VideoI: 0,
  VideoP: 1,
  VideoB: 2,
  Audio: 3,
  Transparent: 4,
} as const;
export type DataTypeValue = (typeof DataType)[keyof typeof DataType];

/** Low nibble of byte 15 (2016) / 19 (2019). */
export const SubPackage = {
  Atomic: 0,
  First: 1,
  Last: 2,
  Middle: 3,
} as const;
export type SubPackageValue = (typeof SubPackage)[keyof typeof SubPackage];

/** Payload types (Table 12 of JT/T 1078-2016) the gateway knows by name. */
export const PayloadType = {
  G711A: 6,
  G711U: 7,
  G726: 8,
  AAC: 19,
  ADPCMA: 26,
  Transparent: 91,
  H264: 98,
  H265: 99,
} as const;

/** Field width of the body length; the 950-byte limit of the standard is not enforced. */
export const JT1078_MAX_BODY_LENGTH = 0xffff;
/** Largest header (2019 video). */
export const JT1078_MAX_HEADER_LENGTH = 34;
/** Smallest header (2016 transparent). */
export const JT1078_MIN_HEADER_LENGTH = 18;

export interface Jt1078Packet {
  variant: HeaderVariant;
  /** RTP-style version, 2 on every device seen (checked). */
  version: number;
  padding: boolean;
  extension: boolean;
  csrcCount: number;
  /** Frame boundary bit; devices set it on atomic and last sub-packages. */
  marker: boolean;
  payloadType: number;
  /** 16-bit, wraps. */
  sequence: number;
  /** BCD digits as sent, leading zeros kept (12 digits in 2016, 20 in 2019). */
  sim: string;
  /** Logical channel, 1-based on the wire (0 accepted). */
  channel: number;
  dataType: DataTypeValue;
  subPackage: SubPackageValue;
  /** Device clock in ms; -1 for transparent data (no timestamp field). */
  timestamp: number;
  /** Upper and lower 32 bits of the timestamp, for exact differences; 0 when absent. */
  timestampHigh: number;
  timestampLow: number;
  /** Video only, ms since the previous I-frame; -1 when absent (audio/transparent). */
  lastIFrameInterval: number;
  /** Video only, ms since the previous frame; -1 when absent. */
  lastFrameInterval: number;
  headerLength: number;
  bodyLength: number;
  /** View into the parsed buffer: valid as long as that buffer is not rewritten. */
  body: Uint8Array;
}

export type Jt1078ParseResult =
  | { ok: true; needMore: false; packet: Jt1078Packet; consumed: number }
  | { ok: false; needMore: false; reason: string }
  /** `needed`: total bytes (from the offset) required before the next attempt can decide. */
  | { ok: false; needMore: true; needed: number };

/** Header length for a data type: video 30, audio 26, transparent 18 (2016); +4 for 2019. */
export function headerLengthFor(dataType: number, variant: HeaderVariant): number {
  const base = dataType <= DataType.VideoB ? 30 : dataType === DataType.Audio ? 26 : 18;
  return variant === '2016' ? base : base + 4;
}

// The SIM string is identical for every packet of a connection: remember the last decoded
// bytes so the hot path does not build a new string per packet.
let lastSimA = -1;
let lastSimB = -1;
let lastSimC = -1;
let lastSimLength = 0;
let lastSim = '';

const DIGITS = '0123456789abcdef';

function decodeBcd(buf: Uint8Array, offset: number, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    const b = buf[offset + i]!;
    // Nibbles above 9 are not BCD; kept as hex letters rather than rejected (lenient).
    out += DIGITS[b >> 4]! + DIGITS[b & 0x0f]!;
  }
  return out;
}

function readU32(buf: Uint8Array, o: number): number {
  return ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
}

function simAt(buf: Uint8Array, offset: number, length: number): string {
  // Key: bytes 0-3, 4-7 (2019 only) and the last 2 (2016) / 4 (2019) bytes.
  const a = readU32(buf, offset);
  const bKey = length === 6 ? 0 : readU32(buf, offset + 4);
  const c = length === 6 ? (buf[offset + 4]! << 8) | buf[offset + 5]! : readU32(buf, offset + 6);
  if (a === lastSimA && bKey === lastSimB && c === lastSimC && length === lastSimLength) return lastSim;
  lastSimA = a;
  lastSimB = bKey;
  lastSimC = c;
  lastSimLength = length;
  lastSim = decodeBcd(buf, offset, length);
  return lastSim;
}

/** True if the 4 bytes at `offset` are the magic (caller guarantees they exist). */
export function isMagicAt(buf: Uint8Array, offset: number): boolean {
  return buf[offset] === 0x30 && buf[offset + 1] === 0x31 && buf[offset + 2] === 0x63 && buf[offset + 3] === 0x64;
}

/**
 * Parse the packet starting at `offset` (where the magic must be) with the given header
 * form. `end` bounds the readable bytes (default: buffer end). Packets whose body length
 * exceeds `maxBodyLength` are rejected so a corrupt length cannot stall a stream.
 */
export function parseJt1078Packet(
  buf: Uint8Array,
  offset: number,
  variant: HeaderVariant,
  end: number = buf.length,
  maxBodyLength: number = JT1078_MAX_BODY_LENGTH,
): Jt1078ParseResult {
  const available = end - offset;
  const simLength = variant === '2016' ? 6 : 10;
  const typeOffset = offset + 8 + simLength + 1;
  // Need the magic + flags + the type byte to know the header length.
  if (available < 4) {
    for (let i = 0; i < available; i++) {
      if (buf[offset + i] !== JT1078_MAGIC[i]) return { ok: false, needMore: false, reason: 'bad magic' };
    }
    return { ok: false, needMore: true, needed: typeOffset + 1 - offset };
  }
  if (!isMagicAt(buf, offset)) return { ok: false, needMore: false, reason: 'bad magic' };
  if (available >= 5 && buf[offset + 4]! >> 6 !== 2) return { ok: false, needMore: false, reason: 'bad version' };
  if (available < typeOffset + 1 - offset) return { ok: false, needMore: true, needed: typeOffset + 1 - offset };

  const typeByte = buf[typeOffset]!;
  const dataType = typeByte >> 4;
  const subPackage = typeByte & 0x0f;
  if (dataType > DataType.Transparent) return { ok: false, needMore: false, reason: 'bad data type' };
  if (subPackage > SubPackage.Middle) return { ok: false, needMore: false, reason: 'bad sub-package flag' };

  const headerLength = headerLengthFor(dataType, variant);
  if (available < headerLength) return { ok: false, needMore: true, needed: headerLength };
  const bodyLength = (buf[offset + headerLength - 2]! << 8) | buf[offset + headerLength - 1]!;
  if (bodyLength > maxBodyLength) return { ok: false, needMore: false, reason: 'body too long' };
  const total = headerLength + bodyLength;
  if (available < total) return { ok: false, needMore: true, needed: total };

  const vpxcc = buf[offset + 4]!;
  const mpt = buf[offset + 5]!;
  let timestamp = -1;
  let timestampHigh = 0;
  let timestampLow = 0;
  let lastIFrameInterval = -1;
  let lastFrameInterval = -1;
  const tsOffset = typeOffset + 1;
  if (dataType !== DataType.Transparent) {
    timestampHigh = readU32(buf, tsOffset);
    timestampLow = readU32(buf, tsOffset + 4);
    timestamp = timestampHigh * 0x1_0000_0000 + timestampLow;
    if (dataType <= DataType.VideoB) {
      lastIFrameInterval = (buf[tsOffset + 8]! << 8) | buf[tsOffset + 9]!;
      lastFrameInterval = (buf[tsOffset + 10]! << 8) | buf[tsOffset + 11]!;
    }
  }
  const bodyStart = offset + headerLength;
  const packet: Jt1078Packet = {
    variant,
    version: vpxcc >> 6,
    padding: (vpxcc & 0x20) !== 0,
    extension: (vpxcc & 0x10) !== 0,
    csrcCount: vpxcc & 0x0f,
    marker: (mpt & 0x80) !== 0,
    payloadType: mpt & 0x7f,
    sequence: (buf[offset + 6]! << 8) | buf[offset + 7]!,
    sim: simAt(buf, offset + 8, simLength),
    channel: buf[offset + 8 + simLength]!,
    dataType: dataType as DataTypeValue,
    subPackage: subPackage as SubPackageValue,
    timestamp,
    timestampHigh,
    timestampLow,
    lastIFrameInterval,
    lastFrameInterval,
    headerLength,
    bodyLength,
    body: buf.subarray(bodyStart, bodyStart + bodyLength),
  };
  return { ok: true, needMore: false, packet, consumed: total };
}

export interface Jt1078PacketFields {
  marker?: boolean;
  payloadType: number;
  sequence: number;
  /** Digits; left-padded with zeros to 12 (2016) or 20 (2019) digits. */
  sim: string;
  channel: number;
  dataType: number;
  subPackage: number;
  /** ms; ignored for transparent data. */
  timestamp?: number;
  /** Exact 64-bit timestamp as two 32-bit halves (beyond 2^53); overrides `timestamp`. */
  timestampHigh?: number;
  timestampLow?: number;
  lastIFrameInterval?: number;
  lastFrameInterval?: number;
  body: Uint8Array;
}

/**
 * Build one packet (V=2, P=0, X=0, CC=1 like every device seen). Used by the simulator,
 * the intercom downlink and tests; not on the ingest path. The marker defaults to the
 * device convention: set on atomic and last sub-packages.
 */
export function encodeJt1078Packet(fields: Jt1078PacketFields, variant: HeaderVariant = '2016'): Buffer {
  const simLength = variant === '2016' ? 6 : 10;
  const headerLength = headerLengthFor(fields.dataType, variant);
  if (fields.body.length > JT1078_MAX_BODY_LENGTH) throw new RangeError('body longer than 65535 bytes');
  const digits = fields.sim.padStart(simLength * 2, '0');
  if (digits.length !== simLength * 2 || !/^[0-9]+$/.test(digits)) throw new TypeError(`bad SIM: ${fields.sim}`);
  const out = Buffer.alloc(headerLength + fields.body.length);
  JT1078_MAGIC.copy(out, 0);
  out[4] = 0x81;
  const marker = fields.marker ?? (fields.subPackage === SubPackage.Atomic || fields.subPackage === SubPackage.Last);
  out[5] = (marker ? 0x80 : 0) | (fields.payloadType & 0x7f);
  out.writeUInt16BE(fields.sequence & 0xffff, 6);
  for (let i = 0; i < simLength; i++) {
    out[8 + i] = ((digits.charCodeAt(2 * i) - 48) << 4) | (digits.charCodeAt(2 * i + 1) - 48);
  }
  let o = 8 + simLength;
  out[o++] = fields.channel & 0xff;
  out[o++] = ((fields.dataType & 0x0f) << 4) | (fields.subPackage & 0x0f);
  if (fields.dataType !== DataType.Transparent) {
    const ts = fields.timestamp ?? 0;
    out.writeUInt32BE(fields.timestampHigh ?? Math.floor(ts / 0x1_0000_0000) >>> 0, o);
    out.writeUInt32BE(fields.timestampLow ?? ts % 0x1_0000_0000 >>> 0, o + 4);
    o += 8;
    if (fields.dataType <= DataType.VideoB) {
      out.writeUInt16BE((fields.lastIFrameInterval ?? 0) & 0xffff, o);
      out.writeUInt16BE((fields.lastFrameInterval ?? 0) & 0xffff, o + 2);
      o += 4;
    }
  }
  out.writeUInt16BE(fields.body.length, o);
  out.set(fields.body, o + 2);
  return out;
}
