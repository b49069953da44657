import os from 'node:os';

/** Media worker threads for `media.workers` (0 = one per core but one, at least 1). */
export function mediaWorkerCount(configured: number): number {
  return configured > 0 ? configured : Math.max(1, os.availableParallelism() - 1);
}
