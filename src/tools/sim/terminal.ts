/**
 * Simulated JT/T 808 vehicle terminal, sans-I/O: the same codecs as the platform, a clock
 * for its timers, bytes in, frames and actions out.
 *
 * Lifecycle: 0x0100 (or straight 0x0102 when it already holds an auth code) → 0x0102 →
 * heartbeats every `heartbeatMs` and locations along `route` every `positionMs`. It answers
 * 0x9003 with 0x1003, 0x9205 with a 0x1205 list (sub-packaged when long, re-sending packets
 * on 0x8003), and turns 0x9101 / 0x9201 into an `open-stream` action and 0x9102 / 0x9202
 * stop into `close-stream` — the I/O runner (terminal-runner.ts) streams media for those.
 */
import type { Clock, TimerHandle } from '../../protocol/sip/clock.js';
import {
  AnswerResult,
  AvControlCommand,
  decodeAvControl,
  decodeFrame,
  decodeGeneralAnswer,
  decodePlaybackControl,
  decodePlaybackRequest,
  decodeRealtimeAvRequest,
  decodeRecordQuery,
  decodeRegisterAnswer,
  decodeResendRequest,
  encodeAuthenticate,
  encodeAvAttributes,
  encodeFrames,
  encodeGeneralAnswer,
  encodeLocation,
  encodeRecordList,
  encodeRegister,
  jt808TimeToMs,
  Jt808BodyError,
  Jt808Framer,
  Jt808Reassembler,
  MsgId,
  msToJt808Time,
  PlaybackCommand,
  RegisterResult,
  StatusBit,
  type AvAttributes,
  type Jt808Header,
  type Jt808Message,
  type Jt808Version,
  type RecordItem,
  type RecordQuery,
} from '../../protocol/jt808/index.js';

export interface RoutePoint {
  latitude: number;
  longitude: number;
}

export interface SimTerminalOptions {
  /** Decimal phone/SIM (≤ 12 digits for 2013, ≤ 20 for 2019). */
  phone: string;
  version?: Jt808Version;
  clock: Clock;
  /** Wall clock for location/record times (epoch ms). Default Date.now. */
  wallClock?: () => number;
  /** Skip 0x0100 and authenticate with this code. */
  authCode?: string;
  /** Default 30 000 ms. */
  heartbeatMs?: number;
  /** Default 10 000 ms. */
  positionMs?: number;
  /** Points visited in turn, one per location report. Default: a 1 km circle in Shenzhen. */
  route?: readonly RoutePoint[];
  /** km/h reported while driving. Default 40. */
  speedKmh?: number;
  /** Re-send 0x0100/0x0102 after this long without an answer. Default 10 000 ms. */
  retryMs?: number;
  /** Items in a 0x1205 answer. Default 30 (> 1000 bytes above 35 items, so sub-packaged). */
  recordItems?: number;
  /** Logical channels (records are spread over them). Default 4. */
  channels?: number;
  /** Sub-package indexes left out the first time a long message is sent (to exercise 0x8003). */
  dropPacketsOnce?: readonly number[];
  avAttributes?: AvAttributes;
  /** Alarm bits (Table 24, e.g. 1 = emergency) reported in every 0x0200. Default 0. */
  alarmBits?: number;
}

export type TerminalState = 'idle' | 'registering' | 'authenticating' | 'online' | 'refused' | 'stopped';

export type StreamMode = 'realtime' | 'playback';

export type TerminalAction =
  | { type: 'state'; state: TerminalState; detail?: string }
  | { type: 'open-stream'; mode: StreamMode; host: string; port: number; transport: 'tcp' | 'udp'; channel: number; dataType: number; streamType: number }
  | { type: 'close-stream'; mode: StreamMode; channel: number; /** 0x9102 control command (0 close, 4 close talk) when a 0x9102 caused it. */ command?: number }
  | { type: 'pause-stream'; mode: StreamMode; channel: number; paused: boolean }
  | { type: 'switch-stream'; channel: number; streamType: number }
  /** JT/T 1078 PTZ (0x9301 rotate, 0x9302 focus, 0x9303 iris, 0x9304 wiper, 0x9305 infrared, 0x9306 zoom): channel and the command bytes. */
  | { type: 'ptz'; msgId: number; channel: number; args: number[] };

