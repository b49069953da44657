import t, { type Test } from 'tap';
import SwaggerParser from '@apidevtools/swagger-parser';
import { buildApi } from '../../src/supervisor/api/app.js';
import { sessionValid, signSession } from '../../src/supervisor/api/session.js';
import { consoleDir } from '../../src/supervisor/api/console.js';
import { MAX_EVENT_CLIENTS } from '../../src/supervisor/api/events.js';
import { defaultConfig, type CamgateConfig } from '../../src/shared/config/config.js';
import { createMetrics } from '../../src/supervisor/metrics.js';
import { openStore } from '../../src/supervisor/store/index.js';
import { Notifier } from '../../src/supervisor/notify/index.js';
import { RecentLog } from '../../src/supervisor/recent-log.js';

const TOKEN = 'console-operator-token-0001';

async function makeApi(t: Test, patch: (c: CamgateConfig) => void = () => undefined) {
  const config = defaultConfig();
  patch(config);
  const store = await openStore('sqlite::memory:', { seed: { lid: config.sip.id, region: config.sip.domain, did: config.gb28181.did, cid: config.gb28181.cid } });
  const metrics = createMetrics(
    { deviceCounts: async () => ({ online: 0, offline: 0 }), channelCount: async () => 0, threads: async () => ({ children: [], loads: [] }) },
    'test',
  );
  const notifier = new Notifier({ urls: {} });
  const recentLog = new RecentLog(3);
  const queried: string[] = [];
  const app = await buildApi({
    config,
    store,
    metrics,
    sipHost: '198.51.100.7',
    version: 'test',
    health: async () => ({ status: 'ok', version: 'test', uptime: 1, parts: { api: { ok: true } } }),
    events: notifier,
    recentLog,
    listening: async () => [{ name: 'sip', protocol: 'udp', bind: '0.0.0.0:5060' }],
    gb: {
      queryRecords: async () => ({ daynum: 0, timenum: 0, list: [], complete: true }),
      forgetDevice: async () => undefined,
      queryDevice: async (id, what) => void queried.push(`${what}:${id}`),
    },
  });
  t.teardown(async () => {
    await app.close();
    await notifier.close();
    await store.close();
  });
  return { app, store, notifier, recentLog, queried };
}

