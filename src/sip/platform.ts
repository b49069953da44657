import {
  Dialog,
  TransactionLayer,
  createRequest,
  formatVia,
  newBranch,
  parseNameAddr,
  parseUri,
  randomToken,
  type ClientTransaction,
  type Clock,
  type Endpoint,
  type NonceStore,
  type ServerTransaction,
  type ParseResult,
  type SipMessage,
  type SipRequest,
  type SipResponse,
  type Transaction,
  type TransactionUser,
  type DialogState,
} from '../protocol/sip/index.js';
import type { SharedCounters } from '../shared/counters.js';
import { DevicePresence, type OfflineReason, type PresenceEntry } from './presence.js';
import { Registrar, type Binding, type DeviceCredentials, type RejectReason } from './registrar.js';
import { methodLabel, statusClass } from '../shared/contracts/sip-counters.js';
import { ServiceError, type ApiCode } from '../shared/errors.js';
import type { InviteAnswer, InviteRequest } from '../shared/contracts/sip.js';
import type { AuthThrottle } from './auth-throttle.js';

/**
 * The GB28181 platform: the transaction user on top of the SIP transaction layer.
 * It answers devices (REGISTER, MESSAGE, OPTIONS, BYE, NOTIFY, INFO) and sends them
 * queries. It keeps no database: it asks and tells its owner through
 * `lookup` and `events`, which the SIP thread forwards to the supervisor.
 */

export interface PlatformEvents {
  /** A REGISTER succeeded; `first` when the device was not online before. */
  registered(binding: Binding, first: boolean): void;
  offline(deviceId: string, reason: OfflineReason): void;
  /** A trusted keepalive; `moved` when its source port or connection changed. */
  keepalive(deviceId: string, source: Endpoint, moved: boolean): void;
  /** The device ended a media dialog (BYE); already answered 200. */
  dialogEnded?(callId: string, deviceId: string | undefined): void;
  /**
   * A NOTIFY (subscription event): the answer to send. Without this hook every NOTIFY gets
   * 200 and is dropped.
   */
  notify?(request: SipRequest, remote: Endpoint): { status: number; reason: string };
  /** A request from an upper platform (cascade): true when taken, and then already answered or being answered. */
  upstream?(tx: ServerTransaction, request: SipRequest, remote: Endpoint): boolean;
  /** An INVITE from a device (voice broadcast); without this hook it is refused 488. */
  invite?(tx: ServerTransaction, request: SipRequest, remote: Endpoint): void;
  /** A MANSCDP MESSAGE from a registered device, already answered 200. */
  manscdp(deviceId: string, body: Uint8Array, contentType: string | undefined, source: Endpoint): void;
  log?(level: 'debug' | 'info' | 'warn', message: string, data?: Record<string, unknown>): void;
}

export interface PlatformOptions {
  serverId: string;
  domain: string;
  /** Address and port we put in Via/From/Contact of our requests. */
  advertisedHost: string;
  advertisedPort: number;
  registration: 'provisioned' | 'open';
  maxExpires: number;
  keepaliveInterval: number;
  keepaliveTimeouts: number;
  qop?: boolean;
  clock: Clock;
  nonces: NonceStore;
  /** REGISTER rate limits (sip.limits); absent: none. */
  throttle?: AuthThrottle;
  /** A device registered over this endpoint (TCP: its connection earns the long idle time-out). */
  trust?(remote: Endpoint): void;
  counters: SharedCounters;
  lookup(deviceId: string): Promise<DeviceCredentials>;
  send(bytes: Uint8Array, remote: Endpoint): boolean;
  events: PlatformEvents;
  userAgent?: string;
}

/**
 * A request to a device that did not succeed. `upstream` is the SIP status (the
 * device's answer, or 404 not registered, 408 timed out, 503 not sent); the HTTP
 * status says the same to an API client: 409 the device is not there, 504 it did
 * not answer, 503 we could not send, 502 it answered with an error.
 */
export class SipRequestError extends ServiceError {
  constructor(message: string, sipStatus: number) {
    const [status, code] = httpStatusFor(sipStatus);
    super(status, code, message, sipStatus);
    this.name = 'SipRequestError';
  }
}