export interface TerminalOutput {
  frames: Uint8Array[];
  actions: TerminalAction[];
}

export interface SimTerminalStats {
  sent: number;
  received: number;
  heartbeats: number;
  positions: number;
  commands: number;
  badFrames: number;
}

const DEFAULT_AV_ATTRIBUTES: AvAttributes = {
  audioCodec: 6,
  audioChannels: 1,
  sampleRate: 0,
  sampleBits: 1,
  audioFrameLength: 320,
  audioOutput: 0,
  videoCodec: 98,
  maxAudioChannels: 4,
  maxVideoChannels: 4,
};

/** 36 points on a ~1 km radius circle. */
function defaultRoute(): RoutePoint[] {
  const points: RoutePoint[] = [];
  for (let i = 0; i < 36; i++) {
    const a = (i / 36) * 2 * Math.PI;
    points.push({ latitude: 22.543 + 0.009 * Math.cos(a), longitude: 114.057 + 0.0097 * Math.sin(a) });
  }
  return points;
}

function bearing(from: RoutePoint, to: RoutePoint): number {
  const y = Math.sin(((to.longitude - from.longitude) * Math.PI) / 180) * Math.cos((to.latitude * Math.PI) / 180);
  const x =
    Math.cos((from.latitude * Math.PI) / 180) * Math.sin((to.latitude * Math.PI) / 180) -
    Math.sin((from.latitude * Math.PI) / 180) * Math.cos((to.latitude * Math.PI) / 180) * Math.cos(((to.longitude - from.longitude) * Math.PI) / 180);
  return Math.round(((Math.atan2(y, x) * 180) / Math.PI + 360) % 360) % 360;
}

export class SimTerminal {
  state: TerminalState = 'idle';
  authCode: string | undefined;
  readonly stats: SimTerminalStats = { sent: 0, received: 0, heartbeats: 0, positions: 0, commands: 0, badFrames: 0 };
  /** Output of timers (heartbeats, locations, retries): set by the runner. */
  onOutput: (out: TerminalOutput) => void = () => {};

  private readonly version: Jt808Version;
  private readonly clock: Clock;
  private readonly wallClock: () => number;
  private readonly route: readonly RoutePoint[];
  private readonly framer = new Jt808Framer();
  private readonly reassembler = new Jt808Reassembler();
  private serial = 0;
  private routeIndex = 0;
  private readonly timers = new Map<string, TimerHandle>();
  private retryTimer: TimerHandle | null = null;
  /** Serial of the 0x0100/0x0102 awaiting an answer. */
  private awaiting = -1;
  /** Frames of recent long messages by first serial, for 0x8003. */
  private readonly sentLong = new Map<number, Uint8Array[]>();
  private dropped = false;
  private readonly streams = new Set<string>();

  constructor(private readonly options: SimTerminalOptions) {
    this.version = options.version ?? '2013';
    this.clock = options.clock;
    this.wallClock = options.wallClock ?? Date.now;
    this.route = options.route ?? defaultRoute();
    this.authCode = options.authCode;
  }

  get phone(): string {
    return this.options.phone;
  }

  /** The audio codec it announces in 0x1003 and speaks on a talk connection (JT/T 1078 Table 12). */
  get audioCodec(): number {
    return (this.options.avAttributes ?? DEFAULT_AV_ATTRIBUTES).audioCodec;
  }

  /** Begin: 0x0100, or 0x0102 when an auth code is known. */
  start(): TerminalOutput {
    const out = newOutput();
    if (this.authCode !== undefined) this.authenticate(out);
    else this.register(out);
    return out;
  }

  /** Bytes from the platform. */
  feed(chunk: Uint8Array): TerminalOutput {
    const out = newOutput();
    if (this.state === 'stopped') return out;
    for (const r of this.framer.push(chunk)) {
      if (r.kind === 'bad') {
        this.stats.badFrames++;
        continue;
      }
      this.stats.received++;
      let message: Jt808Message = r.message;
      if (message.header.packet !== undefined) {
        const pushed = this.reassembler.push(message, this.clock.now());
        if (pushed.kind !== 'complete') continue;
        message = pushed.message;
      }
      try {
        this.handle(message, out);
      } catch (error) {
        if (!(error instanceof Jt808BodyError)) throw error;
        this.answer(message.header, AnswerResult.MessageError, out);
      }
    }
    return out;
  }

