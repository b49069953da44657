/**
 * Injectable time source for the SIP core.
 *
 * Why: the transaction layer is sans-I/O, so it never calls setTimeout itself.
 * Production passes {@link systemClock}; tests pass {@link FakeClock} and step
 * through RFC 3261 timers (500 ms ... 32 s) instantly and deterministically.
 * Other protocol cores (GB28181 keepalive expiry, JT/T 1078 sessions) can use
 * the same interface.
 */

export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds, monotonic enough for timer bookkeeping. */
  now(): number;
  setTimer(ms: number, fn: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** Real timers; unref'd so pending SIP timers never keep a worker alive on shutdown. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimer(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

interface FakeTimer {
  id: number;
  due: number;
  fn: () => void;
}

/** Manually advanced clock for tests. Timers due at the same instant fire in creation order. */
export class FakeClock implements Clock {
  private current: number;
  private nextId = 1;
  private timers: FakeTimer[] = [];

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer: FakeTimer = { id: this.nextId++, due: this.current + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimer(handle: TimerHandle): void {
    const i = this.timers.findIndex((t) => t.id === handle);
    if (i >= 0) this.timers.splice(i, 1);
  }

  /** Number of timers still scheduled. */
  get pending(): number {
    return this.timers.length;
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way (including ones they schedule). */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.timers) {
        if (t.due <= target && (next === undefined || t.due < next.due || (t.due === next.due && t.id < next.id))) next = t;
      }
      if (next === undefined) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.current = next.due;
      next.fn();
    }
    this.current = target;
  }

  /** Fire timers until none are left (bounded, to catch runaway rescheduling). */
  runAll(maxSteps = 10_000): void {
    for (let i = 0; i < maxSteps && this.timers.length > 0; i++) {
      const due = Math.min(...this.timers.map((t) => t.due));
      this.advance(due - this.current);
    }
  }
}
