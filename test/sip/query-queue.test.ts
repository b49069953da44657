import t from 'tap';
import { FakeClock } from '../../src/protocol/sip/index.js';
import { QueryQueue } from '../../src/sip/query-queue.js';

/** A queue whose jobs stay outstanding until answered by hand. */
function rig(options: { concurrency: number; perDevice: number; perSecond: number; backlog: number }) {
  const clock = new FakeClock(0);
  const backlog: number[] = [];
  const queue = new QueryQueue({ clock, ...options, onBacklog: (n) => backlog.push(n) });
  const started: Array<{ device: string; kind: string; at: number; answer: () => void }> = [];
  const add = (device: string, kind: string) =>
    queue.enqueue(device, kind, () => new Promise<void>((resolve) => started.push({ device, kind, at: clock.now(), answer: resolve })));
  const tick = () => new Promise((r) => setImmediate(r));
  return { clock, queue, started, add, tick, backlog };
}

t.test('a registration storm: at most K outstanding, paced per second, one per device', async (t) => {
  const r = rig({ concurrency: 10, perDevice: 1, perSecond: 20, backlog: 10_000 });
  const results = new Set<string>();
  for (let d = 0; d < 1000; d++) {
    results.add(r.add(`dev${d}`, 'Catalog'));
    results.add(r.add(`dev${d}`, 'DeviceInfo'));
  }
  t.same([...results], ['queued']);
  t.equal(r.started.length, 10, 'only K start at once');
  t.equal(r.queue.waiting, 1990);
  t.equal(r.backlog.at(-1), 1990, 'backlog reported');
  t.equal(r.add('dev0', 'DeviceInfo'), 'duplicate', 'the same query is not queued twice');

  // Answer everything as it starts, for 5 s: the rate limit, not K, bounds the flow.
  const answered: Array<{ device: string; at: number }> = [];
  let maxOutstanding = 0;
  for (let ms = 0; ms < 5000; ms += 50) {
    maxOutstanding = Math.max(maxOutstanding, r.queue.outstanding);
    for (const s of r.started.splice(0)) {
      s.answer();
      answered.push(s);
    }
    await r.tick();
    r.clock.advance(50);
  }
  t.ok(maxOutstanding <= 10, `outstanding at most K (${maxOutstanding})`);
  t.ok(answered.length >= 100 && answered.length <= 111, `about 20/s started over 5 s: ${answered.length}`);
  const lastSecond = answered.filter((s) => s.at >= 4000).length;
  t.ok(lastSecond <= 21, `paced: ${lastSecond} in the last second`);
  r.queue.close();
});

t.test('unanswered queries hold their slot; a device that goes away frees its slots and queue', async (t) => {
  const r = rig({ concurrency: 3, perDevice: 1, perSecond: 1000, backlog: 100 });
  for (const d of ['a', 'b', 'c', 'd']) {
    r.add(d, 'Catalog');
    r.add(d, 'DeviceInfo');
  }
  t.same(r.started.map((s) => s.device), ['a', 'b', 'c']);
  r.clock.advance(10_000);
  await r.tick();
  t.equal(r.started.length, 3, 'nothing more while K are outstanding');
  t.equal(r.queue.dropDevice('a'), 1, "a's DeviceInfo dropped");
  t.same(r.started.map((s) => s.device), ['a', 'b', 'c', 'd'], 'its slot went to the next device');
  t.equal(r.queue.waiting, 3);
  r.started[1]!.answer(); // b's Catalog answered: b's DeviceInfo may go
  await r.tick();
  t.same(r.started.slice(4).map((s) => `${s.device}:${s.kind}`), ['b:DeviceInfo']);
  r.started[0]!.answer(); // a's late answer changes nothing
  await r.tick();
  t.equal(r.queue.outstanding, 3);
  r.queue.close();
});

t.test('beyond the backlog new queries are dropped', async (t) => {
  const r = rig({ concurrency: 1, perDevice: 1, perSecond: 1, backlog: 5 });
  const results = Array.from({ length: 8 }, (_, i) => r.add(`d${i}`, 'Catalog'));
  t.same(results, ['queued', 'queued', 'queued', 'queued', 'queued', 'queued', 'backlog-full', 'backlog-full']);
  t.equal(r.queue.waiting, 5);
  r.queue.close();
});
