/**
 * Annex-B helpers shared by the PS demuxer (key-frame flag), the PS muxer's tests and the
 * JT1078 path: find start codes, tell key access units, split an elementary stream into
 * access units. Views only (no copies), masks and shifts only.
 */
import type { VideoCodec } from '../av/frame.js';

/**
 * Index of the next 3-byte start code `00 00 01` at or after `from` (the index of its first
 * zero), or -1. A 4-byte start code is found at its second zero.
 */
export function findStartCode(data: Uint8Array, from = 0, to = data.length): number {
  const last = to - 3;
  let i = from;
  while (i <= last) {
    const b2 = data[i + 2]!;
    // A start code needs data[i+2] == 1 and two zeros before it: skip fast on anything else.
    if (b2 > 1) {
      i += 3;
    } else if (b2 === 1) {
      if (data[i + 1] === 0 && data[i] === 0) return i;
      i += 3;
    } else {
      i += 1;
    }
  }
  return -1;
}

/** NAL unit type of the NAL whose header byte(s) start at `offset`. */
export function nalType(data: Uint8Array, offset: number, codec: VideoCodec): number {
  const b = data[offset]!;
  return codec === 'h264' ? b & 0x1f : (b >> 1) & 0x3f;
}

function isKeyNal(type: number, codec: VideoCodec): boolean {
  // H.264: IDR slice 5, SPS 7. H.265: IRAP 16..21, VPS 32 (parameter sets precede IRAPs).
  return codec === 'h264' ? type === 5 || type === 7 : (type >= 16 && type <= 21) || type === 32;
}

function isVclNal(type: number, codec: VideoCodec): boolean {
  return codec === 'h264' ? type >= 1 && type <= 5 : type <= 31;
}

/**
 * True when the Annex-B access unit holds an IDR/IRAP picture or the parameter sets that
 * announce one. Stops at the first VCL NAL, so large frames cost a few bytes of scanning.
 */
export function isKeyAccessUnit(data: Uint8Array, codec: VideoCodec): boolean {
  let sc = findStartCode(data, 0);
  while (sc >= 0) {
    const header = sc + 3;
    if (header >= data.length) return false;
    const type = nalType(data, header, codec);
    if (isKeyNal(type, codec)) return true;
    if (isVclNal(type, codec)) return false;
    sc = findStartCode(data, header + 1);
  }
  return false;
}

/** Does the NAL at `header` start a new access unit (ITU-T H.264 7.4.1.2.3, H.265 7.4.2.4.4)? */
function startsAccessUnit(data: Uint8Array, header: number, codec: VideoCodec): { starts: boolean; vcl: boolean } {
  const type = nalType(data, header, codec);
  if (codec === 'h264') {
    const vcl = type >= 1 && type <= 5;
    // first_mb_in_slice == 0 is coded ue(v) '1': the top bit of the first slice-header byte.
    const first = vcl && header + 1 < data.length && (data[header + 1]! & 0x80) !== 0;
    return { starts: type === 6 || type === 7 || type === 8 || type === 9 || first, vcl };
  }
  const vcl = type <= 31;
  // first_slice_segment_in_pic_flag: top bit after the 2-byte NAL header.
  const first = vcl && header + 2 < data.length && (data[header + 2]! & 0x80) !== 0;
  return { starts: (type >= 32 && type <= 35) || type === 39 || first, vcl };
}

export interface AccessUnitView {
  /** Bytes of the access unit as they are in the source (a view), start codes included. */
  data: Uint8Array;
  key: boolean;
}

/**
 * Split an Annex-B elementary stream into access units. The views cover the input exactly,
 * in order (concatenated they give back the input byte for byte); a 4-byte start code's
 * leading zero belongs to the access unit it opens.
 */
export function splitAccessUnits(es: Uint8Array, codec: VideoCodec): AccessUnitView[] {
  const units: AccessUnitView[] = [];
  let auStart = 0;
  let hasVcl = false;
  let key = false;
  let sc = findStartCode(es, 0);
  while (sc >= 0) {
    const header = sc + 3;
    if (header >= es.length) break;
    const nalStart = sc > 0 && es[sc - 1] === 0 ? sc - 1 : sc;
    const { starts, vcl } = startsAccessUnit(es, header, codec);
    if (starts && hasVcl) {
      units.push({ data: es.subarray(auStart, nalStart), key });
      auStart = nalStart;
      hasVcl = false;
      key = false;
    }
    hasVcl ||= vcl;
    key ||= isKeyNal(nalType(es, header, codec), codec);
    sc = findStartCode(es, header + 1);
  }
  if (auStart < es.length) units.push({ data: es.subarray(auStart), key });
  return units;
}

/** The NAL unit payloads (no start codes, no trailing zero bytes) of an Annex-B stream. */
export function splitNalUnits(es: Uint8Array): Uint8Array[] {
  const nals: Uint8Array[] = [];
  let sc = findStartCode(es, 0);
  while (sc >= 0) {
    const start = sc + 3;
    const next = findStartCode(es, start);
    let end = next < 0 ? es.length : next;
    while (end > start && es[end - 1] === 0) end--;
    nals.push(es.subarray(start, end));
    sc = next;
  }
  return nals;
}
