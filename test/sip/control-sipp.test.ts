import t, { type Test } from 'tap';
import { NonceStore, parseNameAddr, parseUri, systemClock, type SipMessage } from '../../src/protocol/sip/index.js';
import { SharedCounters } from '../../src/shared/counters.js';
import { GbControlService, ControlError, type AlarmEvent, type PositionEvent, type SubscriptionSnapshot } from '../../src/sip/control-service.js';
import { GbService } from '../../src/sip/gb-service.js';
import { GbPlatform } from '../../src/sip/platform.js';
import { SIP_COUNTER_NAMES } from '../../src/shared/contracts/sip-counters.js';
import { SipTransport } from '../../src/sip/transport.js';
import type { CatalogItem } from '../../src/protocol/gb28181/index.js';
import { needPeer } from '../helpers/peers.js';
import { freePort } from '../helpers/ports.js';
import { startSipp } from '../helpers/sipp.js';

/**
 * The control service over a real UDP SipTransport against sipp cameras
 * (test/fixtures/sipp/gb_camera_*_ooc.xml with the shared gb_device.xml main part):
 * only the SIP-thread pieces, no appliance.
 */
const SERVER = { id: '34020000002000000001', domain: '3402000000' };
const DEVICE = '34020000001320000001';
const CAMERA = '34020000001310000001';

if (!needPeer(t, 'sipp', 'sip-tester')) process.exit(0);

async function sipThread(t: Test, subscriptionExpires = 3600) {
  const port = await freePort();
  const counters = SharedCounters.create(SIP_COUNTER_NAMES);
  const received: SipMessage[] = [];
  const alarms: AlarmEvent[] = [];
  const positions: PositionEvent[] = [];
  const catalogChanges: CatalogItem[][] = [];
  const states: SubscriptionSnapshot[] = [];
  const logs: string[] = [];
  let onRegistered: () => void = () => undefined;
  const registered = new Promise<void>((resolve) => (onRegistered = resolve));
  let offline = false;
  const platform: GbPlatform = new GbPlatform({
    serverId: SERVER.id,
    domain: SERVER.domain,
    advertisedHost: '127.0.0.1',
    advertisedPort: port,
    registration: 'provisioned',
    maxExpires: 3600,
    keepaliveInterval: 60,
    keepaliveTimeouts: 3,
    clock: systemClock,
    nonces: new NonceStore({ clock: systemClock }),
    counters,
    lookup: async (id) => ({ known: id === DEVICE, password: '12345678' }),
    send: (bytes, remote) => transport.send(bytes, remote),
    events: {
      registered: () => onRegistered(),
      offline: (id) => {
        offline = true;
        control.deviceOffline(id);
      },
      keepalive: () => undefined,
      manscdp: (id, body, contentType, source) => gb.handleMessage(id, body, contentType, source),
      notify: (request, remote) => control.handleNotify(request, remote),
      log: (_level, message) => logs.push(message),
    },
  });
  const gb = new GbService({
    platform,
    clock: systemClock,
    counters,
    catalogInterval: 0,
    events: {
      catalog: () => undefined,
      deviceInfo: () => undefined,
      mediaStatus: () => undefined,
      other: (id, m, s) => control.handleManscdp(id, m, s),
      log: (_level, message, data) => logs.push(`${message} ${JSON.stringify(data)}`),
    },
  });
  const control: GbControlService = new GbControlService({
    platform,
    clock: systemClock,
    counters,
    serverId: SERVER.id,
    responseTimeout: 3000,
    subscriptionExpires,
    events: {
      subscription: (s) => states.push(s),
      catalogChange: (_id, items) => catalogChanges.push(items),
      alarm: (a) => alarms.push(a),
      position: (p) => positions.push(p),
      log: (_level, message) => logs.push(message),
    },
  });
  const transport = new SipTransport(
    { host: '127.0.0.1', port, transports: ['udp'] },
    {
      message: (message, remote) => {
        received.push(message);
        platform.receive(message, remote);
      },
      malformed: (_reason, remote) => platform.malformed(remote),
    },
  );
  await transport.start();
  t.teardown(async () => {
    control.close();
    gb.close();
    platform.close();
    await transport.close();
  });
  return { port, counters, platform, control, received, alarms, positions, catalogChanges, states, logs, registered, isOffline: () => offline };
}

