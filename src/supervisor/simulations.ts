/**
 * m7s-jt1078's `simulations` (reference/jt1078.md §3.8): captures replayed into a JT/T 1078
 * port from start-up, for demos and soak runs without a vehicle. m7s writes 1,023-byte
 * chunks every 50 ms whatever the file's bitrate; here each entry is replayed by the
 * simulator (`sim jt1078`, src/tools/sim) paced by the packets' own timestamps, looping
 * until stopped, SIM and channel rewritten when the entry names them. Each entry runs as a
 * child process of the supervisor, so an unreadable or malformed file costs that child, not
 * the appliance; a child that exits is started again after a back-off.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Jt1078Simulation } from '../shared/config/config.js';

/** m7s starts its simulations 3 s after the plugin. */
const DEFAULT_DELAY_MS = 3000;
const FIRST_RESTART_MS = 5000;
const MAX_RESTART_MS = 60_000;

/** The compiled simulator CLI (dist/src/tools/sim-cli.js), also when this module runs from src/ under a TS loader. */
function simulatorCli(): string {
  const beside = fileURLToPath(new URL('../tools/sim-cli.js', import.meta.url));
  return existsSync(beside) ? beside : beside.replace(/\/src\/tools\//, '/dist/src/tools/');
}

/** `sim jt1078` arguments for one entry; `addr` is host:port (IPv6 in brackets). */
export function simulationArgs(entry: Jt1078Simulation): string[] {
  const at = entry.addr.lastIndexOf(':');
  const host = entry.addr.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const args = ['jt1078', '--capture', entry.name, '--host', host, '--port', entry.addr.slice(at + 1), '--loops', 'inf', '--reconnect', '3000', '--quiet'];
  if (entry.sim) args.push('--sim-base', entry.sim);
  if (entry.channel) args.push('--channel', String(entry.channel));
  return args;
}

interface Running {
  entry: Jt1078Simulation;
  child: ChildProcess | null;
  restartMs: number;
  timer: NodeJS.Timeout | null;
  starts: number;
}

export class Simulations {
  readonly #entries: Running[];
  readonly #log: Logger;
  readonly #delayMs: number;
  readonly #cli: string;
  #stopped = false;
  #startTimer: NodeJS.Timeout | null = null;

  constructor(entries: readonly Jt1078Simulation[], logger: Logger, options: { delayMs?: number; cli?: string } = {}) {
    this.#entries = entries.map((entry) => ({ entry, child: null, restartMs: FIRST_RESTART_MS, timer: null, starts: 0 }));
    this.#log = logger;
    this.#delayMs = options.delayMs ?? DEFAULT_DELAY_MS;
    this.#cli = options.cli ?? simulatorCli();
  }

  /** Starts every entry after the delay m7s uses. */
  start(): void {
    if (this.#entries.length === 0) return;
    this.#startTimer = setTimeout(() => {
      for (const running of this.#entries) this.#spawn(running);
    }, this.#delayMs);
  }

  #spawn(running: Running): void {
    if (this.#stopped) return;
    const { entry } = running;
    running.starts++;
    const child = spawn(process.execPath, [this.#cli, ...simulationArgs(entry)], { stdio: ['ignore', 'ignore', 'pipe'] });
    running.child = child;
    let lastError = '';
    child.stderr!.on('data', (chunk: Buffer) => (lastError = chunk.toString('utf8').trim().split('\n').pop() ?? lastError));
    this.#log.info({ name: entry.name, addr: entry.addr, sim: entry.sim, channel: entry.channel, pid: child.pid, starts: running.starts }, 'simulation started');
    const startedAt = Date.now();
    child.once('exit', (code, signal) => {
      running.child = null;
      if (this.#stopped) return;
      // A replay that ran a while is restarted at once; one that keeps failing backs off.
      running.restartMs = Date.now() - startedAt > MAX_RESTART_MS ? FIRST_RESTART_MS : Math.min(MAX_RESTART_MS, running.restartMs * 2);
      this.#log.warn({ name: entry.name, addr: entry.addr, code, signal, err: lastError || undefined, retryInMs: running.restartMs }, 'simulation ended; restarting');
      running.timer = setTimeout(() => this.#spawn(running), running.restartMs);
    });
  }

  /** Ends every replay (SIGTERM, SIGKILL after `graceMs`). */
  async stop(graceMs = 2000): Promise<void> {
    this.#stopped = true;
    if (this.#startTimer) clearTimeout(this.#startTimer);
    await Promise.all(
      this.#entries.map(async (running) => {
        if (running.timer) clearTimeout(running.timer);
        const child = running.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
