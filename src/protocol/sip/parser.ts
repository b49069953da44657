/**
 * SIP message parsing (RFC 3261 §7, §18.3) for datagrams and byte streams.
 *
 * Why this shape: devices send everything from textbook messages to bare-LF,
 * folded, compact-form, GB2312-bodied ones, and a hostile or broken peer must
 * never be able to crash the SIP worker. So parsing returns a typed result
 * (`{ ok: false, reason }`) instead of throwing, the body is always raw bytes
 * (charset is the MANSCDP layer's business), and Content-Length is counted in
 * bytes. The StreamFramer does RFC 3261 §18.3 framing for TCP, where
 * Content-Length is the only message boundary.
 */
import {
  SipHeaders,
  parseCSeq,
  parseNameAddr,
  parseUri,
  parseVia,
  isToken,
  trimWs,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from './message.js';

export type ParseResult =
  | { ok: true; message: SipMessage }
  | {
      ok: false;
      reason: string;
      /** Suggested status if the caller wants to answer (400 by default, 505 for a bad version). */
      status?: number;
      /**
       * The message as far as it could be read, when only the semantic checks
       * failed: lets a transport answer a request with `400 <reason>` if it
       * still has Via/From/To/Call-ID/CSeq. Never feed it to the transaction layer.
       */
      partial?: SipMessage;
    };

export interface ParseOptions {
  /**
   * Check mandatory headers and the syntax of Via/From/To/CSeq/Call-ID/Contact
   * (RFC 3261 §8.2.2, RFC 4475 invalid cases). Default true; transactions rely on it.
   */
  validate?: boolean;
  /**
   * Datagrams only: accept a Content-Length larger than the bytes received by
   * taking what arrived (gosip's behaviour), for devices that count the UTF-8
   * length and then send GB2312. Default false: RFC 3261 §18.3 says discard
   * (RFC 4475 clerr).
   */
  lenientContentLength?: boolean;
}

const EMPTY = new Uint8Array(0);

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Index just past the blank line ending the header section, searching from
 * `from`; -1 if not complete yet. Accepts CRLF CRLF, LF LF and mixed forms.
 * Returns also where the header text ends (before the blank line).
 */
function findHeaderEnd(buf: Buffer, from: number, end: number): { headEnd: number; bodyStart: number } | null {
  let i = from;
  while (i < end) {
    const lf = buf.indexOf(10, i);
    if (lf < 0 || lf >= end) return null;
    const next = lf + 1;
    if (next < end && buf[next] === 10) return { headEnd: lf, bodyStart: next + 1 };
    if (next + 1 < end && buf[next] === 13 && buf[next + 1] === 10) return { headEnd: lf, bodyStart: next + 2 };
    if (next >= end || (next + 1 >= end && buf[next] === 13)) return null;
    i = next;
  }
  return null;
}

interface Head {
  startLine: string;
  headers: SipHeaders;
  /** First structural error found in the header lines, if any. */
  error?: string;
}

/** Split header text into start line and unfolded header fields. */
function parseHead(text: string): Head {
  const headers = new SipHeaders();
  let pos = 0;
  const n = text.length;
  let startLine: string | null = null;
  let pendingName: string | null = null;
  let pendingValue = '';
  let error: string | undefined;
  const flush = (): void => {
    if (pendingName !== null) headers.append(pendingName, trimWs(pendingValue));
    pendingName = null;
  };
  while (pos <= n) {
    let lf = text.indexOf('\n', pos);
    if (lf < 0) lf = n;
    let lineEnd = lf;
    if (lineEnd > pos && text.charCodeAt(lineEnd - 1) === 13) lineEnd--;
    const line = text.slice(pos, lineEnd);
    pos = lf + 1;
    if (startLine === null) {
      startLine = line;
      continue;
    }
    if (line.length === 0) continue;
    const first = line.charCodeAt(0);
    if (first === 32 || first === 9) {
      // RFC 3261 §7.3.1 line folding: continuation joins the previous value with one SP.
      if (pendingName === null) {
        error ??= 'continuation line before any header';
        continue;
      }
      pendingValue += ' ' + trimWs(line);
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    if (colon < 0) {
      error ??= 'header line without colon';
      continue;
    }
    const name = trimWs(line.slice(0, colon));
    if (!isToken(name)) {
      error ??= 'invalid header name';
      continue;
    }
    pendingName = name;
    pendingValue = line.slice(colon + 1);
  }
  flush();
  const head: Head = { startLine: startLine ?? '', headers };
  if (error !== undefined) head.error = error;
  return head;
}

/** undefined when absent, null when malformed or inconsistent, else the byte count. */
function contentLengthOf(headers: SipHeaders): number | null | undefined {
  const values = headers.getAll('content-length');
  if (values.length === 0) return undefined;
  let result: number | null = null;
  for (const raw of values) {
    const s = trimWs(raw);
    if (s.length === 0 || s.length > 9) return null;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) return null;
    }
    const v = Number(s);
    if (result !== null && result !== v) return null;
    result = v;
  }
  return result;
}

