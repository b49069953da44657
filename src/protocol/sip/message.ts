/**
 * SIP message model (RFC 3261 §7, §20, §25).
 *
 * Why: every other SIP module (parser, serializer, transactions, dialogs, the
 * GB28181 registrar) needs one shared, transport-free representation of a
 * message. Headers stay in wire order (Via and Route order matters) with
 * case-insensitive lookup and compact forms folded to their long names. Bodies
 * are raw bytes: GB28181 devices send GB2312 XML, so decoding belongs to the
 * layer that knows the Content-Type/charset, never to the SIP core.
 *
 * The structured helpers (Via, name-addr, CSeq, ...) are lazy: a header is only
 * parsed when someone asks, which keeps the 1,000 REGISTER/s path cheap.
 */

export const SIP_VERSION = 'SIP/2.0';
/** RFC 3261 §8.1.1.7: branches that start with this were built by an RFC 3261 element. */
export const BRANCH_MAGIC_COOKIE = 'z9hG4bK';

export interface SipHeader {
  /** Canonical long name (e.g. `Call-ID`, `Via`), whatever form was on the wire. */
  readonly name: string;
  value: string;
}

/** Compact forms (RFC 3261 §7.3.3 plus later extensions) mapped to lowercase long names. */
const COMPACT_FORMS: Record<string, string> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

/** Canonical spelling for names whose capitalisation is not simple Title-Case. */
const CANONICAL_NAMES: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  'rack': 'RAck',
  'rseq': 'RSeq',
  'sip-etag': 'SIP-ETag',
  'sip-if-match': 'SIP-If-Match',
};

const nameCache = new Map<string, { key: string; canonical: string }>();

/**
 * Lowercase lookup key and canonical display name for a header name as written
 * on the wire. Cached because the set of header names seen in practice is tiny.
 */
export function normalizeHeaderName(raw: string): { key: string; canonical: string } {
  const hit = nameCache.get(raw);
  if (hit !== undefined) return hit;
  let key = raw.toLowerCase();
  const expanded = key.length === 1 ? COMPACT_FORMS[key] : undefined;
  if (expanded !== undefined) key = expanded;
  let canonical = CANONICAL_NAMES[key];
  if (canonical === undefined) {
    canonical = key
      .split('-')
      .map((part) => (part.length === 0 ? part : part[0]!.toUpperCase() + part.slice(1)))
      .join('-');
  }
  const entry = { key, canonical };
  // Bound the cache so a hostile peer sending random header names cannot grow it forever.
  if (nameCache.size < 512) nameCache.set(raw, entry);
  return entry;
}

/**
 * Ordered header list with case-insensitive lookup. One entry per header line
 * as received; a line holding a comma-separated list (e.g. two Vias) stays one
 * entry, use {@link SipHeaders.getList} to split it.
 */
export class SipHeaders {
  private readonly keys: string[] = [];
  private readonly entries: SipHeader[] = [];

  constructor(init?: Iterable<readonly [string, string]> | SipHeaders) {
    if (init instanceof SipHeaders) {
      for (const h of init.entries) this.append(h.name, h.value);
    } else if (init !== undefined) {
      for (const [name, value] of init) this.append(name, value);
    }
  }

  get size(): number {
    return this.entries.length;
  }

  append(name: string, value: string): this {
    const { key, canonical } = normalizeHeaderName(name);
    this.keys.push(key);
    this.entries.push({ name: canonical, value });
    return this;
  }

  /** Replace the value of the first header line of this name; false if absent. */
  setFirst(name: string, value: string): boolean {
    const i = this.keys.indexOf(normalizeHeaderName(name).key);
    if (i < 0) return false;
    this.entries[i]!.value = value;
    return true;
  }

  /** Insert before every other header of the same name (used for a new top Via). */
  prepend(name: string, value: string): this {
    const { key, canonical } = normalizeHeaderName(name);
    let at = this.keys.indexOf(key);
    if (at < 0) at = 0;
    this.keys.splice(at, 0, key);
    this.entries.splice(at, 0, { name: canonical, value });
    return this;
  }

  /** Replace all headers of this name with one value, at the position of the first. */
  set(name: string, value: string): this {
    const { key, canonical } = normalizeHeaderName(name);
    const first = this.keys.indexOf(key);
    if (first < 0) return this.append(name, value);
    this.entries[first] = { name: canonical, value };
    for (let i = this.keys.length - 1; i > first; i--) {
      if (this.keys[i] === key) {
        this.keys.splice(i, 1);
        this.entries.splice(i, 1);
      }
    }
    return this;
  }

