import { Counter, Gauge, type Registry } from 'prom-client';
import { systemClock, type Clock, type TimerHandle } from '../protocol/sip/clock.js';
import { StoreError } from './store/types.js';

/**
 * The supervisor's write-behind queue for state the live parts own (device presence,
 * vehicle presence, stream rows): what the SIP thread, the JT/T 808 thread and the media
 * process report is the truth, and the store is a copy of it written through this queue.
 *
 * - **Coalescing per key**: a key holds at most one pending value; a newer one is merged
 *   into it (by default it replaces it), so the latest state of a device wins and a
 *   10 k-device fleet keepaliving through a store outage costs 10 k entries, not one per
 *   keepalive. Writes of one key never overlap, so they land in the order reported.
 * - **Bounded**: at most `capacity` keys; a new key beyond it is dropped and counted
 *   (`camgate_store_writes_dropped_total{reason="full"}`). The reconciliation that runs
 *   when the store comes back repairs presence and stream rows from the live state, so
 *   a dropped write is late, not lost.
 * - **Retries**: a write that fails because the store is unavailable (StoreError
 *   "store unavailable: …", which every MySQL operation throws past `store.timeout`) puts
 *   the queue in the *down* state: its value goes back (merged under anything newer) and
 *   the queue sends one write at a time, after a backoff doubling from `retryMinMs` to
 *   `retryMaxMs`. The first write that succeeds is how "the store is back" is detected:
 *   the queue is *up* again, writes everything at `concurrency`, and calls `onUp`.
 *   Any other error (a bug, a constraint) is not retried: logged through `onError` and
 *   counted as `reason="error"`.
 */

export interface WriteBehindOptions {
  /** Keys pending at most. */
  capacity: number;
  /** First retry delay once the store failed (ms). */
  retryMinMs?: number;
  /** Longest retry delay (ms). */
  retryMaxMs?: number;
  /** Writes in flight at once while the store is up. */
  concurrency?: number;
  clock?: Clock;
  /** Which failures mean "the store is unavailable, retry"; others are dropped. */
  isOutage?(error: unknown): boolean;
  /** A write failed for good (not an outage). */
  onError?(error: unknown, key: string): void;
  /** The first outage failure after a good period. */
  onDown?(error: unknown): void;
  /** A write succeeded after an outage: the store is back (how long it was down, ms). */
  onUp?(downForMs: number): void;
  /**
   * Run by the backoff timer instead of a write when the queue is down with nothing queued
   * (it went down through `reportFailure`): resolving means the store is back.
   */
  probe?(): Promise<unknown>;
}

export type DropReason = 'full' | 'error' | 'shutdown';

interface Entry {
  value: unknown;
  write(value: unknown): Promise<void>;
  merge(older: unknown, newer: unknown): unknown;
}

interface Slot {
  pending?: Entry;
  running?: Entry;
}

/** A store failure that is an outage (retry later), not a bad request. */
export function isStoreUnavailable(error: unknown): boolean {
  return error instanceof StoreError && error.message.startsWith('store unavailable');
}

const replace = (_older: unknown, newer: unknown) => newer;

export class WriteBehind {
  readonly #o: Required<Omit<WriteBehindOptions, 'onError' | 'onDown' | 'onUp' | 'probe'>> & Pick<WriteBehindOptions, 'onError' | 'onDown' | 'onUp' | 'probe'>;
  readonly #slots = new Map<string, Slot>();
  /** Keys with a pending value and nothing running, oldest first. */
  readonly #ready = new Set<string>();
  #running = 0;
  #downSince: number | null = null;
  #backoff = 0;
  #timer: TimerHandle | null = null;
  /** The one write allowed while down is in flight. */
  #probing = false;
  /** Flushing: no new keys. */
  #draining = false;
  /** Flushed: nothing runs any more. */
  #closed = false;
  #idle: Array<() => void> = [];
  readonly stats = { written: 0, retried: 0, coalesced: 0, dropped: { full: 0, error: 0, shutdown: 0 } as Record<DropReason, number> };

