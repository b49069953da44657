import t, { type Test } from 'tap';
import { webhookReceiver } from '../helpers/webhook-receiver.js';
import { createSocket } from 'node:dgram';
import { getJson, startAppliance, waitFor, type Appliance } from '../helpers/appliance.js';
import { needPeer } from '../helpers/peers.js';
import { runSipp, startSipp } from '../helpers/sipp.js';
import { freePort } from '../helpers/ports.js';

/** The identity the shared sipp scenarios assume. */
const SERVER = { id: '34020000002000000001', domain: '3402000000' };
const DEVICE = '34020000001320000001';
const CAMERA = '34020000001310000001';
const ALARM = '34020000001340000001';

if (!needPeer(t, 'sipp', 'sip-tester')) process.exit(0);

async function appliance(t: Test, extra: Record<string, unknown>): Promise<Appliance> {
  const app = await startAppliance({ ...extra, sip: { ...SERVER, ...((extra.sip as object) ?? {}) } });
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
  return res.json() as Promise<{ code: string; data: any }>;
}

async function device(app: Appliance, id = DEVICE) {
  const list = await getJson(`${app.api}/devices?filters=${encodeURIComponent(JSON.stringify([{ field_name: 'deviceid', operator: '=', value: id }]))}`);
  return list.body.data.List[0];
}

async function channels(app: Appliance) {
  return (await getJson(`${app.api}/channels?sort=channelid`)).body.data.List as Array<Record<string, any>>;
}

t.test('UDP, open registration: a full sipp device registers, keeps alive, answers the catalog, unregisters', async (t) => {
  const hooks = await webhookReceiver(t);
  const app = await appliance(t, {
    gb28181: { registration: 'open' },
    notify: {
      secret: 'webhook-secret',
      urls: { 'devices.registered': hooks.url, 'devices.offline': hooks.url, 'channels.active': hooks.url },
    },
  });
  const run = await runSipp([`127.0.0.1:${app.sipPort}`, '-i', '127.0.0.1', '-p', String(await freePort()), '-sf', 'gb_device.xml', '-oocsf', 'gb_device_ooc.xml', '-inf', 'device1.csv', '-m', '1', '-d', '700', '-set', 'KA_COUNT', '2']);
  t.equal(run.code, 0, `sipp exit 0\n${run.output.slice(-800)}\n${run.errors}`);
  t.notMatch(run.errors, /Aborting call/, 'no aborted out-of-call scenario');
  const d = await waitFor(async () => {
    const row = await device(app);
    return row && row.online === 0 && row.manufacturer === 'SIPp' && row;
  }, 5000, 'device stored and offline');
  t.match(d, { deviceid: DEVICE, regist: true, transport: 'UDP', source: /^127\.0\.0\.1:\d+$/, model: 'GB28181-sim', firmware: '3.6.1' });
  t.ok(d.active > 0, 'last keepalive recorded');
  const chans = await waitFor(async () => {
    const list = await channels(app);
    return list.length === 2 && list;
  }, 5000, 'both channels');
  t.match(chans, [
    { channelid: CAMERA, deviceid: DEVICE, name: 'sipp-camera-1', status: 'ON', civilcode: '3402000000', parentid: DEVICE },
    { channelid: ALARM, deviceid: DEVICE, name: 'sipp-alarm-in-1', status: 'ON' },
  ]);
  await waitFor(async () => hooks.events.some((e) => e.method === 'devices.offline'), 5000, 'offline webhook');
  const methods = hooks.events.map((e) => e.method);
  t.equal(methods[0], 'devices.registered', 'registered first');
  t.equal(methods.filter((m) => m === 'channels.active').length, 2);
  t.equal(methods.at(-1), 'devices.offline');
  const registered = hooks.events[0]!;
  t.equal(registered.data.deviceid, DEVICE);
  t.notOk('pwd' in registered.data, 'no password in webhooks');
  t.match(registered.headers['x-camgate-signature'], /^sha256=[0-9a-f]{64}$/);
  const metrics = await (await fetch(`${app.api}/metrics`)).text();
  t.match(metrics, /camgate_sip_registrations_total\{kind="register"\} 1/);
  t.match(metrics, /camgate_sip_registrations_total\{kind="unregister"\} 1/);
  t.match(metrics, /camgate_gb28181_keepalives_total\{result="ok"\} 2/);
  t.match(metrics, /camgate_sip_auth_total\{result="challenge"\} 2/);
});

