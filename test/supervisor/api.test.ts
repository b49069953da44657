import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../src/supervisor/api/app.js';
import { defaultConfig, type CamgateConfig } from '../../src/shared/config/config.js';
import { createMetrics } from '../../src/supervisor/metrics.js';
import { openStore } from '../../src/supervisor/store/index.js';
import type { Store } from '../../src/supervisor/store/types.js';
import { needPeer } from '../helpers/peers.js';
import { scratchDatabase } from '../helpers/mariadb.js';

async function makeApi(store: Store, patch: (c: CamgateConfig) => void = () => undefined) {
  const config = defaultConfig();
  patch(config);
  const metrics = createMetrics(
    {
      deviceCounts: async () => ({ online: 0, offline: (await store.devices.list({ limit: 0 })).total }),
      channelCount: async () => (await store.channels.list({ limit: 0 })).total,
      threads: async () => ({ children: [{ child: 'sip', up: true }], loads: [{ thread: 'sip', elu: 0.5 }] }),
    },
    'test',
  );
  const app = await buildApi({
    config,
    store,
    metrics,
    sipHost: '198.51.100.7',
    version: 'test',
    health: async () => ({ status: 'ok', version: 'test', uptime: 1, parts: { api: { ok: true } } }),
  });
  return { app, metrics, config };
}

const form = { 'content-type': 'application/x-www-form-urlencoded' };

async function post(app: FastifyInstance, url: string, body: Record<string, string> | string, asForm = false) {
  const payload = asForm
    ? new URLSearchParams(body as Record<string, string>).toString()
    : typeof body === 'string'
      ? body
      : JSON.stringify(body);
  return app.inject({
    method: 'POST',
    url,
    headers: asForm ? form : { 'content-type': 'application/json' },
    payload,
  });
}

async function list(app: FastifyInstance, path: string, query: Record<string, string> = {}) {
  const res = await app.inject({ method: 'GET', url: path, query });
  return { status: res.statusCode, body: res.json() };
}

const backends: Array<[string, (t: Test) => Promise<{ url: string; drop(): Promise<void> } | null>]> = [
  ['sqlite', async () => ({ url: 'sqlite::memory:', drop: async () => undefined })],
  ['mariadb', (t) => scratchDatabase(t, 'camgate_api')],
];

