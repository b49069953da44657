/**
 * Sans-I/O MPEG-2 program stream demuxer for GB28181 ingest: PS bytes in (any chunking, e.g.
 * RTP payloads in order), AvFrames out. It follows what cameras, NVRs, ZLMediaKit and ffmpeg
 * actually send: pack header per frame or 2 KB packs, optional system header and PSM (with a
 * program_stream_info descriptor), a video frame split over several PES, PES_packet_length 0.
 *
 * Frame boundary: a video PES whose PTS differs from the open frame's, `endOfFrame()` (the
 * RTP marker; ignored once it proves wrong), or `flush()`. Bad input is counted in `stats`
 * and skipped by resyncing on the next pack start code; nothing here throws on input bytes.
 */
import type { AudioCodec, AvFrame, Codec, VideoCodec } from '../av/frame.js';
import { codecOfStreamType, PACK_START, PROGRAM_END, PSM_START, PTS_MODULO } from './constants.js';
import { AccessUnitAligner } from './au-aligner.js';
import { FrameAssembler } from './frame-assembler.js';
import { findStartCode, isKeyAccessUnit } from './nal.js';

export interface PsDemuxerOptions {
  /** A frame larger than this is dropped (counted in `oversizeFrames`). Default 8 MiB. */
  maxFrameBytes?: number;
  /** Codec of audio PES (0xC0..0xDF) when no PSM names it. Default 'g711a' (GB28181 default). */
  fallbackAudioCodec?: AudioCodec;
  /**
   * Re-cut video into access units by their NAL units, for PS not packed frame by frame
   * (ffmpeg `-f vob`). Costs a scan, a copy and one frame of delay. Default false.
   */
  alignAccessUnits?: boolean;
}

export interface PsDemuxerStats {
  bytesIn: number;
  packHeaders: number;
  systemHeaders: number;
  psms: number;
  pesPackets: number;
  videoFrames: number;
  audioFrames: number;
  /** Structures that failed their checks (each followed by a resync). */
  malformed: number;
  /** Bytes thrown away while looking for the next pack header. */
  skippedBytes: number;
  /** Frames dropped because they were damaged (bad length, loss) or had no codec. */
  droppedFrames: number;
  oversizeFrames: number;
  /** PES of stream types this gateway does not handle, or of a second video/audio stream. */
  unsupportedPes: number;
  /** PES payload with no timestamp to attach it to. */
  untimedPes: number;
  discontinuities: number;
  /**
   * The RTP marker came before the end of a frame (the frame went on in the next PES); from
   * then on `endOfFrame()` is ignored for this stream.
   */
  misplacedMarkers: number;
}

export type PsFrameSink = (frame: AvFrame) => void;

// Parser states.
const SYNC = 0; // looking for 00 00 01 BA
const UNIT = 1; // a start code must follow
const PAYLOAD = 2; // `remaining` PES payload bytes
const PAYLOAD_UNBOUNDED = 3; // PES_packet_length 0: payload up to the next start code
const SKIP = 4; // `remaining` bytes of a unit we do not use

const NEED_MORE = -1;
const BAD = -2;

const TARGET_NONE = 0;
const TARGET_VIDEO = 1;
const TARGET_AUDIO = 2;

/**
 * The largest unit parsed whole is the PSM (at most 1018 bytes by ISO 13818-1; a little slack
 * for sloppy muxers). Bounding it bounds the carry and keeps tiny pushes from going quadratic.
 */
const MAX_PSM_LENGTH = 4096;
const MAX_CARRY = 6 + MAX_PSM_LENGTH + 16;

export class PsDemuxer {
  readonly stats: PsDemuxerStats = {
    bytesIn: 0,
    packHeaders: 0,
    systemHeaders: 0,
    psms: 0,
    pesPackets: 0,
    videoFrames: 0,
    audioFrames: 0,
    malformed: 0,
    skippedBytes: 0,
    droppedFrames: 0,
    oversizeFrames: 0,
    unsupportedPes: 0,
    untimedPes: 0,
    discontinuities: 0,
    misplacedMarkers: 0,
  };

  private readonly maxFrameBytes: number;
  private readonly fallbackAudioCodec: AudioCodec;

  private state = SYNC;
  private remaining = 0;
  private target = TARGET_NONE;
  private carry: Uint8Array | null = null;

  /** PES stream id → PSM stream_type. */
  private readonly streamTypes = new Map<number, number>();
  private videoStreamId = -1;
  private audioStreamId = -1;

