import t from 'tap';
import { Registry } from 'prom-client';
import { FakeClock } from '../../src/protocol/sip/clock.js';
import { StoreError } from '../../src/supervisor/store/types.js';
import { registerWriteBehindMetrics, WriteBehind } from '../../src/supervisor/write-behind.js';

/*
 * The write-behind queue (issue 11 item 3): coalescing per key (the latest state wins),
 * a bound on keys with a drop counter, retries with a doubling backoff on an injected
 * clock while the store is unavailable, "store back" on the first write that succeeds,
 * and a bounded flush at shutdown.
 */

const outage = () => new StoreError('store unavailable: timed out after 1500 ms');
/** Lets the promise callbacks of finished writes run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A fake store: records every attempt; fails with an outage while `down`. */
function fakeStore(clock: FakeClock) {
  const s = {
    down: false,
    attempts: [] as Array<{ key: string; value: unknown; at: number }>,
    rows: new Map<string, unknown>(),
    inFlight: new Map<string, number>(),
    maxInFlightPerKey: 0,
    writer(key: string) {
      return async (value: unknown) => {
        s.attempts.push({ key, value, at: clock.now() });
        const n = (s.inFlight.get(key) ?? 0) + 1;
        s.inFlight.set(key, n);
        s.maxInFlightPerKey = Math.max(s.maxInFlightPerKey, n);
        await settle();
        s.inFlight.set(key, n - 1);
        if (s.down) throw outage();
        s.rows.set(key, value);
      };
    },
  };
  return s;
}

t.test('coalescing: during an outage only the latest state of a key is kept, and written once when the store is back', async (t) => {
  const clock = new FakeClock();
  const store = fakeStore(clock);
  let ups = 0;
  const q = new WriteBehind({ capacity: 10, clock, retryMinMs: 100, retryMaxMs: 1000, onUp: () => ups++ });
  store.down = true;
  q.put('dev:1', { online: 1 }, store.writer('dev:1'));
  await settle();
  t.equal(q.up, false, 'the failed write put the queue down');
  for (let i = 0; i < 50; i++) q.put('dev:1', { online: 1, active: i }, store.writer('dev:1'));
  q.put('dev:1', { online: 0 }, store.writer('dev:1'));
  t.equal(q.backlog, 1, 'one key, one entry');
  t.equal(q.stats.coalesced, 51, 'the failed value went back, and 51 newer values merged into it');
  store.down = false;
  clock.advance(100);
  await settle();
  await settle();
  t.same(store.rows.get('dev:1'), { online: 0 }, 'the latest state won');
  t.equal(store.attempts.length, 2, 'one failed write, then one with the latest state');
  t.equal(ups, 1);
  t.equal(q.backlog, 0);
});

t.test('merge: patches of one key merge column by column; writes of one key never overlap', async (t) => {
  const clock = new FakeClock();
  const store = fakeStore(clock);
  const q = new WriteBehind({ capacity: 10, clock });
  const merge = (a: Record<string, unknown>, b: Record<string, unknown>) => ({ ...a, ...b });
  q.put('dev:1', { online: 1, source: 'a' }, store.writer('dev:1'), merge); // starts at once
  q.put('dev:1', { active: 5 }, store.writer('dev:1'), merge); // waits for the first
  q.put('dev:1', { online: 0 }, store.writer('dev:1'), merge); // merged into the waiting one
  await q.idle();
  t.equal(store.maxInFlightPerKey, 1, 'never two writes of one key at once');
  t.same(store.attempts.map((a) => a.value), [{ online: 1, source: 'a' }, { active: 5, online: 0 }]);
});

t.test('a failed value goes back under a newer one: merge(failed, newer)', async (t) => {
  const clock = new FakeClock();
  const store = fakeStore(clock);
  const q = new WriteBehind({ capacity: 10, clock, retryMinMs: 10 });
  const merge = (a: Record<string, unknown>, b: Record<string, unknown>) => ({ ...a, ...b });
  store.down = true;
  q.put('v:1', { online: 1, address: 'x' }, store.writer('v:1'), merge); // in flight, will fail
  q.put('v:1', { online: 0 }, store.writer('v:1'), merge); // arrives while it runs
  await settle();
  await settle();
  store.down = false;
  clock.advance(10);
  await q.idle();
  t.same(store.rows.get('v:1'), { online: 0, address: 'x' }, 'the newer column wins, the failed one is not lost');
});

t.test('bound: a new key beyond capacity is dropped and counted; an existing key still coalesces', async (t) => {
  const clock = new FakeClock();
  const store = fakeStore(clock);
  const q = new WriteBehind({ capacity: 2, clock });
  store.down = true;
  t.equal(q.put('a', 1, store.writer('a')), true);
  t.equal(q.put('b', 1, store.writer('b')), true);
  t.equal(q.put('c', 1, store.writer('c')), false, 'third key dropped');
  t.equal(q.put('a', 2, store.writer('a')), true, 'a pending key takes a newer value');
  t.equal(q.stats.dropped.full, 1);
  t.equal(q.backlog, 2);
  const registry = new Registry();
  registerWriteBehindMetrics(registry, q);
  const text = await registry.metrics();
  t.match(text, /camgate_store_writes_dropped_total\{reason="full"\} 1/);
  t.match(text, /camgate_store_write_backlog 2/);
  await settle();
  t.match(await registry.metrics(), /camgate_store_up 0/);
});

