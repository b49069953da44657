/**
 * Shared pieces of the benchmarks: start the compiled appliance, measure the CPU of
 * a process tree from /proc, percentiles, and the JSON result file. Benchmarks are
 * not tests: they print figures (and ratios against a baseline run in the same
 * process tree where one exists) and never assert timing.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

export const repoRoot = new URL('../../', import.meta.url).pathname.replace(/dist\/$/, '');
const CLK_TCK = 100;

export { freePort, loopbackMediaConfig } from '../src/tools/loopback.js';
import { freePort } from '../src/tools/loopback.js';

/** CPU seconds (user + system) used so far by `pid` and all its descendants. */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks / CLK_TCK;
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry), ...descendants(Number(entry)));
    } catch {
      // gone
    }
  }
  return out;
}

/** Resident set size of a process tree, bytes. */
export function treeRssBytes(pid: number): number {
  let pages = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      pages += Number(readFileSync(`/proc/${p}/statm`, 'utf8').split(' ')[1]);
    } catch {
      // gone
    }
  }
  return pages * 4096;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export interface RunningAppliance {
  process: ChildProcess;
  api: string;
  sipPort: number;
  dir: string;
  stop(): Promise<void>;
}

export async function startAppliance(config: Record<string, any>): Promise<RunningAppliance> {
  const dir = mkdtempSync(join(os.tmpdir(), 'camgate-bench-'));
  const apiPort = await freePort();
  const sipPort = await freePort();
  const full = {
    ...config,
    api: { host: '127.0.0.1', port: apiPort, ...(config.api ?? {}) },
    sip: { host: '127.0.0.1', port: sipPort, ...(config.sip ?? {}) },
    store: { url: `sqlite:${join(dir, 'camgate.db')}`, ...(config.store ?? {}) },
    log: { level: 'warn', ...(config.log ?? {}) },
    media: { httpPort: await freePort(), ...(config.media ?? {}) },
    jt1078: {
      host: '127.0.0.1',
      ...(config.jt1078 ?? {}),
      realtime: { port: await freePort(), ...(config.jt1078?.realtime ?? {}) },
      playback: { port: await freePort(), ...(config.jt1078?.playback ?? {}) },
    },
    // Its own JT/T 808 port, so benchmarks never collide on the default 12001.
    jt808: { host: '127.0.0.1', port: await freePort(), ...(config.jt808 ?? {}) },
  };
  writeFileSync(join(dir, 'camgate.yaml'), stringify(full));
  const profile = process.env.CAMGATE_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CAMGATE_PROFILE_DIR}`] : [];
  // bench:flood --gc: every thread collects garbage before it reports its heap.
  const gc = process.env.CAMGATE_GC_BEFORE_PING === '1' ? ['--expose-gc'] : [];
  const child = spawn(process.execPath, [...profile, ...gc, join(repoRoot, 'dist/workers/supervisor.js'), '--config', join(dir, 'camgate.yaml')], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const api = `http://127.0.0.1:${apiPort}`;
  const until = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(`${api}/healthz`)).status === 200) break;
    } catch {
      // not yet
    }
    if (Date.now() > until) throw new Error('appliance did not become healthy');
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    process: child,
    api,
    sipPort,
    dir,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export function machine() {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    kernel: os.release(),
    node: process.version,
    commit: commit(),
  };
}

/** Writes bench/results/<name>-<timestamp>.json and returns its path. */
export function writeResult(name: string, result: Record<string, unknown>): string {
  const dir = join(repoRoot, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ benchmark: name, date: new Date().toISOString(), machine: machine(), ...result }, null, 2));
  return file;
}

export function table(rows: Array<Record<string, string | number>>): string {
  const keys = Object.keys(rows[0] ?? {});
  const cells = [keys, ...rows.map((r) => keys.map((k) => String(r[k])))];
  const widths = keys.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells.map((c) => c.map((v, i) => v.padStart(widths[i]!)).join('  ')).join('\n');
}

export const quick = process.argv.includes('--quick');

const nativeDir = join(repoRoot, 'native-bench/build');

/**
 * Starts a native-bench program and resolves once it has bound (it prints
 * `listening on IP:PORT` on stderr); `result` is its JSON line at exit.
 */
export function startNativeTool(tool: string, args: string[]): Promise<{ child: ChildProcess; port: number; result: Promise<any> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(nativeDir, tool), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    const result = new Promise<any>((r) => child.once('exit', () => r(JSON.parse(out.trim().split('\n').pop() || '{}'))));
    child.stderr!.on('data', (d) => {
      err += d;
      const m = /listening on [\d.]+:(\d+)/.exec(err);
      if (m) resolve({ child, port: Number(m[1]), result });
    });
    child.once('exit', (code) => reject(new Error(`${tool} exited ${code}: ${err}`)));
  });
}

/**
 * Issue 17 item 5: the cost per unit at about 10 %, 50 % and 100 % of the load a benchmark
 * reached (the steps nearest those shares of its top clean step), and the top's ratio to
 * the 10 % point: well above 1 is a cost that grows with the load (a per-stream timer, an
 * O(n) scan), not a per-unit one.
 */
export function scalingLine(what: string, points: Array<{ load: number; cost: number }>, unit: string): string {
  const clean = points.filter((p) => Number.isFinite(p.cost) && p.cost > 0);
  if (clean.length < 2) return `scaling of ${what}: fewer than two steps, no curve`;
  const top = clean.reduce((a, b) => (b.load > a.load ? b : a));
  const near = (share: number) => clean.reduce((a, b) => (Math.abs(b.load - share * top.load) < Math.abs(a.load - share * top.load) ? b : a));
  const at = [near(0.1), near(0.5), top];
  const shown = at.map((p) => `${p.cost.toFixed(p.cost < 10 ? 3 : 1)} at ${p.load}`).join(' / ');
  return `scaling of ${what} (cost per unit at ~10 % / 50 % / 100 % of the top load): ${shown} ${unit}; top ÷ 10 % = ${(top.cost / at[0]!.cost).toFixed(2)}`;
}
