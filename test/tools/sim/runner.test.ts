import t from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DataType } from '../../../src/protocol/jt1078/index.js';
import { ReplayPlan, runSimulation, startSimulation, type ReplaySource } from '../../../src/tools/sim/index.js';
import { CAPTURES, captureSource, sequenceGaps, startCollector, TESTDATA, type Connection } from './fixtures/helpers.js';

const sources = new Map<string, ReplaySource>();
for (const name of CAPTURES) sources.set(name, await captureSource(name));

/** Packets of a connection equal the capture's (same bodies, types and order), n loops. */
function compareToCapture(connection: Connection, source: ReplaySource, loops: number): string | null {
  const expected = source.packets.length * loops;
  if (connection.packets.length !== expected) return `received ${connection.packets.length} packets, expected ${expected}`;
  for (let i = 0; i < expected; i++) {
    const got = connection.packets[i]!;
    const want = source.packets[i % source.packets.length]!;
    if (
      got.packet.dataType !== want.dataType ||
      got.packet.subPackage !== want.subPackage ||
      got.packet.payloadType !== want.payloadType ||
      got.packet.marker !== want.marker ||
      !got.body.equals(want.body)
    ) {
      return `packet ${i} differs`;
    }
  }
  return null;
}

t.test('each capture, 1 stream, 1 loop: exactly the capture arrives, SIM as configured', async (t) => {
  for (const name of CAPTURES) {
    const source = sources.get(name)!;
    const collector = await startCollector();
    // Fast (speed 50) so the 40 s JT1078_2 capture takes under a second; pacing is tested below.
    const stats = await runSimulation({ capture: source, port: collector.port, streams: 1, loops: 1, speed: 50, simBase: '13800000000' });
    await collector.waitClosed(1);
    const connection = collector.connections[0]!;
    t.equal(compareToCapture(connection, source, 1), null, `${name}: same packets, same order`);
    t.equal(sequenceGaps(connection.packets.map((p) => p.packet)), 0, `${name}: sequence continuous`);
    t.ok(connection.packets.every((p) => p.packet.sim === '013800000000'), `${name}: SIM rewritten`);
    t.ok(
      connection.packets.every((p, i) => p.packet.timestamp === source.packets[i]!.timestamp),
      `${name}: timestamps as captured on the first loop`,
    );
    t.equal(connection.framer.counters.resyncBytes, 0);
    t.equal(stats.packetsSent, source.packets.length);
    t.equal(stats.bytesSent, connection.bytes, 'bytes counted = bytes received');
    t.equal(stats.errors, 0);
    t.equal(stats.finished, 1);
    t.equal(stats.connected, 0);
    await collector.close();
  }
  // The capture can also be given as a path or as the file's content (CSV here).
  for (const capture of [fileURLToPath(new URL('jt1078_1.txt', TESTDATA)), readFileSync(new URL('jt1078_1.txt', TESTDATA))]) {
    const collector = await startCollector();
    const stats = await runSimulation({ capture, port: collector.port });
    await collector.waitClosed(1);
    t.equal(compareToCapture(collector.connections[0]!, sources.get('jt1078_1.txt')!, 1), null, `capture as ${typeof capture === 'string' ? 'path' : 'Buffer'}`);
    t.equal(stats.packetsSent, 8);
    await collector.close();
  }
});

t.test('pacing follows the packet timestamps', async (t) => {
  const cases = [
    { name: 'data.txt', speed: 1 },
    { name: 'data.txt', speed: 10 },
    { name: 'JT1078_2.txt', speed: 10 }, // irregular 80..200 ms frame gaps, 39.6 s span
  ];
  for (const { name, speed } of cases) {
    const source = sources.get(name)!;
    const plan = new ReplayPlan(source, { speed });
    const expectedSpan = plan.sendAtMs(0, plan.packetsPerLoop - 1);
    const collector = await startCollector();
    const stats = await runSimulation({ capture: source, port: collector.port, speed });
    await collector.waitClosed(1);
    const packets = collector.connections[0]!.packets;
    t.equal(packets.length, source.packets.length);
    const span = packets.at(-1)!.arrivedAt - packets[0]!.arrivedAt;
    t.ok(
      Math.abs(span - expectedSpan) <= Math.max(0.25 * expectedSpan, 150),
      `${name} speed ${speed}: first→last ${span.toFixed(0)} ms, expected ${expectedSpan.toFixed(0)} ms`,
    );
    // Every packet keeps its place on the schedule: arrival minus due time varies little
    // (loose: a busy test machine delays reads, not the schedule).
    const skews = packets.map((p, i) => p.arrivedAt - plan.sendAtMs(0, i));
    const spread = Math.max(...skews) - Math.min(...skews);
    t.ok(spread < 300, `arrival vs schedule spread ${spread.toFixed(0)} ms`);
    t.ok(stats.maxLateMs < 300, `max lateness ${stats.maxLateMs.toFixed(1)} ms`);
    await collector.close();
  }
});

