/**
 * RFC 3261 §17 transactions (client and server, INVITE and non-INVITE) and the
 * layer that matches messages to them.
 *
 * Why: GB28181 devices mostly speak UDP, and gosip lost requests on one dropped
 * packet and re-processed every retransmitted REGISTER/MESSAGE (gb28181.md
 * §6.1, §12.3). Here requests are retransmitted with Timers A/E (UDP only),
 * retransmitted requests are absorbed by replaying the last response, and
 * transactions are keyed by branch (+ sent-by + method), not Call-ID.
 *
 * Sans-I/O: the layer never touches a socket or setTimeout. It gets
 * `receive(message, remote)` calls and a {@link Clock}; it answers through the
 * {@link TransactionUser} callbacks (`send`, `onRequest`, `onResponse`, ...).
 * Responses from server transactions go to the request's source address
 * (RFC 3581 rport behaviour, what NAT'd devices need).
 *
 * RFC 6026 is applied to INVITE 2xx: the client transaction stays "accepted"
 * for 64*T1 passing 2xx retransmissions to the TU (which re-sends its ACK), and
 * the server transaction retransmits its 2xx until the ACK (RFC 3261 §13.3.1.4)
 * so the TU does not need timers of its own.
 */
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import {
  BRANCH_MAGIC_COOKIE,
  SipHeaders,
  getTag,
  parseCSeq,
  splitHeaderList,
  stampViaReceived,
  topVia,
  viaSentBy,
  type SipMessage,
  type SipRequest,
  type SipResponse,
  type Via,
} from './message.js';
import { newBranch, randomToken } from './random.js';
import { buildResponse, serializeMessage, type BuildResponseOptions, type ExtraHeaders } from './serializer.js';
import { answerable, type FramerResult, type ParseResult } from './parser.js';

/** Where a message came from or goes to. */
export interface Endpoint {
  /** `UDP`, `TCP`, `TLS`, `WS`, `WSS` (case-insensitive). */
  transport: string;
  address: string;
  port: number;
  /** Opaque id of the stream connection, for transports that must reply on the same socket. */
  connectionId?: string | number;
}

/** Every transport but UDP delivers reliably (RFC 3261 §17: no retransmission timers). */
export function isReliable(transport: string): boolean {
  return transport.toUpperCase() !== 'UDP';
}

export interface TimerConfig {
  /** RTT estimate, default 500 ms. */
  T1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s. */
  T2: number;
  /** Maximum time a message stays in the network, default 5 s. */
  T4: number;
  /**
   * Give up on an INVITE client transaction stuck in Proceeding after this long
   * (RFC 3261 §16.6 Timer C idea, > 3 min). GB devices that send 100 and then
   * nothing would otherwise hang forever. 0 disables.
   */
  timerC: number;
  /** An INVITE server transaction sends 100 Trying if the TU has not answered within this (§17.2.1: 200 ms). */
  trying100Delay: number;
}

export const DEFAULT_TIMERS: Readonly<TimerConfig> = { T1: 500, T2: 4000, T4: 5000, timerC: 180_000, trying100Delay: 200 };

export type TransactionState = 'calling' | 'trying' | 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';

export type Transaction = ClientTransaction | ServerTransaction;

/** Callbacks of the transaction user (the registrar/UA core). */
export interface TransactionUser {
  /** Put bytes on the wire. Return `false` to report an immediate transport failure (§17.1.4, §17.2.4). */
  send(bytes: Uint8Array, remote: Endpoint, message: SipMessage): boolean | void;
  /**
   * A new request. `tx` is the server transaction to answer through; it is
   * undefined for ACK (ACK to a 2xx is its own transaction-less request, §17.1.1.3).
   */
  onRequest(tx: ServerTransaction | undefined, request: SipRequest, remote: Endpoint): void;
  /**
   * A response for a client transaction, or a stray INVITE 2xx whose
   * transaction is gone (`tx` undefined): the TU must ACK it again.
   */
  onResponse(tx: ClientTransaction | undefined, response: SipResponse, remote: Endpoint): void;
  /** Timer B/F/C (client: treat as 408) or Timer H / missing 2xx ACK (server). */
  onTimeout?(tx: Transaction): void;
  /** `send` returned false (client: treat as 503). */
  onTransportError?(tx: Transaction): void;
  onTerminated?(tx: Transaction): void;
}

