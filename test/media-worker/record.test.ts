import t from 'tap';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedChild, processSpawner } from '../../src/shared/child.js';
import { entryPath } from '../../src/shared/entry.js';
import { loopbackMediaConfig } from '../../src/tools/loopback.js';
import { parseRtp, psOf, rtpFromPcap, sendPaced } from '../helpers/rtp-sink.js';
import { waitFor } from '../helpers/appliance.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { needPeer } from '../helpers/peers.js';

const shared = new URL('../../../shared/', import.meta.url).pathname;

/**
 * Downloads in the media plane: an input opened with `record` writes the PS it receives
 * (payloads in sequence order) to the file, reports progress, and sends its final note
 * before `stream.stopped`; the size limit closes the input.
 */
t.test('rtp.open with record: the file is the PS received, progress by media time, size limit', async (t) => {
  const config = await loopbackMediaConfig({ workers: 1 });
  const notes: Array<[string, any]> = [];
  const media = new ManagedChild('media', processSpawner(entryPath('media-process'), () => ({ config })), {
    onChannel: (channel) => {
      for (const event of ['stream.stopped', 'record.progress']) channel.onNote(event, (data) => notes.push([event, data]));
    },
  });
  t.teardown(() => media.stop());
  await media.start();
  const rtp = rtpFromPcap(`${shared}sipp/gb_h264_4s_rtp.pcap`);
  const ssrc = parseRtp(rtp[0]!).ssrc;
  const dir = mkdtempSync(join(tmpdir(), 'camgate-record-'));
  const sender = createSocket('udp4');
  t.teardown(() => sender.close());

  await t.test('whole capture', async (t) => {
    const path = join(dir, 'whole.ps');
    const opened = (await media.channel!.request('rtp.open', { name: 'rtp/1000AAAA', transport: 'udp', record: { path, maxBytes: 100 * 1024 * 1024, format: 'ps' } })) as { port: number };
    await sendPaced(rtp, (packet) => sender.send(packet, opened.port, '127.0.0.1'), 4);
    const running = await waitFor(async () => notes.find((n) => n[0] === 'record.progress' && n[1].name === 'rtp/1000AAAA' && !n[1].final && n[1].bytes > 0)?.[1], 5000, 'a progress note');
    t.ok(running.mediaMs > 0, `progress while running: ${running.bytes} bytes, ${running.mediaMs} ms`);
    await new Promise((r) => setTimeout(r, 300));
    await media.channel!.request('rtp.close', { name: 'rtp/1000AAAA', reason: 'end of file (MediaStatus 121)' });
    await waitFor(async () => notes.some((n) => n[0] === 'stream.stopped' && n[1].name === 'rtp/1000AAAA'), 5000, 'stream stopped');
    const mine = notes.filter((n) => n[1].name === 'rtp/1000AAAA');
    const finalAt = mine.findIndex((n) => n[0] === 'record.progress' && n[1].final);
    const stoppedAt = mine.findIndex((n) => n[0] === 'stream.stopped');
    t.ok(finalAt >= 0 && finalAt < stoppedAt, 'the final progress note comes before stream.stopped');
    t.equal(mine.filter((n) => n[1].final).length, 1, 'one final note');
    const final = mine[finalAt]![1];
    const file = readFileSync(path);
    t.equal(final.bytes, file.length, 'final bytes = file size');
    t.ok(file.equals(psOf(rtp.map(parseRtp), ssrc)), 'the file is the RTP payloads in order');
    t.ok(final.mediaMs >= 3800 && final.mediaMs <= 4100, `media time ${final.mediaMs} ms (a 4 s capture)`);
    t.equal(mine[stoppedAt]![1].reason, 'end of file (MediaStatus 121)');
    if (needPeer(t, 'ffprobe', 'ffmpeg')) {
      const probe = await ffprobe(['-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,nb_read_frames', path]);
      t.equal(probe.json.streams?.[0]?.codec_name, 'h264', probe.stderr);
      t.ok(Number(probe.json.streams?.[0]?.nb_read_frames) >= 95, `${probe.json.streams?.[0]?.nb_read_frames} frames decode`);
    }
  });

  await t.test('TCP passive (RFC 4571): the file is the same PS', async (t) => {
    const path = join(dir, 'tcp.ps');
    const opened = (await media.channel!.request('rtp.open', { name: 'rtp/1000DDDD', transport: 'tcp', record: { path, maxBytes: 100 * 1024 * 1024, format: 'ps' } })) as { port: number };
    const socket = connect(opened.port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    // 3000-byte writes: packets split across writes are reassembled by the RFC 4571 decoder.
    const framed = Buffer.concat(rtp.map((packet) => Buffer.concat([Buffer.from([packet.length >> 8, packet.length & 0xff]), packet])));
    for (let at = 0; at < framed.length; at += 3000) {
      socket.write(framed.subarray(at, at + 3000));
      if (at % 60_000 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 500));
    socket.destroy();
    await media.channel!.request('rtp.close', { name: 'rtp/1000DDDD', reason: 'test' });
    await waitFor(async () => notes.some((n) => n[0] === 'stream.stopped' && n[1].name === 'rtp/1000DDDD'), 5000, 'stream stopped');
    t.ok(readFileSync(path).equals(psOf(rtp.map(parseRtp), ssrc)), 'the file is the RTP payloads in order');
  });

  await t.test('mp4: the video frames in a fragmented MP4', async (t) => {
    const path = join(dir, 'video.mp4');
    const opened = (await media.channel!.request('rtp.open', { name: 'rtp/1000EEEE', transport: 'udp', record: { path, maxBytes: 100 * 1024 * 1024, format: 'mp4' } })) as { port: number };
    await sendPaced(rtp, (packet) => sender.send(packet, opened.port, '127.0.0.1'), 4);
    await new Promise((r) => setTimeout(r, 300));
    await media.channel!.request('rtp.close', { name: 'rtp/1000EEEE', reason: 'test' });
    await waitFor(async () => notes.some((n) => n[0] === 'stream.stopped' && n[1].name === 'rtp/1000EEEE'), 5000, 'stream stopped');
    const final = notes.find((n) => n[0] === 'record.progress' && n[1].name === 'rtp/1000EEEE' && n[1].final)![1];
    t.equal(final.bytes, statSync(path).size, 'final bytes = file size');
    t.equal(readFileSync(path).toString('latin1', 4, 8), 'ftyp');
    if (!needPeer(t, 'ffprobe', 'ffmpeg')) return;
    const probe = await ffprobe(['-count_frames', '-show_entries', 'stream=codec_name,nb_read_frames,width,height', path]);
    t.match(probe.json.streams?.[0], { codec_name: 'h264', width: 640, height: 480 }, probe.stderr);
    t.ok(Number(probe.json.streams?.[0]?.nb_read_frames) >= 95, `${probe.json.streams?.[0]?.nb_read_frames} frames decode`);
    t.equal(probe.stderr, '', 'no decoder complaint');
  });

  await t.test('size limit', async (t) => {
    const path = join(dir, 'capped.ps');
    const opened = (await media.channel!.request('rtp.open', { name: 'rtp/1000BBBB', transport: 'udp', record: { path, maxBytes: 50_000, format: 'ps' } })) as { port: number };
    await sendPaced(rtp, (packet) => sender.send(packet, opened.port, '127.0.0.1'), 4);
    const stopped = await waitFor(async () => notes.find((n) => n[0] === 'stream.stopped' && n[1].name === 'rtp/1000BBBB')?.[1], 5000, 'stream stopped');
    t.equal(stopped.reason, 'file size limit');
    const final = notes.find((n) => n[0] === 'record.progress' && n[1].name === 'rtp/1000BBBB' && n[1].final)![1];
    t.match(final, { error: 'file size limit' });
    t.ok(statSync(path).size <= 50_000 && statSync(path).size === final.bytes, `${final.bytes} bytes kept`);
  });

  await t.test('size limit, mp4: the file ends on a whole fragment', async (t) => {
    const path = join(dir, 'capped.mp4');
    const opened = (await media.channel!.request('rtp.open', { name: 'rtp/1000FFFF', transport: 'udp', record: { path, maxBytes: 100_000, format: 'mp4' } })) as { port: number };
    await sendPaced(rtp, (packet) => sender.send(packet, opened.port, '127.0.0.1'), 4);
    await new Promise((r) => setTimeout(r, 300));
    // The capture is two GOPs: the first fragment fits, the second (written at the close) does not.
    await media.channel!.request('rtp.close', { name: 'rtp/1000FFFF', reason: 'test' });
    const final = await waitFor(async () => notes.find((n) => n[0] === 'record.progress' && n[1].name === 'rtp/1000FFFF' && n[1].final)?.[1], 5000, 'final note');
    t.match(final, { error: 'file size limit' });
    const size = statSync(path).size;
    t.ok(size > 0 && size <= 100_000 && size === final.bytes, `${size} bytes kept`);
    if (!needPeer(t, 'ffprobe', 'ffmpeg')) return;
    const probe = await ffprobe(['-count_frames', '-show_entries', 'stream=codec_name,nb_read_frames', path]);
    t.equal(probe.json.streams?.[0]?.codec_name, 'h264');
    t.equal(Number(probe.json.streams?.[0]?.nb_read_frames), 50, 'the first GOP decodes');
    t.equal(probe.stderr, '', 'no truncated fragment');
  });

  await t.test('a file that cannot be written fails the open', async (t) => {
    await t.rejects(media.channel!.request('rtp.open', { name: 'rtp/1000CCCC', transport: 'udp', record: { path: join(dir, 'no', 'such', 'dir.ps'), maxBytes: 1000, format: 'ps' } }), /cannot write the download file \(enoent\)/);
    t.same(await media.channel!.request('rtp.inputs', undefined), [], 'no input left open');
  });
});
