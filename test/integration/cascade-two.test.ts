/**
 * Cascade end to end with two real appliances (built dist/): the lower camgate has a sipp
 * camera (PS over RTP from a pcap) and a simulated JT/T 808 vehicle; it registers upward to
 * the upper camgate, which runs in its ordinary role (open registration). The upper's catalog
 * lists the camera's channel and the vehicle's channel; a stream started on the upper for
 * each plays through the upper's own HTTP-FLV (ffprobe decodes frames). BYE from the upper
 * ends the lower's output and the source it started; a second INVITE plays again.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiCall, getJson, restartAppliance, waitFor, type Appliance } from '../helpers/appliance.js';
import { capturesDir } from '../helpers/jt1078.js';
import { needPeer } from '../helpers/peers.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { startCascadePair, startLowerCamera } from '../helpers/cascade.js';
import { startTerminalSimulation, type TerminalRunnerEvent } from '../../src/tools/sim/index.js';

const CAMERA = '34020000001310000001';
const SIM = '13800000061';
/** The lower's domain + 131 + the SIM's last 5 digits + channel 01. */
const VEHICLE_CHANNEL = '34020000001310006101';
const LOWER_AS_DEVICE = '34020000001180000077';
const media = new URL('../../../shared/media/', import.meta.url).pathname;

if (!needPeer(t, 'sipp', 'sip-tester') || !needPeer(t, 'ffprobe', 'ffmpeg')) process.exit(0);

/** A 30 s PS-over-RTP pcap under the name the sipp camera scenario plays, so a viewer that joins late still gets frames. */
function longPcap(): string {
  const dir = mkdtempSync(join(tmpdir(), 'camgate-cascade-media-'));
  const es = join(dir, 'long.h264');
  const pcap = join(dir, 'gb_h264_4s_rtp.pcap');
  const ffmpeg = spawnSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-t', '30', '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-g', '25', '-bf', '0', '-x264-params', 'repeat-headers=1', '-b:v', '300k', '-f', 'h264', es], { encoding: 'utf8' });
  if (ffmpeg.status !== 0) throw new Error(`ffmpeg failed: ${ffmpeg.stderr}`);
  const ps = spawnSync('python3', [join(media, 'gbps.py'), '--video', es, '--pcap', pcap, '--ssrc', '200000001'], { encoding: 'utf8' });
  if (ps.status !== 0) throw new Error(`gbps.py failed: ${ps.stderr}`);
  return pcap;
}

const call = apiCall;