  private readonly video: FrameAssembler;
  private videoOpen = false;
  private videoDamaged = false;
  private videoPts = 0;
  private videoDts = 0;
  /** The last video frame went out on endOfFrame(); its PTS, to catch a frame that goes on. */
  private videoEndedByMarker = false;
  private lastVideoPts = 0;
  private markerUnreliable = false;

  private readonly audio: FrameAssembler;
  private audioOpen = false;
  private audioDamaged = false;
  private audioPts = 0;
  private audioDts = 0;
  private audioNextPts = -1;

  // 33-bit timestamp unwrapping, one clock for audio and video.
  private haveClock = false;
  private lastRawTs = 0;
  private lastTs = 0;

  // Scratch results of parsePes (no per-PES object).
  private pesPts = -1;
  private pesDts = -1;
  private pesPayloadLength = 0;

  private readonly onFrame: PsFrameSink;
  private readonly aligner: AccessUnitAligner | undefined;

  constructor(onFrame: PsFrameSink, options: PsDemuxerOptions = {}) {
    if (options.alignAccessUnits) {
      const aligner = new AccessUnitAligner(onFrame, { maxAccessUnitBytes: options.maxFrameBytes ?? 8 * 1024 * 1024 });
      this.aligner = aligner;
      this.onFrame = (frame) => aligner.push(frame);
    } else {
      this.onFrame = onFrame;
    }
    this.maxFrameBytes = options.maxFrameBytes ?? 8 * 1024 * 1024;
    this.fallbackAudioCodec = options.fallbackAudioCodec ?? 'g711a';
    this.video = new FrameAssembler(Math.min(2 * 1024 * 1024, this.maxFrameBytes * 2));
    this.audio = new FrameAssembler(64 * 1024);
  }

  /** Bytes held: an incomplete header plus the frames being assembled (bounded by the caps). */
  get bufferedBytes(): number {
    return (this.carry?.length ?? 0) + this.video.length + this.audio.length + (this.aligner?.bufferedBytes ?? 0);
  }

  /** PSM stream_type per PES stream id, as last announced. */
  get streamTypeMap(): ReadonlyMap<number, number> {
    return this.streamTypes;
  }

  push(chunk: Uint8Array): void {
    this.stats.bytesIn += chunk.length;
    let data = chunk;
    if (this.carry !== null) {
      const joined = Buffer.allocUnsafe(this.carry.length + chunk.length);
      joined.set(this.carry, 0);
      joined.set(chunk, this.carry.length);
      data = joined;
      this.carry = null;
    }
    this.parse(data);
  }

  /**
   * The RTP marker said the frame is complete: hand out the open video frame now instead of
   * waiting for the next one's PES.
   */
  endOfFrame(): void {
    if (this.markerUnreliable) return;
    if (this.state === PAYLOAD_UNBOUNDED) {
      if (this.carry !== null) this.appendPayload(this.carry, 0, this.carry.length);
      this.carry = null;
      this.endPes();
      this.state = UNIT;
    }
    if ((this.state === UNIT || this.state === SYNC) && this.videoOpen) {
      this.emitVideo();
      this.videoEndedByMarker = true;
    }
  }

  /** Packets were lost (RTP sequence gap): drop what is half built and resync. */
  discontinuity(): void {
    this.stats.discontinuities++;
    this.aligner?.flush(false);
    this.dropOpenFrames();
    this.carry = null;
    this.state = SYNC;
  }

  /** End of input: emit complete frames still held. */
  flush(): void {
    if (this.state === PAYLOAD_UNBOUNDED) {
      if (this.carry !== null) this.appendPayload(this.carry, 0, this.carry.length);
      this.endPes();
    } else if (this.state === PAYLOAD) {
      // Truncated PES: the frame is incomplete.
      this.videoDamaged ||= this.target === TARGET_VIDEO;
      this.audioDamaged ||= this.target === TARGET_AUDIO;
    }
    this.carry = null;
    this.state = SYNC;
    this.emitAudio();
    this.emitVideo();
    this.aligner?.flush();
  }

  reset(): void {
    this.aligner?.flush(false);
    this.dropOpenFrames();
    this.carry = null;
    this.state = SYNC;
    this.streamTypes.clear();
    this.videoStreamId = -1;
    this.audioStreamId = -1;
    this.haveClock = false;
    this.audioNextPts = -1;
    this.videoEndedByMarker = false;
    this.markerUnreliable = false;
  }

