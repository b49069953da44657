/**
 * Jt808Thread over real TCP, driven through a real channel (MessageChannel) as the
 * supervisor drives it, against the terminal simulator: notes up, commands down, the
 * listener's limits (connection cap, authentication deadline, garbage).
 */
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { MessageChannel } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { Channel, portEndpoint } from '../../src/shared/channel.js';
import type { ChildChannel, ParentChannel } from '../../src/shared/contracts/lifecycle.js';
import type { Jt808Contract, VehiclePosition } from '../../src/shared/contracts/jt808.js';
import { defaultConfig } from '../../src/shared/config/config.js';
import { Jt808Thread } from '../../src/jt808/jt808-thread.js';
import { SharedCounters } from '../../src/shared/counters.js';
import { JT808_COUNTER_NAMES } from '../../src/shared/contracts/jt808-counters.js';
import { startTerminalSimulation } from '../../src/tools/sim/index.js';
import { captureSource, startCollector } from '../tools/sim/fixtures/helpers.js';

async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

type Overrides = Partial<ReturnType<typeof defaultConfig>['jt808']>;

async function startThread(t: { teardown(fn: () => unknown): void }, overrides: Overrides = {}, vehicles: Array<{ sim: string }> = []) {
  const config = defaultConfig();
  config.log.level = 'silent';
  config.jt808 = { ...config.jt808, host: '127.0.0.1', port: 0, ...overrides };
  const { port1, port2 } = new MessageChannel();
  const child: ChildChannel<Jt808Contract> = new Channel(portEndpoint(port1));
  const parent: ParentChannel<Jt808Contract> = new Channel(portEndpoint(port2));
  const notes: Array<{ note: string; data: unknown }> = [];
  const positions: VehiclePosition[] = [];
  for (const note of ['vehicle.registered', 'vehicle.online', 'vehicle.offline'] as const) {
    parent.onNote(note, (data) => notes.push({ note, data }));
  }
  parent.onNote('vehicle.positions', (batch) => positions.push(...batch.positions));
  const counters = SharedCounters.create(JT808_COUNTER_NAMES);
  const thread = new Jt808Thread({ config, vehicles, counters: counters.sab }, child);
  await thread.start();
  t.teardown(async () => {
    await thread.close();
    port1.close();
    port2.close();
  });
  return { thread, parent, notes, positions, counters };
}

t.test('terminal online through the thread; 0x9003, 0x9101 and 0x9102 as channel requests', async (t) => {
  const { thread, parent, notes, positions, counters } = await startThread(t);
  const media = await startCollector();
  const sim = await startTerminalSimulation({
    port: thread.port,
    simBase: '13800000021',
    capture: await captureSource('data.txt'),
    speed: 4,
    terminal: { heartbeatMs: 200, positionMs: 100 },
  });
  t.teardown(async () => {
    await sim.stop();
    await media.close();
  });

  await until('online note', () => notes.some((n) => n.note === 'vehicle.online'));
  t.match(notes[0], { note: 'vehicle.registered', data: { sim: '13800000021', authCode: /^[0-9a-f]{16}$/ } });
  t.match(notes[1], { note: 'vehicle.online', data: { sim: '13800000021', address: /^127\.0\.0\.1:\d+$/, version: '2013' } });
  await until('positions', () => positions.length >= 2);
  t.ok(positions.every((p) => p.sim === '13800000021' && Math.abs(p.latitude - 22.543) < 0.01), 'positions of the route');

  t.match(await parent.request('vehicle.avAttributes', { sim: '013800000021' }), { videoCodec: 98 }, 'zero-padded SIM accepted');
  const answer = await parent.request('vehicle.stream', { sim: '13800000021', channel: 2, dataType: 0, streamType: 0, host: '127.0.0.1', tcpPort: media.port, udpPort: 0 });
  t.match(answer, { msgId: 1, result: 0 });
  await until('media packets', () => (media.connections[0]?.packets.length ?? 0) >= 10);
  t.ok(media.connections[0]!.packets.every((p) => p.packet.channel === 2));
  t.match(await parent.request('vehicle.streamControl', { sim: '13800000021', channel: 2, command: 0 }), { msgId: 1, result: 0 });
  await media.waitClosed(1);
  t.pass('0x9102 closed the media connection');

  await t.rejects(parent.request('vehicle.stream', { sim: '13899999999', channel: 1, dataType: 0, streamType: 0, host: '127.0.0.1', tcpPort: 1, udpPort: 0 }), {
    status: 409,
    message: /not online/,
  });
  const ping = thread.ping();
  t.match(ping, { role: 'jt808', connections: 1, online: 1, registrations: 1, badFrames: 0 });
  t.ok(ping.messagesIn >= 4 && ping.framesOut >= 4, 'frames counted both ways');
  t.match(counters.snapshot(), {
    'messages|in|register': 1,
    'messages|in|authenticate': 1,
    'messages|out|8100': 1,
    'messages|out|9003': 1,
    'messages|out|9101': 1,
    'messages|out|9102': 1,
    'commands|ok': 3,
    'commands|offline': 1,
    'registrations|ok': 1,
    connections: 1,
    online: 1,
  });
  t.ok(counters.get('messages|in|location') >= 2 && counters.get('messages|out|8001') >= 3, 'locations in, general answers out');
  t.ok(counters.get('messages|in|other') >= 3, 'the answers to 0x9003/0x9101/0x9102 counted as other');

  await sim.stop();
  await until('offline note', () => notes.some((n) => n.note === 'vehicle.offline'));
  t.match(notes.find((n) => n.note === 'vehicle.offline'), { data: { sim: '13800000021', reason: /logout|closed/ } });
});

