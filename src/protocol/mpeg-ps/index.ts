/** GB28181 MPEG-PS: sans-I/O demuxer and muxer plus the Annex-B helpers they share. */
export { PsDemuxer, probeVideoCodec } from './demuxer.js';
export type { PsDemuxerOptions, PsDemuxerStats, PsFrameSink } from './demuxer.js';
export { PsMuxer, crc32Mpeg2 } from './muxer.js';
export { AccessUnitAligner } from './au-aligner.js';
export type { PsMuxerOptions } from './muxer.js';
export { findStartCode, isKeyAccessUnit, nalType, splitAccessUnits, splitNalUnits } from './nal.js';
export type { AccessUnitView } from './nal.js';
export { probePsFrameStart } from './key-frame-probe.js';
export type { PsFrameProbe, PsFrameVerdict } from './key-frame-probe.js';
export * from './constants.js';
