/**
 * Cascade with two real appliances (built dist/), the upper in its default provisioned
 * registration mode: the lower's device ID is refused until it is created through the
 * upper's API (with the password the lower's platform entry carries), and only the channels
 * provisioned there are taken from the lower's catalog. The lower has a sipp camera that
 * checks every control body it gets (test/fixtures/sipp/gb_camera_control_ooc.xml) and a
 * simulated JT/T 808 vehicle.
 *
 * Controls from the upper's API go through the lower to the camera, and the camera's
 * answers come back: its SIP refusal (400) as the lower's answer, its Response Result (OK,
 * ERROR) relayed under the upper's SN. The vehicle plays through the upper's HTTP-FLV.
 */
import t from 'tap';
import { apiCall, getJson, waitFor } from '../helpers/appliance.js';
import { startCascadePair, startLowerCamera } from '../helpers/cascade.js';
import { capturesDir } from '../helpers/jt1078.js';
import { needPeer } from '../helpers/peers.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { startTerminalSimulation } from '../../src/tools/sim/index.js';

const DEVICE = '34020000001320000001';
const CAMERA = '34020000001310000001';
const SIM = '13800000061';
const VEHICLE_CHANNEL = '34020000001310006101';
const LOWER_AS_DEVICE = '34020000001180000078';
const PASSWORD = 'cascade-pw-1';

if (!needPeer(t, 'sipp', 'sip-tester') || !needPeer(t, 'ffprobe', 'ffmpeg')) process.exit(0);

const call = apiCall;

