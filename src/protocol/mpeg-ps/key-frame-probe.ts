/**
 * Does this PS frame start a key frame? Looked at from the first bytes of a frame's PS
 * (what a packet relay sees: it never demuxes), so that a sender that fell behind can
 * drop to the next point where a receiver can start decoding. A key start is a pack
 * header followed by a system header and/or a PSM, then a video PES whose first NAL is a
 * parameter set or an IDR/IRAP slice (access unit delimiters and SEI skipped). In a stream
 * whose PSM lists no video, a frame carrying a PSM is the start (audio-only streams).
 *
 * Sans-I/O and allocation-free; a frame's later bytes are never needed once a verdict is
 * reached, which is nearly always within its first RTP packet.
 */
import type { VideoCodec } from '../av/frame.js';
import { nalType } from './nal.js';
import { PACK_START, PROGRAM_END, PSM_START, STREAM_TYPE_H264, STREAM_TYPE_H265, SYSTEM_HEADER_START } from './constants.js';

export type PsFrameVerdict = 'key' | 'delta' | 'more';

export interface PsFrameProbe {
  /** `more`: the bytes end before a verdict; call again with more of the frame. */
  verdict: PsFrameVerdict;
  /** The video codec the frame's PSM announced (undefined: no PSM, or no video in it). */
  videoCodec?: VideoCodec;
  /** The frame carries a PSM that lists no video stream. */
  audioOnly?: boolean;
}

const MORE: PsFrameProbe = { verdict: 'more' };
const DELTA: PsFrameProbe = { verdict: 'delta' };

function isStartCode(ps: Uint8Array, p: number): boolean {
  return ps[p] === 0 && ps[p + 1] === 0 && ps[p + 2] === 1;
}

/** Offset after the pack header at `p` (MPEG-2, or the 12-byte MPEG-1 one), or -1 if cut. */
function skipPackHeader(ps: Uint8Array, p: number): number {
  if (p + 5 > ps.length) return -1;
  if ((ps[p + 4]! & 0xc0) !== 0x40) return p + 12; // MPEG-1 pack
  if (p + 14 > ps.length) return -1;
  return p + 14 + (ps[p + 13]! & 0x07);
}

/** The video stream type a PSM lists ('none' when it lists no video, undefined: other video). */
function videoOfPsm(ps: Uint8Array, p: number, end: number): VideoCodec | 'none' | undefined {
  const infoLength = (ps[p + 8]! << 8) | ps[p + 9]!;
  let q = p + 10 + infoLength + 2; // elementary_stream_map_length
  let found: VideoCodec | 'none' | undefined = 'none';
  while (q + 4 <= end - 4) {
    const type = ps[q]!;
    const id = ps[q + 1]!;
    if (id >= 0xe0 && id <= 0xef) found = type === STREAM_TYPE_H264 ? 'h264' : type === STREAM_TYPE_H265 ? 'h265' : undefined;
    q += 4 + ((ps[q + 2]! << 8) | ps[q + 3]!);
  }
  return found;
}

/** Verdict from the first NALs of a video PES payload in `ps[from, to)`; undefined: none yet. */
function firstNalVerdict(ps: Uint8Array, from: number, to: number, codec: VideoCodec): 'key' | 'delta' | undefined {
  let p = from;
  while (p + 4 <= to) {
    if (!isStartCode(ps, p)) {
      p++;
      continue;
    }
    const type = nalType(ps, p + 3, codec);
    if (codec === 'h264') {
      if (type === 5 || type === 7 || type === 8) return 'key';
      if (type >= 1 && type <= 4) return 'delta';
    } else {
      if ((type >= 16 && type <= 21) || (type >= 32 && type <= 34)) return 'key';
      if (type <= 31) return 'delta';
    }
    p += 4; // AUD, SEI and the like: look at the next NAL
  }
  return undefined;
}

/**
 * Probe the start of one frame's PS bytes. `videoCodec` is the codec announced by an
 * earlier PSM of the stream, used when this frame carries only a system header.
 */
export function probePsFrameStart(ps: Uint8Array, videoCodec?: VideoCodec): PsFrameProbe {
  if (ps.length < 4) return MORE;
  if (!isStartCode(ps, 0) || ps[3] !== PACK_START) return DELTA;
  let p = skipPackHeader(ps, 0);
  let headers = false;
  let codec: VideoCodec | 'none' | undefined;
  while (p >= 0) {
    if (p + 6 > ps.length) return MORE;
    if (!isStartCode(ps, p)) return DELTA;
    const id = ps[p + 3]!;
    if (id === PACK_START) {
      p = skipPackHeader(ps, p);
      continue;
    }
    if (id === PROGRAM_END) return DELTA;
    const length = (ps[p + 4]! << 8) | ps[p + 5]!;
    const end = p + 6 + length;
    if (id === SYSTEM_HEADER_START) {
      headers = true;
    } else if (id === PSM_START) {
      if (end > ps.length) return MORE;
      headers = true;
      codec = videoOfPsm(ps, p, end);
    } else if (id >= 0xe0 && id <= 0xef) {
      if (!headers) return DELTA;
      if (p + 9 > ps.length) return MORE;
      const payload = p + 9 + ps[p + 8]!;
      const known = codec === 'h264' || codec === 'h265' ? codec : videoCodec ?? 'h264';
      const verdict = firstNalVerdict(ps, payload, Math.min(length === 0 ? ps.length : end, ps.length), known);
      if (verdict) return { verdict, videoCodec: known };
      if (end < ps.length && length !== 0) {
        p = end; // a PES of only AUD/SEI: the picture is in the next one
        continue;
      }
      return MORE;
    } else if (headers && codec === 'none') {
      return { verdict: 'key', audioOnly: true };
    } else if (!headers) {
      return DELTA;
    }
    p = end;
  }
  return MORE;
}
