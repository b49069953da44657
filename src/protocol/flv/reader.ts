/**
 * A small FLV reader: header, tag walk, video/audio tag bodies, configuration records. It is
 * what the tests judge the muxer with (independent checks of every length field), and a
 * start for FLV ingest later. Bad input gives `undefined` or stops the walk; nothing throws.
 */

export interface FlvFileHeader {
  version: number;
  hasVideo: boolean;
  hasAudio: boolean;
  dataOffset: number;
}

export function readFlvHeader(bytes: Uint8Array): FlvFileHeader | undefined {
  if (bytes.length < 9 || bytes[0] !== 0x46 || bytes[1] !== 0x4c || bytes[2] !== 0x56) return undefined;
  const dataOffset = ((bytes[5]! << 24) | (bytes[6]! << 16) | (bytes[7]! << 8) | bytes[8]!) >>> 0;
  return { version: bytes[3]!, hasAudio: (bytes[4]! & 4) !== 0, hasVideo: (bytes[4]! & 1) !== 0, dataOffset };
}

export interface FlvTagView {
  /** Offset of the tag header in the input. */
  offset: number;
  type: number;
  dataSize: number;
  /** Full 32-bit timestamp (extended byte applied), ms. */
  timestamp: number;
  streamId: number;
  /** The PreviousTagSize field that follows the tag. */
  prevTagSize: number;
  body: Uint8Array;
}

/**
 * Walk tags starting at `offset` (13 for a file: header + PreviousTagSize0). Returns the
 * complete tags and the bytes consumed; a partial tag at the end is left for the next call.
 */
