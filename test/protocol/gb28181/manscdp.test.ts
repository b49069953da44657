import t from 'tap';
import iconv from 'iconv-lite';
import {
  buildCatalogQuery,
  buildCatalogResponse,
  buildDeviceInfoQuery,
  buildDeviceStatusQuery,
  buildKeepalive,
  buildRecordInfoQuery,
  encodeXmlBody,
  formatManscdpTime,
  parseManscdp,
  parseManscdpTime,
  type CatalogMessage,
  type ManscdpMessage,
  type ManscdpParseResult,
} from '../../../src/protocol/gb28181/index.js';
import { ALARM_IN_ID, CAMERA_ID, DEVICE_ID, SN, sippBodies, sippBody } from './fixtures/sipp-bodies.js';

function message(result: ManscdpParseResult): ManscdpMessage {
  if (!result.ok) throw new Error(`parse failed: ${result.reason}`);
  return result.message;
}

function ofKind<K extends ManscdpMessage['kind']>(result: ManscdpParseResult, kind: K): Extract<ManscdpMessage, { kind: K }> {
  const m = message(result);
  if (m.kind !== kind) throw new Error(`expected ${kind}, got ${m.kind}`);
  return m as Extract<ManscdpMessage, { kind: K }>;
}

/** Scenario bodies go on the wire as GB2312 bytes; encode them the way a device would. */
const gb = (text: string): Uint8Array => iconv.encode(text, 'gb2312');

const notify = (inner: string): string => `<?xml version="1.0" encoding="GB2312"?>\n<Notify>\n<CmdType>Keepalive</CmdType>\n<SN>7</SN>\n<DeviceID>${DEVICE_ID}</DeviceID>\n${inner}\n</Notify>`;

t.test('sipp scenarios: every MANSCDP body found and parsed', async (t) => {
  const all = ['gb_keepalive.xml', 'gb_device.xml', 'gb_device_ooc.xml', 'gb_uas_catalog.xml'].flatMap(sippBodies);
  t.same(
    all.map((b) => `${b.file}:${b.root}/${b.cmdType}`),
    [
      'gb_keepalive.xml:Notify/Keepalive',
      'gb_device.xml:Notify/Keepalive',
      'gb_device_ooc.xml:Response/DeviceInfo',
      'gb_device_ooc.xml:Response/DeviceStatus',
      'gb_device_ooc.xml:Response/Catalog',
      'gb_uas_catalog.xml:Response/Catalog',
      'gb_uas_catalog.xml:Response/Catalog',
    ],
  );
  for (const body of all) {
    const r = parseManscdp(gb(body.text));
    t.ok(r.ok, `${body.file} ${body.cmdType} parses`);
    if (r.ok) {
      t.equal(r.message.root, body.root);
      t.equal(r.message.cmdType, body.cmdType);
      t.equal(r.message.sn, SN);
      t.equal(r.message.deviceId, DEVICE_ID);
      t.equal(r.charset, 'GB18030', 'declared GB2312 is decoded with GB18030');
    }
  }
});

t.test('sipp Keepalive', async (t) => {
  const m = ofKind(parseManscdp(gb(sippBody('gb_keepalive.xml', 'Keepalive'))), 'keepalive');
  t.same(m, { root: 'Notify', cmdType: 'Keepalive', sn: SN, deviceId: DEVICE_ID, kind: 'keepalive', ok: true, statusRaw: 'OK', faultyDeviceIds: [] });
});

t.test('sipp DeviceInfo', async (t) => {
  const m = ofKind(parseManscdp(gb(sippBody('gb_device_ooc.xml', 'DeviceInfo'))), 'deviceInfo');
  t.same(m, {
    root: 'Response',
    cmdType: 'DeviceInfo',
    sn: SN,
    deviceId: DEVICE_ID,
    kind: 'deviceInfo',
    result: 'OK',
    deviceName: 'sipp-device',
    manufacturer: 'SIPp',
    model: 'GB28181-sim',
    firmware: '3.6.1',
    channel: 1,
  });
});

t.test('sipp DeviceStatus', async (t) => {
  const m = ofKind(parseManscdp(gb(sippBody('gb_device_ooc.xml', 'DeviceStatus'))), 'deviceStatus');
  t.equal(m.result, 'OK');
  t.equal(m.online, true);
  t.equal(m.onlineRaw, 'ONLINE');
  t.equal(m.statusOk, true);
  t.equal(m.encode, 'ON');
  t.equal(m.record, 'OFF');
  t.same(m.alarms, []);
});

