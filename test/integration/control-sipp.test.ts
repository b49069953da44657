import t from 'tap';
import { spawnSync } from 'node:child_process';
import { getJson, healthyAppliance, waitFor } from '../helpers/appliance.js';
import { needPeer } from '../helpers/peers.js';
import { startSipp } from '../helpers/sipp.js';
import { freePort } from '../helpers/ports.js';

/**
 * GB28181 control through the whole appliance (built dist/): API → supervisor → SIP thread →
 * a sipp camera (test/fixtures/sipp/gb_camera_control_ooc.xml) that checks the exact XML and
 * MANSRTSP it receives (PTZCmd bytes with checksum, CmdType, DeviceID) and answers 400 to
 * anything else, as a camera refusing a command would.
 */
const SERVER = { id: '34020000002000000001', domain: '3402000000' };
const DEVICE = '34020000001320000001';
const CAMERA = '34020000001310000001';

if (!needPeer(t, 'sipp', 'sip-tester')) process.exit(0);

interface Answer {
  status: number;
  body: { code: string; data: any };
}

async function call(method: string, url: string, body?: Record<string, unknown>): Promise<Answer> {
  const res = await fetch(url, {
    method,
    ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    signal: AbortSignal.timeout(50_000),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

t.test('PTZ, presets, guard, status and playback control reach the camera as it expects; refusals map to HTTP statuses', async (t) => {
  const app = await healthyAppliance(t, { sip: SERVER, gb28181: { registration: 'open' } });
  const device = async () => (await getJson(`${app.api}/devices?filters=${encodeURIComponent(JSON.stringify([{ field_name: 'deviceid', operator: '=', value: DEVICE }]))}`)).body.data.List[0];
  const devicePort = await freePort();
  const sipp = startSipp([
    `127.0.0.1:${app.sipPort}`, '-i', '127.0.0.1', '-p', String(devicePort), '-mp', String(await freePort()),
    '-sf', 'gb_device.xml', '-oocsf', 'gb_camera_control_ooc.xml', '-inf', 'device1.csv', '-m', '1', '-d', '1000', '-set', 'KA_COUNT', '22', '-trace_msg',
  ], 90_000);
  t.teardown(() => sipp.stop());
  await waitFor(async () => (await device())?.online === 1, 8000, 'camera registered');
  // This camera refuses the Catalog query (400), so its channel is provisioned.
  const created = await call('POST', `${app.api}/devices/${DEVICE}/channels`, { channelid: CAMERA });
  t.equal(created.status, 200, JSON.stringify(created.body));

  // Playback control first: the camera expects PAUSE, Scale 2, Range npt=60-, Range npt=now-, then refuses a fifth INFO.
  const start = Math.floor(Date.parse('2026-11-20T08:00:00+08:00') / 1000);
  const replay = await call('POST', `${app.api}/channels/${CAMERA}/streams`, { replay: '1', start, end: start + 3600 });
  t.equal(replay.status, 200, JSON.stringify(replay.body));
  const streamid: string = replay.body.data.streamid;
  let cseq: number = replay.body.data.cseq;
  for (const body of [{ action: 'pause' }, { action: 'speed', scale: 2 }, { action: 'seek', position: 60 }, { action: 'resume' }]) {
    const answer = await call('POST', `${app.api}/streams/${streamid}/playback`, body);
    t.equal(answer.status, 200, `${body.action}: ${JSON.stringify(answer.body)}`);
    t.equal(answer.body.data.cseq, cseq + 1, `${body.action}: the dialog CSeq moved on and was stored`);
    cseq = answer.body.data.cseq;
  }
  const refused = await call('POST', `${app.api}/streams/${streamid}/playback`, { action: 'speed', scale: 4 });
  t.equal(refused.status, 502, `a refused INFO answers 502: ${JSON.stringify(refused.body)}`);
  t.match(refused.body.data, /rejected: INFO speed: 400/);
  const rows = await getJson(`${app.api}/streams?filters=${encodeURIComponent(JSON.stringify([{ field_name: 'streamid', operator: '=', value: streamid }]))}`);
  t.equal(rows.body.data.List[0].cseq, cseq + 1, 'the refused INFO\'s CSeq was stored too');
  const noPosition = await call('POST', `${app.api}/streams/${streamid}/playback`, { action: 'seek' });
  t.equal(noPosition.status, 400);
  t.match(noPosition.body.data, /^position: /);
  await new Promise((r) => setTimeout(r, 200)); // see test/sip/control-sipp.test.ts: BYE right after an INFO
  t.equal((await call('DELETE', `${app.api}/streams/${streamid}`)).status, 200, 'BYE after the INFOs');

  // PTZ: each PTZCmd is one the camera accepts (A.3 bytes and checksum checked in the scenario).
  for (const body of [{ action: 'right', speed: 0x20 }, { action: 'zoomin', speed: 85 }, { action: 'stop' }, { action: 'irisopen', speed: 0x30 }]) {
    const answer = await call('POST', `${app.api}/channels/${CAMERA}/ptz`, body);
    t.equal(answer.status, 200, `${body.action}: ${JSON.stringify(answer.body)}`);
    t.match(answer.body.data, { answeredBy: 'sip', latencyMs: Number });
  }
  t.match((await call('POST', `${app.api}/channels/${CAMERA}/presets`, { action: 'call', index: 3 })).body, { code: '0', data: { answeredBy: 'sip' } });
  const wrongPreset = await call('POST', `${app.api}/channels/${CAMERA}/presets`, { action: 'call', index: 4 });
  t.equal(wrongPreset.status, 502, 'the camera answered 400 to a PTZCmd it does not expect: 502');
  t.match(wrongPreset.body, { code: '1001', data: /^rejected: / });
  const badAction = await call('POST', `${app.api}/channels/${CAMERA}/ptz`, { action: 'sideways' });
  t.equal(badAction.status, 400);
  t.match(badAction.body.data, /^action: /, '400 names the field');
  t.equal((await call('POST', `${app.api}/channels/34020000001310009999/ptz`, { action: 'stop' })).status, 404, 'unknown channel');

  // Commands with a Response MESSAGE: Result ERROR is 502; SetGuard is followed by an Alarm the appliance acknowledges.
  const resetGuard = await call('POST', `${app.api}/devices/${DEVICE}/guard`, { action: 'reset', channelid: CAMERA });
  t.equal(resetGuard.status, 502, JSON.stringify(resetGuard.body));
  t.match(resetGuard.body.data, /^device-error: .*Result ERROR/);
  t.match(await call('POST', `${app.api}/devices/${DEVICE}/guard`, { action: 'set', channelid: CAMERA }), { status: 200, body: { data: { answeredBy: 'response' } } });
  t.match(await call('POST', `${app.api}/devices/${DEVICE}/record`, { action: 'start', channelid: CAMERA }), { status: 200, body: { data: { answeredBy: 'response', result: 'OK' } } });
  const presets = await call('GET', `${app.api}/channels/${CAMERA}/presets`);
  t.same(presets.body.data, [{ id: 1, name: 'gate' }, { id: 3, name: 'yard' }]);
  const status = await call('GET', `${app.api}/devices/${DEVICE}/status?channelid=${CAMERA}`);
  t.match(status, { status: 200, body: { data: { deviceId: CAMERA, online: true, encode: 'ON', record: 'OFF' } } });

  // Catalog subscription: 200 Expires 4, a NOTIFY (camera OFF, a second camera ADDed), a refresh, then un-SUBSCRIBE.
  const sub = await call('POST', `${app.api}/devices/${DEVICE}/subscriptions`, { kind: 'catalog' });
  t.match(sub, { status: 200, body: { data: { kind: 'catalog', state: 'active', expires: 4 } } }, JSON.stringify(sub.body));
  const added = await waitFor(async () => (await getJson(`${app.api}/channels`)).body.data.List.find((c: { channelid: string }) => c.channelid === '34020000001310000002'), 3000, 'the ADDed channel stored');
  t.match(added, { status: 'ON', longitude: 120.15, latitude: 30.28 });
  await waitFor(async () => (await getJson(`${app.api}/channels`)).body.data.List.find((c: { channelid: string; status: string }) => c.channelid === CAMERA && c.status === 'OFF'), 3000, 'the camera OFF');
  await waitFor(async () => (await call('GET', `${app.api}/devices/${DEVICE}/subscriptions`)).body.data.find((x: { refreshes: number }) => x.refreshes >= 1), 3000, 'refreshed');
  t.match(await call('DELETE', `${app.api}/devices/${DEVICE}/subscriptions/catalog`), { status: 200, body: { data: { state: 'unsubscribed' } } });
  t.equal((await call('DELETE', `${app.api}/devices/${DEVICE}/subscriptions/alarm`)).status, 404, 'no alarm subscription');

  const run = await sipp.done;
  t.equal(run.code, 0, `sipp exit 0\n${run.output.slice(-1500)}\n${run.errors}`);
  const problems = run.errors.split(/(?=\d{4}-\d{2}-\d{2}\s)/).filter((line) => line.trim() !== '' && !/Received out-of-call|The following events occurred/.test(line));
  t.same(problems, [], 'sipp logged no failed check, aborted call or unexpected message');
  t.equal(run.messages.match(/^BYE sip:/gm)?.length, 1, 'one BYE: closing the media does not stop the stream a second time');
  await waitFor(async () => (await device())?.online === 0, 5000, 'camera unregistered');
  const offline = await call('POST', `${app.api}/channels/${CAMERA}/ptz`, { action: 'stop' });
  t.equal(offline.status, 409, `an unregistered device answers 409: ${JSON.stringify(offline.body)}`);

  const metrics = await (await fetch(`${app.api}/metrics`)).text();
  t.match(metrics, /camgate_gb28181_commands_total\{command="ptz",result="answered"\} 3\n/);
  t.match(metrics, /camgate_gb28181_commands_total\{command="playback",result="answered"\} 4\n/);
  t.match(metrics, /camgate_gb28181_command_failures_total\{command="preset",reason="rejected"\} 1\n/);
  t.match(metrics, /camgate_gb28181_command_failures_total\{command="guard",reason="device-error"\} 1\n/);
  t.match(metrics, /camgate_gb28181_command_failures_total\{command="ptz",reason="not-registered"\} 1\n/);
  t.match(metrics, /camgate_gb28181_events_total\{event="alarm",via="message"\} 1\n/, 'the Alarm after SetGuard was received');
  t.match(metrics, /camgate_gb28181_command_latency_seconds_total\{command="ptz"\} \d/);
  if (needPeer(t, 'promtool', 'prometheus')) {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    t.equal((check.stdout + check.stderr).trim(), '', 'the registry with the control families passes promtool');
  }
});
