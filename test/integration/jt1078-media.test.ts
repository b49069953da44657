import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson, startAppliance, waitFor } from '../helpers/appliance.js';
import { audioFrameCount, capturePackets, capturesDir, videoFrameTimestamps } from '../helpers/jt1078.js';
import { runSimulation } from '../../src/tools/sim/index.js';
import { needPeer } from '../helpers/peers.js';
import { freePort } from '../helpers/ports.js';
import { psOf, tcpSink, udpSink, type RtpRecord } from '../helpers/rtp-sink.js';

/**
 * Every JT/T 1078 capture goes terminal → camgate (TCP ingest, ring, media worker:
 * parse, reassemble, PS mux, RTP) → UDP and TCP receivers. ffprobe judges the PS.
 */

const CAPTURES = ['data.txt', 'audio_data.txt', 'jt1078_1.txt', 'JT1078_2.txt'];

function ffprobeJson(args: string[], input: Buffer): any {
  const dir = mkdtempSync(join(tmpdir(), 'camgate-ps-'));
  const file = join(dir, 'out.ps');
  writeFileSync(file, input);
  const run = spawnSync('ffprobe', ['-v', 'error', ...args, '-of', 'json', file], { encoding: 'utf8' });
  return { json: JSON.parse(run.stdout || '{}'), stderr: run.stderr };
}

const audioFramesIn = audioFrameCount;

function checkRtp(t: Test, packets: RtpRecord[], what: string) {
  t.ok(packets.length > 0, `${what}: packets arrived`);
  let gaps = 0;
  for (let i = 1; i < packets.length; i++) if (((packets[i - 1]!.seq + 1) & 0xffff) !== packets[i]!.seq) gaps++;
  t.equal(gaps, 0, `${what}: sequence numbers continuous`);
  t.ok(packets.every((p) => p.payloadType === 96), `${what}: PT 96`);
  t.ok(packets.every((p) => p.payload.length <= 1400), `${what}: payload ≤ 1400 bytes`);
  t.ok(packets.at(-1)!.marker, `${what}: marker on the last packet`);
  // Every frame starts with a PS pack header, so the packet before one must carry the marker.
  let badMarkers = 0;
  const packStart = (p: RtpRecord) => p.payload.length >= 4 && p.payload.readUInt32BE(0) === 0x000001ba;
  for (let i = 0; i < packets.length - 1; i++) {
    if (packStart(packets[i + 1]!) !== packets[i]!.marker) badMarkers++;
  }
  t.equal(badMarkers, 0, `${what}: marker exactly on each frame's last packet`);
}

