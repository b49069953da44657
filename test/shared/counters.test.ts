import t from 'tap';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { SharedCounters } from '../../src/shared/counters.js';
import { COUNTER_NAMES, type CountersWorkerData } from './fixtures/counters-worker.js';

t.test('named counters: add, addAt, set, get, snapshot', async (t) => {
  const c = SharedCounters.create(['rx_packets', 'rx_bytes', 'streams']);
  t.same(c.snapshot(), { rx_packets: 0, rx_bytes: 0, streams: 0 });
  c.add('rx_packets');
  c.add('rx_bytes', 1400);
  const bytes = c.indexOf('rx_bytes');
  c.addAt(bytes, 600);
  c.set('streams', 3);
  c.add('streams', -1);
  t.equal(c.get('rx_packets'), 1);
  t.equal(c.getAt(bytes), 2000);
  t.same(c.snapshot(), { rx_packets: 1, rx_bytes: 2000, streams: 2 });
  t.same(c.names, ['rx_packets', 'rx_bytes', 'streams']);
});

t.test('counters go past 2^32 without wrapping', async (t) => {
  const c = SharedCounters.create(['bytes']);
  for (let i = 0; i < 5; i++) c.add('bytes', 2 ** 31);
  t.equal(c.get('bytes'), 5 * 2 ** 31);
});

t.test('bad schemas and names are programmer errors', async (t) => {
  t.throws(() => SharedCounters.create(['a', 'a']), TypeError);
  t.throws(() => SharedCounters.create(['']), TypeError);
  const c = SharedCounters.create(['a', 'b']);
  t.throws(() => (c as SharedCounters<string>).add('nope'), RangeError);
  t.throws(() => c.addAt(2), RangeError, 'index past the schema');
  t.throws(() => c.add('a', 1.5), RangeError, 'integers only');
  t.throws(() => SharedCounters.attach(c.sab, ['b', 'a']), TypeError, 'same names, other order');
  t.throws(() => SharedCounters.attach(c.sab, ['a']), TypeError, 'fewer names');
  t.throws(() => SharedCounters.attach(new ArrayBuffer(24) as unknown as SharedArrayBuffer, ['a', 'b']), TypeError);
  const again = SharedCounters.attach(c.sab, ['a', 'b']);
  again.add('b', 7);
  t.equal(c.get('b'), 7, 'both views share the slots');
});

t.test('four workers add to the same slots concurrently; the owner reads exact totals', async (t) => {
  const counters = SharedCounters.create(COUNTER_NAMES);
  const iterations = 250_000;
  const workers = Array.from({ length: 4 }, () => {
    const data: CountersWorkerData = { sab: counters.sab, iterations };
    return new Worker(new URL('./fixtures/counters-worker.ts', import.meta.url), { workerData: data });
  });
  // Reads while the workers run never go backwards.
  let last = 0;
  let monotonic = true;
  const poll = setInterval(() => {
    const now = counters.get('rx_packets');
    if (now < last) monotonic = false;
    last = now;
  }, 1);
  await Promise.all(workers.map(async (worker) => {
    const [message] = await once(worker, 'message');
    t.equal(message, 'done');
    await once(worker, 'exit');
  }));
  clearInterval(poll);
  t.ok(monotonic, 'monotonic while being updated');
  t.same(counters.snapshot(), {
    rx_packets: 4 * iterations,
    rx_bytes: 4 * iterations * 1400,
    drops: 4 * (iterations / 100),
  });
});
