import t from 'tap';
import { FakeClock, systemClock } from '../../../src/protocol/sip/clock.js';

t.test('FakeClock fires timers in due order, including ones scheduled while advancing', async (t) => {
  const clock = new FakeClock(1000);
  const fired: Array<[string, number]> = [];
  clock.setTimer(300, () => fired.push(['b', clock.now()]));
  clock.setTimer(100, () => {
    fired.push(['a', clock.now()]);
    clock.setTimer(50, () => fired.push(['a2', clock.now()]));
  });
  const cancelled = clock.setTimer(200, () => fired.push(['never', clock.now()]));
  clock.clearTimer(cancelled);
  clock.setTimer(300, () => fired.push(['c', clock.now()]));
  clock.advance(299);
  t.same(fired, [['a', 1100], ['a2', 1150]]);
  t.equal(clock.now(), 1299);
  clock.advance(1);
  t.same(fired.slice(2), [['b', 1300], ['c', 1300]], 'same instant: creation order');
  t.equal(clock.pending, 0);
  clock.setTimer(10_000, () => fired.push(['late', clock.now()]));
  clock.runAll();
  t.same(fired.at(-1), ['late', 11_300]);
});

t.test('systemClock timers fire and can be cleared', async (t) => {
  // systemClock unrefs its timers; keep the loop alive for the test.
  const keepAlive = setTimeout(() => {}, 5_000);
  t.teardown(() => clearTimeout(keepAlive));
  const start = systemClock.now();
  await new Promise<void>((resolve) => systemClock.setTimer(5, resolve));
  t.ok(systemClock.now() - start >= 4);
  let ran = false;
  const handle = systemClock.setTimer(5, () => (ran = true));
  systemClock.clearTimer(handle);
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.notOk(ran);
});
