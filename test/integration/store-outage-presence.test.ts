import t, { type Test } from 'tap';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson, startAppliance, waitFor, type Appliance } from '../helpers/appliance.js';
import { startPrivateMariadb, type PrivateMariadb } from '../helpers/private-mariadb.js';
import { freePort } from '../helpers/ports.js';
import { byesIn, startSipp } from '../helpers/sipp.js';
import { webhookReceiver, type ReceivedEvent } from '../helpers/webhook-receiver.js';
import { capturesDir } from '../helpers/jt1078.js';
import { startSimulation, startTerminalSimulation } from '../../src/tools/sim/index.js';

/*
 * Issue 11 item 3: store outages lose nothing. A private mariadbd is frozen (SIGSTOP)
 * in one phase and killed in the other while sipp GB28181 devices keepalive, a sipp
 * camera sends a live stream, JT/T 1078 streams flow and JT/T 808 terminals are connected. During the outage: a device that
 * goes silent is offline by the SIP thread's keepalive timer and its `devices.offline`
 * reaches a local receiver; terminals that leave or arrive and streams that end or start
 * are announced, the camera's stream times out (`streams.stopped`, BYE); the API answers
 * 503 within 2 s. When the store is back the rows say what
 * the live parts hold: the silent device offline, the live one online, the ended stream's
 * row closed, the new stream's row open, vehicles offline/online; no webhook twice.
 */

const PASSWORD = 'outage-pass';
const BOUND_MS = 2000;
const KEEPALIVE_S = 5; // gb28181.keepaliveInterval minimum; × 1 timeout = offline after 5 s of silence
/** The shared sipp camera (device1.csv): its media is a 4 s pcap, so its stream times out (streams.mediaTimeout) a few seconds in. */
const CAMERA_DEVICE = '34020000001320000001';
const CAMERA = '34020000001310000001';

interface Env {
  app: Appliance;
  hooks: { url: string; events: ReceivedEvent[] };
  realtimePort: number;
  jt808Port: number;
  dir: string;
}

async function provision(t: Test, env: Env, deviceid: string, pwd = PASSWORD): Promise<void> {
  const res = await fetch(`${env.app.api}/devices`, { method: 'POST', body: new URLSearchParams({ deviceid, name: deviceid, pwd }) });
  t.equal(res.status, 200, `device ${deviceid} provisioned`);
}

/** A sipp GB28181 device: REGISTER with digest, then a keepalive every second until stopped. */
async function sippDevice(env: Env, deviceid: string) {
  const csv = join(env.dir, `dev-${deviceid}.csv`);
  writeFileSync(csv, `SEQUENTIAL\n${deviceid};${PASSWORD}\n`);
  return startSipp(
    [`127.0.0.1:${env.app.sipPort}`, '-i', '127.0.0.1', '-p', String(await freePort()), '-sf', 'gb_keepalive.xml', '-inf', `dev-${deviceid}.csv`, '-m', '1', '-d', '1000', '-set', 'KA_COUNT', '100000'],
    600_000,
    [csv],
  );
}

async function device(env: Env, id: string): Promise<{ online: number } | undefined> {
  const res = await getJson(`${env.app.api}/devices?limit=-1`);
  return res.status === 200 ? res.body.data.List.find((d: { deviceid: string }) => d.deviceid === id) : undefined;
}

async function vehicle(env: Env, sim: string): Promise<{ online: number } | null | undefined> {
  const res = await getJson(`${env.app.api}/vehicles/${sim}`);
  return res.status === 200 ? res.body.data : res.status === 404 ? null : undefined;
}

async function streamRows(env: Env, sim: string): Promise<Array<{ status: number; reason: string; streamid: string }> | undefined> {
  const res = await getJson(`${env.app.api}/streams?limit=-1`);
  return res.status === 200 ? res.body.data.List.filter((s: { kind: string; deviceid: string }) => s.kind === 'jt1078' && s.deviceid === sim) : undefined;
}

