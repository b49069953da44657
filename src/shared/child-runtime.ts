import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort } from 'node:worker_threads';
import { Channel, portEndpoint, processEndpoint } from './channel.js';
import type { ChildChannel, Contract } from './contracts/lifecycle.js';

/**
 * The child's half of ManagedChild: answers `init`, `ping` and `shutdown` on the
 * control channel and reports its event-loop utilisation. A forked process exits
 * when its parent goes away, so a killed supervisor never leaves a media process
 * holding ports.
 */

export interface ChildHooks<C extends Contract> {
  /** Applies the init data; the child is `ready` once this resolves. */
  init(data: C['init'], channel: ChildChannel<C>): void | Promise<void>;
  /** Extra fields for the ping answer; return `ok: false` to report ill health. */
  ping?(): (C['ping'] & { ok?: boolean }) | Promise<C['ping'] & { ok?: boolean }>;
  /** Releases sockets, children and timers before the child ends. */
  shutdown?(): void | Promise<void>;
}

/** Event-loop utilisation over a rolling window (0..1), sampled on a timer. */
export class EluMeter {
  #last = performance.eventLoopUtilization();
  #value = 0;
  #timer: NodeJS.Timeout;
  constructor(windowMs = 5000) {
    this.#timer = setInterval(() => this.sample(), windowMs);
    this.#timer.unref();
  }
  sample(): number {
    const now = performance.eventLoopUtilization();
    this.#value = performance.eventLoopUtilization(now, this.#last).utilization;
    this.#last = now;
    return this.#value;
  }
  get value(): number {
    return this.#value;
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

export function runChild<C extends Contract>(hooks: ChildHooks<C>): ChildChannel<C> {
  const endpoint = isMainThread ? processEndpoint(process) : portEndpoint(parentPort!);
  const channel: ChildChannel<C> = new Channel(endpoint);
  const elu = new EluMeter();
  const exit = (code: number) => {
    elu.stop();
    // A worker's process.exit ends only that thread.
    setImmediate(() => process.exit(code));
  };

  channel.handle('init', async (data) => {
    try {
      await hooks.init(data, channel);
    } catch (error) {
      // A child that cannot apply its init is useless: end it so the parent sees it at once.
      process.stderr.write(`camgate child: init failed: ${(error as Error).message}\n`);
      exit(1);
      throw error;
    }
    channel.notify('ready');
  });
  // bench:flood --gc: live memory rather than garbage awaiting collection (node --expose-gc only).
  const gcBeforePing = process.env.CAMGATE_GC_BEFORE_PING === '1' ? (globalThis as { gc?: () => void }).gc : undefined;
  channel.handle('ping', async () => ({
    ok: true,
    elu: elu.value,
    heapUsed: (gcBeforePing?.(), process.memoryUsage().heapUsed),
    ...(await hooks.ping?.()),
  }));
  channel.handle('shutdown', async () => {
    try {
      await hooks.shutdown?.();
    } finally {
      exit(0);
    }
  });
  channel.on('close', () => {
    // Parent gone: nothing left to serve.
    if (isMainThread) {
      Promise.resolve(hooks.shutdown?.()).finally(() => exit(0));
    }
  });
  return channel;
}
