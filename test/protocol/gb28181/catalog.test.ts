import t from 'tap';
import iconv from 'iconv-lite';
import {
  CatalogAggregator,
  buildCatalogResponse,
  parseManscdp,
  type CatalogAggregatorOptions,
  type CatalogItem,
  type CatalogMessage,
  type CatalogPushOutcome,
  type CatalogResult,
} from '../../../src/protocol/gb28181/index.js';
import { ALARM_IN_ID, CAMERA_ID, DEVICE_ID, SN, sippBodies } from './fixtures/sipp-bodies.js';

function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => number } {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

function setup(options: Omit<CatalogAggregatorOptions, 'now'> = {}): { agg: CatalogAggregator; clock: ReturnType<typeof fakeClock> } {
  const clock = fakeClock();
  return { agg: new CatalogAggregator({ ...options, now: clock.now }), clock };
}

function parseCatalog(text: string): CatalogMessage {
  const r = parseManscdp(iconv.encode(text, 'gb2312'));
  if (!r.ok || r.message.kind !== 'catalog') throw new Error(r.ok ? r.message.kind : r.reason);
  return r.message;
}

const channel = (n: number): CatalogItem => ({ deviceId: `340200000013100${String(n).padStart(5, '0')}`, name: `通道${n}`, status: 'ON', statusRaw: 'ON' });

/** One Catalog Response MESSAGE carrying the given channel numbers. */
function part(numbers: number[], sumNum: number, sn = SN, deviceId = DEVICE_ID): CatalogMessage {
  return parseCatalog(buildCatalogResponse({ sn, deviceId, sumNum, items: numbers.map(channel) }));
}

function completed(outcome: CatalogPushOutcome): CatalogResult {
  if (outcome.status !== 'complete') throw new Error(`expected complete, got ${JSON.stringify(outcome)}`);
  return outcome.result;
}

t.test('sipp: two MESSAGEs with one item each complete the SumNum=2 list', async (t) => {
  const { agg, clock } = setup();
  t.ok(agg.expect(DEVICE_ID, SN));
  const [first, second] = sippBodies('gb_uas_catalog.xml').map((b) => parseCatalog(b.text));
  clock.advance(300);
  t.same(agg.push(first!), { status: 'pending', received: 1, sumNum: 2 });
  clock.advance(300);
  const result = completed(agg.push(second!));
  t.same(result.items.map((i) => [i.deviceId, i.name]), [
    [CAMERA_ID, 'sipp-camera-1'],
    [ALARM_IN_ID, 'sipp-alarm-in-1'],
  ]);
  t.same([result.deviceId, result.sn, result.sumNum, result.complete, result.reason, result.solicited, result.parts], [DEVICE_ID, SN, 2, true, 'complete', true, 2]);
  t.same([result.startedAt, result.finishedAt], [1_000_000, 1_000_600]);
  t.equal(agg.pending, 0);
  t.same(agg.tick(clock.advance(60_000)), [], 'emitted once: nothing left to time out');
});

t.test('sipp: the one-MESSAGE variant completes at once', async (t) => {
  const { agg } = setup();
  const whole = sippBodies('gb_device_ooc.xml').find((b) => b.cmdType === 'Catalog')!;
  const result = completed(agg.push(parseCatalog(whole.text)));
  t.equal(result.items.length, 2);
  t.equal(result.solicited, false, 'no expect(): unsolicited');
});

t.test('three MESSAGEs, out of order, with Chinese names', async (t) => {
  const { agg } = setup();
  agg.expect(DEVICE_ID, SN);
  t.equal(agg.push(part([3], 3)).status, 'pending');
  t.equal(agg.push(part([1], 3)).status, 'pending');
  const result = completed(agg.push(part([2], 3)));
  t.same(result.items.map((i) => i.name), ['通道3', '通道1', '通道2'], 'arrival order');
  t.equal(result.parts, 3);
});

t.test('duplicates: a retransmitted part and a repeated item count once; the later copy wins', async (t) => {
  const { agg } = setup();
  agg.expect(DEVICE_ID, SN);
  t.same(agg.push(part([1, 2], 4)), { status: 'pending', received: 2, sumNum: 4 });
  t.same(agg.push(part([1, 2], 4)), { status: 'pending', received: 2, sumNum: 4 }, 'retransmission');
  const renamed = part([3], 4);
  renamed.items.push({ ...channel(1), name: '改名', status: 'OFF', statusRaw: 'OFF' });
  t.same(agg.push(renamed), { status: 'pending', received: 3, sumNum: 4 });
  const result = completed(agg.push(part([4], 4)));
  t.same(result.items.map((i) => [i.name, i.status]), [
    ['改名', 'OFF'],
    ['通道2', 'ON'],
    ['通道3', 'ON'],
    ['通道4', 'ON'],
  ]);
  t.equal(result.parts, 4);
});

t.test('timeout with partial results; the deadline slides on progress and is capped', async (t) => {
  const { agg, clock } = setup({ idleTimeoutMs: 10_000, maxDurationMs: 25_000 });
  agg.expect(DEVICE_ID, SN);
  t.equal(agg.nextDeadline(), 1_010_000);
  clock.advance(8_000);
  agg.push(part([1], 5));
  t.equal(agg.nextDeadline(), 1_018_000, 'new items extend the deadline');
  clock.advance(8_000);
  agg.push(part([1], 5));
  t.equal(agg.nextDeadline(), 1_018_000, 'a retransmission does not');
  agg.push(part([2], 5));
  t.equal(agg.nextDeadline(), 1_025_000, 'capped at maxDurationMs after the start');
  t.same(agg.tick(1_024_999), []);
  const [result] = agg.tick(clock.advance(9_000));
  t.ok(result);
  t.same([result!.reason, result!.complete, result!.sumNum, result!.items.length, result!.finishedAt], ['timeout', false, 5, 2, 1_025_000]);
  t.equal(agg.pending, 0);
  t.equal(agg.nextDeadline(), undefined);
});

t.test('a query nobody answers times out empty; several are emitted earliest first', async (t) => {
  const { agg, clock } = setup();
  agg.expect('dev-b', 2);
  clock.advance(1_000);
  agg.expect('dev-a', 1);
  agg.expect('dev-b', 2);
  const results = agg.tick(clock.advance(20_000));
  t.same(results.map((r) => [r.deviceId, r.sn, r.items.length, r.sumNum, r.complete, r.solicited]), [
    ['dev-b', 2, 0, undefined, false, true],
    ['dev-a', 1, 0, undefined, false, true],
  ]);
});

t.test('late parts after emission are ignored; a new SN starts a new aggregation', async (t) => {
  const { agg, clock } = setup({ idleTimeoutMs: 10_000 });
  agg.expect(DEVICE_ID, SN);
  agg.push(part([1], 2));
  t.equal(agg.tick(clock.advance(10_000)).length, 1);
  t.same(agg.push(part([2], 2)), { status: 'ignored', reason: 'late' });
  t.equal(agg.pending, 0);
  t.equal(agg.push(part([2], 2, SN + 1)).status, 'pending', 'another SN is unaffected');
  clock.advance(10_001);
  agg.tick();
  t.equal(agg.push(part([2], 2)).status, 'pending', 'after the late window the key is reusable (unsolicited push)');
  t.ok(agg.expect(DEVICE_ID, SN), 'expect() of an in-progress key is accepted');
});

t.test('unsolicited catalogs and keys: the same SN from two devices are separate', async (t) => {
  const { agg } = setup();
  t.equal(agg.push(part([1], 2, 7, 'dev-a')).status, 'pending');
  t.equal(agg.push(part([1], 2, 7, 'dev-b')).status, 'pending');
  const a = completed(agg.push(part([2], 2, 7, 'dev-a')));
  t.same([a.deviceId, a.solicited, a.items.length], ['dev-a', false, 2]);
  t.equal(agg.pending, 1);
  const viaSource = agg.push(part([2], 2, 7, 'body-says-something-else'), 'dev-b');
  t.equal(completed(viaSource).deviceId, 'dev-b', 'the SIP-level source ID is the key when given');
});

t.test('SumNum edge cases', async (t) => {
  const { agg } = setup();
  const zero = completed(agg.push(part([], 0)));
  t.same([zero.items, zero.complete], [[], true], 'SumNum=0 completes at once, empty');
  const noSum = parseCatalog(buildCatalogResponse({ sn: 2, deviceId: DEVICE_ID, sumNum: 1, items: [channel(1), channel(2)] }).replace(/<SumNum>1<\/SumNum>\n/, ''));
  t.equal(noSum.sumNum, undefined);
  const r = completed(agg.push(noSum));
  t.same([r.sumNum, r.items.length, r.complete], [2, 2, true], 'no SumNum: the message is the whole list');
  const grows = setup().agg;
  grows.push(part([1], 1, 3)); // completes
  t.same(grows.push(part([1, 2], 3, 4)), { status: 'pending', received: 2, sumNum: 3 });
  t.same(grows.push(part([3], 2, 4)).status, 'complete', 'the largest SumNum seen is used');
});

t.test('caps: items per aggregation, concurrent aggregations', async (t) => {
  const { agg } = setup({ maxItems: 3, maxAggregations: 2 });
  const r = completed(agg.push(part([1, 2, 3, 4, 5], 100)));
  t.same([r.items.length, r.reason, r.complete], [3, 'item-cap', false]);
  t.ok(agg.expect('a', 1));
  t.ok(agg.expect('b', 1));
  t.notOk(agg.expect('c', 1), 'expect() refused at capacity');
  t.same(agg.push(part([1], 2, 9, 'c')), { status: 'ignored', reason: 'capacity' });
  t.equal(agg.push(part([1], 2, 1, 'a')).status, 'pending', 'existing aggregations still progress');
  t.ok(agg.cancel('a', 1));
  t.notOk(agg.cancel('a', 1));
  t.equal(agg.pending, 1);
});