t.test('sipp Catalog: one MESSAGE with two items, and the two-MESSAGE variant', async (t) => {
  const whole = ofKind(parseManscdp(gb(sippBody('gb_device_ooc.xml', 'Catalog'))), 'catalog');
  t.equal(whole.sumNum, 2);
  t.equal(whole.listNum, 2);
  t.same(whole.items[0], {
    deviceId: CAMERA_ID,
    name: 'sipp-camera-1',
    manufacturer: 'SIPp',
    model: 'GB28181-sim',
    owner: 'Owner',
    civilCode: '3402000000',
    address: 'loopback',
    parental: 0,
    parentId: DEVICE_ID,
    safetyWay: 0,
    registerWay: 1,
    secrecy: 0,
    status: 'ON',
    statusRaw: 'ON',
  });
  t.equal(whole.items[1]?.deviceId, ALARM_IN_ID);
  t.equal(whole.items[1]?.name, 'sipp-alarm-in-1');

  const parts = sippBodies('gb_uas_catalog.xml').map((b) => ofKind(parseManscdp(gb(b.text)), 'catalog'));
  t.same(parts.map((p) => [p.sumNum, p.listNum, p.items.map((i) => i.deviceId)]), [
    [2, 1, [CAMERA_ID]],
    [2, 1, [ALARM_IN_ID]],
  ], 'a single <Item> becomes a one-element list');
});

t.test('Keepalive status variants', async (t) => {
  const cases: Array<[string, boolean, string]> = [
    ['<Status>OK</Status>', true, 'OK'],
    ['<Status>ok</Status>', true, 'ok'],
    ['<Status>ONLINE</Status>', true, 'ONLINE'],
    ['<Status>Online</Status>', true, 'Online'],
    ['<Status>on</Status>', true, 'on'],
    ['<Status> OK </Status>', true, 'OK'],
    ['<Info><Status>OK</Status></Info>', true, 'OK'],
    ['<Info>\n<Status>ok</Status>\n</Info>', true, 'ok'],
    ['', true, ''],
    ['<Status></Status>', true, ''],
    ['<Status>ERROR</Status>', false, 'ERROR'],
    ['<Status>Error</Status>', false, 'Error'],
    ['<Status>OFFLINE</Status>', false, 'OFFLINE'],
    ['<Info><Status>OFF</Status></Info>', false, 'OFF'],
  ];
  for (const [inner, ok, raw] of cases) {
    const m = ofKind(parseManscdp(gb(notify(inner))), 'keepalive');
    t.equal(m.ok, ok, `${JSON.stringify(inner)} → ok=${ok}`);
    t.equal(m.statusRaw, raw);
  }
  const faulty = ofKind(parseManscdp(notify(`<Status>OK</Status><Info><DeviceID>${CAMERA_ID}</DeviceID><DeviceID>${ALARM_IN_ID}</DeviceID></Info>`)), 'keepalive');
  t.same(faulty.faultyDeviceIds, [CAMERA_ID, ALARM_IN_ID], 'Info/DeviceID lists faulty channels');
});

