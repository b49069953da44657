/**
 * The channel between the supervisor and the media process
 * (src/media-process/media-process.ts), and between the media process and each of
 * its workers (src/media-worker/media-worker.ts). Both ends of both channels are
 * typed from this file.
 */
import type { ChildHealth } from '../child.js';
import type { CamgateConfig } from '../config/config.js';
import type { Destination } from './destination.js';

/** JT/T 1078 streams are `realtime` or `playback` (by the port they came in on); GB28181 inputs `gb28181`. */
export type StreamKind = 'realtime' | 'playback' | 'gb28181';

/** A live stream of the media plane, as announced when it started. */
export interface StreamInfo {
  name: string;
  kind: StreamKind;
  /** The media worker that owns it. */
  slot: number;
  /** The JT/T 1078 connection carrying it; -1 for GB28181 inputs. */
  connId: number;
  /** Wall clock ms of the first frame. */
  startedAt: number;
  /** JT/T 1078: the terminal's SIM (without leading zeros) and logical channel. */
  sim?: string;
  channel?: number;
  /** GB28181: the RTP port the input listens on. */
  port?: number;
  destinations?: Destination[];
}

/** What the built-in viewer server sees of a live stream (`streams.stats`). */
export interface LiveStreamStats {
  name: string;
  /** HTTP-FLV and WS-FLV viewers now. */
  viewers: number;
  /** Media bitrate (audio and video frames as received, counted by the worker), over the last ~2 s. */
  bitsPerSecond: number;
  bytesIn: number;
  video?: { codec: string; width: number; height: number };
  audio?: { codec: string; sampleRate: number };
}

export interface StreamStopped extends StreamInfo {
  reason: string;
  endedAt: number;
}

export interface RtpOpenRequest {
  /** Media-plane name, `rtp/<streamid>` (see stream-name.ts). */
  name: string;
  transport: 'udp' | 'tcp';
  /** Accept only this SSRC; absent: lock to the first seen. */
  ssrc?: number;
  mediaTimeoutMs?: number;
  destinations?: Destination[];
  /** A download: the input's PS byte stream (RTP payloads in sequence order), or its video as MP4, is written to `path`. */
  record?: RecordTarget;
}

export interface RecordTarget {
  /** Absolute path of the file (created or truncated). */
  path: string;
  /** `ps`: the RTP payloads as received; `mp4`: the video frames in a fragmented MP4. */
  format: 'ps' | 'mp4';
  /** The input closes with reason `file size limit` once the file would grow past this. */
  maxBytes: number;
}

/** How far a download's file got (`record.progress`): about once a second, and once more, `final`, when it closed. */
export interface RecordProgress {
  name: string;
  /** Bytes written to the file. */
  bytes: number;
  /** Media time received: the span of the frames' timestamps (ms). */
  mediaMs: number;
  /** The file is closed: no more notes for this name. */
  final: boolean;
  /** Writing failed (disk full...): the input closed with this reason. */
  error?: string;
}

export interface ForwardAdded {
  ssrc: number;
  /** `relay`: a GB28181 input's packets passed through; `remux`: one more PS/RTP output. */
  mode: 'relay' | 'remux';
  /** A listening destination: the port taken for it (it is removed under this port). */
  port?: number;
}

/** A forward that ended by itself: a listening one nobody connected to in time. */
export interface ForwardEnded {
  name: string;
  host: string;
  port: number;
  reason: string;
}

export interface ForwardRemoval {
  name: string;
  host: string;
  port: number;
}

/** Requests both the media process and a media worker serve about streams. */
type StreamMethods = {
  'rtp.close': [{ name: string; reason?: string }, boolean];
  /** `bind`: the address a listening destination's server binds (the media process passes media.host). */
  'forward.add': [{ name: string; destination: Destination; bind?: string }, ForwardAdded];
  'forward.remove': [ForwardRemoval, boolean];
  'forward.list': [{ name: string }, Destination[]];
  streams: [void, StreamInfo[]];
};

type StreamNotes = {
  'stream.started': StreamInfo;
  'stream.stopped': StreamStopped;
  /** A download's file grew (or closed); a final note comes before the input's `stream.stopped`. */
  'record.progress': RecordProgress;
};

/** Audio codecs negotiated with the browser (the terminal's G.711A/U, G.722 pass through). */
export type IntercomCodec = 'PCMA' | 'PCMU' | 'G722';

