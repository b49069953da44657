/**
 * The intercom audio port pool (jt1078.intercom.audioPorts): every port listens for
 * TCP from start-up, as in m7s, because a terminal told "talk on port P" (0x9101 data
 * type 2) connects there. camgate hands the ports out itself (`take`), one session per port.
 *
 * A connection on a port is the terminal's talk connection: its JT/T 1078 audio packets
 * (uplink) go to the session holding the port, and the session writes the browser's
 * audio to it (downlink). Nothing is queued for a port without a terminal: `write`
 * answers `no-terminal` and the caller counts the drop. A terminal that does not read
 * is dropped to: past `highWaterBytes` queued in the socket, `write` answers `slow`.
 * The newest connection on a port is the one written to; an older one is closed.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { DataType, Jt1078StreamFramer, type Jt1078Packet } from '../../protocol/jt1078/index.js';
import type { AudioJoin, AudioLeave } from '../../shared/contracts/media.js';
import { conflict, ServiceError, unavailable } from '../../shared/errors.js';

export interface TalkSink {
  /** One JT/T 1078 audio packet from the terminal (its body is only valid during the call); `arrivedAt`: performance.now() of its bytes' arrival. */
  uplink(packet: Jt1078Packet, arrivedAt: number): void;
  /** The terminal's talk connection on this port closed. */
  terminalGone(reason: string): void;
}

export interface TalkPortOptions {
  host: string;
  /** "LOW-HIGH". */
  range: string;
  /** Close a talk connection that got no downlink for this long (ms); 0: never (m7s overtime_second). */
  overtimeMs: number;
  highWaterBytes?: number;
  onJoin: (join: AudioJoin) => void;
  onLeave: (leave: AudioLeave) => void;
  onMalformed?: (bytes: number) => void;
}

interface TalkConnection {
  socket: Socket;
  port: number;
  address: string;
  startTime: number;
  lastWrite: number;
  framer: Jt1078StreamFramer;
  err: string | undefined;
}

interface TalkPort {
  port: number;
  server: Server | null;
  taken: boolean;
  sink: TalkSink | null;
  connection: TalkConnection | null;
}

export type WriteResult = 'ok' | 'no-terminal' | 'slow';

export function parsePortRange(range: string): [number, number] {
  const [low, high] = range.split('-').map(Number) as [number, number];
  return [low, high];
}

export class TalkPortPool {
  #options: TalkPortOptions;
  #ports = new Map<number, TalkPort>();
  #timer: NodeJS.Timeout | null = null;
  #highWater: number;

  constructor(options: TalkPortOptions) {
    this.#options = options;
    this.#highWater = options.highWaterBytes ?? 16_384;
    const [low, high] = parsePortRange(options.range);
    for (let port = low; port <= high; port++) this.#ports.set(port, { port, server: null, taken: false, sink: null, connection: null });
  }

