import t from 'tap';
import fc from 'fast-check';
import { TimerWheel, type WheelEntry } from '../../../src/tools/sim/index.js';

interface Item extends WheelEntry {
  id: number;
  due: number;
}

const item = (id: number, due: number): Item => ({ id, due, wheelSlot: -1, wheelIndex: 0, wheelTick: 0 });

t.test('entries fire on the first tick at or after their due time, never early', async (t) => {
  await fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 20_000 }), { minLength: 1, maxLength: 200 }),
      fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 50 }),
      (dues, steps) => {
        const wheel = new TimerWheel<Item>(5, 0, 6); // 64 slots: dues span many turns
        const items = dues.map((due, i) => item(i, due));
        for (const it of items) wheel.schedule(it, it.due);
        const firedAt = new Map<number, number>();
        let now = 0;
        const fire = (it: Item) => {
          if (firedAt.has(it.id)) throw new Error('fired twice');
          firedAt.set(it.id, now);
        };
        for (let i = 0; now <= 25_000; i++) {
          now += steps[i % steps.length]!;
          wheel.advance(now, fire);
        }
        if (wheel.size !== 0) return false;
        return items.every((it) => {
          const at = firedAt.get(it.id);
          return at !== undefined && at >= it.due;
        });
      },
    ),
    { numRuns: 200 },
  );
});

t.test('remove and reschedule from inside fire', async (t) => {
  const wheel = new TimerWheel<Item>(5, 0);
  const a = item(1, 10);
  const b = item(2, 10);
  const c = item(3, 10);
  wheel.schedule(a, 10);
  wheel.schedule(b, 10);
  wheel.schedule(c, 10);
  wheel.remove(b);
  t.equal(wheel.size, 2);
  const fired: number[] = [];
  wheel.advance(10, (it) => {
    fired.push(it.id);
    if (it.id === 1) wheel.schedule(it, 12); // due again: next tick, not this one
  });
  t.same(fired.sort(), [1, 3]);
  wheel.advance(14, (it) => fired.push(it.id));
  t.same(fired, [1, 3], 'not before its tick');
  wheel.advance(15, (it) => fired.push(it.id));
  t.same(fired, [1, 3, 1]);
  t.equal(wheel.size, 0);
});
