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
  /** Media bitrate as muxed for viewers (audio and video), over the last ~2 s. */
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
}

export interface ForwardAdded {
  ssrc: number;
  /** `relay`: a GB28181 input's packets passed through; `remux`: one more PS/RTP output. */
  mode: 'relay' | 'remux';
}

export interface ForwardRemoval {
  name: string;
  host: string;
  port: number;
}

/** Requests both the media process and a media worker serve about streams. */
type StreamMethods = {
  'rtp.close': [{ name: string; reason?: string }, boolean];
  'forward.add': [{ name: string; destination: Destination }, ForwardAdded];
  'forward.remove': [ForwardRemoval, boolean];
  'forward.list': [{ name: string }, Destination[]];
  streams: [void, StreamInfo[]];
};

type StreamNotes = {
  'stream.started': StreamInfo;
  'stream.stopped': StreamStopped;
};

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
    /** Viewers, bitrate and codecs of every live stream (empty with media.server: zlm). */
    'streams.stats': [void, LiveStreamStats[]];
    /** HTTP-FLV / WS-FLV viewers of a stream now (0 when none or no viewer server). */
    viewers: [{ name: string }, number];
  };
  up: Record<never, never>;
  downNotes: Record<never, never>;
  upNotes: StreamNotes & {
    /** No viewer for `streams.noViewerClose` seconds: the supervisor decides (BYE for GB28181). */
    'stream.idle': { name: string; slot: number };
    'worker.died': { slot: number; reason: string; droppedConnections: number; closedStreams: string[] };
    'worker.restarted': { slot: number; restarts: number };
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
}

export type MediaWorkerContract = {
  init: MediaWorkerInit;
  ping: MediaWorkerPing;
  down: StreamMethods & {
    /** Opens a GB28181 PS/RTP input on a port the media process picked. */
    'rtp.open': [WorkerRtpOpenRequest, { port: number }];
  };
  up: Record<never, never>;
  downNotes: Record<never, never>;
  upNotes: StreamNotes & {
    /** A JT/T 1078 connection sent no complete packet for `packetTimeoutMs`: the acceptor closes it. */
    'connection.stalled': { connId: number; slot: number };
  };
};
