/**
 * FLV container primitives (Adobe FLV spec v10.1, Annex E): the file header and the tag
 * frame around a body. Every tag is one allocation holding the 11-byte tag header, the body
 * and its 4-byte PreviousTagSize, so a tag can be written to any number of sockets as is.
 */

export const FLV_TAG_AUDIO = 8;
export const FLV_TAG_VIDEO = 9;
export const FLV_TAG_SCRIPT = 18;

export type FlvTagType = typeof FLV_TAG_AUDIO | typeof FLV_TAG_VIDEO | typeof FLV_TAG_SCRIPT;

/** Tag header (11) + PreviousTagSize (4). */
export const FLV_TAG_OVERHEAD = 15;
/** DataSize is 24 bits. */
export const FLV_MAX_DATA_SIZE = 0xffffff;

export interface FlvHeaderFlags {
  hasVideo: boolean;
  hasAudio: boolean;
}

/** The 9-byte FLV header followed by PreviousTagSize0 = 0 (13 bytes). */
export function flvHeader({ hasVideo, hasAudio }: FlvHeaderFlags): Uint8Array {
  const out = new Uint8Array(13);
  out[0] = 0x46; // 'F'
  out[1] = 0x4c; // 'L'
  out[2] = 0x56; // 'V'
  out[3] = 1; // version
  out[4] = (hasAudio ? 0x04 : 0) | (hasVideo ? 0x01 : 0);
  out[8] = 9; // DataOffset = header size; bytes 9..12 stay 0 (PreviousTagSize0)
  return out;
}

/**
 * A tag of `dataSize` body bytes with header and PreviousTagSize filled in; the caller writes
 * the body at offset 11. `timestamp` is in ms and wraps at 2^32 (the 8 extended bits are the
 * high byte, written after the low 24 bits as the format wants).
 */
export function allocTag(type: FlvTagType, timestamp: number, dataSize: number): Uint8Array {
  if (dataSize > FLV_MAX_DATA_SIZE) throw new RangeError(`FLV tag body of ${dataSize} bytes exceeds 24-bit DataSize`);
  // allocUnsafe: every byte is written below or by the caller; small tags come from Node's pool.
  const tag: Uint8Array = Buffer.allocUnsafe(dataSize + FLV_TAG_OVERHEAD);
  const ts = timestamp >>> 0;
  tag[0] = type; // reserved 0, filter 0, TagType
  tag[1] = dataSize >>> 16;
  tag[2] = (dataSize >>> 8) & 0xff;
  tag[3] = dataSize & 0xff;
  tag[4] = (ts >>> 16) & 0xff;
  tag[5] = (ts >>> 8) & 0xff;
  tag[6] = ts & 0xff;
  tag[7] = ts >>> 24; // TimestampExtended
  tag[8] = 0; // StreamID, always 0
  tag[9] = 0;
  tag[10] = 0;
  const prev = dataSize + 11; // PreviousTagSize = header + body; it sits right after the body
  tag[prev] = prev >>> 24;
  tag[prev + 1] = (prev >>> 16) & 0xff;
  tag[prev + 2] = (prev >>> 8) & 0xff;
  tag[prev + 3] = prev & 0xff;
  return tag;
}

/** Tag with `body` copied in. */
export function makeTag(type: FlvTagType, timestamp: number, body: Uint8Array): Uint8Array {
  const tag = allocTag(type, timestamp, body.length);
  tag.set(body, 11);
  return tag;
}

/** AMF0 values the onMetaData writer knows (numbers, booleans, strings). */
export type Amf0Value = number | boolean | string;

/**
 * Script data body: AMF0 string `name` then an ECMA array of `props` (AMF0 spec 2.2, 2.4,
 * 2.10). Keys and strings are limited to 65535 UTF-8 bytes (short strings).
 */
export function amf0ScriptBody(name: string, props: ReadonlyArray<readonly [string, Amf0Value]>): Uint8Array {
  const enc = new TextEncoder();
  const nameBytes = enc.encode(name);
  const parts: Array<[Uint8Array, Amf0Value]> = props.map(([k, v]) => [enc.encode(k), v]);
  let size = 3 + nameBytes.length + 5 + 3;
  const strings = new Map<number, Uint8Array>();
  parts.forEach(([key, v], i) => {
    size += 2 + key.length + 1;
    if (typeof v === 'number') size += 8;
    else if (typeof v === 'boolean') size += 1;
    else {
      const s = enc.encode(v);
      strings.set(i, s);
      size += 2 + s.length;
    }
  });
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let o = 0;
  out[o++] = 0x02; // string marker
  view.setUint16(o, nameBytes.length);
  out.set(nameBytes, o + 2);
  o += 2 + nameBytes.length;
  out[o++] = 0x08; // ECMA array marker
  view.setUint32(o, parts.length);
  o += 4;
  parts.forEach(([key, v], i) => {
    view.setUint16(o, key.length);
    out.set(key, o + 2);
    o += 2 + key.length;
    if (typeof v === 'number') {
      out[o++] = 0x00;
      view.setFloat64(o, v);
      o += 8;
    } else if (typeof v === 'boolean') {
      out[o++] = 0x01;
      out[o++] = v ? 1 : 0;
    } else {
      const s = strings.get(i)!;
      out[o++] = 0x02;
      view.setUint16(o, s.length);
      out.set(s, o + 2);
      o += 2 + s.length;
    }
  });
  out[o++] = 0; // object end: empty key + 0x09
  out[o++] = 0;
  out[o++] = 0x09;
  return out;
}
