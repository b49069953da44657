/**
 * Sans-I/O fragmented MP4 writer (ISO/IEC 14496-12 and -15) for downloads: video frames in,
 * bytes to append to a file out. One H.264 (`avc1`) or H.265 (`hvc1`) track on the 90 kHz
 * clock; the init segment (ftyp + moov with mvex) is written at the first key frame that
 * carries its parameter sets, then one fragment (moof + mdat) per GOP. Parameter sets and
 * access unit delimiters are taken out of the samples (they live in avcC / hvcC), so a
 * stream whose parameter sets change midway keeps the first ones. Audio is not written.
 */
import type { AvFrame, VideoCodec } from '../av/frame.js';
import { splitNalUnits } from '../mpeg-ps/nal.js';
import { buildAvcConfig, buildHevcConfig, HEVC_NAL_PPS, HEVC_NAL_SPS, HEVC_NAL_VPS, parseAvcSps, parseHevcSps } from '../flv/params.js';

const TIMESCALE = 90_000;
/** A fragment is cut at a key frame, or after this many samples when key frames are rare. */
const MAX_FRAGMENT_SAMPLES = 300;
/** Duration of a fragment's last sample when no next frame tells it: 40 ms. */
const DEFAULT_DURATION = 3600;

interface Sample {
  dts: number;
  cto: number;
  key: boolean;
  data: Uint8Array;
}

export interface Fmp4Info {
  codec: VideoCodec;
  width: number;
  height: number;
}

function box(type: string, ...parts: Uint8Array[]): Uint8Array {
  let size = 8;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, size);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  let o = 8;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Big-endian fields: [bytes, value] pairs (8-byte values as bigint). */
function fields(...list: Array<[1 | 2 | 4 | 8, number | bigint]>): Uint8Array {
  const out = new Uint8Array(list.reduce((n, [bytes]) => n + bytes, 0));
  const view = new DataView(out.buffer);
  let o = 0;
  for (const [bytes, value] of list) {
    if (bytes === 1) view.setUint8(o, Number(value));
    else if (bytes === 2) view.setUint16(o, Number(value));
    else if (bytes === 4) view.setUint32(o, Number(value) >>> 0);
    else view.setBigUint64(o, BigInt(value));
    o += bytes;
  }
  return out;
}

const fullBox = (type: string, version: number, flags: number, ...parts: Uint8Array[]) => box(type, fields([1, version], [1, flags >> 16], [2, flags & 0xffff]), ...parts);
const MATRIX = fields([4, 0x00010000], [4, 0], [4, 0], [4, 0], [4, 0x00010000], [4, 0], [4, 0], [4, 0], [4, 0x40000000]);

export class Fmp4Muxer {
  #info: Fmp4Info | null = null;
  #pending: Sample[] = [];
  #sequence = 0;
  /** The first sample's dts: the file's time starts at 0. */
  #firstDts = 0;
  /** Frames dropped: before the first key frame with parameter sets, or not video. */
  dropped = 0;

  get info(): Fmp4Info | null {
    return this.#info;
  }

