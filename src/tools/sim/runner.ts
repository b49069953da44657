/**
 * Runs a JT/T 1078 simulation: N TCP connections, each replaying one capture as its own
 * terminal (own SIM), paced by the capture's timestamps.
 *
 * Why this shape:
 *  - one interval timer drives a timing wheel for all streams (see timer-wheel.ts), so the
 *    cost is per due stream, not per packet or per timer, and 500+ streams fit on a core;
 *  - per stream and tick, every due packet goes out in one `write` (a frame's
 *    sub-packages together), keeping syscalls at about one per frame;
 *  - backpressure is obeyed: when `write` returns false the stream stops producing until
 *    'drain' (a stall is counted), so at most the socket's high-water mark plus one batch
 *    is queued per stream. After a stall the stream catches up on its schedule as fast as
 *    the socket accepts, like a terminal flushing its send buffer;
 *  - no reconnection unless asked: a gateway dropping a terminal is a test result.
 */
import { createConnection, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { loadReplaySource, ReplayPlan, StreamCursor, type ReplaySource } from './replay.js';
import { TimerWheel, type WheelEntry } from './timer-wheel.js';
import type { HeaderVariant } from '../../protocol/jt1078/index.js';

export interface SimulationOptions {
  /** Capture path/URL, its file content (hex text, CSV or raw), or an already loaded source. */
  capture: string | URL | Uint8Array | ReplaySource;
  /** Default 127.0.0.1. */
  host?: string;
  port: number;
  /** Concurrent terminals (TCP connections). Default 1. */
  streams?: number;
  /** Times each stream plays the capture; Infinity for endless. Default 1. */
  loops?: number;
  /** Stop every stream this many ms after the start (with loops, whichever ends first). */
  durationMs?: number;
  /** Decimal SIM of stream 0; stream i gets simBase + i. Default: the capture's SIM. */
  simBase?: string;
  /** Logical channel written into every packet. Default: the capture's. */
  channel?: number;
  /** Header form to send. Default: the capture's. */
  variant?: HeaderVariant;
  /** Playback speed factor. Default 1. */
  speed?: number;
  /** ms between the starts of consecutive streams (spreads connects and key frames). Default 0. */
  startStagger?: number;
  /** Timer-wheel resolution in ms. Default 5. */
  tickMs?: number;
  /** Largest single write per stream; catch-up after a stall is cut into such writes. Default 64 KiB. */
  maxBatchBytes?: number;
  /** Reconnect a dropped stream after this many ms and continue its schedule. Default off. */
  reconnectDelayMs?: number;
  /** Give up on a connect after this many ms (counted as an error). Default 5000. */
  connectTimeoutMs?: number;
  /** After the last write, wait this long for the data to flush before closing hard. Default 5000. */
  closeTimeoutMs?: number;
  signal?: AbortSignal;
  /** Called every `progressIntervalMs` (default 1000) with a snapshot. */
  onProgress?: (stats: SimulationStats) => void;
  progressIntervalMs?: number;
  /** Called for each socket error (the run goes on; errors are counted). */
  onStreamError?: (streamIndex: number, error: Error) => void;
}

export interface SimulationStats {
  streams: number;
  /** Packets handed to sockets. */
  packetsSent: number;
  bytesSent: number;
  /** Packets that completed a frame (atomic or last sub-package). */
  framesSent: number;
  /** Writes that returned false (the stream then waited for 'drain'). */
  stalls: number;
  /** Socket errors and connect timeouts. */
  errors: number;
  elapsedMs: number;
  /** Streams currently connected. */
  connected: number;
  /** Streams that finished (all loops sent, duration reached, aborted or failed). */
  finished: number;
  /** Reconnects made (only with reconnectDelayMs). */
  reconnects: number;
  /** Worst lateness of a batch against its schedule, ms (timer latency, CPU or stalls). */
  maxLateMs: number;
  /** Largest socket write queue seen right after a write, bytes (the backpressure bound). */
  maxQueuedBytes: number;
  /** True if the run was stopped by the AbortSignal. */
  aborted: boolean;
}

export interface SimulationHandle {
  /** Live counters (the same object is updated; copy it to keep a snapshot). */
  readonly stats: Readonly<SimulationStats>;
  readonly plan: ReplayPlan;
  /** Resolves when every stream has finished; never rejects for network errors. */
  readonly done: Promise<SimulationStats>;
  /** Stop every stream now (same as aborting the signal). */
  stop(): void;
}

const enum StreamState {
  Waiting,
  Connecting,
  Streaming,
  Stalled,
  Closing,
  Finished,
}

interface SimStream extends WheelEntry {
  index: number;
  state: StreamState;
  cursor: StreamCursor;
  socket: Socket | null;
  /** performance.now() at which the schedule's 0 ms lies. */
  clockStart: number;
  failed: boolean;
}

function validatePositiveInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!(Number.isInteger(value) && value >= min && value <= max)) {
    throw new RangeError(`${name}: must be an integer ${min}..${max} (got ${value})`);
  }
}

