/**
 * Sans-I/O FLV muxer for browser playback (mpegts.js over HTTP-FLV / WS-FLV): one AvFrame in,
 * zero or more finished FLV tags out. Each tag is a single Uint8Array (header + body +
 * PreviousTagSize) so a fan-out can hand the same bytes to every viewer; the frame's payload
 * is copied exactly once, into its tag.
 *
 * - H.264: legacy AVC tags (CodecID 7), AVCDecoderConfigurationRecord sequence header built
 *   from the SPS/PPS seen in the stream and re-sent whenever they change.
 * - H.265: Enhanced FLV (veovera enhanced-rtmp v1: ExVideoTagHeader, FourCC 'hvc1',
 *   SequenceStart / CodedFrames / CodedFramesX), the form mpegts.js >= 1.7.3 plays; not the
 *   unofficial CodecID 12.
 * - G.711A/U: SoundFormat 7/8 with the customary flags (rate index 0, 16-bit, mono).
 *   Note: mpegts.js only plays AAC and MP3 audio from FLV.
 * - AAC: ADTS input is split into raw access units after an AudioSpecificConfig header.
 *
 * Timestamps: ms since the first frame's dts (90 kHz), rounded, wrapping at 2^32 through
 * TimestampExtended. Composition time = round((pts - dts) / 90) ms.
 */
import type { AvFrame, VideoCodec } from '../av/frame.js';
import { findStartCode, splitNalUnits } from '../mpeg-ps/nal.js';
import { audioSpecificConfig, AAC_SAMPLE_RATES, isAdts, splitAdts } from './aac.js';
import type { AvcSpsInfo, HevcSpsInfo } from './params.js';
import { buildAvcConfig, buildHevcConfig, parseAvcSps, parseHevcSps } from './params.js';
import type { Amf0Value, FlvHeaderFlags } from './tag.js';
import {
  allocTag,
  amf0ScriptBody,
  FLV_MAX_DATA_SIZE,
  FLV_TAG_AUDIO,
  FLV_TAG_SCRIPT,
  FLV_TAG_VIDEO,
  flvHeader,
  makeTag,
} from './tag.js';

/** FLV SoundFormat / CodecID values and the Enhanced FLV constants used here. */
export const FLV_SOUND_G711A = 7;
export const FLV_SOUND_G711U = 8;
export const FLV_SOUND_AAC = 10;
export const FLV_CODEC_AVC = 7;
/** 'hvc1' as a big-endian number: the Enhanced FLV videocodecid for HEVC in onMetaData. */
export const FOURCC_HVC1 = 0x68766331;
export const EX_PACKET_SEQUENCE_START = 0;
export const EX_PACKET_CODED_FRAMES = 1;
export const EX_PACKET_SEQUENCE_END = 2;
export const EX_PACKET_CODED_FRAMES_X = 3;

export type FlvTagKind = 'video' | 'audio' | 'script';

/** One finished tag. `bytes` is shared by every viewer: never mutate it. */
export interface FlvTag {
  kind: FlvTagKind;
  /** Sequence header (AVC/HEVC decoder configuration record, AudioSpecificConfig). */
  config: boolean;
  /** Video key frame (random access point). Always false for audio and script tags. */
  key: boolean;
  /** Tag timestamp in ms (before the 32-bit wrap). */
  timestamp: number;
  /**
   * 11-byte tag header, body, 4-byte PreviousTagSize. Small tags are views into Node's shared
   * Buffer pool: transports must honour byteOffset/byteLength (ws.send, res.write do).
   */
  bytes: Uint8Array;
}

export interface FlvMuxerOptions {
  /**
   * Keep SPS/PPS/VPS inside the coded frames as well as in the sequence header (what
   * ffmpeg's FLV muxer does with Annex-B input; decoders then also recover from a lost
   * sequence header). Default true.
   */
  keepParameterSets?: boolean;
  /** AudioSpecificConfig to use when AAC arrives raw (not ADTS). */
  aacConfig?: Uint8Array;
}

