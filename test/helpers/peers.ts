import type { Test } from 'tap';
import { spawnSync } from 'node:child_process';

/**
 * Real peers (sipp, ffprobe, promtool, systemd-analyze, MariaDB) are installed by
 * .ci/run. On a newcomer's machine a missing peer skips the test with the reason;
 * under CI=true it fails, so CI can never pass by skipping.
 */
export function havePeer(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** A tap test: `skip(reason)` records a skipped subtest named by the reason. */
export type SkipTarget = Pick<Test, 'skip' | 'fail'>;

/** Returns true when `command` is available; otherwise skips (or fails under CI) `t`. */
export function needPeer(t: SkipTarget, command: string, debianPackage: string): boolean {
  if (havePeer(command)) return true;
  const reason = `${command} not found (Debian package ${debianPackage}; .ci/run installs it)`;
  if (process.env.CI === 'true') t.fail(reason);
  else t.skip(reason, () => undefined);
  return false;
}