  /** Logout (when online), stop timers; the frames are the 0x0003 to send before closing. */
  stop(): TerminalOutput {
    const out = newOutput();
    if (this.state === 'online') this.send(MsgId.Logout, new Uint8Array(0), out);
    for (const key of this.streams) {
      const [mode, channel] = key.split(':') as [StreamMode, string];
      out.actions.push({ type: 'close-stream', mode, channel: Number(channel) });
    }
    this.streams.clear();
    this.clearTimers();
    this.setState('stopped', out);
    return out;
  }

  // ---------------------------------------------------------------- lifecycle

  private register(out: TerminalOutput): void {
    this.setState('registering', out);
    const layout = this.version === '2019' ? '2019' : '2013';
    const body = encodeRegister({
      layout,
      provinceId: 44,
      cityId: 300,
      manufacturerId: 'CAMGT',
      model: 'CAMGATE-SIM',
      terminalId: this.phone.slice(-7).padStart(7, '0'),
      plateColor: 1,
      plate: `粤B${this.phone.slice(-5)}`,
    });
    this.awaiting = this.send(MsgId.Register, body, out);
    this.armRetry((o) => this.register(o));
  }

  private authenticate(out: TerminalOutput): void {
    this.setState('authenticating', out);
    const body = encodeAuthenticate({ authCode: this.authCode ?? '', imei: `86${this.phone.slice(-13).padStart(13, '0')}`, softwareVersion: 'camgate-sim 1' }, this.version);
    this.awaiting = this.send(MsgId.Authenticate, body, out);
    this.armRetry((o) => this.authenticate(o));
  }

  private goOnline(out: TerminalOutput): void {
    this.clearRetry();
    this.setState('online', out);
    this.sendLocation(out);
    const heartbeatMs = this.options.heartbeatMs ?? 30_000;
    const positionMs = this.options.positionMs ?? 10_000;
    this.every('heartbeat', heartbeatMs, (o) => {
      this.stats.heartbeats++;
      this.send(MsgId.Heartbeat, new Uint8Array(0), o);
    });
    this.every('position', positionMs, (o) => this.sendLocation(o));
  }

  private sendLocation(out: TerminalOutput): void {
    const here = this.route[this.routeIndex % this.route.length]!;
    const next = this.route[(this.routeIndex + 1) % this.route.length]!;
    this.routeIndex++;
    let status = StatusBit.AccOn | StatusBit.Positioned;
    if (here.latitude < 0) status |= StatusBit.South;
    if (here.longitude < 0) status |= StatusBit.West;
    const body = encodeLocation({
      alarm: this.options.alarmBits ?? 0,
      status,
      latitudeE6: Math.round(Math.abs(here.latitude) * 1e6),
      longitudeE6: Math.round(Math.abs(here.longitude) * 1e6),
      altitude: 20,
      speed: Math.round((this.options.speedKmh ?? 40) * 10),
      direction: bearing(here, next),
      time: msToJt808Time(this.wallClock()),
      items: [
        { id: 0x01, value: Uint8Array.of(0, 0, (this.routeIndex >> 8) & 0xff, this.routeIndex & 0xff) },
        { id: 0x30, value: Uint8Array.of(25) },
        { id: 0x31, value: Uint8Array.of(12) },
      ],
    });
    this.stats.positions++;
    this.send(MsgId.Location, body, out);
  }

  // ---------------------------------------------------------------- platform messages