/** Per-request overrides of the TU callbacks, handy for request/response style code. */
export interface ClientTransactionHandlers {
  onResponse?(response: SipResponse, tx: ClientTransaction): void;
  onTimeout?(tx: ClientTransaction): void;
  onTransportError?(tx: ClientTransaction): void;
}

export interface TransactionLayerOptions {
  clock?: Clock;
  timers?: Partial<TimerConfig>;
  /** Add `received`/`rport` to the top Via of incoming requests (§18.2.1, RFC 3581). Default true. */
  stampVia?: boolean;
}

export interface TransactionStats {
  requestsReceived: number;
  responsesReceived: number;
  retransmissionsAbsorbed: number;
  strayResponses: number;
  invalidMessages: number;
  retransmissionsSent: number;
  timeouts: number;
}

abstract class TransactionBase {
  state: TransactionState;
  readonly key: string;
  readonly request: SipRequest;
  readonly remote: Endpoint;
  readonly reliable: boolean;
  readonly isInvite: boolean;
  /** Branch of the top Via (the RFC 3261 transaction id). */
  readonly branch: string;
  protected readonly layer: TransactionLayer;
  private readonly timers = new Map<string, TimerHandle>();

  constructor(layer: TransactionLayer, key: string, request: SipRequest, remote: Endpoint, branch: string, initial: TransactionState) {
    this.layer = layer;
    this.key = key;
    this.request = request;
    this.remote = remote;
    this.branch = branch;
    this.reliable = isReliable(remote.transport);
    this.isInvite = request.method === 'INVITE';
    this.state = initial;
  }

  protected startTimer(name: string, ms: number, fn: () => void): void {
    // A send failure can terminate us mid-transition; never leave a timer behind.
    if (this.state === 'terminated') return;
    this.stopTimer(name);
    const handle = this.layer.clock.setTimer(ms, () => {
      this.timers.delete(name);
      if (this.state !== 'terminated') fn();
    });
    this.timers.set(name, handle);
  }

  protected stopTimer(name: string): void {
    const handle = this.timers.get(name);
    if (handle !== undefined) {
      this.layer.clock.clearTimer(handle);
      this.timers.delete(name);
    }
  }

  /** Names of running timers (for tests and debugging). */
  get activeTimers(): string[] {
    return [...this.timers.keys()];
  }

  /** Send bytes; on failure run the §17.1.4/§17.2.4 transport-error path. */
  protected transmit(bytes: Uint8Array, message: SipMessage): boolean {
    if (this.layer.tu.send(bytes, this.remote, message) === false) {
      this.transportError();
      return false;
    }
    return true;
  }

  protected abstract transportError(): void;

  /** Stop all timers and forget the transaction. Safe to call twice. */
  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    for (const handle of this.timers.values()) this.layer.clock.clearTimer(handle);
    this.timers.clear();
    this.layer.forget(this as unknown as Transaction);
  }

  /** Terminate now on reliable transports, after `ms` otherwise (Timers D, I, J, K). */
  protected lingerThenTerminate(name: string, ms: number): void {
    if (ms <= 0) this.terminate();
    else this.startTimer(name, ms, () => this.terminate());
  }
}

/** RFC 3261 §17.1.1 (INVITE) and §17.1.2 (non-INVITE) client transaction. */
export class ClientTransaction extends TransactionBase {
  readonly kind = 'client' as const;
  /** Last response received (provisional or final). */
  lastResponse: SipResponse | undefined;
  private readonly bytes: Uint8Array;
  private readonly handlers: ClientTransactionHandlers | undefined;
  private ackBytes: Uint8Array | undefined;
  private ack: SipRequest | undefined;
  private cancelPending = false;

  constructor(layer: TransactionLayer, key: string, request: SipRequest, remote: Endpoint, branch: string, handlers?: ClientTransactionHandlers) {
    super(layer, key, request, remote, branch, request.method === 'INVITE' ? 'calling' : 'trying');
    this.bytes = serializeMessage(request);
    this.handlers = handlers;
  }