async function frames(url: string): Promise<number> {
  const probed = await ffprobe(['-read_intervals', '%+#30', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,nb_read_frames', url], 30_000);
  return Number(probed.json.streams?.[0]?.nb_read_frames ?? 0);
}

const openStreams = async (app: Appliance) =>
  (await getJson(`${app.api}/streams?limit=-1&filters=${encodeURIComponent('[{"field_name":"status","operator":"=","value":0}]')}`)).body.data.List as Array<{ streamid: string; kind: string; channelid: string; deviceid: string; urls: { flv: string } }>;

t.test('two camgates: the lower registers upward; the upper lists and plays a camera and a vehicle through its FLV', async (t) => {
  const pcap = longPcap();
  const { upper, lower, jt808Port } = await startCascadePair(t, { registration: 'open' });
  const camera = await startLowerCamera(t, lower, 'gb_device_ooc_media.xml', 120, [pcap]);
  const simEvents: TerminalRunnerEvent[] = [];
  const sim = await startTerminalSimulation({ port: jt808Port, simBase: SIM, capture: `${capturesDir}data.txt`, terminal: { heartbeatMs: 5000, positionMs: 1000 }, onEvent: (e) => simEvents.push(e) });
  t.teardown(() => sim.stop());
  await waitFor(async () => (await getJson(`${lower.api}/channels`)).body.data.List.some((c: { channelid: string }) => c.channelid === CAMERA), 10_000, 'the camera on the lower');
  await waitFor(async () => (await getJson(`${lower.api}/vehicles/${SIM}`)).body.data?.online === 1, 10_000, 'the vehicle on the lower');
  await call('PATCH', `${lower.api}/vehicles/${SIM}`, { channels: 1 });

  const upperId = (await getJson(`${upper.api}/system`)).body.data?.sip?.id ?? '37070000082008000001';
  const created = await call('POST', `${lower.api}/platforms`, {
    name: 'upper camgate', serverid: upperId, domain: '3707000008', host: '127.0.0.1', port: upper.sipPort,
    deviceid: LOWER_AS_DEVICE, pwd: '12345678', keepalive_interval: 5, keepalive_timeouts: 1, share_cameras: true, share_vehicles: true,
  });
  t.equal(created.status, 200, JSON.stringify(created.body));
  const platform = created.body.data.id;
  await waitFor(async () => (await getJson(`${lower.api}/platforms/${platform}`)).body.data.status.state === 'online', 10_000, 'the lower registered upward');
  const shared = (await getJson(`${lower.api}/platforms/${platform}/catalog`)).body.data.List as Array<{ channelId: string; status: string; name: string }>;
  t.match(shared.find((c) => c.channelId === CAMERA), { status: 'ON' }, 'the camera is shared');
  t.match(shared.find((c) => c.channelId === VEHICLE_CHANNEL), { status: 'ON', name: '粤B00061 通道1' }, 'the vehicle channel is shared under its stable ID');

  // The upper, as an ordinary platform, sees a device with two channels.
  const lowerOnUpper = `${upper.api}/devices?filters=${encodeURIComponent(JSON.stringify([{ field_name: 'deviceid', operator: '=', value: LOWER_AS_DEVICE }]))}`;
  await waitFor(async () => (await getJson(lowerOnUpper)).body.data.List[0]?.online === 1, 10_000, 'the lower online on the upper');
  const channels = await waitFor(async () => {
    const list = (await getJson(`${upper.api}/channels?limit=-1`)).body.data.List as Array<{ channelid: string; deviceid: string; name: string; status: string }>;
    const ours = list.filter((c) => c.deviceid === LOWER_AS_DEVICE);
    return ours.length >= 3 && ours;
  }, 20_000, 'the upper catalog lists both channels');
  t.same(channels.map((c) => c.channelid).sort(), [CAMERA, '34020000001340000001', VEHICLE_CHANNEL].sort(), 'camera, its alarm input and the vehicle channel');
  t.match(channels.find((c) => c.channelid === VEHICLE_CHANNEL), { name: '粤B00061 通道1', status: 'ON' }, 'the vehicle channel name survived GB2312 both ways');

  // The upper subscribes to the lower's positions: the vehicle's 0x0200s reach it as MobilePosition NOTIFYs.
  const positions = await call('POST', `${upper.api}/devices/${LOWER_AS_DEVICE}/subscriptions`, { kind: 'mobile-position', interval: 1 });
  t.equal(positions.status, 200, JSON.stringify(positions.body));
  const alarms = await call('POST', `${upper.api}/devices/${LOWER_AS_DEVICE}/subscriptions`, { kind: 'alarm' });
  t.match(alarms, { status: 200, body: { data: { state: 'active' } } }, 'an Alarm SUBSCRIBE is accepted too');
  const located = await waitFor(async () => {
    const list = (await getJson(`${upper.api}/channels?limit=-1`)).body.data.List as Array<{ channelid: string; longitude: number | null; latitude: number | null }>;
    const ch = list.find((c) => c.channelid === VEHICLE_CHANNEL);
    return ch && ch.longitude !== null && ch.latitude !== null && ch;
  }, 10_000, 'the vehicle position on the upper');
  t.ok(Math.abs(located.longitude!) > 1 && Math.abs(located.latitude!) > 1, `position upward: ${located.longitude}, ${located.latitude}`);

  for (const channel of [CAMERA, VEHICLE_CHANNEL]) {
    const started = await call('POST', `${upper.api}/channels/${channel}/streams`, {});
    t.equal(started.status, 200, `${channel}: ${JSON.stringify(started.body).slice(0, 300)}`);
    const n = await frames(started.body.data.urls.flv);
    t.ok(n >= 10, `${channel}: the upper's FLV decodes (${n} frames)`);
  }
  // PTZ from the upper reaches the camera through the lower (DeviceControl relayed with the channel's ID).
  const ptz = await call('POST', `${upper.api}/channels/${CAMERA}/ptz`, { action: 'left', speed: 100 });
  t.equal(ptz.status, 200, `PTZ through the cascade: ${JSON.stringify(ptz.body)}`);
  // And to the vehicle as JT/T 1078 0x9301 (rotate left at the speed given).
  t.equal((await call('POST', `${upper.api}/channels/${VEHICLE_CHANNEL}/ptz`, { action: 'left', speed: 100 })).status, 200);
  const rotated = await waitFor(async () => simEvents.find((e) => e.type === 'action' && e.action.type === 'ptz'), 10_000, 'the terminal got the PTZ');
  t.match(rotated, { action: { type: 'ptz', msgId: 0x9301, channel: 1, args: [3, 100] } }, 'PTZ left reached the terminal as 0x9301');
  const lowerOpen = await openStreams(lower);
  t.equal(lowerOpen.length, 2, 'the lower runs one source per channel');

  // BYE from the upper: the lower's vehicle output and the source it started end.
  const vehicleRow = (await openStreams(upper)).find((s) => s.channelid === VEHICLE_CHANNEL)!;
  t.equal((await call('DELETE', `${upper.api}/streams/${vehicleRow.streamid}`)).status, 200);
  await waitFor(async () => !(await openStreams(lower)).some((s) => s.kind === 'jt1078'), 10_000, 'the lower stopped the vehicle stream');
  // Re-INVITE: plays again.
  const again = await call('POST', `${upper.api}/channels/${VEHICLE_CHANNEL}/streams`, {});
  t.equal(again.status, 200, JSON.stringify(again.body).slice(0, 300));
  t.ok((await frames(again.body.data.urls.flv)) >= 10, 'the vehicle plays again after BYE and a new INVITE');
  t.equal((await openStreams(lower)).length, 2, 'camera and vehicle fed upward again');

  // Recordings and playback through the cascade: the terminal's 0x9205 answers the upper's RecordInfo, 0x9201 its Playback INVITE.
  const records = await call('GET', `${upper.api}/channels/${VEHICLE_CHANNEL}/records?start=1600000000&end=${Math.floor(Date.now() / 1000)}`);
  t.equal(records.status, 200, JSON.stringify(records.body).slice(0, 300));
  const recording = records.body.data.list?.[0]?.items?.[0] as { start: number; end: number } | undefined;
  t.ok(recording && records.body.data.timenum > 0, `recordings listed on the upper: ${records.body.data.timenum} ranges over ${records.body.data.daynum} days`);
  const replay = await call('POST', `${upper.api}/channels/${VEHICLE_CHANNEL}/streams`, { replay: '1', start: recording!.start, end: recording!.end });
  t.equal(replay.status, 200, JSON.stringify(replay.body).slice(0, 300));
  t.ok((await frames(replay.body.data.urls.flv)) >= 10, 'the recording plays through the upper');
  // MANSRTSP from the upper (INFO in its playback dialog) reaches the terminal as 0x9202.
  for (const body of [{ action: 'pause' }, { action: 'resume' }, { action: 'speed', scale: 2 }]) {
    const control = await call('POST', `${upper.api}/streams/${replay.body.data.streamid}/playback`, body);
    t.equal(control.status, 200, `${body.action} through the cascade: ${JSON.stringify(control.body).slice(0, 200)}`);
  }
  t.equal((await call('DELETE', `${upper.api}/streams/${replay.body.data.streamid}`)).status, 200);
  await waitFor(async () => !(await openStreams(lower)).some((s) => s.streamid.includes('jt1079')), 10_000, 'the lower stopped the playback');

  // The upper goes away without a word (SIGKILL, no BYE): the lower notices within
  // keepalive_interval × keepalive_timeouts, ends the outputs (no RTP into the void) and the sources it started.
  const killedAt = Date.now();
  upper.process.kill('SIGKILL');
  await upper.exited;
  const dropped = await waitFor(async () => {
    const status = (await getJson(`${lower.api}/platforms/${platform}`)).body.data.status;
    return status.state === 'retrying' && status;
  }, 15_000, 'the lower noticed the upper is gone');
  t.match(dropped.error, /keepalive/, `dropped after ${Date.now() - killedAt} ms: ${dropped.error}`);
  await waitFor(async () => (await openStreams(lower)).length === 0, 10_000, 'the lower ended the streams it fed the upper');
  t.pass(`no stream left on the lower ${Date.now() - killedAt} ms after the upper died`);

  // It comes back on the same database and ports: registration and sharing resume.
  const back = restartAppliance(upper);
  t.teardown(async () => {
    if (back.process.exitCode === null) {
      back.process.kill('SIGTERM');
      await back.exited;
    }
  });
  await waitFor(async () => (await getJson(`${back.api}/healthz`)).status === 200, 15_000, 'the upper back');
  const restartedAt = Date.now();
  await waitFor(async () => (await getJson(`${lower.api}/platforms/${platform}`)).body.data.status.state === 'online', 20_000, 'registered again');
  t.pass(`registered again ${Date.now() - restartedAt} ms after the upper answered`);
  const resumed = await call('POST', `${back.api}/channels/${CAMERA}/streams`, {});
  t.equal(resumed.status, 200, JSON.stringify(resumed.body).slice(0, 300));
  t.ok((await frames(resumed.body.data.urls.flv)) >= 10, 'the camera plays on the upper again');

  // A source that ends by itself (the terminal goes away) ends the upper's stream with a BYE from the lower,
  // and a Catalog subscription hears the channel go OFF.
  const catalogSub = await call('POST', `${back.api}/devices/${LOWER_AS_DEVICE}/subscriptions`, { kind: 'catalog' });
  t.equal(catalogSub.status, 200, JSON.stringify(catalogSub.body));
  const vehicleAgain = await call('POST', `${back.api}/channels/${VEHICLE_CHANNEL}/streams`, {});
  t.equal(vehicleAgain.status, 200, JSON.stringify(vehicleAgain.body).slice(0, 300));
  await sim.stop();
  const ended = await waitFor(async () => {
    const rows = (await getJson(`${back.api}/streams?filters=${encodeURIComponent(JSON.stringify([{ field_name: 'id', operator: '=', value: vehicleAgain.body.data.id }]))}`)).body.data.List;
    return rows[0]?.status === 1 && rows[0];
  }, 15_000, 'the upper stream ended by the lower');
  t.match(ended.reason, /BYE/, `upper stream closed: ${ended.reason}`);
  await waitFor(async () => {
    const list = (await getJson(`${back.api}/channels?limit=-1`)).body.data.List as Array<{ channelid: string; status: string }>;
    return list.find((c) => c.channelid === VEHICLE_CHANNEL)?.status === 'OFF';
  }, 10_000, 'the vehicle channel OFF on the upper through the Catalog NOTIFY');
  t.pass('Catalog NOTIFY: the vehicle channel went OFF on the upper');

  // BYE for a source the cascade started, while a console viewer on the lower watches it: the source stays.
  const lowerCamera = (await openStreams(lower)).find((r) => r.channelid === CAMERA)!;
  t.ok(lowerCamera, 'the lower runs the camera for the upper');
  const watching = new AbortController();
  const viewer = await fetch(lowerCamera.urls.flv, { signal: watching.signal });
  const reading = viewer.body!.getReader();
  const drain = (async () => {
    for (;;) if ((await reading.read().catch(() => ({ done: true }))).done) return;
  })();
  await new Promise((r) => setTimeout(r, 500));
  t.equal((await call('DELETE', `${back.api}/streams/${resumed.body.data.streamid}`)).status, 200);
  await new Promise((r) => setTimeout(r, 2000));
  t.ok((await openStreams(lower)).some((r) => r.channelid === CAMERA), 'a watched source survives the upper platform\'s BYE');
  watching.abort();
  await drain;

  camera.stop();
  const cameraLog = (await camera.done).messages;
  t.match(cameraLog, /<CmdType>DeviceControl<\/CmdType>\s*<SN>\d+<\/SN>\s*<DeviceID>34020000001310000001<\/DeviceID>\s*<PTZCmd>A50F01[0-9A-F]{10}<\/PTZCmd>/, 'the camera got the PTZ command');
});
