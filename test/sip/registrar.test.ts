import t from 'tap';
import { createHash } from 'node:crypto';
import { FakeClock, NonceStore, parseMessage, serializeMessage, type SipRequest } from '../../src/protocol/sip/index.js';
import { Registrar, gbDate, type DeviceCredentials } from '../../src/sip/registrar.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const REALM = '3402000000';
const DEVICE = '34020000001320000001';
const source = { transport: 'UDP', address: '192.0.2.10', port: 5070 };

function register(opts: { authorization?: string; expires?: number; cseq?: number; user?: string } = {}): SipRequest {
  const lines = [
    `REGISTER sip:34020000002000000001@${REALM} SIP/2.0`,
    `Via: SIP/2.0/UDP 192.0.2.10:5070;rport;branch=z9hG4bK${Math.random().toString(36).slice(2)}`,
    `From: <sip:${opts.user ?? DEVICE}@${REALM}>;tag=abc`,
    `To: <sip:${opts.user ?? DEVICE}@${REALM}>`,
    'Call-ID: reg-1@192.0.2.10',
    `CSeq: ${opts.cseq ?? 1} REGISTER`,
    `Contact: <sip:${DEVICE}@192.0.2.10:5070>`,
    `Expires: ${opts.expires ?? 3600}`,
    ...(opts.authorization ? [`Authorization: ${opts.authorization}`] : []),
    'Content-Length: 0',
    '',
    '',
  ];
  const parsed = parseMessage(Buffer.from(lines.join('\r\n')));
  if (!parsed.ok || parsed.message.kind !== 'request') throw new Error('bad test message');
  return parsed.message;
}

function challengeOf(response: { headers: { get(n: string): string | undefined } }) {
  const header = response.headers.get('www-authenticate') ?? '';
  return {
    header,
    nonce: /nonce="([^"]+)"/.exec(header)?.[1] ?? '',
    qop: /qop="auth"/.test(header),
    stale: /stale=true/i.test(header),
  };
}

/** The device's side of RFC 2617, computed here independently of the code under test. */
function answer(nonce: string, password: string, o: { username?: string; nc?: string; qop?: boolean; uri?: string } = {}) {
  const username = o.username ?? DEVICE;
  const uri = o.uri ?? 'sip:127.0.0.1:5060';
  const ha1 = md5(`${username}:${REALM}:${password}`);
  const ha2 = md5(`REGISTER:${uri}`);
  if (o.qop === false) {
    return `Digest username="${username}", realm="${REALM}", nonce="${nonce}", uri="${uri}", response="${md5(`${ha1}:${nonce}:${ha2}`)}", algorithm=MD5`;
  }
  const nc = o.nc ?? '00000001';
  const cnonce = 'c0ffee';
  const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `Digest username="${username}",realm="${REALM}",nonce="${nonce}",uri="${uri}",response="${response}",algorithm=MD5,cnonce="${cnonce}",qop=auth,nc=${nc}`;
}

function setup(mode: 'provisioned' | 'open' = 'provisioned', devices: Record<string, string> | 'store-down' = { [DEVICE]: 'secret' }) {
  const clock = new FakeClock(0);
  const nonces = new NonceStore({ clock, ttlMs: 60_000 });
  const lookups: string[] = [];
  const registrar = new Registrar({
    realm: REALM,
    mode,
    maxExpires: 3600,
    nonces,
    wallClock: () => Date.parse('2026-11-22T12:34:56.789+08:00'),
    lookup: async (id): Promise<DeviceCredentials> => {
      lookups.push(id);
      if (devices === 'store-down') throw new Error('store unavailable: timed out after 1500 ms');
      return id in devices ? { known: true, password: devices[id]! } : { known: false, password: 'default-pw' };
    },
  });
  return { registrar, clock, lookups };
}

