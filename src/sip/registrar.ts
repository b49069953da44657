import {
  buildChallenge,
  buildResponse,
  contactExpires,
  parseAuthorization,
  parseContacts,
  parseExpires,
  parseNameAddr,
  parseUri,
  topVia,
  verifyDigest,
  type Endpoint,
  type NonceStore,
  type SipRequest,
  type SipResponse,
} from '../protocol/sip/index.js';
import type { AuthThrottle, ThrottleVerdict } from './auth-throttle.js';

/**
 * GB28181 REGISTER handling, sans-I/O: a REGISTER and the device's credentials in,
 * the response and what to do with the binding out.
 *
 * - The device is identified by the From user (Hikvision sends another digest
 *   username; the digest is computed with whatever username the device used).
 * - The challenge offers `algorithm=MD5, qop="auth"` (Dahua needs both); devices
 *   that answer in the RFC 2069 form (no qop) are accepted too, single-use nonce.
 * - Nonces are remembered: stale or replayed ones get a fresh 401 with stale=true.
 */

export interface DeviceCredentials {
  /** The device exists in the store. */
  known: boolean;
  /** Its digest password (the device's own, else sip.password). */
  password: string;
}

export interface RegistrarOptions {
  realm: string;
  mode: 'provisioned' | 'open';
  /** Longest registration granted, and the default when the device asks none (s). */
  maxExpires: number;
  /** Shortest accepted (s); shorter requests get 423 with Min-Expires. */
  minExpires?: number;
  /** Offer qop="auth" in challenges (default true). */
  qop?: boolean;
  nonces: NonceStore;
  /** Rate limits on challenges and failures; absent: none. */
  throttle?: AuthThrottle;
  lookup(deviceId: string): Promise<DeviceCredentials>;
  /** Wall clock for the Date header (ms since epoch); injectable for tests. */
  wallClock?: () => number;
}

export interface Binding {
  deviceId: string;
  /** The From URI as sent. */
  fromUri: string;
  /** Host part of the From URI (the device's domain). */
  domain: string;
  contact: string;
  expires: number;
  source: Endpoint;
  /** Top Via details gosip kept: sent-by host/port, transport, rport, received. */
  via: { host: string; port: number; transport: string; rport: number; received: string };
  known: boolean;
}

export type RegisterOutcome =
  | { kind: 'challenge'; response: SipResponse; stale: boolean }
  | { kind: 'reject'; response: SipResponse; reason: RejectReason; deviceId?: string }
  | { kind: 'register'; response: SipResponse; binding: Binding }
  | { kind: 'unregister'; response: SipResponse; deviceId: string };

export type RejectReason =
  | 'bad-request'
  | 'bad-password'
  | 'unknown-device'
  | 'interval-too-brief'
  | 'store-unavailable'
  | 'realm-mismatch'
  | 'unsupported-auth'
  | 'throttled';

