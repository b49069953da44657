/**
 * Cascade (issue 16): camgate as a device of an upper GB28181 platform. One
 * {@link UpstreamClient} per upper platform registers to it with digest (qop=auth or the
 * RFC 2069 form, whichever the challenge offers), refreshes before the expiry, sends
 * keepalive MESSAGEs and registers again, with back-off, after a refusal, a time-out or
 * keepalives that go unanswered.
 *
 * Sans-I/O like the rest of this thread's cores: time comes from the injected clock and
 * requests leave through `send` (the transaction layer), so tests drive every path with a
 * FakeClock and hand-made responses.
 */
import {
  buildAuthorization,
  createRequest,
  formatVia,
  newBranch,
  parseChallenge,
  randomToken,
  type ClientTransactionHandlers,
  type Clock,
  type DigestChallenge,
  type Endpoint,
  type SipRequest,
  type SipResponse,
} from '../protocol/sip/index.js';
import { buildKeepalive, encodeXmlBody } from '../protocol/gb28181/index.js';
import type { UpstreamConfig, UpstreamState, UpstreamStatus } from '../shared/contracts/sip.js';

export type { UpstreamConfig, UpstreamState, UpstreamStatus };

/** First retry after a failure; doubles per failure up to {@link RETRY_MAX_MS}. */
export const RETRY_MIN_MS = 1000;
export const RETRY_MAX_MS = 60_000;

