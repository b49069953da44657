import t, { type Test } from 'tap';
import { MessageChannel } from 'node:worker_threads';
import pino from 'pino';
import { Channel, portEndpoint } from '../../src/shared/channel.js';
import type { ChildChannel, ParentChannel } from '../../src/shared/contracts/lifecycle.js';
import type { SipContract } from '../../src/shared/contracts/sip.js';
import { validateConfig } from '../../src/shared/config/config.js';
import { openStore } from '../../src/supervisor/store/index.js';
import { SignallingBridge } from '../../src/supervisor/signalling-bridge.js';

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