  delete(name: string): boolean {
    const { key } = normalizeHeaderName(name);
    let removed = false;
    for (let i = this.keys.length - 1; i >= 0; i--) {
      if (this.keys[i] === key) {
        this.keys.splice(i, 1);
        this.entries.splice(i, 1);
        removed = true;
      }
    }
    return removed;
  }

  has(name: string): boolean {
    return this.keys.indexOf(normalizeHeaderName(name).key) >= 0;
  }

  /** First header line of this name, undefined if absent. */
  get(name: string): string | undefined {
    const i = this.keys.indexOf(normalizeHeaderName(name).key);
    return i < 0 ? undefined : this.entries[i]!.value;
  }

  /** Every header line of this name, in order (lists inside a line are not split). */
  getAll(name: string): string[] {
    const key = normalizeHeaderName(name).key;
    const out: string[] = [];
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] === key) out.push(this.entries[i]!.value);
    return out;
  }

  /** Every element of a list-valued header (Via, Route, Contact...), across lines, in order. */
  getList(name: string): string[] {
    const out: string[] = [];
    for (const line of this.getAll(name)) {
      for (const item of splitHeaderList(line)) out.push(item);
    }
    return out;
  }

  [Symbol.iterator](): IterableIterator<SipHeader> {
    return this.entries[Symbol.iterator]();
  }

  toArray(): Array<[string, string]> {
    return this.entries.map((h) => [h.name, h.value]);
  }

  clone(): SipHeaders {
    return new SipHeaders(this);
  }
}

export interface SipRequest {
  readonly kind: 'request';
  method: string;
  uri: string;
  version: string;
  headers: SipHeaders;
  /** Raw body bytes. May be a view into the buffer the message was parsed from. */
  body: Uint8Array;
}

export interface SipResponse {
  readonly kind: 'response';
  status: number;
  reason: string;
  version: string;
  headers: SipHeaders;
  body: Uint8Array;
}

export type SipMessage = SipRequest | SipResponse;

const EMPTY_BODY = new Uint8Array(0);

export function createRequest(
  method: string,
  uri: string,
  headers: Iterable<readonly [string, string]> | SipHeaders = [],
  body: Uint8Array = EMPTY_BODY,
): SipRequest {
  return { kind: 'request', method, uri, version: SIP_VERSION, headers: new SipHeaders(headers), body };
}

export function createResponse(
  status: number,
  reason: string,
  headers: Iterable<readonly [string, string]> | SipHeaders = [],
  body: Uint8Array = EMPTY_BODY,
): SipResponse {
  return { kind: 'response', status, reason, version: SIP_VERSION, headers: new SipHeaders(headers), body };
}

// ---------------------------------------------------------------------------
// Low-level lexing helpers

function isWs(code: number): boolean {
  return code === 32 || code === 9 || code === 13 || code === 10;
}

export function trimWs(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isWs(s.charCodeAt(start))) start++;
  while (end > start && isWs(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/**
 * Split a header value on top-level commas, ignoring commas inside quoted
 * strings and <...>. Empty elements are kept (as "") so validators can reject
 * `Via: a,,b` instead of silently accepting it.
 */
export function splitHeaderList(value: string): string[] {
  if (value.indexOf(',') < 0) return [trimWs(value)];
  const out: string[] = [];
  let inQuote = false;
  let inAngle = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inQuote = false;
    } else if (c === 34) inQuote = true;
    else if (c === 60 /* < */) inAngle = true;
    else if (c === 62 /* > */) inAngle = false;
    else if (c === 44 /* , */ && !inAngle) {
      out.push(trimWs(value.slice(start, i)));
      start = i + 1;
    }
  }
  out.push(trimWs(value.slice(start)));
  return out;
}

/** Header/URI parameters; names lowercased, flag parameters map to null. */
export type Params = Record<string, string | null>;

function newParams(): Params {
  // Null prototype: a parameter named "__proto__" or "constructor" must stay plain data.
  return Object.create(null) as Params;
}

const TOKEN_CHARS = (() => {
  const table = new Uint8Array(128);
  for (let c = 0x30; c <= 0x39; c++) table[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) table[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) table[c] = 1;
  for (const ch of "-.!%*_+`'~") table[ch.charCodeAt(0)] = 1;
  return table;
})();