function fail(reason: string, status = 400): ParseResult {
  return { ok: false, reason, status };
}

/**
 * The request as far as its head goes, for answering a message that failed to
 * parse (RFC 3261 §8.2: 400 with the reason). Only when its start line begins
 * with a method and it is {@link answerable}.
 */
function partialRequest(head: Head): SipRequest | undefined {
  const line = head.startLine;
  const sp = line.indexOf(' ');
  const method = sp < 0 ? line : line.slice(0, sp);
  if (method.length === 0 || !isToken(method) || line.startsWith('SIP/')) return undefined;
  const request: SipRequest = { kind: 'request', method, uri: line.slice(sp + 1).split(' ')[0] ?? '', version: 'SIP/2.0', headers: head.headers, body: EMPTY };
  return answerable(request) ? request : undefined;
}

/**
 * Whether a response can be built for this message: a top Via, one From and one
 * To that parse, a Call-ID and a CSeq that parses (what buildResponse copies).
 */
export function answerable(msg: SipMessage): boolean {
  const h = msg.headers;
  const via = h.getList('via')[0];
  if (via === undefined || parseVia(via) === null) return false;
  const callId = h.get('call-id');
  if (callId === undefined || callId.length === 0 || h.getAll('call-id').length !== 1) return false;
  const cseq = h.getAll('cseq');
  if (cseq.length !== 1 || parseCSeq(cseq[0]) === null) return false;
  for (const name of ['from', 'to']) {
    const values = h.getAll(name);
    if (values.length !== 1 || parseNameAddr(values[0]!) === null) return false;
  }
  return true;
}

/** A failure of a message whose head was read: carries the partial request when it can be answered. */
function failHead(head: Head, reason: string, status = 400): ParseResult {
  const partial = partialRequest(head);
  return partial === undefined ? fail(reason, status) : { ok: false, reason, status, partial };
}

function buildMessage(head: Head, body: Uint8Array, validate: boolean): ParseResult {
  const result = buildWholeMessage(head, body, validate);
  if (result.ok || result.partial !== undefined) return result;
  return failHead(head, result.reason, result.status);
}

function buildWholeMessage(head: Head, body: Uint8Array, validate: boolean): ParseResult {
  if (head.error !== undefined) return fail(head.error);
  const line = head.startLine;
  let message: SipMessage;
  if (line.startsWith('SIP/')) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
    const sp = line.indexOf(' ');
    if (sp < 0) return fail('malformed status line');
    const version = line.slice(0, sp);
    if (version.toUpperCase() !== 'SIP/2.0') return fail('unsupported SIP version', 505);
    const codeEnd = sp + 4;
    const code = line.slice(sp + 1, codeEnd);
    if (code.length !== 3 || !/^[1-6][0-9][0-9]$/.test(code)) return fail('invalid status code');
    if (line.length > codeEnd && line.charCodeAt(codeEnd) !== 32) return fail('invalid status code');
    const reason = line.slice(codeEnd + 1);
    const response: SipResponse = { kind: 'response', status: Number(code), reason, version: 'SIP/2.0', headers: head.headers, body };
    message = response;
  } else {
    // Request-Line = Method SP Request-URI SP SIP-Version, single spaces only (RFC 4475 lwsstart, trws)
    const a = line.indexOf(' ');
    const b = line.lastIndexOf(' ');
    if (a <= 0 || b === a) return fail('malformed request line');
    const method = line.slice(0, a);
    const uri = line.slice(a + 1, b);
    const version = line.slice(b + 1);
    if (!isToken(method)) return fail('invalid method');
    if (version.toUpperCase() !== 'SIP/2.0') {
      return /^SIP\/[0-9]+\.[0-9]+$/i.test(version) ? fail('unsupported SIP version', 505) : fail('malformed request line');
    }
    if (uri.length === 0 || uri.indexOf(' ') >= 0 || uri.indexOf('\t') >= 0) return fail('malformed request line');
    const parsedUri = parseUri(uri);
    if (parsedUri === null) return fail('invalid Request-URI');
    // RFC 3261 §19.1.5: headers are not allowed in a Request-URI (RFC 4475 escruri).
    if ((parsedUri.scheme === 'sip' || parsedUri.scheme === 'sips') && parsedUri.headers !== undefined) {
      return fail('headers in Request-URI');
    }
    const request: SipRequest = { kind: 'request', method, uri, version: 'SIP/2.0', headers: head.headers, body };
    message = request;
  }
  if (validate) {
    const problem = validateMessage(message);
    if (problem !== null) return { ok: false, reason: problem, status: 400, partial: message };
  }
  return { ok: true, message };
}