for (const [backend, scratch] of backends) {
  t.test(`routes on ${backend}`, async (t) => {
    const db = await scratch(t);
    if (!db) return;
    const store = await openStore(db.url, {
      seed: { lid: '37070000082008000001', region: '3707000008', did: '37070000081118', cid: '37070000081318' },
    });
    const { app, metrics } = await makeApi(store);
    t.teardown(async () => {
      await app.close();
      metrics.stopMeters();
      await store.close();
      await db.drop();
    });

    await t.test('POST /devices allocates IDs, takes form or JSON, returns SIP settings, never the password', async (t) => {
      const a = await post(app, '/devices', { name: 'gate', pwd: 'secret-a' }, true);
      t.equal(a.statusCode, 200);
      const body = a.json();
      t.equal(body.code, '0');
      t.match(body.msgid, /^[0-9a-f]{32}$/);
      t.equal(body.data.deviceid, '37070000081118000001');
      t.equal(body.data.name, 'gate');
      t.same(body.data.sip, {
        id: '37070000082008000001',
        domain: '3707000008',
        host: '198.51.100.7',
        port: 5060,
        transports: ['udp', 'tcp'],
      });
      t.equal(body.data.sysinfo.did, '37070000081118');
      t.notMatch(a.body, /pwd|secret-a/, 'no password in the answer');
      const b = await post(app, '/devices', { pwd: 'secret-b' });
      t.equal(b.json().data.deviceid, '37070000081118000002');
      t.equal(b.json().data.name, '37070000081118000002', 'name defaults to the ID');
      t.equal(await store.devices.getSecret('37070000081118000001'), 'secret-a');
    });

    await t.test('concurrent creates give unique IDs', async (t) => {
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => post(app, '/devices', { name: `c${i}` })));
      const ids = answers.map((r) => r.json().data.deviceid as string);
      t.equal(new Set(ids).size, 40, 'all distinct');
      t.ok(ids.every((id) => /^37070000081118\d{6}$/.test(id)));
    });

    await t.test('explicit IDs, duplicates and bad parameters', async (t) => {
      const explicit = await post(app, '/devices', { deviceid: '34020000001320000001', name: 'nvr' });
      t.equal(explicit.json().data.deviceid, '34020000001320000001');
      const dup = await post(app, '/devices', { deviceid: '34020000001320000001' });
      t.equal(dup.statusCode, 409);
      t.equal(dup.json().code, '1002');
      const bad = await post(app, '/devices', { deviceid: '1234' });
      t.equal(bad.statusCode, 400);
      t.equal(bad.json().code, '1002');
      t.match(bad.json().data, /^deviceid: /);
      const badJson = await post(app, '/devices', '{"name": ');
      t.equal(badJson.statusCode, 400);
      t.equal(badJson.json().code, '1002');
      const longName = await post(app, '/devices', { name: 'x'.repeat(200) });
      t.match(longName.json().data, /^name: /);
    });

    await t.test('POST /devices/:id and DELETE /devices/:id', async (t) => {
      const id = '34020000001320000001';
      const updated = await post(app, `/devices/${id}`, { name: 'renamed', pwd: 'newpass' }, true);
      t.equal(updated.json().data.name, 'renamed');
      t.equal(await store.devices.getSecret(id), 'newpass');
      const kept = await post(app, `/devices/${id}`, { name: '' }, true);
      t.equal(kept.json().data.name, 'renamed', 'empty field keeps the value');
      const missing = await post(app, '/devices/34020000001320009999', { name: 'x' });
      t.equal(missing.statusCode, 404);
      t.equal(missing.json().code, '1002');
      const badId = await post(app, '/devices/abc', { name: 'x' });
      t.equal(badId.statusCode, 400);
      t.match(badId.json().data, /^id: /);

      const ch = await post(app, `/devices/${id}/channels`, { memo: 'door' }, true);
      t.equal(ch.statusCode, 200);
      const del = await app.inject({ method: 'DELETE', url: `/devices/${id}` });
      t.same(del.json().data, '');
      const channels = await list(app, '/channels', {
        filters: JSON.stringify([{ field_name: 'deviceid', opertator: '=', value: id }]),
      });
      t.equal(channels.body.data.Total, 0, 'its channels went with it');
      t.equal((await app.inject({ method: 'DELETE', url: `/devices/${id}` })).statusCode, 404);
    });

    await t.test('channels: create, update, delete', async (t) => {
      const dev = '37070000081118000001';
      const a = await post(app, `/devices/${dev}/channels`, { memo: 'lobby' }, true);
      t.equal(a.json().data.channelid, '37070000081318000002', 'counter continues after the first test');
      t.equal(a.json().data.streamtype, 'push');
      const b = await post(app, `/devices/${dev}/channels`, { channelid: '37070000081318999999', streamtype: 'pull', url: 'rtsp://x/y' });
      t.equal(b.json().data.url, 'rtsp://x/y');
      const noUrl = await post(app, `/devices/${dev}/channels`, { streamtype: 'pull' });
      t.equal(noUrl.statusCode, 400);
      t.match(noUrl.json().data, /^url: /);
      const badType = await post(app, `/devices/${dev}/channels`, { streamtype: 'teleport' });
      t.match(badType.json().data, /^streamtype: /);
      const orphan = await post(app, '/devices/37070000081118999999/channels', {});
      t.equal(orphan.statusCode, 404);
      const toPush = await post(app, '/channels/37070000081318999999', { streamtype: 'push' }, true);
      t.equal(toPush.json().data.url, '', 'push clears the pull URL');
      const memo = await post(app, '/channels/37070000081318000002', { memo: 'hall' });
      t.equal(memo.json().data.memo, 'hall');
      t.equal((await post(app, '/channels/37070000081318555555', { memo: 'x' })).statusCode, 404);
      t.equal((await app.inject({ method: 'DELETE', url: '/channels/37070000081318999999' })).json().code, '0');
      t.equal((await app.inject({ method: 'DELETE', url: '/channels/37070000081318999999' })).statusCode, 404);
      const all = await list(app, '/channels');
      t.equal(all.body.data.Total, 1);
    });

    await t.test('lists: paging, sort, filters with or groups', async (t) => {
      const page = await list(app, '/devices', { limit: '5', skip: '0', sort: 'deviceid' });
      t.equal(page.body.data.Total, 42);
      t.equal(page.body.data.List.length, 5);
      t.equal(page.body.data.List[0].deviceid, '37070000081118000001');
      const next = await list(app, '/devices', { limit: '5', skip: '5', sort: 'deviceid' });
      t.equal(next.body.data.List[0].deviceid, '37070000081118000006');
      const desc = await list(app, '/devices', { limit: '1', sort: '-deviceid' });
      t.equal(desc.body.data.List[0].deviceid, '37070000081118000042');
      t.equal((await list(app, '/devices')).body.data.List.length, 20, 'default limit 20');
      t.equal((await list(app, '/devices', { limit: '-1' })).body.data.List.length, 42, 'negative: no limit');

      const byOr = await list(app, '/devices', {
        sort: 'deviceid',
        filters: JSON.stringify([
          { or: [[{ field_name: 'deviceid', opertator: '=', value: '37070000081118000003' }], [{ field_name: 'name', operator: 'like', value: 'c1' }]] },
        ]),
      });
      t.equal(byOr.status, 200);
      const names = byOr.body.data.List.map((d: { name: string }) => d.name);
      t.ok(names.includes('37070000081118000002') || byOr.body.data.List.some((d: { deviceid: string }) => d.deviceid === '37070000081118000003'));
      t.ok(byOr.body.data.List.every((d: { name: string; deviceid: string }) => d.deviceid === '37070000081118000003' || d.name.includes('c1')));
      const inList = await list(app, '/devices', {
        filters: JSON.stringify([{ field_name: 'deviceid', opertator: 'in', value: '37070000081118000001,37070000081118000002' }]),
      });
      t.equal(inList.body.data.Total, 2);
      const notIn = await list(app, '/devices', {
        filters: JSON.stringify([{ field_name: 'deviceid', opertator: 'notin', value: ['37070000081118000001'] }]),
      });
      t.equal(notIn.body.data.Total, 41);
      const range = await list(app, '/devices', {
        filters: JSON.stringify([
          { field_name: 'deviceid', opertator: '>=', value: '37070000081118000010' },
          { field_name: 'deviceid', opertator: '<', value: '37070000081118000020' },
          { field_name: 'deviceid', opertator: '<>', value: '37070000081118000015' },
        ]),
      });
      t.equal(range.body.data.Total, 9);
    });

    await t.test('bad lists are 400s naming the parameter, and inject nothing', async (t) => {
      const cases: Array<[Record<string, string>, RegExp]> = [
        [{ sort: 'addtime;drop table devices' }, /^sort: /],
        [{ sort: 'pwd' }, /^pwd: cannot sort/],
        [{ limit: 'ten' }, /^limit: /],
        [{ skip: '-3' }, /^skip: /],
        [{ filters: '[{"field_name":' }, /^filters: /],
        [{ filters: '{"a":1}' }, /^filters: /],
        [{ filters: JSON.stringify([{ field_name: 'pwd', opertator: '=', value: 'x' }]) }, /^pwd: /],
        [{ filters: JSON.stringify([{ field_name: "name' OR '1'='1", opertator: '=', value: 'x' }]) }, /^name' OR/],
        [{ filters: JSON.stringify([{ field_name: 'nosuch', opertator: '=', value: 'x' }]) }, /^nosuch: /],
        [{ filters: JSON.stringify([{ field_name: 'name', opertator: 'regexp', value: 'x' }]) }, /regexp/],
      ];
      for (const [query, message] of cases) {
        const res = await list(app, '/devices', query);
        t.equal(res.status, 400, JSON.stringify(query));
        t.equal(res.body.code, '1002');
        t.match(res.body.data, message);
        t.notMatch(res.body.data, /SQL|syntax|ER_|SQLITE/i, 'no SQL error leaks');
      }
      const quoted = await list(app, '/devices', {
        filters: JSON.stringify([{ or: [[{ field_name: 'name', opertator: '=', value: "x' OR '1'='1" }], [{ field_name: 'name', opertator: '=', value: "'; DROP TABLE devices; --" }]] }]),
      });
      t.equal(quoted.status, 200);
      t.equal(quoted.body.data.Total, 0, 'quotes are bound values, not SQL');
      t.equal((await list(app, '/devices')).body.data.Total, 42, 'table intact');
    });

    await t.test('unknown routes answer in the envelope', async (t) => {
      const res = await app.inject({ method: 'GET', url: '/nowhere' });
      t.equal(res.statusCode, 404);
      t.equal(res.json().code, '1002');
    });
  });
}