async function gbRow(env: Env, streamid: string): Promise<{ status: number; reason: string; stream: boolean } | undefined> {
  const res = await getJson(`${env.app.api}/streams?filters=${encodeURIComponent(JSON.stringify([{ field_name: 'streamid', operator: '=', value: streamid }]))}`);
  return res.status === 200 ? res.body.data.List[0] : undefined;
}

const eventsOf = (env: Env, method: string, match: (data: any) => boolean) => env.hooks.events.filter((e) => e.method === method && match(e.data));

/** One outage; returns the Call-ID of the camera stream that timed out during it. */
async function phase(t: Test, env: Env, db: PrivateMariadb, mode: 'frozen' | 'stopped', ids: { stay: string; silent: string; simGone: string; simNew: string; vGone: string; vNew: string }): Promise<string> {
  const capture = `${capturesDir}data.txt`;
  await provision(t, env, ids.stay);
  await provision(t, env, ids.silent);
  const stay = await sippDevice(env, ids.stay);
  const silent = await sippDevice(env, ids.silent);
  t.teardown(() => {
    stay.stop();
    silent.stop();
  });
  const gone = await startSimulation({ capture, port: env.realtimePort, simBase: ids.simGone, loops: Infinity });
  t.teardown(() => gone.stop());
  const vGone = await startTerminalSimulation({ port: env.jt808Port, simBase: ids.vGone, capture, terminal: { heartbeatMs: 1000, positionMs: 1000 } });
  t.teardown(() => vGone.stop());

  await waitFor(async () => (await device(env, ids.stay))?.online === 1 && (await device(env, ids.silent))?.online === 1, 10_000, `${mode}: both devices online`);
  await waitFor(async () => (await streamRows(env, ids.simGone))?.some((r) => r.status === 0), 10_000, `${mode}: a row for the stream before the outage`);
  await waitFor(async () => (await vehicle(env, ids.vGone))?.online === 1, 10_000, `${mode}: the vehicle online`);
  const live = await fetch(`${env.app.api}/channels/${CAMERA}/streams`, { method: 'POST', body: new URLSearchParams({}) });
  const liveBody = (await live.json()) as { data: { streamid: string; callid: string } };
  t.equal(live.status, 200, `${mode}: the camera's live stream: ${JSON.stringify(liveBody)}`);
  const streamid = liveBody.data.streamid;
  await waitFor(async () => (await gbRow(env, streamid))?.stream === true, 8000, `${mode}: media from the camera`);

  // The outage, then, while it lasts: a device goes silent, a stream ends and one starts,
  // a terminal leaves and one arrives.
  let back = false;
  if (mode === 'frozen') db.freeze();
  else await db.kill();
  t.teardown(async () => {
    if (back) return;
    if (mode === 'frozen') db.thaw();
    else await db.start();
  });
  const outageAt = Date.now();
  silent.stop();
  gone.stop();
  await vGone.stop();
  const fresh = await startSimulation({ capture, port: env.realtimePort, simBase: ids.simNew, loops: Infinity });
  t.teardown(() => fresh.stop());
  const vNew = await startTerminalSimulation({ port: env.jt808Port, simBase: ids.vNew, capture, terminal: { heartbeatMs: 1000, positionMs: 1000 } });
  t.teardown(() => vNew.stop());

  const started = performance.now();
  const devices = await getJson(`${env.app.api}/devices`);
  const ms = Math.round(performance.now() - started);
  t.equal(devices.status, 503, `${mode}: GET /devices 503 during the outage`);
  t.ok(ms < BOUND_MS, `${mode}: answered in ${ms} ms (< ${BOUND_MS})`);

  const offline = await waitFor(
    async () => eventsOf(env, 'devices.offline', (d) => d.deviceid === ids.silent)[0],
    KEEPALIVE_S * 1000 + 5000,
    `${mode}: devices.offline of the silent device during the outage`,
  );
  t.match(offline.data, { deviceid: ids.silent, reason: 'keepalive-timeout' });
  t.comment(`${mode}: devices.offline received ${Date.now() - outageAt} ms into the outage`);
  await waitFor(async () => eventsOf(env, 'vehicles.offline', (d) => d.sim === ids.vGone)[0], 10_000, `${mode}: vehicles.offline during the outage`);
  await waitFor(async () => eventsOf(env, 'vehicles.online', (d) => d.sim === ids.vNew)[0], 10_000, `${mode}: vehicles.online during the outage`);
  await waitFor(async () => eventsOf(env, 'streams.stopped', (d) => String(d.streamid).includes(`-${ids.simGone}-`))[0], 10_000, `${mode}: streams.stopped during the outage`);
  await waitFor(async () => eventsOf(env, 'streams.started', (d) => d.sim === ids.simNew)[0], 10_000, `${mode}: streams.started during the outage`);
  const timedOut = await waitFor(async () => eventsOf(env, 'streams.stopped', (d) => d.streamid === streamid)[0], 15_000, `${mode}: the camera stream's streams.stopped during the outage`);
  t.match(timedOut.data, { streamid, channelid: CAMERA, reason: 'media timeout' });
  const health = await getJson(`${env.app.api}/healthz`);
  t.equal(health.status, 503, `${mode}: still an outage when every webhook was received`);
  t.same(eventsOf(env, 'devices.offline', (d) => d.deviceid === ids.stay), [], `${mode}: the device that keeps alive is not offline`);

  if (mode === 'frozen') db.thaw();
  else await db.start();
  back = true;
  const backAt = Date.now();

  await waitFor(async () => (await device(env, ids.silent))?.online === 0, 15_000, `${mode}: the silent device's row offline`);
  t.equal((await device(env, ids.stay))?.online, 1, `${mode}: the live device's row online`);
  const rows = await waitFor(async () => {
    const [goneRows, newRows] = await Promise.all([streamRows(env, ids.simGone), streamRows(env, ids.simNew)]);
    return goneRows && newRows && goneRows.every((r) => r.status === 1) && newRows.some((r) => r.status === 0) && { goneRows, newRows };
  }, 15_000, `${mode}: stream rows right after the store returned`);
  t.equal(rows.newRows.filter((r) => r.status === 0).length, 1, `${mode}: one open row for the stream started during the outage`);
  t.ok(rows.goneRows.length >= 1, `${mode}: the ended stream's row closed (${rows.goneRows.map((r) => r.reason).join(', ')})`);
  await waitFor(async () => (await vehicle(env, ids.vGone))?.online === 0 && (await vehicle(env, ids.vNew))?.online === 1, 15_000, `${mode}: vehicle rows`);
  t.match(await waitFor(async () => {
    const row = await gbRow(env, streamid);
    return row?.status === 1 && row;
  }, 15_000, `${mode}: the camera stream's row closed`), { status: 1, reason: 'media timeout' }, `${mode}: the camera stream's row closed with its reason`);
  t.comment(`${mode}: rows right ${Date.now() - backAt} ms after the store returned`);

  await new Promise((r) => setTimeout(r, 1500));
  t.equal(eventsOf(env, 'devices.offline', (d) => d.deviceid === ids.silent).length, 1, `${mode}: one devices.offline, not repeated by the reconciliation`);
  t.equal(eventsOf(env, 'vehicles.offline', (d) => d.sim === ids.vGone).length, 1, `${mode}: one vehicles.offline`);
  t.equal(eventsOf(env, 'streams.stopped', (d) => d.streamid === streamid).length, 1, `${mode}: one streams.stopped for the camera stream`);
  // Devices and terminals keep talking, so a key may be queued for a moment at any scrape:
  // the queue must drain, not be empty at one instant.
  const metrics = await waitFor(async () => {
    const text = await (await fetch(`${env.app.api}/metrics`)).text();
    return /^camgate_store_write_backlog 0$/m.test(text) && text;
  }, 5000, `${mode}: the write-behind queue drained`);
  t.match(metrics, /^camgate_store_write_backlog 0$/m, `${mode}: the queue is empty`);
  t.match(metrics, /^camgate_store_up 1$/m);
  t.match(metrics, /^camgate_store_writes_total\{result="retried"\} [1-9]/m, `${mode}: writes were retried`);

  stay.stop();
  fresh.stop();
  await vNew.stop();
  return liveBody.data.callid;
}

