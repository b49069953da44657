import t from 'tap';
import { createHash } from 'node:crypto';
import { FakeClock } from '../../../src/protocol/sip/clock.js';
import {
  NonceStore,
  buildChallenge,
  computeDigestResponse,
  computeHa1,
  buildAuthorization,
  parseAuthorization,
  parseChallenge,
  verifyDigest,
} from '../../../src/protocol/sip/digest.js';
import { parseMessage } from '../../../src/protocol/sip/parser.js';
import { bytes, gbRegister, DEVICE_ID, REALM } from './fixtures/messages.js';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

t.test('RFC 2617 §3.5 worked example (qop=auth)', async (t) => {
  const ha1 = computeHa1('Mufasa', 'testrealm@host.com', 'Circle Of Life');
  const response = computeDigestResponse({
    method: 'GET',
    uri: '/dir/index.html',
    nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
    ha1,
    qop: 'auth',
    nc: '00000001',
    cnonce: '0a4f113b',
  });
  t.equal(response, '6629fae49393a05397450978507c4ef1');
});

t.test('buildChallenge spells out algorithm=MD5 (Dahua) and optional qop/stale/opaque', async (t) => {
  t.equal(buildChallenge({ realm: REALM, nonce: 'abc' }), `Digest realm="${REALM}", nonce="abc", algorithm=MD5, qop="auth"`);
  t.equal(buildChallenge({ realm: REALM, nonce: 'abc', qop: false, stale: true, opaque: 'o' }), `Digest realm="${REALM}", nonce="abc", opaque="o", algorithm=MD5, stale=true`);
});

t.test('parseAuthorization tolerates spacing, quoting and order', async (t) => {
  const a = parseAuthorization(
    'Digest   username = "34020000001320000001" ,realm="3402000000",nonce= "n1", uri="sip:127.0.0.1:5060",response="0123456789abcdef0123456789abcdef", algorithm=MD5,cnonce="6b8b4567",qop=auth,  nc=00000001',
  );
  t.ok(a);
  t.equal(a!.username, '34020000001320000001');
  t.equal(a!.nonce, 'n1');
  t.equal(a!.uri, 'sip:127.0.0.1:5060');
  t.equal(a!.qop, 'auth');
  t.equal(a!.nc, '00000001');
  t.equal(a!.cnonce, '6b8b4567');
  t.equal(a!.algorithm, 'MD5');
  const escaped = parseAuthorization('digest username="a\\"b", realm="r", nonce="n", uri="sip:x", response="r"');
  t.equal(escaped?.username, 'a"b');
  t.equal(parseAuthorization('Basic dXNlcjpwYXNz'), null);
  t.equal(parseAuthorization('Digest username="a", realm="r"'), null, 'missing nonce/uri/response');
  t.equal(parseAuthorization('Digest username="unterminated'), null);
  t.equal(parseAuthorization(undefined), null);
});

