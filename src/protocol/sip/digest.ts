/**
 * Server-side HTTP Digest authentication for SIP (RFC 2617, RFC 7616, RFC 3261 §22.4).
 *
 * Why: GB28181 REGISTER is authenticated with MD5 digest, and gosip never
 * stored or checked its nonces (replay possible, gb28181.md §6.3, §12.4). Here
 * nonces are issued and remembered by a {@link NonceStore}; an expired or
 * unknown nonce with a correct password yields `stale=true` (the device
 * silently retries, no lock-out after our restart); a replayed nonce-count or
 * a reused qop-less nonce is rejected. `algorithm=MD5` is always spelled out
 * in challenges because Dahua does not answer without it.
 *
 * HA2 uses the `uri` parameter from the Authorization header, not the
 * Request-URI (sipp sends `sip:<ip>:<port>`, peers.md §1).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { type Clock, systemClock } from './clock.js';
import { readQuoted, trimWs } from './message.js';
import { randomToken } from './random.js';

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

export interface ChallengeOptions {
  realm: string;
  nonce: string;
  /** Offer `qop="auth"` (default true). Some old devices only do the RFC 2069 form. */
  qop?: boolean;
  algorithm?: DigestAlgorithm;
  opaque?: string;
  stale?: boolean;
}

/** `WWW-Authenticate` / `Proxy-Authenticate` value. */
export function buildChallenge(options: ChallengeOptions): string {
  let out = `Digest realm="${options.realm}", nonce="${options.nonce}"`;
  if (options.opaque !== undefined) out += `, opaque="${options.opaque}"`;
  out += `, algorithm=${options.algorithm ?? 'MD5'}`;
  if (options.qop !== false) out += ', qop="auth"';
  if (options.stale === true) out += ', stale=true';
  return out;
}

export interface DigestCredentials {
  scheme: string;
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  algorithm?: string;
  qop?: string;
  nc?: string;
  cnonce?: string;
  opaque?: string;
  /** Every parameter, names lowercased. */
  params: Record<string, string>;
}

/** Split `Digest a=b, c="d"` into its scheme and parameters (names lowercased); null on bad quoting. */
function parseDigestParams(value: string): { scheme: string; params: Record<string, string> } | null {
  const s = trimWs(value);
  let i = 0;
  while (i < s.length && s.charCodeAt(i) > 32) i++;
  const scheme = s.slice(0, i);
  if (scheme.toLowerCase() !== 'digest') return null;
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  const n = s.length;
  while (i < n) {
    while (i < n && (s[i] === ' ' || s[i] === '\t' || s[i] === ',' || s[i] === '\r' || s[i] === '\n')) i++;
    if (i >= n) break;
    const nameStart = i;
    while (i < n && s[i] !== '=' && s[i] !== ',' && s[i] !== ' ' && s[i] !== '\t') i++;
    const name = s.slice(nameStart, i).toLowerCase();
    while (i < n && (s[i] === ' ' || s[i] === '\t')) i++;
    if (s[i] !== '=') {
      if (name.length === 0) return null;
      params[name] = '';
      continue;
    }
    i++;
    while (i < n && (s[i] === ' ' || s[i] === '\t')) i++;
    if (s[i] === '"') {
      const q = readQuoted(s, i);
      if (q === null) return null;
      params[name] = q.value;
      i = q.end;
    } else {
      const valueStart = i;
      while (i < n && s[i] !== ',' && s[i] !== ' ' && s[i] !== '\t') i++;
      params[name] = s.slice(valueStart, i);
    }
  }
  return { scheme, params };
}

/**
 * Parse an `Authorization` / `Proxy-Authorization` value. Tolerates spaces
 * around `=` and `,`, quoted or bare values and any parameter order. Returns
 * null if it is not Digest or lacks a required parameter.
 */
export function parseAuthorization(value: string | undefined): DigestCredentials | null {
  if (value === undefined) return null;
  const parsed = parseDigestParams(value);
  if (parsed === null) return null;
  const { scheme, params } = parsed;
  const { username, realm, nonce, uri, response } = params;
  if (username === undefined || realm === undefined || nonce === undefined || uri === undefined || response === undefined) return null;
  const creds: DigestCredentials = { scheme, username, realm, nonce, uri, response, params };
  for (const key of ['algorithm', 'qop', 'nc', 'cnonce', 'opaque'] as const) {
    const v = params[key];
    if (v !== undefined) creds[key] = v;
  }
  return creds;
}

export interface DigestChallenge {
  realm: string;
  nonce: string;
  algorithm?: string;
  /** The offered qop list as sent, e.g. `auth` or `auth,auth-int`. */
  qop?: string;
  opaque?: string;
  stale: boolean;
}