t.test('store frozen, then stopped: presence and stream rows follow the live state; webhooks do not wait for the store', async (t) => {
  const db = await startPrivateMariadb(t);
  if (!db) return;
  t.teardown(() => db.stop());
  const hooks = await webhookReceiver(t);
  const realtimePort = await freePort();
  const jt808Port = await freePort();
  const events = ['devices.offline', 'devices.registered', 'vehicles.online', 'vehicles.offline', 'streams.started', 'streams.stopped'];
  const app = await startAppliance({
    sip: { id: '34020000002000000001', domain: '3402000000' },
    store: { url: db.url, timeout: 1500, retryMax: 1000 },
    gb28181: { keepaliveInterval: KEEPALIVE_S, keepaliveTimeouts: 1 },
    streams: { mediaTimeout: 3 },
    jt1078: { realtime: { port: realtimePort } },
    jt808: { port: jt808Port, registration: 'open' },
    notify: { urls: Object.fromEntries(events.map((e) => [e, hooks.url])) },
  });
  t.teardown(async () => {
    app.process.kill('SIGKILL');
    await app.exited;
  });
  const healthy = await waitFor(async () => (await getJson(`${app.api}/healthz`)).status === 200, 15_000, 'healthy appliance').catch((error) => {
    t.fail(`${(error as Error).message}\n${app.output().slice(-3000)}`);
    return false;
  });
  if (!healthy) return;
  const env: Env = { app, hooks, realtimePort, jt808Port, dir: mkdtempSync(join(tmpdir(), 'camgate-outage-')) };
  // The camera: registers, keeps alive every second, answers INVITE with 4 s of media.
  await provision(t, env, CAMERA_DEVICE, '12345678');
  t.equal((await fetch(`${app.api}/devices/${CAMERA_DEVICE}/channels`, { method: 'POST', body: new URLSearchParams({ channelid: CAMERA }) })).status, 200, 'camera channel provisioned');
  const camera = startSipp([
    `127.0.0.1:${app.sipPort}`, '-i', '127.0.0.1', '-p', String(await freePort()), '-mp', String(await freePort()),
    '-sf', 'gb_device.xml', '-oocsf', 'gb_device_ooc_media.xml', '-inf', 'device1.csv', '-m', '1', '-d', '1000', '-set', 'KA_COUNT', '100000', '-trace_msg',
  ], 600_000);
  t.teardown(() => camera.stop());
  await waitFor(async () => (await device(env, CAMERA_DEVICE))?.online === 1, 10_000, 'camera online');

  const dialogs: string[] = [];
  await t.test('frozen (SIGSTOP)', async (t) => {
    dialogs.push(await phase(t, env, db, 'frozen', { stay: '34020000001320000011', silent: '34020000001320000012', simGone: '13700000011', simNew: '13700000012', vGone: '13800000011', vNew: '13800000012' }));
  });
  await t.test('stopped (killed, then started again)', async (t) => {
    dialogs.push(await phase(t, env, db, 'stopped', { stay: '34020000001320000021', silent: '34020000001320000022', simGone: '13700000021', simNew: '13700000022', vGone: '13800000021', vNew: '13800000022' }));
  });
  camera.stop();
  const byes = byesIn((await camera.done).messages);
  // streams.stopped is sent once the BYE transaction ended, and it came during the outage: so did the BYE.
  t.same(dialogs.map((callId) => byes.filter((b) => b.callId === callId).length), [1, 1], 'the camera got one BYE for each stream that timed out during an outage');
  const story = app.output().split('\n').filter((line) => /store unavailable: presence|store back|reconcil/.test(line));
  t.equal(story.filter((line) => line.includes('store back')).length, 2, 'the queue saw the store come back after each outage');
  t.equal(story.filter((line) => line.includes('rows reconciled with the live state')).length, 2, 'a reconciliation after each (SIP presence table, vehicles, media streams)');
  t.notOk(story.some((line) => line.includes('reconciliation with the live state failed')), 'no reconciliation failed');
  for (const line of story) t.comment(line.slice(0, 300));
  if (t.passing()) return;
  t.comment(app.output().slice(-6000));
});
