/**
 * JT/T 808 message header, 2011/2013 and 2019 forms (jt1078.md §5.2), on unescaped bytes
 * without the 0x7e delimiters and without the checksum.
 *
 * Attribute word: bits 0-9 body length, 10-12 encryption, 13 sub-packaged, 14 = 2019
 * version flag (reserved in 2011/2013). The 2019 form adds a protocol-version byte and
 * widens the phone from BCD[6] to BCD[10]. 2011 vs 2013 is not flagged; only some bodies
 * (0x0100) differ, so the header knows '2013' (meaning 2011 or 2013) and '2019'.
 */
import { decodeBcd, encodeBcd, normalizePhone } from './bytes.js';

export type Jt808Version = '2013' | '2019';

export const JT808_MAX_BODY_LENGTH = 0x3ff;
/** Bodies longer than this are sent as sub-packages (as go-jt808 does). */
export const JT808_SUBPACKAGE_BODY = 1000;

const ATTR_LENGTH_MASK = 0x03ff;
const ATTR_ENCRYPTION_SHIFT = 10;
const ATTR_SUBPACKAGED = 1 << 13;
const ATTR_VERSION_2019 = 1 << 14;

export interface Jt808PacketInfo {
  /** Number of sub-packages of the whole message (>= 1). */
  total: number;
  /** 1-based index of this one. */
  index: number;
}

export interface Jt808Header {
  msgId: number;
  version: Jt808Version;
  /** Protocol version byte of the 2019 form (1 on every terminal seen); 0 for 2013. */
  protocolVersion: number;
  /** Phone/SIM without leading zeros (the key used everywhere). */
  phone: string;
  serial: number;
  /** Encryption bits 10-12 (0 = none, 1 = RSA). */
  encryption: number;
  /** Present when the message is one sub-package of a longer one. */
  packet?: Jt808PacketInfo;
}

export interface Jt808Message {
  header: Jt808Header;
  /** View into the unescaped frame. */
  body: Uint8Array;
}

export type HeaderError = 'short' | 'length';

export interface Jt808HeaderFields {
  msgId: number;
  version?: Jt808Version;
  protocolVersion?: number;
  phone: string;
  serial: number;
  encryption?: number;
  packet?: Jt808PacketInfo;
}

/** Parse header + body of an unescaped frame (checksum already stripped). */
export function decodeMessage(bytes: Uint8Array): Jt808Message | HeaderError {
  if (bytes.length < 12) return 'short';
  const msgId = (bytes[0]! << 8) | bytes[1]!;
  const attr = (bytes[2]! << 8) | bytes[3]!;
  const is2019 = (attr & ATTR_VERSION_2019) !== 0;
  const subpackaged = (attr & ATTR_SUBPACKAGED) !== 0;
  let offset = 4;
  let protocolVersion = 0;
  if (is2019) protocolVersion = bytes[offset++]!;
  const phoneSize = is2019 ? 10 : 6;
  const headerLength = offset + phoneSize + 2 + (subpackaged ? 4 : 0);
  if (bytes.length < headerLength) return 'short';
  const phone = normalizePhone(decodeBcd(bytes.subarray(offset, offset + phoneSize)));
  offset += phoneSize;
  const serial = (bytes[offset]! << 8) | bytes[offset + 1]!;
  offset += 2;
  const header: Jt808Header = {
    msgId,
    version: is2019 ? '2019' : '2013',
    protocolVersion,
    phone,
    serial,
    encryption: (attr >> ATTR_ENCRYPTION_SHIFT) & 0x7,
  };
  if (subpackaged) {
    header.packet = { total: (bytes[offset]! << 8) | bytes[offset + 1]!, index: (bytes[offset + 2]! << 8) | bytes[offset + 3]! };
    offset += 4;
  }
  const body = bytes.subarray(offset);
  if (body.length !== (attr & ATTR_LENGTH_MASK)) return 'length';
  return { header, body };
}

/** Header + body, unescaped, without checksum or delimiters. */
export function encodeMessage(fields: Jt808HeaderFields, body: Uint8Array): Buffer {
  if (body.length > JT808_MAX_BODY_LENGTH) throw new RangeError(`JT808 body of ${body.length} bytes exceeds ${JT808_MAX_BODY_LENGTH}; send it as sub-packages`);
  const version = fields.version ?? '2013';
  const is2019 = version === '2019';
  const packet = fields.packet;
  const encryption = fields.encryption ?? 0;
  let attr = body.length | (encryption << ATTR_ENCRYPTION_SHIFT);
  if (packet !== undefined) attr |= ATTR_SUBPACKAGED;
  if (is2019) attr |= ATTR_VERSION_2019;
  const phoneSize = is2019 ? 10 : 6;
  const headerLength = 4 + (is2019 ? 1 : 0) + phoneSize + 2 + (packet !== undefined ? 4 : 0);
  const out = Buffer.allocUnsafe(headerLength + body.length);
  out.writeUInt16BE(fields.msgId, 0);
  out.writeUInt16BE(attr, 2);
  let offset = 4;
  if (is2019) out[offset++] = fields.protocolVersion ?? 1;
  encodeBcd(fields.phone, phoneSize).copy(out, offset);
  offset += phoneSize;
  out.writeUInt16BE(fields.serial, offset);
  offset += 2;
  if (packet !== undefined) {
    out.writeUInt16BE(packet.total, offset);
    out.writeUInt16BE(packet.index, offset + 2);
    offset += 4;
  }
  out.set(body, offset);
  return out;
}

/** Name of a message ID for logs and events ("0x0200"). */
export function msgIdHex(msgId: number): string {
  return '0x' + msgId.toString(16).padStart(4, '0');
}
