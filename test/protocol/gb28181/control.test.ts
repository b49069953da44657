import t from 'tap';
import fc from 'fast-check';
import {
  buildAlarmNotify,
  buildAlarmResponse,
  buildBroadcastNotify,
  buildConfigDownloadQuery,
  buildDeviceConfig,
  buildDeviceControl,
  buildMobilePositionNotify,
  buildPresetQuery,
  buildSubscribeQuery,
  controlExpectsResponse,
  decodePtzCmd,
  encodeXmlBody,
  parseManscdp,
  type DeviceControlCommand,
  type ManscdpMessage,
} from '../../../src/protocol/gb28181/index.js';

const CHANNEL = '34020000001310000001';
const parse = (xml: string | Uint8Array): ManscdpMessage => {
  const r = parseManscdp(xml);
  if (!r.ok) throw new Error(r.reason);
  return r.message;
};

t.test('DeviceControl bodies: exact XML and parse-back', async (t) => {
  const ptz = buildDeviceControl({ sn: 17, deviceId: CHANNEL }, { type: 'ptz', command: { kind: 'ptz', pan: 1, tilt: 0, zoom: 0, panSpeed: 0x20, tiltSpeed: 0, zoomSpeed: 0 }, address: 1 });
  t.equal(
    ptz,
    '<?xml version="1.0" encoding="GB2312"?>\n<Control>\n<CmdType>DeviceControl</CmdType>\n<SN>17</SN>\n<DeviceID>34020000001310000001</DeviceID>\n<PTZCmd>A50F0101200000D6</PTZCmd>\n<Info>\n<ControlPriority>5</ControlPriority>\n</Info>\n</Control>\n',
  );
  t.match(parse(ptz), { root: 'Control', kind: 'control', cmdType: 'DeviceControl', sn: 17, deviceId: CHANNEL, ptzCmd: 'A50F0101200000D6', controlPriority: 5 });

  const cases: Array<[DeviceControlCommand, Record<string, unknown>, RegExp]> = [
    [{ type: 'guard', action: 'SetGuard' }, { guardCmd: 'SetGuard' }, /<GuardCmd>SetGuard<\/GuardCmd>/],
    [{ type: 'guard', action: 'ResetGuard' }, { guardCmd: 'ResetGuard' }, /<GuardCmd>ResetGuard<\/GuardCmd>/],
    [{ type: 'alarmReset' }, { alarmCmd: 'ResetAlarm' }, /<AlarmCmd>ResetAlarm<\/AlarmCmd>\n<\/Control>/],
    [{ type: 'alarmReset', alarmMethod: '2', alarmType: '1' }, { alarmCmd: 'ResetAlarm' }, /<AlarmCmd>ResetAlarm<\/AlarmCmd>\n<Info>\n<AlarmMethod>2<\/AlarmMethod>\n<AlarmType>1<\/AlarmType>/],
    [{ type: 'record', action: 'Record' }, { recordCmd: 'Record' }, /<RecordCmd>Record<\/RecordCmd>\n<\/Control>/],
    [{ type: 'record', action: 'StopRecord', streamNumber: 1 }, { recordCmd: 'StopRecord' }, /<RecordCmd>StopRecord<\/RecordCmd>\n<StreamNumber>1<\/StreamNumber>/],
    [{ type: 'iframe' }, { iFrameCmd: 'Send' }, /<IFrameCmd>Send<\/IFrameCmd>/],
    [{ type: 'teleboot' }, { teleBoot: 'Boot' }, /<TeleBoot>Boot<\/TeleBoot>/],
    [
      { type: 'dragZoom', direction: 'in', area: { length: 1920, width: 1080, midPointX: 960, midPointY: 540, lengthX: 200, lengthY: 100 } },
      { dragZoom: { direction: 'in', area: { length: 1920, width: 1080, midPointX: 960, midPointY: 540, lengthX: 200, lengthY: 100 } } },
      /<DragZoomIn>\n<Length>1920<\/Length>\n<Width>1080<\/Width>\n<MidPointX>960<\/MidPointX>\n<MidPointY>540<\/MidPointY>\n<LengthX>200<\/LengthX>\n<LengthY>100<\/LengthY>\n<\/DragZoomIn>/,
    ],
    [{ type: 'dragZoom', direction: 'out', area: { length: 704, width: 576, midPointX: 1, midPointY: 2, lengthX: 3, lengthY: 4 } }, { dragZoom: { direction: 'out' } }, /<DragZoomOut>/],
    [{ type: 'homePosition', enabled: true, resetTime: 30, presetIndex: 2 }, { homePosition: { enabled: true, resetTime: 30, presetIndex: 2 } }, /<HomePosition>\n<Enabled>1<\/Enabled>\n<ResetTime>30<\/ResetTime>\n<PresetIndex>2<\/PresetIndex>\n<\/HomePosition>/],
    [{ type: 'homePosition', enabled: false }, { homePosition: { enabled: false } }, /<HomePosition>\n<Enabled>0<\/Enabled>\n<\/HomePosition>/],
  ];
  for (const [command, expected, xmlPattern] of cases) {
    const xml = buildDeviceControl({ sn: 5, deviceId: CHANNEL }, command);
    t.match(xml, xmlPattern, `${command.type} XML`);
    t.match(parse(xml), { kind: 'control', cmdType: 'DeviceControl', sn: 5, deviceId: CHANNEL, ...expected }, `${command.type} parses back`);
  }
  t.same(
    (['ptz', 'guard', 'alarmReset', 'record', 'iframe', 'teleboot', 'dragZoom', 'homePosition'] as const).filter(controlExpectsResponse),
    ['guard', 'alarmReset', 'record', 'homePosition'],
    'the commands §9.3.1 answers with a Response',
  );
});

