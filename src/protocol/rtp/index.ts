/** RTP for GB28181 media: header codec, PS packetizer, RFC 4571 TCP framing, reorder window. */
export { parseRtpPacket, peekSequenceNumber, restampRtpPacket, rtpHeaderLength, serializeRtpPacket, writeRtpHeader, RTP_HEADER_BYTES } from './packet.js';
export type { RtpHeader, RtpHeaderExtension, RtpPacket, RtpParseError, RtpParseResult } from './packet.js';
export { PsRtpPacketizer } from './packetizer.js';
export type { PsRtpPacketizerOptions } from './packetizer.js';
export { encodeRfc4571, encodeRfc4571Batch, Rfc4571Decoder } from './rfc4571.js';
export type { Rfc4571DecoderOptions, Rfc4571DecoderStats, Rfc4571PacketSink } from './rfc4571.js';
export { RtpReorderBuffer } from './reorder.js';
export type { RtpReorderOptions, RtpReorderSink, RtpReorderStats, SequencedPacket } from './reorder.js';
export { PsRtpReceiver } from './ps-receiver.js';
export type { PsRtpReceiverOptions, PsRtpReceiverStats } from './ps-receiver.js';
export { PsRtpFrameGrouper } from './ps-frame-grouper.js';
export type { PsRtpFrameGrouperOptions, RtpFramePart } from './ps-frame-grouper.js';
export { G711RtpSender } from './g711-sender.js';
export type { G711Carriage, G711SenderOptions } from './g711-sender.js';