t.test('TCP, provisioned: provisioned channels get the catalog data; unknown devices are refused', async (t) => {
  const app = await appliance(t, {});
  t.equal((await post(`${app.api}/devices`, { deviceid: DEVICE, pwd: '12345678' })).code, '0');
  t.equal((await post(`${app.api}/devices/${DEVICE}/channels`, { channelid: CAMERA, memo: 'gate' })).code, '0');
  const run = await runSipp([`127.0.0.1:${app.sipPort}`, '-t', 't1', '-i', '127.0.0.1', '-p', String(await freePort()), '-sf', 'gb_device.xml', '-oocsf', 'gb_device_ooc.xml', '-inf', 'device1.csv', '-m', '1', '-d', '700', '-set', 'KA_COUNT', '2']);
  t.equal(run.code, 0, `sipp exit 0\n${run.output.slice(-800)}\n${run.errors}`);
  const d = await waitFor(async () => {
    const row = await device(app);
    return row && row.online === 0 && row.manufacturer === 'SIPp' && row;
  }, 5000, 'device offline after unregister');
  t.equal(d.transport, 'TCP');
  const chans = await waitFor(async () => {
    const list = await channels(app);
    return list.length === 1 && list[0]!.name === 'sipp-camera-1' && list;
  }, 5000, 'provisioned channel updated');
  t.equal(chans[0]!.memo, 'gate', 'operator fields kept');
  t.equal(chans.length, 1, 'the unprovisioned alarm input was not added');

  // A device nobody provisioned authenticates with the default password but is refused.
  const stranger = await runSipp([`127.0.0.1:${app.sipPort}`, '-i', '127.0.0.1', '-p', String(await freePort()), '-sf', 'gb_register.xml', '-inf', 'stranger.csv', '-m', '1']);
  t.equal(stranger.code, 1, 'sipp fails: 403 instead of 200');
  const metrics = await (await fetch(`${app.api}/metrics`)).text();
  t.match(metrics, /camgate_sip_auth_total\{result="unknown-device"\} 1/);
});

t.test('1,000 devices register and keep alive with 0 failed calls', async (t) => {
  const app = await appliance(t, { gb28181: { registration: 'open' } });
  const run = await runSipp([`127.0.0.1:${app.sipPort}`, '-i', '127.0.0.1', '-p', String(await freePort()), '-sf', 'gb_keepalive.xml', '-inf', 'devices1000.csv', '-m', '1000', '-r', '200', '-l', '1000', '-d', '1000', '-set', 'KA_COUNT', '2', '-t', 'un', '-max_socket', '5000', '-buff_size', '4194304'], 180_000);
  t.equal(run.code, 0, `sipp exit 0\n${run.output.slice(-1200)}`);
  t.match(run.output, /Successful call\s+\|\s+\d+\s+\|\s+1000\s/, '1000 successful calls');
  t.match(run.output, /Failed call\s+\|\s+\d+\s+\|\s+0\s/, '0 failed calls');
  const online = await waitFor(async () => {
    const r = await getJson(`${app.api}/devices?limit=0&filters=${encodeURIComponent('[{"field_name":"online","operator":"=","value":1}]')}`);
    return r.body.data.Total === 1000 && r.body.data.Total;
  }, 15_000, '1000 devices online in the store');
  t.equal(online, 1000);
  const metrics = await (await fetch(`${app.api}/metrics`)).text();
  t.match(metrics, /camgate_sip_registrations_total\{kind="register"\} 1000/);
  t.match(metrics, /camgate_gb28181_keepalives_total\{result="ok"\} 2000/);
  t.match(metrics, /camgate_devices\{state="online"\} 1000/);
});

