/**
 * Piscina task file (../shared/DESIGN.md §1): bounded CPU jobs, one run() per job, such as
 * MANSCDP XML decoding and catalog diffs. Jobs are plain objects tagged by `kind`.
 */
import { threadId } from 'node:worker_threads';

export interface PingJob {
  kind: 'ping';
}
export type CpuJob = PingJob;

export default function run(job: CpuJob): unknown {
  switch (job.kind) {
    case 'ping':
      return { ok: true, threadId };
    default:
      throw new TypeError(`unknown job kind ${(job as { kind: string }).kind}`);
  }
}
