/**
 * UpstreamClient (cascade registration, src/sip/upstream.ts) on a FakeClock: each request it
 * sends is answered by hand, and digest answers are checked with the server-side verifier.
 */
import t, { type Test } from 'tap';
import fc from 'fast-check';
import {
  FakeClock,
  buildChallenge,
  createResponse,
  parseAuthorization,
  verifyDigest,
  type ClientTransactionHandlers,
  type SipRequest,
} from '../../src/protocol/sip/index.js';
import { parseManscdp } from '../../src/protocol/gb28181/index.js';
import { UpstreamClient, refreshDelayMs, retryDelayMs, type UpstreamConfig, type UpstreamStatus } from '../../src/sip/upstream.js';

const config: UpstreamConfig = {
  id: 7,
  serverId: '44000000002000000001',
  domain: '4400000000',
  host: '198.51.100.7',
  port: 5060,
  transport: 'UDP',
  deviceId: '44010000002000000077',
  password: 'upper-secret',
  expires: 120,
  keepaliveInterval: 20,
  keepaliveTimeouts: 3,
  charset: 'GB2312',
};

function harness(overrides: Partial<UpstreamConfig> = {}) {
  const clock = new FakeClock(0);
  const sent: Array<{ request: SipRequest; handlers: ClientTransactionHandlers }> = [];
  const statuses: UpstreamStatus[] = [];
  const client = new UpstreamClient(
    { ...config, ...overrides },
    { clock, local: { host: '192.0.2.10', port: 5060 }, send: (request, _remote, handlers) => sent.push({ request, handlers }), status: (s) => statuses.push(s), random: () => 0.5 },
  );
  const last = () => sent.at(-1)!;
  const answer = (status: number, reason: string, headers: Array<[string, string]> = []) => {
    const { handlers } = last();
    handlers.onResponse?.(createResponse(status, reason, headers), undefined as never);
  };
  return { clock, sent, statuses, client, last, answer };
}

const challenge = (nonce: string, qop: boolean, stale = false) => ['WWW-Authenticate', buildChallenge({ realm: config.domain, nonce, qop, stale })] as [string, string];

function checkAuth(t: Test, request: SipRequest, qop: boolean, password = config.password) {
  const creds = parseAuthorization(request.headers.get('authorization'));
  t.ok(creds, 'Authorization present');
  t.equal(creds!.username, config.deviceId, 'username is our device ID');
  t.equal(creds!.uri, `sip:${config.serverId}@${config.domain}`);
  t.equal(creds!.qop !== undefined, qop, qop ? 'qop=auth answered' : 'RFC 2069 form without qop');
  t.same(verifyDigest(creds!, { method: 'REGISTER', password, realm: config.domain }), { ok: true }, 'digest verifies');
}

t.test('REGISTER with qop digest, refresh before expiry, keepalives', async (t) => {
  const h = harness();
  h.client.start();
  const first = h.last().request;
  t.equal(first.method, 'REGISTER');
  t.equal(first.uri, `sip:${config.serverId}@${config.domain}`);
  t.match(first.headers.get('from'), `<sip:${config.deviceId}@${config.domain}>;tag=`);
  t.equal(first.headers.get('to'), `<sip:${config.deviceId}@${config.domain}>`);
  t.equal(first.headers.get('contact'), `<sip:${config.deviceId}@192.0.2.10:5060>`);
  t.equal(first.headers.get('expires'), '120');
  t.equal(first.headers.get('authorization'), undefined);
  t.match(h.statuses, [{ state: 'registering' }]);
  h.answer(401, 'Unauthorized', [challenge('n1', true)]);
  const second = h.last().request;
  checkAuth(t, second, true);
  t.equal(second.headers.get('call-id'), first.headers.get('call-id'), 'one Call-ID for the registration');
  t.equal(second.headers.get('cseq'), '2 REGISTER', 'CSeq moves on');
  h.answer(200, 'OK', [['Expires', '60']]);
  t.match(h.client.status(), { state: 'online', error: null, expires: 60, failures: 0 });

  h.clock.advance(20_000);
  const keepalive = h.last().request;
  t.equal(keepalive.method, 'MESSAGE', 'a keepalive after keepalive_interval');
  t.equal(keepalive.headers.get('content-type'), 'Application/MANSCDP+xml');
  const body = parseManscdp(keepalive.body);
  t.match(body, { ok: true, message: { kind: 'keepalive', root: 'Notify', deviceId: config.deviceId, ok: true } });
  t.match(Buffer.from(keepalive.body).toString('latin1'), /encoding="GB2312"/);
  h.answer(200, 'OK');

  const before = h.sent.length;
  h.clock.advance(10_000); // 30 s: half of the 60 s granted
  const refresh = h.sent.slice(before).find((s) => s.request.method === 'REGISTER')!.request;
  t.ok(refresh, 'refreshed half-way through the 60 s granted');
  checkAuth(t, refresh, true);
  t.match(parseAuthorization(refresh.headers.get('authorization'))!.nc, '00000002', 'the known nonce, next nonce count');
  h.sent.at(-1)!.handlers.onResponse?.(createResponse(200, 'OK', [['Expires', '60']]), undefined as never);
  t.equal(h.client.state, 'online');
});