  private handle(message: Jt808Message, out: TerminalOutput): void {
    const { header, body } = message;
    switch (header.msgId) {
      case MsgId.RegisterAnswer: {
        const answer = decodeRegisterAnswer(body);
        if (answer.answerSerial !== this.awaiting || this.state !== 'registering') return;
        if (answer.result === RegisterResult.Ok && answer.authCode !== undefined) {
          this.authCode = answer.authCode;
          this.authenticate(out);
        } else {
          // Refused: keep asking at the retry interval (a provisioned platform may learn the terminal).
          this.setState('refused', out, `register result ${answer.result}`);
          this.armRetry((o) => this.register(o));
        }
        return;
      }
      case MsgId.PlatformGeneralAnswer: {
        const answer = decodeGeneralAnswer(body);
        if (answer.answerId !== MsgId.Authenticate || answer.answerSerial !== this.awaiting || this.state !== 'authenticating') return;
        if (answer.result === AnswerResult.Ok) this.goOnline(out);
        else {
          // Code refused: register again for a new one.
          this.authCode = undefined;
          this.setState('refused', out, `authentication result ${answer.result}`);
          this.armRetry((o) => this.register(o));
        }
        return;
      }
    }
    if (this.state !== 'online') return;
    this.stats.commands++;
    switch (header.msgId) {
      case MsgId.QueryAvAttributes:
        this.send(MsgId.AvAttributes, encodeAvAttributes(this.options.avAttributes ?? DEFAULT_AV_ATTRIBUTES), out);
        return;
      case MsgId.RecordQuery: {
        const query = decodeRecordQuery(body);
        this.send(MsgId.RecordList, encodeRecordList({ answerSerial: header.serial, items: this.records(query) }), out);
        return;
      }
      case MsgId.ResendRequest: {
        const request = decodeResendRequest(body, header.version);
        const frames = this.sentLong.get(request.originalSerial);
        if (frames === undefined) {
          this.answer(header, AnswerResult.Failure, out);
          return;
        }
        for (const id of request.packetIds) {
          const frame = frames[id - 1];
          if (frame !== undefined) this.push(frame, out);
        }
        return;
      }
      case MsgId.RealtimeAvRequest: {
        const request = decodeRealtimeAvRequest(body);
        this.answer(header, AnswerResult.Ok, out);
        this.openStream('realtime', request.host, request.tcpPort, request.udpPort, request.channel, request.dataType, request.streamType, out);
        return;
      }
      case MsgId.AvControl: {
        const control = decodeAvControl(body);
        this.answer(header, AnswerResult.Ok, out);
        if (control.command === AvControlCommand.Close || control.command === AvControlCommand.CloseTalk) this.closeStream('realtime', control.channel, out, control.command);
        else if (control.command === AvControlCommand.Pause || control.command === AvControlCommand.Resume) {
          out.actions.push({ type: 'pause-stream', mode: 'realtime', channel: control.channel, paused: control.command === AvControlCommand.Pause });
        }
        else if (control.command === AvControlCommand.SwitchStream) out.actions.push({ type: 'switch-stream', channel: control.channel, streamType: control.streamType });
        return;
      }
      case MsgId.PlaybackRequest: {
        const request = decodePlaybackRequest(body);
        this.answer(header, AnswerResult.Ok, out);
        this.openStream('playback', request.host, request.tcpPort, request.udpPort, request.channel, request.mediaType, request.streamType, out);
        return;
      }
      case MsgId.PlaybackControl: {
        const control = decodePlaybackControl(body);
        this.answer(header, AnswerResult.Ok, out);
        if (control.command === PlaybackCommand.Stop) this.closeStream('playback', control.channel, out);
        else if (control.command === PlaybackCommand.Pause || control.command === PlaybackCommand.Start) {
          out.actions.push({ type: 'pause-stream', mode: 'playback', channel: control.channel, paused: control.command === PlaybackCommand.Pause });
        }
        return;
      }
      case MsgId.PlatformGeneralAnswer:
      case MsgId.RegisterAnswer:
        return;
      default:
        // A terminal with a PTZ camera takes JT/T 1078 0x9301–0x9306 (channel first, then the command bytes).
        if (header.msgId >= 0x9301 && header.msgId <= 0x9306 && body.length >= 2) {
          this.answer(header, AnswerResult.Ok, out);
          out.actions.push({ type: 'ptz', msgId: header.msgId, channel: body[0]!, args: [...body.subarray(1)] });
          return;
        }
        this.answer(header, AnswerResult.Unsupported, out);
    }
  }

  private openStream(mode: StreamMode, host: string, tcpPort: number, udpPort: number, channel: number, dataType: number, streamType: number, out: TerminalOutput): void {
    this.streams.add(`${mode}:${channel}`);
    const transport = tcpPort !== 0 || udpPort === 0 ? 'tcp' : 'udp';
    out.actions.push({ type: 'open-stream', mode, host, port: transport === 'tcp' ? tcpPort : udpPort, transport, channel, dataType, streamType });
  }