/** Answer a challenge the way a device (sipp) does. */
function deviceAnswer(opts: { nonce: string; password?: string; qop?: boolean; nc?: string; uri?: string; realm?: string; username?: string }): string {
  const username = opts.username ?? DEVICE_ID;
  const realm = opts.realm ?? REALM;
  const uri = opts.uri ?? 'sip:127.0.0.1:5060';
  const ha1 = md5(`${username}:${realm}:${opts.password ?? '12345678'}`);
  const ha2 = md5(`REGISTER:${uri}`);
  if (opts.qop === false) {
    return `Digest username="${username}", realm="${realm}", nonce="${opts.nonce}", uri="${uri}", response="${md5(`${ha1}:${opts.nonce}:${ha2}`)}", algorithm=MD5`;
  }
  const nc = opts.nc ?? '00000001';
  const cnonce = '6b8b4567';
  const response = md5(`${ha1}:${opts.nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `Digest username="${username}",realm="${realm}",cnonce="${cnonce}",nc=${nc},qop=auth,uri="${uri}",nonce="${opts.nonce}",response="${response}",algorithm=MD5`;
}

t.test('verify a REGISTER like sipp sends it (uri is not the Request-URI)', async (t) => {
  const nonces = new NonceStore({ clock: new FakeClock() });
  const nonce = nonces.issue();
  const raw = gbRegister({ cseq: 2, auth: deviceAnswer({ nonce }) });
  const parsed = parseMessage(bytes(raw));
  t.ok(parsed.ok);
  if (!parsed.ok || parsed.message.kind !== 'request') return;
  const creds = parseAuthorization(parsed.message.headers.get('authorization'));
  t.ok(creds);
  t.same(verifyDigest(creds!, { method: parsed.message.method, password: '12345678', realm: REALM, nonces }), { ok: true });
});

t.test('wrong password, wrong realm, unsupported qop', async (t) => {
  const nonces = new NonceStore({ clock: new FakeClock() });
  const nonce = nonces.issue();
  const bad = parseAuthorization(deviceAnswer({ nonce, password: 'nope' }))!;
  t.same(verifyDigest(bad, { method: 'REGISTER', password: '12345678', realm: REALM, nonces }), { ok: false, stale: false, reason: 'bad-response' });
  const otherRealm = parseAuthorization(deviceAnswer({ nonce, realm: 'evil' }))!;
  t.same(verifyDigest(otherRealm, { method: 'REGISTER', password: '12345678', realm: REALM, nonces }), { ok: false, stale: false, reason: 'realm-mismatch' });
  const authInt = parseAuthorization(deviceAnswer({ nonce }).replace('qop=auth', 'qop=auth-int'))!;
  t.equal(verifyDigest(authInt, { method: 'REGISTER', password: '12345678', realm: REALM, nonces }).ok, false);
  // a failed attempt must not burn the nonce for the real device
  const good = parseAuthorization(deviceAnswer({ nonce }))!;
  t.same(verifyDigest(good, { method: 'REGISTER', password: '12345678', realm: REALM, nonces }), { ok: true });
});

t.test('HA1 instead of the password', async (t) => {
  const nonces = new NonceStore({ clock: new FakeClock() });
  const nonce = nonces.issue();
  const creds = parseAuthorization(deviceAnswer({ nonce }))!;
  const ha1 = computeHa1(DEVICE_ID, REALM, '12345678');
  t.same(verifyDigest(creds, { method: 'REGISTER', ha1, realm: REALM, nonces }), { ok: true });
  t.same(verifyDigest(creds, { method: 'REGISTER', realm: REALM }), { ok: false, stale: false, reason: 'no-secret' });
});

t.test('qop=auth: nc must strictly increase per nonce', async (t) => {
  const nonces = new NonceStore({ clock: new FakeClock() });
  const nonce = nonces.issue();
  const check = (nc: string) => verifyDigest(parseAuthorization(deviceAnswer({ nonce, nc }))!, { method: 'REGISTER', password: '12345678', realm: REALM, nonces });
  t.same(check('00000001'), { ok: true });
  t.same(check('00000001'), { ok: false, stale: true, reason: 'replay' }, 'replayed nc');
  t.same(check('00000002'), { ok: true });
  t.same(check('0000000a'), { ok: true }, 'nc is hex');
  t.same(check('00000009'), { ok: false, stale: true, reason: 'replay' });
});

t.test('without qop a nonce is single-use', async (t) => {
  const nonces = new NonceStore({ clock: new FakeClock() });
  const nonce = nonces.issue();
  const creds = parseAuthorization(deviceAnswer({ nonce, qop: false }))!;
  t.equal(creds.qop, undefined);
  t.same(verifyDigest(creds, { method: 'REGISTER', password: '12345678', realm: REALM, nonces }), { ok: true });
  t.same(verifyDigest(creds, { method: 'REGISTER', password: '12345678', realm: REALM, nonces }), { ok: false, stale: true, reason: 'replay' });
});

t.test('expired or unknown nonce with the right password is stale', async (t) => {
  const clock = new FakeClock();
  const nonces = new NonceStore({ clock, ttlMs: 60_000 });
  const nonce = nonces.issue();
  clock.advance(60_000);
  const creds = parseAuthorization(deviceAnswer({ nonce }))!;
  t.same(verifyDigest(creds, { method: 'REGISTER', password: '12345678', realm: REALM, nonces }), { ok: false, stale: true, reason: 'stale-nonce' });
  const unknown = parseAuthorization(deviceAnswer({ nonce: 'never-issued' }))!;
  t.same(verifyDigest(unknown, { method: 'REGISTER', password: '12345678', realm: REALM, nonces }), { ok: false, stale: true, reason: 'stale-nonce' });
});

t.test('NonceStore sweeps expired entries and caps its size', async (t) => {
  const clock = new FakeClock();
  const nonces = new NonceStore({ clock, ttlMs: 1000, maxEntries: 3 });
  const first = nonces.issue();
  nonces.issue();
  nonces.issue();
  nonces.issue();
  t.equal(nonces.size, 3);
  t.equal(nonces.use(first, '1'), 'stale', 'oldest dropped');
  clock.advance(1000);
  nonces.issue();
  t.equal(nonces.size, 1, 'expired swept on issue');
  t.not(nonces.issue(), nonces.issue(), 'nonces are unique');
});

t.test('MD5-sess and SHA-256 responses', async (t) => {
  const ha1 = computeHa1('u', 'r', 'p');
  const sess = computeDigestResponse({ method: 'REGISTER', uri: 'sip:x', nonce: 'n', ha1, algorithm: 'MD5-sess', qop: 'auth', nc: '00000001', cnonce: 'c' });
  const sessHa1 = md5(`${ha1}:n:c`);
  t.equal(sess, md5(`${sessHa1}:n:00000001:c:auth:${md5('REGISTER:sip:x')}`));
  const sha = computeDigestResponse({ method: 'REGISTER', uri: 'sip:x', nonce: 'n', ha1: computeHa1('u', 'r', 'p', 'SHA-256'), algorithm: 'SHA-256' });
  t.equal(sha?.length, 64);
  t.equal(computeDigestResponse({ method: 'REGISTER', uri: 'sip:x', nonce: 'n', ha1, algorithm: 'CRC32' }), null);
});

t.test('client side: parseChallenge + buildAuthorization verify against the server side', async (t) => {
  const nonces = new NonceStore({ clock: new FakeClock() });
  for (const qop of [true, false]) {
    const header = buildChallenge({ realm: REALM, nonce: nonces.issue(), qop, opaque: 'op1' });
    const challenge = parseChallenge(header)!;
    t.equal(challenge.realm, REALM);
    t.equal(challenge.opaque, 'op1');
    t.equal(challenge.stale, false);
    const auth = buildAuthorization({ challenge, username: DEVICE_ID, password: 'pw', method: 'REGISTER', uri: 'sip:3402000000' })!;
    const creds = parseAuthorization(auth)!;
    t.equal(creds.qop, qop ? 'auth' : undefined);
    t.equal(creds.opaque, 'op1');
    t.same(verifyDigest(creds, { method: 'REGISTER', password: 'pw', realm: REALM, nonces }), { ok: true });
  }
  t.equal(parseChallenge(buildChallenge({ realm: 'r', nonce: 'n', stale: true }))?.stale, true);
  t.equal(parseChallenge('Digest nonce="x"'), null);
  t.equal(buildAuthorization({ challenge: { realm: 'r', nonce: 'n', algorithm: 'CRC', stale: false }, username: 'u', password: 'p', method: 'M', uri: 'u' }), null);
});
