import t, { type Test } from 'tap';
import { MessageChannel } from 'node:worker_threads';
import pino from 'pino';
import { Channel, portEndpoint } from '../../src/shared/channel.js';
import type { ChildChannel, ParentChannel } from '../../src/shared/contracts/lifecycle.js';
import type { SipContract } from '../../src/shared/contracts/sip.js';
import { validateConfig } from '../../src/shared/config/config.js';
import { openStore } from '../../src/supervisor/store/index.js';
import { SignallingBridge } from '../../src/supervisor/signalling-bridge.js';
import { StoreError, type Store } from '../../src/supervisor/store/types.js';
import { WriteBehind } from '../../src/supervisor/write-behind.js';

const DEVICE = '34020000001320000001';

async function rig(t: Test, activeEvents?: 'change' | 'every') {
  const store = await openStore('sqlite::memory:');
  await store.devices.create({ deviceid: DEVICE, pwd: 'pw', region: '3402000000' });
  const config = validateConfig(activeEvents ? { notify: { activeEvents } } : {});
  const events: Array<{ event: string; data: Record<string, unknown> }> = [];
  const bridge = new SignallingBridge({ store, config, logger: pino({ level: 'silent' }), emit: (event, data) => events.push({ event, data }) });
  const { port1, port2 } = new MessageChannel();
  const sipSide: ChildChannel<SipContract> = new Channel(portEndpoint(port1));
  const supervisorSide: ParentChannel<SipContract> = new Channel(portEndpoint(port2));
  bridge.attach(supervisorSide);
  t.teardown(async () => {
    port1.close();
    port2.close();
    await store.close();
  });
  const keepalive = async () => {
    sipSide.notify('device.keepalive', { deviceId: DEVICE, transport: 'UDP', address: '192.0.2.10', port: 5070 });
    await new Promise((r) => setTimeout(r, 30));
    await bridge.drain();
  };
  return { store, bridge, events, keepalive, sipSide };
}

t.test('devices.active fires when a keepalive changes the device to online, not on every keepalive', async (t) => {
  const r = await rig(t);
  for (let i = 0; i < 5; i++) await r.keepalive();
  t.equal(r.events.filter((e) => e.event === 'devices.active').length, 1, 'one event for the offline → online change');
  t.equal((await r.store.devices.get(DEVICE))?.online, 1);
  // The device goes offline and comes back: one more.
  r.sipSide.notify('device.offline', { deviceId: DEVICE, reason: 'keepalive-timeout' });
  await new Promise((r) => setTimeout(r, 30));
  await r.bridge.drain();
  for (let i = 0; i < 3; i++) await r.keepalive();
  t.equal(r.events.filter((e) => e.event === 'devices.active').length, 2);
  t.equal(r.events.filter((e) => e.event === 'devices.offline').length, 1);
});

t.test('notify.activeEvents: every keeps the old behaviour', async (t) => {
  const r = await rig(t, 'every');
  for (let i = 0; i < 4; i++) await r.keepalive();
  t.equal(r.events.filter((e) => e.event === 'devices.active').length, 4);
});

t.test('GB28181 events: catalog changes, alarms and positions reach the store and the webhooks', async (t) => {
  const r = await rig(t);
  const CAMERA = '34020000001310000001';
  const GONE = '34020000001310000002';
  await r.store.channels.create(DEVICE, { channelid: CAMERA });
  await r.store.channels.create(DEVICE, { channelid: GONE });
  const settle = async () => {
    await new Promise((resolve) => setTimeout(resolve, 30));
    await r.bridge.drain();
  };
  r.sipSide.notify('catalog.change', {
    deviceId: DEVICE,
    changes: [
      { channelid: CAMERA, event: 'OFF', status: 'ON', name: 'Gate' },
      { channelid: GONE, event: 'DEL', status: 'ON' },
      { channelid: '34020000001310000003', event: 'ADD', status: 'ON' },
    ],
  });
  await settle();
  t.match(await r.store.channels.get(CAMERA), { status: 'OFF', name: 'Gate' }, 'an OFF event wins over the item Status');
  t.match(await r.store.channels.get(GONE), { status: 'OFF' }, 'DEL keeps the row, OFF');
  t.equal(await r.store.channels.get('34020000001310000003'), null, 'ADD of an unknown channel is ignored with provisioned registration');
  t.same(
    r.events.filter((e) => e.event.startsWith('channels.')).map((e) => [e.event, e.data.channelid, e.data.event]),
    [
      ['channels.active', CAMERA, 'OFF'],
      ['channels.removed', GONE, 'DEL'],
    ],
  );

  r.sipSide.notify('device.alarm', { deviceId: DEVICE, channelId: CAMERA, sn: 7, priority: 1, method: 5, time: 1796000000, timeRaw: '2026-11-30T08:00:00', description: 'Motion', via: 'message' });
  r.sipSide.notify('device.position', { deviceId: DEVICE, channelId: CAMERA, time: 1796000000, longitude: 116.397128, latitude: 39.916527, via: 'notify' });
  await settle();
  t.match(r.events.find((e) => e.event === 'channels.alarm')?.data, { deviceid: DEVICE, channelid: CAMERA, priority: 1, method: 5, description: 'Motion', via: 'message' });
  t.match(await r.store.channels.get(CAMERA), { longitude: 116.397128, latitude: 39.916527 });
});

