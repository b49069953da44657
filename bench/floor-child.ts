/**
 * The process plumbing the bare-Node floors share (bench/jt808-floor.ts,
 * bench/intercom-floor.ts): the floor server runs in a child forked with
 * `--floor-server`, sends its ports once listening, then answers each `count` with the work
 * it has done so far and its CPU seconds; the parent reads both before and after a window.
 */
import { fork, type ChildProcess } from 'node:child_process';

interface Counted {
  count: number;
  cpuS: number;
}

/** In the floor server: answers every `count` message with `count()` and this process's CPU time. */
export function answerCounts(count: () => number): void {
  process.on('message', () => {
    const cpu = process.cpuUsage();
    process.send!({ count: count(), cpuS: (cpu.user + cpu.system) / 1e6 } satisfies Counted);
  });
}

export interface FloorChild<Ports> {
  ports: Ports;
  /** The work done and the CPU seconds spent over the next `windowS`. */
  measure(windowS: number): Promise<Counted>;
  kill(): void;
}

/** Forks `entry --floor-server` and waits for the ports it listens on. */
export async function startFloorChild<Ports>(entry: string): Promise<FloorChild<Ports>> {
  const child: ChildProcess = fork(entry, ['--floor-server'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const next = <T>() => new Promise<T>((resolve) => child.once('message', (m) => resolve(m as T)));
  const ports = await next<Ports>();
  return {
    ports,
    async measure(windowS) {
      child.send('count');
      const a = await next<Counted>();
      await new Promise((r) => setTimeout(r, windowS * 1000));
      child.send('count');
      const b = await next<Counted>();
      return { count: b.count - a.count, cpuS: b.cpuS - a.cpuS };
    },
    kill: () => child.kill(),
  };
}