export interface FlvMuxerStats {
  videoTags: number;
  audioTags: number;
  configTags: number;
  bytes: number;
  /** Video frames dropped: no parameter sets yet, before the first key frame, empty, too big. */
  droppedVideo: number;
  /** Audio frames dropped: codec FLV cannot carry (G.726, ADPCM), AAC without config, empty. */
  droppedAudio: number;
}

/** What the muxer has learnt about the stream (for onMetaData and the owner). */
export interface FlvStreamInfo {
  videoCodec?: VideoCodec;
  width?: number;
  height?: number;
  audioCodec?: 'g711a' | 'g711u' | 'aac';
  audioSampleRate?: number;
  audioChannels?: number;
}

const MAX_PARAM_SET = 0xffff; // 16-bit lengths in the configuration records

function sameList(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.length !== y.length) return false;
    for (let j = 0; j < x.length; j++) if (x[j] !== y[j]) return false;
  }
  return true;
}

function writeSi24(out: Uint8Array, o: number, v: number): void {
  const c = Math.max(-0x800000, Math.min(0x7fffff, v)) & 0xffffff;
  out[o] = c >>> 16;
  out[o + 1] = (c >>> 8) & 0xff;
  out[o + 2] = c & 0xff;
}

function writeFourCc(out: Uint8Array, o: number, fourcc: number): void {
  out[o] = fourcc >>> 24;
  out[o + 1] = (fourcc >>> 16) & 0xff;
  out[o + 2] = (fourcc >>> 8) & 0xff;
  out[o + 3] = fourcc & 0xff;
}

/**
 * An onMetaData script tag (timestamp 0) for a stream: hasVideo/hasAudio (mpegts.js takes these
 * over the header flags; default: the codecs known), codec ids, width/height once an SPS was
 * parsed, audio rate/channels. For a fan-out that gets tags from a muxer in another thread.
 */
export function onMetaDataTag(i: Readonly<FlvStreamInfo>, flags?: Partial<FlvHeaderFlags>): Uint8Array {
  const hasVideo = flags?.hasVideo ?? i.videoCodec !== undefined;
  const hasAudio = flags?.hasAudio ?? i.audioCodec !== undefined;
  const props: Array<[string, Amf0Value]> = [
    ['duration', 0],
    ['hasVideo', hasVideo],
    ['hasAudio', hasAudio],
  ];
  if (i.videoCodec) props.push(['videocodecid', i.videoCodec === 'h264' ? FLV_CODEC_AVC : FOURCC_HVC1]);
  if (i.width !== undefined && i.height !== undefined) props.push(['width', i.width], ['height', i.height]);
  if (i.audioCodec) {
    props.push(['audiocodecid', i.audioCodec === 'aac' ? FLV_SOUND_AAC : i.audioCodec === 'g711a' ? FLV_SOUND_G711A : FLV_SOUND_G711U]);
    if (i.audioSampleRate) props.push(['audiosamplerate', i.audioSampleRate]);
    props.push(['audiosamplesize', 16], ['stereo', (i.audioChannels ?? 1) > 1]);
  }
  props.push(['encoder', 'camgate']);
  return makeTag(FLV_TAG_SCRIPT, 0, amf0ScriptBody('onMetaData', props));
}

export class FlvMuxer {
  private readonly keepParameterSets: boolean;
  private readonly rawAacConfig: Uint8Array | undefined;
  private base: number | undefined;

  // video
  private videoCodec: VideoCodec | undefined;
  private vps: Uint8Array[] = [];
  private sps: Uint8Array[] = [];
  private pps: Uint8Array[] = [];
  private videoConfigTag: FlvTag | undefined;
  private needKey = true;
  // reused scratch for the NAL scan: start/end offsets of the NALs that go into the tag
  private nalStart: number[] = [];
  private nalEnd: number[] = [];

