/** FLV output for browsers (mpegts.js HTTP-FLV / WS-FLV): sans-I/O muxer and tag primitives (the tests' reader is in test/protocol/flv/fixtures). */
export { FlvMuxer, onMetaDataTag, FLV_CODEC_AVC, FLV_SOUND_AAC, FLV_SOUND_G711A, FLV_SOUND_G711U, FOURCC_HVC1 } from './muxer.js';
export { EX_PACKET_CODED_FRAMES, EX_PACKET_CODED_FRAMES_X, EX_PACKET_SEQUENCE_END, EX_PACKET_SEQUENCE_START } from './muxer.js';
export type { FlvMuxerOptions, FlvMuxerStats, FlvStreamInfo, FlvTag, FlvTagKind } from './muxer.js';
export { allocTag, amf0ScriptBody, flvHeader, makeTag, FLV_MAX_DATA_SIZE, FLV_TAG_AUDIO, FLV_TAG_OVERHEAD, FLV_TAG_SCRIPT, FLV_TAG_VIDEO } from './tag.js';
export type { Amf0Value, FlvHeaderFlags, FlvTagType } from './tag.js';
export { audioSpecificConfig, isAdts, splitAdts } from './aac.js';
export type { AdtsFrame } from './aac.js';
export { buildAvcConfig, buildHevcConfig, parseAvcSps, parseHevcSps, toRbsp } from './params.js';
export type { AvcSpsInfo, HevcSpsInfo } from './params.js';