/** RFC 3261 §25.1 token. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TOKEN_CHARS[c] !== 1) return false;
  }
  return true;
}

function isDisplayWord(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 128 && TOKEN_CHARS[c] !== 1) return false;
  }
  return true;
}

/**
 * Parse `;name=value;flag;name="quoted"` starting at `from`. Returns null on
 * a syntax error (empty name, unterminated quote). Stops at `stopAt` (e.g. ','
 * is never reached here because lists are split first, but '?' ends URI params).
 */
export function parseParams(s: string, from = 0, stopAtQuestion = false): { params: Params; end: number } | null {
  const params = newParams();
  let i = from;
  const n = s.length;
  while (i < n) {
    while (i < n && isWs(s.charCodeAt(i))) i++;
    if (i >= n) break;
    const c = s.charCodeAt(i);
    if (stopAtQuestion && c === 63 /* ? */) break;
    if (c !== 59 /* ; */) return null;
    i++;
    while (i < n && isWs(s.charCodeAt(i))) i++;
    // Tolerate one trailing ';' (sloppy devices); ';;' stays an error (RFC 4475 badinv01).
    if (i >= n) break;
    const nameStart = i;
    while (i < n) {
      const d = s.charCodeAt(i);
      if (d === 61 || d === 59 || isWs(d) || (stopAtQuestion && d === 63)) break;
      i++;
    }
    const name = s.slice(nameStart, i).toLowerCase();
    if (name.length === 0) return null;
    while (i < n && isWs(s.charCodeAt(i))) i++;
    if (i < n && s.charCodeAt(i) === 61 /* = */) {
      i++;
      while (i < n && isWs(s.charCodeAt(i))) i++;
      if (i < n && s.charCodeAt(i) === 34) {
        const q = readQuoted(s, i);
        if (q === null) return null;
        params[name] = q.value;
        i = q.end;
      } else {
        const valueStart = i;
        while (i < n) {
          const d = s.charCodeAt(i);
          if (d === 59 || isWs(d) || (stopAtQuestion && d === 63)) break;
          i++;
        }
        params[name] = s.slice(valueStart, i);
      }
    } else {
      params[name] = null;
    }
  }
  return { params, end: i };
}

/** Read a quoted-string starting at the opening quote; value is unescaped. */
export function readQuoted(s: string, at: number): { value: string; end: number } | null {
  let out = '';
  let i = at + 1;
  let chunkStart = i;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92) {
      out += s.slice(chunkStart, i);
      i++;
      if (i >= s.length) return null;
      chunkStart = i;
    } else if (c === 34) {
      out += s.slice(chunkStart, i);
      return { value: out, end: i + 1 };
    }
  }
  return null;
}

export function quote(s: string): string {
  let needsEscape = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34 || c === 92) {
      needsEscape = true;
      break;
    }
  }
  return needsEscape ? `"${s.replace(/["\\]/g, '\\$&')}"` : `"${s}"`;
}

export function formatParams(params: Params): string {
  let out = '';
  for (const name in params) {
    const v = params[name];
    out += v === null || v === undefined ? `;${name}` : `;${name}=${v}`;
  }
  return out;
}

// ---------------------------------------------------------------------------
// URIs

export interface SipUri {
  scheme: string;
  user?: string;
  password?: string;
  host: string;
  port?: number;
  params: Params;
  /** The raw `?hname=hvalue&...` part without the '?', if any. */
  headers?: string;
}

/**
 * Parse a sip:/sips: URI (RFC 3261 §19.1). Other schemes (tel:, urn:) are
 * accepted with only `scheme` and the rest in `host`, because GB28181 never
 * routes on them but they must not make a message unparseable.
 */
