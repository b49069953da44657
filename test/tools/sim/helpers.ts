/**
 * Test helpers for the simulator: capture paths, and a real TCP server on 127.0.0.1:0 that
 * frames what arrives with the project's Jt1078StreamFramer and records every packet with
 * its arrival time (per connection).
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Jt1078StreamFramer, type Jt1078Packet } from '../../../src/protocol/jt1078/index.js';
import { loadReplaySource, type ReplaySource } from '../../../src/tools/sim/index.js';

export const TESTDATA = new URL('../../../../shared/testdata/jt1078/', import.meta.url);
export const CAPTURES = ['data.txt', 'audio_data.txt', 'jt1078_1.txt', 'JT1078_2.txt'] as const;

const sourceCache = new Map<string, Promise<ReplaySource>>();
export function captureSource(name: string): Promise<ReplaySource> {
  let cached = sourceCache.get(name);
  if (cached === undefined) {
    cached = loadReplaySource(new URL(name, TESTDATA));
    sourceCache.set(name, cached);
  }
  return cached;
}

export interface ReceivedPacket {
  packet: Jt1078Packet;
  /** Copy of the body (the framer's view may alias a reused buffer). */
  body: Buffer;
  arrivedAt: number;
}

export interface Connection {
  socket: Socket;
  packets: ReceivedPacket[];
  framer: Jt1078StreamFramer;
  bytes: number;
  closed: Promise<void>;
}

export interface Collector {
  port: number;
  server: Server;
  connections: Connection[];
  /** Stop reading on every current and future connection (TCP backpressure builds up). */
  pause(): void;
  resume(): void;
  /** Resolves once `count` connections have closed. */
  waitClosed(count: number): Promise<void>;
  close(): Promise<void>;
}

export async function startCollector(options: { paused?: boolean } = {}): Promise<Collector> {
  const connections: Connection[] = [];
  let paused = options.paused ?? false;
  let closedCount = 0;
  const closeWaiters: Array<{ count: number; resolve: () => void }> = [];
  const server = createServer((socket) => {
    const framer = new Jt1078StreamFramer();
    let resolveClosed!: () => void;
    const connection: Connection = {
      socket,
      packets: [],
      framer,
      bytes: 0,
      closed: new Promise((resolve) => (resolveClosed = resolve)),
    };
    connections.push(connection);
    if (paused) socket.pause();
    socket.on('data', (chunk: Buffer) => {
      const arrivedAt = performance.now();
      connection.bytes += chunk.length;
      framer.push(chunk);
      for (let p = framer.next(); p !== null; p = framer.next()) {
        connection.packets.push({ packet: p, body: Buffer.from(p.body), arrivedAt });
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      resolveClosed();
      closedCount++;
      for (const waiter of closeWaiters) if (closedCount >= waiter.count) waiter.resolve();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    connections,
    pause() {
      paused = true;
      for (const c of connections) c.socket.pause();
    },
    resume() {
      paused = false;
      for (const c of connections) c.socket.resume();
    },
    waitClosed(count) {
      if (closedCount >= count) return Promise.resolve();
      return new Promise((resolve) => closeWaiters.push({ count, resolve }));
    },
    async close() {
      for (const c of connections) c.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Sequence numbers continuous mod 2^16 from the first one. */
export function sequenceGaps(packets: readonly { sequence: number }[]): number {
  let gaps = 0;
  for (let i = 1; i < packets.length; i++) {
    if (packets[i]!.sequence !== ((packets[i - 1]!.sequence + 1) & 0xffff)) gaps++;
  }
  return gaps;
}
