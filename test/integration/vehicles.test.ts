/**
 * Vehicles end to end on the built appliance: a simulated JT/T 808 terminal (in this
 * process, real TCP) registers on the jt808 port, shows up online in GET /vehicles, is
 * made to stream by POST /vehicles/:sim/channels/:channel/streams (0x9101 to our own
 * JT/T 1078 port), plays through HTTP-FLV (ffprobe decodes it), and DELETE /streams/:id
 * sends 0x9102, after which the terminal's media connection is closed; then the same for
 * a playback of a recording the terminal listed (0x9205, 0x9201, 0x9202).
 */
import t from 'tap';
import { getJson, startAppliance, waitFor } from '../helpers/appliance.js';
import { capturesDir } from '../helpers/jt1078.js';
import { needPeer } from '../helpers/peers.js';
import { freePort } from '../helpers/ports.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { startTerminalSimulation, type TerminalRunnerEvent } from '../../src/tools/sim/index.js';

const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

t.test('a simulated vehicle registers, streams on request, plays as HTTP-FLV, and stops on DELETE', async (t) => {
  if (!needPeer(t, 'ffprobe', 'ffmpeg')) return;
  const jt808Port = await freePort();
  const app = await startAppliance({ jt808: { port: jt808Port, registration: 'open' } });
  t.teardown(async () => {
    app.process.kill('SIGTERM');
    await app.exited;
  });
  await waitFor(async () => (await getJson(`${app.api}/healthz`)).status === 200, 15_000, 'healthy');
  const health = await getJson(`${app.api}/healthz`);
  t.match(health.body.parts.jt808, { ok: true, detail: { role: 'jt808' } }, '/healthz shows the JT/T 808 thread');

  const events: TerminalRunnerEvent[] = [];
  const sim = await startTerminalSimulation({
    port: jt808Port,
    simBase: '13800000061',
    capture: `${capturesDir}data.txt`,
    terminal: { heartbeatMs: 5000, positionMs: 1000 },
    onEvent: (e) => events.push(e),
  });
  t.teardown(() => sim.stop());

  const vehicle = await waitFor(async () => {
    const list = await getJson(`${app.api}/vehicles?filters=${encodeURIComponent('[{"field_name":"online","operator":"=","value":1}]')}`);
    return list.body.data.List.find((v: { sim: string }) => v.sim === '13800000061');
  }, 10_000, 'the vehicle online in GET /vehicles');
  t.match(vehicle, { sim: '13800000061', online: 1, version: '2013' });
  t.match((await getJson(`${app.api}/vehicles/013800000061`)).body, { code: '0', data: { sim: '13800000061' } }, 'zero-padded SIM accepted');
  t.equal((await fetch(`${app.api}/vehicles/13899999999/channels/1/streams`, json({}))).status, 404, 'unknown vehicle');

  // Recordings (0x9205 → 0x1205) and a raw platform message (0x9003 → 0x1003) through the API.
  const records = await getJson(`${app.api}/vehicles/13800000061/records?channel=0`);
  t.equal(records.status, 200);
  t.equal(records.body.data.length, 30, 'the terminal\'s 30 recordings');
  t.match(records.body.data[0], { channel: Number, start: Number, end: Number, size: Number });
  t.ok(records.body.data.every((r: { start: number; end: number }) => r.end > r.start && r.start > 1_600_000_000), 'times in unix seconds');
  const raw = (await (await fetch(`${app.api}/vehicles/13800000061/messages`, json({ msgId: 0x9003 }))).json()) as any;
  t.match(raw, { code: '0', data: { msgId: 0x1003, body: { videoCodec: 98 } } }, 'raw 0x9003 answered by 0x1003');

  const started = Date.now();
  const res = await fetch(`${app.api}/vehicles/13800000061/channels/2/streams`, json({ dataType: 0, streamType: 0 }));
  const body = (await res.json()) as any;
  t.equal(res.status, 200, `stream started in ${Date.now() - started} ms: ${JSON.stringify(body).slice(0, 200)}`);
  const row = body.data;
  t.match(row, { kind: 'jt1078', status: 0, streamid: 'live/jt1078-13800000061-2', deviceid: '13800000061', channelid: '2', urls: { flv: /^http:\/\/.+\.flv$/ } });
  const open = events.find((e) => e.type === 'action' && e.action.type === 'open-stream');
  t.match(open, { action: { mode: 'realtime', host: '127.0.0.1', channel: 2 } }, 'the terminal was pointed at our JT/T 1078 port');
  const again = (await (await fetch(`${app.api}/vehicles/13800000061/channels/2/streams`, json({}))).json()) as any;
  t.equal(again.data.id, row.id, 'a second request gets the same stream');

  const probed = await ffprobe(['-read_intervals', '%+#40', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,nb_read_frames', row.urls.flv], 20_000);
  t.equal(probed.json.streams?.[0]?.codec_name, 'h264', `ffprobe: ${probed.stderr.slice(0, 300)}`);
  t.ok(Number(probed.json.streams?.[0]?.nb_read_frames) >= 10, `HTTP-FLV decodes: ${probed.json.streams?.[0]?.nb_read_frames} frames`);

  // While a viewer watches, GET /streams carries the media plane's live figures for the row.
  const viewer = new AbortController();
  const watching = await fetch(row.urls.flv, { signal: viewer.signal });
  const reader = watching.body!.getReader();
  const drain = (async () => {
    for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return;
  })();
  const live = await waitFor(async () => {
    const list = await getJson(`${app.api}/streams?filters=${encodeURIComponent(`[{"field_name":"id","operator":"=","value":${row.id}}]`)}`);
    const figures = list.body.data.List[0]?.live;
    return figures?.viewers === 1 && figures.bitsPerSecond > 0 && figures;
  }, 10_000, 'live figures with one viewer and a bitrate');
  t.match(live, { viewers: 1, video: { codec: 'h264', width: 720, height: 576 } }, `live figures: ${JSON.stringify(live)}`);
  t.ok(live.bitsPerSecond > 100_000 && live.bitsPerSecond < 20_000_000, `bitrate ${live.bitsPerSecond} bit/s`);
  viewer.abort();
  await drain;

  const del = await fetch(`${app.api}/streams/${encodeURIComponent(row.streamid)}`, { method: 'DELETE' });
  t.equal(del.status, 200, `DELETE: ${await del.text()}`);
  await waitFor(async () => events.some((e) => e.type === 'action' && e.action.type === 'close-stream'), 5000, '0x9102 seen by the terminal');
  await waitFor(async () => events.some((e) => e.type === 'stream-ended'), 5000, 'the terminal stopped its media');
  t.equal(sim.stats.streamsActive, 0, 'no media connection left');
  const closed = (await getJson(`${app.api}/streams?filters=${encodeURIComponent(`[{"field_name":"id","operator":"=","value":${row.id}}]`)}`)).body.data.List[0];
  t.match(closed, { status: 1, reason: 'stopped by API' });
  t.equal((await fetch(`${app.api}/streams/${encodeURIComponent(row.streamid)}`, { method: 'DELETE' })).status, 404, 'already closed');

  // Playback of the first recording: 0x9201 towards the playback port, plays, DELETE sends 0x9202 (stop).
  const record = records.body.data[0];
  const replay = await fetch(`${app.api}/vehicles/13800000061/channels/${record.channel}/streams`, json({ replay: '1', start: record.start, end: record.end }));
  const replayBody = (await replay.json()) as any;
  t.equal(replay.status, 200, `playback started: ${JSON.stringify(replayBody).slice(0, 160)}`);
  t.match(replayBody.data, { kind: 'jt1078', t: 1, status: 0, streamid: `live/jt1079-13800000061-${record.channel}` });
  t.match(events.filter((e) => e.type === 'action' && e.action.type === 'open-stream').at(-1), { action: { mode: 'playback', channel: record.channel } });
  t.equal((await fetch(`${app.api}/vehicles/13800000061/channels/${record.channel}/streams`, json({ replay: '1', start: record.start, end: record.end }))).status, 409, 'one playback per channel at a time');
  const replayProbe = await ffprobe(['-read_intervals', '%+#20', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,nb_read_frames', replayBody.data.urls.flv], 20_000);
  t.equal(replayProbe.json.streams?.[0]?.codec_name, 'h264', 'the playback decodes');
  const control = (action: string, extra: object = {}) => fetch(`${app.api}/streams/${encodeURIComponent(replayBody.data.streamid)}/playback`, json({ action, ...extra }));
  t.equal((await control('pause')).status, 200, 'pause');
  await waitFor(async () => events.some((e) => e.type === 'action' && e.action.type === 'pause-stream' && e.action.paused), 5000, '0x9202 pause seen by the terminal');
  t.equal((await control('resume')).status, 200, 'resume');
  await waitFor(async () => events.some((e) => e.type === 'action' && e.action.type === 'pause-stream' && !e.action.paused), 5000, '0x9202 resume seen by the terminal');
  t.equal((await control('speed')).status, 400, 'speed needs a value');
  t.equal((await fetch(`${app.api}/streams/${encodeURIComponent(row.streamid)}/playback`, json({ action: 'pause' }))).status, 404, 'the closed live stream');
  t.equal((await fetch(`${app.api}/streams/${encodeURIComponent(replayBody.data.streamid)}`, { method: 'DELETE' })).status, 200);
  await waitFor(async () => events.some((e) => e.type === 'action' && e.action.type === 'close-stream' && e.action.mode === 'playback'), 5000, '0x9202 stop seen by the terminal');
  await waitFor(async () => sim.stats.streamsActive === 0, 5000, 'the playback media connection closed');

  const metrics = await (await fetch(`${app.api}/metrics`)).text();
  t.match(metrics, /camgate_jt808_messages_total\{direction="out",msg="9101"\} 1\n/, '0x9101 counted');
  t.match(metrics, /camgate_jt808_messages_total\{direction="out",msg="9102"\} 1\n/, '0x9102 counted');
  t.match(metrics, /camgate_jt808_messages_total\{direction="out",msg="9201"\} 1\n/, '0x9201 counted');
  t.match(metrics, /camgate_jt808_messages_total\{direction="out",msg="9202"\} 3\n/, '0x9202 counted: pause, resume, stop');
  t.match(metrics, /camgate_vehicles_online 1\n/);
  t.match(metrics, /camgate_jt808_connections 1\n/);
});
