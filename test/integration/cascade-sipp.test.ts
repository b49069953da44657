import t, { type Test } from 'tap';
import { apiCall, getJson, startHealthyAppliance, waitFor, type Appliance } from '../helpers/appliance.js';
import { needPeer } from '../helpers/peers.js';
import { startSipp } from '../helpers/sipp.js';
import { freePort } from '../helpers/ports.js';
import { LOWER_SIP, startLowerCamera } from '../helpers/cascade.js';

/**
 * Cascade registration through the whole appliance (built dist/): camgate registers to a sipp
 * upper platform (test/fixtures/sipp/upper_platform_*.xml) as the device the platform was
 * configured with, answers its Catalog, DeviceInfo and DeviceStatus queries and sends
 * keepalives. sipp checks the digest (verifyauth); the exact messages are read from its log.
 */
const DEVICE = '34020000001320000001';
const CAMERA = '34020000001310000001';
const UPPER = { serverid: '44000000002000000001', domain: '4400000000', deviceid: '44010000002000000077', pwd: 'upper-secret' };

if (!needPeer(t, 'sipp', 'sip-tester')) process.exit(0);

const call = apiCall;

async function appliance(t: Test): Promise<Appliance> {
  const app = await startHealthyAppliance(t);
  t.equal((await call('POST', `${app.api}/vehicles`, { sim: '013800138000', plate: '粤B12345', channels: 1 })).status, 200);
  return app;
}

/** The SIP messages camgate sent, in order, from sipp's -trace_msg log. */
function sentByCamgate(log: string): string[] {
  return log
    .split(/-{20,} [^\n]*\n[^\n]*\n\n/)
    .map((m) => m.replace(/^\s+/, ''))
    .filter((m) => /^(REGISTER|MESSAGE) /.test(m) && /User-Agent: camgate/.test(m));
}

