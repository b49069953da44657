/**
 * ISO/IEC 13818-1 start codes and the GB/T 28181 stream_type values, in one place so the
 * muxer and the demuxer cannot disagree (go-jt808 wrote G.711U as 0x90; it is 0x91).
 */
import type { Codec } from '../av/frame.js';

export const PACK_START = 0xba;
export const SYSTEM_HEADER_START = 0xbb;
export const PSM_START = 0xbc;
export const PRIVATE_STREAM_1 = 0xbd;
export const PADDING_STREAM = 0xbe;
export const PRIVATE_STREAM_2 = 0xbf;
export const PROGRAM_END = 0xb9;

/** PES stream ids the muxer writes and GB28181 receivers expect. */
export const VIDEO_STREAM_ID = 0xe0;
export const AUDIO_STREAM_ID = 0xc0;

export const STREAM_TYPE_H264 = 0x1b;
export const STREAM_TYPE_H265 = 0x24;
export const STREAM_TYPE_AAC = 0x0f;
export const STREAM_TYPE_G711A = 0x90;
export const STREAM_TYPE_G711U = 0x91;

/** PSM stream_type → codec, for the codecs the gateway handles. */
export function codecOfStreamType(streamType: number): Codec | undefined {
  switch (streamType) {
    case STREAM_TYPE_H264:
      return 'h264';
    case STREAM_TYPE_H265:
      return 'h265';
    case STREAM_TYPE_AAC:
      return 'aac';
    case STREAM_TYPE_G711A:
      return 'g711a';
    case STREAM_TYPE_G711U:
      return 'g711u';
    default:
      return undefined;
  }
}

/** codec → PSM stream_type; undefined for codecs GB28181 PS has no agreed type for. */
export function streamTypeOfCodec(codec: Codec): number | undefined {
  switch (codec) {
    case 'h264':
      return STREAM_TYPE_H264;
    case 'h265':
      return STREAM_TYPE_H265;
    case 'aac':
      return STREAM_TYPE_AAC;
    case 'g711a':
      return STREAM_TYPE_G711A;
    case 'g711u':
      return STREAM_TYPE_G711U;
    default:
      return undefined;
  }
}

/** PTS/DTS and SCR are 33-bit counters of the 90 kHz clock. */
export const PTS_MODULO = 2 ** 33;
