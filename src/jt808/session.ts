/**
 * Platform side of one JT/T 808 TCP connection, sans-I/O: `feed(bytes)` returns the frames
 * to write back and the events to act on; commands to the terminal return a promise of
 * its answer. Time comes from the injected clock only.
 *
 * Rules (jt1078.md §5.5): 0x0100 → 0x8100 with an auth code, 0x0102 → 0x8001 after checking
 * it, then heartbeats and locations answered with 0x8001. Replies use the header form
 * (2013/2019) and phone of the message answered. Long answers (0x1205) are reassembled and
 * missing sub-packages requested with 0x8003. Silence for `offlineAfterMs`, too many bad
 * frames in a row or too many failed authentications end the session with a `disconnect`
 * event; closing the socket is the caller's job.
 *
 * Output not caused by `feed` (commands, 0x8003 after a wait, offline on silence) goes to
 * the host's `output(session, out)`.
 */
import type { Clock, TimerHandle } from '../protocol/sip/clock.js';
import {
  alarmNames,
  AnswerResult,
  decodeAuthenticate,
  decodeAvAttributes,
  decodeGeneralAnswer,
  decodeLocation,
  decodeLocationExtras,
  decodeRecordList,
  decodeRegister,
  encodeAvControl,
  encodeFrames,
  encodeGeneralAnswer,
  encodePlaybackControl,
  encodePlaybackRequest,
  encodeRealtimeAvRequest,
  encodeRecordQuery,
  encodeRegisterAnswer,
  encodeResendRequest,
  Jt808BodyError,
  Jt808Framer,
  Jt808Reassembler,
  jt808TimeToMs,
  locationDegrees,
  MsgId,
  msgIdHex,
  RegisterResult,
  StatusBit,
  type AvAttributes,
  type AvControl,
  type GeneralAnswer,
  type Jt808FramerOptions,
  type Jt808Header,
  type Jt808Message,
  type Jt808Version,
  type PlaybackControl,
  type PlaybackRequest,
  type RealtimeAvRequest,
  type ReassemblerOptions,
  type RecordList,
  type RecordQuery,
} from '../protocol/jt808/index.js';
import { Jt808CommandError, type Jt808Answer, type Jt808Event, type Jt808Output, type OfflineReason } from './events.js';

export interface Jt808SessionOptions {
  /** No valid frame for this long → offline + disconnect. Default 180 000 ms. */
  offlineAfterMs?: number;
  /** Consecutive bad frames before disconnect. Default 20. */
  maxBadFrames?: number;
  /** Failed 0x0102 on one connection before disconnect. Default 3. */
  maxAuthFailures?: number;
  /** Default command timeout; 0x9205 gets `recordQueryTimeoutMs`. Default 10 000 ms. */
  commandTimeoutMs?: number;
  /** Timeout of 0x9205 (long lists arrive in many sub-packages, maybe after 0x8003). Default 60 000 ms. */
  recordQueryTimeoutMs?: number;
  /** Commands awaiting an answer at most. Default 64. */
  maxPendingCommands?: number;
  framer?: Jt808FramerOptions;
  reassembly?: ReassemblerOptions;
}

/** What a session needs from the server core (auth state, shared clock, async output). */
export interface Jt808SessionHost {
  readonly clock: Clock;
  /** Decide a 0x0100: result and, on success, the auth code issued. */
  register(phone: string): { result: number; authCode?: string };
  /** Check a 0x0102's code. */
  authenticate(phone: string, authCode: string): 'ok' | 'unknown-terminal' | 'wrong-code';
  /** The session went online as `phone` (the host may replace an older session). */
  online(session: Jt808Session): void;
  /** The session is no longer online. */
  offline(session: Jt808Session): void;
  /** Output produced outside `feed` (timers, commands). */
  output(session: Jt808Session, out: Jt808Output): void;
}

export interface CommandOptions {
  timeoutMs?: number;
}

interface PendingCommand {
  msgId: number;
  serial: number;
  /** Answer message IDs accepted besides a failed 0x0001. */
  accepts: readonly number[];
  resolve(answer: Jt808Answer): void;
  reject(error: Error): void;
  timer: TimerHandle;
}

/** Which terminal messages answer a command (jt1078.md §5.4: 0x9201 is answered either way). */
function acceptedAnswers(msgId: number): readonly number[] {
  switch (msgId) {
    case MsgId.QueryAvAttributes:
      return [MsgId.AvAttributes];
    case MsgId.RecordQuery:
      return [MsgId.RecordList];
    case MsgId.PlaybackRequest:
      return [MsgId.RecordList, MsgId.TerminalGeneralAnswer];
    default:
      return [MsgId.TerminalGeneralAnswer];
  }
}

