/**
 * Sans-I/O GB28181-style MPEG-2 program stream muxer: one AvFrame in, the PS bytes of that
 * frame out. Layout per frame: pack header (SCR = dts), then before every key frame (and the
 * first frame, and after a codec change) a system header and a PSM, then the PES packets.
 * Fixes what go-jt808 gets wrong (jt1078.md §4): 90 kHz 33-bit PTS/SCR, G.711U = 0x91,
 * CRC-32/MPEG-2 on the PSM, PES ids that match the PSM, frames over 64 KB split across PES.
 *
 * `muxSlices` is the fast path: headers go into a reused scratch buffer and the frame's
 * payload is returned as views, so the RTP packetizer copies each byte once.
 */
import type { AudioCodec, AvFrame, VideoCodec } from '../av/frame.js';
import { isVideoCodec } from '../av/frame.js';
import { AUDIO_STREAM_ID, PTS_MODULO, streamTypeOfCodec, VIDEO_STREAM_ID } from './constants.js';

export interface PsMuxerOptions {
  /** program_mux_rate / rate_bound in units of 50 bytes/s. Default 6106 (about 2.4 Mbit/s). */
  muxRate?: number;
  /**
   * Largest PES_packet_length written (<= 65535). Frames that do not fit go into several
   * PES packets; only the first carries PTS/DTS. Default 65535.
   */
  maxPesPacketLength?: number;
  /** Audio-only streams: repeat system header + PSM every this many frames. Default 50. */
  audioOnlyPsmInterval?: number;
  /**
   * Streams to announce from the first PSM on (e.g. from the INVITE's SDP). Without them a
   * stream is announced once its first frame arrives.
   */
  videoCodec?: VideoCodec;
  audioCodec?: AudioCodec;
}

const PACK_HEADER_BYTES = 14;
const PES_HEADER_BYTES = 9;

export class PsMuxer {
  private readonly muxRate: number;
  private readonly maxPesPacketLength: number;
  private readonly audioOnlyPsmInterval: number;

  private videoCodec: VideoCodec | undefined;
  private audioCodec: AudioCodec | undefined;
  private psmVersion = 0;
  private psmWritten = false;
  private psmDue = true;
  private framesSincePsm = 0;
  private scratch = Buffer.allocUnsafeSlow(1024);
  private readonly slices: Uint8Array[] = [];

  /** Frames whose codec has no PS stream type (G.726, ADPCM) and were not muxed. */
  unsupportedFrames = 0;

  constructor(options: PsMuxerOptions = {}) {
    this.muxRate = options.muxRate ?? 6106;
    this.maxPesPacketLength = Math.min(65535, Math.max(64, options.maxPesPacketLength ?? 65535));
    this.audioOnlyPsmInterval = options.audioOnlyPsmInterval ?? 50;
    this.videoCodec = options.videoCodec;
    this.audioCodec = options.audioCodec;
  }

  /**
   * PS bytes of the frame as a list: headers are views into a scratch buffer that the next
   * call reuses, payload pieces are views of `frame.data`. Empty when the codec has no PS
   * stream type.
   */
  muxSlices(frame: AvFrame): readonly Uint8Array[] {
    const slices = this.slices;
    slices.length = 0;
    const streamType = streamTypeOfCodec(frame.codec);
    if (streamType === undefined) {
      this.unsupportedFrames++;
      return slices;
    }
    const isVideo = isVideoCodec(frame.codec);
    this.learnCodec(frame);
    const writePsm = this.psmDue || (isVideo && frame.key) || (this.videoCodec === undefined && this.framesSincePsm >= this.audioOnlyPsmInterval);
    const payload = frame.data;
    const pts = wrap33(frame.pts);
    const dts = wrap33(frame.dts);
    const withDts = pts !== dts;
    const firstHeaderData = withDts ? 10 : 5;
    const firstMax = this.maxPesPacketLength - 3 - firstHeaderData;
    const restMax = this.maxPesPacketLength - 3;
    const pesCount = payload.length <= firstMax ? 1 : 1 + Math.ceil((payload.length - firstMax) / restMax);

    const headerBytes = PACK_HEADER_BYTES + (writePsm ? this.systemHeaderBytes() + this.psmBytes() : 0) + pesCount * PES_HEADER_BYTES + firstHeaderData;
    if (this.scratch.length < headerBytes) this.scratch = Buffer.allocUnsafeSlow(headerBytes * 2);
    const out = this.scratch;

    let p = this.writePackHeader(out, 0, dts);
    if (writePsm) {
      p = this.writeSystemHeader(out, p);
      p = this.writePsm(out, p);
      this.psmDue = false;
      this.psmWritten = true;
      this.framesSincePsm = 0;
    }
    this.framesSincePsm++;
    const streamId = isVideo ? VIDEO_STREAM_ID : AUDIO_STREAM_ID;
    let headerStart = 0;
    let offset = 0;
    for (let i = 0; i < pesCount; i++) {
      const first = i === 0;
      const take = Math.min(payload.length - offset, first ? firstMax : restMax);
      const headerData = first ? firstHeaderData : 0;
      const pesLength = 3 + headerData + take;
      out[p] = 0;
      out[p + 1] = 0;
      out[p + 2] = 1;
      out[p + 3] = streamId;
      out[p + 4] = pesLength >> 8;
      out[p + 5] = pesLength & 0xff;
      // '10', data_alignment_indicator on the PES that starts the access unit.
      out[p + 6] = first ? 0x84 : 0x80;
      out[p + 7] = first ? (withDts ? 0xc0 : 0x80) : 0x00;
      out[p + 8] = headerData;
      p += PES_HEADER_BYTES;
      if (first) {
        writeTimestamp(out, p, withDts ? 0x3 : 0x2, pts);
        p += 5;
        if (withDts) {
          writeTimestamp(out, p, 0x1, dts);
          p += 5;
        }
      }
      slices.push(out.subarray(headerStart, p));
      if (take > 0) slices.push(payload.subarray(offset, offset + take));
      offset += take;
      headerStart = p;
    }
    return slices;
  }