t.test('token auth', async (t) => {
  const store = await openStore('sqlite::memory:');
  const token = 'a-very-long-operator-token';
  const { app, metrics } = await makeApi(store, (c) => {
    c.api.tokens = [token, 'another-long-operator-token'];
  });
  t.teardown(async () => {
    await app.close();
    metrics.stopMeters();
    await store.close();
  });
  const none = await app.inject({ method: 'GET', url: '/devices' });
  t.equal(none.statusCode, 401);
  t.equal(none.json().code, '1000');
  t.match(none.headers['www-authenticate'], /Bearer/);
  const wrong = await app.inject({ method: 'GET', url: '/devices', headers: { authorization: `Bearer ${token}x` } });
  t.equal(wrong.statusCode, 401);
  const good = await app.inject({ method: 'GET', url: '/devices', headers: { authorization: `Bearer ${token}` } });
  t.equal(good.statusCode, 200);
  const second = await app.inject({ method: 'POST', url: '/devices', headers: { authorization: 'bearer another-long-operator-token' }, payload: {} });
  t.equal(second.statusCode, 200, 'any configured token, scheme case-insensitive');
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, '/healthz is public');
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200, '/metrics public by default');
  t.equal((await app.inject({ method: 'GET', url: '/swagger/json' })).statusCode, 200, 'docs are public');
});