/** Load the capture, then start the simulation (sockets open on the first ticks). */
export async function startSimulation(options: SimulationOptions): Promise<SimulationHandle> {
  const capture = options.capture;
  const source =
    typeof capture === 'string' || capture instanceof URL || capture instanceof Uint8Array
      ? await loadReplaySource(capture)
      : capture;
  return startSimulationFromSource(source, options);
}

/** Run to completion and return the final counters. */
export async function runSimulation(options: SimulationOptions): Promise<SimulationStats> {
  const handle = await startSimulation(options);
  return handle.done;
}

function startSimulationFromSource(source: ReplaySource, options: SimulationOptions): SimulationHandle {
  const settings = resolveSettings(options);
  const plan = new ReplayPlan(source, {
    streams: settings.streamCount,
    simBase: options.simBase,
    channel: options.channel,
    variant: options.variant,
    speed: options.speed,
  });
  return new Simulation(plan, settings, options).start();
}

/** The options with their defaults applied, each checked once. */
interface Settings {
  host: string;
  port: number;
  streamCount: number;
  loops: number;
  durationMs: number | undefined;
  stagger: number;
  tickMs: number;
  maxBatchBytes: number;
  connectTimeoutMs: number;
  closeTimeoutMs: number;
  reconnectDelayMs: number | undefined;
  progressIntervalMs: number;
}

function resolveSettings(options: SimulationOptions): Settings {
  const port = options.port;
  validatePositiveInteger('port', port, 1, 65535);
  const streamCount = options.streams ?? 1;
  validatePositiveInteger('streams', streamCount, 1);
  const loops = options.loops ?? 1;
  if (!(loops === Infinity || (Number.isInteger(loops) && loops >= 1))) {
    throw new RangeError(`loops: must be a positive integer or Infinity (got ${loops})`);
  }
  const durationMs = options.durationMs;
  if (durationMs !== undefined && !(durationMs > 0)) throw new RangeError(`durationMs: must be positive (got ${durationMs})`);
  const stagger = options.startStagger ?? 0;
  if (!(stagger >= 0 && Number.isFinite(stagger))) throw new RangeError(`startStagger: must be >= 0 (got ${stagger})`);
  const tickMs = options.tickMs ?? 5;
  if (!(tickMs >= 1 && Number.isFinite(tickMs))) throw new RangeError(`tickMs: must be >= 1 (got ${tickMs})`);
  const maxBatchBytes = options.maxBatchBytes ?? 64 * 1024;
  validatePositiveInteger('maxBatchBytes', maxBatchBytes, 1);
  return {
    host: options.host ?? '127.0.0.1',
    port,
    streamCount,
    loops,
    durationMs,
    stagger,
    tickMs,
    maxBatchBytes,
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    closeTimeoutMs: options.closeTimeoutMs ?? 5000,
    reconnectDelayMs: options.reconnectDelayMs,
    progressIntervalMs: options.progressIntervalMs ?? 1000,
  };
}

function emptyStats(streams: number): SimulationStats {
  return {
    streams,
    packetsSent: 0,
    bytesSent: 0,
    framesSent: 0,
    stalls: 0,
    errors: 0,
    elapsedMs: 0,
    connected: 0,
    finished: 0,
    reconnects: 0,
    maxLateMs: 0,
    maxQueuedBytes: 0,
    aborted: false,
  };
}

/**
 * One run: N terminals on one timer wheel. Each stream goes Waiting → Connecting → Streaming
 * (⇄ Stalled while its socket drains) → Closing → Finished; the run is done when all are finished.
 */