/** GB/T 28181's Date header: local time `YYYY-MM-DDTHH:mm:ss.SSS`, the device sets its clock from it. */
export function gbDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`
  );
}

/** Seconds a device is asked to wait before re-REGISTERing while the store is unavailable. */
export const STORE_RETRY_AFTER_S = 5;

export class Registrar {
  #options: RegistrarOptions;

  constructor(options: RegistrarOptions) {
    this.#options = options;
  }

  #challenge(request: SipRequest, stale: boolean, source: Endpoint, deviceId: string): RegisterOutcome {
    const limited = this.#options.throttle?.challenge(source.address);
    if (limited?.refused) return this.#throttled(request, limited, deviceId);
    const header = buildChallenge({
      realm: this.#options.realm,
      nonce: this.#options.nonces.issue(),
      algorithm: 'MD5',
      qop: this.#options.qop !== false,
      stale,
    });
    return {
      kind: 'challenge',
      stale,
      response: buildResponse(request, 401, 'Unauthorized', [['WWW-Authenticate', header]]),
    };
  }

  #reject(request: SipRequest, status: number, reason: RejectReason, deviceId?: string, extra: Array<[string, string]> = []): RegisterOutcome {
    const phrase = { 400: 'Bad Request', 403: 'Forbidden', 423: 'Interval Too Brief', 500: 'Server Internal Error', 503: 'Service Unavailable' }[status];
    return { kind: 'reject', reason, ...(deviceId ? { deviceId } : {}), response: buildResponse(request, status, phrase, extra) };
  }

  #throttled(request: SipRequest, verdict: Extract<ThrottleVerdict, { refused: true }>, deviceId: string): RegisterOutcome {
    return this.#reject(request, verdict.status, 'throttled', deviceId, [['Retry-After', String(verdict.retryAfter)]]);
  }

  #failed(source: Endpoint, deviceId: string, known: boolean): void {
    this.#options.throttle?.failure(source.address, deviceId, known);
  }

  async handle(request: SipRequest, source: Endpoint): Promise<RegisterOutcome> {
    const from = parseNameAddr(request.headers.get('from') ?? '');
    const fromUri = from ? parseUri(from.uri) : null;
    const deviceId = fromUri?.user;
    if (!from || !fromUri || !deviceId) return this.#reject(request, 400, 'bad-request');

    const authorization = request.headers.get('authorization');
    if (authorization === undefined) return this.#challenge(request, false, source, deviceId);
    const limited = this.#options.throttle?.attempt(source.address, deviceId);
    if (limited?.refused) return this.#throttled(request, limited, deviceId);
    const creds = parseAuthorization(authorization);
    if (!creds) {
      this.#failed(source, deviceId, false);
      return this.#reject(request, 400, 'bad-request', deviceId);
    }
    if (creds.realm !== this.#options.realm) return this.#challenge(request, false, source, deviceId);

    let device: DeviceCredentials;
    try {
      device = await this.#options.lookup(deviceId);
    } catch {
      // The credentials could not be read (store down or slow): a transient condition,
      // so the device is told when to try again rather than that it failed.
      return this.#reject(request, 503, 'store-unavailable', deviceId, [['Retry-After', String(STORE_RETRY_AFTER_S)]]);
    }
    const verdict = verifyDigest(creds, {
      method: 'REGISTER',
      password: device.password,
      realm: this.#options.realm,
      nonces: this.#options.nonces,
    });
    if (!verdict.ok) {
      if (verdict.stale) return this.#challenge(request, true, source, deviceId);
      this.#failed(source, deviceId, device.known);
      if (verdict.reason === 'unsupported') return this.#reject(request, 403, 'unsupported-auth', deviceId);
      return this.#reject(request, 403, 'bad-password', deviceId);
    }
    // Authenticated. In provisioned mode only devices created through the API may register.
    if (!device.known && this.#options.mode === 'provisioned') {
      this.#failed(source, deviceId, false);
      return this.#reject(request, 403, 'unknown-device', deviceId);
    }
    this.#options.throttle?.success(source.address, deviceId);

    const contacts = parseContacts(request);
    if (contacts === null) return this.#reject(request, 400, 'bad-request', deviceId);
    const contact = contacts === '*' ? undefined : contacts[0];
    const requested = contact
      ? contactExpires(contact, request, this.#options.maxExpires)
      : (parseExpires(request) ?? this.#options.maxExpires);
    const now = (this.#options.wallClock ?? Date.now)();
    const dateHeader: [string, string] = ['Date', gbDate(now)];

    if (requested === 0 || contacts === '*') {
      return {
        kind: 'unregister',
        deviceId,
        response: buildResponse(request, 200, 'OK', [dateHeader, ['Expires', '0']]),
      };
    }
    const minimum = this.#options.minExpires ?? 60;
    if (requested < minimum) {
      return this.#reject(request, 423, 'interval-too-brief', deviceId, [['Min-Expires', String(minimum)]]);
    }
    const expires = Math.min(requested, this.#options.maxExpires);
    const top = topVia(request);
    const contactUri = contact?.uri ?? `sip:${deviceId}@${source.address}:${source.port}`;
    return {
      kind: 'register',
      binding: {
        deviceId,
        fromUri: from.uri,
        domain: fromUri.host,
        contact: contactUri,
        expires,
        source,
        known: device.known,
        via: {
          host: top?.host ?? '',
          port: top?.port ?? 0,
          transport: top?.transport ?? source.transport,
          rport: typeof top?.rport === 'number' ? top.rport : 0,
          received: top?.received ?? '',
        },
      },
      response: buildResponse(request, 200, 'OK', [
        dateHeader,
        ['Expires', String(expires)],
        ['Contact', `<${contactUri}>;expires=${expires}`],
      ]),
    };
  }
}