t.test('digest without qop; a new nonce on refresh is answered once', async (t) => {
  const h = harness({ keepaliveInterval: 3600 });
  h.client.start();
  h.answer(401, 'Unauthorized', [challenge('plain', false)]);
  checkAuth(t, h.last().request, false);
  h.answer(200, 'OK');
  t.equal(h.client.status().expires, 120, 'no Expires in the 200: what we asked for');
  h.clock.advance(refreshDelayMs(120));
  const refresh = h.last().request;
  t.equal(refresh.method, 'REGISTER');
  h.answer(401, 'Unauthorized', [challenge('fresh', false)]);
  const answered = h.last().request;
  t.equal(parseAuthorization(answered.headers.get('authorization'))!.nonce, 'fresh');
  h.answer(200, 'OK');
  t.equal(h.client.state, 'online', 'never left online during the refresh');
  t.same(h.statuses.map((s) => s.state), ['registering', 'online']);
});

t.test('403 then recovery with back-off; wrong password is reported', async (t) => {
  const h = harness();
  h.client.start();
  h.answer(403, 'Forbidden');
  t.match(h.client.status(), { state: 'retrying', error: 'REGISTER answered 403 Forbidden', failures: 1 });
  const count = h.sent.length;
  h.clock.advance(retryDelayMs(1, () => 0.5) - 1);
  t.equal(h.sent.length, count, 'nothing before the back-off');
  h.clock.advance(1);
  t.equal(h.last().request.method, 'REGISTER', 'registers again after the back-off');
  h.answer(401, 'Unauthorized', [challenge('n2', true)]);
  h.answer(200, 'OK');
  t.match(h.client.status(), { state: 'online', error: null, failures: 0 });

  const bad = harness({ password: 'wrong' });
  bad.client.start();
  bad.answer(401, 'Unauthorized', [challenge('x1', true)]);
  bad.answer(401, 'Unauthorized', [challenge('x1', true)]);
  t.match(bad.client.status(), { state: 'retrying', error: /wrong password or device ID/ });
  bad.clock.advance(retryDelayMs(1, () => 0.5));
  t.notOk(bad.last().request.headers.get('authorization'), 'the retry starts without the refused credentials');
});

t.test('time-out: retrying with back-off that doubles up to the cap', async (t) => {
  const h = harness();
  h.client.start();
  h.last().handlers.onTimeout?.(undefined as never);
  t.match(h.client.status(), { state: 'retrying', error: /timed out/ });
  t.equal(retryDelayMs(1, () => 0.5), 1000);
  t.equal(retryDelayMs(2, () => 0.5), 2000);
  t.equal(retryDelayMs(30, () => 0.5), 60_000);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 100 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (n, r) => {
      const d = retryDelayMs(n, () => r);
      return d >= 800 && d <= 72_000;
    }),
  );
  fc.assert(fc.property(fc.integer({ min: 10, max: 86_400 }), (e) => refreshDelayMs(e) < e * 1000 && refreshDelayMs(e) >= (e * 1000) / 2));
});

t.test('keepalives unanswered: dropped, registers again; a keepalive refused registers again at once', async (t) => {
  const h = harness();
  h.client.start();
  h.answer(200, 'OK');
  for (let i = 0; i < 3; i++) {
    h.clock.advance(20_000);
    t.equal(h.last().request.method, 'MESSAGE');
    h.last().handlers.onTimeout?.(undefined as never);
  }
  t.match(h.client.status(), { state: 'retrying', error: 'keepalive: 3 without an answer (timed out)' });
  h.clock.advance(1000);
  t.equal(h.last().request.method, 'REGISTER');
  h.answer(200, 'OK');
  t.equal(h.client.state, 'online');
  h.clock.advance(20_000);
  h.answer(404, 'Not Found');
  t.match(h.client.status(), { state: 'retrying', error: 'keepalive answered 404 Not Found' });
});

t.test('a keepalive still unanswered at the next interval counts as missed (the platform went away)', async (t) => {
  const h = harness({ keepaliveTimeouts: 2 });
  h.client.start();
  h.answer(200, 'OK');
  h.clock.advance(20_000);
  t.equal(h.last().request.method, 'MESSAGE', 'first keepalive, never answered');
  h.clock.advance(20_000);
  t.equal(h.client.state, 'online', 'one miss of two allowed');
  h.clock.advance(20_000);
  t.match(h.client.status(), { state: 'retrying', error: 'keepalive: 2 without an answer (no answer within the interval)' });
  const late = h.sent.filter((s) => s.request.method === 'MESSAGE')[0]!;
  late.handlers.onTimeout?.(undefined as never);
  t.equal(h.client.status().failures, 1, 'the late time-out of a keepalive already counted changes nothing');
});

t.test('stop unregisters with Expires: 0 and stays quiet', async (t) => {
  const h = harness();
  h.client.start();
  h.answer(200, 'OK');
  const stopped = h.client.stop();
  t.equal(h.last().request.headers.get('expires'), '0');
  h.answer(200, 'OK');
  await stopped;
  const count = h.sent.length;
  h.clock.advance(1_000_000);
  t.equal(h.sent.length, count, 'no timer left');
  t.equal(h.client.state, 'stopped');
});