class Simulation {
  readonly #plan: ReplayPlan;
  readonly #settings: Settings;
  readonly #options: SimulationOptions;
  readonly #stats: SimulationStats;
  readonly #startedAt = performance.now();
  readonly #deadline: number;
  readonly #wheel: TimerWheel<SimStream>;
  readonly #streams: SimStream[] = [];
  #nextProgressAt: number;
  #stopping = false;
  #completed = false;
  #interval: NodeJS.Timeout | undefined;
  #resolveDone!: (value: SimulationStats) => void;
  readonly #done = new Promise<SimulationStats>((resolve) => (this.#resolveDone = resolve));
  readonly #onAbort = () => this.#stopAll(true);

  constructor(plan: ReplayPlan, settings: Settings, options: SimulationOptions) {
    this.#plan = plan;
    this.#settings = settings;
    this.#options = options;
    this.#stats = emptyStats(settings.streamCount);
    this.#deadline = settings.durationMs === undefined ? Infinity : this.#startedAt + settings.durationMs;
    this.#wheel = new TimerWheel<SimStream>(settings.tickMs, this.#startedAt);
    this.#nextProgressAt = this.#startedAt + settings.progressIntervalMs;
  }

  start(): SimulationHandle {
    this.#scheduleStreams();
    this.#interval = setInterval(() => this.#tick(), this.#settings.tickMs);
    const signal = this.#options.signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    if (signal?.aborted) queueMicrotask(this.#onAbort);
    return { stats: this.#stats, plan: this.#plan, done: this.#done, stop: () => this.#stopAll(true) };
  }

  /** Every stream waits for its staggered start on the wheel. */
  #scheduleStreams(): void {
    for (let i = 0; i < this.#settings.streamCount; i++) {
      const stream: SimStream = {
        index: i,
        state: StreamState.Waiting,
        cursor: new StreamCursor(this.#plan, i, this.#settings.loops),
        socket: null,
        clockStart: 0,
        failed: false,
        wheelSlot: -1,
        wheelIndex: 0,
        wheelTick: 0,
      };
      this.#streams.push(stream);
      this.#wheel.schedule(stream, this.#startedAt + i * this.#settings.stagger);
    }
  }

  #tick(): void {
    const now = performance.now();
    if (now >= this.#deadline) this.#stopAll(false);
    else this.#wheel.advance(now, (stream) => this.#fire(stream));
    this.#reportProgress(now);
  }

  #reportProgress(now: number): void {
    const { onProgress } = this.#options;
    if (onProgress === undefined || now < this.#nextProgressAt) return;
    const interval = this.#settings.progressIntervalMs;
    this.#nextProgressAt += interval * Math.max(1, Math.ceil((now - this.#nextProgressAt) / interval));
    onProgress(this.#snapshot(now));
  }

  #fire(stream: SimStream): void {
    if (this.#stopping) return;
    if (stream.state === StreamState.Waiting) this.#connect(stream);
    else if (stream.state === StreamState.Streaming) this.#pump(stream, performance.now());
  }

  #connect(stream: SimStream): void {
    const { host, port, connectTimeoutMs } = this.#settings;
    stream.state = StreamState.Connecting;
    const socket = createConnection({ host, port, noDelay: true });
    stream.socket = socket;
    socket.setTimeout(connectTimeoutMs, () => {
      socket.destroy(new Error(`connect to ${host}:${port} timed out after ${connectTimeoutMs} ms`));
    });
    socket.once('connect', () => this.#onConnected(stream, socket));
    // Whatever the gateway sends back is not needed; keep reading so it never blocks.
    socket.resume();
    socket.on('error', (error) => {
      this.#stats.errors++;
      stream.failed = true;
      this.#options.onStreamError?.(stream.index, error);
    });
    socket.once('close', () => this.#onSocketClosed(stream, socket));
  }

  #onConnected(stream: SimStream, socket: Socket): void {
    socket.setTimeout(0);
    if (stream.state !== StreamState.Connecting) return;
    this.#stats.connected++;
    stream.state = StreamState.Streaming;
    // Continue the schedule from the next packet (no burst after a reconnect).
    const next = stream.cursor.nextSendAtMs;
    stream.clockStart = performance.now() - (next === Infinity || next === 0 ? 0 : next);
    this.#pump(stream, performance.now());
  }

  #onSocketClosed(stream: SimStream, socket: Socket): void {
    if (stream.socket !== socket || stream.state === StreamState.Finished) return;
    if (stream.state === StreamState.Closing) {
      this.#finishStream(stream);
      return;
    }
    // Dropped before the end of its schedule.
    if (stream.state !== StreamState.Connecting) this.#stats.connected--;
    stream.socket = null;
    const { reconnectDelayMs } = this.#settings;
    if (reconnectDelayMs !== undefined && !this.#stopping && !stream.cursor.done) {
      this.#stats.reconnects++;
      stream.state = StreamState.Waiting;
      this.#wheel.schedule(stream, performance.now() + reconnectDelayMs);
      return;
    }
    stream.state = StreamState.Closing; // so finishStream does not count it twice
    this.#finishStream(stream);
  }

  /** Write every due packet; stop at a full socket (wait for 'drain') or the next due time. */
  #pump(stream: SimStream, now: number): void {
    const socket = stream.socket;
    if (socket === null || stream.state !== StreamState.Streaming) return;
    for (;;) {
      const cursor = stream.cursor;
      if (cursor.done) {
        this.#closeStream(stream);
        return;
      }
      const elapsed = now - stream.clockStart;
      const nextAt = cursor.nextSendAtMs;
      if (nextAt > elapsed) {
        if (stream.clockStart + nextAt >= this.#deadline) this.#closeStream(stream);
        else this.#wheel.schedule(stream, stream.clockStart + nextAt);
        return;
      }
      if (!this.#writeDue(stream, socket, elapsed)) {
        this.#waitForDrain(stream, socket);
        return;
      }
    }
  }

  /** Writes the packets due by `elapsed`; false when the socket asks to wait. */
  #writeDue(stream: SimStream, socket: Socket, elapsed: number): boolean {
    const stats = this.#stats;
    const batch = stream.cursor.take(elapsed, this.#settings.maxBatchBytes)!;
    const late = elapsed - batch.firstSendAtMs;
    if (late > stats.maxLateMs) stats.maxLateMs = late;
    const flowing = socket.write(batch.bytes);
    stats.packetsSent += batch.packets;
    stats.framesSent += batch.frames;
    stats.bytesSent += batch.bytes.length;
    if (socket.writableLength > stats.maxQueuedBytes) stats.maxQueuedBytes = socket.writableLength;
    return flowing;
  }

  #waitForDrain(stream: SimStream, socket: Socket): void {
    this.#stats.stalls++;
    stream.state = StreamState.Stalled;
    socket.once('drain', () => {
      if (stream.state !== StreamState.Stalled) return;
      stream.state = StreamState.Streaming;
      this.#pump(stream, performance.now());
    });
  }