  /** @internal */
  start(): void {
    const { T1 } = this.layer.timers;
    if (!this.transmit(this.bytes, this.request)) return;
    if (this.isInvite) {
      if (!this.reliable) this.scheduleRetransmit('A', T1);
      this.startTimer('B', 64 * T1, () => this.timeout());
    } else {
      if (!this.reliable) this.scheduleRetransmit('E', T1);
      this.startTimer('F', 64 * T1, () => this.timeout());
    }
  }

  private scheduleRetransmit(name: 'A' | 'E', interval: number): void {
    this.startTimer(name, interval, () => {
      if (!this.transmit(this.bytes, this.request)) return;
      this.layer.stats.retransmissionsSent++;
      const { T2 } = this.layer.timers;
      if (name === 'A') this.scheduleRetransmit('A', 2 * interval);
      // §17.1.2.2: doubling capped at T2 while Trying, T2 flat once Proceeding.
      else this.scheduleRetransmit('E', this.state === 'proceeding' ? T2 : Math.min(2 * interval, T2));
    });
  }

  /** @internal */
  receiveResponse(response: SipResponse, remote: Endpoint): void {
    const status = response.status;
    const { T1, timerC } = this.layer.timers;
    if (this.isInvite) {
      switch (this.state) {
        case 'calling':
        case 'proceeding':
          if (status < 200) {
            this.stopTimer('A');
            this.stopTimer('B');
            // Timer C restarts on every provisional (RFC 3261 §16.6 step 11).
            if (timerC > 0) this.startTimer('C', timerC, () => this.timeout());
            this.state = 'proceeding';
            this.deliver(response, remote);
            if (this.cancelPending) {
              this.cancelPending = false;
              this.sendCancel();
            }
          } else if (status < 300) {
            // RFC 6026 §7.2: Accepted; 2xx retransmissions go to the TU for Timer M = 64*T1.
            this.stopTimer('A');
            this.stopTimer('B');
            this.stopTimer('C');
            this.state = 'accepted';
            this.startTimer('M', 64 * T1, () => this.terminate());
            this.deliver(response, remote);
          } else {
            this.stopTimer('A');
            this.stopTimer('B');
            this.stopTimer('C');
            this.state = 'completed';
            this.sendAck(response);
            this.deliver(response, remote);
            // Timer D: >= 32 s on UDP to absorb final-response retransmissions.
            this.lingerThenTerminate('D', this.reliable ? 0 : Math.max(32_000, 64 * T1));
          }
          return;
        case 'accepted':
          if (status >= 200 && status < 300) this.deliver(response, remote);
          return;
        case 'completed':
          // §17.1.1.2: a retransmitted final response gets the same ACK again.
          if (status >= 300 && this.ackBytes !== undefined && this.ack !== undefined) {
            this.layer.stats.retransmissionsAbsorbed++;
            this.transmit(this.ackBytes, this.ack);
          }
          return;
        default:
          return;
      }
    }
    switch (this.state) {
      case 'trying':
      case 'proceeding':
        if (status < 200) {
          // Timer E keeps running; from now on it re-arms at T2 (§17.1.2.2).
          this.state = 'proceeding';
          this.deliver(response, remote);
        } else {
          this.stopTimer('E');
          this.stopTimer('F');
          this.state = 'completed';
          this.deliver(response, remote);
          if (this.state === 'completed') this.lingerThenTerminate('K', this.reliable ? 0 : this.layer.timers.T4);
        }
        return;
      case 'completed':
        this.layer.stats.retransmissionsAbsorbed++;
        return;
      default:
        return;
    }
  }

  private deliver(response: SipResponse, remote: Endpoint): void {
    this.lastResponse = response;
    if (this.handlers?.onResponse !== undefined) this.handlers.onResponse(response, this);
    else this.layer.tu.onResponse(this, response, remote);
  }

  private timeout(): void {
    this.layer.stats.timeouts++;
    this.terminate();
    if (this.handlers?.onTimeout !== undefined) this.handlers.onTimeout(this);
    else this.layer.tu.onTimeout?.(this);
  }

  protected transportError(): void {
    this.terminate();
    if (this.handlers?.onTransportError !== undefined) this.handlers.onTransportError(this);
    else this.layer.tu.onTransportError?.(this);
  }

