import type { Clock, TimerHandle } from '../protocol/sip/index.js';

/**
 * A bounded, paced queue for the queries the platform sends on its own (Catalog and
 * DeviceInfo after REGISTER and every catalogInterval), so that a registration storm
 * does not become a query storm. Sans-I/O: the clock is injected.
 *
 * - at most `concurrency` queries outstanding in all and `perDevice` per device;
 * - at most `perSecond` started per second (token bucket, no burst above that);
 * - at most `backlog` waiting: beyond it a new query is dropped (the periodic
 *   catalog asks again later);
 * - a query of the same kind already waiting for the device is not queued twice;
 * - `dropDevice` forgets what a device that went away still had waiting, and frees
 *   the slots its outstanding queries held (their transactions end by themselves).
 * Devices are served round-robin, so one device with many queries cannot starve others.
 */

export interface QueryQueueOptions {
  clock: Clock;
  concurrency: number;
  perDevice: number;
  perSecond: number;
  backlog: number;
  /** Called on every change of the number waiting (for the backlog gauge). */
  onBacklog?(waiting: number): void;
}

interface Job {
  kind: string;
  run: () => Promise<unknown>;
}

interface DeviceQueue {
  waiting: Job[];
  outstanding: Set<Job>;
  ready: boolean;
}

export type EnqueueResult = 'queued' | 'duplicate' | 'backlog-full';

export class QueryQueue {
  #o: QueryQueueOptions;
  #devices = new Map<string, DeviceQueue>();
  /** Devices with waiting jobs and a free per-device slot, in service order. */
  #ready: string[] = [];
  #readyHead = 0;
  #waiting = 0;
  #outstanding = 0;
  #tokens: number;
  #refilledAt: number;
  #timer: TimerHandle | null = null;

  constructor(options: QueryQueueOptions) {
    this.#o = options;
    this.#tokens = Math.min(options.perSecond, options.concurrency);
    this.#refilledAt = options.clock.now();
  }

  get waiting(): number {
    return this.#waiting;
  }

  get outstanding(): number {
    return this.#outstanding;
  }

  enqueue(deviceId: string, kind: string, run: () => Promise<unknown>): EnqueueResult {
    let device = this.#devices.get(deviceId);
    if (device?.waiting.some((j) => j.kind === kind)) return 'duplicate';
    if (this.#waiting >= this.#o.backlog) return 'backlog-full';
    if (!device) {
      device = { waiting: [], outstanding: new Set(), ready: false };
      this.#devices.set(deviceId, device);
    }
    device.waiting.push({ kind, run });
    this.#setWaiting(this.#waiting + 1);
    this.#markReady(deviceId, device);
    this.#pump();
    return 'queued';
  }

  /** The device went away: its waiting queries are dropped (returned: how many). */
  dropDevice(deviceId: string): number {
    const device = this.#devices.get(deviceId);
    if (!device) return 0;
    this.#devices.delete(deviceId);
    this.#outstanding -= device.outstanding.size;
    this.#setWaiting(this.#waiting - device.waiting.length);
    this.#pump();
    return device.waiting.length;
  }

  #setWaiting(n: number): void {
    this.#waiting = n;
    this.#o.onBacklog?.(n);
  }

  #markReady(deviceId: string, device: DeviceQueue): void {
    if (device.ready || device.waiting.length === 0 || device.outstanding.size >= this.#o.perDevice) return;
    device.ready = true;
    this.#ready.push(deviceId);
  }

  #refill(): void {
    const now = this.#o.clock.now();
    const cap = Math.max(1, Math.min(this.#o.perSecond, this.#o.concurrency));
    this.#tokens = Math.min(cap, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#o.perSecond);
    this.#refilledAt = now;
  }

  #pump(): void {
    this.#refill();
    while (this.#outstanding < this.#o.concurrency && this.#readyHead < this.#ready.length) {
      if (this.#tokens < 1) {
        this.#wake(Math.ceil(((1 - this.#tokens) / this.#o.perSecond) * 1000));
        break;
      }
      const deviceId = this.#ready[this.#readyHead++]!;
      const device = this.#devices.get(deviceId);
      if (!device || !device.ready) continue; // dropped meanwhile
      device.ready = false;
      const job = device.waiting.shift()!;
      this.#setWaiting(this.#waiting - 1);
      this.#tokens -= 1;
      this.#start(deviceId, device, job);
      this.#markReady(deviceId, device);
    }
    if (this.#readyHead > 1024 && this.#readyHead * 2 > this.#ready.length) {
      this.#ready = this.#ready.slice(this.#readyHead);
      this.#readyHead = 0;
    }
  }

  #start(deviceId: string, device: DeviceQueue, job: Job): void {
    device.outstanding.add(job);
    this.#outstanding++;
    const settle = () => {
      // A device dropped meanwhile has already given its slots back.
      if (this.#devices.get(deviceId) !== device || !device.outstanding.delete(job)) return;
      this.#outstanding--;
      if (device.waiting.length === 0 && device.outstanding.size === 0) this.#devices.delete(deviceId);
      else this.#markReady(deviceId, device);
      this.#pump();
    };
    let running: Promise<unknown>;
    try {
      running = job.run();
    } catch {
      running = Promise.resolve();
    }
    running.then(settle, settle);
  }

  #wake(ms: number): void {
    if (this.#timer !== null) return;
    this.#timer = this.#o.clock.setTimer(Math.max(1, ms), () => {
      this.#timer = null;
      this.#pump();
    });
  }

  close(): void {
    if (this.#timer !== null) this.#o.clock.clearTimer(this.#timer);
    this.#timer = null;
    this.#devices.clear();
    this.#ready = [];
    this.#readyHead = 0;
    this.#setWaiting(0);
    this.#outstanding = 0;
  }
}