t.test('DeviceConfig, PresetQuery, ConfigDownload, SUBSCRIBE bodies round-trip', async (t) => {
  const config = buildDeviceConfig({ sn: 9, deviceId: CHANNEL }, { name: '大门', expiration: 3600, heartBeatInterval: 60, heartBeatCount: 3 });
  t.match(config, /<Control>\n<CmdType>DeviceConfig<\/CmdType>\n<SN>9<\/SN>\n<DeviceID>34020000001310000001<\/DeviceID>\n<BasicParam>\n<Name>大门<\/Name>\n<Expiration>3600<\/Expiration>\n<HeartBeatInterval>60<\/HeartBeatInterval>\n<HeartBeatCount>3<\/HeartBeatCount>\n<\/BasicParam>/);
  t.match(parse(encodeXmlBody(config)), { kind: 'control', cmdType: 'DeviceConfig', basicParam: { name: '大门', expiration: 3600, heartBeatInterval: 60, heartBeatCount: 3 } }, 'GB2312 bytes parse back');

  t.match(parse(buildPresetQuery({ sn: 3, deviceId: CHANNEL })), { kind: 'query', cmdType: 'PresetQuery', sn: 3, deviceId: CHANNEL });
  const cd = buildConfigDownloadQuery({ sn: 4, deviceId: CHANNEL }, ['BasicParam', 'VideoParamOpt']);
  t.match(cd, /<ConfigType>BasicParam\/VideoParamOpt<\/ConfigType>/);
  t.match(parse(cd), { kind: 'query', cmdType: 'ConfigDownload', configTypes: ['BasicParam', 'VideoParamOpt'] });
  t.throws(() => buildConfigDownloadQuery({ sn: 4, deviceId: CHANNEL }, []), RangeError);

  const start = Date.UTC(2026, 0, 2, 3, 4, 5) / 1000;
  const catalog = buildSubscribeQuery('catalog', { sn: 1, deviceId: CHANNEL }, { startTime: start, endTime: start + 3600 });
  t.match(catalog, /<CmdType>Catalog<\/CmdType>\n<SN>1<\/SN>\n<DeviceID>34020000001310000001<\/DeviceID>\n<StartTime>2026-01-02T11:04:05<\/StartTime>\n<EndTime>2026-01-02T12:04:05<\/EndTime>/);
  t.match(parse(catalog), { kind: 'query', cmdType: 'Catalog', startTime: start, endTime: start + 3600 });
  t.notMatch(buildSubscribeQuery('catalog', { sn: 1, deviceId: CHANNEL }), /StartTime/, 'no empty time filter');
  const alarm = buildSubscribeQuery('alarm', { sn: 2, deviceId: CHANNEL }, { startAlarmPriority: 1, endAlarmPriority: 4, alarmMethod: '2/5' });
  t.match(parse(alarm), { kind: 'query', cmdType: 'Alarm', startAlarmPriority: 1, endAlarmPriority: 4, alarmMethod: '2/5' });
  t.match(parse(buildSubscribeQuery('alarm', { sn: 2, deviceId: CHANNEL })), { startAlarmPriority: 0, endAlarmPriority: 0, alarmMethod: '0' }, 'defaults: everything');
  t.match(parse(buildSubscribeQuery('mobilePosition', { sn: 3, deviceId: CHANNEL }, { interval: 10 })), { kind: 'query', cmdType: 'MobilePosition', interval: 10 });
});