export interface Jt808SessionStats {
  messages: number;
  badFrames: number;
  commandsSent: number;
  commandsAnswered: number;
  commandsTimedOut: number;
}

export class Jt808Session {
  /** Phone once registered or authenticated on this connection. */
  phone: string | null = null;
  /** Header form of the last message from the terminal. */
  version: Jt808Version = '2013';
  /** 2019 protocol-version byte of the last message. */
  protocolVersion = 0;
  authenticated = false;
  closed = false;
  readonly stats: Jt808SessionStats = { messages: 0, badFrames: 0, commandsSent: 0, commandsAnswered: 0, commandsTimedOut: 0 };
  readonly framer: Jt808Framer;
  readonly reassembler: Jt808Reassembler;

  private serial = 0;
  private consecutiveBad = 0;
  private authFailures = 0;
  private lastSeen: number;
  private silenceTimer: TimerHandle | null = null;
  private reassemblyTimer: TimerHandle | null = null;
  private reassemblyWakeAt = Infinity;
  private readonly pending: PendingCommand[] = [];
  private readonly offlineAfterMs: number;
  private readonly maxBadFrames: number;
  private readonly maxAuthFailures: number;
  private readonly commandTimeoutMs: number;
  private readonly recordQueryTimeoutMs: number;
  private readonly maxPending: number;

  constructor(
    readonly connectionId: string,
    private readonly host: Jt808SessionHost,
    options: Jt808SessionOptions = {},
  ) {
    this.offlineAfterMs = options.offlineAfterMs ?? 180_000;
    this.maxBadFrames = options.maxBadFrames ?? 20;
    this.maxAuthFailures = options.maxAuthFailures ?? 3;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 10_000;
    this.recordQueryTimeoutMs = options.recordQueryTimeoutMs ?? 60_000;
    this.maxPending = options.maxPendingCommands ?? 64;
    this.framer = new Jt808Framer(options.framer);
    this.reassembler = new Jt808Reassembler(options.reassembly);
    this.lastSeen = host.clock.now();
    this.armSilenceTimer();
  }

  /** Commands awaiting an answer. */
  get pendingCommands(): number {
    return this.pending.length;
  }

  /** Bytes from the terminal. */
  feed(chunk: Uint8Array): Jt808Output {
    const out: Jt808Output = { replies: [], events: [] };
    if (this.closed) return out;
    for (const result of this.framer.push(chunk)) {
      if (this.closed) break;
      if (result.kind === 'bad') {
        this.stats.badFrames++;
        this.consecutiveBad++;
        out.events.push({ type: 'bad-frame', connectionId: this.connectionId, reason: result.reason, consecutive: this.consecutiveBad });
        if (this.consecutiveBad >= this.maxBadFrames) this.end('bad-frames', out);
        continue;
      }
      this.consecutiveBad = 0;
      this.lastSeen = this.host.clock.now();
      this.stats.messages++;
      this.handle(result.message, out);
    }
    this.armReassemblyTimer();
    return out;
  }

  /** The socket closed (or the caller drops the connection): pending commands fail, offline if online. */
  close(): Jt808Output {
    const out: Jt808Output = { replies: [], events: [] };
    if (!this.closed) this.finish('closed', out);
    return out;
  }

  /**
   * Send a command; its frames go out through the host's `output`. Resolves with the
   * terminal's answer (0x0001 — any result, the caller judges it — or 0x1003 / 0x1205 for
   * the commands they answer); rejects with Jt808CommandError on timeout, close, or when
   * the terminal is not online.
   */
  command(msgId: number, body: Uint8Array, options: CommandOptions = {}): Promise<Jt808Answer> {
    if (this.closed || !this.authenticated || this.phone === null) {
      return Promise.reject(new Jt808CommandError('offline', `terminal ${this.phone ?? '?'} is not online`));
    }
    if (this.pending.length >= this.maxPending) {
      return Promise.reject(new Jt808CommandError('too-many-pending', `${this.pending.length} commands already pending`));
    }
    const frames = this.encode(msgId, body);
    const serial = this.lastFirstSerial;
    const timeoutMs = options.timeoutMs ?? (msgId === MsgId.RecordQuery ? this.recordQueryTimeoutMs : this.commandTimeoutMs);
    const promise = new Promise<Jt808Answer>((resolve, reject) => {
      const command: PendingCommand = {
        msgId,
        serial,
        accepts: acceptedAnswers(msgId),
        resolve,
        reject,
        timer: this.host.clock.setTimer(timeoutMs, () => {
          this.removePending(command);
          this.stats.commandsTimedOut++;
          reject(new Jt808CommandError('timeout', `${msgIdHex(msgId)} serial ${serial}: no answer within ${timeoutMs} ms`));
        }),
      };
      this.pending.push(command);
    });
    this.stats.commandsSent++;
    this.host.output(this, { replies: frames, events: [] });
    return promise;
  }

