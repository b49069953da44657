import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson, startAppliance, waitFor } from '../helpers/appliance.js';
import { capturesDir, capturePackets, videoFrameTimestamps } from '../helpers/jt1078.js';
import { needPeer } from '../helpers/peers.js';
import { freePort } from '../helpers/ports.js';
import { readWebSocket } from '../helpers/ws-client.js';
import { runSimulation } from '../../src/tools/sim/index.js';
import { ffprobe } from '../helpers/ffprobe.js';


t.test('a JT/T 1078 terminal is playable at its HTTP-FLV and WS-FLV URLs', async (t) => {
  if (!needPeer(t, 'ffprobe', 'ffmpeg')) return;
  const realtime = await freePort();
  const app = await startAppliance({ jt1078: { realtime: { port: realtime } } });
  t.teardown(async () => {
    app.process.kill('SIGTERM');
    await app.exited;
  });
  await waitFor(async () => (await getJson(`${app.api}/healthz`)).status === 200, 15_000, 'healthy');
  const expected = videoFrameTimestamps(capturePackets('data.txt').packets).length;

  // Real time: 4 s of video; viewers join within the first GOP (2 s) and read to the end.
  const sim = runSimulation({ capture: `${capturesDir}data.txt`, host: '127.0.0.1', port: realtime, streams: 1, loops: 1, speed: 1 });
  const row = await waitFor(async () => {
    const r = await getJson(`${app.api}/streams?filters=${encodeURIComponent('[{"field_name":"kind","operator":"=","value":"jt1078"},{"field_name":"status","operator":"=","value":0}]')}`);
    return r.body.data.List[0];
  }, 5000, 'stream listed in GET /streams');
  t.match(row, { kind: 'jt1078', streamid: /^live\/jt1078-\d+-\d+$/, urls: { flv: /^http:\/\/.+\.flv$/, wsflv: /^ws:\/\/.+\.flv$/ } });
  // Forwards at run time through the API (a JT/T 1078 stream gets one more PS/RTP output).
  const id = encodeURIComponent(row.streamid);
  const added = await fetch(`${app.api}/streams/${id}/forwards`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ host: '127.0.0.1', port: 9, ssrc: 77 }) });
  t.match(await added.json(), { code: '0', data: { ssrc: 77, mode: 'remux', transport: 'udp' } });
  t.match(((await (await fetch(`${app.api}/streams/${id}/forwards`)).json()) as any).data, [{ host: '127.0.0.1', port: 9, ssrc: 77 }]);
  const badHost = await fetch(`${app.api}/streams/${id}/forwards`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ host: 'a b', port: 9 }) });
  t.equal(badHost.status, 400);
  t.equal((await fetch(`${app.api}/streams/${id}/forwards?host=127.0.0.1&port=9`, { method: 'DELETE' })).status, 200);
  t.equal((await fetch(`${app.api}/streams/${id}/forwards?host=127.0.0.1&port=9`, { method: 'DELETE' })).status, 404);
  t.equal((await fetch(`${app.api}/streams/NOSUCH/forwards`)).status, 404);
  const http = ffprobe(['-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', row.urls.flv]);
  const ws = readWebSocket(row.urls.wsflv);
  const stats = await sim;
  t.equal(stats.errors, 0);

  const probed = await http;
  t.equal(probed.stderr, '', 'ffprobe reads the HTTP-FLV stream without errors');
  t.equal(probed.json.streams?.[0]?.codec_name, 'h264');
  t.equal(Number(probed.json.streams?.[0]?.nb_read_frames), expected, `HTTP-FLV: all ${expected} frames`);

  const got = await ws;
  t.equal(got.status, 101, 'WebSocket upgrade');
  t.ok(got.payload.subarray(0, 3).toString() === 'FLV', 'starts with an FLV header');
  const dir = mkdtempSync(join(tmpdir(), 'camgate-wsflv-'));
  writeFileSync(join(dir, 'ws.flv'), got.payload);
  const wsProbe = await ffprobe(['-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,nb_read_frames', join(dir, 'ws.flv')]);
  t.equal(wsProbe.json.streams?.[0]?.codec_name, 'h264');
  t.equal(Number(wsProbe.json.streams?.[0]?.nb_read_frames), expected, `WS-FLV: all ${expected} frames`);

  const missing = await fetch(row.urls.flv.replace(/jt1078-\d+/, 'jt1078-999'));
  t.equal(missing.status, 404, 'unknown stream: 404');
});

t.test('?audio=0 leaves the G.711 track out (for mpegts.js players)', async (t) => {
  if (!needPeer(t, 'ffprobe', 'ffmpeg')) return;
  const realtime = await freePort();
  const app = await startAppliance({ jt1078: { realtime: { port: realtime } } });
  t.teardown(async () => {
    app.process.kill('SIGTERM');
    await app.exited;
  });
  await waitFor(async () => (await getJson(`${app.api}/healthz`)).status === 200, 15_000, 'healthy');
  const sim = runSimulation({ capture: `${capturesDir}audio_data.txt`, host: '127.0.0.1', port: realtime, streams: 1, loops: 1, speed: 1 });
  const row = await waitFor(async () => (await getJson(`${app.api}/streams`)).body.data.List[0], 5000, 'stream');
  const streamsOf = (url: string) => ffprobe(['-show_entries', 'stream=codec_type,codec_name', url]);
  const [withAudio, videoOnly] = await Promise.all([streamsOf(row.urls.flv), streamsOf(`${row.urls.flv}?audio=0`)]);
  await sim;
  const kinds = (r: { json: any }) => (r.json.streams ?? []).map((s: { codec_type: string; codec_name: string }) => `${s.codec_type}:${s.codec_name}`).sort();
  t.same(kinds(withAudio), ['audio:pcm_alaw', 'video:h264']);
  t.same(kinds(videoOnly), ['video:h264']);
});
