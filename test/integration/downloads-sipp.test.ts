/**
 * GB28181 downloads against a sipp camera (test/fixtures/sipp/gb_device_ooc_download.xml) that
 * refuses any INVITE but a Download, pushes a 4 s PS/RTP capture, and — at downloadspeed 4 —
 * says end of file (MediaStatus 121). Checks the SDP as the device got it, the file with
 * ffprobe, progress, the limit on concurrent downloads, the three ways a download ends (121, media time reached, cancel),
 * 400s naming the field, webhooks and metrics.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson, startAppliance, waitFor } from '../helpers/appliance.js';
import { needPeer } from '../helpers/peers.js';
import { startSipp } from '../helpers/sipp.js';
import { freePort } from '../helpers/ports.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';

const SERVER = { id: '34020000002000000001', domain: '3402000000' };
const CAMERA = '34020000001310000001';
const TOKEN = 'downloads-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

if (!needPeer(t, 'sipp', 'sip-tester')) process.exit(0);
if (!needPeer(t, 'ffprobe', 'ffmpeg')) process.exit(0);

async function call(method: string, url: string, body?: unknown) {
  const res = await fetch(url, { method, headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as { code: string; data: any } };
}

t.test('download: s=Download INVITE, PS and MP4 files served and decodable, done on MediaStatus 121, on media time reached, cancel deletes', async (t) => {
  const hooks = await webhookReceiver(t);
  const app = await startAppliance({
    api: { tokens: [TOKEN] },
    sip: SERVER,
    gb28181: { registration: 'open' },
    notify: { urls: { 'downloads.done': hooks.url, 'downloads.failed': hooks.url } },
    downloads: { maxConcurrent: 1 },
    // Nobody watches a download: it must not be closed as an idle stream.
    streams: { noViewerClose: 2 },
  });
  t.teardown(async () => {
    if (app.process.exitCode === null) {
      app.process.kill('SIGTERM');
      await app.exited;
    }
  });
  await waitFor(async () => (await fetch(`${app.api}/healthz`)).status === 200, 15_000, 'healthy').catch((e) => {
    throw new Error(`${e.message}\n${app.output()}`);
  });
  const sipp = startSipp([
    `127.0.0.1:${app.sipPort}`, '-i', '127.0.0.1', '-p', String(await freePort()), '-mp', String(await freePort()),
    '-sf', 'gb_device.xml', '-oocsf', 'gb_device_ooc_download.xml', '-inf', 'device1.csv', '-m', '1', '-d', '1000', '-set', 'KA_COUNT', '30', '-trace_msg',
  ]);
  t.teardown(() => sipp.stop());
  await waitFor(async () => (await call('GET', `${app.api}/channels`)).body.data.List.some((c: { channelid: string }) => c.channelid === CAMERA), 8000, 'camera channel from the catalog');

  // Bad parameters: 400 naming the field, nothing INVITEd.
  const start = Math.floor(Date.parse('2026-11-20T08:00:00+08:00') / 1000);
  const url = `${app.api}/channels/${CAMERA}/downloads`;
  for (const [body, field] of [
    [{ end: start + 60 }, /^start: /],
    [{ start, end: start }, /^end: must be after start/],
    [{ start, end: start + 60, speed: 5 }, /^speed: /],
    [{ start, end: start + 60, format: 'avi' }, /^format: /],
  ] as const) {
    const bad = await call('POST', url, body);
    t.equal(bad.status, 400, JSON.stringify(body));
    t.match(bad.body.data, field, JSON.stringify(bad.body));
  }
  t.equal((await call('POST', `${app.api}/channels/34020000001310000099/downloads`, { start, end: start + 60 })).status, 404, 'unknown channel');
  t.equal((await call('GET', `${app.api}/downloads/0123456789ab`)).status, 404);
  t.equal((await call('GET', `${app.api}/downloads/nothex`)).status, 400);

  // 1. Downloadspeed 4 (default), a range longer than the recording: the device sends it all, then MediaStatus 121.
  const first = await call('POST', url, { start, end: start + 3600 });
  t.equal(first.status, 200, JSON.stringify(first.body));
  t.match(first.body.data, { state: 'running', channelid: CAMERA, speed: 4, format: 'ps', start, end: start + 3600, streamid: /^[0-9A-F]{8}$/ });
  const id: string = first.body.data.id;
  const running = await waitFor(async () => {
    const d = (await call('GET', `${app.api}/downloads/${id}`)).body.data;
    return d.state === 'running' && d.bytes > 0 && d;
  }, 8000, 'bytes arriving');
  t.ok(running.progress > 0 && running.progress < 1, `progress while running: ${running.progress}`);
  t.equal((await call('GET', `${app.api}/downloads/${id}/file`)).status, 409, 'no file while running');
  const done = await waitFor(async () => {
    const d = (await call('GET', `${app.api}/downloads/${id}`)).body.data;
    return d.state !== 'running' && d;
  }, 15_000, 'first download ended');
  t.match(done, { state: 'done', progress: 1, reason: /MediaStatus 121/ });
  t.ok(done.mediaSeconds >= 3 && done.mediaSeconds <= 4.5, `media seconds ${done.mediaSeconds}`);

  const file = await fetch(`${app.api}/downloads/${id}/file`, { headers: auth });
  t.equal(file.status, 200, file.status === 200 ? 'file served' : `${await file.clone().text()}\n${app.output().slice(-1500)}`);
  t.match(file.headers.get('content-disposition'), new RegExp(`attachment; filename="${CAMERA}_${start}_${start + 3600}\\.ps"`));
  t.equal(file.headers.get('content-type'), 'video/MP2P');
  const bytes = Buffer.from(await file.arrayBuffer());
  t.equal(bytes.length, done.bytes, 'served size = reported size');
  t.equal(bytes.readUInt32BE(0), 0x000001ba, 'the file starts with a PS pack header');
  const ranged = await fetch(`${app.api}/downloads/${id}/file`, { headers: { ...auth, range: 'bytes=0-99' } });
  t.equal(ranged.status, 206, 'Range is honoured');
  t.equal((await ranged.arrayBuffer()).byteLength, 100);
  const dir = mkdtempSync(join(tmpdir(), 'camgate-download-'));
  const saved = join(dir, 'download.ps');
  writeFileSync(saved, bytes);
  const probe = await ffprobe(['-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,nb_read_frames,width,height', saved]);
  const video = probe.json.streams?.[0];
  t.equal(video?.codec_name, 'h264', `ffprobe: ${probe.stderr}`);
  t.ok(Number(video?.nb_read_frames) >= 75, `${video?.nb_read_frames} video frames decoded`);

  // 2. Downloadspeed 2, a 2 s range, as MP4: camgate ends it (BYE) once 2 s of media arrived; the device sends no 121.
  const second = await call('POST', url, { start: start + 7200, end: start + 7202, speed: 2, format: 'mp4' });
  t.equal(second.status, 200, JSON.stringify(second.body));
  const done2 = await waitFor(async () => {
    const d = (await call('GET', `${app.api}/downloads/${second.body.data.id}`)).body.data;
    return d.state !== 'running' && d;
  }, 15_000, 'second download ended');
  t.match(done2, { state: 'done', progress: 1, reason: 'download complete' });
  t.ok(done2.mediaSeconds >= 2 && done2.bytes > 0, `${done2.mediaSeconds} s, ${done2.bytes} bytes`);
  const mp4 = await fetch(`${app.api}/downloads/${second.body.data.id}/file`, { headers: auth });
  t.equal(mp4.headers.get('content-type'), 'video/mp4');
  t.match(mp4.headers.get('content-disposition'), /filename="\d{20}_\d+_\d+\.mp4"/);
  const mp4Path = join(dir, 'download.mp4');
  writeFileSync(mp4Path, Buffer.from(await mp4.arrayBuffer()));
  const mp4Probe = await ffprobe(['-count_frames', '-show_entries', 'stream=codec_name,nb_read_frames:format=duration', mp4Path]);
  t.equal(mp4Probe.json.streams?.[0]?.codec_name, 'h264', `ffprobe: ${mp4Probe.stderr}`);
  t.ok(Number(mp4Probe.json.streams?.[0]?.nb_read_frames) >= 50, `${mp4Probe.json.streams?.[0]?.nb_read_frames} frames in the MP4 (2 s asked)`);
  t.equal(mp4Probe.stderr, '', 'no decoder complaint');

  // 3. Downloadspeed 1: cancelled while running; file and record gone, the device gets BYE.
  const third = await call('POST', url, { start: start + 10_800, end: start + 14_400, speed: 1 });
  t.equal(third.status, 200, JSON.stringify(third.body));
  const thirdId: string = third.body.data.id;
  await waitFor(async () => (await call('GET', `${app.api}/downloads/${thirdId}`)).body.data.bytes > 0, 8000, 'third download receiving');
  const busy = await call('POST', url, { start, end: start + 60 });
  t.equal(busy.status, 429, 'downloads.maxConcurrent 1: a second one at once is refused');
  t.match(busy.body.data, /downloads.maxConcurrent 1/);
  const path = join(app.dir, 'data', 'downloads', `${thirdId}.ps`);
  t.ok(existsSync(path), 'file under <cwd>/data/downloads');
  t.equal((await call('DELETE', `${app.api}/downloads/${thirdId}`)).status, 200);
  t.equal((await call('GET', `${app.api}/downloads/${thirdId}`)).status, 404, 'record gone');
  t.notOk(existsSync(path), 'file deleted');
  t.equal((await call('DELETE', `${app.api}/downloads/${thirdId}`)).status, 404);
  const streams = await call('GET', `${app.api}/streams?filters=${encodeURIComponent(JSON.stringify([{ field_name: 'streamid', operator: '=', value: third.body.data.streamid }]))}`);
  t.match(streams.body.data.List[0], { status: 1, reason: 'download cancelled', t: 1 });

  const list = await call('GET', `${app.api}/downloads`);
  t.same(list.body.data.List.map((d: { id: string }) => d.id), [second.body.data.id, id], 'listed newest first');

  const doneHooks = await waitFor(async () => {
    const events = hooks.events.filter((e) => e.method === 'downloads.done');
    return events.length === 2 && events;
  }, 5000, 'two downloads.done webhooks');
  t.match(doneHooks[0]!.data, { id, state: 'done', channelid: CAMERA });

  const metrics = await (await fetch(`${app.api}/metrics`, { headers: auth })).text();
  t.match(metrics, /camgate_downloads_started_total 3\n/);
  t.match(metrics, /camgate_downloads_finished_total\{result="done",reason="end_of_file"\} 1\n/);
  t.match(metrics, /camgate_downloads_finished_total\{result="done",reason="media_end"\} 1\n/);
  t.match(metrics, /camgate_downloads_finished_total\{result="cancelled",reason="cancelled"\} 1\n/);
  t.match(metrics, /camgate_download_bytes_total [1-9]/);
  t.match(metrics, /camgate_downloads_running 0\n/);
  t.match(metrics, /camgate_download_duration_seconds_count\{result="done"\} 2\n/);
  if (needPeer(t, 'promtool', 'prometheus')) {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    t.equal((check.stdout + check.stderr).trim(), '', 'promtool finds nothing to say about the registry');
  }

  const run = await sipp.done;
  t.equal(run.code, 0, `sipp exit 0\n${run.output.slice(-800)}\n${run.errors.slice(-800)}`);
  t.match(run.messages, /s=Download\r?\n/);
  t.match(run.messages, new RegExp(`u=${CAMERA}:0\\r?\\n`));
  t.match(run.messages, new RegExp(`t=${start} ${start + 3600}\\r?\\n`));
  t.match(run.messages, new RegExp(`t=${start + 7200} ${start + 7202}\\r?\\n`));
  t.match(run.messages, /a=downloadspeed:4\r?\n/);
  t.match(run.messages, /a=downloadspeed:2\r?\n/);
  t.match(run.messages, /a=downloadspeed:1\r?\n/);
  t.equal((run.messages.match(/^BYE sip:/gm) ?? []).length, 3, 'each download ended with one BYE');
});