export function readFlvTags(bytes: Uint8Array, offset = 0): { tags: FlvTagView[]; used: number } {
  const tags: FlvTagView[] = [];
  let o = offset;
  while (o + 15 <= bytes.length) {
    const dataSize = (bytes[o + 1]! << 16) | (bytes[o + 2]! << 8) | bytes[o + 3]!;
    if (o + 15 + dataSize > bytes.length) break;
    const timestamp = (((bytes[o + 7]! << 24) | (bytes[o + 4]! << 16) | (bytes[o + 5]! << 8) | bytes[o + 6]!) >>> 0);
    const streamId = (bytes[o + 8]! << 16) | (bytes[o + 9]! << 8) | bytes[o + 10]!;
    const p = o + 11 + dataSize;
    const prevTagSize = ((bytes[p]! << 24) | (bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!) >>> 0;
    tags.push({ offset: o, type: bytes[o]! & 0x1f, dataSize, timestamp, streamId, prevTagSize, body: bytes.subarray(o + 11, p) });
    o = p + 4;
  }
  return { tags, used: o - offset };
}

export interface FlvVideoBody {
  /** Enhanced FLV (IsExHeader set). */
  enhanced: boolean;
  frameType: number;
  /** Legacy CodecID (7 = AVC); undefined when enhanced. */
  codecId?: number;
  /** Enhanced FourCC, e.g. 'hvc1'. */
  fourcc?: string;
  /** AVCPacketType or Enhanced VideoPacketType. */
  packetType: number;
  /** Composition time offset, ms (0 for CodedFramesX). */
  cts: number;
  /** Configuration record or length-prefixed NAL units. */
  data: Uint8Array;
}

function si24(b: Uint8Array, o: number): number {
  const v = (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!;
  return v & 0x800000 ? v - 0x1000000 : v;
}

export function parseVideoBody(body: Uint8Array): FlvVideoBody | undefined {
  if (body.length < 1) return undefined;
  const b0 = body[0]!;
  if (b0 & 0x80) {
    if (body.length < 5) return undefined;
    const packetType = b0 & 0x0f;
    const fourcc = String.fromCharCode(body[1]!, body[2]!, body[3]!, body[4]!);
    const frameType = (b0 >> 4) & 7;
    if (packetType === 1) {
      if (body.length < 8) return undefined;
      return { enhanced: true, frameType, fourcc, packetType, cts: si24(body, 5), data: body.subarray(8) };
    }
    return { enhanced: true, frameType, fourcc, packetType, cts: 0, data: body.subarray(5) };
  }
  if (body.length < 5) return undefined;
  return { enhanced: false, frameType: b0 >> 4, codecId: b0 & 0x0f, packetType: body[1]!, cts: si24(body, 2), data: body.subarray(5) };
}

export interface FlvAudioBody {
  soundFormat: number;
  soundRate: number;
  soundSize: number;
  soundType: number;
  /** AAC only. */
  aacPacketType?: number;
  data: Uint8Array;
}

export function parseAudioBody(body: Uint8Array): FlvAudioBody | undefined {
  if (body.length < 1) return undefined;
  const b0 = body[0]!;
  const soundFormat = b0 >> 4;
  const common = { soundFormat, soundRate: (b0 >> 2) & 3, soundSize: (b0 >> 1) & 1, soundType: b0 & 1 };
  if (soundFormat === 10) {
    if (body.length < 2) return undefined;
    return { ...common, aacPacketType: body[1]!, data: body.subarray(2) };
  }
  return { ...common, data: body.subarray(1) };
}

/** Split `lengthSize`-byte length-prefixed NAL units; undefined if a length overruns. */
export function splitLengthPrefixed(data: Uint8Array, lengthSize = 4): Uint8Array[] | undefined {
  const nals: Uint8Array[] = [];
  let o = 0;
  while (o < data.length) {
    if (o + lengthSize > data.length) return undefined;
    let len = 0;
    for (let i = 0; i < lengthSize; i++) len = len * 256 + data[o + i]!;
    o += lengthSize;
    if (o + len > data.length) return undefined;
    nals.push(data.subarray(o, o + len));
    o += len;
  }
  return nals;
}

export interface AvcConfigView {
  version: number;
  profile: number;
  compatibility: number;
  level: number;
  lengthSize: number;
  sps: Uint8Array[];
  pps: Uint8Array[];
  /** Present for the High profiles: chroma_format, bit depths. */
  ext?: { chromaFormat: number; bitDepthLumaMinus8: number; bitDepthChromaMinus8: number };
}

export function parseAvcConfig(rec: Uint8Array): AvcConfigView | undefined {
  if (rec.length < 7) return undefined;
  const sps: Uint8Array[] = [];
  const pps: Uint8Array[] = [];
  let o = 6;
  const nSps = rec[5]! & 0x1f;
  for (let i = 0; i < nSps; i++) {
    if (o + 2 > rec.length) return undefined;
    const len = (rec[o]! << 8) | rec[o + 1]!;
    if (o + 2 + len > rec.length) return undefined;
    sps.push(rec.subarray(o + 2, o + 2 + len));
    o += 2 + len;
  }
  if (o >= rec.length) return undefined;
  const nPps = rec[o++]!;
  for (let i = 0; i < nPps; i++) {
    if (o + 2 > rec.length) return undefined;
    const len = (rec[o]! << 8) | rec[o + 1]!;
    if (o + 2 + len > rec.length) return undefined;
    pps.push(rec.subarray(o + 2, o + 2 + len));
    o += 2 + len;
  }
  const view: AvcConfigView = {
    version: rec[0]!,
    profile: rec[1]!,
    compatibility: rec[2]!,
    level: rec[3]!,
    lengthSize: (rec[4]! & 3) + 1,
    sps,
    pps,
  };
  if (o + 4 <= rec.length) {
    view.ext = { chromaFormat: rec[o]! & 3, bitDepthLumaMinus8: rec[o + 1]! & 7, bitDepthChromaMinus8: rec[o + 2]! & 7 };
  }
  return view;
}

export interface HevcConfigView {
  version: number;
  generalProfileSpace: number;
  generalTierFlag: number;
  generalProfileIdc: number;
  generalProfileCompatibilityFlags: number;
  generalConstraintIndicatorFlags: Uint8Array;
  generalLevelIdc: number;
  minSpatialSegmentationIdc: number;
  parallelismType: number;
  chromaFormatIdc: number;
  bitDepthLumaMinus8: number;
  bitDepthChromaMinus8: number;
  avgFrameRate: number;
  constantFrameRate: number;
  numTemporalLayers: number;
  temporalIdNested: number;
  lengthSize: number;
  /** The reserved bits that must be all ones, in one check. */
  reservedBitsOk: boolean;
  arrays: Array<{ completeness: number; nalUnitType: number; nalus: Uint8Array[] }>;
}

export function parseHevcConfig(rec: Uint8Array): HevcConfigView | undefined {
  if (rec.length < 23) return undefined;
  const arrays: HevcConfigView['arrays'] = [];
  let o = 23;
  for (let a = 0; a < rec[22]!; a++) {
    if (o + 3 > rec.length) return undefined;
    const b = rec[o]!;
    const n = (rec[o + 1]! << 8) | rec[o + 2]!;
    o += 3;
    const nalus: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      if (o + 2 > rec.length) return undefined;
      const len = (rec[o]! << 8) | rec[o + 1]!;
      if (o + 2 + len > rec.length) return undefined;
      nalus.push(rec.subarray(o + 2, o + 2 + len));
      o += 2 + len;
    }
    arrays.push({ completeness: b >> 7, nalUnitType: b & 0x3f, nalus });
  }
  return {
    version: rec[0]!,
    generalProfileSpace: rec[1]! >> 6,
    generalTierFlag: (rec[1]! >> 5) & 1,
    generalProfileIdc: rec[1]! & 0x1f,
    generalProfileCompatibilityFlags: ((rec[2]! << 24) | (rec[3]! << 16) | (rec[4]! << 8) | rec[5]!) >>> 0,
    generalConstraintIndicatorFlags: rec.subarray(6, 12),
    generalLevelIdc: rec[12]!,
    minSpatialSegmentationIdc: ((rec[13]! & 0x0f) << 8) | rec[14]!,
    parallelismType: rec[15]! & 3,
    chromaFormatIdc: rec[16]! & 3,
    bitDepthLumaMinus8: rec[17]! & 7,
    bitDepthChromaMinus8: rec[18]! & 7,
    avgFrameRate: (rec[19]! << 8) | rec[20]!,
    constantFrameRate: rec[21]! >> 6,
    numTemporalLayers: (rec[21]! >> 3) & 7,
    temporalIdNested: (rec[21]! >> 2) & 1,
    lengthSize: (rec[21]! & 3) + 1,
    reservedBitsOk: (rec[13]! & 0xf0) === 0xf0 && (rec[15]! & 0xfc) === 0xfc && (rec[16]! & 0xfc) === 0xfc && (rec[17]! & 0xf8) === 0xf8 && (rec[18]! & 0xf8) === 0xf8,
    arrays,
  };
}
