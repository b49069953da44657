/**
 * VehicleBridge between a real Jt808Thread (over a MessageChannel, as the supervisor
 * drives it) and a real SQLite store, with a simulated terminal over TCP: the vehicle is
 * created (open registration), online with its AV attributes, positions coalesced into
 * batches, offline on logout, and the webhooks emitted.
 */
import t, { type Test } from 'tap';
import { MessageChannel } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Channel, portEndpoint } from '../../src/shared/channel.js';
import type { ChildChannel, ParentChannel } from '../../src/shared/contracts/lifecycle.js';
import type { Jt808Contract } from '../../src/shared/contracts/jt808.js';
import { defaultConfig } from '../../src/shared/config/config.js';
import { Jt808Thread } from '../../src/jt808/jt808-thread.js';
import { startTerminalSimulation } from '../../src/tools/sim/index.js';
import { openStore } from '../../src/supervisor/store/index.js';
import { VehicleBridge } from '../../src/supervisor/vehicle-bridge.js';
import { StoreError } from '../../src/supervisor/store/types.js';
import { WriteBehind } from '../../src/supervisor/write-behind.js';
import { captureSource } from '../tools/sim/fixtures/helpers.js';

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

t.test('a simulated terminal becomes a stored vehicle: online, AV attributes, coalesced positions, offline, webhooks', async (t) => {
  const config = defaultConfig();
  config.log.level = 'silent';
  config.jt808 = { ...config.jt808, host: '127.0.0.1', port: 0, registration: 'open' };
  const store = await openStore('sqlite::memory:');
  t.teardown(() => store.close());
  // A vehicle left online by a previous run is offline until its terminal reconnects.
  await store.vehicles.upsert('13900000001', { online: 1, auth_code: 'kept-code' });

  const events: Array<{ event: string; data: Record<string, unknown> }> = [];
  const bridge = new VehicleBridge({ store, config, logger: pino({ level: 'silent' }), emit: (event, data) => events.push({ event, data }), positionFlushMs: 300 });
  const known = await bridge.known();
  t.same(known, [{ sim: '13900000001', authCode: 'kept-code' }], 'stored auth codes go to the thread');
  t.equal((await store.vehicles.get('13900000001'))?.online, 0, 'marked offline at (re)start');

  const { port1, port2 } = new MessageChannel();
  const child: ChildChannel<Jt808Contract> = new Channel(portEndpoint(port1));
  const parent: ParentChannel<Jt808Contract> = new Channel(portEndpoint(port2));
  bridge.attach(parent);
  const thread = new Jt808Thread({ config, vehicles: known }, child);
  await thread.start();
  t.teardown(async () => {
    await thread.close();
    port1.close();
    port2.close();
  });

  const sim = await startTerminalSimulation({
    port: thread.port,
    simBase: '13800000041',
    capture: await captureSource('data.txt'),
    terminal: { heartbeatMs: 1000, positionMs: 50 },
  });
  t.teardown(() => sim.stop());

  await until('vehicle online with AV attributes', async () => {
    const v = await store.vehicles.get('13800000041');
    return v?.online === 1 && v.av_attributes !== null;
  });
  const vehicle = (await store.vehicles.get('13800000041'))!;
  t.match(vehicle, { sim: '13800000041', online: 1, version: '2013', address: /^127\.0\.0\.1:/, channels: vehicle.av_attributes!.maxVideoChannels });
  t.ok(vehicle.model.length > 0, `model from 0x0100: ${vehicle.model}`);
  t.match(vehicle.av_attributes, { videoCodec: 98 });
  t.match(events.find((e) => e.event === 'vehicles.online'), { data: { sim: '13800000041' } });

  await until('positions stored', async () => (await store.vehicles.get('13800000041'))?.latitude !== null);
  await sleep(1000);
  const positionEvents = events.filter((e) => e.event === 'vehicles.position');
  // Every 50 ms for ~1 s is ~20 positions; flushed every 300 ms they make a handful of events.
  t.ok(positionEvents.length >= 2 && positionEvents.length <= 8, `${positionEvents.length} coalesced position events`);
  const stored = (await store.vehicles.get('13800000041'))!;
  t.ok(Math.abs(stored.latitude! - 22.543) < 0.01 && stored.speed === 40, `last position stored: ${stored.latitude}, ${stored.longitude}`);

  await sim.stop();
  await until('offline', async () => (await store.vehicles.get('13800000041'))?.online === 0);
  await bridge.drain();
  t.match(events.find((e) => e.event === 'vehicles.offline'), { data: { sim: '13800000041', reason: /logout|closed/ } });
  t.notOk(events.some((e) => e.event === 'vehicles.online' && e.data.sim === '13900000001'), 'no event for vehicles that did not connect');
});