  /** All data written: half-close, wait for the flush, then close. */
  #closeStream(stream: SimStream): void {
    const socket = stream.socket;
    if (socket === null || stream.state === StreamState.Connecting) {
      this.#finishStream(stream);
      return;
    }
    if (stream.state === StreamState.Closing || stream.state === StreamState.Finished) return;
    stream.state = StreamState.Closing;
    this.#wheel.remove(stream);
    const timer = setTimeout(() => this.#finishStream(stream), this.#settings.closeTimeoutMs);
    socket.once('finish', () => {
      clearTimeout(timer);
      this.#finishStream(stream);
    });
    socket.end();
  }

  #finishStream(stream: SimStream): void {
    if (stream.state === StreamState.Finished) return;
    this.#wheel.remove(stream);
    const wasConnected = stream.socket !== null && stream.state !== StreamState.Connecting;
    stream.state = StreamState.Finished;
    if (stream.socket !== null) {
      stream.socket.destroy();
      stream.socket = null;
    }
    if (wasConnected) this.#stats.connected--;
    this.#stats.finished++;
    if (this.#stats.finished === this.#settings.streamCount) this.#complete();
  }

  #stopAll(aborted: boolean): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#stats.aborted = aborted;
    for (const stream of this.#streams) {
      if (aborted) this.#finishStream(stream);
      else this.#closeStream(stream);
    }
  }

  #complete(): void {
    if (this.#completed) return;
    this.#completed = true;
    clearInterval(this.#interval);
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    this.#resolveDone(this.#snapshot(performance.now()));
  }

  #snapshot(now: number): SimulationStats {
    this.#stats.elapsedMs = now - this.#startedAt;
    return { ...this.#stats };
  }
}