  private dropOpenFrames(): void {
    if (this.videoOpen) {
      this.video.discard();
      this.videoOpen = false;
      this.stats.droppedFrames++;
    }
    if (this.audioOpen) {
      this.audio.discard();
      this.audioOpen = false;
      this.stats.droppedFrames++;
    }
    this.videoDamaged = false;
    this.audioDamaged = false;
    this.target = TARGET_NONE;
  }

  private parse(data: Uint8Array): void {
    const end = data.length;
    let pos = 0;
    while (pos < end) {
      switch (this.state) {
        case PAYLOAD: {
          const n = Math.min(this.remaining, end - pos);
          this.appendPayload(data, pos, pos + n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            this.endPes();
            this.state = UNIT;
          }
          break;
        }
        case SKIP: {
          const n = Math.min(this.remaining, end - pos);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = UNIT;
          break;
        }
        case PAYLOAD_UNBOUNDED: {
          const next = this.findUnitStart(data, pos, end);
          if (next >= 0) {
            this.appendPayload(data, pos, next);
            this.endPes();
            pos = next;
            this.state = UNIT;
          } else {
            // Keep a tail that may be the start of a start code.
            const keep = partialStartCodeTail(data, pos, end);
            this.appendPayload(data, pos, end - keep);
            this.keepCarry(data, end - keep, end);
            return;
          }
          break;
        }
        case SYNC: {
          const at = this.findPackStart(data, pos, end);
          if (at < 0) {
            const keep = partialStartCodeTail(data, pos, end);
            this.stats.skippedBytes += end - keep - pos;
            this.keepCarry(data, end - keep, end);
            return;
          }
          this.stats.skippedBytes += at - pos;
          pos = at;
          this.state = UNIT;
          break;
        }
        default: {
          // UNIT: a start code with a system-level id must be here.
          if (end - pos < 4) {
            this.keepCarry(data, pos, end);
            return;
          }
          if (data[pos] !== 0 || data[pos + 1] !== 0 || data[pos + 2] !== 1 || data[pos + 3]! < PROGRAM_END) {
            this.malformedHere();
            break;
          }
          const used = this.parseUnit(data, pos, end);
          if (used === NEED_MORE) {
            this.keepCarry(data, pos, end);
            return;
          }
          if (used === BAD) {
            this.malformedHere();
            pos += 4;
            break;
          }
          pos += used;
        }
      }
    }
  }

  /** Junk where a unit should start: the open frames' lengths were wrong, drop them. */
  private malformedHere(): void {
    this.stats.malformed++;
    if (this.videoOpen) this.videoDamaged = true;
    if (this.audioOpen) this.audioDamaged = true;
    this.state = SYNC;
  }

  private keepCarry(data: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    if (to - from > MAX_CARRY) {
      this.stats.malformed++;
      this.stats.skippedBytes += to - from;
      this.state = SYNC;
      return;
    }
    this.carry = data.slice(from, to);
  }

  private findPackStart(data: Uint8Array, from: number, end: number): number {
    let i = findStartCode(data, from, end);
    while (i >= 0 && i + 3 < end) {
      if (data[i + 3] === PACK_START) return i;
      i = findStartCode(data, i + 3, end);
    }
    return -1;
  }

  /** Next start code of a pack, system header, PSM or PES (ids >= 0xB9 never start a NAL). */
  private findUnitStart(data: Uint8Array, from: number, end: number): number {
    let i = findStartCode(data, from, end);
    while (i >= 0 && i + 3 < end) {
      if (data[i + 3]! >= PROGRAM_END) return i;
      i = findStartCode(data, i + 3, end);
    }
    return -1;
  }

  /** Parse the unit at `pos`; bytes consumed (header only for PES), NEED_MORE or BAD. */
  private parseUnit(data: Uint8Array, pos: number, end: number): number {
    const id = data[pos + 3]!;
    if (id === PACK_START) return this.parsePackHeader(data, pos, end);
    if (id === PROGRAM_END) return 4;
    if (end - pos < 6) return NEED_MORE;
    const length = (data[pos + 4]! << 8) | data[pos + 5]!;
    if (id === PSM_START) {
      if (length > MAX_PSM_LENGTH) return BAD;
      if (end - pos < 6 + length) return NEED_MORE;
      return this.parsePsm(data, pos, length) ? 6 + length : BAD;
    }
    if (id === 0xbb) {
      this.stats.systemHeaders++;
      return this.skip(length);
    }
    const isVideo = id >= 0xe0 && id <= 0xef;
    const isAudio = id >= 0xc0 && id <= 0xdf;
    if (!isVideo && !isAudio) return this.skip(length); // padding, private streams, ECM, ...
    const headerBytes = this.parsePesHeader(data, pos, end, length);
    if (headerBytes < 0) return headerBytes;
    this.stats.pesPackets++;
    this.startPes(id, isVideo);
    if (this.pesPayloadLength < 0) {
      this.state = PAYLOAD_UNBOUNDED;
    } else if (this.pesPayloadLength === 0) {
      this.endPes();
    } else {
      this.remaining = this.pesPayloadLength;
      this.state = PAYLOAD;
    }
    return headerBytes;
  }