/**
 * RFC 3261 §8.2.2 / §18.1.2 sanity: the headers every transaction and dialog
 * decision depends on must exist and parse. Returns a reason or null.
 */
export function validateMessage(msg: SipMessage): string | null {
  const h = msg.headers;
  const callId = h.get('call-id');
  if (callId === undefined || callId.length === 0) return 'missing Call-ID';
  if (h.getAll('call-id').length > 1) return 'multiple Call-ID';
  for (let i = 0; i < callId.length; i++) {
    const c = callId.charCodeAt(i);
    if (c <= 32 || c === 127) return 'invalid Call-ID';
  }
  const cseqValues = h.getAll('cseq');
  if (cseqValues.length !== 1) return cseqValues.length === 0 ? 'missing CSeq' : 'multiple CSeq';
  const cseq = parseCSeq(cseqValues[0]);
  if (cseq === null) return 'invalid CSeq';
  if (msg.kind === 'request' && cseq.method !== msg.method) return 'CSeq method does not match request method';
  for (const name of ['from', 'to'] as const) {
    const values = h.getAll(name);
    if (values.length !== 1) return values.length === 0 ? `missing ${name === 'from' ? 'From' : 'To'}` : `multiple ${name === 'from' ? 'From' : 'To'}`;
    if (parseNameAddr(values[0]!) === null) return `invalid ${name === 'from' ? 'From' : 'To'}`;
  }
  const vias = h.getList('via');
  if (vias.length === 0) return 'missing Via';
  for (const v of vias) if (parseVia(v) === null) return 'invalid Via';
  if (h.has('contact')) {
    const contacts = h.getList('contact');
    if (!(contacts.length === 1 && contacts[0] === '*')) {
      for (const c of contacts) if (parseNameAddr(c) === null) return 'invalid Contact';
    }
  }
  const maxForwards = h.get('max-forwards');
  if (maxForwards !== undefined) {
    const s = trimWs(maxForwards);
    if (!/^[0-9]{1,10}$/.test(s) || Number(s) > 255) return 'invalid Max-Forwards';
  }
  return null;
}

/** Skip CR/LF bytes (RFC 3261 §7.5 and RFC 5626 keep-alives) from `pos`. */
function skipLineBreaks(buf: Uint8Array, pos: number, end: number): number {
  while (pos < end && (buf[pos] === 13 || buf[pos] === 10)) pos++;
  return pos;
}

/**
 * Parse one UDP datagram. The body is a view into `data` (no copy): do not
 * reuse the buffer while the message is alive. Bytes after Content-Length are
 * ignored (RFC 3261 §18.3, RFC 4475 dblreq); a missing Content-Length means
 * "the rest of the datagram".
 */
export function parseMessage(data: Uint8Array, options: ParseOptions = {}): ParseResult {
  const buf = asBuffer(data);
  const start = skipLineBreaks(buf, 0, buf.length);
  if (start >= buf.length) return fail('empty message');
  const bounds = findHeaderEnd(buf, start, buf.length);
  let headEnd: number;
  let bodyStart: number;
  if (bounds === null) {
    // Tolerate a datagram that ends right after the last header line, without the blank line.
    headEnd = buf.length;
    bodyStart = buf.length;
  } else {
    headEnd = bounds.headEnd;
    bodyStart = bounds.bodyStart;
  }
  const head = parseHead(buf.toString('utf8', start, headEnd));
  const declared = contentLengthOf(head.headers);
  if (declared === null) return failHead(head, 'invalid Content-Length');
  const available = buf.length - bodyStart;
  let body: Uint8Array;
  if (declared === undefined) body = available > 0 ? buf.subarray(bodyStart) : EMPTY;
  else if (declared > available) {
    if (options.lenientContentLength !== true) return failHead(head, 'body shorter than Content-Length');
    body = available > 0 ? buf.subarray(bodyStart) : EMPTY;
  }
  else body = declared === 0 ? EMPTY : buf.subarray(bodyStart, bodyStart + declared);
  return buildMessage(head, body, options.validate !== false);
}