function httpStatusFor(sipStatus: number): [number, ApiCode] {
  if (sipStatus === 404) return [409, '1002'];
  if (sipStatus === 408) return [504, '1001'];
  if (sipStatus === 503) return [503, '1001'];
  return [502, '1001'];
}

/** REGISTER rejections with their own auth counter; the rest count as auth|other. */
const COUNTED_REJECTS: ReadonlySet<RejectReason> = new Set(['bad-password', 'unknown-device', 'throttled', 'store-unavailable']);

const ALLOW = 'REGISTER, MESSAGE, INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY, INFO';

/** The supervisor's INVITE request and its answer, as the SIP contract defines them. */
export type InviteOptions = InviteRequest;
export type InviteResult = InviteAnswer;

export interface SubscribeOptions {
  /** User part of the Request-URI and To (default: the device ID). */
  toUser?: string;
  /** `Event` header value, e.g. `Catalog` or `presence`. */
  event: string;
  expires: number;
  body: Uint8Array;
  contentType: string;
  callId?: string;
}

export interface SubscribeResult {
  dialog: DialogState;
  response: SipResponse;
  /** Call-ID of the subscription (= dialog.callId). */
  callId: string;
}

export interface InDialogOptions {
  method: string;
  body?: Uint8Array;
  contentType?: string;
  headers?: Array<[string, string]>;
}

/**
 * The final answer to an in-dialog request (any status: 408 on timeout, 503 when it could
 * not be sent), and the dialog state after it: its local CSeq moved on even if the request
 * failed, so the owner must store it for the next request (e.g. BYE) to stay in order.
 */
export interface InDialogResult {
  status: number;
  reason: string;
  response?: SipResponse;
  dialog: DialogState;
}

export class GbPlatform implements TransactionUser {
  readonly transactions: TransactionLayer;
  /** Call-IDs of media dialogs we hold, so a device's BYE gets 200 instead of 481. */
  readonly dialogs = new Map<string, string>();
  readonly presence: DevicePresence;
  /** BYEs in flight by Call-ID: one BYE transaction per dialog. */
  #byes = new Map<string, Promise<number>>();
  #options: PlatformOptions;
  #registrar: Registrar;
  #counters: SharedCounters;
  #statsTimer: unknown;