t.test('3 loops: 3x the packets, sequence and timestamps continue across the loop boundary', async (t) => {
  for (const name of ['data.txt', 'audio_data.txt'] as const) {
    const source = sources.get(name)!;
    const collector = await startCollector();
    const stats = await runSimulation({ capture: source, port: collector.port, loops: 3, speed: 20 });
    await collector.waitClosed(1);
    const connection = collector.connections[0]!;
    const packets = connection.packets.map((p) => p.packet);
    t.equal(compareToCapture(connection, source, 3), null, `${name}: 3 copies of the capture`);
    t.equal(stats.packetsSent, 3 * source.packets.length);
    t.equal(sequenceGaps(packets), 0, `${name}: sequence continuous over ${packets.length} packets`);
    const n = source.packets.length;
    for (let loop = 1; loop < 3; loop++) {
      const previous = packets.slice((loop - 1) * n, loop * n);
      const current = packets.slice(loop * n, (loop + 1) * n);
      t.ok(
        Math.min(...current.map((p) => p.timestamp)) > Math.max(...previous.map((p) => p.timestamp)),
        `${name}: loop ${loop} timestamps all after loop ${loop - 1}`,
      );
      for (const kind of [DataType.Audio, DataType.VideoP]) {
        const isKind = (p: { dataType: number }) => (kind === DataType.Audio ? p.dataType === DataType.Audio : p.dataType !== DataType.Audio);
        const last = previous.filter(isKind).at(-1);
        const first = current.filter(isKind)[0];
        if (last === undefined || first === undefined) continue;
        t.ok(first.timestamp > last.timestamp, `${name}: ${kind === DataType.Audio ? 'audio' : 'video'} continues (${last.timestamp} → ${first.timestamp})`);
      }
    }
    // Per kind, timestamps never go back over the whole run.
    for (const audio of [true, false]) {
      const ts = packets.filter((p) => (p.dataType === DataType.Audio) === audio).map((p) => p.timestamp);
      t.ok(ts.every((v, i) => i === 0 || v >= ts[i - 1]!), `${name}: ${audio ? 'audio' : 'video'} timestamps non-decreasing`);
    }
    await collector.close();
  }
});

t.test('50 concurrent streams: each complete, distinct SIMs', async (t) => {
  const source = sources.get('data.txt')!;
  const collector = await startCollector();
  const stats = await runSimulation({ capture: source, port: collector.port, streams: 50, speed: 10, simBase: '13900000000' });
  await collector.waitClosed(50);
  t.equal(collector.connections.length, 50);
  const sims = new Set<string>();
  for (const connection of collector.connections) {
    const sim = connection.packets[0]?.packet.sim ?? '';
    sims.add(sim);
    t.ok(
      connection.packets.every((p) => p.packet.sim === sim),
      `one SIM per connection (${sim})`,
    );
    const problem = compareToCapture(connection, source, 1);
    if (problem !== null) t.fail(`${sim}: ${problem}`);
    if (sequenceGaps(connection.packets.map((p) => p.packet)) !== 0) t.fail(`${sim}: sequence gap`);
  }
  t.equal(sims.size, 50, 'distinct SIMs');
  const expectedSims = Array.from({ length: 50 }, (_, i) => String(13900000000 + i).padStart(12, '0'));
  t.same([...sims].sort(), expectedSims, 'simBase + i');
  t.equal(stats.packetsSent, 50 * source.packets.length);
  t.equal(stats.framesSent, 50 * 101, '101 frames in data.txt');
  t.equal(stats.errors, 0);
  await collector.close();
});