export type FramerResult =
  | { ok: true; message: SipMessage }
  | {
      ok: false;
      reason: string;
      status?: number;
      partial?: SipMessage;
      /** The stream cannot be resynchronised: close the connection. */
      fatal: boolean;
    };

export interface StreamFramerOptions extends ParseOptions {
  /** Largest accepted message (head + body), in bytes. Default 256 KiB. */
  maxMessageSize?: number;
}

/**
 * Incremental RFC 3261 §18.3 framer for a TCP (or TLS) byte stream. Push
 * chunks as they arrive; it returns every message completed by that chunk.
 * Pushed chunks are not copied when they hold whole messages, so do not reuse
 * their memory.
 */
export class StreamFramer {
  private buffer: Buffer = Buffer.alloc(0);
  private scanFrom = 0;
  private pendingHead: Head | null = null;
  private pendingTotal = 0;
  private failed: string | null = null;
  private readonly maxMessageSize: number;
  private readonly validate: boolean;
  /** Count of CRLF keep-alive bytes skipped between messages (RFC 5626 pings). */
  keepAliveBytes = 0;

  constructor(options: StreamFramerOptions = {}) {
    this.maxMessageSize = options.maxMessageSize ?? 256 * 1024;
    this.validate = options.validate !== false;
  }

  /** Chunks of a body still incomplete, joined once the body is whole (avoids quadratic copying). */
  private parked: Buffer[] = [];
  private buffered = 0;

  /** Bytes received but not yet part of a complete message. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): FramerResult[] {
    if (this.failed !== null) return [];
    const incoming = asBuffer(chunk);
    if (this.pendingHead !== null && this.buffered + incoming.length < this.pendingTotal) {
      this.parked.push(incoming);
      this.buffered += incoming.length;
      return [];
    }
    if (this.buffer.length === 0 && this.parked.length === 0) this.buffer = incoming;
    else this.buffer = Buffer.concat([this.buffer, ...this.parked, incoming]);
    this.parked = [];
    const out: FramerResult[] = [];
    for (;;) {
      const result = this.next();
      if (result === null) break;
      out.push(result);
      if (!result.ok && result.fatal) break;
    }
    this.buffered = this.buffer.length;
    return out;
  }

  private next(): FramerResult | null {
    const buf = this.buffer;
    if (this.pendingHead === null) {
      const start = skipLineBreaks(buf, 0, buf.length);
      if (start > 0) {
        this.keepAliveBytes += start;
        this.buffer = buf.subarray(start);
        this.scanFrom = 0;
        return this.next();
      }
      if (buf.length === 0) return null;
      const bounds = findHeaderEnd(buf, this.scanFrom, buf.length);
      if (bounds === null) {
        if (buf.length > this.maxMessageSize) return this.fatal('message head exceeds maximum size');
        // Resume a little before the end next time: the blank line may straddle chunks.
        this.scanFrom = Math.max(0, buf.length - 3);
        return null;
      }
      this.scanFrom = 0;
      const head = parseHead(buf.toString('utf8', 0, bounds.headEnd));
      const declared = contentLengthOf(head.headers);
      // RFC 3261 §18.3: Content-Length is mandatory on streams; absent means we cannot
      // find the next message, but treating it as 0 keeps bodiless messages working.
      if (declared === null) return this.fatal('invalid Content-Length');
      const total = bounds.bodyStart + (declared ?? 0);
      if (total > this.maxMessageSize) return this.fatal('message exceeds maximum size');
      this.pendingHead = head;
      this.pendingTotal = total;
      // Remember where the body starts relative to the total.
      this.pendingBodyStart = bounds.bodyStart;
    }
    if (this.buffer.length < this.pendingTotal) return null;
    const whole = this.buffer;
    const body = this.pendingTotal > this.pendingBodyStart ? whole.subarray(this.pendingBodyStart, this.pendingTotal) : EMPTY;
    const head = this.pendingHead!;
    this.buffer = whole.subarray(this.pendingTotal);
    this.pendingHead = null;
    const parsed = buildMessage(head, body, this.validate);
    if (parsed.ok) return parsed;
    const err: FramerResult = { ok: false, reason: parsed.reason, fatal: false };
    if (parsed.status !== undefined) err.status = parsed.status;
    if (parsed.partial !== undefined) err.partial = parsed.partial;
    return err;
  }

  private pendingBodyStart = 0;

  private fatal(reason: string): FramerResult {
    this.failed = reason;
    this.buffer = Buffer.alloc(0);
    this.parked = [];
    this.pendingHead = null;
    return { ok: false, reason, fatal: true };
  }
}