/**
 * What the terminal's talk connection carries, after 0x9101 data type: 2 two-way talk,
 * 3 listen (uplink only), 4 broadcast (downlink only).
 */
export type IntercomMode = 'talk' | 'listen' | 'broadcast';

/** One terminal of an intercom: its SIM (digits), logical channel and audio port (0: take a free one). */
export interface IntercomTarget {
  sim: string;
  channel: number;
  port: number;
}

export interface IntercomOpenRequest {
  /** Chosen by the supervisor; names the session in every later message. */
  id: string;
  /** The browser's SDP offer. */
  sdp: string;
  /** The terminal's audio encoding (JT/T 1078 Table 12): 6 G.711A, 7 G.711U, 2 G.722. */
  audioCodec: number;
  targets: IntercomTarget[];
  mode: IntercomMode;
  /**
   * A GB28181 voice broadcast (§9.12) instead of terminals (`targets` empty): the audio goes
   * to the camera once `intercom.attachRtp` names where; until then it is dropped.
   */
  camera?: IntercomCamera;
  /** Ports named in `targets` must be free (409), else they are taken. */
}

/** The camera channel a broadcast talks to. */
export interface IntercomCamera {
  deviceId: string;
  channelId: string;
}

/**
 * Where a broadcasting camera wants the audio, from its INVITE's SDP: `raw` RTP/AVP 8 (PCMA)
 * or `ps` (G.711A in PS, PT 96); udp, tcp-active (we connect to host:port), tcp-passive (it
 * connects to the port we answer with).
 */
export interface IntercomRtpTarget {
  id: string;
  host: string;
  port: number;
  transport: 'udp' | 'tcp-active' | 'tcp-passive';
  carriage: 'raw' | 'ps';
  payloadType: number;
  ssrc: number;
}

export interface IntercomOpened {
  id: string;
  /** SDP answer with the one host candidate (publicIp:webrtcPort). */
  sdp: string;
  codec: IntercomCodec;
  /** The targets with the audio port each got. */
  targets: IntercomTarget[];
}

export interface IntercomInfo extends IntercomOpened {
  camera?: IntercomCamera;
  mode: IntercomMode;
  state: 'new' | 'connected';
  startedAt: number;
  packetsDown: number;
  packetsUp: number;
  drops: number;
}

export interface IntercomEnded {
  id: string;
  codec: IntercomCodec;
  mode: IntercomMode;
  targets: IntercomTarget[];
  camera?: IntercomCamera;
  reason: string;
  startedAt: number;
  endedAt: number;
  /** RTP packets from the browser, written towards terminals (one per target) or the camera. */
  packetsDown: number;
  /** JT/T 1078 audio packets from the terminal, sent to the browser. */
  packetsUp: number;
  drops: number;
}

/** A terminal connected to an audio port (m7s's audio join callback body, times as epoch ms). */
export interface AudioJoin {
  port: number;
  address: string;
  startTime: number;
}

export interface AudioLeave extends AudioJoin {
  endTime: number;
  err?: string;
}

export interface IntercomPing {
  sessions: number;
  portsInUse: number;
  portsTotal: number;
  talkConnections: number;
}

export interface RingState {
  slot: number;
  usedBytes: number;
  capacity: number;
  fullEvents: number;
}

export interface MediaPing {
  role: 'media';
  workers: Array<ChildHealth<MediaWorkerPing>>;
  rings: RingState[];
  connections: number;
  streams: number;
  streamsByProtocol: { jt1078: number; gb28181: number };
  viewers: number;
  /** The viewer port (media.httpPort), 0 when camgate serves no viewers (media.server: zlm). */
  viewerPort: number;
  /** Media counters (src/shared/contracts/media-counters.ts) of this process since it started. */
  counters: Record<string, number>;
  /** null when jt1078.intercom.enabled is off. */
  intercom: IntercomPing | null;
}

