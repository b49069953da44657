/**
 * Platform-side JT/T 808 core for all connections of one listener, sans-I/O: issues and
 * checks auth codes, knows which session a phone is online on, and routes commands.
 *
 * Modes: 'open' accepts any terminal; 'provisioned' asks `lookupTerminal(phone)` and
 * answers an unknown phone's 0x0100 with result 4 ("terminal not in database") and its
 * 0x0102 with a failure. Auth codes issued are kept in memory (bounded) and reported
 * through `onAuthCodeIssued` so the store can persist them; `lookupTerminal` may return a
 * stored code so terminals authenticate after a platform restart without re-registering.
 *
 * Wiring per TCP connection (the thread owns the sockets):
 *   const session = server.open(connectionId);
 *   socket.on('data', (chunk) => apply(session.feed(chunk)));
 *   socket.on('close', () => apply(session.close()));
 * where `apply` writes `replies` and acts on `events` (a 'disconnect' event → end the socket);
 * `onOutput(session, out)` receives the same for output caused by timers and commands.
 */
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../protocol/sip/clock.js';
import { RegisterResult } from '../protocol/jt808/index.js';
import type { Jt808Answer, Jt808Output } from './events.js';
import { Jt808CommandError } from './events.js';
import { Jt808Session, type CommandOptions, type Jt808SessionHost, type Jt808SessionOptions } from './session.js';

export interface Jt808TerminalRecord {
  /** Auth code stored for this terminal, if any. */
  authCode?: string;
}

export interface Jt808ServerOptions {
  clock?: Clock;
  /** Default 'open'. */
  mode?: 'open' | 'provisioned';
  /** Provisioned mode: the terminal's record, or undefined when unknown. Open mode: optional, for stored auth codes. */
  lookupTerminal?(phone: string): Jt808TerminalRecord | undefined;
  /** A 0x0100 was accepted with this code (persist it). */
  onAuthCodeIssued?(phone: string, authCode: string): void;
  /** Default: 16 random hex digits. */
  makeAuthCode?(phone: string): string;
  /** Output of timers and commands, per session. */
  onOutput(session: Jt808Session, out: Jt808Output): void;
  /** Auth codes kept in memory at most (oldest dropped first). Default 100 000. */
  maxRememberedCodes?: number;
  session?: Jt808SessionOptions;
}

export interface Jt808ServerStats {
  connections: number;
  online: number;
  registrations: number;
  registrationsRefused: number;
  authentications: number;
  authenticationsFailed: number;
}

export class Jt808Server {
  readonly clock: Clock;
  readonly stats: Jt808ServerStats = { connections: 0, online: 0, registrations: 0, registrationsRefused: 0, authentications: 0, authenticationsFailed: 0 };
  private readonly sessions = new Set<Jt808Session>();
  private readonly byPhone = new Map<string, Jt808Session>();
  private readonly authCodes = new Map<string, string>();
  private readonly host: Jt808SessionHost;

  constructor(private readonly options: Jt808ServerOptions) {
    this.clock = options.clock ?? systemClock;
    const server = this;
    this.host = {
      clock: this.clock,
      register: (phone) => server.register(phone),
      authenticate: (phone, code) => server.authenticate(phone, code),
      online: (session) => server.online(session),
      offline: (session) => server.offline(session),
      output: (session, out) => {
        if (out.events.some((e) => e.type === 'disconnect')) server.sessions.delete(session);
        server.options.onOutput(session, out);
      },
    };
  }

  /** A new TCP connection. */
  open(connectionId: string): Jt808Session {
    const session = new Jt808Session(connectionId, this.host, this.options.session);
    this.sessions.add(session);
    return session;
  }

  /** Forget a connection whose socket closed (same as `session.close()`, returning its output). */
  closeConnection(session: Jt808Session): Jt808Output {
    this.sessions.delete(session);
    return session.close();
  }

  get connections(): number {
    return this.sessions.size;
  }

  /** The session a phone is online on. */
  sessionOf(phone: string): Jt808Session | undefined {
    return this.byPhone.get(phone);
  }

  onlinePhones(): string[] {
    return [...this.byPhone.keys()];
  }

  /** Send a command to an online terminal (frames go out through `onOutput`). */
  command(phone: string, msgId: number, body: Uint8Array, options?: CommandOptions): Promise<Jt808Answer> {
    const session = this.byPhone.get(phone);
    if (session === undefined) return Promise.reject(new Jt808CommandError('offline', `terminal ${phone} is not online`));
    return session.command(msgId, body, options);
  }

  private register(phone: string): { result: number; authCode?: string } {
    const mode = this.options.mode ?? 'open';
    if (mode === 'provisioned' && this.options.lookupTerminal?.(phone) === undefined) {
      this.stats.registrationsRefused++;
      return { result: RegisterResult.TerminalUnknown };
    }
    const authCode = this.options.makeAuthCode?.(phone) ?? randomBytes(8).toString('hex');
    this.remember(phone, authCode);
    this.stats.registrations++;
    this.options.onAuthCodeIssued?.(phone, authCode);
    return { result: RegisterResult.Ok, authCode };
  }

  private authenticate(phone: string, code: string): 'ok' | 'unknown-terminal' | 'wrong-code' {
    const record = this.options.lookupTerminal?.(phone);
    if ((this.options.mode ?? 'open') === 'provisioned' && record === undefined) {
      this.stats.authenticationsFailed++;
      return 'unknown-terminal';
    }
    const expected = this.authCodes.get(phone) ?? record?.authCode;
    if (expected !== undefined && expected !== code) {
      this.stats.authenticationsFailed++;
      return 'wrong-code';
    }
    // No code known (open mode, or provisioned without a stored code): accept and remember this one.
    if (expected === undefined) this.remember(phone, code);
    this.stats.authentications++;
    return 'ok';
  }

  private remember(phone: string, code: string): void {
    this.authCodes.delete(phone);
    this.authCodes.set(phone, code);
    const max = this.options.maxRememberedCodes ?? 100_000;
    while (this.authCodes.size > max) this.authCodes.delete(this.authCodes.keys().next().value as string);
  }

  private online(session: Jt808Session): void {
    const phone = session.phone!;
    const previous = this.byPhone.get(phone);
    this.byPhone.set(phone, session);
    if (previous === undefined) this.stats.online++;
    else if (previous !== session) previous.replaced();
  }

  private offline(session: Jt808Session): void {
    const phone = session.phone;
    if (phone !== null && this.byPhone.get(phone) === session) {
      this.byPhone.delete(phone);
      this.stats.online--;
    }
  }
}