  private closeStream(mode: StreamMode, channel: number, out: TerminalOutput, command?: number): void {
    // Channel 0 is not a camera; treat it as "every channel of this kind".
    for (const key of [...this.streams]) {
      const [m, c] = key.split(':');
      if (m === mode && (channel === 0 || Number(c) === channel)) {
        this.streams.delete(key);
        out.actions.push(command === undefined ? { type: 'close-stream', mode, channel: Number(c) } : { type: 'close-stream', mode, channel: Number(c), command });
      }
    }
  }

  /** A plausible record list: consecutive 5-minute files across the query window, round-robin over channels. */
  private records(query: RecordQuery): RecordItem[] {
    const count = this.options.recordItems ?? 30;
    const channels = this.options.channels ?? 4;
    const start = jt808TimeToMs(query.start) ?? this.wallClock() - 24 * 3600_000;
    const items: RecordItem[] = [];
    for (let i = 0; i < count; i++) {
      const from = start + Math.floor(i / channels) * 300_000;
      items.push({
        channel: query.channel !== 0 ? query.channel : 1 + (i % channels),
        start: msToJt808Time(from),
        end: msToJt808Time(from + 299_000),
        alarmFlags: { videoAlarms: 0, alarms: 0 },
        mediaType: 0,
        streamType: 1,
        storageType: 1,
        fileSize: 20_000_000 + i * 1000,
      });
    }
    return items;
  }

  // ---------------------------------------------------------------- output

  /** Send a message (sub-packaged when long); returns its (first) serial. */
  private send(msgId: number, body: Uint8Array, out: TerminalOutput): number {
    const first = this.serial;
    const frames = encodeFrames({ msgId, version: this.version, phone: this.phone }, body, () => {
      const s = this.serial;
      this.serial = (this.serial + 1) & 0xffff;
      return s;
    });
    if (frames.length > 1) {
      this.sentLong.set(first, frames);
      while (this.sentLong.size > 8) this.sentLong.delete(this.sentLong.keys().next().value as number);
    }
    const drop = frames.length > 1 && !this.dropped ? (this.options.dropPacketsOnce ?? []) : [];
    if (drop.length > 0) this.dropped = true;
    frames.forEach((frame, i) => {
      if (!drop.includes(i + 1)) this.push(frame, out);
    });
    return first;
  }

  private push(frame: Uint8Array, out: TerminalOutput): void {
    this.stats.sent++;
    out.frames.push(frame);
  }

  private answer(header: Jt808Header, result: number, out: TerminalOutput): void {
    this.send(MsgId.TerminalGeneralAnswer, encodeGeneralAnswer({ answerSerial: header.serial, answerId: header.msgId, result }), out);
  }

  private setState(state: TerminalState, out: TerminalOutput, detail?: string): void {
    if (this.state === state) return;
    this.state = state;
    out.actions.push(detail === undefined ? { type: 'state', state } : { type: 'state', state, detail });
  }

  /** Run `fn` every `ms` while online; one timer per name, re-armed after each run. */
  private every(name: string, ms: number, fn: (out: TerminalOutput) => void): void {
    const tick = () => {
      this.timers.delete(name);
      if (this.state !== 'online') return;
      const out = newOutput();
      fn(out);
      this.timers.set(name, this.clock.setTimer(ms, tick));
      this.onOutput(out);
    };
    this.timers.set(name, this.clock.setTimer(ms, tick));
  }

  private armRetry(fn: (out: TerminalOutput) => void): void {
    this.clearRetry();
    this.retryTimer = this.clock.setTimer(this.options.retryMs ?? 10_000, () => {
      this.retryTimer = null;
      if (this.state === 'stopped' || this.state === 'online') return;
      const out = newOutput();
      fn(out);
      this.onOutput(out);
    });
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) this.clock.clearTimer(this.retryTimer);
    this.retryTimer = null;
  }

  private clearTimers(): void {
    this.clearRetry();
    for (const timer of this.timers.values()) this.clock.clearTimer(timer);
    this.timers.clear();
  }
}

function newOutput(): TerminalOutput {
  return { frames: [], actions: [] };
}

/** Decode frames the simulator wrote (tests, logs). */
export function decodeTerminalFrames(frames: readonly Uint8Array[]): Jt808Message[] {
  const messages: Jt808Message[] = [];
  for (const f of frames) {
    const r = decodeFrame(f);
    if (r.kind === 'message') messages.push(r.message);
  }
  return messages;
}