t.test('provisioned upper: refused until the lower is created there; provisioned channels listed; controls answered by the camera through the cascade', async (t) => {
  const { upper, lower, jt808Port } = await startCascadePair(t, { registration: 'provisioned' });
  const camera = await startLowerCamera(t, lower, 'gb_camera_control_ooc.xml', 150);
  const sim = await startTerminalSimulation({ port: jt808Port, simBase: SIM, capture: `${capturesDir}data.txt`, terminal: { heartbeatMs: 5000, positionMs: 5000 } });
  t.teardown(() => sim.stop());
  const cameraRow = async () => (await getJson(`${lower.api}/devices?filters=${encodeURIComponent(JSON.stringify([{ field_name: 'deviceid', operator: '=', value: DEVICE }]))}`)).body.data.List[0];
  await waitFor(async () => (await cameraRow())?.online === 1, 10_000, 'the camera on the lower');
  // This camera refuses the Catalog query (400): its channel is provisioned on the lower.
  t.equal((await call('POST', `${lower.api}/devices/${DEVICE}/channels`, { channelid: CAMERA })).status, 200);
  await waitFor(async () => (await getJson(`${lower.api}/vehicles/${SIM}`)).body.data?.online === 1, 10_000, 'the vehicle on the lower');
  await call('PATCH', `${lower.api}/vehicles/${SIM}`, { channels: 1 });

  const upperId = (await getJson(`${upper.api}/system`)).body.data?.sip?.id ?? '37070000082008000001';
  const created = await call('POST', `${lower.api}/platforms`, {
    name: 'provisioned upper', serverid: upperId, domain: '3707000008', host: '127.0.0.1', port: upper.sipPort,
    deviceid: LOWER_AS_DEVICE, pwd: PASSWORD, keepalive_interval: 5, share_cameras: true, share_vehicles: true,
  });
  t.equal(created.status, 200, JSON.stringify(created.body));
  const platform = created.body.data.id;

  // Not provisioned on the upper yet: refused, and the lower says so.
  const refused = await waitFor(async () => {
    const status = (await getJson(`${lower.api}/platforms/${platform}`)).body.data.status;
    return status.state === 'retrying' && status;
  }, 10_000, 'the lower refused by the upper');
  t.ok(refused.error, `refused while unknown to the upper: ${refused.error}`);
  // The catalog the lower shares (allocates the vehicle channel's stable ID).
  const shared = (await getJson(`${lower.api}/platforms/${platform}/catalog`)).body.data.List as Array<{ channelId: string }>;
  t.same(shared.map((c) => c.channelId).sort(), [CAMERA, VEHICLE_CHANNEL].sort(), 'the lower shares the camera and the vehicle channel');

  // The operator provisions the lower on the upper: the device with the lower's password, and the channels it may bring.
  t.equal((await call('POST', `${upper.api}/devices`, { deviceid: LOWER_AS_DEVICE, pwd: PASSWORD, name: 'lower camgate' })).status, 200);
  for (const channelid of [CAMERA, VEHICLE_CHANNEL]) t.equal((await call('POST', `${upper.api}/devices/${LOWER_AS_DEVICE}/channels`, { channelid })).status, 200);
  const provisionedAt = Date.now();
  await waitFor(async () => (await getJson(`${lower.api}/platforms/${platform}`)).body.data.status.state === 'online', 70_000, 'the lower registered once provisioned');
  t.pass(`registered ${Date.now() - provisionedAt} ms after being provisioned on the upper`);
  const onUpper = await waitFor(async () => {
    const list = (await getJson(`${upper.api}/channels?limit=-1`)).body.data.List as Array<{ channelid: string; deviceid: string; name: string; status: string }>;
    const ours = list.filter((c) => c.deviceid === LOWER_AS_DEVICE);
    return ours.some((c) => c.channelid === VEHICLE_CHANNEL && c.name.includes('通道1')) && ours;
  }, 20_000, 'the upper took the catalog into its provisioned channels');
  t.same(onUpper.map((c) => c.channelid).sort(), [CAMERA, VEHICLE_CHANNEL].sort(), 'only the provisioned channels');
  t.match(onUpper.find((c) => c.channelid === VEHICLE_CHANNEL), { status: 'ON', name: '粤B00061 通道1' });

  // The vehicle plays through the provisioned upper.
  const started = await call('POST', `${upper.api}/channels/${VEHICLE_CHANNEL}/streams`, {});
  t.equal(started.status, 200, JSON.stringify(started.body).slice(0, 300));
  const probed = await ffprobe(['-read_intervals', '%+#30', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,nb_read_frames', started.body.data.urls.flv], 30_000);
  const frames = Number(probed.json.streams?.[0]?.nb_read_frames ?? 0);
  t.ok(frames >= 10, `the vehicle decodes through the upper's FLV (${frames} frames)`);
  t.equal((await call('DELETE', `${upper.api}/streams/${started.body.data.streamid}`)).status, 200);

  // Controls: the camera's own answers reach the upper's API.
  const ptz = await call('POST', `${upper.api}/channels/${CAMERA}/ptz`, { action: 'right', speed: 0x20 });
  t.equal(ptz.status, 200, `PTZ the camera accepts: ${JSON.stringify(ptz.body)}`);
  const wrongPreset = await call('POST', `${upper.api}/channels/${CAMERA}/presets`, { action: 'call', index: 4 });
  t.equal(wrongPreset.status, 502, `a PTZCmd the camera refuses (400) is refused on the upper too: ${JSON.stringify(wrongPreset.body)}`);
  t.match(wrongPreset.body.data, /rejected: .*400/, 'with the camera\'s status');
  const resetGuard = await call('POST', `${upper.api}/devices/${LOWER_AS_DEVICE}/guard`, { action: 'reset', channelid: CAMERA });
  t.equal(resetGuard.status, 502, JSON.stringify(resetGuard.body));
  t.match(resetGuard.body.data, /^device-error: .*Result ERROR/, 'the camera\'s Result ERROR relayed up');
  const setGuard = await call('POST', `${upper.api}/devices/${LOWER_AS_DEVICE}/guard`, { action: 'set', channelid: CAMERA });
  t.match(setGuard, { status: 200, body: { data: { answeredBy: 'response' } } }, 'SetGuard: the camera\'s Response relayed up');
  const record = await call('POST', `${upper.api}/devices/${LOWER_AS_DEVICE}/record`, { action: 'start', channelid: CAMERA });
  t.match(record, { status: 200, body: { data: { answeredBy: 'response', result: 'OK' } } }, `Record: Result OK from the camera (${JSON.stringify(record.body)})`);

  camera.stop();
  const log = (await camera.done).messages;
  t.match(log, /<GuardCmd>ResetGuard<\/GuardCmd>/, 'the camera got the relayed ResetGuard');
  t.match(log, /<RecordCmd>Record<\/RecordCmd>/, 'and the Record');
});