  private skip(length: number): number {
    if (length > 0) {
      this.remaining = length;
      this.state = SKIP;
    }
    return 6;
  }

  private parsePackHeader(data: Uint8Array, pos: number, end: number): number {
    if (end - pos < 5) return NEED_MORE;
    const b4 = data[pos + 4]!;
    if ((b4 & 0xc0) === 0x40) {
      // MPEG-2: 14 bytes plus pack_stuffing_length.
      if (end - pos < 14) return NEED_MORE;
      // Marker bits of SCR and mux rate.
      if ((b4 & 0x04) === 0 || (data[pos + 6]! & 0x04) === 0 || (data[pos + 8]! & 0x04) === 0) return BAD;
      const size = 14 + (data[pos + 13]! & 0x07);
      if (end - pos < size) return NEED_MORE;
      this.stats.packHeaders++;
      return size;
    }
    if ((b4 & 0xf0) === 0x20) {
      // MPEG-1 pack header.
      if (end - pos < 12) return NEED_MORE;
      this.stats.packHeaders++;
      return 12;
    }
    return BAD;
  }

  private parsePsm(data: Uint8Array, pos: number, length: number): boolean {
    // length covers: 2 flag bytes, info length + info, map length + map, CRC.
    if (length < 10) return false;
    const unitEnd = pos + 6 + length;
    const infoLength = (data[pos + 8]! << 8) | data[pos + 9]!;
    let p = pos + 10 + infoLength;
    if (p + 2 > unitEnd) return false;
    const mapLength = (data[p]! << 8) | data[p + 1]!;
    p += 2;
    const mapEnd = p + mapLength;
    if (mapEnd + 4 > unitEnd) return false;
    this.streamTypes.clear();
    while (p + 4 <= mapEnd) {
      const streamType = data[p]!;
      const streamId = data[p + 1]!;
      const esInfoLength = (data[p + 2]! << 8) | data[p + 3]!;
      this.streamTypes.set(streamId, streamType);
      p += 4 + esInfoLength;
    }
    this.stats.psms++;
    // A PSM may move the streams: take the first video/audio id anew.
    this.videoStreamId = -1;
    this.audioStreamId = -1;
    return true;
  }

  /**
   * Fill pesPts/pesDts (raw 33-bit or -1) and pesPayloadLength (-1 = unbounded); return the
   * header size, NEED_MORE or BAD. Handles MPEG-2 and MPEG-1 PES headers.
   */
  private parsePesHeader(data: Uint8Array, pos: number, end: number, length: number): number {
    if (end - pos < 9) return NEED_MORE;
    this.pesPts = -1;
    this.pesDts = -1;
    let p = pos + 6;
    if ((data[p]! & 0xc0) === 0x80) {
      const flags = data[p + 1]! >> 6;
      const headerDataLength = data[p + 2]!;
      const size = 9 + headerDataLength;
      if (length !== 0 && size - 6 > length) return BAD;
      if (end - pos < size) return NEED_MORE;
      if (flags === 1) return BAD;
      if (flags >= 2) {
        if (headerDataLength < (flags === 3 ? 10 : 5)) return BAD;
        this.pesPts = readTimestamp(data, pos + 9);
        if (flags === 3) this.pesDts = readTimestamp(data, pos + 14);
      }
      this.pesPayloadLength = length === 0 ? -1 : length - (size - 6);
      return size;
    }
    // MPEG-1: up to 16 stuffing bytes, optional STD buffer, then the timestamp field.
    const limit = Math.min(end, pos + 6 + (length === 0 ? 64 : length));
    let stuffing = 0;
    while (p < limit && data[p] === 0xff) {
      if (++stuffing > 16) return BAD;
      p++;
    }
    if (p >= limit) return end - pos < 6 + length ? NEED_MORE : BAD;
    if ((data[p]! & 0xc0) === 0x40) p += 2;
    if (p >= limit) return end - pos < 6 + length ? NEED_MORE : BAD;
    const marker = data[p]! & 0xf0;
    if (marker === 0x20 || marker === 0x30) {
      const need = marker === 0x20 ? 5 : 10;
      if (p + need > limit) return end - pos < 6 + length ? NEED_MORE : BAD;
      this.pesPts = readTimestamp(data, p);
      if (marker === 0x30) this.pesDts = readTimestamp(data, p + 5);
      p += need;
    } else if (data[p] === 0x0f) {
      p += 1;
    } else {
      return BAD;
    }
    const size = p - pos;
    this.pesPayloadLength = length === 0 ? -1 : length - (size - 6);
    if (this.pesPayloadLength < 0) return BAD;
    return size;
  }

