/**
 * RFC 3261 §12 dialog state and in-dialog request construction.
 *
 * Why: a GB28181 live/playback session is an INVITE dialog that outlives
 * restarts (streams are stored in the database, gb28181.md §9), so the state
 * is plain JSON (`toJSON`/`Dialog.fromJSON`) with no methods or Maps inside.
 * Building ACK/BYE/INFO here gets the details right that gosip got wrong: ACK
 * for a 2xx reuses the INVITE's CSeq number (not +1), requests go to the
 * remote target (Contact) through the route set, and each request has a fresh
 * branch.
 */
import {
  SIP_VERSION,
  SipHeaders,
  formatVia,
  getTag,
  parseCSeq,
  parseNameAddr,
  parseUri,
  type SipRequest,
  type SipResponse,
} from './message.js';
import { newBranch } from './random.js';

export interface DialogState {
  role: 'uac' | 'uas';
  /** `early` after a tagged 1xx, `confirmed` after a 2xx (or ACK on the UAS side). */
  phase: 'early' | 'confirmed';
  callId: string;
  localTag: string;
  remoteTag: string;
  /** Our From/To header value, including `;tag=`. */
  localAddress: string;
  /** Their From/To header value, including `;tag=`. */
  remoteAddress: string;
  /** URI from the peer's Contact: where in-dialog requests go (Request-URI). */
  remoteTarget: string;
  /** Record-Route URIs (as name-addr values) in the order requests must traverse them. */
  routeSet: string[];
  /** CSeq of our last request in this dialog (0 if none yet). */
  localSeq: number;
  /** CSeq of the peer's last request, null until one is seen. */
  remoteSeq: number | null;
  /** CSeq number of the INVITE that created the dialog: ACK for its 2xx reuses it. */
  inviteSeq: number;
  /** Our Contact value, added to target-refresh requests if set. */
  localContact?: string;
}

/** Our transport address, for the Via of in-dialog requests. */
export interface SentBy {
  transport: string;
  host: string;
  port?: number;
}

export interface InDialogRequestOptions {
  sentBy: SentBy;
  body?: Uint8Array;
  contentType?: string;
  headers?: Iterable<readonly [string, string]>;
  /** Defaults to a fresh z9hG4bK branch. */
  branch?: string;
  /** Add `rport` to the Via (RFC 3581), default true: GB devices are often behind NAT. */
  rport?: boolean;
}

export type DialogCheck = { ok: true } | { ok: false; status: number; reason: string };

function contactUri(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const addr = parseNameAddr(value.indexOf(',') < 0 ? value : value.slice(0, value.indexOf(',')));
  return addr?.uri;
}

function addressUri(value: string): string {
  return parseNameAddr(value)?.uri ?? value;
}

export class Dialog {
  readonly state: DialogState;

  constructor(state: DialogState) {
    this.state = { ...state, routeSet: [...state.routeSet] };
  }

  /**
   * UAC side (§12.1.2), from our INVITE and a 1xx/2xx carrying a To tag.
   * Returns null when the response cannot create a dialog.
   */
  static fromUacResponse(invite: SipRequest, response: SipResponse, localContact?: string): Dialog | null {
    if (response.status <= 100 || response.status >= 300) return null;
    const remoteAddress = response.headers.get('to');
    const localAddress = invite.headers.get('from');
    // §12.1.2: a 2xx without a To tag (RFC 2543 peers, some cheap devices) still
    // makes a dialog, with an empty remote tag; a tagless 1xx does not.
    const remoteTag = getTag(remoteAddress) ?? (response.status >= 200 ? '' : undefined);
    const localTag = getTag(localAddress);
    const callId = invite.headers.get('call-id');
    const cseq = parseCSeq(invite.headers.get('cseq'));
    if (remoteAddress === undefined || localAddress === undefined || remoteTag === undefined || localTag === undefined || callId === undefined || cseq === null) return null;
    const state: DialogState = {
      role: 'uac',
      phase: response.status < 200 ? 'early' : 'confirmed',
      callId,
      localTag,
      remoteTag,
      localAddress,
      remoteAddress,
      // Some devices omit Contact in the 200: fall back to the Request-URI we used.
      remoteTarget: contactUri(response.headers.get('contact')) ?? invite.uri,
      routeSet: response.headers.getList('record-route').reverse(),
      localSeq: cseq.seq,
      remoteSeq: null,
      inviteSeq: cseq.seq,
    };
    if (localContact !== undefined) state.localContact = localContact;
    return new Dialog(state);
  }

  /** UAS side (§12.1.1), from the received INVITE and the To tag we answer with. */
  static fromUasRequest(invite: SipRequest, localTag: string, localContact?: string): Dialog | null {
    const remoteAddress = invite.headers.get('from');
    const to = invite.headers.get('to');
    // A From without a tag (RFC 2543 client) means an empty remote tag (§12.1.1).
    const remoteTag = getTag(remoteAddress) ?? '';
    const callId = invite.headers.get('call-id');
    const cseq = parseCSeq(invite.headers.get('cseq'));
    if (remoteAddress === undefined || to === undefined || callId === undefined || cseq === null) return null;
    const state: DialogState = {
      role: 'uas',
      phase: 'early',
      callId,
      localTag,
      remoteTag,
      localAddress: getTag(to) === undefined ? `${to};tag=${localTag}` : to,
      remoteAddress,
      remoteTarget: contactUri(invite.headers.get('contact')) ?? addressUri(remoteAddress),
      routeSet: invite.headers.getList('record-route'),
      localSeq: 0,
      remoteSeq: cseq.seq,
      inviteSeq: cseq.seq,
    };
    if (localContact !== undefined) state.localContact = localContact;
    return new Dialog(state);
  }