  constructor(options: WriteBehindOptions) {
    this.#o = {
      retryMinMs: 250,
      retryMaxMs: 5000,
      concurrency: 4,
      clock: systemClock,
      isOutage: isStoreUnavailable,
      ...options,
    };
  }

  /** Keys waiting to be written (pending or in flight). */
  get backlog(): number {
    return this.#slots.size;
  }

  /** False from the first outage failure until a write succeeds again. */
  get up(): boolean {
    return this.#downSince === null;
  }

  /**
   * Queues `value` for `key`, to be written by `write`. A value already pending for the
   * key is merged with this one (`merge(older, newer)`, by default the newer wins).
   * False when the queue is full (or closed) and the value was dropped.
   */
  put<V>(key: string, value: V, write: (value: V) => Promise<void>, merge?: (older: V, newer: V) => V): boolean {
    const entry: Entry = {
      value,
      write: write as (value: unknown) => Promise<void>,
      merge: (merge as ((older: unknown, newer: unknown) => unknown) | undefined) ?? replace,
    };
    let slot = this.#slots.get(key);
    if (!slot) {
      if (this.#draining || this.#slots.size >= this.#o.capacity) {
        this.stats.dropped[this.#draining ? 'shutdown' : 'full']++;
        return false;
      }
      slot = {};
      this.#slots.set(key, slot);
    }
    if (slot.pending) {
      this.stats.coalesced++;
      slot.pending = { ...entry, value: entry.merge(slot.pending.value, value) };
    } else slot.pending = entry;
    if (!slot.running) this.#ready.add(key);
    if (this.#downSince !== null) this.#scheduleProbe();
    else this.#pump();
    return true;
  }

  #pump(): void {
    if (this.#downSince !== null) return; // the backoff timer sends the probe
    while (this.#running < this.#o.concurrency && this.#ready.size > 0) this.#start(this.#ready.values().next().value as string);
  }

  #start(key: string): void {
    this.#ready.delete(key);
    const slot = this.#slots.get(key);
    const entry = slot?.pending;
    if (!slot || !entry) return;
    slot.pending = undefined;
    slot.running = entry;
    this.#running++;
    let outcome: Promise<void>;
    try {
      outcome = entry.write(entry.value);
    } catch (error) {
      outcome = Promise.reject(error);
    }
    outcome.then(
      () => this.#done(key, slot, entry, null),
      (error: unknown) => this.#done(key, slot, entry, error ?? new Error('write failed')),
    );
  }

  #done(key: string, slot: Slot, entry: Entry, error: unknown): void {
    this.#running--;
    if (this.#closed) return; // flushed: counted as shutdown already
    slot.running = undefined;
    if (error === null) {
      this.stats.written++;
      this.#recovered();
    } else if (this.#o.isOutage(error)) {
      // Back in the queue, under anything that came in meanwhile.
      this.stats.retried++;
      slot.pending = slot.pending ? { ...slot.pending, value: slot.pending.merge(entry.value, slot.pending.value) } : entry;
      if (this.#downSince === null) {
        this.#downSince = this.#o.clock.now();
        this.#o.onDown?.(error);
      }
    } else {
      // Not an outage: the server answered (a constraint, a bug). Not retried; the store is up.
      this.stats.dropped.error++;
      this.#o.onError?.(error, key);
      this.#recovered();
    }
    if (slot.pending) this.#ready.add(key);
    else this.#slots.delete(key);
    if (this.#downSince !== null) {
      this.#probing = false;
      this.#scheduleProbe();
    }
    this.#pump();
    if (this.#slots.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  #recovered(): void {
    if (this.#downSince === null) return;
    const downFor = this.#o.clock.now() - this.#downSince;
    this.#downSince = null;
    this.#backoff = 0;
    if (this.#timer !== null) this.#o.clock.clearTimer(this.#timer);
    this.#timer = null;
    this.#o.onUp?.(downFor);
  }

  /** While down: one write after the backoff; its outcome decides up or down again. */
  #scheduleProbe(): void {
    if (this.#timer !== null || this.#probing || this.#running > 0 || this.#closed) return;
    this.#backoff = this.#backoff === 0 ? this.#o.retryMinMs : Math.min(this.#backoff * 2, this.#o.retryMaxMs);
    this.#timer = this.#o.clock.setTimer(this.#backoff, () => {
      this.#timer = null;
      this.#probeNow();
    });
  }

  /** The oldest pending key is tried; with none, the `probe` option. */
  #probeNow(): void {
    const key = this.#ready.values().next().value as string | undefined;
    if (key !== undefined) {
      this.#probing = true;
      this.#start(key);
      return;
    }
    const probe = this.#o.probe;
    if (!probe || this.#closed) return;
    this.#probing = true;
    probe().then(
      () => {
        this.#probing = false;
        this.#recovered();
        this.#pump();
      },
      () => {
        this.#probing = false;
        this.#scheduleProbe();
      },
    );
  }

  /**
   * A store failure seen outside the queue (a read of the live-state paths, the health
   * check): an outage puts the queue down, so the store's return is detected (by the next
   * write or the probe) and reconciled even when no write failed.
   */
  reportFailure(error: unknown): void {
    if (this.#closed || !this.#o.isOutage(error) || this.#downSince !== null) return;
    this.#downSince = this.#o.clock.now();
    this.#o.onDown?.(error);
    this.#scheduleProbe();
  }

  /** Resolves when nothing is pending or in flight. */
  idle(): Promise<void> {
    if (this.#slots.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Shutdown: takes no new keys, writes what is queued (retrying while the store is down)
   * for up to `timeoutMs`, then gives up on the rest. Returns how many keys were left unwritten.
   */
  async flush(timeoutMs: number): Promise<number> {
    this.#draining = true;
    if (this.#downSince !== null && this.#timer !== null && this.#running === 0 && this.#ready.size > 0) {
      // Try at once rather than after a long backoff.
      this.#o.clock.clearTimer(this.#timer);
      this.#timer = null;
      this.#backoff = 0;
      this.#probeNow();
    }
    let timer: TimerHandle | null = null;
    const timedOut = new Promise<void>((resolve) => (timer = this.#o.clock.setTimer(timeoutMs, resolve)));
    await Promise.race([this.idle(), timedOut]);
    if (timer !== null) this.#o.clock.clearTimer(timer);
    this.#closed = true;
    if (this.#timer !== null) this.#o.clock.clearTimer(this.#timer);
    this.#timer = null;
    const left = this.#slots.size;
    this.stats.dropped.shutdown += left;
    this.#slots.clear();
    this.#ready.clear();
    for (const resolve of this.#idle.splice(0)) resolve();
    return left;
  }
}

/**
 * A queue of its own for a component built without the supervisor's (unit tests), sized
 * from `store.queueSize` / `store.retryMax`, logging failures that are not retried.
 */
export function ownQueue(store: { queueSize: number; retryMax: number }, logger: { error(data: object, message: string): void }, what: string): WriteBehind {
  return new WriteBehind({ capacity: store.queueSize, retryMaxMs: store.retryMax, onError: (err, key) => logger.error({ err, key }, `${what} failed`) });
}

/** `camgate_store_write_backlog`, `camgate_store_up`, `camgate_store_writes_*` for one queue. */
export function registerWriteBehindMetrics(registry: Registry, queue: WriteBehind): void {
  new Gauge({
    name: 'camgate_store_write_backlog',
    help: 'Keys (devices, vehicles, streams) whose state waits in the write-behind queue for the store.',
    registers: [registry],
    collect() {
      this.set(queue.backlog);
    },
  });
  new Gauge({
    name: 'camgate_store_up',
    help: '1 while the write-behind queue finds the store writable, 0 from a failed write until a retry succeeds.',
    registers: [registry],
    collect() {
      this.set(queue.up ? 1 : 0);
    },
  });
  new Counter({
    name: 'camgate_store_writes_dropped_total',
    help: 'Write-behind values given up: full (store.queueSize keys pending), error (not an outage; logged), shutdown (unwritten when the flush bound ran out).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(queue.stats.dropped)) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'camgate_store_writes_total',
    help: 'Write-behind attempts by result: ok, retried (the store was unavailable; the value went back in the queue), coalesced (merged into a value pending for the same key).',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ result: 'ok' }, queue.stats.written);
      this.inc({ result: 'retried' }, queue.stats.retried);
      this.inc({ result: 'coalesced' }, queue.stats.coalesced);
    },
  });
}