  /** Binds every port; fails (and releases what it bound) if one is busy, as m7s does. */
  async listen(): Promise<void> {
    try {
      for (const entry of this.#ports.values()) {
        const server = createServer((socket) => this.#accept(entry, socket));
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(entry.port, this.#options.host, () => {
            server.off('error', reject);
            resolve();
          });
        });
        entry.server = server;
      }
    } catch (error) {
      await this.close();
      throw error;
    }
    if (this.#options.overtimeMs > 0) {
      this.#timer = setInterval(() => this.#checkOvertime(), Math.min(1000, this.#options.overtimeMs));
      this.#timer.unref();
    }
  }

  get total(): number {
    return this.#ports.size;
  }

  get inUse(): number {
    let n = 0;
    for (const p of this.#ports.values()) if (p.taken) n++;
    return n;
  }

  get connections(): number {
    let n = 0;
    for (const p of this.#ports.values()) if (p.connection) n++;
    return n;
  }

  has(port: number): boolean {
    return this.#ports.has(port);
  }

  /** Takes a named port (409 if taken, 400 if outside the pool) or the first free one (503 when none). */
  take(port: number, sink: TalkSink): number {
    let entry: TalkPort | undefined;
    if (port !== 0) {
      entry = this.#ports.get(port);
      if (!entry) throw new ServiceError(400, '1002', `audioPort: ${port} is not in jt1078.intercom.audioPorts (${this.#options.range})`);
      if (entry.taken) throw conflict(`audio port ${port} is in use by another intercom`);
    } else {
      for (const candidate of this.#ports.values()) {
        if (!candidate.taken && !candidate.connection) {
          entry = candidate;
          break;
        }
      }
      // Every free port has a (stale) terminal on it: take one of those rather than fail.
      if (!entry) for (const candidate of this.#ports.values()) if (!candidate.taken) entry = entry ?? candidate;
      if (!entry) throw unavailable(`no free audio port: all ${this.#ports.size} of jt1078.intercom.audioPorts (${this.#options.range}) are in use`);
    }
    entry.taken = true;
    entry.sink = sink;
    return entry.port;
  }

  /** Gives a port back; its terminal connection (if any) stays until the terminal closes it (after 0x9102). */
  release(port: number): void {
    const entry = this.#ports.get(port);
    if (!entry) return;
    entry.taken = false;
    entry.sink = null;
  }

  terminalConnected(port: number): boolean {
    return this.#ports.get(port)?.connection != null;
  }

  /** Downlink: one JT/T 1078 packet to the port's terminal, or why not. */
  write(port: number, packet: Uint8Array, now: number): WriteResult {
    const conn = this.#ports.get(port)?.connection;
    if (!conn || conn.socket.destroyed) return 'no-terminal';
    if (conn.socket.writableLength > this.#highWater) return 'slow';
    conn.socket.write(packet);
    conn.lastWrite = now;
    return 'ok';
  }

  #accept(entry: TalkPort, socket: Socket): void {
    const conn: TalkConnection = {
      socket,
      port: entry.port,
      address: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`,
      startTime: Date.now(),
      lastWrite: Date.now(),
      framer: new Jt1078StreamFramer(),
      err: undefined,
    };
    const previous = entry.connection;
    entry.connection = conn;
    if (previous) {
      previous.err = 'replaced by a new connection';
      previous.socket.destroy();
    }
    socket.setNoDelay(true);
    this.#options.onJoin({ port: entry.port, address: conn.address, startTime: conn.startTime });
    socket.on('data', (chunk) => this.#read(entry, conn, chunk));
    socket.on('error', (error) => {
      conn.err ??= `read err ${error.message}`;
    });
    socket.on('close', () => {
      if (entry.connection === conn) {
        entry.connection = null;
        entry.sink?.terminalGone(conn.err ?? 'terminal closed the talk connection');
      }
      const leave: AudioLeave = { port: entry.port, address: conn.address, startTime: conn.startTime, endTime: Date.now() };
      if (conn.err) leave.err = conn.err;
      this.#options.onLeave(leave);
    });
  }

  #read(entry: TalkPort, conn: TalkConnection, chunk: Buffer): void {
    const arrivedAt = performance.now();
    const { framer } = conn;
    const skippedBefore = framer.counters.resyncBytes;
    framer.push(chunk);
    for (let packet = framer.next(); packet !== null; packet = framer.next()) {
      if (packet.dataType !== DataType.Audio || entry.connection !== conn) continue;
      entry.sink?.uplink(packet, arrivedAt);
    }
    const skipped = framer.counters.resyncBytes - skippedBefore;
    if (skipped > 0) this.#options.onMalformed?.(skipped);
  }

  #checkOvertime(): void {
    const now = Date.now();
    for (const entry of this.#ports.values()) {
      const conn = entry.connection;
      if (conn && now - conn.lastWrite > this.#options.overtimeMs) {
        conn.err = `over time ${((now - conn.lastWrite) / 1000).toFixed(3)}s`;
        conn.socket.destroy();
      }
    }
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    const closing: Promise<void>[] = [];
    for (const entry of this.#ports.values()) {
      entry.connection?.socket.destroy();
      const server = entry.server;
      entry.server = null;
      if (server) closing.push(new Promise<void>((resolve) => server.close(() => resolve())));
    }
    await Promise.all(closing);
  }
}