t.test('store outage: devices.offline goes out at once, the write is retried, reconcile makes rows follow the SIP thread', async (t) => {
  const store = await openStore('sqlite::memory:');
  t.teardown(() => store.close());
  const [A, B, C] = ['34020000001320000101', '34020000001320000102', '34020000001320000103'];
  for (const deviceid of [A, B, C]) await store.devices.create({ deviceid, pwd: 'pw', region: '3402000000' });
  await store.devices.update(C, { online: 1 }); // a row a lost write left online
  let down = false;
  const flaky: Store = { ...store, devices: unavailableWhile(store.devices, () => down), close: () => store.close() };
  const { events, writes, bridge, sipSide } = flakyRig(t, flaky);
  const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

  sipSide.notify('device.keepalive', { deviceId: A, transport: 'UDP', address: '192.0.2.10', port: 5070 });
  await settle();
  await bridge.drain();
  t.equal((await store.devices.get(A))?.online, 1);

  down = true;
  sipSide.notify('device.offline', { deviceId: A, reason: 'keepalive-timeout' });
  await settle();
  t.match(events.filter((e) => e.event === 'devices.offline'), [{ data: { deviceid: A, reason: 'keepalive-timeout' } }], 'announced while the store is down');
  t.equal(writes.up, false, 'the failed write put the queue down');
  t.equal((await store.devices.get(A))?.online, 1, 'not written yet');

  down = false;
  await settle();
  await writes.idle();
  t.equal(writes.up, true);
  t.equal((await store.devices.get(A))?.online, 0, 'the retried write landed');

  // The SIP thread holds B only: C's row is stale, B's row says offline.
  const result = await bridge.reconcile([{ deviceId: B, transport: 'UDP', address: '192.0.2.11', port: 5060, expiresAt: Math.floor(Date.now() / 1000) + 3600, contact: '' }]);
  await writes.idle();
  t.same(result, { offline: 1, online: 1 });
  t.equal((await store.devices.get(C))?.online, 0, 'stale online row set offline');
  t.equal((await store.devices.get(B))?.online, 1, 'live device set online');
  t.equal((await store.devices.get(B))?.source, '192.0.2.11:5060');
  const offline = events.filter((e) => e.event === 'devices.offline');
  t.same(offline.map((e) => [e.data.deviceid, e.data.reason]), [[A, 'keepalive-timeout'], [C, 'reconciled']], 'C announced once by the reconciliation; A not again');
  await bridge.reconcile([]);
  await writes.idle();
  t.equal(events.filter((e) => e.event === 'devices.offline').length, 3, 'a second pass announces only B, which left');
});

/** `target` whose methods reject with "store unavailable" while `down()`. */
function unavailableWhile<T extends object>(target: T, down: () => boolean): T {
  return new Proxy(target, {
    get(object, key) {
      const value = Reflect.get(object, key) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (down()) return Promise.reject(new StoreError('store unavailable: timed out after 1500 ms'));
        return (value as (...a: unknown[]) => unknown).apply(object, args);
      };
    },
  });
}

