import type { Jt1078DropReason } from '../../protocol/jt1078/index.js';

/**
 * Media counters in shared memory: media workers and the media process add, the
 * supervisor reads at scrape time. Created by the supervisor, so they outlive a
 * media process or worker restart and stay monotonic. Slot names are
 * `<family>|<label>`.
 */
export const JT1078_DROP_REASONS: Jt1078DropReason[] = [
  'sequence-gap',
  'incomplete',
  'orphan',
  'mixed-frame',
  'frame-too-large',
  'pending-cap',
  'await-keyframe',
  'unsupported-payload',
];

export const MEDIA_COUNTER_NAMES: string[] = [
  'connections|jt1078',
  'closed|no-packet',
  'bytes_in|rtp',
  'packets_in|rtp',
  'streams_started|rtp',
  'streams_stopped|rtp',
  'bytes_in|jt1078',
  'packets_in|jt1078',
  'resync_bytes|jt1078',
  'malformed|jt1078',
  'frames_in|video',
  'frames_in|audio',
  ...JT1078_DROP_REASONS.map((r) => `drops|${r}`),
  // Frames an RTP destination missed: it fell behind and resumes at the next key frame.
  'drops|dropped_to_keyframe',
  'packets_out|rtp',
  'bytes_out|flv',
  'bytes_out|rtp',
  'send_errors|rtp',
  // Socket errors of ingest connections and RTP inputs (resets, refused): counted, the socket closes.
  'socket_errors|jt1078',
  'socket_errors|rtp',
  'ring_full|ingest',
  'streams_started|jt1078',
  'streams_stopped|jt1078',
  // Intercom (src/media-process/intercom/): audio packets each way, and why some were not delivered.
  'intercom_packets|down',
  'intercom_packets|up',
  'intercom_drops|no-terminal',
  'intercom_drops|slow-terminal',
  'intercom_drops|codec',
  'intercom_drops|not-connected',
  'intercom_drops|srtp',
  'intercom_transcode_errors|down',
  'intercom_transcode_errors|up',
  // Microseconds from a packet's arrival to its write the other way (sum; divide by intercom_packets).
  'intercom_latency_us|down',
  'intercom_latency_us|up',
  'intercom_sessions|started',
  'intercom_sessions|ended',
];
