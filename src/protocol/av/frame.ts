/**
 * The media model every input is turned into and every output is made from
 * (../shared/DESIGN.md §3). Timestamps are on the 90 kHz clock, unwrapped: they only grow
 * (a muxer wraps them to 33 bits, an RTP packetizer to 32).
 */
export type VideoCodec = 'h264' | 'h265';
export type AudioCodec = 'g711a' | 'g711u' | 'aac' | 'g726' | 'adpcm';
export type Codec = VideoCodec | AudioCodec;

export interface AvFrame {
  kind: 'video' | 'audio';
  codec: Codec;
  /** Video: the access unit holds an IDR / IRAP picture (with its parameter sets). */
  key: boolean;
  /** Presentation time, 90 kHz. */
  pts: number;
  /** Decode time, 90 kHz; equal to pts when the source has no B-frames. */
  dts: number;
  /** Video: Annex-B access unit (start codes). Audio: raw codec payload. */
  data: Uint8Array;
}

export function isVideoCodec(codec: Codec): codec is VideoCodec {
  return codec === 'h264' || codec === 'h265';
}