t.test('captures through the media plane to UDP and TCP receivers, judged by ffprobe', async (t) => {
  if (!needPeer(t, 'ffprobe', 'ffmpeg')) return;
  const udp = await udpSink();
  const tcp = await tcpSink();
  const callbacks: Array<{ path: string; body: any }> = [];
  const hooks = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      callbacks.push({ path: req.url!, body: JSON.parse(body) });
      res.end();
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
  const hookBase = `http://127.0.0.1:${(hooks.address() as { port: number }).port}`;
  const realtime = await freePort();
  const app = await startAppliance({
    media: { workers: 2 },
    jt1078: {
      host: '127.0.0.1',
      realtime: { port: realtime, onJoinUrl: `${hookBase}/join`, onLeaveUrl: `${hookBase}/leave` },
      playback: { port: await freePort() },
      forward: [
        { host: '127.0.0.1', port: udp.port, transport: 'udp' },
        { host: '127.0.0.1', port: tcp.port, transport: 'tcp', ssrc: 12345678 },
      ],
    },
  });
  t.teardown(async () => {
    app.process.kill('SIGTERM');
    await app.exited;
    udp.close();
    await tcp.close();
    hooks.close();
  });
  await waitFor(async () => (await getJson(`${app.api}/healthz`)).status === 200, 15_000, 'healthy');

  for (const capture of CAPTURES) {
    await t.test(capture, async (t) => {
      udp.packets.length = 0;
      tcp.packets.length = 0;
      const before = callbacks.length;
      const { packets } = capturePackets(capture);
      // Paced by the capture's own timestamps (8× real time), as a terminal sends:
      // loopback UDP receivers hold only ~100 full-size packets.
      const sent = await runSimulation({ capture: `${capturesDir}${capture}`, host: '127.0.0.1', port: realtime, streams: 1, loops: 1, speed: 8 });
      t.equal(sent.errors, 0);
      const leave = await waitFor(async () => callbacks.slice(before).find((c) => c.path === '/leave'), 10_000, 'leave callback');
      const join = callbacks.slice(before).find((c) => c.path === '/join')!;
      const sim = packets[0]!.sim.replace(/^0+/, '');
      const channel = packets[0]!.channel;
      t.match(join.body, { streamPath: `live/jt1078-${sim}-${channel}`, sim, channel, startTime: /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/ });
      t.same(Object.keys(join.body).sort(), ['channel', 'sim', 'startTime', 'streamPath']);
      t.equal(leave.body.streamPath, join.body.streamPath);
      t.match(leave.body.endTime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      // Leave comes after the last frame went out; give the sockets a moment to deliver.
      await new Promise((r) => setTimeout(r, 200));

      const expectedTs = videoFrameTimestamps(packets);
      const udpSsrc = udp.packets[0]?.ssrc ?? 0;
      checkRtp(t, udp.packets, 'udp');
      checkRtp(t, tcp.packets, 'tcp');
      t.ok(tcp.packets.every((p) => p.ssrc === 12345678), 'tcp: configured SSRC');
      t.not(udpSsrc, 12345678, 'udp: SSRC derived from the stream name');
      const ps = psOf(udp.packets, udpSsrc);
      t.same(psOf(tcp.packets, 12345678), ps, 'both receivers got the same PS');

      const frames = ffprobeJson(['-select_streams', 'v:0', '-show_entries', 'frame=pts,key_frame', '-show_entries', 'stream=codec_name'], ps);
      // Without the IMKH header Debian's ffprobe takes G.711A (stream 0xC0) for mp2 and
      // complains about it; anything else on stderr is a real error.
      const errors = frames.stderr.split('\n').filter((l: string) => l && !(audioFramesIn(packets) > 0 && /^\[mp2 @/.test(l)));
      t.same(errors, [], 'ffprobe reports no error');
      t.equal(frames.json.streams?.[0]?.codec_name, 'h264');
      const pts: number[] = (frames.json.frames ?? []).map((f: { pts: number }) => f.pts);
      t.equal(pts.length, expectedTs.length, `all ${expectedTs.length} video frames decoded`);
      const relative = pts.map((p) => p - pts[0]!);
      t.same(relative, expectedTs.map((ts) => (ts - expectedTs[0]!) * 90), 'PTS = device timestamp × 90, relative to the first');
      t.equal(frames.json.frames?.[0]?.key_frame, 1, 'starts on a key frame');

      const audioFrames = audioFrameCount(packets);
      if (audioFrames > 0) {
        // Debian's ffmpeg sees G.711A in PS only behind a Hikvision 'IMKH' header (peers.md §2).
        const withHeader = Buffer.concat([Buffer.from('IMKH'), Buffer.alloc(36), ps]);
        const audio = ffprobeJson(['-select_streams', 'a:0', '-show_entries', 'stream=codec_name,sample_rate', '-show_entries', 'packet=pts'], withHeader);
        t.equal(audio.json.streams?.[0]?.codec_name, 'pcm_alaw');
        t.equal(audio.json.streams?.[0]?.sample_rate, '8000');
        t.equal(audio.json.packets?.length, audioFrames, `all ${audioFrames} audio frames`);
      }
    });
  }
  const metrics = await (await fetch(`${app.api}/metrics`)).text();
  t.match(metrics, /camgate_media_connections_total\{protocol="jt1078"\} 4/);
  t.match(metrics, /camgate_media_streams_started_total\{protocol="jt1078"\} 4/);
  t.match(metrics, /camgate_jt1078_callbacks_total\{event="join",result="ok"\} 4/);
});