export type MediaContract = {
  init: { config: CamgateConfig };
  ping: MediaPing;
  down: StreamMethods & {
    'rtp.open': [RtpOpenRequest, { name: string; port: number; slot: number }];
    /** Kills a media worker as a crash would: its streams end, its terminals reconnect. */
    'worker.kill': [{ slot: number }, boolean];
    /** Names of the GB28181 inputs open now (`rtp/<streamid>`), media or not yet: for reconciling stream rows. */
    'rtp.inputs': [void, string[]];
    /** Viewers, bitrate and codecs of the named live streams, all without names (empty with media.server: zlm). */
    'streams.stats': [{ names?: string[] }, LiveStreamStats[]];
    /** HTTP-FLV / WS-FLV viewers of a stream now (0 when none or no viewer server). */
    viewers: [{ name: string }, number];
    /** Answers a browser's offer and takes the audio ports (503 pool exhausted, 409 port in use). */
    'intercom.open': [IntercomOpenRequest, IntercomOpened];
    /** Hangs up; the ports return to the pool and `intercom.ended` follows. False when unknown. */
    'intercom.close': [{ id: string; reason: string }, boolean];
    'intercom.list': [void, IntercomInfo[]];
    /** A broadcast's camera INVITEd us: send the audio there; resolves with our local media port (for the SDP answer). */
    'intercom.attachRtp': [IntercomRtpTarget, { port: number }];
  };
  up: Record<never, never>;
  downNotes: Record<never, never>;
  upNotes: StreamNotes & {
    /** No viewer for `streams.noViewerClose` seconds: the supervisor decides (BYE for GB28181). */
    'stream.idle': { name: string; slot: number };
    'worker.died': { slot: number; reason: string; droppedConnections: number; closedStreams: string[] };
    'worker.restarted': { slot: number; restarts: number };
    /** ICE and DTLS are up: audio can flow. */
    'intercom.connected': { id: string };
    /** A session ended (browser closed, ICE failed, connect timeout, request, shutdown); its ports are free again. */
    'intercom.ended': IntercomEnded;
    'intercom.audioJoin': AudioJoin;
    'intercom.audioLeave': AudioLeave;
    'forward.ended': ForwardEnded;
  };
};

export interface MediaWorkerInit {
  slot: number;
  /** Bytes of the JT/T 1078 connections pinned to this worker (SPSC ring, media process → worker). */
  ring: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  prefixes: { realtime: string; playback: string };
  /** Destinations every JT/T 1078 stream is sent to (`jt1078.forward`). */
  forward: Destination[];
  /**
   * FLV tags of this worker's streams for the media process's viewer server (SPSC ring,
   * worker → media process; src/shared/contracts/flv-records.ts); null: no built-in viewers.
   */
  flvRing: SharedArrayBuffer | null;
  /** Bytes queued for one RTP destination before it is behind (media.forwardHighWater). */
  forwardHighWater: number;
  /** Close JT/T 1078 connections without a complete packet for this long (ms): slowloris. */
  packetTimeoutMs: number;
  logLevel: string;
}

/** `rtp.open` as the media process asks a worker: the port and host are chosen. */
export interface WorkerRtpOpenRequest extends RtpOpenRequest {
  port: number;
  host: string;
  mediaTimeoutMs: number;
  destinations: Destination[];
}

export interface MediaWorkerPing {
  role: 'media-worker';
  connections: number;
  streams: number;
  /** FLV tags dropped because the ring to the viewer server was full. */
  flvDroppedTags: number;
  /** FLV tags written into the ring (only for streams the viewer server wants: lazy muxing). */
  flvTags: number;
  /** Streams being muxed to FLV now (wanted by the viewer server). */
  flvWanted: number;
  /** GB28181 inputs whose PS is demuxed into frames now (the others are only relayed: nobody uses their frames). */
  rtpInputsDecoding: number;
}

export interface FlvWant {
  index: number;
  wanted: boolean;
  epoch: number;
}

export type MediaWorkerContract = {
  init: MediaWorkerInit;
  ping: MediaWorkerPing;
  down: StreamMethods & {
    /** Opens a GB28181 PS/RTP input on a port the media process picked. */
    'rtp.open': [WorkerRtpOpenRequest, { port: number }];
  };
  up: Record<never, never>;
  downNotes: {
    /**
     * The viewer server wants FLV tags of a stream (a viewer connected or waits for it) or
     * no longer (its last viewer left a grace period ago). `index` is the stream's index in
     * the worker's FLV ring; `epoch` comes back in the RESUME record that precedes the tags.
     */
    'flv.want': FlvWant;
  };
  upNotes: StreamNotes & {
    /** A JT/T 1078 connection sent no complete packet for `packetTimeoutMs`: the acceptor closes it. */
    'connection.stalled': { connId: number; slot: number };
    'forward.ended': ForwardEnded;
  };
};