t.test('Catalog item tolerance: status words, numbers with spaces, empty numbers, PTZType in Info, coordinates, leading zeros', async (t) => {
  const item = (fields: string): string => `<Item><DeviceID>00340200001310000009</DeviceID>${fields}</Item>`;
  const xml = `<?xml version="1.0" encoding="GB2312"?>
<Response><CmdType>Catalog</CmdType><SN> 0012 </SN><DeviceID>${DEVICE_ID}</DeviceID><SumNum> 9 </SumNum>
<DeviceList Num=" 9 ">
${item('<Status>ON</Status><Parental> 1 </Parental><SafetyWay></SafetyWay><Secrecy>x</Secrecy>')}
${item('<Status>OFF</Status><PTZType>3</PTZType>')}
${item('<Status>ONLINE</Status><Info><PTZType> 1 </PTZType></Info>')}
${item('<Status>OFFLINE</Status><Longitude>120.123456</Longitude><Latitude> 30.5 </Latitude>')}
${item('<Status>OFFILE</Status><Longitude></Longitude><Latitude>n/a</Latitude>')}
${item('<Status>ok</Status>')}
${item('')}
${item('<Status>VLOST</Status>')}
<Item><Name>no id, dropped</Name></Item>
${item('<Status>Online</Status><Port>5060</Port><IPAddress>10.0.0.9</IPAddress><Block>b1</Block>')}
</DeviceList></Response>`;
  const m = ofKind(parseManscdp(gb(xml)), 'catalog');
  t.equal(m.sn, 12);
  t.equal(m.sumNum, 9);
  t.equal(m.listNum, 9);
  t.equal(m.items.length, 9, 'the item without DeviceID is dropped');
  t.same(m.items.map((i) => [i.status, i.statusRaw]), [
    ['ON', 'ON'],
    ['OFF', 'OFF'],
    ['ON', 'ONLINE'],
    ['OFF', 'OFFLINE'],
    ['OFF', 'OFFILE'],
    ['ON', 'ok'],
    ['OFF', ''],
    ['OFF', 'VLOST'],
    ['ON', 'Online'],
  ]);
  t.equal(m.items[0]!.deviceId, '00340200001310000009', 'ID keeps its leading zeros');
  t.equal(m.items[0]!.parental, 1);
  t.equal(m.items[0]!.safetyWay, undefined, 'empty number → undefined');
  t.equal(m.items[0]!.secrecy, undefined, 'junk number → undefined');
  t.equal(m.items[1]!.ptzType, 3);
  t.equal(m.items[2]!.ptzType, 1, 'PTZType from Info');
  t.equal(m.items[3]!.longitude, 120.123456);
  t.equal(m.items[3]!.latitude, 30.5);
  t.equal(m.items[4]!.longitude, undefined);
  t.equal(m.items[4]!.latitude, undefined);
  t.same([m.items[8]!.port, m.items[8]!.ipAddress, m.items[8]!.block], [5060, '10.0.0.9', 'b1']);
});

t.test('Catalog Notify (subscription) carries Event; empty DeviceList and missing SumNum', async (t) => {
  const n = ofKind(
    parseManscdp(`<Notify><CmdType>Catalog</CmdType><SN>3</SN><DeviceID>${DEVICE_ID}</DeviceID><SumNum>1</SumNum><DeviceList Num="1"><Item><DeviceID>${CAMERA_ID}</DeviceID><Event>DEL</Event></Item></DeviceList></Notify>`),
    'catalog',
  );
  t.equal(n.root, 'Notify');
  t.equal(n.items[0]?.event, 'DEL');
  const empty = ofKind(parseManscdp(`<Response><CmdType>Catalog</CmdType><SN>3</SN><DeviceID>${DEVICE_ID}</DeviceID><SumNum>0</SumNum><DeviceList Num="0"></DeviceList></Response>`), 'catalog');
  t.same([empty.sumNum, empty.items], [0, []]);
  const noSum = ofKind(parseManscdp(`<Response><CmdType>Catalog</CmdType><SN>3</SN><DeviceID>${DEVICE_ID}</DeviceID></Response>`), 'catalog');
  t.same([noSum.sumNum, noSum.listNum, noSum.items], [undefined, undefined, []]);
});

const recordInfo = (items: string, sumNum = '2', deviceId = CAMERA_ID): string => `<?xml version="1.0" encoding="GB2312"?>
<Response>
<CmdType>RecordInfo</CmdType>
<SN>${SN}</SN>
<DeviceID>${deviceId}</DeviceID>
<Name>Camera 01</Name>
<SumNum>${sumNum}</SumNum>
<RecordList Num="2">
${items}
</RecordList>
</Response>`;

const recordItem = (start: string, end: string, extra = ''): string =>
  `<Item><DeviceID>${CAMERA_ID}</DeviceID><Name>Camera 01</Name><FilePath>/rec/1.ps</FilePath><Address>NVR</Address><StartTime>${start}</StartTime><EndTime>${end}</EndTime><Secrecy>0</Secrecy><Type>time</Type><RecorderID>${DEVICE_ID}</RecorderID>${extra}</Item>`;