for (const [variant, transport] of [['noqop', 'UDP'], ['403', 'UDP'], ['noqop', 'TCP']] as const) {
  t.test(`registers upward over ${transport} (${variant === 'noqop' ? 'digest without qop' : '403, then recovery'}), keepalive, Catalog/DeviceInfo/DeviceStatus answered`, async (t) => {
    const app = await appliance(t);
    const port = await freePort();
    // 5 calls: the REGISTER call, three query answers, one keepalive.
    const sipp = startSipp(['-sf', `upper_platform_${variant}.xml`, '-i', '127.0.0.1', '-p', String(port), '-m', '5', '-trace_msg', ...(transport === 'TCP' ? ['-t', 't1'] : [])], 60_000);
    t.teardown(() => sipp.stop());
    const created = await call('POST', `${app.api}/platforms`, { ...UPPER, name: 'sipp', host: '127.0.0.1', port, transport, keepalive_interval: 5, share_vehicles: true });
    t.equal(created.status, 200, JSON.stringify(created.body));
    const id = created.body.data.id;
    const seen = new Set<string>();
    await waitFor(
      async () => {
        const status = (await getJson(`${app.api}/platforms/${id}`)).body.data.status;
        seen.add(`${status.state}${status.error ? `: ${status.error}` : ''}`);
        return status.state === 'online';
      },
      10_000,
      'registered upward',
    ).catch((e: Error) => {
      throw new Error(`${e.message} (${[...seen].join(', ')})\n${app.output()}`);
    });
    if (variant === '403') t.ok(seen.has('retrying: REGISTER answered 403 Forbidden'), `the 403 was shown (${[...seen].join(', ')})`);
    const run = await sipp.done;
    t.equal(run.code, 0, run.output.slice(-2000) + run.errors);
    const sent = sentByCamgate(run.messages);
    const registers = sent.filter((m) => m.startsWith('REGISTER '));
    t.ok(registers.length >= (variant === '403' ? 3 : 2), `${registers.length} REGISTERs`);
    t.notMatch(registers[0]!, /Authorization:/, 'the first REGISTER carries no credentials');
    const authorized = registers.at(-1)!;
    t.match(authorized, new RegExp(`^REGISTER sip:${UPPER.serverid}@${UPPER.domain} SIP/2.0`));
    t.match(authorized, new RegExp(`From: <sip:${UPPER.deviceid}@${UPPER.domain}>;tag=`));
    t.match(authorized, /Expires: 3600/);
    t.match(authorized, new RegExp(`Authorization: Digest username="${UPPER.deviceid}", realm="${UPPER.domain}"`));
    if (variant === 'noqop') t.notMatch(authorized, /qop=/, 'RFC 2069 answer: no qop');
    else t.match(authorized, /qop=auth, nc=00000001, cnonce="/, 'qop=auth answered');
    const bodies = sent.filter((m) => m.startsWith('MESSAGE '));
    const keepalive = bodies.find((m) => /<CmdType>Keepalive<\/CmdType>/.test(m));
    t.ok(keepalive, 'a keepalive');
    t.match(keepalive, new RegExp(`<Notify>\\s*<CmdType>Keepalive</CmdType>\\s*<SN>\\d+</SN>\\s*<DeviceID>${UPPER.deviceid}</DeviceID>\\s*<Status>OK</Status>\\s*</Notify>`));
    t.match(keepalive, /Content-Type: Application\/MANSCDP\+xml/);
    const catalog = bodies.find((m) => /<CmdType>Catalog<\/CmdType>/.test(m));
    t.match(catalog, /encoding="GB2312"/);
    t.match(catalog, new RegExp(`<SN>17</SN>\\s*<DeviceID>${UPPER.deviceid}</DeviceID>\\s*<SumNum>1</SumNum>\\s*<DeviceList Num="1">\\s*<Item>\\s*<DeviceID>37070000081313800001</DeviceID>`));
    t.match(catalog, new RegExp(`<ParentID>${UPPER.deviceid}</ParentID>`));
    t.match(catalog, /<Status>OFF<\/Status>/, 'the vehicle is not connected');
    t.match(bodies.find((m) => /<CmdType>DeviceInfo<\/CmdType>/.test(m)), new RegExp(`<SN>18</SN>\\s*<DeviceID>${UPPER.deviceid}</DeviceID>[\\s\\S]*<Result>OK</Result>[\\s\\S]*<Channel>1</Channel>`));
    t.match(bodies.find((m) => /<CmdType>DeviceStatus<\/CmdType>/.test(m)), /<SN>19<\/SN>[\s\S]*<Online>ONLINE<\/Online>\s*<Status>OK<\/Status>/);
    const metrics = await (await fetch(`${app.api}/metrics`)).text();
    t.match(metrics, /camgate_platforms\{state="online"\} 1/);
    t.match(metrics, new RegExp(`camgate_platform_registrations_total\\{result="failed"\\} ${variant === '403' ? 1 : 0}`));
  });
}

t.test('operator-designed virtual directories: the Catalog sipp receives has them, parents first, with ParentID and BusinessGroupID', async (t) => {
  const app = await appliance(t);
  const device = await call('POST', `${app.api}/devices`, { name: 'gate' });
  t.equal(device.status, 200);
  const camera = await call('POST', `${app.api}/devices/${device.body.data.deviceid}/channels`, { name: '大门' });
  t.equal(camera.status, 200, JSON.stringify(camera.body));
  const cameraId: string = camera.body.data.channelid;
  const [G, A, B] = ['44010000002150000001', '44010000002160000001', '44010000002160000002'];
  const port = await freePort();
  // 5 calls: the REGISTER call, two Catalog MESSAGEs (5 items, 4 per UDP message), DeviceInfo, DeviceStatus.
  const sipp = startSipp(['-sf', 'upper_platform_noqop.xml', '-i', '127.0.0.1', '-p', String(port), '-m', '5', '-trace_msg'], 60_000);
  t.teardown(() => sipp.stop());
  const created = await call('POST', `${app.api}/platforms`, {
    ...UPPER, name: 'sipp', host: '127.0.0.1', port, keepalive_interval: 60,
    virtual_directories: [{ id: B, name: '东区', parent_id: A }, { id: G, name: '监控业务' }, { id: A, name: '园区', parent_id: G }],
    channels: [{ channelid: cameraId, parent_id: A }, { sim: '013800138000', channel: 1, parent_id: B }],
  });
  t.equal(created.status, 200, JSON.stringify(created.body));
  const run = await sipp.done;
  t.equal(run.code, 0, run.output.slice(-2000) + run.errors);
  const catalogs = sentByCamgate(run.messages).filter((m) => /<CmdType>Catalog<\/CmdType>/.test(m));
  t.equal(catalogs.length, 2, 'two Catalog MESSAGEs');
  t.ok(catalogs.every((m) => /<SumNum>5<\/SumNum>/.test(m)), 'SumNum 5 in each');
  const items = catalogs.flatMap((m) => [...m.matchAll(/<Item>([\s\S]*?)<\/Item>/g)].map((x) => x[1]!));
  const field = (item: string, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(item)?.[1];
  t.same(
    items.map((i) => [field(i, 'DeviceID'), field(i, 'ParentID'), field(i, 'BusinessGroupID')]),
    [
      [G, UPPER.deviceid, undefined], // a business group is its own group
      [A, G, G],
      [B, A, G],
      [cameraId, A, G],
      ['37070000081313800001', B, G],
    ],
    'the group under our device ID, organisations and channels under their parent with the group',
  );
  t.ok(items.slice(0, 3).every((i) => (field(i, 'Name') ?? '').length > 0 && field(i, 'Status') === 'ON'), 'each directory has its name and Status ON');
  t.notMatch(items[0]!, /<Manufacturer>/, 'a directory carries no device fields');
});

t.test('RecordInfo for a shared camera channel: the camera\'s own items relayed (file paths, types), not merged ranges', async (t) => {
  const app = await startHealthyAppliance(t, { sip: LOWER_SIP, gb28181: { registration: 'open' } });
  await startLowerCamera(t, app, 'gb_device_ooc_records.xml', 60);
  await waitFor(async () => (await getJson(`${app.api}/devices?filters=${encodeURIComponent(JSON.stringify([{ field_name: 'deviceid', operator: '=', value: DEVICE }]))}`)).body.data.List[0]?.online === 1, 10_000, 'the camera registered');
  // This camera answers no Catalog: its channel is provisioned.
  t.equal((await call('POST', `${app.api}/devices/${DEVICE}/channels`, { channelid: CAMERA })).status, 200);
  const port = await freePort();
  // 2 calls: the REGISTER call (with the query), one RecordInfo Response (3 items fit one UDP message).
  const sipp = startSipp(['-sf', 'upper_platform_records.xml', '-i', '127.0.0.1', '-p', String(port), '-m', '2', '-key', 'channel', CAMERA, '-trace_msg'], 60_000);
  t.teardown(() => sipp.stop());
  const created = await call('POST', `${app.api}/platforms`, { ...UPPER, name: 'sipp', host: '127.0.0.1', port, keepalive_interval: 120, share_cameras: true });
  t.equal(created.status, 200, JSON.stringify(created.body));
  const run = await sipp.done;
  t.equal(run.code, 0, run.output.slice(-2000) + run.errors);
  const answer = sentByCamgate(run.messages).find((m) => /<CmdType>RecordInfo<\/CmdType>/.test(m));
  t.ok(answer, 'a RecordInfo Response reached the platform');
  t.match(answer, new RegExp(`<Response>\\s*<CmdType>RecordInfo</CmdType>\\s*<SN>31</SN>\\s*<DeviceID>${CAMERA}</DeviceID>[\\s\\S]*<SumNum>3</SumNum>`), 'under the platform\'s SN, all three of the camera\'s items');
  const items = [...answer!.matchAll(/<Item>([\s\S]*?)<\/Item>/g)].map((m) => m[1]!);
  const field = (item: string, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(item)?.[1];
  t.same(
    items.map((i) => [field(i, 'DeviceID'), field(i, 'FilePath'), field(i, 'StartTime'), field(i, 'EndTime'), field(i, 'Type')]),
    [
      [CAMERA, '/rec/1.ps', '2026-11-20T08:00:00', '2026-11-20T09:00:00', 'time'],
      [CAMERA, '/rec/2.ps', '2026-11-20T09:00:00', '2026-11-20T10:30:00', 'time'],
      [CAMERA, '/rec/3.ps', '2026-11-20T23:30:00', '2026-11-21T00:30:00', 'time'],
    ],
    'the camera\'s items as it sent them (two adjacent ones not merged)',
  );
  t.ok(items.every((i) => field(i, 'Address') === 'loopback' && field(i, 'Name') === 'camera'), 'name and address relayed');
});