  /** What unwrap(raw) would return, without moving the clock. */
  private unwrapPeek(raw: number): number {
    if (!this.haveClock) return raw;
    let delta = raw - this.lastRawTs;
    if (delta > PTS_MODULO / 2) delta -= PTS_MODULO;
    else if (delta < -PTS_MODULO / 2) delta += PTS_MODULO;
    return this.lastTs + delta;
  }

  private unwrap(raw: number): number {
    if (!this.haveClock) {
      this.haveClock = true;
      this.lastRawTs = raw;
      this.lastTs = raw;
      return raw;
    }
    let delta = raw - this.lastRawTs;
    if (delta > PTS_MODULO / 2) delta -= PTS_MODULO;
    else if (delta < -PTS_MODULO / 2) delta += PTS_MODULO;
    this.lastRawTs = raw;
    this.lastTs += delta;
    return this.lastTs;
  }

  private startPes(streamId: number, isVideo: boolean): void {
    const streamType = this.streamTypes.get(streamId);
    if (streamType !== undefined && codecOfStreamType(streamType) === undefined) {
      this.target = TARGET_NONE;
      this.stats.unsupportedPes++;
      return;
    }
    if (isVideo) {
      if (this.videoStreamId < 0) this.videoStreamId = streamId;
      if (streamId !== this.videoStreamId) {
        this.target = TARGET_NONE;
        this.stats.unsupportedPes++;
        return;
      }
      this.target = TARGET_VIDEO;
      if (this.videoEndedByMarker) {
        this.videoEndedByMarker = false;
        // A marker-ended frame going on (same PTS, or a PES without one): markers lie here.
        if (!this.videoOpen && (this.pesPts < 0 || this.unwrapPeek(this.pesPts) === this.lastVideoPts)) {
          this.stats.misplacedMarkers++;
          this.markerUnreliable = true;
        }
      }
      if (this.pesPts >= 0) {
        const pts = this.unwrap(this.pesPts);
        const dts = this.pesDts >= 0 ? this.unwrap(this.pesDts) : pts;
        if (this.videoOpen && pts !== this.videoPts) this.emitVideo();
        if (!this.videoOpen) {
          this.videoOpen = true;
          this.videoPts = pts;
          this.videoDts = dts;
        }
      } else if (!this.videoOpen) {
        this.target = TARGET_NONE;
        this.stats.untimedPes++;
      }
      return;
    }
    if (this.audioStreamId < 0) this.audioStreamId = streamId;
    if (streamId !== this.audioStreamId) {
      this.target = TARGET_NONE;
      this.stats.unsupportedPes++;
      return;
    }
    this.emitAudio();
    if (this.pesPts >= 0) {
      this.audioPts = this.unwrap(this.pesPts);
      this.audioDts = this.pesDts >= 0 ? this.unwrap(this.pesDts) : this.audioPts;
    } else if (this.audioNextPts >= 0) {
      this.audioPts = this.audioNextPts;
      this.audioDts = this.audioNextPts;
    } else {
      this.target = TARGET_NONE;
      this.stats.untimedPes++;
      return;
    }
    this.target = TARGET_AUDIO;
    this.audioOpen = true;
  }