t.test('RecordInfo: items, time formats, local time at +08:00 by default', async (t) => {
  const m = ofKind(parseManscdp(gb(recordInfo(recordItem('2024-03-01T00:00:00', '2024-03-01T00:30:00', '<FileSize> 1048576 </FileSize>') + recordItem('2024-03-01 01:00:00', '2024-03-0101:30:00')))), 'recordInfo');
  const midnight = Date.UTC(2024, 2, 1) / 1000 - 8 * 3600;
  t.equal(m.sumNum, 2);
  t.equal(m.name, 'Camera 01');
  t.same(m.items[0], {
    deviceId: CAMERA_ID,
    name: 'Camera 01',
    filePath: '/rec/1.ps',
    address: 'NVR',
    startTime: midnight,
    endTime: midnight + 1800,
    startTimeRaw: '2024-03-01T00:00:00',
    endTimeRaw: '2024-03-01T00:30:00',
    secrecy: 0,
    type: 'time',
    recorderId: DEVICE_ID,
    fileSize: 1048576,
  });
  t.same([m.items[1]!.startTime, m.items[1]!.endTime], [midnight + 3600, midnight + 5400], 'space and missing T');

  const utc = ofKind(parseManscdp(recordInfo(recordItem('2024-03-01T00:00:00', 'garbage')), undefined, { utcOffsetMinutes: 0 }), 'recordInfo');
  t.equal(utc.items[0]!.startTime, Date.UTC(2024, 2, 1) / 1000, 'configurable offset');
  t.equal(utc.items[0]!.endTime, undefined, 'unparseable time kept as undefined, raw preserved');
  t.equal(utc.items[0]!.endTimeRaw, 'garbage');

  const single = ofKind(parseManscdp(recordInfo(recordItem('2024-03-01T00:00:00', '2024-03-01T00:00:10'), '1')), 'recordInfo');
  t.equal(single.items.length, 1, 'single <Item>');
  const none = ofKind(parseManscdp(recordInfo('', '0')), 'recordInfo');
  t.same([none.sumNum, none.items], [0, []]);
});

t.test('parseManscdpTime / formatManscdpTime', async (t) => {
  const base = Date.UTC(2024, 0, 31, 23, 59, 58) / 1000 - 8 * 3600;
  for (const s of ['2024-01-31T23:59:58', '2024-01-31 23:59:58', '2024-01-3123:59:58', ' 2024-1-31T23:59:58 ', '2024/01/31 23:59:58', '2024-01-31T23:59:58.250', '2024-01-31 T 23:59:58']) {
    t.equal(parseManscdpTime(s), base, s);
  }
  t.equal(parseManscdpTime('2024-01-31T23:59'), base - 58, 'seconds optional');
  t.equal(parseManscdpTime('2024-01-31T15:59:58Z'), base, 'explicit Z wins');
  t.equal(parseManscdpTime('2024-01-31T16:59:58+01:00'), base, 'explicit offset wins');
  t.throws(() => formatManscdpTime(Date.now()), RangeError, 'milliseconds by mistake');
  t.equal(parseManscdpTime('0024-01-01T00:00:00'), undefined, 'two-digit years are not 19xx');
  for (const bad of ['', '2024-02-30T00:00:00', '2024-13-01T00:00:00', '2024-01-01T24:00:00', 'yesterday', '2024-01-01']) {
    t.equal(parseManscdpTime(bad), undefined, `rejects ${JSON.stringify(bad)}`);
  }
  t.equal(formatManscdpTime(base), '2024-01-31T23:59:58');
  t.equal(formatManscdpTime(base, 0), '2024-01-31T15:59:58');
  t.equal(formatManscdpTime(base, -300), '2024-01-31T10:59:58');
});