t.test('provisioned: unknown terminals create no rows', async (t) => {
  const config = defaultConfig();
  config.log.level = 'silent';
  config.jt808 = { ...config.jt808, host: '127.0.0.1', port: 0, registration: 'provisioned' };
  const store = await openStore('sqlite::memory:');
  t.teardown(() => store.close());
  const bridge = new VehicleBridge({ store, config, logger: pino({ level: 'silent' }), emit: () => {} });
  await store.vehicles.create({ sim: '13800000051', plate: 'TEST-1' });
  const { port1, port2 } = new MessageChannel();
  const parent: ParentChannel<Jt808Contract> = new Channel(portEndpoint(port2));
  bridge.attach(parent);
  const thread = new Jt808Thread({ config, vehicles: await bridge.known() }, new Channel(portEndpoint(port1)));
  await thread.start();
  t.teardown(async () => {
    await thread.close();
    port1.close();
    port2.close();
  });
  const sim = await startTerminalSimulation({ port: thread.port, simBase: '13800000050', count: 2, capture: await captureSource('data.txt'), terminal: { heartbeatMs: 1000, positionMs: 1000 } });
  t.teardown(() => sim.stop());
  await until('provisioned vehicle online', async () => (await store.vehicles.get('13800000051'))?.online === 1);
  t.match(await store.vehicles.get('13800000051'), { plate: 'TEST-1' }, 'the plate the API set wins over the terminal\'s');
  t.equal(await store.vehicles.get('13800000050'), null, 'the unknown terminal got no row');
  t.ok(thread.ping().registrationsRefused >= 1);
});

t.test('alarm bits are announced when they change, not on every position', async (t) => {
  const config = defaultConfig();
  const store = await openStore('sqlite::memory:');
  t.teardown(() => store.close());
  await store.vehicles.create({ sim: '13800000081' });
  const events: Array<{ event: string; data: Record<string, unknown> }> = [];
  const bridge = new VehicleBridge({ store, config, logger: pino({ level: 'silent' }), emit: (event, data) => events.push({ event, data }), positionFlushMs: 50 });
  const thread = attached(t, bridge);
  const position = (alarms: string[]) => ({ sim: '13800000081', latitude: 22.5, longitude: 114, altitude: 0, speedKmh: 0, direction: 0, timeMs: 1_700_000_000_000, alarms });
  // As the thread sends them: in batches, here one of four positions and one of two.
  const sets = [[], ['emergency'], ['emergency'], ['emergency', 'overspeed'], [], ['emergency']];
  thread.notify('vehicle.positions', { positions: sets.slice(0, 4).map(position) });
  thread.notify('vehicle.positions', { positions: sets.slice(4).map(position) });
  await sleep(200);
  await bridge.drain();
  t.same(
    events.filter((e) => e.event === 'vehicles.alarm').map((e) => e.data.alarms),
    [['emergency'], ['emergency', 'overspeed'], ['emergency']],
    'rising edges and changes only',
  );
  t.equal(events.filter((e) => e.event === 'vehicles.position').length, 1, 'six positions within one flush: one event');
  t.match(await store.vehicles.get('13800000081'), { latitude: 22.5, position_time: 1_700_000_000 });
});

