/**
 * The JT/T 808 terminal simulator: its state machine piped straight into the platform core
 * (fake clock), then one simulated terminal over real TCP against a small platform loop built
 * on Jt808Server, streaming real JT/T 1078 packets on 0x9101 until 0x9102.
 */
import t from 'tap';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeClock, systemClock } from '../../../src/protocol/sip/clock.js';
import { Jt808Server, type Jt808Event, type Jt808Output, type Jt808Session } from '../../../src/jt808/index.js';
import { SimTerminal, startTerminalSimulation, type TerminalAction, type TerminalRunnerEvent } from '../../../src/tools/sim/index.js';
import { decodeTerminalFrames } from '../../../src/tools/sim/terminal.js';
import { captureSource, runCli, startCollector, TESTDATA } from './fixtures/helpers.js';
import { fileURLToPath } from 'node:url';
import { CliUsageError, parseTerminalArgs } from '../../../src/tools/sim/index.js';

async function until(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A tiny platform loop: a TCP listener feeding Jt808Server sessions, recording every event. */
async function startPlatform() {
  const events: Jt808Event[] = [];
  const sockets = new Map<Jt808Session, Socket>();
  const apply = (session: Jt808Session, out: Jt808Output) => {
    events.push(...out.events);
    const socket = sockets.get(session);
    for (const frame of out.replies) socket?.write(frame);
    if (out.events.some((e) => e.type === 'disconnect')) socket?.end();
  };
  const server = new Jt808Server({ clock: systemClock, onOutput: apply });
  let nextId = 0;
  const listener = createServer((socket) => {
    const session = server.open(`tcp-${nextId++}`);
    sockets.set(session, socket);
    socket.on('data', (chunk: Buffer) => apply(session, session.feed(chunk)));
    socket.on('error', () => {});
    socket.on('close', () => apply(session, server.closeConnection(session)));
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    events,
    server,
    port: (listener.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets.values()) socket.destroy();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}

t.test('sans-I/O: SimTerminal ↔ Jt808Server with a fake clock (2013 and 2019)', async (t) => {
  for (const version of ['2013', '2019'] as const) {
    const clock = new FakeClock(0);
    const events: Jt808Event[] = [];
    const actions: TerminalAction[] = [];
    let session!: Jt808Session;
    let terminal!: SimTerminal;
    const toTerminal = (out: Jt808Output) => {
      events.push(...out.events);
      for (const frame of out.replies) deliver(terminal.feed(frame));
    };
    const deliver = (out: { frames: Uint8Array[]; actions: TerminalAction[] }) => {
      actions.push(...out.actions);
      for (const frame of out.frames) toTerminal(session.feed(frame));
    };
    const server = new Jt808Server({ clock, onOutput: (_s, out) => toTerminal(out), session: { reassembly: { missingAfterMs: 1000 } } });
    session = server.open('c');
    terminal = new SimTerminal({ phone: '13800000009', version, clock, wallClock: () => Date.UTC(2024, 5, 1), heartbeatMs: 30_000, positionMs: 10_000, recordItems: 120, dropPacketsOnce: [2, 4] });
    terminal.onOutput = deliver;
    deliver(terminal.start());
    t.equal(terminal.state, 'online', `${version}: online`);
    t.match(events.map((e) => e.type), ['registered', 'authenticated', 'position']);
    clock.advance(60_000);
    t.equal(events.filter((e) => e.type === 'heartbeat').length, 2, 'heartbeat every 30 s');
    t.equal(events.filter((e) => e.type === 'position').length, 7, 'position every 10 s');
    const positions = events.filter((e): e is Extract<Jt808Event, { type: 'position' }> => e.type === 'position');
    t.ok(positions.every((p) => Math.abs(p.latitude - 22.543) < 0.01 && p.speedKmh === 40 && p.timeMs === Date.UTC(2024, 5, 1)));
    t.not(positions[0]!.latitude, positions[1]!.latitude, 'moving along the route');

    t.match(await session.queryAvAttributes(), { videoCodec: 98, audioCodec: 6 });
    // 120 items = 3366 bytes → 4 sub-packages, 2 and 4 dropped: the platform asks, the terminal re-sends.
    const list = session.queryRecords({ channel: 0, start: '240601000000', end: '000000000000', alarmFlags: { videoAlarms: 0, alarms: 0 }, mediaType: 0, streamType: 0, storageType: 0 });
    clock.advance(1000);
    const list1205 = await list;
    t.equal(list1205.items.length, 120);
    t.match(events.find((e) => e.type === 'resend-requested'), { missing: [2, 4] });

    const answer = await session.requestRealtime({ host: '10.0.0.1', tcpPort: 12051, udpPort: 0, channel: 2, dataType: 0, streamType: 0 });
    t.match(answer, { msgId: 1, general: { result: 0 } });
    t.match(actions.at(-1), { type: 'open-stream', mode: 'realtime', host: '10.0.0.1', port: 12051, channel: 2, transport: 'tcp' });
    await session.controlAv({ channel: 2, command: 0, closeType: 0, streamType: 0 });
    t.match(actions.at(-1), { type: 'close-stream', mode: 'realtime', channel: 2 });
    await session.requestPlayback({ host: '10.0.0.1', tcpPort: 12052, udpPort: 0, channel: 1, mediaType: 0, streamType: 0, storageType: 0, mode: 0, speed: 0, start: '240601000000', end: '240601001000' });
    t.match(actions.at(-1), { type: 'open-stream', mode: 'playback', port: 12052, channel: 1 });
    await session.controlPlayback({ channel: 1, command: 2, speed: 0, seekTime: '000000000000' });
    t.match(actions.at(-1), { type: 'close-stream', mode: 'playback', channel: 1 });

    const bye = terminal.stop();
    t.same(decodeTerminalFrames(bye.frames).map((m) => m.header.msgId), [0x0003]);
    deliver(bye);
    t.match(events.at(-1), { type: 'offline', reason: 'logout' });
    t.equal(terminal.stats.badFrames, 0);
    server.closeConnection(session);
    t.equal(clock.pending, 0, `${version}: no timer left on either side`);
  }
});

t.test('over TCP: register → auth → 0x9101 → JT1078 stream with SIM/channel rewritten → 0x9102 stops it', async (t) => {
  const { events, server, port, close } = await startPlatform();
  const media = await startCollector();

  const runnerEvents: TerminalRunnerEvent[] = [];
  const sim = await startTerminalSimulation({
    port,
    count: 1,
    simBase: '13800000000',
    capture: await captureSource('data.txt'),
    speed: 4,
    terminal: { heartbeatMs: 200, positionMs: 100 },
    onEvent: (e) => runnerEvents.push(e),
  });
  t.teardown(async () => {
    await sim.stop();
    await media.close();
    await close();
  });

  await until('authenticated', () => events.some((e) => e.type === 'authenticated'));
  await until('position and heartbeat', () => events.some((e) => e.type === 'position') && events.some((e) => e.type === 'heartbeat'));
  const session = server.sessionOf('13800000000')!;
  t.ok(session, 'online under its phone');
  t.match(await session.queryAvAttributes(), { videoCodec: 98 });

  const answer = await session.requestRealtime({ host: '127.0.0.1', tcpPort: media.port, udpPort: 0, channel: 3, dataType: 0, streamType: 0 });
  t.match(answer, { msgId: 1, general: { result: 0 } });
  await until('media packets', () => (media.connections[0]?.packets.length ?? 0) >= 30);
  const packets = media.connections[0]!.packets;
  t.ok(packets.every((p) => p.packet.sim === '013800000000'), 'SIM rewritten to the terminal phone');
  t.ok(packets.every((p) => p.packet.channel === 3), 'channel rewritten to the requested one');
  t.equal(media.connections[0]!.framer.counters.resyncBytes, 0, 'clean JT1078 stream');
  t.ok(packets.some((p) => p.packet.dataType === 0), 'video I-frame data');

  const stop = await session.controlAv({ channel: 3, command: 0, closeType: 0, streamType: 0 });
  t.match(stop, { msgId: 1, general: { result: 0 } });
  await media.waitClosed(1);
  await until('stream end reported', () => runnerEvents.some((e) => e.type === 'stream-ended'));
  const count = packets.length;
  await sleep(300);
  t.equal(media.connections[0]!.packets.length, count, 'no packet after the stop');
  t.equal(media.connections.length, 1);

  const final = await sim.stop();
  await until('offline', () => events.some((e) => e.type === 'offline'));
  t.match(events.find((e) => e.type === 'offline'), { reason: /logout|closed/ });
  t.equal(final.streamsOpened, 1);
  t.equal(final.streamsActive, 0);
  t.ok(final.mediaPacketsSent >= 30);
  t.equal(final.errors, 0, 'no socket errors');
});


t.test('CLI: sim terminal', async (t) => {
  const flagOf = (args: string[]) => {
    try {
      parseTerminalArgs(args);
      return 'no error';
    } catch (error) {
      return error instanceof CliUsageError ? error.flag : String(error);
    }
  };
  t.equal(flagOf(['--capture', 'x']), '--server');
  t.equal(flagOf(['--server', 'localhost', '--capture', 'x']), '--server');
  t.equal(flagOf(['--server', '127.0.0.1:12001']), '--capture');
  t.equal(flagOf(['--server', '127.0.0.1:12001', '--capture', 'x', '--count', '0']), '--count');
  t.equal(flagOf(['--server', '127.0.0.1:12001', '--capture', 'x', '--version', '2011']), '--version');
  t.equal(flagOf(['--server', '127.0.0.1:12001', '--capture', 'x', '--sim-base', '999999999999', '--count', '2']), '--sim-base');
  t.match(parseTerminalArgs(['--server', 'gw.local:12001', '--capture', 'x', '--count', '3', '--heartbeat', '5']), {
    config: { host: 'gw.local', port: 12001, count: 3, heartbeatMs: 5000, positionMs: 10_000, simBase: '13800000000', version: '2013' },
  });

  const bad = await runCli(['terminal', '--server', '127.0.0.1:1']);
  t.equal(bad.status, 2);
  t.match(bad.stderr, /--capture/);

  const platform = await startPlatform();
  t.teardown(platform.close);
  const run = await runCli([
    'terminal',
    '--server',
    `127.0.0.1:${platform.port}`,
    '--count',
    '2',
    '--sim-base',
    '13800000100',
    '--heartbeat',
    '0.3',
    '--position',
    '0.2',
    '--duration',
    '1.5',
    '--capture',
    fileURLToPath(new URL('jt1078_1.txt', TESTDATA)),
  ]);
  t.equal(run.status, 0, run.stderr);
  t.match(run.stdout, /13800000100: online/);
  t.match(run.stdout, /13800000101: online/);
  t.match(run.stdout, /terminals 2\/2 connected, 2 online/);
  const authenticated = platform.events.filter((e) => e.type === 'authenticated').map((e) => (e.type === 'authenticated' ? e.phone : '')).sort();
  t.same(authenticated, ['13800000100', '13800000101']);
  t.ok(platform.events.filter((e) => e.type === 'position').length >= 4, 'positions reported');
  await until('both offline', () => platform.events.filter((e) => e.type === 'offline').length === 2);
  t.match(platform.events.filter((e) => e.type === 'logout'), [{}, {}], 'logged out at the end of --duration');
});
