/**
 * /platforms on a real store through fastify's inject, with the PlatformManager talking to a
 * stand-in SIP thread over a real MessageChannel: validation (400 naming the field), CRUD,
 * password never returned, the set of platforms handed to the thread on every change, the
 * registration state it reports (API, webhooks, metrics), and the resolved catalog with
 * cameras, vehicle channels under stable IDs, custom IDs and the "all" switches.
 */
import t from 'tap';
import { MessageChannel } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import SwaggerParser from '@apidevtools/swagger-parser';
import { pino } from 'pino';
import { injectApi, testMetrics } from '../helpers/api.js';
import { defaultConfig } from '../../src/shared/config/config.js';
import { Channel, portEndpoint } from '../../src/shared/channel.js';
import type { ChildChannel, ParentChannel } from '../../src/shared/contracts/lifecycle.js';
import type { SipContract, UpstreamConfig } from '../../src/shared/contracts/sip.js';
import { openStore } from '../../src/supervisor/store/index.js';
import { PlatformManager } from '../../src/supervisor/platforms.js';

t.test('platform routes', async (t) => {
  const config = defaultConfig();
  const store = await openStore('sqlite::memory:');
  t.teardown(() => store.close());
  const { port1, port2 } = new MessageChannel();
  const parent: ParentChannel<SipContract> = new Channel(portEndpoint(port2));
  const thread: ChildChannel<SipContract> = new Channel(portEndpoint(port1));
  t.teardown(() => {
    port1.close();
    port2.close();
  });
  const handed: UpstreamConfig[][] = [];
  thread.handle('platforms.set', ({ platforms }) => {
    handed.push(platforms);
    return platforms.map((p) => ({ id: p.id, state: 'registering' as const, error: null, expires: 0, failures: 0 }));
  });
  const metrics = testMetrics();
  const events: Array<[string, Record<string, unknown>]> = [];
  const feed: Array<(event: string, data: object) => void> = [];
  const notified: unknown[] = [];
  thread.handle('platform.notify', (n) => {
    notified.push(n);
    return 1;
  });
  const manager = new PlatformManager({
    events: { subscribe: (listener) => (feed.push(listener), () => undefined) },
    store,
    config,
    logger: pino({ level: 'silent' }),
    emit: (event, data) => events.push([event, data]),
    sip: () => parent,
    registry: metrics.registry,
  });
  manager.attach(parent);
  const { app, call } = await injectApi({ config, store, metrics, platforms: () => manager });
  t.teardown(() => app.close());

  const upper = { serverid: '44000000002000000001', domain: '4400000000', host: '198.51.100.7', deviceid: '44010000002000000077', pwd: 's3cret' };
  t.test('400s name the field', async (t) => {
    for (const [body, field] of [
      [{ ...upper, serverid: '123' }, 'serverid'],
      [{ ...upper, deviceid: undefined }, 'deviceid'],
      [{ ...upper, host: 'a b' }, 'host'],
      [{ ...upper, port: 70000 }, 'port'],
      [{ ...upper, transport: 'SCTP' }, 'transport'],
      [{ ...upper, charset: 'BIG5' }, 'charset'],
      [{ ...upper, expires: 1 }, 'expires'],
      [{ ...upper, keepalive_interval: 0 }, 'keepalive_interval'],
      [{ ...upper, keepalive_timeouts: 99 }, 'keepalive_timeouts'],
      [{ ...upper, channels: [{ custom_id: '1' }] }, 'channels.0.custom_id'],
      [{ ...upper, channels: [{ kind: 'vehicle', sim: '13800138000' }] }, 'channels.0.channel'],
      [{ ...upper, channels: [{ kind: 'camera' }] }, 'channels.0.channelid'],
      [{ ...upper, channels: [{ channelid: 'a', custom_id: '44010000001310000001' }, { channelid: 'b', custom_id: '44010000001310000001' }] }, 'channels.1.custom_id'],
    ] as const) {
      const res = await call('POST', '/platforms', body);
      t.equal(res.status, 400, `${field}: ${res.body.data}`);
      t.match(res.body, { code: '1002', data: new RegExp(`^${field.replace(/\./g, '\\.')}\\b`) });
    }
    t.same(handed, [], 'nothing handed to the SIP thread');
  });

  t.test('CRUD; the SIP thread gets the enabled set with passwords; the API never shows one', async (t) => {
    const created = await call('POST', '/platforms', { ...upper, channels: [{ channelid: '34020000001320000001' }] });
    t.equal(created.status, 200);
    t.match(created.body.data, { id: 1, serverid: upper.serverid, transport: 'UDP', port: 5060, charset: 'GB2312', has_password: true, status: { state: 'unknown' } });
    t.notOk('pwd' in created.body.data);
    t.match(handed.at(-1), [{ id: 1, serverId: upper.serverid, password: 's3cret', host: '198.51.100.7', expires: 3600, keepaliveInterval: 60, keepaliveTimeouts: 3 }]);
    t.match(await call('POST', '/platforms', upper), { status: 409, body: { code: '1002', data: /already exists/ } });
    t.match(await call('PATCH', '/platforms/1', { enabled: false }), { status: 200, body: { data: { enabled: false, status: { state: 'disabled' } } } });
    t.same(handed.at(-1), [], 'disabled: removed from the set');
    t.match(await call('POST', '/platforms/1', { enabled: true, transport: 'TCP' }), { status: 200, body: { data: { enabled: true, transport: 'TCP' } } });
    t.match(handed.at(-1), [{ transport: 'TCP' }]);
    t.match(await call('GET', '/platforms/9'), { status: 404 });
    t.match(await call('GET', '/platforms/x'), { status: 400, body: { data: /^id/ } });
    t.match(await call('GET', '/platforms'), { status: 200, body: { data: { Total: 1, List: [{ id: 1 }] } } });
  });

  t.test('state from the SIP thread: API, webhooks, metrics', async (t) => {
    thread.notify('platform.status', { id: 1, state: 'online', error: null, expires: 3600, failures: 0 });
    await sleep(50);
    t.match(await call('GET', '/platforms/1'), { body: { data: { status: { state: 'online', error: null, expires: 3600 } } } });
    thread.notify('platform.status', { id: 1, state: 'retrying', error: 'keepalive: 3 without an answer (timed out)', expires: 0, failures: 1 });
    await sleep(50);
    t.match(await call('GET', '/platforms/1'), { body: { data: { status: { state: 'retrying', error: /keepalive/, failures: 1 } } } });
    t.same(
      events.map(([e]) => e),
      ['platforms.online', 'platforms.offline'],
    );
    t.match(events[1]![1], { id: 1, state: 'retrying', error: /keepalive/ });
    const text = await metrics.registry.metrics();
    t.match(text, /camgate_platforms\{state="retrying"\} 1/);
    t.match(text, /camgate_platform_registrations_total\{result="online"\} 1/);
    t.match(text, /camgate_platform_registrations_total\{result="failed"\} 1/);
    t.match(text, /camgate_platform_sessions 0/);
  });

  t.test('catalog: explicit cameras, vehicles with stable IDs, custom IDs, share-all switches', async (t) => {
    const device = await store.devices.create({ pwd: 'x' });
    const cam = await store.channels.create(device.deviceid, { name: '大门' });
    await store.channels.update(cam.channelid, { status: 'ON', longitude: 113.1, latitude: 23.2 });
    const cam2 = await store.channels.create(device.deviceid, { name: 'yard' });
    await store.vehicles.create({ sim: '013800138000', plate: '粤B12345', channels: 2 });
    await store.vehicles.upsert('13800138000', { online: 1, latitude: 22.5, longitude: 114.05 });
    t.equal(
      (await call('PATCH', '/platforms/1', { channels: [{ channelid: cam.channelid, custom_id: '44010000001320000042' }, { sim: '13800138000', channel: 2 }] })).status,
      200,
    );
    const first = (await call('GET', '/platforms/1/catalog')).body.data;
    t.same(first.List, [
      { channelId: '44010000001320000042', name: '大门', status: 'ON', longitude: 113.1, latitude: 23.2 },
      { channelId: '37070000081313800002', name: '粤B12345 通道2', status: 'ON', manufacturer: 'JT/T 1078', longitude: 114.05, latitude: 22.5 },
    ]);
    await call('PATCH', '/platforms/1', { share_cameras: true, share_vehicles: true, channels: [] });
    const all = (await call('GET', '/platforms/1/catalog')).body.data;
    t.same(
      all.List.map((i: { channelId: string }) => i.channelId),
      [cam.channelid, cam2.channelid, '37070000081313800001', '37070000081313800002'],
      'every camera and every vehicle channel; the vehicle IDs did not change',
    );
    t.match(await call('GET', '/platforms/2/catalog'), { status: 404 });

    // Virtual directories: a 215 business group, 216 organisations for cameras and vehicles, channels under them.
    await call('PATCH', '/platforms/1', { directories: true });
    const grouped = (await call('GET', '/platforms/1/catalog')).body.data.List as Array<{ channelId: string; parentId?: string; directory?: boolean }>;
    t.match(grouped.slice(0, 3), [
      { channelId: '37070000082150000001', directory: true, parentId: '44010000002000000077' },
      { channelId: '37070000082160000001', directory: true, parentId: '37070000082150000001' },
      { channelId: '37070000082160000002', directory: true, parentId: '37070000082150000001' },
    ]);
    t.same(grouped.slice(3).map((i) => i.parentId), ['37070000082160000001', '37070000082160000001', '37070000082160000002', '37070000082160000002']);
    await call('PATCH', '/platforms/1', { directories: false });

    // Operator-designed directories: checked as a tree (400s name the item), listed parents first, channels placed by parent_id.
    const G = '44010000002150000001';
    const A = '44010000002160000001';
    const B = '44010000002160000002';
    const tree = (virtual_directories: unknown[], extra: Record<string, unknown> = {}) => call('PATCH', '/platforms/1', { virtual_directories, ...extra });
    for (const [dirs, field, why] of [
      [[{ id: '44010000001310000001', name: 'x' }], 'virtual_directories.0.id', /215/],
      [[{ id: G, name: 'g', parent_id: A }, { id: A, name: 'a', parent_id: G }], 'virtual_directories.0.parent_id', /top/],
      [[{ id: A, name: 'a', parent_id: '44010000002160000099' }], 'virtual_directories.0.parent_id', /must name/],
      [[{ id: G, name: 'g' }, { id: A, name: 'a', parent_id: B }, { id: B, name: 'b', parent_id: A }], 'virtual_directories.1.parent_id', /cycle/],
      [[{ id: G, name: 'g' }, { id: G, name: 'g again' }], 'virtual_directories.1.id', /twice/],
    ] as const) {
      const refused = await tree([...dirs]);
      t.equal(refused.status, 400, `${field}: ${JSON.stringify(refused.body)}`);
      t.match(refused.body.data, field);
      t.match(refused.body.data, why);
    }
    const misplaced = await tree([{ id: G, name: 'g' }], { channels: [{ channelid: cam.channelid, parent_id: A }] });
    t.match(misplaced, { status: 400, body: { data: /channels\.0\.parent_id/ } }, 'a channel under a directory not in the tree');
    const designed = await tree(
      [{ id: B, name: '东区', parent_id: A }, { id: A, name: '园区', parent_id: G }, { id: G, name: '监控业务' }],
      { share_cameras: true, channels: [{ channelid: cam.channelid, parent_id: A }, { sim: '13800138000', channel: 2, parent_id: B }] },
    );
    t.equal(designed.status, 200, JSON.stringify(designed.body));
    t.same(designed.body.data.virtual_directories.map((d: { id: string }) => d.id), [G, A, B], 'stored parents first');
    t.match(designed.body.data.channels, [{ channelid: cam.channelid, parent_id: A }, { sim: '13800138000', channel: 2, parent_id: B }]);
    const placed = (await call('GET', '/platforms/1/catalog')).body.data.List as Array<Record<string, unknown>>;
    t.same(placed.slice(0, 3), [
      { channelId: G, name: '监控业务', status: 'ON', directory: true, parentId: '44010000002000000077' },
      { channelId: A, name: '园区', status: 'ON', directory: true, parentId: G, businessGroupId: G },
      { channelId: B, name: '东区', status: 'ON', directory: true, parentId: A, businessGroupId: G },
    ], 'the group under our device ID; organisations under their parent, with the group');
    t.match(placed.find((i) => i.channelId === cam.channelid), { parentId: A, businessGroupId: G });
    t.match(placed.find((i) => i.channelId === '37070000081313800002'), { parentId: B, businessGroupId: G });
    t.notOk(placed.find((i) => i.channelId === cam2.channelid)?.parentId, 'a channel not placed stays under our device ID');
    // A PATCH of channels alone is checked against the stored tree.
    t.equal((await call('PATCH', '/platforms/1', { channels: [{ channelid: cam.channelid, parent_id: B }] })).status, 200);
    t.equal((await call('PATCH', '/platforms/1', { channels: [{ channelid: cam.channelid, parent_id: '44010000002160000077' }] })).status, 400);
    t.equal((await tree([], { share_cameras: false })).body.data.virtual_directories.length, 0, 'an empty list removes the tree');

    // An upward INVITE is resolved for the one channel asked for: a customised camera answers only to its custom ID.
    await call('PATCH', '/platforms/1', { share_cameras: false, share_vehicles: false, channels: [{ channelid: cam.channelid, custom_id: '44010000001320000042' }] });
    const invite = (channelId: string) => manager.invite({ id: 1, callId: 'c1', channelId, host: '127.0.0.1', port: 9, transport: 'udp' });
    const failure = (channelId: string) => invite(channelId).then(() => null, (error: unknown) => error);
    t.match(await failure(cam.channelid), { status: 404 }, 'its own ID is not shared any more');
    t.match(await failure('37070000081313800002'), { status: 404 }, 'vehicles no longer shared');
    t.match(await failure('44010000001320000042'), { status: 503 }, 'the custom ID resolves (then needs the media process)');

    // Subscriptions: events of shared sources become NOTIFY requests to the SIP thread, under the IDs the platform sees.
    await call('PATCH', '/platforms/1', { share_vehicles: true });
    const fire = (event: string, data: object) => feed.forEach((l) => l(event, data));
    fire('vehicles.alarm', { sim: '13800138000', alarms: ['emergency'] });
    await sleep(100);
    t.same(notified, [], 'nothing while the platform has not subscribed');
    for (const kind of ['catalog', 'mobilePosition', 'alarm'] as const) thread.notify('platform.subscription', { id: 1, kind, active: true });
    await sleep(50);
    fire('vehicles.alarm', { sim: '13800138000', alarms: ['emergency', 'overspeed'], latitude: 22.5, longitude: 114.05, time: 1_700_000_000_000 });
    fire('vehicles.offline', { sim: '13800138000', reason: 'closed' });
    fire('vehicles.position', { sim: '13800138000', latitude: 22.6, longitude: 114.1, speed: 40, direction: 90, time: 1_700_000_001_000 });
    fire('channels.alarm', { deviceid: device.deviceid, channelid: cam.channelid, priority: 1, method: 5, time: 1_700_000_002, description: 'motion' });
    fire('channels.alarm', { deviceid: device.deviceid, channelid: cam2.channelid, priority: 1, method: 5, time: 1_700_000_002 });
    await sleep(300);
    const byKind = (kind: string) => notified.filter((n) => (n as { kind: string }).kind === kind);
    t.match(byKind('alarm'), [
      { id: 1, kind: 'alarm', alarms: [{ channelId: '37070000081313800001', priority: 2, method: 2, time: 1_700_000_000, description: 'JT/T 808 alarm: emergency, overspeed', latitude: 22.5 }, { channelId: '37070000081313800002' }] },
      { id: 1, kind: 'alarm', alarms: [{ channelId: '44010000001320000042', priority: 1, method: 5, description: 'motion' }] },
    ], 'vehicle alarms on each of its channels; a camera alarm under its custom ID; an unshared camera says nothing');
    t.match(byKind('catalog'), [{ kind: 'catalog', items: [{ channelId: '37070000081313800001', status: 'OFF', event: 'OFF' }, { channelId: '37070000081313800002', event: 'OFF' }] }]);
    t.match(byKind('mobilePosition'), [{ kind: 'mobilePosition', positions: [{ channelId: '37070000081313800001', latitude: 22.6, longitude: 114.1, speed: 40 }, { channelId: '37070000081313800002' }] }]);
  });

  t.test('delete unregisters; OpenAPI valid', async (t) => {
    t.match(await call('DELETE', '/platforms/1'), { status: 200 });
    t.same(handed.at(-1), []);
    t.match(await call('DELETE', '/platforms/1'), { status: 404 });
    const spec = app.swagger() as { paths: Record<string, Record<string, unknown>> };
    await SwaggerParser.validate(structuredClone(spec) as never);
    t.ok(spec.paths['/platforms/{id}/catalog']?.get);
  });
});