export function parseUri(raw: string): SipUri | null {
  const s = raw;
  const colon = s.indexOf(':');
  if (colon <= 0) return null;
  const scheme = s.slice(0, colon).toLowerCase();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c === 127 || c === 60 || c === 62) return null;
  }
  if (scheme !== 'sip' && scheme !== 'sips') {
    if (!/^[a-z][a-z0-9+.-]*$/.test(scheme) || colon === s.length - 1) return null;
    return { scheme, host: s.slice(colon + 1), params: newParams() };
  }
  let rest = s.slice(colon + 1);
  let user: string | undefined;
  let password: string | undefined;
  // userinfo may contain ';', '?' and ':' (RFC 4475 semiuri, intmeth) while '@' is
  // never legal unescaped in params or headers: the last '@' ends the userinfo.
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const pc = userinfo.indexOf(':');
    if (pc >= 0) {
      user = userinfo.slice(0, pc);
      password = userinfo.slice(pc + 1);
    } else user = userinfo;
    if (user.length === 0) return null;
  }
  // hostport
  let i = 0;
  let host: string;
  if (rest.charCodeAt(0) === 91 /* [ */) {
    const close = rest.indexOf(']');
    if (close < 0) return null;
    host = rest.slice(0, close + 1);
    i = close + 1;
  } else {
    while (i < rest.length) {
      const c = rest.charCodeAt(i);
      if (c === 58 || c === 59 || c === 63) break;
      i++;
    }
    host = rest.slice(0, i);
  }
  if (host.length === 0) return null;
  let port: number | undefined;
  if (rest.charCodeAt(i) === 58) {
    i++;
    const portStart = i;
    while (i < rest.length && rest.charCodeAt(i) >= 48 && rest.charCodeAt(i) <= 57) i++;
    if (i === portStart || i - portStart > 5) return null;
    port = Number(rest.slice(portStart, i));
    if (port > 65535) return null;
  }
  const parsed = parseParams(rest, i, true);
  if (parsed === null) return null;
  const uri: SipUri = { scheme, host, params: parsed.params };
  if (user !== undefined) uri.user = user;
  if (password !== undefined) uri.password = password;
  if (port !== undefined) uri.port = port;
  if (parsed.end < rest.length) {
    if (rest.charCodeAt(parsed.end) !== 63) return null;
    uri.headers = rest.slice(parsed.end + 1);
  }
  return uri;
}

export function formatUri(uri: SipUri): string {
  if (uri.scheme !== 'sip' && uri.scheme !== 'sips') return `${uri.scheme}:${uri.host}`;
  let out = `${uri.scheme}:`;
  if (uri.user !== undefined) {
    out += uri.user;
    if (uri.password !== undefined) out += `:${uri.password}`;
    out += '@';
  }
  out += uri.host;
  if (uri.port !== undefined) out += `:${uri.port}`;
  out += formatParams(uri.params);
  if (uri.headers !== undefined) out += `?${uri.headers}`;
  return out;
}

// ---------------------------------------------------------------------------
// name-addr / addr-spec (From, To, Contact, Route, Record-Route)

export interface NameAddr {
  displayName?: string;
  /** The URI text exactly as written (without the angle brackets). */
  uri: string;
  /** Header parameters (outside <>), e.g. tag, expires, q. */
  params: Params;
}

/**
 * Parse one name-addr or addr-spec (RFC 3261 §20.10). Without angle brackets,
 * every ';' belongs to the header, not the URI (§20.10 rule, RFC 4475 cparam01).
 */
export function parseNameAddr(raw: string): NameAddr | null {
  const s = trimWs(raw);
  if (s.length === 0) return null;
  let i = 0;
  let displayName: string | undefined;
  let uri: string;
  if (s.charCodeAt(0) === 34) {
    const q = readQuoted(s, 0);
    if (q === null) return null;
    displayName = q.value;
    i = q.end;
    while (i < s.length && isWs(s.charCodeAt(i))) i++;
    if (s.charCodeAt(i) !== 60) return null;
  }
  const lt = s.indexOf('<', i);
  if (lt >= 0) {
    if (displayName === undefined) {
      const dn = trimWs(s.slice(0, lt));
      if (dn.length > 0) {
        // Unquoted display name: tokens separated by LWS only (RFC 4475 baddn), but
        // non-ASCII is let through: devices put unquoted Chinese names here.
        for (const word of dn.split(/[ \t]+/)) if (!isDisplayWord(word)) return null;
        displayName = dn;
      }
    }
    const gt = s.indexOf('>', lt + 1);
    if (gt < 0) return null;
    uri = s.slice(lt + 1, gt);
    i = gt + 1;
  } else {
    if (displayName !== undefined) return null;
    let end = 0;
    while (end < s.length && s.charCodeAt(end) !== 59 && !isWs(s.charCodeAt(end))) end++;
    uri = s.slice(0, end);
    // addr-spec form cannot carry URI headers or a comma (RFC 3261 §20.10, RFC 4475 regbadct).
    if (uri.indexOf('?') >= 0 || uri.indexOf(',') >= 0) return null;
    i = end;
  }
  if (parseUri(uri) === null) return null;
  const parsed = parseParams(s, i);
  if (parsed === null || parsed.end !== s.length) return null;
  const out: NameAddr = { uri, params: parsed.params };
  if (displayName !== undefined) out.displayName = displayName;
  return out;
}