  /** §17.1.1.3: ACK for a non-2xx final response, inside this transaction. */
  private sendAck(response: SipResponse): void {
    const req = this.request;
    const headers = new SipHeaders();
    const via = req.headers.get('via');
    if (via !== undefined) headers.append('Via', via.indexOf(',') < 0 ? via : splitHeaderList(via)[0]!);
    for (const route of req.headers.getAll('route')) headers.append('Route', route);
    headers.append('Max-Forwards', '70');
    headers.append('From', req.headers.get('from') ?? '');
    headers.append('To', response.headers.get('to') ?? req.headers.get('to') ?? '');
    headers.append('Call-ID', req.headers.get('call-id') ?? '');
    headers.append('CSeq', `${parseCSeq(req.headers.get('cseq'))?.seq ?? 1} ACK`);
    headers.append('Content-Length', '0');
    this.ack = { kind: 'request', method: 'ACK', uri: req.uri, version: 'SIP/2.0', headers, body: new Uint8Array(0) };
    this.ackBytes = serializeMessage(this.ack);
    this.transmit(this.ackBytes, this.ack);
  }

  /**
   * Cancel this INVITE (RFC 3261 §9.1). Before any provisional response the
   * CANCEL is held back and sent when one arrives, as §9.1 requires.
   * Returns the CANCEL client transaction when sent now.
   */
  cancel(handlers?: ClientTransactionHandlers): ClientTransaction | undefined {
    if (!this.isInvite) throw new TypeError('only INVITE transactions can be cancelled');
    if (this.state === 'calling') {
      this.cancelPending = true;
      return undefined;
    }
    if (this.state !== 'proceeding') return undefined;
    return this.sendCancel(handlers);
  }

  private sendCancel(handlers?: ClientTransactionHandlers): ClientTransaction {
    const req = this.request;
    const headers = new SipHeaders();
    const via = req.headers.get('via')!;
    headers.append('Via', via.indexOf(',') < 0 ? via : splitHeaderList(via)[0]!);
    for (const route of req.headers.getAll('route')) headers.append('Route', route);
    headers.append('Max-Forwards', '70');
    headers.append('From', req.headers.get('from') ?? '');
    headers.append('To', req.headers.get('to') ?? '');
    headers.append('Call-ID', req.headers.get('call-id') ?? '');
    headers.append('CSeq', `${parseCSeq(req.headers.get('cseq'))?.seq ?? 1} CANCEL`);
    headers.append('Content-Length', '0');
    const cancel: SipRequest = { kind: 'request', method: 'CANCEL', uri: req.uri, version: 'SIP/2.0', headers, body: new Uint8Array(0) };
    return this.layer.sendRequest(cancel, this.remote, handlers);
  }
}

/** RFC 3261 §17.2.1 (INVITE) and §17.2.2 (non-INVITE) server transaction. */
export class ServerTransaction extends TransactionBase {
  readonly kind = 'server' as const;
  /** To tag used for every response built with {@link ServerTransaction.reply}. */
  readonly toTag: string;
  lastResponse: SipResponse | undefined;
  private lastBytes: Uint8Array | undefined;
  /** @internal Call-ID/CSeq/From-tag key for matching the ACK of a 2xx. */
  ackKey: string | undefined;
  /** True once the ACK for our 2xx has arrived. */
  acked = false;

  constructor(layer: TransactionLayer, key: string, request: SipRequest, remote: Endpoint, branch: string) {
    super(layer, key, request, remote, branch, request.method === 'INVITE' ? 'proceeding' : 'trying');
    this.toTag = getTag(request.headers.get('to')) ?? randomToken(12);
  }

  /** @internal */
  start(): void {
    if (!this.isInvite) return;
    const delay = this.layer.timers.trying100Delay;
    if (delay <= 0) this.respond(buildResponse(this.request, 100));
    else
      this.startTimer('Trying', delay, () => {
        if (this.state === 'proceeding' && this.lastResponse === undefined) this.respond(buildResponse(this.request, 100));
      });
  }

  /** Build (RFC 3261 §8.2.6, with this transaction's To tag) and send a response. */
  reply(status: number, reason?: string, extraHeaders?: ExtraHeaders, options: BuildResponseOptions = {}): SipResponse {
    const response = buildResponse(this.request, status, reason, extraHeaders, { ...options, toTag: options.toTag ?? this.toTag });
    this.respond(response);
    return response;
  }