  queryAvAttributes(options?: CommandOptions): Promise<AvAttributes> {
    return this.command(MsgId.QueryAvAttributes, new Uint8Array(0), options).then((a) => {
      if (a.msgId === MsgId.AvAttributes) return a.attributes;
      throw refusal(MsgId.QueryAvAttributes, a);
    });
  }

  queryRecords(query: RecordQuery, options?: CommandOptions): Promise<RecordList> {
    return this.command(MsgId.RecordQuery, encodeRecordQuery(query), options).then((a) => {
      if (a.msgId === MsgId.RecordList) return a.recordList;
      throw refusal(MsgId.RecordQuery, a);
    });
  }

  requestRealtime(request: RealtimeAvRequest, options?: CommandOptions): Promise<Jt808Answer> {
    return this.command(MsgId.RealtimeAvRequest, encodeRealtimeAvRequest(request), options);
  }

  controlAv(control: AvControl, options?: CommandOptions): Promise<Jt808Answer> {
    return this.command(MsgId.AvControl, encodeAvControl(control), options);
  }

  requestPlayback(request: PlaybackRequest, options?: CommandOptions): Promise<Jt808Answer> {
    return this.command(MsgId.PlaybackRequest, encodePlaybackRequest(request), options);
  }

  controlPlayback(control: PlaybackControl, options?: CommandOptions): Promise<Jt808Answer> {
    return this.command(MsgId.PlaybackControl, encodePlaybackControl(control), options);
  }

  // ------------------------------------------------------------------ inbound

  private handle(message: Jt808Message, out: Jt808Output): void {
    const { header } = message;
    this.version = header.version;
    this.protocolVersion = header.protocolVersion;
    if (header.packet !== undefined) {
      const r = this.reassembler.push(message, this.host.clock.now());
      if (r.kind !== 'complete') return;
      message = r.message;
    }
    try {
      this.dispatch(message, out);
    } catch (error) {
      if (!(error instanceof Jt808BodyError)) throw error;
      out.events.push({ type: 'bad-message', connectionId: this.connectionId, phone: header.phone, msgId: header.msgId, error: error.message });
      if (!isAnswer(header.msgId)) this.reply(header, out, AnswerResult.MessageError);
    }
  }