  // audio
  private aacConfig: Uint8Array | undefined;
  private audioConfigTag: FlvTag | undefined;
  /** Audio codec learn() last looked at (it muxes one frame per codec for the info). */
  private learntAudio: string | undefined;

  private streamInfo: FlvStreamInfo = {};
  private metaCache: Uint8Array | undefined;
  private metaKey = '';

  readonly stats: FlvMuxerStats = { videoTags: 0, audioTags: 0, configTags: 0, bytes: 0, droppedVideo: 0, droppedAudio: 0 };

  constructor(options: FlvMuxerOptions = {}) {
    this.keepParameterSets = options.keepParameterSets ?? true;
    this.rawAacConfig = options.aacConfig;
  }

  /** FLV header + PreviousTagSize0 (13 bytes). */
  header(flags: FlvHeaderFlags): Uint8Array {
    return flvHeader(flags);
  }

  /** The current video sequence header tag (AVC/HEVC configuration), if parameter sets were seen. */
  get videoConfig(): FlvTag | undefined {
    return this.videoConfigTag;
  }

  /** The current AAC AudioSpecificConfig tag, if any. */
  get audioConfig(): FlvTag | undefined {
    return this.audioConfigTag;
  }

  get info(): Readonly<FlvStreamInfo> {
    return this.streamInfo;
  }

  /**
   * An onMetaData script tag (timestamp 0) from what is known now: hasVideo/hasAudio (mpegts.js
   * takes these over the header flags), codec ids, width/height once an SPS was parsed, audio
   * rate/channels. Cached until the stream info changes.
   */
  onMetaData(flags?: Partial<FlvHeaderFlags>): Uint8Array {
    const i = this.streamInfo;
    const key = JSON.stringify([flags?.hasVideo, flags?.hasAudio, i]);
    if (this.metaCache && key === this.metaKey) return this.metaCache;
    this.metaCache = onMetaDataTag(i, flags);
    this.metaKey = key;
    return this.metaCache;
  }

  /** Mux one frame. Returns the tags to send, in order (a sequence header comes first). */
  mux(frame: AvFrame): FlvTag[] {
    if (this.base === undefined) this.base = frame.dts;
    const out: FlvTag[] = [];
    if (frame.kind === 'video' && (frame.codec === 'h264' || frame.codec === 'h265')) {
      this.muxVideo(frame, frame.codec, out);
    } else if (frame.kind === 'audio') {
      this.muxAudio(frame, out);
    } else {
      this.stats.droppedVideo++;
    }
    for (const t of out) this.stats.bytes += t.bytes.length;
    return out;
  }

  /**
   * Learns from a frame that is not muxed (a lazy publisher with no viewer): the stream info
   * (codecs, picture size) and the sequence headers, without making its tag. Looks only at
   * key frames (they carry the parameter sets) and at the first audio frame of a codec, so
   * it costs a NAL scan per GOP. The time base is set as by mux(), so later tags keep the
   * stream's timeline.
   */
  learn(frame: AvFrame): void {
    if (this.base === undefined) this.base = frame.dts;
    if (frame.kind === 'video') {
      if (!frame.key || (frame.codec !== 'h264' && frame.codec !== 'h265')) return;
      const codec = frame.codec;
      const h264 = codec === 'h264';
      let vps: Uint8Array[] | undefined;
      let sps: Uint8Array[] | undefined;
      let pps: Uint8Array[] | undefined;
      for (const nal of splitNalUnits(frame.data)) {
        if (nal.length === 0 || nal.length > MAX_PARAM_SET) continue;
        const type = h264 ? nal[0]! & 0x1f : (nal[0]! >> 1) & 0x3f;
        if (type === (h264 ? 7 : 33)) (sps ??= []).push(nal);
        else if (type === (h264 ? 8 : 34)) (pps ??= []).push(nal);
        else if (!h264 && type === 32) (vps ??= []).push(nal);
      }
      if (sps || pps || vps || codec !== this.videoCodec) this.updateVideoConfig(codec, vps, sps, pps, this.ms(frame.dts), []);
      // The next muxed video frame must be a key frame again (mux() needs no reset otherwise).
      this.needKey = true;
      return;
    }
    if (frame.codec === this.learntAudio) return;
    this.learntAudio = frame.codec;
    this.muxAudio(frame, []);
  }