/** The error a promise rejects with (undefined if it resolves). */
const failure = (p: Promise<unknown>): Promise<unknown> => p.then(
  () => undefined,
  (e: unknown) => e,
);

const until = async <T>(what: string, check: () => T | undefined | false, ms = 8000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

function camera(port: number, ooc: string, keepalives: number, gapMs: number) {
  return freePort().then((devicePort) =>
    startSipp([`127.0.0.1:${port}`, '-i', '127.0.0.1', '-p', String(devicePort), '-sf', 'gb_device.xml', '-oocsf', ooc, '-inf', 'device1.csv', '-m', '1', '-d', String(gapMs), '-set', 'KA_COUNT', String(keepalives), '-mp', String(devicePort + 2)], 60_000),
  );
}

t.test('a camera answers every DeviceControl, query, subscription and playback INFO as checked by sipp', async (t) => {
  const s = await sipThread(t);
  const sipp = await camera(s.port, 'gb_camera_control_ooc.xml', 16, 1000);
  await Promise.race([s.registered, sipp.done.then((r) => Promise.reject(new Error(`sipp ended before registering\n${r.output.slice(-1500)}`)))]);

  // No-response commands: the 200 is the answer (PTZCmd bytes checked by the camera).
  const ptzCommands = [
    { kind: 'ptz' as const, pan: 1 as const, tilt: 0 as const, zoom: 0 as const, panSpeed: 0x20, tiltSpeed: 0, zoomSpeed: 0 },
    { kind: 'ptz' as const, pan: 0 as const, tilt: 0 as const, zoom: 1 as const, panSpeed: 0, tiltSpeed: 0, zoomSpeed: 5 },
    { kind: 'ptz' as const, pan: 0 as const, tilt: 0 as const, zoom: 0 as const, panSpeed: 0, tiltSpeed: 0, zoomSpeed: 0 },
    { kind: 'fi' as const, focus: 0 as const, iris: 1 as const, focusSpeed: 0, irisSpeed: 0x30 },
    { kind: 'preset' as const, action: 'call' as const, preset: 3 },
  ];
  for (const command of ptzCommands) t.match(await s.control.control(DEVICE, CAMERA, { type: 'ptz', command }), { answeredBy: 'sip' }, `PTZ ${JSON.stringify(command)}`);
  t.match(await s.control.control(DEVICE, CAMERA, { type: 'iframe' }), { answeredBy: 'sip' });
  t.match(await s.control.control(DEVICE, CAMERA, { type: 'dragZoom', direction: 'in', area: { length: 1920, width: 1080, midPointX: 960, midPointY: 540, lengthX: 200, lengthY: 100 } }), { answeredBy: 'sip' });
  t.match(await s.control.control(DEVICE, CAMERA, { type: 'teleboot' }), { answeredBy: 'sip' });
  // A PTZCmd the camera does not expect is refused with 400: the check in the scenario can fail.
  t.match(await failure(s.control.control(DEVICE, CAMERA, { type: 'ptz', command: { kind: 'preset', action: 'call', preset: 4 } })), { reason: 'rejected', status: 400 });

  // Commands with a Response MESSAGE.
  t.match(await s.control.control(DEVICE, CAMERA, { type: 'record', action: 'Record' }), { answeredBy: 'response', result: 'OK' });
  t.match(await s.control.control(DEVICE, CAMERA, { type: 'record', action: 'StopRecord' }), { answeredBy: 'response', result: 'OK' });
  t.match(await s.control.control(DEVICE, CAMERA, { type: 'alarmReset' }), { answeredBy: 'response' });
  t.match(await s.control.control(DEVICE, CAMERA, { type: 'homePosition', enabled: true, resetTime: 30, presetIndex: 3 }), { answeredBy: 'response' });
  t.match(await failure(s.control.control(DEVICE, CAMERA, { type: 'guard', action: 'ResetGuard' })), { reason: 'device-error' }, 'Result ERROR');
  t.match(await s.control.control(DEVICE, CAMERA, { type: 'guard', action: 'SetGuard' }), { answeredBy: 'response' });
  // ...after which the camera reports motion by MESSAGE, and checks our Alarm Response.
  const alarm = await until('alarm MESSAGE', () => s.alarms.find((a) => a.via === 'message'));
  t.match(alarm, { deviceId: DEVICE, channelId: '34020000001340000001', sn: 4242, priority: 1, method: 5, description: 'Motion Detection', alarmType: 2, timeRaw: '2026-11-20T08:30:00' });
  const ackAnswer = await until('the camera answers our Alarm Response', () => s.received.find((m) => m.kind === 'response' && m.headers.get('cseq')?.endsWith('MESSAGE') && m.status !== 100 && s.counters.get('gb_events|alarm|message') === 1 && m.headers.get('call-id') !== undefined && isAlarmAck(m)));
  t.equal(ackAnswer.kind === 'response' && ackAnswer.status, 200, 'the Alarm Response XML passed the camera check');
  t.match(await s.control.configure(DEVICE, CAMERA, { name: 'gate', expiration: 3600, heartBeatInterval: 60, heartBeatCount: 3 }), { answeredBy: 'response', result: 'OK' });
  t.match(await s.control.broadcast(DEVICE, CAMERA), { answeredBy: 'response', result: 'OK' });

  // Queries.
  t.same(await s.control.queryPresets(DEVICE, CAMERA), [{ id: 1, name: 'gate' }, { id: 3, name: 'yard' }]);
  t.match(await s.control.queryStatus(DEVICE, CAMERA), { deviceId: CAMERA, online: true, statusOk: true, encode: 'ON', record: 'OFF', alarms: [{ deviceId: '34020000001340000001', dutyStatus: 'OFFDUTY' }] });
  const config = await s.control.queryConfig(DEVICE, CAMERA, ['BasicParam', 'VideoParamOpt']);
  t.match(config, { basicParam: { name: 'IPCamera', expiration: 3600, heartBeatInterval: 60 }, videoParamOpt: { downloadSpeed: [1, 2, 4, 8] } });
  t.notMatch(JSON.stringify(config), /12345678/, 'the device password is not carried');

  // Playback control inside an INVITE dialog.
  const call = await s.platform.invite({ deviceId: DEVICE, channelId: CAMERA, sdp: 'v=0\r\no=x 0 0 IN IP4 127.0.0.1\r\ns=Playback\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 9 RTP/AVP 96\r\na=recvonly\r\na=rtpmap:96 PS/90000\r\ny=0100000001\r\n', subject: `${CAMERA}:0100000001,${SERVER.id}:0`, callId: `pb-${Date.now()}`, fromTag: 'pbtag' });
  let dialog = call.dialog;
  for (const action of [{ action: 'pause' as const }, { action: 'speed' as const, scale: 2 }, { action: 'seek' as const, position: 60 }, { action: 'resume' as const }]) {
    const before = dialog.localSeq;
    dialog = (await s.control.playback(DEVICE, dialog, action)).dialog;
    t.equal(dialog.localSeq, before + 1, `${action.action}: the dialog CSeq moved on`);
  }
  const bad = await s.control.playback(DEVICE, dialog, { action: 'teardown' }).catch((e: ControlError) => e);
  t.match(bad, { reason: 'rejected', status: 400 }, 'an INFO the camera does not expect is refused');
  dialog = bad instanceof ControlError && bad.dialog ? bad.dialog : dialog;
  // sipp sometimes takes the BYE for out of order when it comes within a few ms of the last INFO.
  await new Promise((r) => setTimeout(r, 200));
  t.equal(await s.platform.bye(dialog, DEVICE), 200, 'BYE after the INFOs is accepted');

  // Subscriptions: 200 with Expires 4, a NOTIFY each, a refresh before 4 s, then un-SUBSCRIBE.
  const subs = await Promise.all([s.control.subscribe(DEVICE, 'catalog'), s.control.subscribe(DEVICE, 'alarm'), s.control.subscribe(DEVICE, 'mobilePosition')]);
  for (const sub of subs) t.match(sub, { state: 'active', expires: 4, status: 200 }, `${sub.kind} active with the device's Expires`);
  await until('catalog change', () => s.catalogChanges.length > 0);
  t.match(s.catalogChanges[0], [{ deviceId: CAMERA, event: 'OFF' }, { deviceId: '34020000001310000002', event: 'ADD', name: 'Camera 02', status: 'ON', longitude: 120.15, latitude: 30.28 }]);
  await until('alarm NOTIFY', () => s.alarms.some((a) => a.via === 'notify'));
  t.match(await until('position NOTIFY', () => s.positions[0]), { via: 'notify', deviceId: DEVICE, longitude: 116.397128, latitude: 39.916527, direction: 90, altitude: 50 });
  await until('three refreshes', () => s.control.subscriptions(DEVICE).every((x) => x.refreshes >= 1), 8000);
  for (const sub of s.control.subscriptions(DEVICE)) t.match(sub, { state: 'active', refreshes: 1, notifies: 1 }, `${sub.kind} refreshed in its dialog`);
  for (const kind of ['catalog', 'alarm', 'mobilePosition'] as const) t.match(await s.control.unsubscribe(DEVICE, kind), { state: 'unsubscribed' });

  const run = await sipp.done;
  t.equal(run.code, 0, `sipp exit 0\n${run.output.slice(-1500)}\n${run.errors}`);
  const problems = run.errors.split(/(?=\d{4}-\d{2}-\d{2}\s)/).filter((line) => !/Received out-of-call/.test(line) && line.trim() !== '' && !/The following events occurred/.test(line));
  t.same(problems, [], 'sipp logged no failed check, aborted call or unexpected message');
  t.ok(s.isOffline(), 'the camera unregistered at the end');
  t.equal(s.counters.get('commands|ptz|answered'), 3);
  t.equal(s.counters.get('command_failures|preset|rejected'), 1);
  t.equal(s.counters.get('command_failures|guard|device-error'), 1);
  t.equal(s.counters.get('commands|record|answered'), 2);
  t.equal(s.counters.get('subscriptions|catalog|refreshed'), 1);
  t.equal(s.counters.get('gb_events|alarm|notify'), 1);
  t.notOk(s.logs.some((l) => /Alarm Response not accepted/.test(l)), s.logs.join('\n'));

  function isAlarmAck(m: SipMessage): boolean {
    // Our MESSAGE carrying the Alarm Response went out on this Call-ID (To = the alarm input).
    const to = parseNameAddr(m.headers.get('to') ?? '');
    return parseUri(to?.uri ?? '')?.user === '34020000001340000001';
  }
});

t.test('a camera without subscriptions: 489 and 403 leave a clear state, control still works', async (t) => {
  const s = await sipThread(t);
  const sipp = await camera(s.port, 'gb_camera_nosub_ooc.xml', 10, 700);
  await Promise.race([s.registered, sipp.done.then((r) => Promise.reject(new Error(`sipp ended before registering\n${r.output.slice(-1500)}`)))]);
  t.match(await s.control.subscribe(DEVICE, 'catalog'), { kind: 'catalog', state: 'rejected', status: 489, reason: /489 Bad Event/ });
  t.match(await s.control.subscribe(DEVICE, 'alarm'), { kind: 'alarm', state: 'rejected', status: 403, reason: /403 Forbidden/ });
  t.match(await s.control.subscribe(DEVICE, 'mobilePosition'), { state: 'rejected', status: 489 });
  t.same(
    s.control.subscriptions(DEVICE).map((x) => [x.kind, x.state]),
    [
      ['catalog', 'rejected'],
      ['alarm', 'rejected'],
      ['mobilePosition', 'rejected'],
    ],
  );
  t.match(await s.control.control(DEVICE, CAMERA, { type: 'ptz', command: { kind: 'ptz', pan: -1, tilt: 0, zoom: 0, panSpeed: 10, tiltSpeed: 0, zoomSpeed: 0 } }), { answeredBy: 'sip' });
  t.match(await failure(s.control.control(DEVICE, CAMERA, { type: 'record', action: 'Record' })), { reason: 'no-response' }, '200 but no Response MESSAGE');
  t.equal(s.counters.get('subscriptions|catalog|rejected'), 1);
  t.equal(s.counters.get('subscriptions|alarm|rejected'), 1);
  const run = await sipp.done;
  t.equal(run.code, 0, `sipp exit 0\n${run.output.slice(-1500)}\n${run.errors}`);
  await until('offline', () => s.isOffline());
  t.same(s.control.subscriptions(DEVICE).map((x) => x.state), [], 'offline forgets the device');
});