t.test('retry: one write at a time while down, after a backoff doubling to retryMaxMs; up on the first success', async (t) => {
  const clock = new FakeClock();
  const store = fakeStore(clock);
  const downs: unknown[] = [];
  const upsAfter: number[] = [];
  const q = new WriteBehind({ capacity: 100, clock, retryMinMs: 250, retryMaxMs: 2000, concurrency: 4, onDown: (e) => downs.push(e), onUp: (ms) => upsAfter.push(ms) });
  store.down = true;
  for (let i = 0; i < 10; i++) q.put(`k${i}`, i, store.writer(`k${i}`));
  await settle();
  await settle();
  t.equal(store.attempts.length, 4, 'the first round ran at concurrency');
  t.equal(downs.length, 1, 'onDown once');
  store.attempts.length = 0;
  // Small steps, so each write's outcome is seen before the clock moves on.
  for (let step = 0; step < 240; step++) {
    clock.advance(50);
    await settle();
    await settle();
  }
  const gaps = store.attempts.map((a, i) => a.at - (i === 0 ? 0 : store.attempts[i - 1]!.at));
  t.same(gaps, [250, 500, 1000, 2000, 2000, 2000, 2000, 2000].slice(0, gaps.length), `probes back off: ${gaps.join(', ')} ms`);
  t.ok(gaps.length >= 7, `${gaps.length} probes in 12 s`);
  t.equal(new Set(store.attempts.map((a) => a.at)).size, store.attempts.length, 'one write at a time while down');
  store.down = false;
  for (let step = 0; step < 40 && q.backlog > 0; step++) {
    clock.advance(50);
    await settle();
    await settle();
  }
  await q.idle();
  t.equal(upsAfter.length, 1, 'onUp once');
  t.ok(upsAfter[0]! >= 12_000, `down for ${upsAfter[0]} ms`);
  t.equal(store.rows.size, 10, 'every key written once the store is back');
  t.equal(q.up, true);
});

t.test('a failure that is not an outage is dropped, reported and not retried', async (t) => {
  const clock = new FakeClock();
  const errors: string[] = [];
  const q = new WriteBehind({ capacity: 10, clock, onError: (_e, key) => errors.push(key) });
  let calls = 0;
  q.put('x', 1, async () => {
    calls++;
    throw new Error('ER_DUP_ENTRY');
  });
  await q.idle();
  clock.advance(60_000);
  await settle();
  t.equal(calls, 1);
  t.same(errors, ['x']);
  t.equal(q.stats.dropped.error, 1);
  t.equal(q.up, true);
});

t.test('flush: retries while the store is down for at most the bound, then counts the rest as shutdown', async (t) => {
  const clock = new FakeClock();
  const store = fakeStore(clock);
  const q = new WriteBehind({ capacity: 10, clock, retryMinMs: 5000, retryMaxMs: 5000 });
  store.down = true;
  q.put('a', 1, store.writer('a'));
  q.put('b', 1, store.writer('b'));
  await settle();
  await settle();
  const flushed = q.flush(2000);
  t.equal(q.put('c', 1, store.writer('c')), false, 'no new keys while flushing');
  await settle();
  clock.advance(2000);
  t.equal(await flushed, 2, 'two keys left unwritten');
  t.equal(q.stats.dropped.shutdown, 3);
  t.equal(q.backlog, 0);

  const clock2 = new FakeClock();
  const store2 = fakeStore(clock2);
  const q2 = new WriteBehind({ capacity: 10, clock: clock2, retryMinMs: 5000 });
  store2.down = true;
  q2.put('a', 1, store2.writer('a'));
  await settle();
  await settle();
  store2.down = false;
  // The flush tries at once instead of waiting out the 5 s backoff.
  t.equal(await q2.flush(2000), 0, 'written during the flush');
  t.same(store2.rows.get('a'), 1);
});

t.test('reportFailure: an outage seen elsewhere puts the queue down; the probe finds the store back', async (t) => {
  const clock = new FakeClock();
  let probes = 0;
  let storeUp = false;
  const ups: number[] = [];
  const q = new WriteBehind({
    capacity: 10,
    clock,
    retryMinMs: 100,
    retryMaxMs: 400,
    onUp: (ms) => ups.push(ms),
    probe: async () => {
      probes++;
      if (!storeUp) throw outage();
    },
  });
  q.reportFailure(new Error('not a store outage'));
  t.equal(q.up, true, 'other errors do not count');
  q.reportFailure(outage());
  t.equal(q.up, false);
  for (let i = 0; i < 20; i++) {
    clock.advance(50);
    await settle();
  }
  t.equal(probes, 3, 'probed after 100, 200 and 400 ms');
  storeUp = true;
  for (let i = 0; i < 10; i++) {
    clock.advance(50);
    await settle();
  }
  t.equal(q.up, true);
  t.same(ups, [1100]);
});