t.test('a lost 200 OK is recovered by retransmission', async (t) => {
  const app = await appliance(t, { gb28181: { registration: 'open' } });
  // A UDP relay between sipp and camgate that drops the first final response to the
  // authenticated REGISTER: sipp must retransmit and camgate must answer again.
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  await new Promise<void>((r) => front.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => back.bind(0, '127.0.0.1', r));
  t.teardown(() => {
    front.close();
    back.close();
  });
  let client: { address: string; port: number } | null = null;
  let dropped = 0;
  front.on('message', (msg, rinfo) => {
    client = rinfo;
    back.send(msg, app.sipPort, '127.0.0.1');
  });
  back.on('message', (msg) => {
    const text = msg.toString('latin1');
    if (dropped === 0 && text.startsWith('SIP/2.0 200') && /CSeq: *2 REGISTER/i.test(text)) {
      dropped++;
      return;
    }
    if (client) front.send(msg, client.port, client.address);
  });
  const relayPort = (front.address() as { port: number }).port;
  const run = await runSipp([`127.0.0.1:${relayPort}`, '-i', '127.0.0.1', '-p', String(await freePort()), '-sf', 'gb_register.xml', '-inf', 'device1.csv', '-m', '1']);
  t.equal(dropped, 1, 'the first 200 was dropped');
  t.equal(run.code, 0, `sipp registered anyway\n${run.output.slice(-600)}`);
  const metrics = await waitFor(async () => {
    const text = await (await fetch(`${app.api}/metrics`)).text();
    return /camgate_sip_retransmissions_total\{kind="absorbed"\} [1-9]/.test(text) && text;
  }, 3000, 'absorbed retransmission counted');
  t.match(metrics, /camgate_sip_registrations_total\{kind="register"\} 1\n/, 'one registration, not two');
});

t.test('records: RecordInfo answered in two MESSAGEs from the channel ID is aggregated', async (t) => {
  const app = await appliance(t, {});
  await post(`${app.api}/devices`, { deviceid: DEVICE, pwd: '12345678' });
  await post(`${app.api}/devices/${DEVICE}/channels`, { channelid: CAMERA });
  const sipp = startSipp([`127.0.0.1:${app.sipPort}`, '-i', '127.0.0.1', '-p', String(await freePort()), '-sf', 'gb_device.xml', '-oocsf', 'gb_device_ooc_records.xml', '-inf', 'device1.csv', '-m', '1', '-d', '1000', '-set', 'KA_COUNT', '8']);
  await waitFor(async () => (await device(app))?.online === 1, 5000, 'device online');
  const start = Date.parse('2026-11-20T00:00:00+08:00') / 1000;
  const end = Date.parse('2026-11-22T00:00:00+08:00') / 1000;
  const res = await getJson(`${app.api}/channels/${CAMERA}/records?start=${start}&end=${end}`);
  t.equal(res.status, 200, JSON.stringify(res.body));
  t.same(res.body.data, {
    daynum: 2,
    timenum: 3,
    complete: true,
    list: [
      {
        date: '2026-11-20',
        items: [
          { start: Date.parse('2026-11-20T08:00:00+08:00') / 1000, end: Date.parse('2026-11-20T10:30:00+08:00') / 1000 },
          { start: Date.parse('2026-11-20T23:30:00+08:00') / 1000, end: Date.parse('2026-11-20T23:59:59+08:00') / 1000 },
        ],
      },
      {
        date: '2026-11-21',
        items: [{ start: Date.parse('2026-11-21T00:00:00+08:00') / 1000, end: Date.parse('2026-11-21T00:30:00+08:00') / 1000 }],
      },
    ],
  });
  const bad = await getJson(`${app.api}/channels/${CAMERA}/records?start=${end}&end=${start}`);
  t.equal(bad.status, 400);
  t.match(bad.body.data, /^end: /);
  const missing = await getJson(`${app.api}/channels/${CAMERA}/records?start=${start}`);
  t.match(missing.body.data, /^end: /);
  const run = await sipp.done;
  t.equal(run.code, 0, `sipp exit 0\n${run.output.slice(-600)}`);
});
