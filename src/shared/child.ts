import { EventEmitter } from 'node:events';
import { fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { Channel, childEndpoint, workerEndpoint } from './channel.js';
import type { Contract, ParentChannel, PingAnswer } from './contracts/lifecycle.js';

/**
 * A supervised child: a worker thread or a forked process with a control channel.
 * It restarts the child with exponential backoff whenever it dies, unless it is being
 * stopped. Used by the supervisor (SIP thread, media process) and by the media
 * process (media workers) alike.
 */

export interface SpawnedChild<C extends Contract = Contract> {
  channel: ParentChannel<C>;
  /** Forcefully ends the child. */
  kill(): void;
  pid: number | undefined;
  /** Resolves when the child has gone, with a human reason. */
  exited: Promise<string>;
}

export type Spawner<C extends Contract = Contract> = () => SpawnedChild<C>;

export type ChildState = 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped';

export interface ChildHealth<Ping extends object = object> {
  name: string;
  state: ChildState;
  ok: boolean;
  pid?: number | undefined;
  restarts: number;
  lastExit?: string | undefined;
  /** Whatever the child put in its ping answer (elu, heap, its own children…). */
  detail?: PingAnswer & Partial<Ping>;
  error?: string;
}

export interface ManagedChildOptions<C extends Contract = Contract> {
  /** First restart delay in ms (200); doubles each time up to `maxBackoff`. */
  minBackoff?: number;
  /** Longest restart delay in ms (10,000). */
  maxBackoff?: number;
  /** A child that ran this long (ms, 30,000) is considered stable: backoff resets. */
  stableAfter?: number;
  /** How long the child may take to say `ready` (ms, 20,000). */
  readyTimeout?: number;
  /** Called with every new channel right after spawning, before init: attach request handlers here. */
  onChannel?: (channel: ParentChannel<C>) => void | Promise<void>;
}

export interface ManagedChildEvents<C extends Contract = Contract> {
  running: [channel: ParentChannel<C>];
  died: [reason: string];
  restarted: [restarts: number];
}

export class ManagedChild<C extends Contract = Contract> extends EventEmitter<ManagedChildEvents<C>> {
  readonly name: string;
  #spawn: Spawner<C>;
  #options: Required<Omit<ManagedChildOptions<C>, 'onChannel'>> & Pick<ManagedChildOptions<C>, 'onChannel'>;
  #current: SpawnedChild<C> | null = null;
  #state: ChildState = 'stopped';
  #restarts = 0;
  #failuresInRow = 0;
  #startedAt = 0;
  #lastExit: string | undefined;
  #restartTimer: NodeJS.Timeout | null = null;

  constructor(name: string, spawn: Spawner<C>, options: ManagedChildOptions<C> = {}) {
    super();
    this.name = name;
    this.#spawn = spawn;
    this.#options = {
      minBackoff: options.minBackoff ?? 200,
      maxBackoff: options.maxBackoff ?? 10_000,
      stableAfter: options.stableAfter ?? 30_000,
      readyTimeout: options.readyTimeout ?? 20_000,
      onChannel: options.onChannel,
    };
  }

  get state(): ChildState {
    return this.#state;
  }

  get restarts(): number {
    return this.#restarts;
  }

  get pid(): number | undefined {
    return this.#current?.pid;
  }

  /** The live channel, or null while the child is down. */
  get channel(): ParentChannel<C> | null {
    return this.#state === 'running' ? (this.#current?.channel ?? null) : null;
  }

  /** Starts the child and resolves once it said `ready`; rejects if the first start fails. */
  async start(): Promise<void> {
    if (this.#state !== 'stopped') throw new Error(`${this.name} already started`);
    await this.#launch();
  }

  async #launch(): Promise<void> {
    this.#state = this.#state === 'restarting' ? 'restarting' : 'starting';
    const child = this.#spawn();
    this.#current = child;
    this.#startedAt = Date.now();
    child.exited.then((reason) => this.#onExit(child, reason));
    try {
      // Handlers go on before the child can ask anything (it may, during its init).
      await this.#options.onChannel?.(child.channel);
      await waitReady(child, this.#options.readyTimeout);
    } catch (error) {
      child.kill();
      throw new Error(`${this.name} did not start: ${(error as Error).message}`);
    }
    if (this.#current !== child || (this.#state !== 'starting' && this.#state !== 'restarting')) return;
    this.#state = 'running';
    this.emit('running', child.channel);
  }

  #onExit(child: SpawnedChild<C>, reason: string): void {
    if (this.#current !== child) return;
    this.#current = null;
    this.#lastExit = reason;
    if (this.#state === 'stopping' || this.#state === 'stopped') {
      this.#state = 'stopped';
      return;
    }
    this.emit('died', reason);
    const ranFor = Date.now() - this.#startedAt;
    this.#failuresInRow = ranFor >= this.#options.stableAfter ? 0 : this.#failuresInRow + 1;
    const delay = Math.min(
      this.#options.maxBackoff,
      this.#options.minBackoff * 2 ** Math.max(0, this.#failuresInRow - 1),
    );
    this.#state = 'restarting';
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      if (this.#state !== 'restarting') return;
      this.#restarts++;
      this.#launch().then(
        () => this.emit('restarted', this.#restarts),
        () => undefined, // its exit schedules the next attempt
      );
    }, delay);
  }

  /** Asks the child to shut down cleanly, then kills it after `timeout` ms. */
  async stop(timeout = 3000): Promise<void> {
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = null;
    const child = this.#current;
    this.#state = 'stopping';
    if (!child) {
      this.#state = 'stopped';
      return;
    }
    const killer = setTimeout(() => child.kill(), timeout);
    child.channel.request('shutdown', undefined, timeout).catch(() => child.kill());
    await child.exited;
    clearTimeout(killer);
    this.#state = 'stopped';
  }

  /** Kills the child as a crash would (used by tests and the watchdog). */
  kill(): void {
    this.#current?.kill();
  }

  async health(timeout = 1000): Promise<ChildHealth<C['ping']>> {
    const base = {
      name: this.name,
      state: this.#state,
      pid: this.#current?.pid,
      restarts: this.#restarts,
      lastExit: this.#lastExit,
    };
    const channel = this.channel;
    if (!channel) return { ...base, ok: false, error: `not running (${this.#state})` };
    try {
      const detail = await channel.request('ping', undefined, timeout);
      return { ...base, ok: detail.ok !== false, detail };
    } catch (error) {
      return { ...base, ok: false, error: (error as Error).message };
    }
  }
}

/** The first request to a new child. If it cannot be built or sent, the child is useless: end it now. */
function sendInit<C extends Contract>(channel: ParentChannel<C>, init: () => C['init'] | Promise<C['init']>, name: string, kill: () => void): void {
  Promise.resolve()
    .then(init)
    .then((data) => channel.request('init', data, 30_000))
    .catch((error: Error) => {
      if (error.name === 'ChannelClosedError' && !/send failed/.test(error.message)) return; // it died by itself
      process.stderr.write(`camgate: init of ${name} failed: ${error.message}\n`);
      kill();
    });
}

function waitReady<C extends Contract>(child: SpawnedChild<C>, timeout: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready within ${timeout} ms`)), timeout);
    child.channel.once('note:ready', () => {
      clearTimeout(timer);
      resolve();
    });
    child.exited.then((reason) => {
      clearTimeout(timer);
      reject(new Error(reason));
    });
  });
}

/**
 * Spawns a worker thread running `file`. `init` (the config and whatever the child
 * needs) is its first request; the child answers `ready` once it has applied it.
 */
export function threadSpawner<C extends Contract>(file: string, init: () => C['init'] | Promise<C['init']>, name: string): Spawner<C> {
  return () => {
    const worker = new Worker(file, { name });
    const channel: ParentChannel<C> = new Channel(workerEndpoint(worker));
    sendInit(channel, init, name, () => void worker.terminate());
    const exited = new Promise<string>((resolve) => {
      let error: Error | undefined;
      worker.once('error', (e) => (error = e));
      worker.once('exit', (code) =>
        resolve(error ? `thread failed: ${error.message}` : `thread exited with code ${code}`),
      );
    });
    return {
      channel,
      pid: process.pid,
      kill: () => void worker.terminate(),
      exited,
    };
  };
}

/** Forks a Node process running `file`; `init` travels as its first request, as for threads. */
export function processSpawner<C extends Contract>(
  file: string,
  init: () => C['init'] | Promise<C['init']>,
  args: string[] = [],
  /** Where the child's log lines go (default: our stdout, so journald gets them). */
  onOutput?: (chunk: Buffer) => void,
): Spawner<C> {
  return () => {
    const child = fork(file, args, { serialization: 'advanced', stdio: ['ignore', onOutput ? 'pipe' : 'inherit', 'inherit', 'ipc'] });
    if (onOutput) child.stdout?.on('data', onOutput);
    const channel: ParentChannel<C> = new Channel(childEndpoint(child));
    sendInit(channel, init, file, () => void child.kill('SIGKILL'));
    const exited = new Promise<string>((resolve) => {
      child.once('exit', (code, signal) => resolve(`process exited (${signal ?? `code ${code}`})`));
      child.once('error', (e) => resolve(`process failed: ${e.message}`));
    });
    return {
      channel,
      pid: child.pid,
      kill: () => void child.kill('SIGKILL'),
      exited,
    };
  };
}