t.test('no auth when api.tokens is empty', async (t) => {
  const store = await openStore('sqlite::memory:');
  const { app, metrics } = await makeApi(store);
  t.teardown(async () => {
    await app.close();
    metrics.stopMeters();
    await store.close();
  });
  t.equal((await app.inject({ method: 'GET', url: '/devices' })).statusCode, 200);
});

t.test('OpenAPI 3 document and Swagger UI', async (t) => {
  const store = await openStore('sqlite::memory:');
  const { app, metrics } = await makeApi(store, (c) => {
    c.api.tokens = ['a-very-long-operator-token'];
  });
  t.teardown(async () => {
    await app.close();
    metrics.stopMeters();
    await store.close();
  });
  const doc = (await app.inject({ method: 'GET', url: '/swagger/json' })).json();
  t.match(doc.openapi, /^3\./);
  await t.resolves(SwaggerParser.validate(structuredClone(doc)), 'valid OpenAPI 3');
  for (const [path, method] of [
    ['/devices', 'get'],
    ['/devices', 'post'],
    ['/devices/{id}', 'post'],
    ['/devices/{id}', 'delete'],
    ['/channels', 'get'],
    ['/devices/{id}/channels', 'post'],
    ['/channels/{id}', 'post'],
    ['/channels/{id}', 'delete'],
    ['/healthz', 'get'],
  ] as const) {
    t.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} documented`);
  }
  t.notOk(JSON.stringify(doc.paths['/devices'].get.responses['200']).includes('"pwd"'), 'no password in the device schema');
  t.ok(doc.components.securitySchemes.bearer, 'bearer scheme');
  const ui = await app.inject({ method: 'GET', url: '/swagger' });
  t.equal(ui.statusCode, 200);
  t.match(ui.headers['content-type'], /text\/html/);
  const legacy = await app.inject({ method: 'GET', url: '/swagger/index.html' });
  t.equal(legacy.statusCode, 302);
  t.equal(legacy.headers.location, '/swagger/');
});

t.test('/metrics passes promtool check metrics', async (t) => {
  const store = await openStore('sqlite::memory:');
  const { app, metrics } = await makeApi(store);
  t.teardown(async () => {
    await app.close();
    metrics.stopMeters();
    await store.close();
  });
  await post(app, '/devices', { name: 'm' });
  await app.inject({ method: 'GET', url: '/devices?limit=x' });
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /text\/plain/);
  const text = res.body;
  t.match(text, /camgate_devices\{state="offline"\} 1/);
  t.match(text, /camgate_http_request_duration_seconds_count\{method="POST",route="\/devices",status_class="2xx"\} 1/);
  t.match(text, /camgate_http_request_duration_seconds_count\{method="GET",route="\/devices",status_class="4xx"\} 1/);
  t.match(text, /camgate_event_loop_utilization_ratio\{thread="sip"\} 0\.5/);
  t.match(text, /process_cpu_seconds_total/);
  t.notMatch(text, /\{[^}]*"[0-9]{20}"[^}]*\}/, "no device IDs in labels");
  if (!needPeer(t, 'promtool', 'prometheus')) return;
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.equal(check.status, 0, check.stdout + check.stderr);
  t.equal((check.stdout + check.stderr).trim(), '', 'promtool reports nothing');
});
