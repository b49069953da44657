/**
 * SIP message serialisation and RFC 3261 §8.2.6 response construction.
 *
 * Why: Content-Length must always equal the body's byte length (a GB2312 body
 * has fewer bytes than a UTF-8 rendering of the same text, and a stale header
 * desynchronises TCP framing), so the serializer owns that header. Responses
 * are built from the request the RFC way (all Vias, From, To + tag, Call-ID,
 * CSeq), fixing gosip's missing To-tag.
 */
import {
  SIP_VERSION,
  SipHeaders,
  getTag,
  randomToken,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from './message.js';

/** Default reason phrases (RFC 3261 §21 and common extensions). */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  200: 'OK',
  202: 'Accepted',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  420: 'Bad Extension',
  423: 'Interval Too Brief',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  489: 'Bad Event',
  491: 'Request Pending',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  600: 'Busy Everywhere',
  603: 'Decline',
};

export function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? (status < 200 ? 'Provisional' : status < 300 ? 'OK' : 'Error');
}

/** Start line plus headers, with Content-Length rewritten to the body's byte length. */
function headText(msg: SipMessage): string {
  let out =
    msg.kind === 'request'
      ? `${msg.method} ${msg.uri} ${msg.version || SIP_VERSION}\r\n`
      : `${msg.version || SIP_VERSION} ${msg.status} ${msg.reason}\r\n`;
  let wroteLength = false;
  for (const h of msg.headers) {
    if (h.name === 'Content-Length') {
      if (wroteLength) continue;
      wroteLength = true;
      out += `Content-Length: ${msg.body.length}\r\n`;
      continue;
    }
    out += `${h.name}: ${h.value}\r\n`;
  }
  if (!wroteLength) out += `Content-Length: ${msg.body.length}\r\n`;
  return out + '\r\n';
}

/** Serialise to wire bytes (headers UTF-8, body copied as-is). */
export function serializeMessage(msg: SipMessage): Buffer {
  const head = headText(msg);
  if (msg.body.length === 0) return Buffer.from(head, 'utf8');
  const headLength = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headLength + msg.body.length);
  out.write(head, 0, 'utf8');
  out.set(msg.body, headLength);
  return out;
}

export type ExtraHeaders = Iterable<readonly [string, string]>;

export interface BuildResponseOptions {
  /** To tag to add when the request's To has none (ignored for 100 Trying). Random if omitted. */
  toTag?: string;
  body?: Uint8Array;
  /** Set as Content-Type when a body is given. */
  contentType?: string;
}

/**
 * Build a response per RFC 3261 §8.2.6: copy every Via (in order), From,
 * Call-ID, CSeq and To, adding a To tag unless the request had one or this is
 * a 100 (§8.2.6.2). Timestamp is echoed for 100 (§8.2.6.1). Record-Route is
 * copied into dialog-creating responses (§12.1.1).
 */
export function buildResponse(
  request: SipRequest,
  status: number,
  reason?: string,
  extraHeaders: ExtraHeaders = [],
  options: BuildResponseOptions = {},
): SipResponse {
  const headers = new SipHeaders();
  for (const h of request.headers) {
    switch (h.name) {
      case 'Via':
      case 'From':
      case 'Call-ID':
      case 'CSeq':
        headers.append(h.name, h.value);
        break;
      case 'To': {
        let to = h.value;
        if (status > 100 && getTag(to) === undefined) to += `;tag=${options.toTag ?? randomToken(12)}`;
        headers.append('To', to);
        break;
      }
      case 'Record-Route':
        if (status > 100 && status < 300 && (request.method === 'INVITE' || request.method === 'SUBSCRIBE')) {
          headers.append(h.name, h.value);
        }
        break;
      case 'Timestamp':
        if (status === 100) headers.append(h.name, h.value);
        break;
      default:
        break;
    }
  }
  for (const [name, value] of extraHeaders) headers.append(name, value);
  const body = options.body ?? new Uint8Array(0);
  if (body.length > 0 && options.contentType !== undefined) headers.set('Content-Type', options.contentType);
  return { kind: 'response', status, reason: reason ?? reasonPhrase(status), version: SIP_VERSION, headers, body };
}