t.test('responses and notifications as devices send them', async (t) => {
  // Hikvision-style DeviceControl answer (Response, Result OK), and a Dahua one with lower-case result.
  t.match(parse(`<?xml version="1.0" encoding="GB2312"?>\r\n<Response>\r\n<CmdType>DeviceControl</CmdType>\r\n<SN>17</SN>\r\n<DeviceID>${CHANNEL}</DeviceID>\r\n<Result>OK</Result>\r\n</Response>\r\n`), { kind: 'result', ok: true, sn: 17, resultRaw: 'OK' });
  t.match(parse(`<Response><CmdType>DeviceControl</CmdType><SN>18</SN><DeviceID>${CHANNEL}</DeviceID><Result>Error</Result></Response>`), { kind: 'result', ok: false, resultRaw: 'Error' });
  t.match(parse(`<Response><CmdType>DeviceConfig</CmdType><SN>19</SN><DeviceID>${CHANNEL}</DeviceID><Result>OK</Result></Response>`), { kind: 'result', cmdType: 'DeviceConfig', ok: true });
  t.match(parse(`<Response><CmdType>Broadcast</CmdType><SN>20</SN><DeviceID>${CHANNEL}</DeviceID><Result>OK</Result></Response>`), { kind: 'result', cmdType: 'Broadcast', ok: true });

  const presets = parse(
    `<?xml version="1.0" encoding="GB2312"?><Response><CmdType>PresetQuery</CmdType><SN>21</SN><DeviceID>${CHANNEL}</DeviceID><PresetList Num="3"><Item><PresetID>1</PresetID><PresetName>门口</PresetName></Item><Item><PresetID> 2 </PresetID><PresetName></PresetName></Item><Item><PresetName>no id</PresetName></Item></PresetList></Response>`,
  );
  t.match(presets, { kind: 'presetList', sumNum: 3, presets: [{ id: 1, name: '门口' }, { id: 2 }] });
  t.equal(presets.kind === 'presetList' && presets.presets.length, 2, 'an item without PresetID is dropped');
  t.match(parse(`<Response><CmdType>PresetQuery</CmdType><SN>21</SN><DeviceID>${CHANNEL}</DeviceID><SumNum>1</SumNum><PresetList Num="1"><Item><PresetID>7</PresetID></Item></PresetList></Response>`), { sumNum: 1, presets: [{ id: 7 }] });

  t.match(
    parse(
      `<Response><CmdType>ConfigDownload</CmdType><SN>22</SN><DeviceID>${CHANNEL}</DeviceID><Result>OK</Result><BasicParam><Name>IPC</Name><DeviceID>${CHANNEL}</DeviceID><SIPServerID>34020000002000000001</SIPServerID><SIPServerIP>192.0.2.1</SIPServerIP><SIPServerPort>5060</SIPServerPort><DomainName>3402000000</DomainName><Expiration>3600</Expiration><Password>secret</Password><HeartBeatInterval>60</HeartBeatInterval><HeartBeatCount>3</HeartBeatCount></BasicParam><VideoParamOpt><DownloadSpeed>1/2/4</DownloadSpeed><Resolution>5/6</Resolution></VideoParamOpt></Response>`,
    ),
    {
      kind: 'configDownload',
      ok: true,
      basicParam: { name: 'IPC', sipServerId: '34020000002000000001', sipServerIp: '192.0.2.1', sipServerPort: 5060, domainName: '3402000000', expiration: 3600, heartBeatInterval: 60, heartBeatCount: 3 },
      videoParamOpt: { downloadSpeed: [1, 2, 4], resolution: ['5', '6'] },
    },
  );
  const cfg = parse(`<Response><CmdType>ConfigDownload</CmdType><SN>22</SN><DeviceID>x</DeviceID><BasicParam><Password>secret</Password></BasicParam></Response>`);
  t.notMatch(JSON.stringify(cfg), /secret/, 'a device password is never carried');

  const time = Date.UTC(2026, 4, 6, 0, 0, 0) / 1000;
  const alarm = parse(buildAlarmNotify({ sn: 30, deviceId: '34020000001340000001', priority: 1, method: 2, time, description: '移动侦测', longitude: 116.39, latitude: 39.9, alarmType: 2, eventType: 1 }));
  t.match(alarm, { kind: 'alarm', root: 'Notify', sn: 30, deviceId: '34020000001340000001', priority: 1, method: 2, time, timeRaw: '2026-05-06T08:00:00', description: '移动侦测', longitude: 116.39, latitude: 39.9, alarmType: 2, eventType: 1 });
  // Some devices put AlarmType at the top level and send no Info.
  t.match(parse(`<Notify><CmdType>Alarm</CmdType><SN>31</SN><DeviceID>x</DeviceID><AlarmPriority>4</AlarmPriority><AlarmMethod>5</AlarmMethod><AlarmTime>bad</AlarmTime><AlarmType>6</AlarmType></Notify>`), { kind: 'alarm', priority: 4, method: 5, time: undefined, timeRaw: 'bad', alarmType: 6 });
  t.match(parse(buildAlarmResponse({ sn: 30, deviceId: '34020000001340000001' })), { kind: 'result', cmdType: 'Alarm', root: 'Response', sn: 30, ok: true });

  const position = parse(buildMobilePositionNotify({ sn: 40, deviceId: CHANNEL, time, longitude: 121.5, latitude: 31.2, speed: 36.5, direction: 90, altitude: 12 }));
  t.match(position, { kind: 'mobilePosition', time, longitude: 121.5, latitude: 31.2, speed: 36.5, direction: 90, altitude: 12 });
  t.match(parse(buildBroadcastNotify({ sn: 50, sourceId: '34020000002000000001', targetId: CHANNEL })), { kind: 'broadcast', sourceId: '34020000002000000001', targetId: CHANNEL, sn: 50 });
  t.match(buildBroadcastNotify({ sn: 50, sourceId: 'a', targetId: 'b' }), /<Notify>\n<CmdType>Broadcast<\/CmdType>\n<SN>50<\/SN>\n<SourceID>a<\/SourceID>\n<TargetID>b<\/TargetID>\n<\/Notify>/);

  // Catalog change notification (subscription NOTIFY body).
  const change = parse(
    `<Notify><CmdType>Catalog</CmdType><SN>60</SN><DeviceID>34020000001320000001</DeviceID><SumNum>2</SumNum><DeviceList Num="2"><Item><DeviceID>${CHANNEL}</DeviceID><Event>OFF</Event></Item><Item><DeviceID>34020000001310000002</DeviceID><Name>new</Name><Status>ON</Status><Event>ADD</Event><Longitude>120.1</Longitude><Latitude>30.2</Latitude></Item></DeviceList></Notify>`,
  );
  t.match(change, { kind: 'catalog', root: 'Notify', items: [{ deviceId: CHANNEL, event: 'OFF' }, { deviceId: '34020000001310000002', event: 'ADD', longitude: 120.1, latitude: 30.2 }] });
});