  /** Send a response the TU built itself. Throws if the transaction already sent a final response. */
  respond(response: SipResponse): void {
    const status = response.status;
    const { T1 } = this.layer.timers;
    if (this.state !== 'trying' && this.state !== 'proceeding') {
      throw new Error(`cannot send ${status} in state ${this.state}`);
    }
    this.stopTimer('Trying');
    this.lastResponse = response;
    this.lastBytes = serializeMessage(response);
    if (status < 200) {
      this.state = 'proceeding';
      this.transmit(this.lastBytes, response);
      return;
    }
    if (!this.isInvite) {
      this.state = 'completed';
      if (!this.transmit(this.lastBytes, response)) return;
      // Timer J: absorb request retransmissions for 64*T1 on UDP.
      this.lingerThenTerminate('J', this.reliable ? 0 : 64 * T1);
      return;
    }
    if (status < 300) {
      // RFC 6026 Accepted + RFC 3261 §13.3.1.4: retransmit the 2xx until the ACK arrives.
      this.state = 'accepted';
      if (!this.transmit(this.lastBytes, response)) return;
      this.ackKey = ackMatchKey(this.request);
      this.layer.awaitAck(this);
      if (!this.reliable) this.scheduleRetransmit('G2xx', T1);
      this.startTimer('L', 64 * T1, () => {
        // No ACK: the session should be torn down by the TU (§13.3.1.4).
        this.layer.stats.timeouts++;
        this.terminate();
        this.layer.tu.onTimeout?.(this);
      });
      return;
    }
    this.state = 'completed';
    if (!this.transmit(this.lastBytes, response)) return;
    if (!this.reliable) this.scheduleRetransmit('G', T1);
    this.startTimer('H', 64 * T1, () => {
      this.layer.stats.timeouts++;
      this.terminate();
      this.layer.tu.onTimeout?.(this);
    });
  }

  private scheduleRetransmit(name: 'G' | 'G2xx', interval: number): void {
    this.startTimer(name, interval, () => {
      if (this.lastBytes === undefined || this.lastResponse === undefined) return;
      if (!this.transmit(this.lastBytes, this.lastResponse)) return;
      this.layer.stats.retransmissionsSent++;
      this.scheduleRetransmit(name, Math.min(2 * interval, this.layer.timers.T2));
    });
  }

  /** @internal A retransmission of the request or an ACK matched this transaction. */
  receiveRequest(request: SipRequest, remote: Endpoint): void {
    if (request.method === 'ACK') {
      if (this.state === 'completed') {
        // §17.2.1: ACK for a non-2xx is absorbed; Timer I soaks up further ACKs.
        this.stopTimer('G');
        this.stopTimer('H');
        this.state = 'confirmed';
        this.lingerThenTerminate('I', this.reliable ? 0 : this.layer.timers.T4);
      } else if (this.state === 'accepted') {
        // An ACK for our 2xx that reused the INVITE branch (RFC 2543 peers).
        this.ackReceived(request, remote);
        return;
      }
      this.layer.stats.retransmissionsAbsorbed++;
      return;
    }
    this.layer.stats.retransmissionsAbsorbed++;
    // Retransmitted request: replay the last response (§17.2.1, §17.2.2); absorb in Trying/Accepted.
    if (this.state === 'proceeding' || this.state === 'completed') {
      if (this.lastBytes !== undefined && this.lastResponse !== undefined) this.transmit(this.lastBytes, this.lastResponse);
    }
  }

  /** @internal The ACK for our 2xx arrived: stop retransmitting, pass it to the TU. */
  ackReceived(ack: SipRequest, remote: Endpoint): void {
    if (this.state === 'accepted' && !this.acked) {
      this.acked = true;
      this.stopTimer('G2xx');
      this.stopTimer('L');
      // Keep absorbing INVITE retransmissions for the rest of Timer L's span.
      this.lingerThenTerminate('L', this.reliable ? 0 : 64 * this.layer.timers.T1);
      this.layer.tu.onRequest(undefined, ack, remote);
    } else {
      this.layer.stats.retransmissionsAbsorbed++;
    }
  }

  protected transportError(): void {
    this.terminate();
    this.layer.tu.onTransportError?.(this);
  }
}

