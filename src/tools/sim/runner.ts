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
  const host = options.host ?? '127.0.0.1';
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
  const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 5000;
  const reconnectDelayMs = options.reconnectDelayMs;
  const progressIntervalMs = options.progressIntervalMs ?? 1000;

  const plan = new ReplayPlan(source, {
    streams: streamCount,
    simBase: options.simBase,
    channel: options.channel,
    variant: options.variant,
    speed: options.speed,
  });

  const stats: SimulationStats = {
    streams: streamCount,
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

  const startedAt = performance.now();
  const deadline = durationMs === undefined ? Infinity : startedAt + durationMs;
  const wheel = new TimerWheel<SimStream>(tickMs, startedAt);
  const streams: SimStream[] = [];
  let nextProgressAt = startedAt + progressIntervalMs;
  let stopping = false;
  let resolveDone!: (value: SimulationStats) => void;
  const done = new Promise<SimulationStats>((resolve) => (resolveDone = resolve));

  for (let i = 0; i < streamCount; i++) {
    const stream: SimStream = {
      index: i,
      state: StreamState.Waiting,
      cursor: new StreamCursor(plan, i, loops),
      socket: null,
      clockStart: 0,
      failed: false,
      wheelSlot: -1,
      wheelIndex: 0,
      wheelTick: 0,
    };
    streams.push(stream);
    wheel.schedule(stream, startedAt + i * stagger);
  }

  function finishStream(stream: SimStream): void {
    if (stream.state === StreamState.Finished) return;
    wheel.remove(stream);
    const wasConnected = stream.socket !== null && stream.state !== StreamState.Connecting;
    stream.state = StreamState.Finished;
    if (stream.socket !== null) {
      stream.socket.destroy();
      stream.socket = null;
    }
    if (wasConnected) stats.connected--;
    stats.finished++;
    if (stats.finished === streamCount) complete();
  }

  /** All data written: half-close, wait for the flush, then close. */
  function closeStream(stream: SimStream): void {
    const socket = stream.socket;
    if (socket === null || stream.state === StreamState.Connecting) {
      finishStream(stream);
      return;
    }
    if (stream.state === StreamState.Closing || stream.state === StreamState.Finished) return;
    stream.state = StreamState.Closing;
    wheel.remove(stream);
    const timer = setTimeout(() => finishStream(stream), closeTimeoutMs);
    socket.once('finish', () => {
      clearTimeout(timer);
      finishStream(stream);
    });
    socket.end();
  }

  function connect(stream: SimStream): void {
    stream.state = StreamState.Connecting;
    const socket = createConnection({ host, port, noDelay: true });
    stream.socket = socket;
    socket.setTimeout(connectTimeoutMs, () => {
      socket.destroy(new Error(`connect to ${host}:${port} timed out after ${connectTimeoutMs} ms`));
    });
    socket.once('connect', () => {
      socket.setTimeout(0);
      if (stream.state !== StreamState.Connecting) return;
      stats.connected++;
      stream.state = StreamState.Streaming;
      // Continue the schedule from the next packet (no burst after a reconnect).
      const next = stream.cursor.nextSendAtMs;
      stream.clockStart = performance.now() - (next === Infinity || next === 0 ? 0 : next);
      pump(stream, performance.now());
    });
    // Whatever the gateway sends back is not needed; keep reading so it never blocks.
    socket.resume();
    socket.on('error', (error) => {
      stats.errors++;
      stream.failed = true;
      options.onStreamError?.(stream.index, error);
    });
    socket.once('close', () => {
      if (stream.socket !== socket || stream.state === StreamState.Finished) return;
      if (stream.state === StreamState.Closing) {
        finishStream(stream);
        return;
      }
      // Dropped before the end of its schedule.
      if (stream.state !== StreamState.Connecting) stats.connected--;
      stream.socket = null;
      if (reconnectDelayMs !== undefined && !stopping && !stream.cursor.done) {
        stats.reconnects++;
        stream.state = StreamState.Waiting;
        wheel.schedule(stream, performance.now() + reconnectDelayMs);
        return;
      }
      stream.state = StreamState.Closing; // so finishStream does not count it twice
      finishStream(stream);
    });
  }

  /** Write every due packet; stop at a full socket (wait for 'drain') or the next due time. */
  function pump(stream: SimStream, now: number): void {
    const socket = stream.socket;
    if (socket === null || stream.state !== StreamState.Streaming) return;
    for (;;) {
      const cursor = stream.cursor;
      if (cursor.done) {
        closeStream(stream);
        return;
      }
      const elapsed = now - stream.clockStart;
      const nextAt = cursor.nextSendAtMs;
      if (nextAt > elapsed) {
        if (stream.clockStart + nextAt >= deadline) {
          closeStream(stream);
          return;
        }
        wheel.schedule(stream, stream.clockStart + nextAt);
        return;
      }
      const batch = cursor.take(elapsed, maxBatchBytes)!;
      const late = elapsed - batch.firstSendAtMs;
      if (late > stats.maxLateMs) stats.maxLateMs = late;
      const flowing = socket.write(batch.bytes);
      stats.packetsSent += batch.packets;
      stats.framesSent += batch.frames;
      stats.bytesSent += batch.bytes.length;
      if (socket.writableLength > stats.maxQueuedBytes) stats.maxQueuedBytes = socket.writableLength;
      if (!flowing) {
        stats.stalls++;
        stream.state = StreamState.Stalled;
        socket.once('drain', () => {
          if (stream.state !== StreamState.Stalled) return;
          stream.state = StreamState.Streaming;
          pump(stream, performance.now());
        });
        return;
      }
    }
  }

  function fire(stream: SimStream): void {
    if (stopping) return;
    if (stream.state === StreamState.Waiting) connect(stream);
    else if (stream.state === StreamState.Streaming) pump(stream, performance.now());
  }

  function snapshot(now: number): SimulationStats {
    stats.elapsedMs = now - startedAt;
    return { ...stats };
  }

  function stopAll(aborted: boolean): void {
    if (stopping) return;
    stopping = true;
    stats.aborted = aborted;
    for (const stream of streams) {
      if (aborted) finishStream(stream);
      else closeStream(stream);
    }
  }

  const interval = setInterval(() => {
    const now = performance.now();
    if (now >= deadline) stopAll(false);
    else wheel.advance(now, fire);
    if (options.onProgress !== undefined && now >= nextProgressAt) {
      nextProgressAt += progressIntervalMs * Math.max(1, Math.ceil((now - nextProgressAt) / progressIntervalMs));
      options.onProgress(snapshot(now));
    }
  }, tickMs);

  const onAbort = () => stopAll(true);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) queueMicrotask(onAbort);

  let completed = false;
  function complete(): void {
    if (completed) return;
    completed = true;
    clearInterval(interval);
    options.signal?.removeEventListener('abort', onAbort);
    resolveDone(snapshot(performance.now()));
  }

  return {
    stats,
    plan,
    done,
    stop: () => stopAll(true),
  };
}