export function formatNameAddr(addr: NameAddr): string {
  const dn = addr.displayName === undefined ? '' : `${quote(addr.displayName)} `;
  return `${dn}<${addr.uri}>${formatParams(addr.params)}`;
}

/** The `tag` parameter of a From/To value, or undefined. */
export function getTag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  // Fast path: avoid full parsing for the hot lookup when there is no tag.
  if (value.toLowerCase().indexOf('tag') < 0) return undefined;
  const addr = parseNameAddr(value);
  const tag = addr?.params['tag'];
  return tag === null ? undefined : tag;
}

// ---------------------------------------------------------------------------
// Via

export interface Via {
  /** e.g. `SIP/2.0` */
  protocol: string;
  /** Uppercased transport, e.g. `UDP`, `TCP`. */
  transport: string;
  host: string;
  port?: number;
  params: Params;
  branch?: string;
  received?: string;
  /** `true` when present without a value (client asks for it), else the filled port. */
  rport?: number | true;
}

/** Parse one Via element (RFC 3261 §20.42). */
export function parseVia(raw: string): Via | null {
  const s = trimWs(raw);
  // sent-protocol: name / version / transport, LWS allowed around '/'
  let i = 0;
  const parts: string[] = [];
  for (let k = 0; k < 3; k++) {
    while (i < s.length && isWs(s.charCodeAt(i))) i++;
    const start = i;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === 47 || isWs(c)) break;
      i++;
    }
    const part = s.slice(start, i);
    if (!isToken(part)) return null;
    parts.push(part);
    while (i < s.length && isWs(s.charCodeAt(i))) i++;
    if (k < 2) {
      if (s.charCodeAt(i) !== 47) return null;
      i++;
    }
  }
  if (i === s.length) return null;
  // sent-by
  const hostStart = i;
  let host: string;
  if (s.charCodeAt(i) === 91) {
    const close = s.indexOf(']', i);
    if (close < 0) return null;
    host = s.slice(i, close + 1);
    i = close + 1;
  } else {
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === 58 || c === 59 || isWs(c)) break;
      i++;
    }
    host = s.slice(hostStart, i);
  }
  if (host.length === 0) return null;
  let port: number | undefined;
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  if (s.charCodeAt(i) === 58) {
    i++;
    while (i < s.length && isWs(s.charCodeAt(i))) i++;
    const ps = i;
    while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
    if (i === ps || i - ps > 5) return null;
    port = Number(s.slice(ps, i));
    if (port > 65535) return null;
  }
  const parsed = parseParams(s, i);
  if (parsed === null || parsed.end !== s.length) return null;
  const params = parsed.params;
  const via: Via = { protocol: `${parts[0]}/${parts[1]}`, transport: parts[2]!.toUpperCase(), host, params };
  if (port !== undefined) via.port = port;
  const branch = params['branch'];
  if (typeof branch === 'string') via.branch = branch;
  const received = params['received'];
  if (typeof received === 'string') via.received = received;
  if ('rport' in params) {
    const r = params['rport'];
    if (r === null || r === '') via.rport = true;
    else {
      const n = Number(r);
      if (!Number.isInteger(n) || n < 0 || n > 65535) return null;
      via.rport = n;
    }
  }
  return via;
}

export function formatVia(via: {
  transport: string;
  host: string;
  port?: number;
  params?: Params;
  branch?: string;
  rport?: boolean | number;
  protocol?: string;
}): string {
  let out = `${via.protocol ?? SIP_VERSION}/${via.transport.toUpperCase()} ${via.host}`;
  if (via.port !== undefined) out += `:${via.port}`;
  const params = via.params ?? newParams();
  let emitted = '';
  if (via.branch !== undefined && !('branch' in params)) emitted += `;branch=${via.branch}`;
  if (via.rport !== undefined && via.rport !== false && !('rport' in params)) {
    emitted += via.rport === true ? ';rport' : `;rport=${via.rport}`;
  }
  return out + formatParams(params) + emitted;
}

/** The sent-by of a Via as `host:port` (port defaulted per transport), used as a matching key. */
export function viaSentBy(via: Via): string {
  const port = via.port ?? (via.transport === 'TLS' || via.transport === 'WSS' ? 5061 : 5060);
  return `${via.host.toLowerCase()}:${port}`;
}