t.test('provisioned: an unknown terminal is refused until the supervisor says it is known', async (t) => {
  const { thread, parent, notes } = await startThread(t, { registration: 'provisioned' });
  const sim = await startTerminalSimulation({
    port: thread.port,
    simBase: '13800000031',
    capture: await captureSource('data.txt'),
    reconnectDelayMs: 200,
    terminal: { heartbeatMs: 1000, positionMs: 1000 },
  });
  t.teardown(() => sim.stop());
  await until('refused', () => thread.ping().registrationsRefused >= 1);
  t.notOk(notes.some((n) => n.note === 'vehicle.online'), 'not online while unknown');
  parent.notify('vehicle.known', { sim: '013800000031' });
  await until('online after provisioning', () => notes.some((n) => n.note === 'vehicle.online'), 30_000);
  parent.notify('vehicle.forget', { sim: '13800000031' });
  await until('offline after forget', () => notes.some((n) => n.note === 'vehicle.offline'));
});

function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

const closed = (socket: Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

t.test('limits: connection cap, authentication deadline, garbage', async (t) => {
  const { thread, counters } = await startThread(t, { maxConnections: 1, unauthenticatedTimeout: 1 });
  const first = await rawConnect(thread.port);
  first.on('error', () => {});
  const second = await rawConnect(thread.port);
  second.on('error', () => {});
  await closed(second);
  t.equal(thread.ping().connectionsRefused, 1, 'the second connection was refused and counted');
  const started = Date.now();
  await closed(first);
  const waited = Date.now() - started;
  t.ok(waited >= 700 && waited < 5000, `silent unauthenticated connection closed after ${waited} ms`);

  const noisy = await rawConnect(thread.port);
  noisy.on('error', () => {});
  // 30 frames with a wrong checksum: the session gives up after 20 in a row.
  for (let i = 0; i < 30; i++) noisy.write(Buffer.from('7e0002000001380000000100017e', 'hex'));
  await closed(noisy);
  t.ok(thread.ping().badFrames >= 20, `${thread.ping().badFrames} bad frames counted`);
  await until('connections released', () => thread.ping().connections === 0);
  t.match(counters.snapshot(), { 'refused|connection-cap': 1, 'refused|auth-timeout': 1, 'refused|bad-frames': 1, 'bad_frames|all': 20, connections: 0 });
});

t.test('jt808.udp: a terminal over UDP registers, reports and streams on 0x9101; each address:port is one connection within maxConnections, ended by the deadlines since UDP has no close', async (t) => {
  const { thread, parent, notes, positions, counters } = await startThread(t, { udp: true, unauthenticatedTimeout: 1, maxConnections: 2 });
  const media = await startCollector();
  const sim = await startTerminalSimulation({
    port: thread.port,
    udp: true,
    simBase: '13800000071',
    capture: await captureSource('data.txt'),
    speed: 4,
    reconnectDelayMs: 0,
    terminal: { heartbeatMs: 200, positionMs: 100 },
  });
  t.teardown(async () => {
    await sim.stop();
    await media.close();
  });
  await until('online note', () => notes.some((n) => n.note === 'vehicle.online'));
  t.match(notes.find((n) => n.note === 'vehicle.online'), { data: { sim: '13800000071', address: /^127\.0\.0\.1:\d+$/ } });
  await until('positions', () => positions.length >= 2);
  t.match(await parent.request('vehicle.stream', { sim: '13800000071', channel: 1, dataType: 0, streamType: 0, host: '127.0.0.1', tcpPort: media.port, udpPort: 0 }), { msgId: 1, result: 0 }, '0x9101 over UDP answered');
  await until('media packets', () => (media.connections[0]?.packets.length ?? 0) >= 10);
  t.match(await parent.request('vehicle.streamControl', { sim: '13800000071', channel: 1, command: 0 }), { msgId: 1, result: 0 });
  await media.waitClosed(1);
  t.match(thread.ping(), { connections: 1, online: 1 });
  t.ok(counters.get('messages|out|8001') >= 2, 'general answers went back as datagrams');

  // Two more addresses: the second fills the cap, the third is dropped and counted.
  const { createSocket } = await import('node:dgram');
  const strangers = [createSocket('udp4'), createSocket('udp4')];
  t.teardown(() => strangers.forEach((s) => s.close()));
  const heartbeat = Buffer.from('7e000200000138000000990001aa7e', 'hex');
  for (const s of strangers) s.send(heartbeat, thread.port, '127.0.0.1');
  await until('refused datagram counted', () => counters.get('refused|connection-cap') === 1);
  t.equal(thread.ping().connections, 2, 'one UDP connection opened for the second address, none for the third');
  // The second address never authenticates: its connection ends at the deadline, which frees the place.
  await until('unauthenticated UDP connection ended', () => thread.ping().connections === 1, 5000);
  t.equal(counters.get('refused|auth-timeout'), 1);
  strangers[1]!.send(heartbeat, thread.port, '127.0.0.1');
  await until('the third address now has a connection', () => thread.ping().connections === 2);

  await sim.stop();
  await until('offline note', () => notes.some((n) => n.note === 'vehicle.offline'));
  t.match(notes.find((n) => n.note === 'vehicle.offline'), { data: { sim: '13800000071', reason: 'logout' } });
});