export interface UpstreamDeps {
  clock: Clock;
  /** Address and port we put in Via and Contact. */
  local: { host: string; port: number };
  /** Sends through the transaction layer (retransmissions and Timer F are its job). */
  send(request: SipRequest, remote: Endpoint, handlers: ClientTransactionHandlers): void;
  status(status: UpstreamStatus): void;
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number;
  userAgent?: string;
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** When to refresh a registration granted for `expires` seconds: half-way, or a minute early if that is later. */
export function refreshDelayMs(expires: number): number {
  return Math.max(expires / 2, expires - 60) * 1000;
}

/** Back-off before attempt `failures` (1 = first failure): doubling, capped, with ±20 % jitter. */
export function retryDelayMs(failures: number, random: () => number, min = RETRY_MIN_MS, max = RETRY_MAX_MS): number {
  const base = Math.min(max, min * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

export class UpstreamClient {
  readonly config: UpstreamConfig;
  readonly #deps: UpstreamDeps;
  readonly #callId: string;
  readonly #fromTag = randomToken(10);
  #cseq = 0;
  #challenge: DigestChallenge | undefined;
  #nc = 0;
  /** Nonce we answered in the REGISTER now in flight: a second 401 for it means wrong credentials. */
  #answered: string | undefined;
  #state: UpstreamState = 'registering';
  #error: string | null = null;
  #failures = 0;
  #missed = 0;
  #sn = 0;
  #granted = 0;
  /** Challenges answered in a row for the REGISTER cycle in flight. */
  #authTries = 0;
  #timer: unknown;
  #keepaliveTimer: unknown;
  #stopped = false;
  /** Bumped on every new REGISTER or stop: answers to older ones are ignored. */
  #generation = 0;

  constructor(config: UpstreamConfig, deps: UpstreamDeps) {
    this.config = config;
    this.#deps = deps;
    this.#callId = `${randomToken(20)}@${deps.local.host}`;
  }

  get state(): UpstreamState {
    return this.#state;
  }

  get remote(): Endpoint {
    return { transport: this.config.transport, address: this.config.host, port: this.config.port };
  }

  status(): UpstreamStatus {
    return {
      id: this.config.id,
      state: this.#state,
      error: this.#error,
      expires: this.#state === 'online' ? this.#granted : 0,
      failures: this.#failures,
    };
  }

  start(): void {
    this.#deps.status(this.status());
    this.#register();
  }

  /** Stops every timer; when registered, unregisters (Expires: 0) and resolves on its answer or time-out. */
  stop(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const wasOnline = this.#state === 'online';
    this.#stopped = true;
    this.#generation++;
    this.#clearTimers();
    this.#set('stopped', null);
    if (!wasOnline) return Promise.resolve();
    return new Promise((resolve) => {
      this.#deps.send(this.#registerRequest(0), this.remote, {
        onResponse: (response) => {
          if (response.status >= 200) resolve();
        },
        onTimeout: () => resolve(),
        onTransportError: () => resolve(),
      });
    });
  }

  /** An out-of-dialog MESSAGE to the upper platform (catalog and query answers); resolves with the final status. */
  message(body: string): Promise<number> {
    const request = this.#message(body);
    return new Promise((resolve) => {
      this.#deps.send(request, this.remote, {
        onResponse: (response) => {
          if (response.status >= 200) resolve(response.status);
        },
        onTimeout: () => resolve(408),
        onTransportError: () => resolve(503),
      });
    });
  }

  // --- REGISTER -------------------------------------------------------------

  #register(answeringChallenge = false): void {
    if (this.#stopped) return;
    if (!answeringChallenge) this.#authTries = 0;
    clearTimer(this.#deps.clock, this.#timer);
    const generation = ++this.#generation;
    if (this.#state !== 'online') this.#set(this.#state === 'retrying' ? 'retrying' : 'registering', this.#error);
    const request = this.#registerRequest(this.config.expires);
    this.#deps.send(request, this.remote, {
      onResponse: (response) => {
        if (generation === this.#generation && response.status >= 200) this.#registerAnswered(response);
      },
      onTimeout: () => {
        if (generation === this.#generation) this.#failed(`REGISTER timed out: no answer from ${this.config.host}:${this.config.port}`);
      },
      onTransportError: () => {
        if (generation === this.#generation) this.#failed(`REGISTER could not be sent to ${this.config.host}:${this.config.port} (${this.config.transport})`);
      },
    });
  }

  #registerRequest(expires: number): SipRequest {
    const { serverId, domain, deviceId, transport } = this.config;
    const { host, port } = this.#deps.local;
    const uri = `sip:${serverId}@${domain}`;
    const self = `<sip:${deviceId}@${domain}>`;
    const headers: Array<[string, string]> = [
      ['Via', formatVia({ transport, host, port, params: { rport: null, branch: newBranch() } })],
      ['From', `${self};tag=${this.#fromTag}`],
      ['To', self],
      ['Call-ID', this.#callId],
      ['CSeq', `${++this.#cseq} REGISTER`],
      ['Contact', `<sip:${deviceId}@${host}:${port}>`],
      ['Max-Forwards', '70'],
      ['User-Agent', this.#deps.userAgent ?? 'camgate'],
      ['Expires', String(expires)],
    ];
    this.#answered = undefined;
    if (this.#challenge) {
      const authorization = buildAuthorization({
        challenge: this.#challenge,
        username: deviceId,
        password: this.config.password,
        method: 'REGISTER',
        uri,
        nc: ++this.#nc,
      });
      if (authorization !== null) {
        headers.push([this.#challenge === this.#proxyChallenge ? 'Proxy-Authorization' : 'Authorization', authorization]);
        this.#answered = this.#challenge.nonce;
      }
    }
    return createRequest('REGISTER', uri, headers);
  }

  #proxyChallenge: DigestChallenge | undefined;

  #registerAnswered(response: SipResponse): void {
    if (response.status === 401 || response.status === 407) {
      const proxy = response.status === 407;
      const challenge = parseChallenge(response.headers.get(proxy ? 'proxy-authenticate' : 'www-authenticate'));
      if (!challenge) {
        this.#failed(`REGISTER answered ${response.status} without a Digest challenge`);
        return;
      }
      const sameNonce = this.#answered === challenge.nonce && !challenge.stale;
      if (sameNonce || this.#authTries >= 2) {
        // We answered and were challenged again: the password or device ID is wrong.
        this.#challenge = undefined;
        this.#failed(`REGISTER refused: ${response.status} ${response.reason} (wrong password or device ID for realm ${challenge.realm})`);
        return;
      }
      this.#authTries++;
      this.#challenge = challenge;
      this.#proxyChallenge = proxy ? challenge : undefined;
      this.#nc = 0;
      this.#register(true);
      return;
    }
    if (response.status >= 300) {
      this.#failed(`REGISTER answered ${response.status} ${response.reason}`);
      return;
    }
    const granted = grantedExpires(response) ?? this.config.expires;
    this.#granted = granted > 0 ? granted : this.config.expires;
    this.#failures = 0;
    this.#missed = 0;
    this.#set('online', null);
    this.#timer = this.#deps.clock.setTimer(refreshDelayMs(this.#granted), () => this.#register());
    if (this.#keepaliveTimer === undefined) this.#scheduleKeepalive();
  }

  #failed(error: string): void {
    if (this.#stopped) return;
    this.#failures++;
    this.#stopKeepalives();
    this.#set('retrying', error);
    clearTimer(this.#deps.clock, this.#timer);
    const delay = retryDelayMs(this.#failures, this.#deps.random ?? Math.random, this.#deps.retryMinMs, this.#deps.retryMaxMs);
    this.#timer = this.#deps.clock.setTimer(delay, () => this.#register());
  }

  // --- keepalive ------------------------------------------------------------

  #scheduleKeepalive(): void {
    this.#keepaliveTimer = this.#deps.clock.setTimer(this.config.keepaliveInterval * 1000, () => this.#keepalive());
  }

  #stopKeepalives(): void {
    clearTimer(this.#deps.clock, this.#keepaliveTimer);
    this.#keepaliveTimer = undefined;
    this.#pending = undefined;
  }

  #keepalive(): void {
    if (this.#stopped || this.#state !== 'online') {
      this.#keepaliveTimer = undefined;
      return;
    }
    // The previous keepalive still unanswered one interval later counts as missed now, not at
    // its transaction time-out (32 s): a platform that went away is noticed after
    // interval × timeouts, as the standard's "timeout count" means.
    const previous = this.#pending;
    if (previous && !previous.settled) {
      previous.settled = true;
      if (this.#miss('no answer within the interval')) return;
    }
    this.#scheduleKeepalive();
    const generation = this.#generation;
    const body = buildKeepalive({ sn: this.#nextSn(), deviceId: this.config.deviceId });
    const pending = { settled: false };
    this.#pending = pending;
    const miss = (why: string) => {
      if (pending.settled || this.#stopped || generation !== this.#generation || this.#state !== 'online') return;
      pending.settled = true;
      this.#miss(why);
    };
    this.#deps.send(this.#message(body), this.remote, {
      onResponse: (response) => {
        if (response.status < 200 || this.#stopped || generation !== this.#generation) return;
        pending.settled = true;
        if (response.status < 300) {
          this.#missed = 0;
          return;
        }
        // The upper platform no longer knows us (it restarted, or dropped us): register again now.
        this.#failed(`keepalive answered ${response.status} ${response.reason}`);
      },
      onTimeout: () => miss('timed out'),
      onTransportError: () => miss('could not be sent'),
    });
  }

  /** The keepalive in flight, settled once answered or counted as missed. */
  #pending: { settled: boolean } | undefined;

  /** Counts a missed keepalive; true when that was one too many and registration starts over. */
  #miss(why: string): boolean {
    this.#missed++;
    if (this.#missed < this.config.keepaliveTimeouts) return false;
    this.#failed(`keepalive: ${this.#missed} without an answer (${why})`);
    return true;
  }

  #nextSn(): number {
    this.#sn = (this.#sn % 999_999) + 1;
    return this.#sn;
  }

  #message(body: string): SipRequest {
    const { serverId, domain, deviceId, transport, charset } = this.config;
    const { host, port } = this.#deps.local;
    const uri = `sip:${serverId}@${domain}`;
    return createRequest(
      'MESSAGE',
      uri,
      [
        ['Via', formatVia({ transport, host, port, params: { rport: null, branch: newBranch() } })],
        ['From', `<sip:${deviceId}@${domain}>;tag=${randomToken(10)}`],
        ['To', `<${uri}>`],
        ['Call-ID', `${randomToken(20)}@${host}`],
        ['CSeq', '1 MESSAGE'],
        ['Max-Forwards', '70'],
        ['User-Agent', this.#deps.userAgent ?? 'camgate'],
        ['Content-Type', 'Application/MANSCDP+xml'],
      ],
      encodeXmlBody(body, charset),
    );
  }

  nextSn(): number {
    return this.#nextSn();
  }

  #set(state: UpstreamState, error: string | null): void {
    const changed = state !== this.#state || error !== this.#error;
    this.#state = state;
    this.#error = error;
    if (changed) this.#deps.status(this.status());
  }

  #clearTimers(): void {
    clearTimer(this.#deps.clock, this.#timer);
    this.#timer = undefined;
    this.#stopKeepalives();
  }
}

function clearTimer(clock: Clock, handle: unknown): void {
  if (handle !== undefined) clock.clearTimer(handle);
}

/** The expiry the registrar granted: the 200's Expires header, else the Contact's expires parameter. */
function grantedExpires(response: SipResponse): number | undefined {
  const header = response.headers.get('expires');
  if (header !== undefined && /^\s*\d+\s*$/.test(header)) return Number(header);
  const contact = response.headers.get('contact');
  const param = contact ? /;\s*expires\s*=\s*(\d+)/i.exec(contact) : null;
  return param ? Number(param[1]) : undefined;
}