  /** Upper bound of the bytes `mux`/`muxInto` write for this frame (to size a buffer). */
  maxMuxedLength(frame: AvFrame): number {
    const n = frame.data.length;
    const firstMax = this.maxPesPacketLength - 3 - 10;
    const restMax = this.maxPesPacketLength - 3;
    const pesCount = n <= firstMax ? 1 : 1 + Math.ceil((n - firstMax) / restMax);
    // Pack header, system header and PSM listing two streams, PES headers, payload.
    return PACK_HEADER_BYTES + 18 + 24 + pesCount * PES_HEADER_BYTES + 10 + n;
  }

  /** Write the frame's PS bytes into `out` at `offset`; returns the bytes written. */
  muxInto(frame: AvFrame, out: Uint8Array, offset = 0): number {
    const slices = this.muxSlices(frame);
    let p = offset;
    for (const s of slices) {
      if (p + s.length > out.length) throw new RangeError('output buffer too small for the muxed frame');
      out.set(s, p);
      p += s.length;
    }
    return p - offset;
  }

  /** The frame's PS bytes in a new buffer. */
  mux(frame: AvFrame): Uint8Array {
    const slices = this.muxSlices(frame);
    let total = 0;
    for (const s of slices) total += s.length;
    const out = Buffer.allocUnsafe(total);
    let p = 0;
    for (const s of slices) {
      out.set(s, p);
      p += s.length;
    }
    return out;
  }

  private learnCodec(frame: AvFrame): void {
    if (isVideoCodec(frame.codec)) {
      if (this.videoCodec !== frame.codec) {
        this.videoCodec = frame.codec;
        this.codecChanged();
      }
    } else if (this.audioCodec !== frame.codec) {
      this.audioCodec = frame.codec;
      this.codecChanged();
    }
  }

  private codecChanged(): void {
    this.psmDue = true;
    // version_number tells receivers the map changed; the first map is version 0.
    if (this.psmWritten) this.psmVersion = (this.psmVersion + 1) & 0x1f;
  }

  private streamCount(): number {
    return (this.videoCodec !== undefined ? 1 : 0) + (this.audioCodec !== undefined ? 1 : 0);
  }

  private systemHeaderBytes(): number {
    return 12 + 3 * this.streamCount();
  }

  private psmBytes(): number {
    return 16 + 4 * this.streamCount();
  }

  private writePackHeader(out: Uint8Array, p: number, scr: number): number {
    const high = Math.floor(scr / 0x40000000); // SCR bits 32..30
    const low = scr % 0x40000000; // bits 29..0
    out[p] = 0;
    out[p + 1] = 0;
    out[p + 2] = 1;
    out[p + 3] = 0xba;
    out[p + 4] = 0x44 | (high << 3) | ((low >>> 28) & 0x03);
    out[p + 5] = (low >>> 20) & 0xff;
    out[p + 6] = ((low >>> 12) & 0xf8) | 0x04 | ((low >>> 13) & 0x03);
    out[p + 7] = (low >>> 5) & 0xff;
    out[p + 8] = ((low & 0x1f) << 3) | 0x04; // SCR_extension 0
    out[p + 9] = 0x01;
    const rate = this.muxRate & 0x3fffff;
    out[p + 10] = rate >>> 14;
    out[p + 11] = (rate >>> 6) & 0xff;
    out[p + 12] = ((rate & 0x3f) << 2) | 0x03;
    out[p + 13] = 0xf8; // reserved, pack_stuffing_length 0
    return p + PACK_HEADER_BYTES;
  }

