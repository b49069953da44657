/**
 * The media process (DESIGN.md §1): forked by the supervisor, it owns the TCP
 * acceptors and supervises its media worker threads, restarting any that dies.
 */
import os from 'node:os';
import { runChild } from '../src/shared/child-runtime.js';
import { ManagedChild, threadSpawner } from '../src/shared/child.js';
import { entryPath } from '../src/shared/entry.js';
import type { CamgateConfig } from '../src/supervisor/config.js';

// Only the supervisor decides when the data plane stops; a terminal's Ctrl-C or a
// stray SIGTERM to the group must not beat the ordered shutdown.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);

export function mediaWorkerCount(configured: number): number {
  return configured > 0 ? configured : Math.max(1, os.availableParallelism() - 1);
}

const workers: ManagedChild[] = [];

const channel = runChild<{ config: CamgateConfig }>({
  async init({ config }) {
    const count = mediaWorkerCount(config.media.workers);
    for (let slot = 0; slot < count; slot++) {
      const worker = new ManagedChild(
        `media-worker-${slot}`,
        threadSpawner(entryPath('media-worker'), () => ({ slot }), `media-worker-${slot}`),
      );
      worker.on('died', (reason) => channel.notify('worker.died', { slot, reason }));
      worker.on('restarted', (restarts) => channel.notify('worker.restarted', { slot, restarts }));
      workers.push(worker);
    }
    await Promise.all(workers.map((w) => w.start()));
  },
  async ping() {
    const states = await Promise.all(workers.map((w) => w.health(500)));
    return { role: 'media', ok: states.every((s) => s.ok), workers: states };
  },
  async shutdown() {
    await Promise.all(workers.map((w) => w.stop(2000)));
  },
});