  /** ms since the stream start for a 90 kHz time; never negative. */
  private ms(t90: number): number {
    const ms = Math.round((t90 - (this.base ?? t90)) / 90);
    return ms > 0 ? ms : 0;
  }

  private muxVideo(frame: AvFrame, codec: VideoCodec, out: FlvTag[]): void {
    const data = frame.data;
    const starts = this.nalStart;
    const ends = this.nalEnd;
    starts.length = 0;
    ends.length = 0;
    const h264 = codec === 'h264';
    let vps: Uint8Array[] | undefined;
    let sps: Uint8Array[] | undefined;
    let pps: Uint8Array[] | undefined;
    let irap = false;
    let payload = 0;

    let sc = findStartCode(data, 0);
    while (sc >= 0) {
      const start = sc + 3;
      const next = findStartCode(data, start);
      let end = next < 0 ? data.length : next;
      while (end > start && data[end - 1] === 0) end--; // trailing_zero_8bits / next 4-byte start code
      sc = next;
      if (end <= start) continue;
      const b = data[start]!;
      const type = h264 ? b & 0x1f : (b >> 1) & 0x3f;
      let keepIt = true;
      let param = false;
      if (h264) {
        if (type === 9) keepIt = false; // access unit delimiter: meaningless in FLV
        else if (type === 7 || type === 8) param = true;
        else if (type === 5) irap = true;
      } else {
        if (type === 35) keepIt = false; // AUD_NUT
        else if (type >= 32 && type <= 34) param = true;
        else if (type >= 16 && type <= 21) irap = true;
      }
      if (param) {
        const nal = data.subarray(start, end);
        if (nal.length <= MAX_PARAM_SET) {
          if (type === 7 || type === 33) (sps ??= []).push(nal);
          else if (type === 8 || type === 34) (pps ??= []).push(nal);
          else (vps ??= []).push(nal);
        }
        if (!this.keepParameterSets) keepIt = false;
      }
      if (keepIt) {
        starts.push(start);
        ends.push(end);
        payload += 4 + (end - start);
      }
    }

    const ts = this.ms(frame.dts);
    if (sps || pps || vps || codec !== this.videoCodec) this.updateVideoConfig(codec, vps, sps, pps, ts, out);
    const key = frame.key || irap;
    if (!this.videoConfigTag || this.videoCodec !== codec || payload === 0 || (this.needKey && !key)) {
      this.stats.droppedVideo++;
      return;
    }
    const cts = Math.round((frame.pts - frame.dts) / 90);
    const headerSize = h264 ? 5 : cts !== 0 ? 8 : 5;
    if (headerSize + payload > FLV_MAX_DATA_SIZE) {
      this.stats.droppedVideo++;
      return;
    }
    this.needKey = false;
    const tag = allocTag(FLV_TAG_VIDEO, ts, headerSize + payload);
    const frameType = key ? 1 : 2;
    let o = 11;
    if (h264) {
      tag[o] = (frameType << 4) | FLV_CODEC_AVC;
      tag[o + 1] = 1; // AVCPacketType: NALUs
      writeSi24(tag, o + 2, cts);
      o += 5;
    } else {
      tag[o] = 0x80 | (frameType << 4) | (cts !== 0 ? EX_PACKET_CODED_FRAMES : EX_PACKET_CODED_FRAMES_X);
      writeFourCc(tag, o + 1, FOURCC_HVC1);
      o += 5;
      if (cts !== 0) {
        writeSi24(tag, o, cts);
        o += 3;
      }
    }
    for (let i = 0; i < starts.length; i++) {
      const s = starts[i]!;
      const len = ends[i]! - s;
      tag[o] = len >>> 24;
      tag[o + 1] = (len >>> 16) & 0xff;
      tag[o + 2] = (len >>> 8) & 0xff;
      tag[o + 3] = len & 0xff;
      tag.set(data.subarray(s, s + len), o + 4);
      o += 4 + len;
    }
    this.stats.videoTags++;
    out.push({ kind: 'video', config: false, key, timestamp: ts, bytes: tag });
  }