  private writeSystemHeader(out: Uint8Array, p: number): number {
    const length = this.systemHeaderBytes() - 6;
    const rate = this.muxRate & 0x3fffff;
    out[p] = 0;
    out[p + 1] = 0;
    out[p + 2] = 1;
    out[p + 3] = 0xbb;
    out[p + 4] = length >> 8;
    out[p + 5] = length & 0xff;
    out[p + 6] = 0x80 | (rate >>> 15);
    out[p + 7] = (rate >>> 7) & 0xff;
    out[p + 8] = ((rate & 0x7f) << 1) | 0x01;
    const audioBound = this.audioCodec !== undefined ? 1 : 0;
    const videoBound = this.videoCodec !== undefined ? 1 : 0;
    out[p + 9] = audioBound << 2; // fixed_flag 0, CSPS_flag 0
    out[p + 10] = 0xe0 | videoBound; // audio/video lock, marker
    out[p + 11] = 0x7f; // no packet rate restriction
    p += 12;
    if (this.videoCodec !== undefined) {
      // P-STD buffer: scale 1 (1024 B units), 1024 units.
      out[p] = VIDEO_STREAM_ID;
      out[p + 1] = 0xe4;
      out[p + 2] = 0x00;
      p += 3;
    }
    if (this.audioCodec !== undefined) {
      // scale 0 (128 B units), 32 units.
      out[p] = AUDIO_STREAM_ID;
      out[p + 1] = 0xc0;
      out[p + 2] = 0x20;
      p += 3;
    }
    return p;
  }

  private writePsm(out: Uint8Array, p: number): number {
    const start = p;
    const mapLength = 4 * this.streamCount();
    const length = this.psmBytes() - 6;
    out[p] = 0;
    out[p + 1] = 0;
    out[p + 2] = 1;
    out[p + 3] = 0xbc;
    out[p + 4] = length >> 8;
    out[p + 5] = length & 0xff;
    out[p + 6] = 0xe0 | this.psmVersion; // current_next_indicator 1
    out[p + 7] = 0xff;
    out[p + 8] = 0; // program_stream_info_length
    out[p + 9] = 0;
    out[p + 10] = mapLength >> 8;
    out[p + 11] = mapLength & 0xff;
    p += 12;
    if (this.videoCodec !== undefined) {
      out[p] = streamTypeOfCodec(this.videoCodec)!;
      out[p + 1] = VIDEO_STREAM_ID;
      out[p + 2] = 0;
      out[p + 3] = 0;
      p += 4;
    }
    if (this.audioCodec !== undefined) {
      out[p] = streamTypeOfCodec(this.audioCodec)!;
      out[p + 1] = AUDIO_STREAM_ID;
      out[p + 2] = 0;
      out[p + 3] = 0;
      p += 4;
    }
    const crc = crc32Mpeg2(out, start, p);
    out[p] = crc >>> 24;
    out[p + 1] = (crc >>> 16) & 0xff;
    out[p + 2] = (crc >>> 8) & 0xff;
    out[p + 3] = crc & 0xff;
    return p + 4;
  }
}

function wrap33(ts: number): number {
  const t = Math.floor(ts) % PTS_MODULO;
  return t < 0 ? t + PTS_MODULO : t;
}

/** 5-byte PTS/DTS field: 4-bit prefix, bits 32..30, marker, 29..15, marker, 14..0, marker. */
function writeTimestamp(out: Uint8Array, p: number, prefix: number, ts: number): void {
  const high = Math.floor(ts / 0x40000000);
  const low = ts % 0x40000000;
  out[p] = (prefix << 4) | (high << 1) | 0x01;
  out[p + 1] = (low >>> 22) & 0xff;
  out[p + 2] = (((low >>> 15) & 0x7f) << 1) | 0x01;
  out[p + 3] = (low >>> 7) & 0xff;
  out[p + 4] = ((low & 0x7f) << 1) | 0x01;
}

let crcTable: Uint32Array | undefined;

/** CRC-32/MPEG-2: poly 0x04C11DB7, MSB first, init 0xFFFFFFFF, no final xor. */
export function crc32Mpeg2(data: Uint8Array, from = 0, to = data.length): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i << 24;
      for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
      crcTable[i] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = from; i < to; i++) crc = ((crc << 8) ^ crcTable[((crc >>> 24) ^ data[i]!) & 0xff]!) >>> 0;
  return crc >>> 0;
}