  private dispatch(message: Jt808Message, out: Jt808Output): void {
    const { header, body } = message;
    const phone = header.phone;
    const base = { connectionId: this.connectionId, phone };
    switch (header.msgId) {
      case MsgId.Register: {
        const register = decodeRegister(body, header.version);
        const decision = this.host.register(phone);
        const answer = encodeRegisterAnswer({ answerSerial: header.serial, result: decision.result, authCode: decision.authCode });
        out.replies.push(...this.encode(MsgId.RegisterAnswer, answer, header));
        if (decision.result === RegisterResult.Ok && decision.authCode !== undefined) {
          this.phone = phone;
          out.events.push({ type: 'registered', ...base, version: header.version, register, authCode: decision.authCode });
        } else out.events.push({ type: 'register-refused', ...base, result: decision.result });
        return;
      }
      case MsgId.Authenticate: {
        const auth = decodeAuthenticate(body, header.version);
        const verdict = this.host.authenticate(phone, auth.authCode);
        if (verdict !== 'ok') {
          this.reply(header, out, AnswerResult.Failure);
          out.events.push({ type: 'auth-failed', ...base, reason: verdict });
          if (++this.authFailures >= this.maxAuthFailures) this.end('auth-failures', out);
          return;
        }
        this.reply(header, out, AnswerResult.Ok);
        if (this.authenticated && this.phone === phone) return;
        if (this.authenticated) this.goOffline('replaced', out);
        this.phone = phone;
        this.authenticated = true;
        out.events.push({
          type: 'authenticated',
          ...base,
          version: header.version,
          ...(auth.imei !== undefined ? { imei: auth.imei } : {}),
          ...(auth.softwareVersion !== undefined ? { softwareVersion: auth.softwareVersion } : {}),
        });
        this.host.online(this);
        return;
      }
    }
    // Everything else needs an authenticated terminal, under its own phone.
    if (!this.authenticated || phone !== this.phone) {
      if (!isAnswer(header.msgId)) this.reply(header, out, AnswerResult.Failure);
      return;
    }
    switch (header.msgId) {
      case MsgId.Heartbeat:
        this.reply(header, out, AnswerResult.Ok);
        out.events.push({ type: 'heartbeat', ...base });
        return;
      case MsgId.Logout:
        this.reply(header, out, AnswerResult.Ok);
        out.events.push({ type: 'logout', ...base });
        this.goOffline('logout', out);
        return;
      case MsgId.Location: {
        const location = decodeLocation(body);
        this.reply(header, out, AnswerResult.Ok);
        const { latitude, longitude } = locationDegrees(location);
        out.events.push({
          type: 'position',
          ...base,
          latitude,
          longitude,
          altitude: location.altitude,
          speedKmh: location.speed / 10,
          direction: location.direction,
          timeMs: jt808TimeToMs(location.time),
          alarms: alarmNames(location.alarm),
          accOn: (location.status & StatusBit.AccOn) !== 0,
          positioned: (location.status & StatusBit.Positioned) !== 0,
          extras: decodeLocationExtras(location.items),
          location,
        });
        return;
      }
      case MsgId.TerminalGeneralAnswer: {
        const general = decodeGeneralAnswer(body);
        const command = this.pending.find((c) => c.serial === general.answerSerial && c.msgId === general.answerId);
        // A positive 0x0001 to a command that expects data (0x9003, 0x9205) is only an acknowledgement.
        if (command !== undefined && (command.accepts.includes(MsgId.TerminalGeneralAnswer) || general.result !== AnswerResult.Ok)) {
          this.settle(command, { msgId: 0x0001, general });
        } else if (command === undefined) this.unhandled(header, body, out);
        return;
      }
      case MsgId.AvAttributes: {
        const attributes = decodeAvAttributes(body);
        const command = this.pending.find((c) => c.accepts.includes(MsgId.AvAttributes));
        if (command !== undefined) this.settle(command, { msgId: 0x1003, attributes });
        else this.unhandled(header, body, out);
        return;
      }
      case MsgId.RecordList: {
        const recordList = decodeRecordList(body);
        const command =
          this.pending.find((c) => c.serial === recordList.answerSerial && c.accepts.includes(MsgId.RecordList)) ??
          this.pending.find((c) => c.msgId === MsgId.RecordQuery);
        if (command !== undefined) this.settle(command, { msgId: 0x1205, recordList });
        else this.unhandled(header, body, out);
        return;
      }
      default:
        this.unhandled(header, body, out);
        this.reply(header, out, AnswerResult.Unsupported);
    }
  }

  private unhandled(header: Jt808Header, body: Uint8Array, out: Jt808Output): void {
    out.events.push({
      type: 'message',
      connectionId: this.connectionId,
      phone: header.phone,
      msgId: header.msgId,
      serial: header.serial,
      version: header.version,
      body: Uint8Array.from(body),
    });
  }

  private settle(command: PendingCommand, answer: Jt808Answer): void {
    this.removePending(command);
    this.stats.commandsAnswered++;
    command.resolve(answer);
  }

  private removePending(command: PendingCommand): void {
    const i = this.pending.indexOf(command);
    if (i >= 0) this.pending.splice(i, 1);
    this.host.clock.clearTimer(command.timer);
  }

  // ------------------------------------------------------------------ outbound

  private lastFirstSerial = 0;

  private nextSerial = (): number => {
    const s = this.serial;
    this.serial = (this.serial + 1) & 0xffff;
    return s;
  };

  /** Frames of one platform message, in the form (and to the phone) of `like` or the session's. */
  private encode(msgId: number, body: Uint8Array, like?: Jt808Header): Uint8Array[] {
    const version = like?.version ?? this.version;
    this.lastFirstSerial = this.serial;
    return encodeFrames(
      { msgId, version, protocolVersion: version === '2019' ? (like?.protocolVersion ?? this.protocolVersion) || 1 : 0, phone: like?.phone ?? this.phone ?? '0' },
      body,
      this.nextSerial,
    );
  }

  private reply(header: Jt808Header, out: Jt808Output, result: number): void {
    const body: GeneralAnswer = { answerSerial: header.serial, answerId: header.msgId, result };
    out.replies.push(...this.encode(MsgId.PlatformGeneralAnswer, encodeGeneralAnswer(body), header));
  }

  // ------------------------------------------------------------------ lifecycle and timers