const idArb = fc.stringMatching(/^[0-9]{20}$/);
const textArb = fc.oneof(fc.string({ maxLength: 12 }), fc.integer().map(String), fc.constant(''), fc.constant('&amp;<'));
const element = (name: string) => fc.option(textArb, { nil: undefined }).map((v) => (v === undefined ? '' : `<${name}>${v.replace(/[<&]/g, '')}</${name}>`));
const FIELDS = ['Result', 'AlarmPriority', 'AlarmMethod', 'AlarmTime', 'Longitude', 'Latitude', 'Time', 'Speed', 'SourceID', 'TargetID', 'PTZCmd', 'GuardCmd', 'ConfigType', 'Interval'];

t.test('property: random control-family bodies never throw and stay well-typed', async (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom('Response', 'Notify', 'Control', 'Query'),
      fc.constantFrom('DeviceControl', 'DeviceConfig', 'PresetQuery', 'ConfigDownload', 'Alarm', 'MobilePosition', 'Broadcast', 'Catalog'),
      idArb,
      fc.array(fc.constantFrom(...FIELDS).chain(element), { maxLength: 8 }),
      fc.array(fc.tuple(element('PresetID'), element('PresetName')), { maxLength: 4 }),
      fc.option(fc.tuple(element('Name'), element('Expiration'), element('HeartBeatCount')), { nil: undefined }),
      (root, cmd, id, fields, presets, basic) => {
        const xml = `<${root}><CmdType>${cmd}</CmdType><SN>1</SN><DeviceID>${id}</DeviceID>${fields.join('')}<PresetList>${presets.map(([a, b]) => `<Item>${a}${b}</Item>`).join('')}</PresetList>${basic ? `<BasicParam>${basic.join('')}</BasicParam>` : ''}<Info><AlarmType>x</AlarmType></Info></${root}>`;
        const r = parseManscdp(xml);
        if (!r.ok) return typeof r.reason === 'string';
        const m = r.message;
        switch (m.kind) {
          case 'presetList':
            return m.presets.every((p) => Number.isSafeInteger(p.id));
          case 'alarm':
          case 'mobilePosition':
            return m.time === undefined || Number.isFinite(m.time);
          case 'result':
          case 'configDownload':
            return typeof m.ok === 'boolean';
          default:
            return typeof m.cmdType === 'string';
        }
      },
    ),
    { numRuns: 2000 },
  );
  t.pass();
});

t.test('property: random DeviceControl commands build XML that parses back to the same PTZ bytes', async (t) => {
  const dir = fc.constantFrom(-1 as const, 0 as const, 1 as const);
  fc.assert(
    fc.property(
      fc.record({ pan: dir, tilt: dir, zoom: dir, panSpeed: fc.integer({ min: 0, max: 255 }), tiltSpeed: fc.integer({ min: 0, max: 255 }), zoomSpeed: fc.integer({ min: 0, max: 15 }) }),
      fc.integer({ min: 1, max: 0x7fffffff }),
      idArb,
      (motion, sn, id) => {
        const xml = buildDeviceControl({ sn, deviceId: id }, { type: 'ptz', command: { kind: 'ptz', ...motion } });
        const m = parse(xml);
        if (m.kind !== 'control' || m.sn !== sn || m.deviceId !== id || m.ptzCmd === undefined) return false;
        const d = decodePtzCmd(m.ptzCmd);
        return d.ok && JSON.stringify(d.command) === JSON.stringify({ kind: 'ptz', ...motion });
      },
    ),
    { numRuns: 1000 },
  );
  t.pass();
});