t.test('MediaStatus 121, Alarm, PresetQuery, Control and unknown CmdTypes', async (t) => {
  const eof = ofKind(parseManscdp(`<Notify><CmdType>MediaStatus</CmdType><SN>9</SN><DeviceID>${CAMERA_ID}</DeviceID><NotifyType>121</NotifyType></Notify>`), 'mediaStatus');
  t.same([eof.notifyType, eof.endOfFile], [121, true]);
  const other = ofKind(parseManscdp(`<Notify><CmdType>MediaStatus</CmdType><SN>9</SN><DeviceID>${CAMERA_ID}</DeviceID><NotifyType> 12x</NotifyType></Notify>`), 'mediaStatus');
  t.same([other.notifyType, other.endOfFile], [undefined, false]);

  const alarm = ofKind(
    parseManscdp(`<Notify><CmdType>Alarm</CmdType><SN>10</SN><DeviceID>${CAMERA_ID}</DeviceID><AlarmPriority>1</AlarmPriority><AlarmMethod>2</AlarmMethod><AlarmTime>2024-03-01T00:00:00</AlarmTime></Notify>`),
    'alarm',
  );
  t.same([alarm.cmdType, alarm.priority, alarm.method, alarm.timeRaw], ['Alarm', 1, 2, '2024-03-01T00:00:00']);
  const presets = ofKind(parseManscdp(`<Response><CmdType>PresetQuery</CmdType><SN>11</SN><DeviceID>${CAMERA_ID}</DeviceID><PresetList Num="0"/></Response>`), 'presetList');
  t.same([presets.sumNum, presets.presets], [0, []]);
  const control = ofKind(parseManscdp(`<Control><CmdType>DeviceControl</CmdType><SN>12</SN><DeviceID>${CAMERA_ID}</DeviceID><PTZCmd>A50F0100000000B5</PTZCmd></Control>`), 'control');
  t.same([control.root, control.ptzCmd], ['Control', 'A50F0100000000B5']);
  const vendor = ofKind(parseManscdp(`<Notify><CmdType>VendorThing</CmdType><SN>13</SN><DeviceID>${CAMERA_ID}</DeviceID><X>1</X></Notify>`), 'unknown');
  t.equal(vendor.raw['X'], '1', 'raw keeps values as strings');
});

t.test('odd but acceptable documents', async (t) => {
  const amp = ofKind(parseManscdp(`<Response><CmdType>DeviceInfo</CmdType><SN>1</SN><DeviceID>1</DeviceID><DeviceName>Gate A&B &amp; C</DeviceName></Response>`), 'deviceInfo');
  t.equal(amp.deviceName, 'Gate A&B & C', 'bare & repaired, entities decoded');
  const refs = ofKind(parseManscdp(`<Response><CmdType>DeviceInfo</CmdType><SN>1</SN><DeviceID>1</DeviceID><DeviceName>&#22823;&#x95E8;&lt;1&gt;&#0;</DeviceName></Response>`), 'deviceInfo');
  t.equal(refs.deviceName, '大门<1>', 'numeric references decoded, forbidden code points dropped');
  const caseless = message(parseManscdp(`<response><cmdtype>Keepalive</cmdtype><sn>5</sn><deviceID>1</deviceID></response>`));
  t.same([caseless.root, caseless.cmdType, caseless.sn, caseless.deviceId], ['Response', 'Keepalive', 5, '1'], 'tag case ignored');
  const controls = ofKind(parseManscdp(`<Response><CmdType>DeviceInfo</CmdType><SN>1</SN><DeviceID>1</DeviceID><DeviceName>a\u0001b\u0000</DeviceName></Response>`), 'deviceInfo');
  t.equal(controls.deviceName, 'ab', 'control characters stripped from string input too');
  const noSn = message(parseManscdp(`<Notify><CmdType>Keepalive</CmdType><DeviceID>1</DeviceID><Status>OK</Status></Notify>`));
  t.same([noSn.sn, noSn.kind], [0, 'keepalive'], 'missing SN → 0');
  const noId = message(parseManscdp(`<Notify><CmdType>Keepalive</CmdType><SN>1</SN></Notify>`));
  t.equal(noId.deviceId, '', 'missing DeviceID → empty string');
  const ns = message(parseManscdp(`<x:Notify xmlns:x="urn:x"><x:CmdType>Keepalive</x:CmdType><x:SN>2</x:SN><x:DeviceID>1</x:DeviceID></x:Notify>`));
  t.same([ns.root, ns.sn], ['Notify', 2], 'namespace prefixes removed');
});

t.test('malformed input is {ok:false, reason}, never a throw', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['   \n ', /empty/],
    ['hello world', /malformed/],
    ['<Response><CmdType>Catalog</CmdType><SN>1</SN>', /malformed/],
    ['<Response><CmdType>Catalog</Cmd></Response>', /malformed/],
    ['<Response><Name>a < b</Name></Response>', /malformed/],
    ['<Response><a>1</a></Response><Notify/>', /malformed/],
    ['<Html><CmdType>Catalog</CmdType></Html>', /not a MANSCDP root/],
    ['<Response><SN>1</SN></Response>', /missing CmdType/],
    ['<Response/>', /missing CmdType/],
    ['<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><Response><CmdType>&lol2;</CmdType></Response>', /DOCTYPE/],
    ['<Response><CmdType>Catalog</CmdType><__proto__>x</__proto__></Response>', /parser error/],
  ];
  for (const [xml, reason] of bad) {
    const r = parseManscdp(gb(xml));
    t.equal(r.ok, false, JSON.stringify(xml.slice(0, 40)));
    if (!r.ok) t.match(r.reason, reason);
  }
  const huge = parseManscdp(new Uint8Array(64), undefined, { maxBytes: 32 });
  t.same(huge, { ok: false, reason: 'body too large (64 bytes)' });
});