t.test('the vehicle channel ID rule is configurable (gb28181.cascade) and stored once given', async (t) => {
  const config = defaultConfig();
  config.gb28181.cascade = { ...config.gb28181.cascade, vehicleIdPrefix: '4401000000', vehicleIdType: '132' };
  const store = await openStore('sqlite::memory:');
  t.teardown(() => store.close());
  const manager = new PlatformManager({ store, config, logger: pino({ level: 'silent' }), emit: () => undefined, sip: () => null });
  await store.vehicles.create({ sim: '13800138000', channels: 1 });
  const platform = await store.platforms.create({ serverid: '44000000002000000001', domain: '4400000000', host: 'h', deviceid: '44010000002000000077', share_vehicles: true });
  t.match(await manager.catalog(platform.id), [{ channelId: '44010000001323800001', name: '13800138000 通道1' }]);
  config.gb28181.cascade = { ...config.gb28181.cascade, vehicleIdPrefix: '', vehicleIdType: '131' };
  t.match(await manager.catalog(platform.id), [{ channelId: '44010000001323800001' }], 'a later rule does not renumber it');
});

t.test('an INVITE for a vehicle channel whose ID no catalog has allocated yet resolves (the ID names its SIM tail and channel)', async (t) => {
  const config = defaultConfig();
  const store = await openStore('sqlite::memory:');
  t.teardown(() => store.close());
  const manager = new PlatformManager({ store, config, logger: pino({ level: 'silent' }), emit: () => undefined, sip: () => null });
  await store.vehicles.create({ sim: '013800138000', channels: 2 });
  const platform = await store.platforms.create({ serverid: '44000000002000000001', domain: '4400000000', host: 'h', deviceid: '44010000002000000077', share_vehicles: true });
  t.same([...(await store.platforms.vehicleChannelIds()).keys()], [], 'nothing allocated yet');
  const invite = (channelId: string) => manager.invite({ id: platform.id, callId: 'c', channelId, host: '127.0.0.1', port: 9, transport: 'udp' }).then(() => null, (error: unknown) => error);
  t.match(await invite('37070000081313800002'), { status: 503 }, 'resolved to the vehicle (then needs the media process), not 404');
  t.same([...(await store.platforms.vehicleChannelIds()).entries()], [['13800138000/2', '37070000081313800002']], 'and allocated as a catalog would');
  t.match(await invite('37070000081313800003'), { status: 404 }, 'a channel the vehicle does not have');
  t.match(await invite('37070000081399999001'), { status: 404 }, 'no vehicle with that SIM tail');
});