t.test('backpressure: a server that stops reading stalls the stream without unbounded buffering', async (t) => {
  const source = sources.get('audio_data.txt')!;
  const loops = 40; // ~12 MB, all due at once at this speed: far more than the kernel buffers
  const total = loops * source.packets.length;
  const collector = await startCollector({ paused: true });
  const handle = await startSimulation({ capture: source, port: collector.port, loops, speed: 1000 });
  // Wait until the sender is blocked: stalled and no more bytes handed to the socket.
  let lastBytes = -1;
  let steadyFor = 0;
  for (let waited = 0; waited < 10_000 && steadyFor < 300; waited += 50) {
    await sleep(50);
    if (handle.stats.bytesSent === lastBytes && handle.stats.stalls > 0) steadyFor += 50;
    else steadyFor = 0;
    lastBytes = handle.stats.bytesSent;
  }
  t.ok(handle.stats.stalls >= 1, `stalls counted (${handle.stats.stalls})`);
  t.ok(handle.stats.packetsSent < total, `sending stopped at ${handle.stats.packetsSent}/${total} packets`);
  const received = collector.connections[0]!.bytes;
  t.equal(received, 0, 'server read nothing while paused');
  // Bound of what the runner queued in user space: socket high-water mark + one batch.
  t.ok(handle.stats.maxQueuedBytes <= 16 * 1024 + 64 * 1024 + 2048, `socket queue peaked at ${handle.stats.maxQueuedBytes} bytes`);
  const stalledAt = handle.stats.packetsSent;

  collector.resume();
  const stats = await handle.done;
  await collector.waitClosed(1);
  const connection = collector.connections[0]!;
  t.ok(stats.packetsSent > stalledAt, 'resumed after the server read again');
  t.equal(stats.packetsSent, total);
  t.equal(connection.packets.length, total, 'every packet arrived');
  t.equal(sequenceGaps(connection.packets.map((p) => p.packet)), 0, 'sequence continuous through the stall');
  t.equal(stats.errors, 0);
  await collector.close();
});

t.test('abort, duration, refused connections, stagger', async (t) => {
  const source = sources.get('data.txt')!;

  t.test('AbortSignal stops an endless run', async (t) => {
    const collector = await startCollector();
    const controller = new AbortController();
    const run = runSimulation({ capture: source, port: collector.port, streams: 3, loops: Infinity, signal: controller.signal });
    await sleep(300);
    controller.abort();
    const stats = await run;
    t.equal(stats.aborted, true);
    t.equal(stats.finished, 3);
    t.ok(stats.packetsSent > 0);
    t.ok(stats.elapsedMs < 2000, `stopped after ${stats.elapsedMs.toFixed(0)} ms`);
    await collector.close();
  });

  t.test('durationMs ends an endless run on time with only due packets sent', async (t) => {
    const collector = await startCollector();
    const stats = await runSimulation({ capture: source, port: collector.port, loops: Infinity, durationMs: 600 });
    await collector.waitClosed(1);
    t.equal(stats.aborted, false);
    t.ok(stats.elapsedMs >= 450 && stats.elapsedMs < 1500, `elapsed ${stats.elapsedMs.toFixed(0)} ms`);
    const plan = new ReplayPlan(source);
    let due = 0;
    while (due < plan.packetsPerLoop && plan.sendAtMs(0, due) < 600) due++;
    t.ok(Math.abs(stats.packetsSent - due) <= 15, `${stats.packetsSent} packets sent, ~${due} due in 600 ms`);
    t.equal(collector.connections[0]!.packets.length, stats.packetsSent);
    await collector.close();
  });

  t.test('refused connections are counted as errors, the run still ends', async (t) => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const errors: number[] = [];
    const stats = await runSimulation({ capture: source, port, streams: 4, onStreamError: (i) => errors.push(i) });
    t.equal(stats.errors, 4);
    t.equal(stats.finished, 4);
    t.equal(stats.packetsSent, 0);
    t.same(errors.sort(), [0, 1, 2, 3]);
  });

  t.test('startStagger spreads the stream starts', async (t) => {
    const collector = await startCollector();
    const stats = await runSimulation({ capture: source, port: collector.port, streams: 3, speed: 20, startStagger: 150 });
    await collector.waitClosed(3);
    const firsts = collector.connections.map((c) => c.packets[0]!.arrivedAt).sort((a, b) => a - b);
    t.ok(firsts[1]! - firsts[0]! >= 120 && firsts[2]! - firsts[1]! >= 120, `starts ${firsts.map((f) => (f - firsts[0]!).toFixed(0)).join(', ')} ms`);
    t.equal(stats.packetsSent, 3 * source.packets.length);
    await collector.close();
  });

  t.test('reconnectDelayMs: a dropped terminal comes back and continues its sequence', async (t) => {
    const collector = await startCollector();
    const run = runSimulation({ capture: source, port: collector.port, loops: 1, reconnectDelayMs: 50 });
    await sleep(500);
    collector.connections[0]!.socket.destroy();
    const stats = await run;
    await collector.waitClosed(2);
    t.equal(stats.reconnects, 1);
    t.equal(collector.connections.length, 2);
    const before = collector.connections[0]!.packets.map((p) => p.packet);
    const after = collector.connections[1]!.packets.map((p) => p.packet);
    t.ok(after.length > 0, 'second connection carried the rest');
    t.ok(after[0]!.sequence > before.at(-1)!.sequence, 'sequence continues (packets in flight at the drop are lost)');
    t.equal(after.at(-1)!.sequence, source.packets.length - 1, 'schedule completed');
    await collector.close();
  });
});