  /** Adopt new parameter sets; emit a sequence header when the configuration changed. */
  private updateVideoConfig(
    codec: VideoCodec,
    vps: Uint8Array[] | undefined,
    sps: Uint8Array[] | undefined,
    pps: Uint8Array[] | undefined,
    ts: number,
    out: FlvTag[],
  ): void {
    if (codec !== this.videoCodec) {
      // New codec: forget the old configuration; nothing goes out until its own parameter
      // sets and key frame arrive.
      this.videoCodec = codec;
      this.vps = [];
      this.sps = [];
      this.pps = [];
      this.videoConfigTag = undefined;
      this.needKey = true;
    }
    if (!sps && !pps && !vps) return;
    const newVps = vps && !sameList(vps, this.vps) ? vps.map((n) => n.slice()) : undefined;
    const newSps = sps && !sameList(sps, this.sps) ? sps.map((n) => n.slice()) : undefined;
    const newPps = pps && !sameList(pps, this.pps) ? pps.map((n) => n.slice()) : undefined;
    if (!newVps && !newSps && !newPps && this.videoConfigTag) return;
    if (newVps) this.vps = newVps;
    if (newSps) this.sps = newSps;
    if (newPps) this.pps = newPps;
    const h264 = codec === 'h264';
    if (this.sps.length === 0 || this.pps.length === 0 || (!h264 && this.vps.length === 0)) return;

    let record: Uint8Array;
    let size: { width: number; height: number } | undefined;
    if (h264) {
      const info: AvcSpsInfo | undefined = parseAvcSps(this.sps[0]!);
      record = buildAvcConfig(this.sps, this.pps, info);
      size = info;
    } else {
      const info: HevcSpsInfo | undefined = parseHevcSps(this.sps[0]!);
      record = buildHevcConfig(this.vps, this.sps, this.pps, info, !this.keepParameterSets);
      size = info;
    }
    const tag = allocTag(FLV_TAG_VIDEO, ts, 5 + record.length);
    if (h264) {
      tag[11] = (1 << 4) | FLV_CODEC_AVC; // key frame, AVC
      tag[12] = 0; // AVCPacketType: sequence header
      tag[13] = 0; // CompositionTime
      tag[14] = 0;
      tag[15] = 0;
    } else {
      tag[11] = 0x80 | (1 << 4) | EX_PACKET_SEQUENCE_START;
      writeFourCc(tag, 12, FOURCC_HVC1);
    }
    tag.set(record, 16);
    this.videoConfigTag = { kind: 'video', config: true, key: false, timestamp: ts, bytes: tag };
    this.streamInfo = { ...this.streamInfo, videoCodec: codec, width: size?.width, height: size?.height };
    if (size === undefined) {
      delete this.streamInfo.width;
      delete this.streamInfo.height;
    }
    this.stats.configTags++;
    out.push(this.videoConfigTag);
  }

