import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { getJson, restartAppliance, startAppliance, waitFor, type Appliance } from '../helpers/appliance.js';
import { needPeer } from '../helpers/peers.js';
import { startSipp } from '../helpers/sipp.js';
import { freePort } from '../helpers/ports.js';

const SERVER = { id: '34020000002000000001', domain: '3402000000' };
const DEVICE = '34020000001320000001';
const CAMERA = '34020000001310000001';

if (!needPeer(t, 'sipp', 'sip-tester')) process.exit(0);

async function appliance(t: Test): Promise<Appliance> {
  const app = await startAppliance({ sip: SERVER, gb28181: { registration: 'open' } });
  t.teardown(async () => {
    if (app.process.exitCode === null) {
      app.process.kill('SIGTERM');
      await app.exited;
    }
  });
  await waitFor(async () => (await getJson(`${app.api}/healthz`)).status === 200, 15_000, 'healthy').catch((e) => {
    throw new Error(`${e.message}\n${app.output()}`);
  });
  return app;
}

async function post(url: string, body: Record<string, string>) {
  const res = await fetch(url, { method: 'POST', body: new URLSearchParams(body) });
  return { status: res.status, body: (await res.json()) as { code: string; data: any } };
}

async function streamRow(app: Appliance, streamid: string) {
  const r = await getJson(`${app.api}/streams?filters=${encodeURIComponent(JSON.stringify([{ field_name: 'streamid', operator: '=', value: streamid }]))}`);
  return r.body.data.List[0];
}

t.test('live: INVITE with media from a sipp device, deduplicated, stopped with BYE; playback offers s=Playback', async (t) => {
  const app = await appliance(t);
  const sipp = startSipp([
    `127.0.0.1:${app.sipPort}`, '-i', '127.0.0.1', '-p', String(await freePort()), '-mp', String(await freePort()),
    '-sf', 'gb_device.xml', '-oocsf', 'gb_device_ooc_media.xml', '-inf', 'device1.csv', '-m', '1', '-d', '1000', '-set', 'KA_COUNT', '20', '-trace_msg',
  ]);
  await waitFor(async () => (await getJson(`${app.api}/channels`)).body.data.List.some((c: { channelid: string }) => c.channelid === CAMERA), 8000, 'camera channel from the catalog');

  const first = await post(`${app.api}/channels/${CAMERA}/streams`, {});
  t.equal(first.status, 200, JSON.stringify(first.body));
  const stream = first.body.data;
  t.match(stream, { kind: 'gb28181', t: 0, status: 0, deviceid: DEVICE, channelid: CAMERA, ssrc: /^0\d{9}$/, streamid: /^[0-9A-F]{8}$/ });
  t.equal(stream.streamid, (Number(stream.ssrc) >>> 0).toString(16).toUpperCase().padStart(8, '0'), 'streamid = SSRC in hex');
  t.ok(stream.callid && stream.cseq >= 1, 'dialog state stored');
  const second = await post(`${app.api}/channels/${CAMERA}/streams`, {});
  t.equal(second.body.data.streamid, stream.streamid, 'a second live request returns the same stream');

  const seen = await waitFor(async () => {
    const row = await streamRow(app, stream.streamid);
    return row?.stream === true && row;
  }, 8000, 'media arrives from the device');
  t.equal(seen.status, 0);
  t.match(stream.urls, { flv: new RegExp(`/rtp/${stream.streamid}\\.flv$`), wsflv: /^ws:/ });
  if (needPeer(t, 'ffprobe', 'ffmpeg')) {
    // The GOP cache gives a late viewer the current GOP at once; read 20 packets and stop.
    const probe = spawnSync('ffprobe', ['-v', 'error', '-probesize', '65536', '-analyzeduration', '200000', '-read_intervals', '%+#20', '-select_streams', 'v:0', '-show_entries', 'packet=pts,flags', '-show_entries', 'stream=codec_name', '-of', 'json', stream.urls.flv], { encoding: 'utf8', timeout: 15_000 });
    const json = JSON.parse(probe.stdout || '{}');
    t.equal(json.streams?.[0]?.codec_name, 'h264', 'the HTTP-FLV URL plays H.264');
    t.ok((json.packets?.length ?? 0) >= 20, `${json.packets?.length} video packets read`);
    t.match(json.packets?.[0]?.flags, /^K/, 'a viewer starts on a key frame');
  }

  const del = await fetch(`${app.api}/streams/${stream.streamid}`, { method: 'DELETE' });
  t.equal(del.status, 200, JSON.stringify(await streamRow(app, stream.streamid)));
  const closed = await waitFor(async () => {
    const row = await streamRow(app, stream.streamid);
    return row?.status === 1 && row;
  }, 5000, 'row closed');
  t.equal(closed.reason, 'stopped by API');
  t.equal((await fetch(`${app.api}/streams/${stream.streamid}`, { method: 'DELETE' })).status, 404, 'already closed');

  const start = Math.floor(Date.parse('2026-11-20T08:00:00+08:00') / 1000);
  const end = start + 3600;
  const bad = await post(`${app.api}/channels/${CAMERA}/streams`, { replay: '1', start: String(end), end: String(start) });
  t.equal(bad.status, 400);
  t.match(bad.body.data, /^end: /);
  const replay = await post(`${app.api}/channels/${CAMERA}/streams`, { replay: '1', start: String(start), end: String(end) });
  t.equal(replay.status, 200, JSON.stringify(replay.body));
  t.match(replay.body.data, { t: 1, start, end, ssrc: /^1\d{9}$/ });
  t.not(replay.body.data.streamid, stream.streamid, 'each playback is a new stream');
  await fetch(`${app.api}/streams/${replay.body.data.streamid}`, { method: 'DELETE' });

  const run = await sipp.done;
  t.equal(run.code, 0, `sipp exit 0\n${run.output.slice(-500)}`);
  t.match(run.messages, /INVITE sip:34020000001310000001@3402000000/);
  t.match(run.messages, /s=Play\r?\n/);
  t.match(run.messages, /s=Playback\r?\n/);
  t.match(run.messages, new RegExp(`t=${start} ${end}`));
  t.match(run.messages, /y=0\d{9}/);
  t.match(run.messages, /Subject: 34020000001310000001:0\d{9},34020000002000000001:0/);
  t.match(run.messages, /BYE sip:/, 'the device received BYE');
  const metrics = await (await fetch(`${app.api}/metrics`)).text();
  t.match(metrics, /camgate_media_streams_started_total\{protocol="rtp"\} [1-9]/);
  t.match(metrics, /camgate_gb28181_invites_total\{result="ok"\} 2/);
  t.match(metrics, /camgate_invite_to_first_frame_seconds_count [1-9]/);
  t.match(metrics, /camgate_media_sent_bytes_total\{protocol="flv"\} [1-9]/);
  if (needPeer(t, 'promtool', 'prometheus')) {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    t.equal(check.status, 0, check.stdout + check.stderr);
    t.equal((check.stdout + check.stderr).trim(), '', 'the whole appliance registry passes promtool');
  }
});

