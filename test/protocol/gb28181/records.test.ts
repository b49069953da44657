import t from 'tap';
import iconv from 'iconv-lite';
import {
  RecordQueryAggregator,
  SnAllocator,
  buildRecordInfoQuery,
  encodeXmlBody,
  parseManscdp,
  toGosipRecords,
  type RecordInfoMessage,
  type RecordPushOutcome,
  type RecordQueryResult,
} from '../../../src/protocol/gb28181/index.js';
import { CAMERA_ID, DEVICE_ID } from './fixtures/sipp-bodies.js';

const NVR_ID = DEVICE_ID;
/** 2024-03-01 00:00:00 at +08:00. */
const DAY0 = Date.UTC(2024, 2, 1) / 1000 - 8 * 3600;

function fakeClock(start = 5_000_000): { now: () => number; advance: (ms: number) => number } {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

const hhmmss = (seconds: number): string => new Date((seconds + 8 * 3600) * 1000).toISOString().slice(0, 19);

/** A RecordInfo Response MESSAGE as an NVR sends it, parsed. Segments are [start, end] unix seconds. */
function response(sn: number, segments: Array<[number, number]>, sumNum: number | undefined, deviceId = CAMERA_ID): RecordInfoMessage {
  const items = segments
    .map(([s, e], i) => `<Item>\n<DeviceID>${CAMERA_ID}</DeviceID>\n<Name>通道1</Name>\n<FilePath>/rec/${s}.mp4</FilePath>\n<StartTime>${hhmmss(s)}</StartTime>\n<EndTime>${hhmmss(e)}</EndTime>\n<Secrecy>0</Secrecy>\n<Type>time</Type>\n<FileSize>${1000 + i}</FileSize>\n</Item>`)
    .join('\n');
  const xml = `<?xml version="1.0" encoding="GB2312"?>\n<Response>\n<CmdType>RecordInfo</CmdType>\n<SN>${sn}</SN>\n<DeviceID>${deviceId}</DeviceID>\n<Name>通道1</Name>\n${sumNum === undefined ? '' : `<SumNum>${sumNum}</SumNum>\n`}<RecordList Num="${segments.length}">\n${items}\n</RecordList>\n</Response>`;
  const r = parseManscdp(iconv.encode(xml, 'gb2312'));
  if (!r.ok || r.message.kind !== 'recordInfo') throw new Error(r.ok ? r.message.kind : r.reason);
  return r.message;
}

function completed(outcome: RecordPushOutcome): RecordQueryResult {
  if (outcome.status !== 'complete') throw new Error(`expected complete, got ${JSON.stringify(outcome)}`);
  return outcome.result;
}

t.test('SN correlation over two MESSAGEs; a query sent with buildRecordInfoQuery', async (t) => {
  const clock = fakeClock();
  const agg = new RecordQueryAggregator({ now: clock.now });
  const sns = new SnAllocator(100);
  const sn = sns.next();
  const query = parseManscdp(encodeXmlBody(buildRecordInfoQuery({ sn, deviceId: CAMERA_ID, startTime: DAY0, endTime: DAY0 + 86_399 })));
  t.ok(query.ok && query.message.sn === sn && query.message.kind === 'query' && query.message.startTime === DAY0);
  t.ok(agg.start({ sn, channelId: CAMERA_ID, deviceId: NVR_ID, startTime: DAY0, endTime: DAY0 + 86_399 }));
  t.notOk(agg.start({ sn, channelId: CAMERA_ID }), 'an outstanding SN cannot be started twice');

  t.same(agg.push(response(sn + 1, [[DAY0, DAY0 + 60]], 1)), { status: 'ignored', reason: 'unknown-sn' });
  clock.advance(500);
  t.same(agg.push(response(sn, [[DAY0, DAY0 + 600], [DAY0 + 600, DAY0 + 1200]], 3)), { status: 'pending', received: 2, sumNum: 3 });
  clock.advance(500);
  const result = completed(agg.push(response(sn, [[DAY0 + 3600, DAY0 + 4200]], 3)));
  t.same([result.complete, result.reason, result.sumNum, result.parts, result.finishedAt - result.startedAt], [true, 'complete', 3, 2, 1000]);
  t.same(result.items.map((i) => [i.startTime! - DAY0, i.endTime! - DAY0, i.name, i.fileSize]), [
    [0, 600, '通道1', 1000],
    [600, 1200, '通道1', 1001],
    [3600, 4200, '通道1', 1000],
  ]);
  t.equal(result.query.channelId, CAMERA_ID);
  t.same(agg.push(response(sn, [[DAY0, DAY0 + 60]], 3)), { status: 'ignored', reason: 'unknown-sn' }, 'after completion');
});

t.test('device answers with its own DeviceID instead of the channel ID', async (t) => {
  const agg = new RecordQueryAggregator({ now: fakeClock().now });
  agg.start({ sn: 1, channelId: CAMERA_ID, deviceId: NVR_ID });
  t.equal(completed(agg.push(response(1, [[DAY0, DAY0 + 60]], 1, NVR_ID))).items.length, 1, 'parent ID accepted');

  agg.start({ sn: 2, channelId: CAMERA_ID });
  t.equal(agg.push(response(2, [[DAY0, DAY0 + 60]], 1, NVR_ID)).status, 'complete', 'parent unknown: SN alone correlates');

  agg.start({ sn: 3, channelId: CAMERA_ID, deviceId: NVR_ID });
  t.same(agg.push(response(3, [[DAY0, DAY0 + 60]], 1, '34020000001320000999')), { status: 'ignored', reason: 'device-mismatch' }, 'an unrelated device is refused');
  t.equal(agg.push(response(3, [[DAY0, DAY0 + 60]], 1, '34020000001320000999'), NVR_ID).status, 'complete', 'unless the SIP source is the known device');
});

t.test('deadline: partial results after 10 s, empty when nothing came; SumNum 0; duplicates; cancel; capacity', async (t) => {
  const clock = fakeClock();
  const agg = new RecordQueryAggregator({ now: clock.now, maxQueries: 3 });
  agg.start({ sn: 1, channelId: CAMERA_ID });
  clock.advance(100);
  agg.start({ sn: 2, channelId: CAMERA_ID });
  t.equal(agg.nextDeadline(), 5_010_000);
  agg.push(response(1, [[DAY0, DAY0 + 60]], 4));
  t.same(agg.push(response(1, [[DAY0, DAY0 + 60]], 4)), { status: 'pending', received: 1, sumNum: 4 }, 'a retransmitted part counts once');
  t.same(agg.tick(clock.advance(9_899)), []);
  const [partial] = agg.tick(clock.advance(1));
  t.same([partial!.query.sn, partial!.reason, partial!.complete, partial!.items.length, partial!.sumNum], [1, 'timeout', false, 1, 4], 'fixed deadline: what came');
  const [empty] = agg.tick(clock.advance(100));
  t.same([empty!.query.sn, empty!.items, empty!.sumNum, empty!.parts], [2, [], undefined, 0]);

  agg.start({ sn: 3, channelId: CAMERA_ID });
  const none = completed(agg.push(response(3, [], 0)));
  t.same([none.items, none.complete], [[], true], 'SumNum=0 completes at once');

  agg.start({ sn: 4, channelId: CAMERA_ID });
  agg.push(response(4, [[DAY0, DAY0 + 1]], 2));
  const cancelled = agg.cancel(4);
  t.same([cancelled?.items.length, cancelled?.complete], [1, false]);
  t.equal(agg.cancel(4), undefined);

  for (const sn of [10, 11, 12]) t.ok(agg.start({ sn, channelId: CAMERA_ID }));
  t.notOk(agg.start({ sn: 13, channelId: CAMERA_ID }), 'maxQueries');
  t.equal(agg.pending, 3);
});

t.test('item cap and missing SumNum', async (t) => {
  const agg = new RecordQueryAggregator({ now: fakeClock().now, maxItems: 2 });
  agg.start({ sn: 1, channelId: CAMERA_ID });
  const capped = completed(agg.push(response(1, [[DAY0, DAY0 + 1], [DAY0 + 2, DAY0 + 3], [DAY0 + 4, DAY0 + 5]], 10)));
  t.same([capped.items.length, capped.reason], [2, 'item-cap']);
  agg.start({ sn: 2, channelId: CAMERA_ID });
  const noSum = completed(agg.push(response(2, [[DAY0, DAY0 + 1]], undefined)));
  t.same([noSum.sumNum, noSum.complete], [1, true]);
});

t.test('toGosipRecords: empty', async (t) => {
  t.same(toGosipRecords([]), { daynum: 0, timenum: 0, list: [] });
  t.same(toGosipRecords([{ startTime: undefined, endTime: DAY0 }, { startTime: DAY0 + 10, endTime: DAY0 }]), { daynum: 0, timenum: 0, list: [] }, 'unusable items skipped');
});

t.test('toGosipRecords: sorting, merging of overlapping and touching segments', async (t) => {
  const r = toGosipRecords([
    { startTime: DAY0 + 7200, endTime: DAY0 + 7300 },
    { startTime: DAY0, endTime: DAY0 + 600 },
    { startTime: DAY0 + 600, endTime: DAY0 + 1200 }, // touches: merged
    { startTime: DAY0 + 1201, endTime: DAY0 + 1800 }, // 1 s later: merged
    { startTime: DAY0 + 1500, endTime: DAY0 + 1700 }, // inside: merged
    { startTime: DAY0 + 1802, endTime: DAY0 + 1900 }, // gap: separate
  ]);
  t.same(r, {
    daynum: 1,
    timenum: 3,
    list: [
      {
        date: '2024-03-01',
        items: [
          { start: DAY0, end: DAY0 + 1800 },
          { start: DAY0 + 1802, end: DAY0 + 1900 },
          { start: DAY0 + 7200, end: DAY0 + 7300 },
        ],
      },
    ],
  });
});

t.test('toGosipRecords: segments across local midnight appear on each day they cover', async (t) => {
  const r = toGosipRecords([
    { startTime: DAY0 + 86_400 - 600, endTime: DAY0 + 86_400 + 600 }, // 23:50 → 00:10
    { startTime: DAY0 + 2 * 86_400 + 3600, endTime: DAY0 + 4 * 86_400 + 60 }, // Mar 3 01:00 → Mar 5 00:01
  ]);
  t.same(r.list.map((d) => [d.date, d.items.map((i) => [hhmmss(i.start), hhmmss(i.end)])]), [
    ['2024-03-01', [['2024-03-01T23:50:00', '2024-03-01T23:59:59']]],
    ['2024-03-02', [['2024-03-02T00:00:00', '2024-03-02T00:10:00']]],
    ['2024-03-03', [['2024-03-03T01:00:00', '2024-03-03T23:59:59']]],
    ['2024-03-04', [['2024-03-04T00:00:00', '2024-03-04T23:59:59']]],
    ['2024-03-05', [['2024-03-05T00:00:00', '2024-03-05T00:01:00']]],
  ]);
  t.same([r.daynum, r.timenum], [5, 5]);

  const utc = toGosipRecords([{ startTime: DAY0 + 86_400 - 600, endTime: DAY0 + 86_400 + 600 }], { utcOffsetMinutes: 0 });
  t.same(utc.list.map((d) => d.date), ['2024-03-01'], 'the same instant is mid-afternoon UTC: one day');
});

t.test('toGosipRecords: clipping to the queried range', async (t) => {
  const r = toGosipRecords(
    [
      { startTime: DAY0 - 3600, endTime: DAY0 + 600 },
      { startTime: DAY0 + 3000, endTime: DAY0 + 99_999 },
      { startTime: DAY0 - 9000, endTime: DAY0 - 8000 },
    ],
    { clip: { start: DAY0, end: DAY0 + 3600 } },
  );
  t.same(r, { daynum: 1, timenum: 2, list: [{ date: '2024-03-01', items: [{ start: DAY0, end: DAY0 + 600 }, { start: DAY0 + 3000, end: DAY0 + 3600 }] }] });
});

t.test('SnAllocator', async (t) => {
  const sns = new SnAllocator(5, 7);
  t.same([sns.peek(), sns.next(), sns.next(), sns.next(), sns.next(), sns.next()], [5, 5, 6, 7, 1, 2], 'wraps to 1, never 0');
  for (let i = 0; i < 50; i++) {
    const sn = new SnAllocator(undefined, 10).next();
    t.ok(sn >= 1 && sn <= 10);
  }
  const big = new SnAllocator();
  t.ok(big.peek() >= 1 && big.peek() <= 1_000_000, 'default random start');
  t.throws(() => new SnAllocator(0), RangeError);
  t.throws(() => new SnAllocator(8, 7), RangeError);
  t.throws(() => new SnAllocator(1, 0), RangeError);
  t.throws(() => new SnAllocator(1.5), RangeError);
});

t.test('toGosipRecords skips times outside 1970–9999 instead of throwing', async (t) => {
  t.same(toGosipRecords([{ startTime: -5, endTime: 10 }, { startTime: 0, endTime: 253_402_300_799 }]), { daynum: 0, timenum: 0, list: [] });
});
