import t from 'tap';
import { connect } from 'node:net';
import { ManagedChild, processSpawner } from '../../src/shared/child.js';
import { entryPath } from '../../src/shared/entry.js';
import type { MediaContract } from '../../src/shared/contracts/media.js';
import { loopbackMediaConfig } from '../../src/tools/loopback.js';
import { capturePackets } from '../helpers/jt1078.js';
import { udpSink } from '../helpers/rtp-sink.js';
import { waitFor } from '../helpers/appliance.js';

t.test('a media worker killed mid-stream: its streams end, terminals are dropped, the worker comes back', async (t) => {
  const sink = await udpSink();
  const config = await loopbackMediaConfig({ workers: 1 });
  config.jt1078.forward = [{ host: '127.0.0.1', port: sink.port, transport: 'udp' }];
  const notes: Array<[string, any]> = [];
  let output = '';
  const media = new ManagedChild<MediaContract>('media', processSpawner<MediaContract>(entryPath('media-process'), () => ({ config }), [], (chunk) => (output += chunk.toString())), {
    onChannel: (channel) => {
      for (const event of ['stream.started', 'stream.stopped', 'worker.died', 'worker.restarted'] as const) {
        channel.onNote(event, (data) => notes.push([event, data]));
      }
    },
  });
  t.teardown(async () => {
    await media.stop();
    sink.close();
  });
  await media.start();

  const { bytes } = capturePackets('data.txt');
  const socket = connect(config.jt1078.realtime.port, '127.0.0.1');
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.on('error', () => undefined);
  socket.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
  const started = await waitFor(async () => notes.find((n) => n[0] === 'stream.started'), 5000, 'stream started');
  t.match(started[1], { name: /^live\/jt1078-\d+-\d+$/, slot: 0, kind: 'realtime' });
  await waitFor(async () => sink.packets.length > 0, 5000, 'RTP flowing');

  await media.channel!.request('worker.kill', { slot: 0 });
  const stopped = await waitFor(async () => notes.find((n) => n[0] === 'stream.stopped'), 5000, 'stream reported stopped');
  t.match(stopped[1], { name: started[1].name, reason: /^worker-died: / });
  const died = notes.find((n) => n[0] === 'worker.died');
  t.match(died?.[1], { slot: 0, closedStreams: [started[1].name] }, 'worker death reported with the streams it closed');
  const logged = await waitFor(async () => output.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.msg === 'media worker died; its streams closed'), 5000, 'death logged');
  t.match(logged, { process: 'media', worker: 0, closedStreams: [started[1].name], reason: /thread/ }, 'the media process logs which streams closed and why');
  await closed;
  t.pass('the terminal connection was dropped so it reconnects');
  await waitFor(async () => notes.find((n) => n[0] === 'worker.restarted'), 10_000, 'worker restarted');
  const health = await media.health();
  t.match(health, { ok: true, detail: { workers: [{ ok: true, restarts: 1 }] } });

  // The terminal reconnects and streams through the new worker.
  sink.packets.length = 0;
  const again = connect(config.jt1078.realtime.port, '127.0.0.1');
  again.on('error', () => undefined);
  // Paced, so the test's UDP receiver keeps up even on a busy machine.
  for (let i = 0; i < bytes.length; i += 16_384) {
    again.write(bytes.subarray(i, i + 16_384));
    await new Promise((r) => setTimeout(r, 10));
  }
  again.end();
  await waitFor(async () => notes.filter((n) => n[0] === 'stream.started').length === 2, 5000, 'stream started again');
  await waitFor(async () => sink.packets.length > 100, 10_000, 'RTP from the new worker');
  t.equal(notes.filter((n) => n[0] === 'stream.started').length, 2);
});