for (const crash of ['supervisor', 'media'] as const) {
  t.test(`kill -9 of the ${crash} during a live stream: the device gets BYE, no row stays open`, async (t) => {
    const app = await appliance(t);
    const sipp = startSipp([
      `127.0.0.1:${app.sipPort}`, '-i', '127.0.0.1', '-p', String(await freePort()), '-mp', String(await freePort()),
      '-sf', 'gb_device.xml', '-oocsf', 'gb_device_ooc_media.xml', '-inf', 'device1.csv', '-m', '1', '-d', '1000', '-set', 'KA_COUNT', '12', '-trace_msg',
    ]);
    await waitFor(async () => (await getJson(`${app.api}/channels`)).body.data.List.some((c: { channelid: string }) => c.channelid === CAMERA), 8000, 'camera channel');
    const live = await post(`${app.api}/channels/${CAMERA}/streams`, {});
    t.equal(live.status, 200, JSON.stringify(live.body));
    const streamid = live.body.data.streamid as string;
    await waitFor(async () => (await streamRow(app, streamid))?.stream === true, 8000, 'media flowing');

    let api = app.api;
    if (crash === 'supervisor') {
      const health = await getJson(`${app.api}/healthz`);
      const mediaPid = health.body.parts.media.pid as number;
      app.process.kill('SIGKILL');
      await app.exited;
      await waitFor(async () => {
        try {
          process.kill(mediaPid, 0);
          return false;
        } catch {
          return true;
        }
      }, 5000, 'media process gone with its supervisor');
      const again = restartAppliance(app);
      t.teardown(async () => {
        again.process.kill('SIGTERM');
        await again.exited;
      });
      const restartedAt = Date.now();
      await waitFor(async () => (await getJson(`${again.api}/devices`)).status === 200, 10_000, 'API answers after restart');
      t.ok(Date.now() - restartedAt < 10_000, `API answered ${Date.now() - restartedAt} ms after the restart`);
      api = again.api;
    } else {
      const health = await getJson(`${app.api}/healthz`);
      process.kill(health.body.parts.media.pid as number, 'SIGKILL');
    }
    const closed = await waitFor(async () => {
      const r = await getJson(`${api}/streams?filters=${encodeURIComponent('[{"field_name":"status","operator":"=","value":0}]')}`);
      return r.body.data.Total === 0 && (await getJson(`${api}/streams`)).body.data.List.find((s: { streamid: string }) => s.streamid === streamid);
    }, 15_000, 'no open stream row');
    t.match(closed, { status: 1, reason: crash === 'supervisor' ? 'camgate restarted' : /media/ });
    const run = await sipp.done;
    t.match(run.messages, /BYE sip:34020000001310000001@/, 'the device received BYE');
    t.equal(run.code, 0, `sipp exit 0\n${run.output.slice(-400)}`);
  });
}