t.test('store outage: catalog changes and device info wait in the queue, merged per device, and land when it is back', async (t) => {
  const store = await openStore('sqlite::memory:');
  t.teardown(() => store.close());
  await store.devices.create({ deviceid: DEVICE, pwd: 'pw', region: '3402000000' });
  const CAMERA = '34020000001310000001';
  await store.channels.create(DEVICE, { channelid: CAMERA });
  let down = true;
  const flaky: Store = { ...store, devices: unavailableWhile(store.devices, () => down), channels: unavailableWhile(store.channels, () => down), close: () => store.close() };
  const { events, writes, bridge, sipSide } = flakyRig(t, flaky);
  sipSide.notify('catalog.change', { deviceId: DEVICE, changes: [{ channelid: CAMERA, event: 'ON', name: 'Gate' }] });
  sipSide.notify('catalog.change', { deviceId: DEVICE, changes: [{ channelid: CAMERA, event: 'OFF' }] });
  sipSide.notify('device.info', { deviceId: DEVICE, manufacturer: 'Hikvision' });
  sipSide.notify('device.info', { deviceId: DEVICE, model: 'DS-2CD' });
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(writes.up, false);
  t.equal(writes.backlog, 2, 'one catalog entry and one info entry for the device');
  down = false;
  await new Promise((resolve) => setTimeout(resolve, 100));
  await bridge.drain();
  t.match(await store.channels.get(CAMERA), { name: 'Gate', status: 'OFF' }, 'the latest status, the name from the earlier change');
  t.match(await store.devices.get(DEVICE), { manufacturer: 'Hikvision', model: 'DS-2CD' });
  t.same(events.map((e) => [e.event, e.data.status, e.data.event]), [['channels.active', 'OFF', 'OFF']], 'one webhook, with the latest event');
});

/** A bridge on `store` with a fast-retrying queue, attached to a channel whose SIP end is returned. */
function flakyRig(t: Test, store: Store) {
  const events: Array<{ event: string; data: Record<string, unknown> }> = [];
  const writes = new WriteBehind({ capacity: 100, retryMinMs: 20, retryMaxMs: 50 });
  const bridge = new SignallingBridge({ store, config: validateConfig({}), logger: pino({ level: 'silent' }), emit: (event, data) => events.push({ event, data }), writes });
  const { port1, port2 } = new MessageChannel();
  const sipSide: ChildChannel<SipContract> = new Channel(portEndpoint(port1));
  bridge.attach(new Channel(portEndpoint(port2)));
  t.teardown(() => {
    port1.close();
    port2.close();
  });
  return { events, writes, bridge, sipSide };
}

t.test('a SIP thread restarting during a store outage gets the registrations the bridge was told of', async (t) => {
  const store = await openStore('sqlite::memory:');
  t.teardown(() => store.close());
  await store.devices.create({ deviceid: DEVICE, pwd: 'pw', region: '3402000000' });
  let down = false;
  const { bridge, sipSide } = flakyRig(t, { ...store, devices: unavailableWhile(store.devices, () => down), close: () => store.close() });
  const via = { host: '192.0.2.10', port: 5070, transport: 'UDP', rport: 5070, received: '192.0.2.10' };
  sipSide.notify('device.registered', { deviceId: DEVICE, first: true, fromUri: `sip:${DEVICE}@3402000000`, domain: '3402000000', contact: '', expires: 3600, source: { transport: 'udp', address: '192.0.2.10', port: 5070 }, via });
  await new Promise((resolve) => setTimeout(resolve, 50));
  await bridge.drain();
  t.match(await bridge.onlineDevices(), [{ deviceId: DEVICE, address: '192.0.2.10', port: 5070 }], 'from the store while it is up');
  down = true;
  sipSide.notify('device.keepalive', { deviceId: DEVICE, transport: 'UDP', address: '192.0.2.10', port: 5071 });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const known = await bridge.onlineDevices();
  t.match(known, [{ deviceId: DEVICE, transport: 'UDP', address: '192.0.2.10', port: 5071 }], 'from the bridge while it is down (the keepalive moved the port)');
  t.ok(known[0]!.expiresAt > Date.now() / 1000 + 3500);
  sipSide.notify('device.offline', { deviceId: DEVICE, reason: 'keepalive-timeout' });
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.same(await bridge.onlineDevices(), [], 'gone once the thread said offline');
});