  private appendPayload(data: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    if (this.target === TARGET_VIDEO) {
      if (this.videoDamaged) return;
      if (this.video.length + (to - from) > this.maxFrameBytes) {
        this.stats.oversizeFrames++;
        this.videoDamaged = true;
        this.video.discard();
        return;
      }
      this.video.append(data, from, to);
    } else if (this.target === TARGET_AUDIO) {
      if (this.audioDamaged) return;
      if (this.audio.length + (to - from) > this.maxFrameBytes) {
        this.stats.oversizeFrames++;
        this.audioDamaged = true;
        this.audio.discard();
        return;
      }
      this.audio.append(data, from, to);
    }
  }

  private endPes(): void {
    // Audio PES are whole frames; a video frame may continue in the next PES.
    if (this.target === TARGET_AUDIO) this.emitAudio();
    this.target = TARGET_NONE;
  }

  private emitVideo(): void {
    if (!this.videoOpen) return;
    this.videoOpen = false;
    if (this.videoDamaged || this.video.length === 0) {
      this.videoDamaged = false;
      this.video.discard();
      this.stats.droppedFrames++;
      return;
    }
    const data = this.video.take();
    const codec = this.videoCodec(data);
    if (codec === undefined) {
      this.stats.droppedFrames++;
      return;
    }
    this.stats.videoFrames++;
    this.lastVideoPts = this.videoPts;
    this.onFrame({
      kind: 'video',
      codec,
      key: isKeyAccessUnit(data, codec),
      pts: this.videoPts,
      dts: this.videoDts,
      data,
    });
  }

  private emitAudio(): void {
    if (!this.audioOpen) return;
    this.audioOpen = false;
    if (this.audioDamaged || this.audio.length === 0) {
      this.audioDamaged = false;
      this.audio.discard();
      this.stats.droppedFrames++;
      return;
    }
    const data = this.audio.take();
    const streamType = this.streamTypes.get(this.audioStreamId);
    const codec: Codec = (streamType !== undefined ? codecOfStreamType(streamType) : undefined) ?? this.fallbackAudioCodec;
    // G.711 is one byte per 8 kHz sample: 11.25 ticks of 90 kHz per byte. Lets an untimed PES go on.
    this.audioNextPts = codec === 'g711a' || codec === 'g711u' ? this.audioPts + Math.round((data.length * 90000) / 8000) : this.audioPts;
    this.stats.audioFrames++;
    this.onFrame({ kind: 'audio', codec, key: true, pts: this.audioPts, dts: this.audioDts, data });
  }

  private videoCodec(data: Uint8Array): VideoCodec | undefined {
    const streamType = this.streamTypes.get(this.videoStreamId);
    if (streamType !== undefined) {
      const codec = codecOfStreamType(streamType);
      return codec === 'h264' || codec === 'h265' ? codec : undefined;
    }
    return probeVideoCodec(data);
  }
}

/** 33-bit PTS/DTS from the 5-byte field at `p` (marker bits ignored, as receivers do). */
function readTimestamp(data: Uint8Array, p: number): number {
  const high = (data[p]! >> 1) & 0x07; // bits 32..30
  const low =
    ((data[p + 1]! << 22) | ((data[p + 2]! >> 1) << 15) | (data[p + 3]! << 7) | (data[p + 4]! >> 1)) >>> 0;
  return high * 0x40000000 + low;
}

/** How many tail bytes of data[from, end) could be the beginning of a start code. */
function partialStartCodeTail(data: Uint8Array, from: number, end: number): number {
  const n = end - from;
  if (n >= 3 && data[end - 3] === 0 && data[end - 2] === 0 && data[end - 1] === 1) return 3;
  if (n >= 2 && data[end - 2] === 0 && data[end - 1] === 0) return 2;
  if (n >= 1 && data[end - 1] === 0) return 1;
  return 0;
}

/**
 * Without a PSM: H.265 NAL headers have a zero top bit and a second byte of 0x01 (layer 0,
 * temporal id 1) with a type in the ranges real streams use; anything else is taken as H.264.
 */
export function probeVideoCodec(data: Uint8Array): VideoCodec | undefined {
  const sc = findStartCode(data, 0);
  if (sc < 0 || sc + 3 >= data.length) return undefined;
  const b0 = data[sc + 3]!;
  const b1 = sc + 4 < data.length ? data[sc + 4]! : -1;
  if ((b0 & 0x80) !== 0) return undefined;
  const h265Type = (b0 >> 1) & 0x3f;
  if ((b0 & 0x01) === 0 && b1 === 0x01 && (h265Type <= 9 || (h265Type >= 16 && h265Type <= 21) || (h265Type >= 32 && h265Type <= 40))) {
    return 'h265';
  }
  return 'h264';
}