t.test('store outage: vehicles.online / vehicles.offline go out at once; rows follow the thread after reconcile', async (t) => {
  const config = defaultConfig();
  const store = await openStore('sqlite::memory:');
  t.teardown(() => store.close());
  for (const sim of ['13800000091', '13800000092', '13800000093']) await store.vehicles.create({ sim });
  await store.vehicles.update('13800000093', { online: 1 }); // left online by a write that never landed
  let down = false;
  const vehicles = new Proxy(store.vehicles, {
    get(target, key) {
      const value = Reflect.get(target, key) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        down ? Promise.reject(new StoreError('store unavailable: timed out after 1500 ms')) : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
  const events: Array<{ event: string; data: Record<string, unknown> }> = [];
  const writes = new WriteBehind({ capacity: 100, retryMinMs: 20, retryMaxMs: 50 });
  const bridge = new VehicleBridge({ store: { ...store, vehicles, close: () => store.close() }, config, logger: pino({ level: 'silent' }), emit: (event, data) => events.push({ event, data }), writes });
  const thread = attached(t, bridge);
  thread.notify('vehicle.online', { sim: '13800000091', address: '127.0.0.1:5000', version: '2013' });
  await sleep(50);
  await bridge.drain();
  t.equal((await store.vehicles.get('13800000091'))?.online, 1);

  down = true;
  thread.notify('vehicle.offline', { sim: '13800000091', reason: 'connection closed' });
  thread.notify('vehicle.online', { sim: '13800000092', address: '127.0.0.1:5001', version: '2019' });
  await sleep(50);
  t.same(events.map((e) => `${e.event} ${e.data.sim}`), ['vehicles.online 13800000091', 'vehicles.offline 13800000091', 'vehicles.online 13800000092'], 'announced while the store is down');
  t.equal(writes.up, false);

  down = false;
  await sleep(100);
  await bridge.drain();
  t.same(await bridge.reconcile(), { offline: 1, online: 0 }, 'the stale row of 93 found (91 and 92 were written by the retries)');
  await bridge.drain();
  const online = await Promise.all(['13800000091', '13800000092', '13800000093'].map(async (sim) => (await store.vehicles.get(sim))?.online));
  t.same(online, [0, 1, 0], 'rows: 91 offline, 92 online, 93 offline');
  t.same(events.slice(3).map((e) => `${e.event} ${e.data.sim} ${e.data.reason}`), ['vehicles.offline 13800000093 reconciled'], 'one reconciled offline, 91 not announced again');
});

/** The bridge attached to a channel; returns the thread's end. */
t.test('positions that could not be stored are kept for the next flush, unless a newer one came', async (t) => {
  const config = defaultConfig();
  const store = await openStore('sqlite::memory:');
  t.teardown(() => store.close());
  await store.vehicles.create({ sim: '13800000091' });
  // The store refuses the first batch, as during an outage.
  let refusals = 1;
  const vehicles = Object.create(store.vehicles) as typeof store.vehicles;
  vehicles.updateMany = async (patches) => {
    if (refusals-- > 0) throw new StoreError('store unavailable: test');
    return store.vehicles.updateMany(patches);
  };
  const flaky = Object.create(store) as typeof store;
  Object.defineProperty(flaky, 'vehicles', { value: vehicles });
  const events: string[] = [];
  const bridge = new VehicleBridge({ store: flaky, config, logger: pino({ level: 'silent' }), emit: (event) => events.push(event), positionFlushMs: 20 });
  const thread = attached(t, bridge);
  thread.notify('vehicle.positions', { positions: [{ sim: '13800000091', latitude: 22.5, longitude: 114, altitude: 0, speedKmh: 0, direction: 0, timeMs: 1_700_000_000_000, alarms: [] }] });
  await sleep(100);
  t.equal(refusals, 0, 'the first write was refused');
  t.equal((await store.vehicles.get('13800000091'))?.latitude ?? 0, 0, 'nothing stored yet');
  t.same(events, [], 'no vehicles.position announced for a position not stored');
  await bridge.flush();
  t.match(await store.vehicles.get('13800000091'), { latitude: 22.5, position_time: 1_700_000_000 }, 'stored by the next flush');
  t.same(events, ['vehicles.position']);
});

function attached(t: Test, bridge: VehicleBridge): ChildChannel<Jt808Contract> {
  const { port1, port2 } = new MessageChannel();
  t.teardown(() => {
    port1.close();
    port2.close();
  });
  bridge.attach(new Channel(portEndpoint(port2)));
  return new Channel(portEndpoint(port1));
}