function ackMatchKey(req: SipMessage): string | undefined {
  const cseq = parseCSeq(req.headers.get('cseq'));
  const id = req.headers.get('call-id');
  if (cseq === null || id === undefined) return undefined;
  return `${id}|${cseq.seq}|${getTag(req.headers.get('from')) ?? ''}`;
}

/** Matches messages to transactions and owns their lifetimes. */
export class TransactionLayer {
  /** @internal */ readonly tu: TransactionUser;
  /** @internal */ readonly clock: Clock;
  readonly timers: Readonly<TimerConfig>;
  readonly stats: TransactionStats = {
    requestsReceived: 0,
    responsesReceived: 0,
    retransmissionsAbsorbed: 0,
    strayResponses: 0,
    invalidMessages: 0,
    retransmissionsSent: 0,
    timeouts: 0,
  };
  private readonly stampVia: boolean;
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly servers = new Map<string, ServerTransaction>();
  private readonly awaitingAck = new Map<string, ServerTransaction>();

  constructor(tu: TransactionUser, options: TransactionLayerOptions = {}) {
    this.tu = tu;
    this.clock = options.clock ?? systemClock;
    this.timers = { ...DEFAULT_TIMERS, ...options.timers };
    this.stampVia = options.stampVia !== false;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  get serverCount(): number {
    return this.servers.size;
  }

  /**
   * Feed a parse/framer result. A good message goes to {@link receive}; a
   * request that parsed but failed the checks (RFC 4475 style: bad CSeq,
   * missing From...) gets a stateless `400 <reason>` when it still has a
   * usable Via, so devices see why; anything else is counted and dropped.
   */
  receiveParsed(result: ParseResult | FramerResult, remote: Endpoint): void {
    if (result.ok) {
      this.receive(result.message, remote);
      return;
    }
    this.stats.invalidMessages++;
    const partial = result.partial;
    if (partial === undefined || partial.kind !== 'request' || partial.method === 'ACK') return;
    if (!answerable(partial)) return;
    if (this.stampVia) stampViaReceived(partial, remote.address, remote.port);
    this.sendStateless(buildResponse(partial, result.status ?? 400, result.reason), remote);
  }

  /** Feed one parsed incoming message. */
  receive(message: SipMessage, remote: Endpoint): void {
    if (message.kind === 'request') this.receiveRequest(message, remote);
    else this.receiveResponse(message, remote);
  }

  private receiveRequest(request: SipRequest, remote: Endpoint): void {
    this.stats.requestsReceived++;
    const via = topVia(request);
    const key = via === null ? null : serverKey(request, via, request.method === 'ACK' ? 'INVITE' : request.method);
    if (key === null || via === null) {
      this.stats.invalidMessages++;
      return;
    }
    if (this.stampVia) stampViaReceived(request, remote.address, remote.port, via);
    const existing = this.servers.get(key);
    if (existing !== undefined) {
      existing.receiveRequest(request, remote);
      return;
    }
    if (request.method === 'ACK') {
      // ACK for a 2xx: a new branch, matched to the INVITE by dialog identifiers.
      const ackKey = ackMatchKey(request);
      const invite = ackKey === undefined ? undefined : this.awaitingAck.get(ackKey);
      if (invite !== undefined) invite.ackReceived(request, remote);
      else this.tu.onRequest(undefined, request, remote);
      return;
    }
    const tx = new ServerTransaction(this, key, request, remote, via.branch ?? '');
    this.servers.set(key, tx);
    tx.start();
    this.tu.onRequest(tx, request, remote);
  }

  private receiveResponse(response: SipResponse, remote: Endpoint): void {
    this.stats.responsesReceived++;
    // §18.1.2: a response with more than one Via is misrouted; discard it (RFC 4475 bcast-style).
    const vias = response.headers.getList('via');
    if (vias.length !== 1) {
      this.stats.invalidMessages++;
      return;
    }
    const via = topVia(response);
    const cseq = parseCSeq(response.headers.get('cseq'));
    if (via === null || cseq === null || via.branch === undefined) {
      this.stats.invalidMessages++;
      return;
    }
    const tx = this.clients.get(clientKey(via.branch, cseq.method));
    if (tx !== undefined) {
      tx.receiveResponse(response, remote);
      return;
    }
    if (cseq.method === 'INVITE' && response.status >= 200 && response.status < 300) {
      // §13.2.2.4: 2xx retransmissions after the transaction ended still need an ACK from the TU.
      this.tu.onResponse(undefined, response, remote);
      return;
    }
    this.stats.strayResponses++;
  }

  /**
   * Start a client transaction for `request` towards `remote`. The request
   * must have a top Via; a branch with the RFC 3261 cookie is added if missing.
   * Do not use for ACK (see {@link TransactionLayer.sendStateless}).
   * If the first send fails, onTransportError runs before this returns.
   */
  sendRequest(request: SipRequest, remote: Endpoint, handlers?: ClientTransactionHandlers): ClientTransaction {
    if (request.method === 'ACK') throw new TypeError('ACK is sent without a transaction: use sendStateless()');
    let via = topVia(request);
    if (via === null) throw new TypeError('request needs a Via header');
    if (via.branch === undefined || !via.branch.startsWith(BRANCH_MAGIC_COOKIE)) {
      const first = request.headers.get('via')!;
      const list = first.indexOf(',') < 0 ? [first] : splitHeaderList(first);
      list[0] = `${list[0]};branch=${newBranch()}`;
      if (via.branch !== undefined) throw new TypeError('Via branch must start with z9hG4bK');
      request.headers.setFirst('via', list.join(', '));
      via = topVia(request)!;
    }
    const key = clientKey(via.branch!, request.method);
    if (this.clients.has(key)) throw new Error(`duplicate client transaction ${key}`);
    const tx = new ClientTransaction(this, key, request, remote, via.branch!, handlers);
    this.clients.set(key, tx);
    tx.start();
    return tx;
  }

  /** Send without a transaction (ACK for 2xx, stateless replies). Returns false on transport failure. */
  sendStateless(message: SipMessage, remote: Endpoint): boolean {
    return this.tu.send(serializeMessage(message), remote, message) !== false;
  }

  /** The INVITE server transaction a CANCEL refers to (§9.2), if still alive. */
  findInviteForCancel(cancel: SipRequest): ServerTransaction | undefined {
    const via = topVia(cancel);
    const key = via === null ? null : serverKey(cancel, via, 'INVITE');
    return key === null ? undefined : this.servers.get(key);
  }

  /** Stop every timer and drop every transaction (worker shutdown). */
  shutdown(): void {
    for (const tx of [...this.clients.values(), ...this.servers.values()]) tx.terminate();
    this.awaitingAck.clear();
  }

  /** @internal */
  awaitAck(tx: ServerTransaction): void {
    if (tx.ackKey !== undefined) this.awaitingAck.set(tx.ackKey, tx);
  }

  /** @internal */
  forget(tx: Transaction): void {
    if (tx.kind === 'client') {
      if (this.clients.get(tx.key) === tx) this.clients.delete(tx.key);
    } else {
      if (this.servers.get(tx.key) === tx) this.servers.delete(tx.key);
      if (tx.ackKey !== undefined && this.awaitingAck.get(tx.ackKey) === tx) this.awaitingAck.delete(tx.ackKey);
    }
    this.tu.onTerminated?.(tx);
  }
}

function clientKey(branch: string, method: string): string {
  return `${branch}\u0000${method}`;
}

/**
 * §17.2.3 server matching key: branch + sent-by + method when the branch has
 * the magic cookie; otherwise the RFC 2543 identifiers (Request-URI, From tag,
 * Call-ID, CSeq number, top Via). `method` is INVITE for an ACK.
 */
function serverKey(request: SipRequest, via: Via, method: string): string | null {
  if (via.branch !== undefined && via.branch.startsWith(BRANCH_MAGIC_COOKIE)) {
    return `${via.branch}\u0000${viaSentBy(via)}\u0000${method}`;
  }
  const cseq = parseCSeq(request.headers.get('cseq'));
  if (cseq === null) return null;
  const first = request.headers.get('via')!;
  const rawTopVia = first.indexOf(',') < 0 ? first : splitHeaderList(first)[0]!;
  return `2543\u0000${request.uri}\u0000${getTag(request.headers.get('from')) ?? ''}\u0000${request.headers.get('call-id') ?? ''}\u0000${cseq.seq}\u0000${rawTopVia}\u0000${method}`;
}