  /** One frame; returns the bytes to append (nothing until a fragment is complete). */
  push(frame: AvFrame): Uint8Array[] {
    if (frame.kind !== 'video' || (frame.codec !== 'h264' && frame.codec !== 'h265')) return [];
    const out: Uint8Array[] = [];
    if (!this.#info) {
      const init = frame.key ? this.#init(frame) : null;
      if (!init) {
        this.dropped++;
        return out;
      }
      out.push(init);
      this.#firstDts = frame.dts;
    } else if (frame.codec !== this.#info.codec) {
      this.dropped++;
      return out;
    }
    if (frame.key || this.#pending.length >= MAX_FRAGMENT_SAMPLES) out.push(...this.#fragment(frame.dts));
    const data = this.#sampleData(frame);
    if (data.length === 0) this.dropped++;
    else this.#pending.push({ dts: frame.dts, cto: Math.max(0, frame.pts - frame.dts), key: frame.key, data });
    return out;
  }

  /** End of stream: the last fragment. */
  flush(): Uint8Array[] {
    return this.#fragment(null);
  }

  /** ftyp + moov, from the key frame's parameter sets; null when they are missing. */
  #init(frame: AvFrame): Uint8Array | null {
    const nals = splitNalUnits(frame.data);
    const h265 = frame.codec === 'h265';
    const type = (n: Uint8Array) => (h265 ? ((n[0] ?? 0) >> 1) & 0x3f : (n[0] ?? 0) & 0x1f);
    const vps = nals.filter((n) => h265 && type(n) === HEVC_NAL_VPS);
    const sps = nals.filter((n) => type(n) === (h265 ? HEVC_NAL_SPS : 7));
    const pps = nals.filter((n) => type(n) === (h265 ? HEVC_NAL_PPS : 8));
    if (sps.length === 0 || pps.length === 0 || (h265 && vps.length === 0)) return null;
    let config: Uint8Array;
    let width: number;
    let height: number;
    if (h265) {
      const info = parseHevcSps(sps[0]!);
      if (!info) return null;
      config = box('hvcC', buildHevcConfig(vps, sps, pps, info, true));
      ({ width, height } = info);
    } else {
      const info = parseAvcSps(sps[0]!);
      if (!info) return null;
      config = box('avcC', buildAvcConfig(sps, pps, info));
      ({ width, height } = info);
    }
    this.#info = { codec: frame.codec as VideoCodec, width, height };
    const sampleEntry = box(
      h265 ? 'hvc1' : 'avc1',
      new Uint8Array(6), // reserved
      fields([2, 1], [2, 0], [2, 0], [4, 0], [4, 0], [4, 0], [2, width], [2, height], [4, 0x00480000], [4, 0x00480000], [4, 0], [2, 1]),
      new Uint8Array(32), // compressorname
      fields([2, 0x0018], [2, 0xffff]),
      config,
    );
    const empty = (type: string, extra: Uint8Array = new Uint8Array(0)) => fullBox(type, 0, 0, fields([4, 0]), extra);
    const stbl = box('stbl', fullBox('stsd', 0, 0, fields([4, 1]), sampleEntry), empty('stts'), empty('stsc'), fullBox('stsz', 0, 0, fields([4, 0], [4, 0])), empty('stco'));
    const handlerName = new TextEncoder().encode('VideoHandler\0');
    const minf = box('minf', fullBox('vmhd', 0, 1, fields([2, 0], [2, 0], [2, 0], [2, 0])), box('dinf', fullBox('dref', 0, 0, fields([4, 1]), fullBox('url ', 0, 1))), stbl);
    const mdia = box(
      'mdia',
      fullBox('mdhd', 0, 0, fields([4, 0], [4, 0], [4, TIMESCALE], [4, 0], [2, 0x55c4], [2, 0])),
      fullBox('hdlr', 0, 0, fields([4, 0]), new TextEncoder().encode('vide'), new Uint8Array(12), handlerName),
      minf,
    );
    const tkhd = fullBox('tkhd', 0, 3, fields([4, 0], [4, 0], [4, 1], [4, 0], [4, 0], [4, 0], [4, 0], [2, 0], [2, 0], [2, 0], [2, 0]), MATRIX, fields([4, width * 65536], [4, height * 65536]));
    const mvhd = fullBox('mvhd', 0, 0, fields([4, 0], [4, 0], [4, TIMESCALE], [4, 0], [4, 0x00010000], [2, 0x0100], [2, 0], [4, 0], [4, 0]), MATRIX, new Uint8Array(24), fields([4, 2]));
    const mvex = box('mvex', fullBox('trex', 0, 0, fields([4, 1], [4, 1], [4, 0], [4, 0], [4, 0])));
    const ftyp = box('ftyp', new TextEncoder().encode('isom'), fields([4, 0x200]), new TextEncoder().encode(`isomiso6mp41${h265 ? 'hvc1' : 'avc1'}`));
    const moov = box('moov', mvhd, box('trak', tkhd, mdia), mvex);
    const out = new Uint8Array(ftyp.length + moov.length);
    out.set(ftyp);
    out.set(moov, ftyp.length);
    return out;
  }

  /** The frame's NAL units with 4-byte lengths, without parameter sets and delimiters. */
  #sampleData(frame: AvFrame): Uint8Array {
    const h265 = frame.codec === 'h265';
    const kept = splitNalUnits(frame.data).filter((n) => {
      const type = h265 ? ((n[0] ?? 0) >> 1) & 0x3f : (n[0] ?? 0) & 0x1f;
      return n.length > 0 && !(h265 ? type >= 32 && type <= 35 : type === 7 || type === 8 || type === 9);
    });
    const out = new Uint8Array(kept.reduce((size, n) => size + 4 + n.length, 0));
    const view = new DataView(out.buffer);
    let o = 0;
    for (const n of kept) {
      view.setUint32(o, n.length);
      out.set(n, o + 4);
      o += 4 + n.length;
    }
    return out;
  }

  /** moof + mdat of the pending samples; `nextDts` gives the last one its duration. */
  #fragment(nextDts: number | null): Uint8Array[] {
    const samples = this.#pending;
    if (samples.length === 0) return [];
    this.#pending = [];
    const durations = samples.map((s, i) => {
      const next = i + 1 < samples.length ? samples[i + 1]!.dts : nextDts;
      const previous = i > 0 ? s.dts - samples[i - 1]!.dts : DEFAULT_DURATION;
      return next !== null && next > s.dts ? next - s.dts : Math.max(1, previous);
    });
    const trunEntries = fields(
      ...samples.flatMap((s, i): Array<[4, number]> => [
        [4, durations[i]!],
        [4, s.data.length],
        // key: sample_depends_on 2 (no other); else depends_on 1 and sample_is_non_sync_sample
        [4, s.key ? 0x02000000 : 0x01010000],
        [4, s.cto],
      ]),
    );
    const build = (dataOffset: number) =>
      box(
        'moof',
        fullBox('mfhd', 0, 0, fields([4, this.#sequence + 1])),
        box(
          'traf',
          fullBox('tfhd', 0, 0x020000, fields([4, 1])), // default-base-is-moof
          fullBox('tfdt', 1, 0, fields([8, BigInt(samples[0]!.dts - this.#firstDts)])),
          fullBox('trun', 0, 0x000f01, fields([4, samples.length], [4, dataOffset]), trunEntries),
        ),
      );
    const moofSize = build(0).length;
    this.#sequence++;
    const mdatHeader = box('mdat');
    new DataView(mdatHeader.buffer).setUint32(0, 8 + samples.reduce((n, s) => n + s.data.length, 0));
    // The samples follow the 8-byte mdat header: data_offset counts from the moof's first byte.
    return [build(moofSize + 8), mdatHeader, ...samples.map((s) => s.data)];
  }
}
