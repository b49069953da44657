import { createServer, type Server, type Socket } from 'node:net';
import { RingWriter } from '../shared/ring.js';
import type { SharedCounters } from '../shared/counters.js';
import { ingestTag, MAX_CONN_ID, type IngestKind } from '../shared/contracts/ingest-ring.js';

/**
 * The media process's TCP acceptors for JT/T 1078 (realtime and playback ports).
 * Each connection is pinned to one media worker for its life and its bytes go to
 * that worker's ring. A full ring pauses the socket (TCP backpressure reaches the
 * terminal) instead of buffering: memory stays bounded by the rings.
 */

export interface WorkerSlot {
  slot: number;
  /** Current ring writer; replaced when the worker restarts with a new ring. */
  writer: RingWriter | null;
}

interface Connection {
  socket: Socket;
  slot: number;
  kind: IngestKind;
  /** Chunks waiting for ring space, in order. */
  backlog: Buffer[];
  waiting: boolean;
}

export interface AcceptorOptions {
  host: string;
  ports: Record<IngestKind, number>;
  idleTimeoutMs: number;
  counters: SharedCounters;
  slots: WorkerSlot[];
}

export class IngestAcceptor {
  #options: AcceptorOptions;
  #servers: Server[] = [];
  #connections = new Map<number, Connection>();
  #nextConnId = 1;
  #nextSlot = 0;

  constructor(options: AcceptorOptions) {
    this.#options = options;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  connectionsOn(slot: number): number {
    let n = 0;
    for (const c of this.#connections.values()) if (c.slot === slot) n++;
    return n;
  }

  async listen(): Promise<void> {
    for (const kind of ['realtime', 'playback'] as const) {
      const server = createServer((socket) => this.#accept(socket, kind));
      server.maxConnections = 20_000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.#options.ports[kind], this.#options.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      this.#servers.push(server);
    }
  }

  #pickSlot(): number {
    const live = this.#options.slots.filter((s) => s.writer !== null);
    if (live.length === 0) return -1;
    // Fewest connections first, round-robin among equals.
    let best = live[this.#nextSlot++ % live.length]!;
    for (const s of live) if (this.connectionsOn(s.slot) < this.connectionsOn(best.slot)) best = s;
    return best.slot;
  }

  #accept(socket: Socket, kind: IngestKind): void {
    const slot = this.#pickSlot();
    if (slot < 0) {
      socket.destroy(); // no worker alive right now; the terminal retries
      return;
    }
    const connId = this.#nextConnId;
    this.#nextConnId = this.#nextConnId >= MAX_CONN_ID ? 1 : this.#nextConnId + 1;
    const conn: Connection = { socket, slot, kind, backlog: [], waiting: false };
    this.#connections.set(connId, conn);
    this.#options.counters.add('connections|jt1078');
    socket.setNoDelay(true);
    socket.setTimeout(this.#options.idleTimeoutMs, () => socket.destroy());
    socket.on('data', (chunk) => this.#forward(connId, conn, chunk));
    // A reset or a refused write: counted; 'close' follows and ends the connection in order.
    socket.on('error', () => this.#options.counters.add('socket_errors|jt1078'));
    socket.on('close', () => {
      this.#connections.delete(connId);
      this.#forward(connId, conn, EMPTY); // end marker, in order behind the data
    });
  }

  #forward(connId: number, conn: Connection, chunk: Buffer): void {
    if (conn.waiting || !this.#write(connId, conn, chunk)) {
      conn.backlog.push(chunk);
      if (!conn.waiting) {
        conn.waiting = true;
        conn.socket.pause();
        this.#options.counters.add('ring_full|ingest');
        void this.#drain(connId, conn);
      }
    }
  }

  #write(connId: number, conn: Connection, chunk: Buffer): boolean {
    const writer = this.#options.slots[conn.slot]?.writer;
    if (!writer) return true; // the worker is gone: its connections are being dropped
    return writer.tryWrite(chunk, ingestTag(connId, conn.kind));
  }

  async #drain(connId: number, conn: Connection): Promise<void> {
    while (conn.backlog.length > 0) {
      const writer = this.#options.slots[conn.slot]?.writer;
      if (!writer) {
        conn.backlog = [];
        break;
      }
      const chunk = conn.backlog[0]!;
      if (writer.tryWrite(chunk, ingestTag(connId, conn.kind))) {
        conn.backlog.shift();
        continue;
      }
      if (!(await writer.waitForSpace(chunk.length, 1000))) {
        if (writer.closed) conn.backlog = [];
      }
    }
    conn.waiting = false;
    if (!conn.socket.destroyed) conn.socket.resume();
  }

  /** Drops every connection pinned to a worker that died; terminals reconnect. */
  dropSlot(slot: number): number {
    let dropped = 0;
    for (const [connId, conn] of this.#connections) {
      if (conn.slot !== slot) continue;
      this.#connections.delete(connId);
      conn.backlog = [];
      conn.socket.destroy();
      dropped++;
    }
    return dropped;
  }

  /**
   * Closes a connection its worker saw no complete JT/T 1078 packet on for
   * jt1078.packetTimeout (slowloris, garbage). Counted as `closed|no-packet`.
   */
  closeStalled(connId: number): void {
    const conn = this.#connections.get(connId);
    if (!conn) return;
    this.#options.counters.add('closed|no-packet');
    conn.socket.destroy();
  }

  /** Closes a connection (e.g. its stream name was taken over by a newer one). */
  closeConnection(connId: number): void {
    this.#connections.get(connId)?.socket.destroy();
  }

  async close(): Promise<void> {
    for (const conn of this.#connections.values()) conn.socket.destroy();
    this.#connections.clear();
    await Promise.all(this.#servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.#servers = [];
  }
}

const EMPTY = Buffer.alloc(0);