t.test('builders: exact documents, GB2312-encodable, read back by parseManscdp', async (t) => {
  t.equal(
    buildCatalogQuery({ sn: 17, deviceId: DEVICE_ID }),
    `<?xml version="1.0" encoding="GB2312"?>\n<Query>\n<CmdType>Catalog</CmdType>\n<SN>17</SN>\n<DeviceID>${DEVICE_ID}</DeviceID>\n</Query>\n`,
  );
  const start = Date.UTC(2024, 2, 1) / 1000 - 8 * 3600;
  const rec = buildRecordInfoQuery({ sn: 18, deviceId: CAMERA_ID, startTime: start, endTime: start + 86_399 });
  t.match(rec, /<StartTime>2024-03-01T00:00:00<\/StartTime>\n<EndTime>2024-03-01T23:59:59<\/EndTime>\n<Secrecy>0<\/Secrecy>\n<Type>all<\/Type>/);
  t.notMatch(rec, /FilePath|Address|RecorderID/, 'absent optional fields are not sent empty');
  const recUtc = buildRecordInfoQuery({ sn: 18, deviceId: CAMERA_ID, startTime: start, endTime: start + 1, type: 'time', secrecy: 1, utcOffsetMinutes: 0 });
  t.match(recUtc, /<StartTime>2024-02-29T16:00:00<\/StartTime>[\s\S]*<Secrecy>1<\/Secrecy>\n<Type>time<\/Type>/);

  const docs = [
    buildCatalogQuery({ sn: 1, deviceId: DEVICE_ID }),
    buildDeviceInfoQuery({ sn: 2, deviceId: DEVICE_ID }),
    buildDeviceStatusQuery({ sn: 3, deviceId: DEVICE_ID }),
    rec,
    buildKeepalive({ sn: 5, deviceId: DEVICE_ID }),
  ];
  for (const doc of docs) {
    t.ok(doc.startsWith('<?xml version="1.0" encoding="GB2312"?>\n'), 'GB2312 declaration first');
    const bytes = encodeXmlBody(doc);
    t.equal(iconv.decode(Buffer.from(bytes), 'gb2312'), doc, 'plain GB2312 round trip (no GB18030-only bytes)');
  }
  t.same(
    docs.map((d) => {
      const m = message(parseManscdp(encodeXmlBody(d)));
      return [m.root, m.cmdType, m.sn, m.deviceId, m.kind];
    }),
    [
      ['Query', 'Catalog', 1, DEVICE_ID, 'query'],
      ['Query', 'DeviceInfo', 2, DEVICE_ID, 'query'],
      ['Query', 'DeviceStatus', 3, DEVICE_ID, 'query'],
      ['Query', 'RecordInfo', 18, CAMERA_ID, 'query'],
      ['Notify', 'Keepalive', 5, DEVICE_ID, 'keepalive'],
    ],
  );
  const q = ofKind(parseManscdp(encodeXmlBody(rec)), 'query');
  t.same([q.startTime, q.endTime, q.recordType, q.secrecy], [start, start + 86_399, 'all', 0]);
});

t.test('buildCatalogResponse round trip with Chinese text and XML metacharacters', async (t) => {
  const items: CatalogMessage['items'] = [
    { deviceId: CAMERA_ID, name: '大门摄像机', manufacturer: '海康威视', address: '一号楼 <东> & "西"', parental: 0, parentId: DEVICE_ID, status: 'ON', statusRaw: 'ON', ptzType: 1, longitude: 120.5, latitude: 30.25 },
    { deviceId: ALARM_IN_ID, name: "报警输入'1'", status: 'OFF', statusRaw: 'OFF' },
  ];
  const xml = buildCatalogResponse({ sn: 9, deviceId: DEVICE_ID, sumNum: 2, items });
  const m = ofKind(parseManscdp(encodeXmlBody(xml)), 'catalog');
  t.same(m.items, items);
  t.same([m.sumNum, m.listNum, m.sn], [2, 2, 9]);
});