/** The topmost Via element of a message, parsed; null if absent or malformed. */
export function topVia(msg: SipMessage): Via | null {
  const first = msg.headers.get('via');
  if (first === undefined) return null;
  const comma = first.indexOf(',');
  return parseVia(comma < 0 ? first : splitHeaderList(first)[0]!);
}

/**
 * RFC 3261 §18.2.1 + RFC 3581: record where a request really came from in its
 * top Via (`received`, and the `rport` value when the client asked for it), so
 * responses find their way back through NAT.
 */
export function stampViaReceived(req: SipRequest, address: string, port: number, parsedTop?: Via): void {
  const first = req.headers.get('via');
  if (first === undefined) return;
  const list = first.indexOf(',') < 0 ? [first] : splitHeaderList(first);
  // Work on a copy: the caller's parsed Via must not change under it.
  const parsed = parsedTop ?? parseVia(list[0]!);
  if (parsed === null) return;
  const via: Via = { ...parsed, params: Object.assign(Object.create(null) as Params, parsed.params) };
  let changed = false;
  if (via.rport !== undefined) {
    via.params['rport'] = String(port);
    changed = true;
  }
  if (via.host !== address || changed) {
    via.params['received'] = address;
    changed = true;
  }
  if (!changed) return;
  delete via.params['branch'];
  const rebuilt = formatVia({ protocol: via.protocol, transport: via.transport, host: via.host, port: via.port, params: via.params, branch: via.branch });
  list[0] = rebuilt;
  req.headers.setFirst('via', list.join(', '));
}

// ---------------------------------------------------------------------------
// CSeq, Expires, Contact, Content-Length

export interface CSeq {
  seq: number;
  method: string;
}

/** RFC 3261 §8.1.1.5: sequence number must fit in 32 bits and be below 2^31. */
export function parseCSeq(raw: string | undefined): CSeq | null {
  if (raw === undefined) return null;
  const s = trimWs(raw);
  let i = 0;
  while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
  if (i === 0 || i > 10) return null;
  const seq = Number(s.slice(0, i));
  if (seq >= 2 ** 31) return null;
  if (i >= s.length || !isWs(s.charCodeAt(i))) return null;
  const method = trimWs(s.slice(i));
  if (!isToken(method)) return null;
  return { seq, method };
}

/** Delta-seconds (RFC 3261 §20.19); values above 2^32-1 are clamped as §25.1 says. */
export function parseDeltaSeconds(raw: string | undefined | null): number | null {
  if (raw === undefined || raw === null) return null;
  const s = trimWs(raw);
  if (s.length === 0) return null;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return null;
  }
  const n = Number(s);
  return n > 4294967295 ? 4294967295 : n;
}

export function parseExpires(msg: SipMessage): number | null {
  return parseDeltaSeconds(msg.headers.get('expires'));
}

export type ContactList = '*' | NameAddr[];

/** Parse all Contact values; `*` only valid alone (REGISTER remove-all). */
export function parseContacts(msg: SipMessage): ContactList | null {
  const items = msg.headers.getList('contact');
  if (items.length === 1 && items[0] === '*') return '*';
  const out: NameAddr[] = [];
  for (const item of items) {
    const addr = parseNameAddr(item);
    if (addr === null) return null;
    out.push(addr);
  }
  return out;
}

/** Expiry a registrar should apply to one contact: contact `expires` param, then Expires header, then the default. */
export function contactExpires(contact: NameAddr, msg: SipMessage, fallback: number): number {
  const fromParam = parseDeltaSeconds(contact.params['expires']);
  if (fromParam !== null) return fromParam;
  return parseExpires(msg) ?? fallback;
}

/**
 * A SIP-level failure for code above the transaction layer, e.g. a client
 * transaction timeout is `new SipError(408, 'Request Timeout')` and a transport
 * error `new SipError(503, 'Service Unavailable')` (RFC 3261 §8.1.3.1).
 */
export class SipError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string) {
    super(`${status} ${reason}`);
    this.name = 'SipError';
    this.status = status;
    this.reason = reason;
  }
}

export function callId(msg: SipMessage): string | undefined {
  return msg.headers.get('call-id');
}

/** Random token for tags, Call-IDs and branches (crypto-strong: tags/branches must be unguessable). */
export { randomToken } from './random.js';