  private goOffline(reason: OfflineReason, out: Jt808Output): void {
    if (!this.authenticated || this.phone === null) return;
    this.authenticated = false;
    out.events.push({ type: 'offline', connectionId: this.connectionId, phone: this.phone, reason });
    this.host.offline(this);
    for (const command of [...this.pending]) {
      this.removePending(command);
      command.reject(new Jt808CommandError('closed', `terminal ${this.phone} went offline (${reason})`));
    }
  }

  /** End the session and ask the caller to close the connection. */
  private end(reason: OfflineReason | 'auth-failures', out: Jt808Output): void {
    if (this.closed) return;
    this.finish(reason === 'auth-failures' ? 'closed' : reason, out);
    out.events.push({ type: 'disconnect', connectionId: this.connectionId, reason });
  }

  private finish(reason: OfflineReason, out: Jt808Output): void {
    this.goOffline(reason, out);
    this.closed = true;
    for (const command of [...this.pending]) {
      this.removePending(command);
      command.reject(new Jt808CommandError('closed', `connection ${this.connectionId} closed`));
    }
    if (this.silenceTimer !== null) this.host.clock.clearTimer(this.silenceTimer);
    if (this.reassemblyTimer !== null) this.host.clock.clearTimer(this.reassemblyTimer);
    this.silenceTimer = this.reassemblyTimer = null;
    this.reassembler.clear();
  }

  /** Replaced by a newer connection of the same terminal (called by the host). */
  replaced(): void {
    const out: Jt808Output = { replies: [], events: [] };
    this.end('replaced', out);
    this.host.output(this, out);
  }

  private armSilenceTimer(): void {
    const due = this.lastSeen + this.offlineAfterMs - this.host.clock.now();
    this.silenceTimer = this.host.clock.setTimer(Math.max(0, due), () => {
      this.silenceTimer = null;
      if (this.closed) return;
      if (this.host.clock.now() - this.lastSeen >= this.offlineAfterMs) {
        const out: Jt808Output = { replies: [], events: [] };
        this.end('silence', out);
        this.host.output(this, out);
      } else this.armSilenceTimer();
    });
  }

  private armReassemblyTimer(): void {
    if (this.closed) return;
    const wakeAt = this.reassembler.nextWakeAt();
    if (wakeAt === this.reassemblyWakeAt) return;
    if (this.reassemblyTimer !== null) this.host.clock.clearTimer(this.reassemblyTimer);
    this.reassemblyTimer = null;
    this.reassemblyWakeAt = wakeAt;
    if (wakeAt === Infinity) return;
    this.reassemblyTimer = this.host.clock.setTimer(Math.max(0, wakeAt - this.host.clock.now()), () => {
      this.reassemblyTimer = null;
      this.reassemblyWakeAt = Infinity;
      if (this.closed) return;
      const out: Jt808Output = { replies: [], events: [] };
      const { resend, dropped } = this.reassembler.poll(this.host.clock.now());
      for (const r of resend) {
        const body = encodeResendRequest({ originalSerial: r.firstSerial, packetIds: r.missing }, r.version);
        out.replies.push(...this.encode(MsgId.ResendRequest, body, { msgId: r.msgId, version: r.version, protocolVersion: this.protocolVersion, phone: r.phone, serial: 0, encryption: 0 }));
        out.events.push({ type: 'resend-requested', connectionId: this.connectionId, phone: r.phone, msgId: r.msgId, firstSerial: r.firstSerial, missing: r.missing, attempt: r.attempt });
      }
      for (const d of dropped) {
        out.events.push({ type: 'reassembly-dropped', connectionId: this.connectionId, phone: d.phone, msgId: d.msgId, firstSerial: d.firstSerial, reason: d.reason, received: d.received, total: d.total });
      }
      this.armReassemblyTimer();
      if (out.replies.length > 0 || out.events.length > 0) this.host.output(this, out);
    });
  }
}

/** A command expecting data was answered with a 0x0001 failure. */
function refusal(msgId: number, answer: Jt808Answer): Jt808CommandError {
  const result = answer.msgId === MsgId.TerminalGeneralAnswer ? answer.general.result : -1;
  return new Jt808CommandError('refused', `${msgIdHex(msgId)} refused by the terminal (0x0001 result ${result})`);
}

/** Terminal messages that are themselves answers (never answered with 0x8001). */
function isAnswer(msgId: number): boolean {
  return msgId === MsgId.TerminalGeneralAnswer || msgId === MsgId.AvAttributes || msgId === MsgId.RecordList;
}
