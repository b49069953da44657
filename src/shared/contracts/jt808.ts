/**
 * The channel between the supervisor and the JT/T 808 thread (src/jt808/jt808-thread.ts).
 * Both ends are typed from this one file: a renamed field breaks the build on both.
 *
 * `sim` is always the terminal's phone number without leading zeros (as in stream names).
 */
import type { AvAttributes } from '../../protocol/jt808/index.js';
import type { CamgateConfig } from '../config/config.js';

/** A vehicle the store knows: provisioned mode accepts only these; a stored auth code lets a terminal skip 0x0100 after a restart. */
export interface KnownVehicle {
  sim: string;
  authCode?: string;
}

export interface Jt808Init {
  config: CamgateConfig;
  /** Vehicles in the store (provisioned mode: the only ones accepted). */
  vehicles: KnownVehicle[];
  /** JT/T 808 counters (src/shared/contracts/jt808-counters.ts), owned by the supervisor so they outlive a restart; absent: the thread keeps its own. */
  counters?: SharedArrayBuffer;
}

export interface Jt808Ping {
  role: 'jt808';
  connections: number;
  online: number;
  registrations: number;
  registrationsRefused: number;
  authenticationsFailed: number;
  connectionsRefused: number;
  badFrames: number;
  messagesIn: number;
  framesOut: number;
}

/** A terminal's 0x0001 answer (or another answer message) to a platform command. */
export interface CommandAnswer {
  /** Message ID of the answer: 0x0001, 0x1003 or 0x1205. */
  msgId: number;
  /** 0x0001: 0 ok, 1 failure, 2 message error, 3 unsupported. */
  result?: number;
  /** Other answers: the decoded body (0x1003 attributes, 0x1205 record list). */
  body?: unknown;
}

export interface StreamRequest {
  sim: string;
  channel: number;
  /** 0 audio and video, 1 video, 3 listen. */
  dataType: number;
  /** 0 main, 1 sub. */
  streamType: number;
  /** Where the terminal sends JT/T 1078 media. */
  host: string;
  tcpPort: number;
  udpPort: number;
}

export interface PlaybackStreamRequest {
  sim: string;
  channel: number;
  /** Where the terminal sends the JT/T 1078 playback. */
  host: string;
  tcpPort: number;
  udpPort: number;
  /** Unix seconds. */
  start: number;
  end: number;
  /** 0 audio and video, 1 audio, 2 video, 3 audio or video. */
  mediaType: number;
  /** 0 main or sub, 1 main, 2 sub. */
  streamType: number;
  /** 0 main or backup, 1 main, 2 backup. */
  storageType: number;
  /** 0 normal, 1 fast forward, 2 key-frame rewind, 3 key-frame play, 4 single frame. */
  mode: number;
  /** 0 n/a, 1 ×1, 2 ×2, 3 ×4, 4 ×8, 5 ×16. */
  speed: number;
}

export interface PlaybackControlRequest {
  sim: string;
  channel: number;
  /** 0 start, 1 pause, 2 stop, 3 fast forward, 4 key-frame rewind, 5 seek, 6 key-frame play. */
  command: number;
  speed?: number;
  /** Seek target, unix seconds. */
  seek?: number;
}

export interface StreamControlRequest {
  sim: string;
  channel: number;
  /** 0 close, 1 switch stream, 2 pause, 3 resume, 4 close talk. */
  command: number;
  /** 0 audio and video, 1 audio only, 2 video only. */
  closeType?: number;
  /** 0 main, 1 sub (command 1). */
  streamType?: number;
}

/** The terminal's 0x1003 as decoded (src/protocol/jt808). */
export type AvAttributesAnswer = AvAttributes;

export interface RecordsRequest {
  sim: string;
  channel: number;
  /** Unix seconds; 0 = unbounded. */
  start: number;
  end: number;
}

export interface RecordItem {
  channel: number;
  /** Unix seconds. */
  start: number;
  end: number;
  alarm: string;
  mediaType: number;
  streamType: number;
  storageType: number;
  size: number;
}

export interface VehicleRegistered {
  sim: string;
  authCode: string;
  plate: string;
  plateColor: number;
  model: string;
  terminalId: string;
  manufacturerId: string;
  version: string;
}

export interface VehiclePosition {
  sim: string;
  /** Signed degrees (hemisphere bits applied). */
  latitude: number;
  longitude: number;
  altitude: number;
  speedKmh: number;
  direction: number;
  /** Device time, epoch ms (null when unset or invalid). */
  timeMs: number | null;
  /** Names of the set alarm bits (`alarmNames`). */
  alarms: string[];
}

export type Jt808Contract = {
  init: Jt808Init;
  ping: Jt808Ping;
  down: {
    /** 0x9101; resolves with the terminal's 0x0001 (a non-zero result fails with 502). */
    'vehicle.stream': [StreamRequest, CommandAnswer];
    /** 0x9102. */
    'vehicle.streamControl': [StreamControlRequest, CommandAnswer];
    /** 0x9201; resolves with the terminal's answer (0x0001, or 0x1205 as some terminals do). */
    'vehicle.playback': [PlaybackStreamRequest, CommandAnswer];
    /** 0x9202. */
    'vehicle.playbackControl': [PlaybackControlRequest, CommandAnswer];
    /** 0x9205 → 0x1205. */
    'vehicle.records': [RecordsRequest, RecordItem[]];
    /** 0x9003 → 0x1003. */
    'vehicle.avAttributes': [{ sim: string }, AvAttributesAnswer];
    /** Any platform message, body as hex; resolves with the terminal's answer. */
    'vehicle.raw': [{ sim: string; msgId: number; bodyHex: string }, CommandAnswer];
  };
  up: Record<never, never>;
  downNotes: {
    /** A vehicle created (or its auth code changed) through the API. */
    'vehicle.known': KnownVehicle;
    /** A vehicle deleted through the API: it is refused (provisioned) and disconnected. */
    'vehicle.forget': { sim: string };
  };
  upNotes: {
    'vehicle.registered': VehicleRegistered;
    'vehicle.online': { sim: string; address: string; version: string };
    'vehicle.offline': { sim: string; reason: string };
    /** 0x0200 reports in arrival order, batched by the thread (at most 50 ms late). */
    'vehicle.positions': { positions: VehiclePosition[] };
  };
};