  constructor(options: PlatformOptions) {
    this.#options = options;
    this.#counters = options.counters;
    this.transactions = new TransactionLayer(this, { clock: options.clock });
    this.presence = new DevicePresence({
      clock: options.clock,
      keepaliveInterval: options.keepaliveInterval,
      keepaliveTimeouts: options.keepaliveTimeouts,
      onOffline: (entry, reason) => {
        this.#counters.add(`offline|${reason === 'removed' ? 'unregistered' : reason}`);
        options.events.offline(entry.deviceId, reason);
      },
    });
    this.#registrar = new Registrar({
      realm: options.domain,
      mode: options.registration,
      maxExpires: options.maxExpires,
      nonces: options.nonces,
      ...(options.throttle ? { throttle: options.throttle } : {}),
      lookup: options.lookup,
      ...(options.qop === undefined ? {} : { qop: options.qop }),
    });
    this.#statsTimer = options.clock.setTimer(1000, () => this.#copyStats());
  }

  // --- TransactionUser -----------------------------------------------------

  send(bytes: Uint8Array, remote: Endpoint, message: SipMessage): boolean {
    if (message.kind === 'request') this.#counters.add(`requests|out|${methodLabel(message.method)}`);
    else this.#counters.add(`responses|out|${statusClass(message.status)}`);
    return this.#options.send(bytes, remote);
  }

  onRequest(tx: ServerTransaction | undefined, request: SipRequest, remote: Endpoint): void {
    if (!tx) return; // ACK for a 2xx: dialogs (streams) handle it
    if (this.#options.events.upstream?.(tx, request, remote)) return;
    switch (request.method) {
      case 'REGISTER':
        void this.#register(tx, request, remote);
        return;
      case 'MESSAGE':
        void this.#message(tx, request, remote);
        return;
      case 'OPTIONS':
        tx.reply(200, 'OK', [['Allow', ALLOW], ['Accept', 'Application/MANSCDP+xml, application/sdp']]);
        return;
      case 'BYE': {
        const callId = request.headers.get('call-id') ?? '';
        const deviceId = this.dialogs.get(callId);
        if (deviceId === undefined) {
          tx.reply(481, 'Call/Transaction Does Not Exist');
          return;
        }
        this.dialogs.delete(callId);
        tx.reply(200, 'OK');
        this.#options.events.dialogEnded?.(callId, deviceId || undefined);
        return;
      }
      case 'CANCEL':
        tx.reply(481, 'Call/Transaction Does Not Exist');
        return;
      case 'NOTIFY': {
        const answer = this.#options.events.notify?.(request, remote) ?? { status: 200, reason: 'OK' };
        tx.reply(answer.status, answer.reason);
        return;
      }
      case 'INFO':
        tx.reply(200, 'OK');
        this.#options.events.log?.('debug', `${request.method} accepted`, { from: remote.address });
        return;
      case 'INVITE':
        // A device inviting the platform: a voice broadcast's camera (src/sip/broadcast.ts).
        if (this.#options.events.invite) this.#options.events.invite(tx, request, remote);
        else tx.reply(488, 'Not Acceptable Here');
        return;
      default:
        tx.reply(405, 'Method Not Allowed', [['Allow', ALLOW]]);
    }
  }

  onResponse(_tx: ClientTransaction | undefined, _response: SipResponse): void {
    // Responses are delivered to the per-request handlers given to sendRequest.
  }

  onTimeout(): void {
    this.#counters.add('transactions|timeout');
  }

  /** Feed a message from the transport. */
  receive(message: SipMessage, remote: Endpoint): void {
    if (message.kind === 'request') this.#counters.add(`requests|in|${methodLabel(message.method)}`);
    else this.#counters.add(`responses|in|${statusClass(message.status)}`);
    this.transactions.receive(message, remote);
  }

  /**
   * A datagram or stream segment that did not parse: counted, and a request whose
   * Via/From/To/Call-ID/CSeq could be read is answered `400 <reason>` (RFC 3261 §8.2).
   */
  malformed(remote: Endpoint, failure?: Extract<ParseResult, { ok: false }>): void {
    this.#counters.add(`malformed|${remote.transport.toLowerCase() === 'tcp' ? 'tcp' : 'udp'}`);
    if (failure) this.transactions.receiveParsed(failure, remote);
  }

  // --- REGISTER -------------------------------------------------------------

  async #register(tx: ServerTransaction, request: SipRequest, remote: Endpoint): Promise<void> {
    const outcome = await this.#registrar.handle(request, remote);
    tx.respond(outcome.response);
    switch (outcome.kind) {
      case 'challenge':
        this.#counters.add(outcome.stale ? 'auth|stale' : 'auth|challenge');
        return;
      case 'reject':
        this.#counters.add(
          COUNTED_REJECTS.has(outcome.reason) ? `auth|${outcome.reason}` : 'auth|other',
        );
        if (outcome.reason === 'throttled') return; // counted; logging each would flood the log
        this.#options.events.log?.('info', 'REGISTER rejected', { device: outcome.deviceId, reason: outcome.reason, from: remote.address });
        return;
      case 'unregister':
        this.#counters.add('registrations|unregister');
        this.presence.unregister(outcome.deviceId, 'unregistered');
        return;
      case 'register': {
        this.#counters.add('registrations|register');
        this.#options.trust?.(remote);
        const b = outcome.binding;
        const first = this.presence.register(b.deviceId, remote, b.contact, b.expires);
        this.#options.events.registered(b, first);
        return;
      }
    }
  }

  // --- MESSAGE --------------------------------------------------------------

  async #message(tx: ServerTransaction, request: SipRequest, remote: Endpoint): Promise<void> {
    const from = parseNameAddr(request.headers.get('from') ?? '');
    const deviceId = from ? parseUri(from.uri)?.user : undefined;
    if (!deviceId) {
      tx.reply(400, 'Bad Request');
      return;
    }
    const entry = this.presence.get(deviceId);
    // A channel ID in From (some NVRs answer queries that way) from the address
    // and port its device registered from: that device is the sender.
    const sender = entry ?? this.presence.findBySource(remote);
    if (!entry && sender) {
      tx.reply(200, 'OK');
      this.#options.events.manscdp(sender.deviceId, request.body, request.headers.get('content-type'), remote);
      return;
    }
    if (!entry) {
      this.#counters.add('keepalives|unregistered');
      // Unknown to the store: 404; known but not registered: 403, so it registers again.
      let known = false;
      try {
        known = (await this.#options.lookup(deviceId)).known;
      } catch {
        known = true;
      }
      tx.reply(known ? 403 : 404, known ? 'Forbidden' : 'Not Found');
      return;
    }
    if (entry.source.address !== remote.address) {
      this.#counters.add('keepalives|untrusted');
      this.#options.events.log?.('warn', 'MESSAGE from another address than the registration; refused', {
        device: deviceId,
        registered: entry.source.address,
        from: remote.address,
      });
      tx.reply(403, 'Forbidden');
      return;
    }
    tx.reply(200, 'OK');
    this.#options.events.manscdp(deviceId, request.body, request.headers.get('content-type'), remote);
  }

  /** Records a keepalive the MANSCDP layer recognised. */
  keepalive(deviceId: string, source: Endpoint): void {
    const verdict = this.presence.keepalive(deviceId, source);
    if (verdict === 'ok' || verdict === 'moved') {
      this.#counters.add('keepalives|ok');
      this.#options.events.keepalive(deviceId, source, verdict === 'moved');
    }
  }

  // --- Requests to devices -----------------------------------------------------

  /**
   * Sends an out-of-dialog request (MESSAGE by default) to a registered device at
   * the address it registered from, and resolves with the final response.
   */
  request(deviceId: string, options: { method?: string; body: Uint8Array; contentType: string; toUser?: string }): Promise<SipResponse> {
    const entry = this.presence.get(deviceId);
    if (!entry) return Promise.reject(new SipRequestError(`device ${deviceId} is not registered`, 404));
    const method = options.method ?? 'MESSAGE';
    const request = this.#outgoing(method, entry, options.toUser ?? deviceId, options.body, options.contentType);
    return new Promise((resolve, reject) => {
      this.#counters.add('transactions|client');
      this.transactions.sendRequest(request, entry.source, {
        onResponse: (response) => {
          if (response.status >= 200) {
            if (response.status < 300) resolve(response);
            else reject(new SipRequestError(`${method} answered ${response.status} ${response.reason}`, response.status));
          }
        },
        onTimeout: () => reject(new SipRequestError(`${method} to ${deviceId} timed out`, 408)),
        onTransportError: () => reject(new SipRequestError(`${method} to ${deviceId} could not be sent`, 503)),
      });
    });
  }

  /**
   * SUBSCRIBE (RFC 6665) to a registered device: resolves with the dialog the 2xx made;
   * rejects with SipRequestError for a non-2xx (e.g. 489 Bad Event, 403) or a time-out.
   */
  subscribe(deviceId: string, o: SubscribeOptions): Promise<SubscribeResult> {
    const entry = this.presence.get(deviceId);
    if (!entry) return Promise.reject(new SipRequestError(`device ${deviceId} is not registered`, 404));
    const { serverId, advertisedHost, advertisedPort } = this.#options;
    const localContact = `<sip:${serverId}@${advertisedHost}:${advertisedPort}>`;
    const callId = o.callId ?? `${randomToken(20)}@${advertisedHost}`;
    const request = this.#outgoing('SUBSCRIBE', entry, o.toUser ?? deviceId, o.body, o.contentType, {
      callId,
      headers: [
        ['Contact', localContact],
        ['Event', o.event],
        ['Expires', String(o.expires)],
      ],
    });
    return new Promise((resolve, reject) => {
      this.#counters.add('transactions|client');
      this.transactions.sendRequest(request, entry.source, {
        onResponse: (response) => {
          if (response.status < 200) return;
          if (response.status >= 300) {
            reject(new SipRequestError(`SUBSCRIBE answered ${response.status} ${response.reason}`, response.status));
            return;
          }
          const dialog = Dialog.fromUacResponse(request, response, localContact);
          if (!dialog) reject(new SipRequestError('SUBSCRIBE 2xx does not make a dialog', 502));
          else resolve({ dialog: dialog.toJSON(), response, callId });
        },
        onTimeout: () => reject(new SipRequestError(`SUBSCRIBE to ${deviceId} timed out`, 408)),
        onTransportError: () => reject(new SipRequestError(`SUBSCRIBE to ${deviceId} could not be sent`, 503)),
      });
    });
  }

  /**
   * A request inside an existing dialog (INFO with MANSRTSP in a playback INVITE dialog,
   * SUBSCRIBE refresh). Sent to where the device is now, else to `fallback`. Never rejects:
   * the result carries the status and the advanced dialog state.
   */
  inDialog(state: DialogState, deviceId: string, o: InDialogOptions, fallback?: Endpoint): Promise<InDialogResult> {
    const dialog = Dialog.fromJSON(state);
    const remote = this.presence.get(deviceId)?.source ?? fallback;
    if (!remote) return Promise.resolve({ status: 404, reason: `device ${deviceId} is not reachable`, dialog: dialog.toJSON() });
    const { advertisedHost, advertisedPort } = this.#options;
    const request = dialog.createRequest(o.method, {
      sentBy: { transport: remote.transport.toUpperCase(), host: advertisedHost, port: advertisedPort },
      ...(o.body === undefined ? {} : { body: o.body }),
      ...(o.contentType === undefined ? {} : { contentType: o.contentType }),
      headers: [['User-Agent', this.#options.userAgent ?? 'camgate'], ...(o.headers ?? [])],
    });
    const after = dialog.toJSON();
    return new Promise((resolve) => {
      this.#counters.add('transactions|client');
      this.transactions.sendRequest(request, remote, {
        onResponse: (response) => {
          if (response.status >= 200) resolve({ status: response.status, reason: response.reason, response, dialog: after });
        },
        onTimeout: () => resolve({ status: 408, reason: `${o.method} timed out`, dialog: after }),
        onTransportError: () => resolve({ status: 503, reason: `${o.method} could not be sent`, dialog: after }),
      });
    });
  }

  /** INVITE to a channel of a registered device; resolves once the 2xx is ACKed. */
  invite(o: InviteOptions): Promise<InviteResult> {
    const entry = this.presence.get(o.deviceId);
    if (!entry) return Promise.reject(new SipRequestError(`device ${o.deviceId} is not registered`, 404));
    const { serverId, domain, advertisedHost, advertisedPort } = this.#options;
    const transport = entry.source.transport.toUpperCase();
    const target = `sip:${o.channelId}@${domain}`;
    const localContact = `<sip:${serverId}@${advertisedHost}:${advertisedPort}>`;
    const invite = createRequest(
      'INVITE',
      target,
      [
        ['Via', formatVia({ transport, host: advertisedHost, port: advertisedPort, params: { rport: null, branch: newBranch() } })],
        ['From', `<sip:${serverId}@${domain}>;tag=${o.fromTag}`],
        ['To', `<${target}>`],
        ['Call-ID', o.callId],
        ['CSeq', '1 INVITE'],
        ['Contact', localContact],
        ['Max-Forwards', '70'],
        ['User-Agent', this.#options.userAgent ?? 'camgate'],
        ['Subject', o.subject],
        ['Content-Type', 'APPLICATION/SDP'],
      ],
      Buffer.from(o.sdp),
    );
    const source = entry.source;
    return new Promise((resolve, reject) => {
      this.#counters.add('transactions|client');
      this.transactions.sendRequest(invite, source, {
        onResponse: (response) => {
          if (response.status < 200) return;
          if (response.status >= 300) {
            reject(new SipRequestError(`INVITE answered ${response.status} ${response.reason}`, response.status));
            return;
          }
          const dialog = Dialog.fromUacResponse(invite, response, localContact);
          if (!dialog) {
            reject(new SipRequestError('INVITE 2xx does not make a dialog', 502));
            return;
          }
          const ack = dialog.createAck({ sentBy: { transport, host: advertisedHost, port: advertisedPort } });
          this.transactions.sendStateless(ack, source);
          this.dialogs.set(o.callId, o.deviceId);
          resolve({ dialog: dialog.toJSON(), answer: Buffer.from(response.body).toString('utf8'), source });
        },
        onTimeout: () => reject(new SipRequestError(`INVITE to ${o.channelId} timed out`, 408)),
        onTransportError: () => reject(new SipRequestError(`INVITE to ${o.channelId} could not be sent`, 503)),
      });
    });
  }

  /**
   * Ends a media dialog with BYE. It goes to where the device is now (its
   * registration), else to `fallback` (e.g. after a restart, from the stored row).
   * A BYE already in flight for the dialog is shared, not sent again: a second one
   * would reuse the CSeq with a new branch, a new transaction the device no longer
   * matches (RFC 3261 §12.2.1.1, §17.1.1).
   */
  bye(state: DialogState, deviceId: string, fallback?: Endpoint): Promise<number> {
    const pending = this.#byes.get(state.callId);
    if (pending) return pending;
    const promise = this.#bye(state, deviceId, fallback).finally(() => this.#byes.delete(state.callId));
    this.#byes.set(state.callId, promise);
    return promise;
  }

  #bye(state: DialogState, deviceId: string, fallback?: Endpoint): Promise<number> {
    this.dialogs.delete(state.callId);
    const remote = this.presence.get(deviceId)?.source ?? fallback;
    if (!remote) return Promise.reject(new SipRequestError(`device ${deviceId} is not reachable`, 404));
    const dialog = Dialog.fromJSON(state);
    const { advertisedHost, advertisedPort } = this.#options;
    const bye = dialog.createBye({ sentBy: { transport: remote.transport.toUpperCase(), host: advertisedHost, port: advertisedPort } });
    return new Promise((resolve, reject) => {
      this.transactions.sendRequest(bye, remote, {
        onResponse: (response) => {
          // 481: the device had already forgotten the call; the dialog is gone either way.
          if (response.status >= 200) resolve(response.status);
        },
        onTimeout: () => reject(new SipRequestError('BYE timed out', 408)),
        onTransportError: () => reject(new SipRequestError('BYE could not be sent', 503)),
      });
    });
  }

  #outgoing(
    method: string,
    entry: PresenceEntry,
    toUser: string,
    body: Uint8Array,
    contentType: string,
    extra: { callId?: string; headers?: Array<[string, string]> } = {},
  ): SipRequest {
    const { serverId, domain, advertisedHost, advertisedPort } = this.#options;
    const transport = entry.source.transport.toUpperCase();
    const target = `sip:${toUser}@${domain}`;
    return createRequest(
      method,
      target,
      [
        ['Via', formatVia({ transport, host: advertisedHost, port: advertisedPort, params: { rport: null, branch: newBranch() } })],
        ['From', `<sip:${serverId}@${domain}>;tag=${randomToken(10)}`],
        ['To', `<${target}>`],
        ['Call-ID', extra.callId ?? `${randomToken(20)}@${advertisedHost}`],
        ['CSeq', `1 ${method}`],
        ['Max-Forwards', '70'],
        ['User-Agent', this.#options.userAgent ?? 'camgate'],
        ...(extra.headers ?? []),
        ['Content-Type', contentType],
      ],
      body,
    );
  }

  #copied = { sent: 0, absorbed: 0 };

  /** Adds the transaction layer's new retransmissions to the shared (monotonic) counters. */
  #copyStats(): void {
    const s = this.transactions.stats;
    this.#counters.add('retransmissions|sent', s.retransmissionsSent - this.#copied.sent);
    this.#counters.add('retransmissions|absorbed', s.retransmissionsAbsorbed - this.#copied.absorbed);
    this.#copied = { sent: s.retransmissionsSent, absorbed: s.retransmissionsAbsorbed };
    this.#statsTimer = this.#options.clock.setTimer(1000, () => this.#copyStats());
  }

  close(): void {
    this.#options.clock.clearTimer(this.#statsTimer);
    this.presence.close();
    this.transactions.shutdown();
  }
}