  private muxAudio(frame: AvFrame, out: FlvTag[]): void {
    const data = frame.data;
    if (data.length === 0) {
      this.stats.droppedAudio++;
      return;
    }
    if (frame.codec === 'g711a' || frame.codec === 'g711u') {
      if (data.length + 1 > FLV_MAX_DATA_SIZE) {
        this.stats.droppedAudio++;
        return;
      }
      const format = frame.codec === 'g711a' ? FLV_SOUND_G711A : FLV_SOUND_G711U;
      if (this.streamInfo.audioCodec !== frame.codec) {
        this.streamInfo = { ...this.streamInfo, audioCodec: frame.codec, audioSampleRate: 8000, audioChannels: 1 };
        this.audioConfigTag = undefined;
      }
      const ts = this.ms(frame.dts);
      const tag = allocTag(FLV_TAG_AUDIO, ts, 1 + data.length);
      // SoundRate index 0 and SoundSize 16-bit: the convention for 8 kHz G.711 (the rate
      // field has no 8 kHz value; readers imply 8000 Hz for formats 7/8). Mono.
      tag[11] = (format << 4) | (0 << 2) | (1 << 1) | 0;
      tag.set(data, 12);
      this.stats.audioTags++;
      out.push({ kind: 'audio', config: false, key: false, timestamp: ts, bytes: tag });
      return;
    }
    if (frame.codec === 'aac') {
      if (isAdts(data)) {
        const { frames } = splitAdts(data);
        if (frames.length === 0) {
          this.stats.droppedAudio++;
          return;
        }
        for (let i = 0; i < frames.length; i++) {
          const f = frames[i]!;
          this.setAacConfig(audioSpecificConfig(f.objectType, f.samplingIndex, f.channelConfig), f.samplingIndex, f.channelConfig, frame.dts, out);
          const rate = AAC_SAMPLE_RATES[f.samplingIndex]!;
          this.aacTag(f.payload, frame.dts + Math.round((i * 1024 * 90000) / rate), out);
        }
        return;
      }
      if (this.rawAacConfig && this.rawAacConfig.length >= 2) {
        const c = this.rawAacConfig;
        this.setAacConfig(c, ((c[0]! & 7) << 1) | (c[1]! >> 7), (c[1]! >> 3) & 0x0f, frame.dts, out);
        this.aacTag(data, frame.dts, out);
        return;
      }
    }
    this.stats.droppedAudio++; // G.726 / ADPCM have no FLV mapping browsers play; raw AAC without config
  }

  private setAacConfig(asc: Uint8Array, samplingIndex: number, channels: number, dts: number, out: FlvTag[]): void {
    const cur = this.aacConfig;
    if (cur && this.streamInfo.audioCodec === 'aac' && cur.length === asc.length && cur.every((b, i) => b === asc[i])) return;
    this.aacConfig = asc.slice();
    const tag = allocTag(FLV_TAG_AUDIO, this.ms(dts), 2 + asc.length);
    tag[11] = 0xaf; // AAC, SoundRate 3, 16-bit, stereo: fixed for AAC by the spec
    tag[12] = 0; // AACPacketType: sequence header
    tag.set(asc, 13);
    this.audioConfigTag = { kind: 'audio', config: true, key: false, timestamp: this.ms(dts), bytes: tag };
    this.streamInfo = { ...this.streamInfo, audioCodec: 'aac', audioSampleRate: AAC_SAMPLE_RATES[samplingIndex], audioChannels: channels };
    this.stats.configTags++;
    out.push(this.audioConfigTag);
  }

  private aacTag(payload: Uint8Array, dts: number, out: FlvTag[]): void {
    if (payload.length + 2 > FLV_MAX_DATA_SIZE) {
      this.stats.droppedAudio++;
      return;
    }
    const ts = this.ms(dts);
    const tag = allocTag(FLV_TAG_AUDIO, ts, 2 + payload.length);
    tag[11] = 0xaf;
    tag[12] = 1; // AACPacketType: raw
    tag.set(payload, 13);
    this.stats.audioTags++;
    out.push({ kind: 'audio', config: false, key: false, timestamp: ts, bytes: tag });
  }
}
