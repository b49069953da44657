/**
 * Cascade bodies (src/protocol/gb28181/cascade.ts) and the SDP answer we send upward
 * (buildSendAnswer): round trips through the parsers camgate uses as an upper platform,
 * in both charsets, for arbitrary catalogs.
 */
import t from 'tap';
import fc from 'fast-check';
import { buildCatalogResponses, buildDeviceInfoResponse, buildDeviceStatusResponse, buildRecordInfoResponses, encodeXmlBody, parseManscdp } from '../../../src/protocol/gb28181/index.js';
import { buildSendAnswer, offerTimes, parseAnswer } from '../../../src/protocol/sdp/gb-sdp.js';

const gbId = fc.stringMatching(/^[0-9]{20}$/);
const item = fc.record({
  deviceId: gbId,
  name: fc.oneof(fc.constant('粤B12345 通道1'), fc.string({ maxLength: 20 })),
  status: fc.constantFrom('ON' as const, 'OFF' as const),
  longitude: fc.option(fc.double({ min: -180, max: 180, noNaN: true }), { nil: undefined }),
});

t.test('a catalog split into messages parses back whole: every message says SumNum, nothing lost or added', async (t) => {
  fc.assert(
    fc.property(fc.array(item, { maxLength: 60 }), fc.integer({ min: 1, max: 20 }), fc.constantFrom('GB2312', 'UTF-8'), (items, per, charset) => {
      const bodies = buildCatalogResponses(42, '44010000002000000077', items, per);
      if (bodies.length !== Math.max(1, Math.ceil(items.length / per))) return false;
      const ids: string[] = [];
      for (const body of bodies) {
        const parsed = parseManscdp(encodeXmlBody(body, charset));
        if (!parsed.ok || parsed.message.kind !== 'catalog') return false;
        if (parsed.message.sumNum !== items.length || parsed.message.sn !== 42) return false;
        if (parsed.message.items.length > per) return false;
        ids.push(...parsed.message.items.map((i) => i.deviceId));
      }
      return ids.join() === items.map((i) => i.deviceId).join();
    }),
    { numRuns: 300 },
  );
  const [one] = buildCatalogResponses(1, '44010000002000000077', [{ deviceId: '37070000081313800001', name: '粤B12345 通道1', status: 'ON', latitude: 22.5 }], 4);
  const parsed = parseManscdp(encodeXmlBody(one!, 'GB2312'));
  t.match(parsed, { ok: true, charset: /GB/, message: { items: [{ name: '粤B12345 通道1', status: 'ON', latitude: 22.5 }] } }, 'GB2312 name survives');
});

t.test('DeviceInfo and DeviceStatus responses parse as camgate reads them from devices', async (t) => {
  const info = parseManscdp(buildDeviceInfoResponse({ sn: 7, deviceId: '44010000002000000077', deviceName: 'camgate', manufacturer: 'camgate', model: 'gw', firmware: '1.2.3', channels: 10_000 }));
  t.match(info, { ok: true, message: { kind: 'deviceInfo', sn: 7, result: 'OK', firmware: '1.2.3', channel: 10_000 } });
  const status = parseManscdp(buildDeviceStatusResponse({ sn: 8, deviceId: '44010000002000000077', deviceTime: '2026-12-07T12:00:00' }));
  t.match(status, { ok: true, message: { kind: 'deviceStatus', sn: 8, online: true, statusOk: true } });
});

t.test('the send-only answer parses back: address, transport, SSRC', async (t) => {
  fc.assert(
    fc.property(fc.ipV4(), fc.constantFrom('udp' as const, 'tcp-active' as const, 'tcp-passive' as const), fc.integer({ min: 0, max: 4294967295 }), (host, transport, ssrc) => {
      const y = String(ssrc).padStart(10, '0');
      const sdp = buildSendAnswer({ deviceId: '44010000002000000077', mediaHost: host, transport, ssrc: y });
      const back = parseAnswer(sdp);
      // parseAnswer reads an answer from the other side's point of view: our setup:active is its passive.
      return back.host === host && back.ssrc === y && back.session === 'Play' && back.transport === (transport === 'udp' ? 'udp' : transport === 'tcp-passive' ? 'tcp-active' : 'tcp-passive') && /a=sendonly/.test(sdp);
    }),
  );
});

t.test('RecordInfo answers parse back: every range, SumNum in each message, times at +08:00', async (t) => {
  const range = fc.integer({ min: 1_600_000_000, max: 1_900_000_000 }).chain((start) => fc.record({ start: fc.constant(start), end: fc.integer({ min: start + 1, max: start + 86_400 }) }));
  fc.assert(
    fc.property(fc.array(range, { maxLength: 30 }), fc.integer({ min: 1, max: 10 }), (ranges, per) => {
      const bodies = buildRecordInfoResponses(9, '37070000081313800001', 'ch', ranges, per);
      const got: Array<[number | undefined, number | undefined]> = [];
      for (const body of bodies) {
        const parsed = parseManscdp(body);
        if (!parsed.ok || parsed.message.kind !== 'recordInfo' || parsed.message.sumNum !== ranges.length) return false;
        got.push(...parsed.message.items.map((i) => [i.startTime, i.endTime] as [number | undefined, number | undefined]));
      }
      return JSON.stringify(got) === JSON.stringify(ranges.map((r) => [r.start, r.end]));
    }),
    { numRuns: 200 },
  );
  t.equal(buildRecordInfoResponses(1, 'x', 'x', [], 4).length, 1, 'no recordings: one message with SumNum 0');
});

t.test('offerTimes reads a Playback t= line and ignores live', async (t) => {
  t.same(offerTimes('v=0\r\ns=Playback\r\nt=1700000000 1700003600\r\n'), { start: 1_700_000_000, end: 1_700_003_600 });
  t.equal(offerTimes('v=0\r\nt=0 0\r\n'), undefined);
  t.equal(offerTimes('t=5 1\n'), undefined, 'end before start');
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (text) => { const r = offerTimes(text); return r === undefined || r.end > r.start; }));
});

t.test('RecordInfo answers relay a camera\'s own item fields when given', async (t) => {
  const [body] = buildRecordInfoResponses(5, '44010000001310000001', 'ch', [
    { start: 1_763_596_800, end: 1_763_600_400, name: 'camera', filePath: '/rec/1.ps', address: 'nvr', type: 'alarm', secrecy: 1, recorderId: '44010000001110000001', fileSize: 1024 },
    { start: 1_763_600_400, end: 1_763_604_000 },
  ], 4);
  const parsed = parseManscdp(body!);
  t.match(parsed, {
    ok: true,
    message: {
      kind: 'recordInfo',
      sumNum: 2,
      items: [
        { deviceId: '44010000001310000001', name: 'camera', filePath: '/rec/1.ps', address: 'nvr', type: 'alarm', secrecy: 1, recorderId: '44010000001110000001', fileSize: 1024, startTime: 1_763_596_800 },
        { name: 'ch', type: 'time', secrecy: 0, startTime: 1_763_600_400 },
      ],
    },
  });
  t.notMatch(body!, /<FilePath>[\s\S]*<FilePath>/, 'no empty fields for the item without them');
});
