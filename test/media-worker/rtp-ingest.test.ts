import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedChild, processSpawner } from '../../src/shared/child.js';
import { entryPath } from '../../src/shared/entry.js';
import { loopbackMediaConfig } from '../../src/tools/loopback.js';
import { psOf, rtpFromPcap, sendPaced, udpSink } from '../helpers/rtp-sink.js';
import { waitFor } from '../helpers/appliance.js';
import { needPeer } from '../helpers/peers.js';

const shared = new URL('../../../shared/', import.meta.url).pathname;

function ffprobeFrames(ps: Buffer): number {
  const dir = mkdtempSync(join(tmpdir(), 'camgate-rtp-'));
  writeFileSync(join(dir, 'in.ps'), ps);
  const run = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-count_frames', '-show_entries', 'stream=codec_name,nb_read_frames', '-of', 'json', join(dir, 'in.ps')], { encoding: 'utf8' });
  const stream = JSON.parse(run.stdout || '{}').streams?.[0];
  return stream?.codec_name === 'h264' ? Number(stream.nb_read_frames) : -1;
}

t.test('GB28181 PS/RTP ingest over UDP and TCP, re-sent as PS/RTP; media timeout', async (t) => {
  if (!needPeer(t, 'ffprobe', 'ffmpeg')) return;
  const sink = await udpSink();
  const config = await loopbackMediaConfig({ workers: 2 });
  const notes: Array<[string, any]> = [];
  const media = new ManagedChild('media', processSpawner(entryPath('media-process'), () => ({ config })), {
    onChannel: (channel) => {
      for (const event of ['stream.started', 'stream.stopped']) channel.onNote(event, (data) => notes.push([event, data]));
    },
  });
  t.teardown(async () => {
    await media.stop();
    sink.close();
  });
  await media.start();
  const rtp = rtpFromPcap(`${shared}sipp/gb_h264_4s_rtp.pcap`);
  t.equal(rtp.length > 100, true, 'pcap has RTP');

  await t.test('UDP', async (t) => {
    sink.packets.length = 0;
    const opened = (await media.channel!.request('rtp.open', {
      name: 'rtp/0BEBC201',
      transport: 'udp',
      ssrc: 200000001,
      destinations: [{ host: '127.0.0.1', port: sink.port, transport: 'udp', ssrc: 777 }],
    })) as { port: number };
    const [low, high] = config.media.rtpPorts.split('-').map(Number) as [number, number];
    t.ok(opened.port >= low && opened.port <= high, `port ${opened.port} from media.rtpPorts`);
    const { createSocket } = await import('node:dgram');
    const sender = createSocket('udp4');
    // A foreign SSRC first: it must be ignored, not mixed in.
    sender.send(Buffer.from(rtp[0]!).fill(0x11, 8, 12), opened.port, '127.0.0.1');
    await sendPaced(rtp, (packet) => sender.send(packet, opened.port, '127.0.0.1'), 2);
    await waitFor(async () => notes.some((n) => n[0] === 'stream.started' && n[1].name === 'rtp/0BEBC201'), 5000, 'stream started');
    // Let the last datagrams reach the worker before its socket closes.
    let seen = -1;
    await waitFor(async () => {
      const settled = sink.packets.length === seen;
      seen = sink.packets.length;
      await new Promise((r) => setTimeout(r, 200));
      return settled;
    }, 5000, 'output settled');
    await media.channel!.request('rtp.close', { name: 'rtp/0BEBC201', reason: 'test done' });
    const stopped = await waitFor(async () => notes.find((n) => n[0] === 'stream.stopped' && n[1].name === 'rtp/0BEBC201'), 5000, 'stopped');
    t.equal(stopped[1].reason, 'test done');
    sender.close();
    await new Promise((r) => setTimeout(r, 100));
    t.equal(ffprobeFrames(psOf(sink.packets, 777)), 100, 'all 100 frames re-sent and decodable');
  });

  await t.test('TCP passive (RFC 4571)', async (t) => {
    sink.packets.length = 0;
    const opened = (await media.channel!.request('rtp.open', {
      name: 'rtp/TCP',
      transport: 'tcp',
      destinations: [{ host: '127.0.0.1', port: sink.port, transport: 'udp', ssrc: 888 }],
    })) as { port: number };
    const socket = connect(opened.port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    await sendPaced(rtp, (packet) => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(packet.length);
      socket.write(Buffer.concat([length, packet]));
    });
    socket.end();
    await waitFor(async () => sink.packets.filter((p) => p.ssrc === 888).length > 100, 5000, 'packets forwarded');
    await new Promise((r) => setTimeout(r, 200));
    await media.channel!.request('rtp.close', { name: 'rtp/TCP' });
    await new Promise((r) => setTimeout(r, 100));
    t.equal(ffprobeFrames(psOf(sink.packets, 888)), 100, 'all 100 frames');
  });

  await t.test('a stream without media is torn down with a reason', async (t) => {
    await media.channel!.request('rtp.open', { name: 'rtp/SILENT', transport: 'udp', mediaTimeoutMs: 300 });
    const stopped = await waitFor(async () => notes.find((n) => n[0] === 'stream.stopped' && n[1].name === 'rtp/SILENT'), 5000, 'timed out stream');
    t.equal(stopped[1].reason, 'media timeout');
    t.notOk(notes.some((n) => n[0] === 'stream.started' && n[1].name === 'rtp/SILENT'), 'never started');
  });
});