t.test('challenge then register: qop=auth, MD5, Date, Expires, Contact', async (t) => {
  const { registrar } = setup();
  const first = await registrar.handle(register(), source);
  t.equal(first.kind, 'challenge');
  t.equal(first.response.status, 401);
  const c = challengeOf(first.response);
  t.match(c.header, /^Digest realm="3402000000", nonce="[^"]+", algorithm=MD5, qop="auth"$/);
  const ok = await registrar.handle(register({ authorization: answer(c.nonce, 'secret'), cseq: 2 }), source);
  t.equal(ok.kind, 'register');
  t.equal(ok.response.status, 200);
  t.equal(ok.response.headers.get('expires'), '3600');
  t.match(ok.response.headers.get('contact'), /^<sip:34020000001320000001@192\.0\.2\.10:5070>;expires=3600$/);
  t.equal(ok.response.headers.get('date'), gbDate(Date.parse('2026-11-22T12:34:56.789+08:00')));
  t.match(ok.response.headers.get('date'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
  if (ok.kind === 'register') {
    t.match(ok.binding, { deviceId: DEVICE, expires: 3600, domain: REALM, known: true, via: { rport: 0, transport: 'UDP' } });
  }
});

t.test('a replayed nonce count is rejected with a fresh stale challenge', async (t) => {
  const { registrar } = setup();
  const c = challengeOf((await registrar.handle(register(), source)).response);
  const auth = answer(c.nonce, 'secret');
  t.equal((await registrar.handle(register({ authorization: auth, cseq: 2 }), source)).kind, 'register');
  const replay = await registrar.handle(register({ authorization: auth, cseq: 3 }), source);
  t.equal(replay.kind, 'challenge');
  t.equal(replay.response.status, 401);
  t.ok(challengeOf(replay.response).stale, 'stale=true');
  t.not(challengeOf(replay.response).nonce, c.nonce, 'a new nonce');
  const next = await registrar.handle(register({ authorization: answer(c.nonce, 'secret', { nc: '00000002' }), cseq: 4 }), source);
  t.equal(next.kind, 'register', 'a higher nonce count on the same nonce is fine');
});

t.test('old devices answering without qop: accepted once per nonce', async (t) => {
  const { registrar } = setup();
  const c = challengeOf((await registrar.handle(register(), source)).response);
  const auth = answer(c.nonce, 'secret', { qop: false });
  t.equal((await registrar.handle(register({ authorization: auth }), source)).kind, 'register');
  t.equal((await registrar.handle(register({ authorization: auth }), source)).kind, 'challenge', 'single use');
});

t.test('expired nonces get stale=true', async (t) => {
  const { registrar, clock } = setup();
  const c = challengeOf((await registrar.handle(register(), source)).response);
  clock.advance(61_000);
  const late = await registrar.handle(register({ authorization: answer(c.nonce, 'secret') }), source);
  t.equal(late.kind, 'challenge');
  t.ok(challengeOf(late.response).stale);
});

t.test('a nonce we never issued is not accepted', async (t) => {
  const { registrar } = setup();
  const forged = await registrar.handle(register({ authorization: answer('made-up-nonce', 'secret') }), source);
  t.equal(forged.kind, 'challenge');
});

t.test('wrong password: 403; digest username may differ from the device ID (Hikvision)', async (t) => {
  const { registrar, lookups } = setup();
  const c = challengeOf((await registrar.handle(register(), source)).response);
  const wrong = await registrar.handle(register({ authorization: answer(c.nonce, 'guess') }), source);
  t.match(wrong, { kind: 'reject', reason: 'bad-password' });
  t.equal(wrong.response.status, 403);
  const c2 = challengeOf((await registrar.handle(register(), source)).response);
  const hik = await registrar.handle(register({ authorization: answer(c2.nonce, 'secret', { username: 'admin' }) }), source);
  t.equal(hik.kind, 'register', 'device found by From user, digest by its own username');
  t.same(lookups, [DEVICE, DEVICE]);
});

t.test('provisioned mode refuses unknown devices after authenticating them; open mode takes them', async (t) => {
  const stranger = '34020000001329999999';
  const provisioned = setup('provisioned');
  let c = challengeOf((await provisioned.registrar.handle(register({ user: stranger }), source)).response);
  const refused = await provisioned.registrar.handle(register({ user: stranger, authorization: answer(c.nonce, 'default-pw', { username: stranger }) }), source);
  t.match(refused, { kind: 'reject', reason: 'unknown-device' });
  t.equal(refused.response.status, 403);
  const open = setup('open');
  c = challengeOf((await open.registrar.handle(register({ user: stranger }), source)).response);
  const taken = await open.registrar.handle(register({ user: stranger, authorization: answer(c.nonce, 'default-pw', { username: stranger }) }), source);
  t.match(taken, { kind: 'register', binding: { deviceId: stranger, known: false } });
});

t.test('Expires 0 unregisters; too brief is 423; long is capped', async (t) => {
  const { registrar } = setup();
  const auth = async (expires: number) => {
    const c = challengeOf((await registrar.handle(register(), source)).response);
    return registrar.handle(register({ authorization: answer(c.nonce, 'secret'), expires }), source);
  };
  const bye = await auth(0);
  t.match(bye, { kind: 'unregister', deviceId: DEVICE });
  t.equal(bye.response.status, 200);
  const brief = await auth(10);
  t.equal(brief.response.status, 423);
  t.equal(brief.response.headers.get('min-expires'), '60');
  const long = await auth(86_400);
  t.match(long, { kind: 'register', binding: { expires: 3600 } });
});

t.test('malformed requests get 400, never a throw', async (t) => {
  const { registrar } = setup();
  const noUser = register();
  noUser.headers.set('from', '<sip:3402000000>;tag=x');
  t.equal((await registrar.handle(noUser, source)).response.status, 400);
  const badAuth = register({ authorization: 'Digest nonsense' });
  t.equal((await registrar.handle(badAuth, source)).response.status, 400);
  t.ok(serializeMessage((await registrar.handle(register(), source)).response).length > 0);
});

t.test('a failed credentials lookup (store down) is 503 with Retry-After, not 500', async (t) => {
  const { registrar, lookups } = setup('provisioned', 'store-down');
  const c = challengeOf((await registrar.handle(register(), source)).response);
  const outcome = await registrar.handle(register({ authorization: answer(c.nonce, 'secret'), cseq: 2 }), source);
  t.same(lookups, [DEVICE], 'the lookup was tried');
  t.equal(outcome.kind, 'reject');
  t.equal(outcome.response.status, 503);
  t.equal(outcome.response.reason, 'Service Unavailable');
  t.equal(outcome.response.headers.get('retry-after'), '5');
  if (outcome.kind === 'reject') t.equal(outcome.reason, 'store-unavailable');
});