t.test('session cookie: sign-in sets an HttpOnly SameSite=Strict cookie that the API accepts; a wrong token does not', async (t) => {
  const { app } = await makeApi(t, (c) => (c.api.tokens = [TOKEN]));
  t.same((await app.inject({ url: '/session' })).json().data, { auth: true, signedIn: false }, 'public, says sign-in is needed');
  t.equal((await app.inject({ url: '/devices' })).statusCode, 401);

  const wrong = await app.inject({ method: 'POST', url: '/session', payload: { token: 'not-the-token-at-all' } });
  t.equal(wrong.statusCode, 401);
  t.notOk(wrong.headers['set-cookie'], 'no cookie for a wrong token');
  const missing = await app.inject({ method: 'POST', url: '/session' });
  t.equal(missing.statusCode, 400);
  t.match(missing.json().data, /^token: /, 'a missing required field is named');

  const signIn = await app.inject({ method: 'POST', url: '/session', payload: { token: TOKEN } });
  t.equal(signIn.statusCode, 200);
  const cookie = String(signIn.headers['set-cookie']);
  t.match(cookie, /^camgate_session=\d+\.[A-Za-z0-9_-]{43};/);
  t.match(cookie, /HttpOnly/);
  t.match(cookie, /SameSite=Strict/);
  t.match(cookie, /Path=\//);
  const value = cookie.split(';')[0]!;
  const withCookie = await app.inject({ url: '/devices', headers: { cookie: value } });
  t.equal(withCookie.statusCode, 200, 'the cookie authenticates API calls');
  t.same((await app.inject({ url: '/session', headers: { cookie: value } })).json().data, { auth: true, signedIn: true });
  const forged = value.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
  t.equal((await app.inject({ url: '/devices', headers: { cookie: forged } })).statusCode, 401, 'a tampered cookie is refused');
  t.equal((await app.inject({ url: '/devices', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 200, 'Bearer still works');

  const out = await app.inject({ method: 'DELETE', url: '/session', headers: { cookie: value } });
  t.match(String(out.headers['set-cookie']), /camgate_session=;.*Max-Age=0/);
});

t.test('session values: expiry and the token they were signed with', async (t) => {
  const a = Buffer.from('token-a-0123456789');
  const b = Buffer.from('token-b-0123456789');
  const now = 1_800_000_000;
  t.ok(sessionValid(signSession(a, now + 60), [b, a], now));
  t.notOk(sessionValid(signSession(a, now - 1), [a], now), 'expired');
  t.notOk(sessionValid(signSession(a, now + 60), [b], now), 'token removed from the config');
  t.notOk(sessionValid(`${now + 60}.x`, [a], now), 'malformed');
  t.notOk(sessionValid(undefined, [a], now));
});

t.test('without tokens there is no sign-in', async (t) => {
  const { app } = await makeApi(t);
  t.same((await app.inject({ url: '/session' })).json().data, { auth: false, signedIn: true });
  t.equal((await app.inject({ url: '/devices' })).statusCode, 200);
});

t.test('GET /events streams the notifier\'s events with the cookie; refused without it', async (t) => {
  const { app, notifier } = await makeApi(t, (c) => (c.api.tokens = [TOKEN]));
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  t.equal((await fetch(`${address}/events`)).status, 401, 'needs a token or session');
  const signIn = await fetch(`${address}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: TOKEN }) });
  const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
  const controller = new AbortController();
  const res = await fetch(`${address}/events`, { headers: { cookie }, signal: controller.signal });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/event-stream/);
  const reader = res.body!.getReader();
  let text = '';
  const readUntil = async (pattern: RegExp) => {
    while (!pattern.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
  };
  await readUntil(/camgate events/);
  notifier.emit('devices.offline', { deviceid: '34020000001320000001', reason: 'keepalive-timeout' }, '34020000001320000001');
  notifier.emit('channels.active', { channelid: '34020000001310000001', deviceid: '34020000001320000001', status: 'ON' });
  await readUntil(/channels\.active[\s\S]*\n\n/);
  t.match(text, /id: 1\nevent: devices\.offline\ndata: \{"method":"devices\.offline","data":\{"deviceid":"34020000001320000001","reason":"keepalive-timeout"\}\}\n\n/);
  t.match(text, /id: 2\nevent: channels\.active\n/);
  const metrics = await (await fetch(`${address}/metrics`)).text();
  t.match(metrics, /camgate_events_clients 1/);
  controller.abort();
  await t.resolves(app.close(), 'close does not wait for open event streams');
});

t.test(`GET /events refuses more than ${MAX_EVENT_CLIENTS} streams`, async (t) => {
  const { app } = await makeApi(t);
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const controllers: AbortController[] = [];
  // The responses are kept: undici cancels the body of a Response that is garbage-collected
  // unread, which closes its connection and frees a slot (the flake this test once had under load).
  const open: Response[] = [];
  for (let i = 0; i < MAX_EVENT_CLIENTS; i++) {
    const c = new AbortController();
    controllers.push(c);
    const res = await fetch(`${address}/events`, { signal: c.signal });
    open.push(res);
    t.equal(res.status, 200);
  }
  const overController = new AbortController();
  controllers.push(overController);
  const over = await fetch(`${address}/events`, { signal: overController.signal });
  t.equal(over.status, 503);
  // An accepted stream never ends: read the body only when it is the refusal.
  t.match(over.status === 503 ? ((await over.json()) as { data: string }).data : '', /too many/);
  t.match(await (await fetch(`${address}/metrics`)).text(), /camgate_events_refused_total\{reason="limit"\} 1/);
  t.equal(open.length, MAX_EVENT_CLIENTS);
  for (const c of controllers) c.abort();
});

t.test('POST routes whose fields are all optional work without a body; required ones are named', async (t) => {
  const { app } = await makeApi(t);
  const created = await app.inject({ method: 'POST', url: '/devices' });
  t.equal(created.statusCode, 200, 'POST /devices with no body');
  const id = created.json().data.deviceid as string;
  t.equal((await app.inject({ method: 'POST', url: `/devices/${id}/channels` })).statusCode, 200, 'POST channel with no body');
  const forward = await app.inject({ method: 'POST', url: '/streams/ABCDEF01/forwards' });
  t.equal(forward.statusCode, 400);
  t.match(forward.json().data, /^host: must have required property 'host'/);
});

t.test('device queries: Catalog and DeviceInfo go to signalling for online devices only', async (t) => {
  const { app, store, queried } = await makeApi(t);
  const device = await store.devices.create({ pwd: '' });
  const offline = await app.inject({ method: 'POST', url: `/devices/${device.deviceid}/catalog` });
  t.equal(offline.statusCode, 409);
  t.match(offline.json().data, /offline/);
  await store.devices.update(device.deviceid, { online: 1 });
  t.equal((await app.inject({ method: 'POST', url: `/devices/${device.deviceid}/catalog` })).statusCode, 200);
  t.equal((await app.inject({ method: 'POST', url: `/devices/${device.deviceid}/deviceinfo` })).statusCode, 200);
  t.same(queried, [`catalog:${device.deviceid}`, `deviceinfo:${device.deviceid}`]);
  t.equal((await app.inject({ method: 'POST', url: '/devices/34020000001320009999/catalog' })).statusCode, 404);
});

t.test('GET /system masks secrets; GET /system/log keeps the newest warnings', async (t) => {
  const { app, recentLog } = await makeApi(t, (c) => {
    c.api.tokens = [TOKEN];
    c.notify.secret = 'hmac-secret';
    c.store.url = 'mysql://camgate:p4ss@db.example:3306/camgate';
  });
  const headers = { authorization: `Bearer ${TOKEN}` };
  const info = (await app.inject({ url: '/system', headers })).json().data;
  t.equal(info.version, 'test');
  t.same(info.listening, [{ name: 'sip', protocol: 'udp', bind: '0.0.0.0:5060' }]);
  const text = JSON.stringify(info.config);
  t.notMatch(text, TOKEN);
  t.notMatch(text, 'hmac-secret');
  t.notMatch(text, 'p4ss');
  t.notMatch(text, '12345678', 'sip.password masked');
  t.equal(info.config.store.url, 'mysql://camgate:********@db.example:3306/camgate');
  t.same(info.config.api.tokens, ['********']);
  t.equal(info.config.sip.port, 5060, 'the rest is shown');

  for (let i = 1; i <= 5; i++) recentLog.write(JSON.stringify({ level: i === 5 ? 50 : 40, time: i, msg: `m${i}`, part: 'sip', err: { message: `e${i}` } }));
  recentLog.write('not json');
  recentLog.write(JSON.stringify({ level: 30, msg: 'info is not kept' }));
  const log = (await app.inject({ url: '/system/log', headers })).json().data;
  t.same(log.map((e: { msg: string }) => e.msg), ['m5', 'm4', 'm3'], 'newest first, capacity kept');
  t.match(log[0], { level: 'error', part: 'sip', err: 'e5' });
});

t.test('the console is served at / (public), OpenAPI documents the new routes', async (t) => {
  const { app } = await makeApi(t, (c) => (c.api.tokens = [TOKEN]));
  const page = await app.inject({ url: '/' });
  if (consoleDir()) {
    t.equal(page.statusCode, 200);
    t.match(page.headers['content-type'], /text\/html/);
    t.match(page.headers['content-security-policy'], /script-src 'self'/);
    const script = /src="(\/ui\/main-[^"]+\.js)"/.exec(page.body)?.[1];
    t.ok(script, 'the page loads its hashed script');
    const js = await app.inject({ url: script!, headers: { 'accept-encoding': 'br' } });
    t.equal(js.statusCode, 200, 'assets are public');
    t.equal(js.headers['content-encoding'], 'br', 'pre-compressed');
    t.match(String(js.headers['cache-control']), /immutable/);
  } else {
    t.equal(page.statusCode, 503, 'not built: says so');
  }
  t.equal((await app.inject({ url: '/ui/nothing.js' })).statusCode, 404);
  t.equal((await app.inject({ url: '/no-such-api' })).statusCode, 401, 'other paths still need auth');
  const doc = (await app.inject({ url: '/swagger/json' })).json();
  for (const path of ['/events', '/session', '/system', '/system/log', '/devices/{id}/catalog', '/devices/{id}/deviceinfo']) t.ok(doc.paths[path], `${path} documented`);
  t.notOk(doc.paths['/'], 'the console page is not an API route');
  t.same(doc.components.securitySchemes.session, { type: 'apiKey', in: 'cookie', name: 'camgate_session', description: 'Set by POST /session (the console)' });
  await t.resolves(SwaggerParser.validate(structuredClone(doc)), 'valid OpenAPI 3');
});

t.test('a session cookie is accepted in its canonical spelling only (the unused bits of its last character are not ignored)', async (t) => {
  const { signSession, sessionValid } = await import('../../src/supervisor/api/session.js');
  const token = Buffer.from(TOKEN);
  const expires = Math.floor(Date.now() / 1000) + 3600;
  const value = signSession(token, expires);
  t.ok(sessionValid(value, [token]));
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(value.at(-1)!);
  // The three other characters with the same four high bits decode to the same bytes.
  for (const low of [0, 1, 2, 3].filter((b) => b !== (last & 3))) {
    const twin = value.slice(0, -1) + alphabet[(last & ~3) | low];
    t.equal(Buffer.from(twin.split('.')[1]!, 'base64url').equals(Buffer.from(value.split('.')[1]!, 'base64url')), true, 'same bytes');
    t.notOk(sessionValid(twin, [token]), `the twin spelling ${twin.at(-1)} is refused`);
  }
});