  /** Restore from a stored row. */
  static fromJSON(json: DialogState | string): Dialog {
    return new Dialog(typeof json === 'string' ? (JSON.parse(json) as DialogState) : json);
  }

  toJSON(): DialogState {
    return { ...this.state, routeSet: [...this.state.routeSet] };
  }

  /** `callId;localTag;remoteTag`, the dialog id of §12. */
  get id(): string {
    return dialogId(this.state.callId, this.state.localTag, this.state.remoteTag);
  }

  /** A 2xx for the dialog's INVITE (UAC) or its ACK (UAS) confirms it; also refreshes the target. */
  confirm(message?: SipRequest | SipResponse): void {
    this.state.phase = 'confirmed';
    if (message === undefined) return;
    const target = contactUri(message.headers.get('contact'));
    if (target !== undefined) this.state.remoteTarget = target;
  }

  /**
   * Check an incoming in-dialog request (§12.2.2): CSeq must increase,
   * except ACK/CANCEL which reuse the INVITE's number. Updates remoteSeq and,
   * for target refreshes, the remote target.
   */
  receiveRequest(request: SipRequest): DialogCheck {
    const cseq = parseCSeq(request.headers.get('cseq'));
    if (cseq === null) return { ok: false, status: 400, reason: 'Bad CSeq' };
    if (request.method === 'ACK' || request.method === 'CANCEL') {
      if (request.method === 'ACK' && this.state.role === 'uas') this.confirm(request);
      return { ok: true };
    }
    if (this.state.remoteSeq !== null && cseq.seq <= this.state.remoteSeq) {
      return { ok: false, status: 500, reason: 'Server Internal Error' };
    }
    this.state.remoteSeq = cseq.seq;
    if (request.method === 'INVITE' || request.method === 'UPDATE') {
      const target = contactUri(request.headers.get('contact'));
      if (target !== undefined) this.state.remoteTarget = target;
    }
    return { ok: true };
  }

  /**
   * Build an in-dialog request (§12.2.1.1). ACK reuses the INVITE's CSeq
   * number; CANCEL is not an in-dialog request (use the client transaction).
   */
  createRequest(method: string, options: InDialogRequestOptions): SipRequest {
    if (method === 'CANCEL') throw new TypeError('CANCEL is built by the INVITE client transaction');
    const s = this.state;
    let seq: number;
    if (method === 'ACK') seq = s.inviteSeq;
    else {
      s.localSeq += 1;
      seq = s.localSeq;
    }
    // Loose routing (lr) keeps the remote target as Request-URI; a strict first
    // route becomes the Request-URI and the target goes last (§12.2.1.1).
    let requestUri = s.remoteTarget;
    let routes = s.routeSet;
    if (routes.length > 0) {
      const first = parseNameAddr(routes[0]!);
      const firstUri = first === null ? null : parseUri(first.uri);
      if (first !== null && firstUri !== null && !('lr' in firstUri.params)) {
        requestUri = first.uri;
        routes = [...routes.slice(1), `<${s.remoteTarget}>`];
      }
    }
    const headers = new SipHeaders();
    headers.append(
      'Via',
      formatVia({
        transport: options.sentBy.transport,
        host: options.sentBy.host,
        port: options.sentBy.port,
        branch: options.branch ?? newBranch(),
        rport: options.rport !== false,
      }),
    );
    for (const route of routes) headers.append('Route', route);
    headers.append('Max-Forwards', '70');
    headers.append('From', s.localAddress);
    headers.append('To', s.remoteAddress);
    headers.append('Call-ID', s.callId);
    headers.append('CSeq', `${seq} ${method}`);
    if (s.localContact !== undefined && (method === 'INVITE' || method === 'UPDATE' || method === 'SUBSCRIBE' || method === 'NOTIFY')) {
      headers.append('Contact', s.localContact);
    }
    if (options.headers !== undefined) for (const [name, value] of options.headers) headers.append(name, value);
    const body = options.body ?? new Uint8Array(0);
    if (body.length > 0 && options.contentType !== undefined) headers.append('Content-Type', options.contentType);
    headers.append('Content-Length', String(body.length));
    return { kind: 'request', method, uri: requestUri, version: SIP_VERSION, headers, body };
  }

  /** ACK for the 2xx to the dialog's INVITE (§13.2.2.4): same CSeq number, new branch, sent without a transaction. */
  createAck(options: InDialogRequestOptions): SipRequest {
    return this.createRequest('ACK', options);
  }

  createBye(options: InDialogRequestOptions): SipRequest {
    return this.createRequest('BYE', options);
  }

  /** INFO, e.g. MANSRTSP playback control (`Application/MANSRTSP`). */
  createInfo(options: InDialogRequestOptions): SipRequest {
    return this.createRequest('INFO', options);
  }

  createMessage(options: InDialogRequestOptions): SipRequest {
    return this.createRequest('MESSAGE', options);
  }
}

export function dialogId(callId: string, localTag: string, remoteTag: string): string {
  return `${callId};${localTag};${remoteTag}`;
}

/**
 * The dialog id an incoming message belongs to, from our point of view: for a
 * request we receive, our tag is in To; for a response we receive, in From.
 * Undefined if a tag is missing (out-of-dialog).
 */
export function dialogIdOf(message: SipRequest | SipResponse): string | undefined {
  const callId = message.headers.get('call-id');
  const fromTag = getTag(message.headers.get('from'));
  const toTag = getTag(message.headers.get('to'));
  if (callId === undefined || fromTag === undefined || toTag === undefined) return undefined;
  return message.kind === 'request' ? dialogId(callId, toTag, fromTag) : dialogId(callId, fromTag, toTag);
}