/** Parse a `WWW-Authenticate` / `Proxy-Authenticate` Digest challenge (client side, e.g. GB cascade to an upper platform). */
export function parseChallenge(value: string | undefined): DigestChallenge | null {
  if (value === undefined) return null;
  const parsed = parseDigestParams(value);
  if (parsed === null) return null;
  const { realm, nonce, algorithm, qop, opaque, stale } = parsed.params;
  if (realm === undefined || nonce === undefined) return null;
  const challenge: DigestChallenge = { realm, nonce, stale: stale?.toLowerCase() === 'true' };
  if (algorithm !== undefined) challenge.algorithm = algorithm;
  if (qop !== undefined) challenge.qop = qop;
  if (opaque !== undefined) challenge.opaque = opaque;
  return challenge;
}

export interface AuthorizationOptions {
  challenge: DigestChallenge;
  username: string;
  password: string;
  method: string;
  uri: string;
  /** Nonce count for qop=auth, default 1. */
  nc?: number;
  cnonce?: string;
}

/** Answer a challenge (client side). Uses qop=auth when offered, else the RFC 2069 form. */
export function buildAuthorization(options: AuthorizationOptions): string | null {
  const { challenge, username, password, method, uri } = options;
  const algorithm = challenge.algorithm ?? 'MD5';
  const hash = hashName(algorithm);
  if (hash === null) return null;
  const ha1 = h(hash, `${username}:${challenge.realm}:${password}`);
  const useQop = challenge.qop !== undefined && challenge.qop.split(',').some((q) => trimWs(q).toLowerCase() === 'auth');
  const nc = (options.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = options.cnonce ?? randomToken(16);
  const inputs: DigestInputs = { method, uri, nonce: challenge.nonce, ha1, algorithm };
  if (useQop) Object.assign(inputs, { qop: 'auth', nc, cnonce });
  else if (algorithm.toUpperCase().endsWith('-SESS')) inputs.cnonce = cnonce;
  const response = computeDigestResponse(inputs);
  if (response === null) return null;
  let out = `Digest username="${username}", realm="${challenge.realm}", nonce="${challenge.nonce}", uri="${uri}", response="${response}", algorithm=${algorithm}`;
  if (useQop) out += `, qop=auth, nc=${nc}, cnonce="${cnonce}"`;
  else if (inputs.cnonce !== undefined) out += `, cnonce="${cnonce}"`;
  if (challenge.opaque !== undefined) out += `, opaque="${challenge.opaque}"`;
  return out;
}

function hashName(algorithm: string): 'md5' | 'sha256' | null {
  const a = algorithm.toUpperCase();
  if (a === 'MD5' || a === 'MD5-SESS') return 'md5';
  if (a === 'SHA-256' || a === 'SHA-256-SESS') return 'sha256';
  return null;
}

function h(algorithm: 'md5' | 'sha256', text: string): string {
  return createHash(algorithm).update(text, 'utf8').digest('hex');
}

/** HA1 = H(username:realm:password); store this instead of the password if you can. */
export function computeHa1(username: string, realm: string, password: string, algorithm: DigestAlgorithm = 'MD5'): string {
  return h(hashName(algorithm) ?? 'md5', `${username}:${realm}:${password}`);
}

export interface DigestInputs {
  method: string;
  uri: string;
  nonce: string;
  ha1: string;
  algorithm?: string;
  qop?: string;
  nc?: string;
  cnonce?: string;
}

/** The expected `response` value (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1), or null for an unsupported algorithm/qop. */
export function computeDigestResponse(input: DigestInputs): string | null {
  const algorithm = input.algorithm ?? 'MD5';
  const hash = hashName(algorithm);
  if (hash === null) return null;
  let ha1 = input.ha1;
  if (algorithm.toUpperCase().endsWith('-SESS')) {
    if (input.cnonce === undefined) return null;
    ha1 = h(hash, `${ha1}:${input.nonce}:${input.cnonce}`);
  }
  const ha2 = h(hash, `${input.method}:${input.uri}`);
  if (input.qop === undefined || input.qop === '') return h(hash, `${ha1}:${input.nonce}:${ha2}`);
  if (input.qop.toLowerCase() !== 'auth' || input.nc === undefined || input.cnonce === undefined) return null;
  return h(hash, `${ha1}:${input.nonce}:${input.nc}:${input.cnonce}:${input.qop}:${ha2}`);
}

export type NonceCheck = 'ok' | 'stale' | 'replay';

export interface NonceStoreOptions {
  clock?: Clock;
  /** Nonce lifetime, default 5 minutes; after that a correct answer gets stale=true. */
  ttlMs?: number;
  /** Cap on remembered nonces (oldest dropped first), default 100,000. */
  maxEntries?: number;
}

interface NonceEntry {
  expiresAt: number;
  /** Highest nc accepted so far (qop=auth), or -1; Infinity once a qop-less use consumed it. */
  lastNc: number;
}

/**
 * Issued nonces, their expiry and replay state. A FIFO of issue order drives
 * expiry and the size cap, because iterating a Map from its front after many
 * deletions walks over the deleted slots (quadratic at 1,000 REGISTER/s).
 */
export class NonceStore {
  private readonly clock: Clock;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly entries = new Map<string, NonceEntry>();
  private queue: string[] = [];
  private queueHead = 0;

  constructor(options: NonceStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.maxEntries = options.maxEntries ?? 100_000;
  }

  get size(): number {
    return this.entries.size;
  }

  issue(): string {
    this.sweep();
    const nonce = randomToken(32);
    this.entries.set(nonce, { expiresAt: this.clock.now() + this.ttlMs, lastNc: -1 });
    this.queue.push(nonce);
    while (this.entries.size > this.maxEntries && this.queueHead < this.queue.length) {
      this.entries.delete(this.queue[this.queueHead++]!);
    }
    this.compact();
    return nonce;
  }

  /**
   * Record a use of `nonce` whose digest was already verified. With qop the
   * nonce-count must be strictly increasing; without qop a nonce is single-use.
   */
  use(nonce: string, nc?: string): NonceCheck {
    const entry = this.entries.get(nonce);
    if (entry === undefined) return 'stale';
    if (entry.expiresAt <= this.clock.now()) {
      this.entries.delete(nonce);
      return 'stale';
    }
    if (nc === undefined) {
      if (entry.lastNc !== -1) return 'replay';
      entry.lastNc = Number.POSITIVE_INFINITY;
      return 'ok';
    }
    if (!/^[0-9a-fA-F]{1,8}$/.test(nc)) return 'replay';
    const count = parseInt(nc, 16);
    if (count <= entry.lastNc) return 'replay';
    entry.lastNc = count;
    return 'ok';
  }

  /** Drop expired nonces (called on every issue; call it from a timer if issue is rare). */
  sweep(): void {
    const now = this.clock.now();
    while (this.queueHead < this.queue.length) {
      const nonce = this.queue[this.queueHead]!;
      const entry = this.entries.get(nonce);
      // Entries already removed (used-and-expired, evicted) just leave the queue.
      if (entry !== undefined && entry.expiresAt > now) break;
      this.entries.delete(nonce);
      this.queueHead++;
    }
    this.compact();
  }

  private compact(): void {
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }
}

export interface VerifyOptions {
  method: string;
  /** Plain password, or `ha1` when only the hash is stored. */
  password?: string;
  ha1?: string;
  /** Required realm; the header's realm must match it. */
  realm: string;
  /** Without a store, nonces are not checked (only the hash): do that for tests only. */
  nonces?: NonceStore;
}

export type VerifyResult =
  | { ok: true }
  | {
      ok: false;
      /** Send a fresh challenge with `stale=true`: the credentials were right, the nonce was not. */
      stale: boolean;
      reason: 'realm-mismatch' | 'unsupported' | 'bad-response' | 'stale-nonce' | 'replay' | 'no-secret';
    };

function safeEqualHex(a: string, b: string): boolean {
  const x = Buffer.from(a.toLowerCase(), 'utf8');
  const y = Buffer.from(b.toLowerCase(), 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Verify credentials against a password (or HA1). The nonce store is consulted
 * only after the hash matches, so a forged attempt cannot burn a device's nonce.
 */
export function verifyDigest(creds: DigestCredentials, options: VerifyOptions): VerifyResult {
  if (creds.realm !== options.realm) return { ok: false, stale: false, reason: 'realm-mismatch' };
  const algorithm = creds.algorithm ?? 'MD5';
  const hash = hashName(algorithm);
  if (hash === null) return { ok: false, stale: false, reason: 'unsupported' };
  let ha1 = options.ha1;
  if (ha1 === undefined) {
    if (options.password === undefined) return { ok: false, stale: false, reason: 'no-secret' };
    ha1 = h(hash, `${creds.username}:${creds.realm}:${options.password}`);
  }
  const inputs: DigestInputs = { method: options.method, uri: creds.uri, nonce: creds.nonce, ha1, algorithm };
  if (creds.qop !== undefined) inputs.qop = creds.qop;
  if (creds.nc !== undefined) inputs.nc = creds.nc;
  if (creds.cnonce !== undefined) inputs.cnonce = creds.cnonce;
  const expected = computeDigestResponse(inputs);
  if (expected === null) return { ok: false, stale: false, reason: 'unsupported' };
  if (!safeEqualHex(expected, creds.response)) return { ok: false, stale: false, reason: 'bad-response' };
  if (options.nonces === undefined) return { ok: true };
  const check = options.nonces.use(creds.nonce, creds.qop === undefined ? undefined : creds.nc);
  if (check === 'ok') return { ok: true };
  // A replay gets stale=true too: a device that resends an old nc recovers, an attacker
  // without the password gains nothing from a fresh nonce.
  return { ok: false, stale: true, reason: check === 'stale' ? 'stale-nonce' : 'replay' };
}
