/**
 * Records of the FLV ring: one SharedArrayBuffer ring per media worker, written by that
 * worker's FlvPublisher, read by the media process main thread, which serves every viewer
 * (DESIGN.md §1: nothing per frame crosses a thread by postMessage).
 *
 * A ring record's int32 tag holds the record type in its low 8 bits and the stream index
 * (per worker, never reused by one publisher) above. Stream open and close travel in the
 * same ring as the data, so they stay in order with it.
 *
 *   OPEN   payload: UTF-8 JSON {@link FlvOpenRecord}
 *   INFO   payload: UTF-8 JSON FlvStreamInfo (codecs, picture size, for onMetaData);
 *          sent before the first tag and whenever the muxer learns something new
 *   TAG    payload: one complete FLV tag (11-byte header, body, PreviousTagSize), as the
 *          muxer made it; the type bits say key frame / sequence header / first tag after
 *          a gap (the publisher dropped tags because the ring was full)
 *   CLOSE  payload: UTF-8 reason
 *   BYTES  payload: float64 LE, the stream's source media bytes so far (audio and video
 *          frames as received, before muxing); written about once a second by a lazy
 *          publisher, so bitrates stay right while no tag is muxed
 *   RESUME payload: uint32 LE, the epoch of the `flv.want` that asked for tags; the tags
 *          after it start a fresh GOP (sequence headers, key frame). A lazy publisher
 *          writes tags only between a RESUME and the next `flv.want` false; the reader
 *          ignores tags of a lazy stream until the RESUME of its latest want.
 */
import type { FlvStreamInfo, FlvTag, FlvTagKind } from '../../protocol/flv/muxer.js';

export const FLV_RECORD_OPEN = 1;
export const FLV_RECORD_CLOSE = 2;
export const FLV_RECORD_INFO = 3;
export const FLV_RECORD_BYTES = 4;
export const FLV_RECORD_RESUME = 5;
/** TAG records: this base plus the flag bits below. */
export const FLV_RECORD_TAG = 0x10;
export const FLV_TAG_FLAG_KEY = 0x01;
export const FLV_TAG_FLAG_CONFIG = 0x02;
export const FLV_TAG_FLAG_AFTER_GAP = 0x04;

/** Stream indices fit in the 23 bits above the type byte (the tag is a signed int32). */
export const FLV_MAX_STREAM_INDEX = 0x7fffff;

export interface FlvOpenRecord {
  name: string;
  /** Track hints, when the source knows them before any frame (header flags, onMetaData). */
  hasVideo?: boolean;
  hasAudio?: boolean;
  /**
   * The publisher muxes this stream only while the reader wants it (`flv.want` on the media
   * worker contract, issue #17); absent: tags flow from the start.
   */
  lazy?: boolean;
}

export function flvRecordTag(type: number, streamIndex: number): number {
  return ((streamIndex & FLV_MAX_STREAM_INDEX) << 8) | type;
}

export function flvRecordType(tag: number): number {
  return tag & 0xff;
}

export function flvRecordStream(tag: number): number {
  return (tag >>> 8) & FLV_MAX_STREAM_INDEX;
}

/** The TAG record type for a muxed tag. */
export function flvTagRecordType(tag: FlvTag, afterGap: boolean): number {
  return FLV_RECORD_TAG | (tag.key ? FLV_TAG_FLAG_KEY : 0) | (tag.config ? FLV_TAG_FLAG_CONFIG : 0) | (afterGap ? FLV_TAG_FLAG_AFTER_GAP : 0);
}

export function isFlvTagRecord(type: number): boolean {
  return (type & ~0x07) === FLV_RECORD_TAG;
}

/**
 * Rebuilds an FlvTag from a TAG record. `bytes` must be the record's own copy (ring views
 * die with the read callback). The timestamp comes from the tag header (32 bits, ms).
 */
export function flvTagFromRecord(type: number, bytes: Uint8Array): FlvTag | undefined {
  if (bytes.length < 15) return undefined;
  const tagType = bytes[0]! & 0x1f;
  const kind: FlvTagKind | undefined = tagType === 9 ? 'video' : tagType === 8 ? 'audio' : tagType === 18 ? 'script' : undefined;
  if (!kind) return undefined;
  const timestamp = ((bytes[7]! << 24) | (bytes[4]! << 16) | (bytes[5]! << 8) | bytes[6]!) >>> 0;
  return { kind, config: (type & FLV_TAG_FLAG_CONFIG) !== 0, key: (type & FLV_TAG_FLAG_KEY) !== 0, timestamp, bytes };
}

export function bytesRecord(total: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, total, true);
  return out;
}

export function resumeRecord(epoch: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, epoch >>> 0, true);
  return out;
}

/** Decodes a BYTES or RESUME payload (undefined: wrong size). */
export function parseNumberRecord(type: number, view: Uint8Array): number | undefined {
  const size = type === FLV_RECORD_BYTES ? 8 : 4;
  if (view.length !== size) return undefined;
  const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
  return size === 8 ? dv.getFloat64(0, true) : dv.getUint32(0, true);
}

/** Decodes an OPEN payload; undefined when it is not one (a foreign or broken writer). */
export function parseOpenRecord(text: string): FlvOpenRecord | undefined {
  const value = jsonObject(text);
  if (!value) return undefined;
  const name: unknown = Reflect.get(value, 'name');
  if (typeof name !== 'string' || name === '') return undefined;
  const open: FlvOpenRecord = { name };
  const hasVideo: unknown = Reflect.get(value, 'hasVideo');
  const hasAudio: unknown = Reflect.get(value, 'hasAudio');
  if (typeof hasVideo === 'boolean') open.hasVideo = hasVideo;
  if (typeof hasAudio === 'boolean') open.hasAudio = hasAudio;
  if (Reflect.get(value, 'lazy') === true) open.lazy = true;
  return open;
}

/** Decodes an INFO payload, keeping only the fields onMetaData uses. */
export function parseInfoRecord(text: string): FlvStreamInfo | undefined {
  const value = jsonObject(text);
  if (!value) return undefined;
  const info: FlvStreamInfo = {};
  const get = (key: string): unknown => Reflect.get(value, key);
  const videoCodec = get('videoCodec');
  if (videoCodec === 'h264' || videoCodec === 'h265') info.videoCodec = videoCodec;
  const audioCodec = get('audioCodec');
  if (audioCodec === 'g711a' || audioCodec === 'g711u' || audioCodec === 'aac') info.audioCodec = audioCodec;
  for (const key of ['width', 'height', 'audioSampleRate', 'audioChannels'] as const) {
    const n = get(key);
    if (typeof n === 'number' && Number.isFinite(n)) info[key] = n;
  }
  return info;
}

function jsonObject(text: string): object | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}
