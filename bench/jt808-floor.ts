/**
 * The floor under bench:jt808's messages-per-CPU-second: a bare Node TCP server that
 * answers every chunk it reads with one fixed 0x8001 frame (no parsing, no store, no
 * threads), loaded like the fleet (N connections, each sending one small frame every
 * `periodMs`). What it burns per message is Node's own cost of one read and one write
 * on a socket on this machine; camgate's figure is printed as a ratio to it.
 *
 * Run as a child of bench/jt808.ts (`--floor-server` starts the server half).
 */
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { answerCounts, startFloorChild } from './floor-child.js';

/** A 2013-header 0x8001 to 013800000000, serial 1, answering 0x0200 serial 1, result 0. */
const ANSWER = Buffer.from('7e80010005013800000000000100010200007e', 'hex');
/** A heartbeat-sized frame (the server does not parse it: only its size matters). */
const REQUEST = Buffer.from('7e0002000001380000000000016b7e', 'hex');

function server(): void {
  let messages = 0;
  const listener = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', () => {
      messages++;
      socket.write(ANSWER);
    });
    socket.on('error', () => {});
  });
  listener.listen(0, '127.0.0.1', () => {
    const address = listener.address();
    process.send!({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  answerCounts(() => messages);
}

export interface FloorResult {
  messages: number;
  cpuS: number;
  messagesPerCpuS: number;
}

/** Connects `connections` clients to a bare answerer and measures it over `windowS` at one frame per `periodMs` per connection. */
export async function measureFloor(connections: number, periodMs: number, windowS: number): Promise<FloorResult> {
  const child = await startFloorChild<{ port: number }>(fileURLToPath(import.meta.url));
  const { port } = child.ports;
  const sockets: Socket[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    for (let i = 0; i < connections; i++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('data', () => {});
      socket.on('error', () => {});
      sockets.push(socket);
      if (i % 500 === 499) await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 2000));
    sockets.forEach((socket, i) => {
      timers.push(
        setTimeout(() => timers.push(setInterval(() => socket.write(REQUEST), periodMs)), (i / connections) * periodMs),
      );
    });
    await new Promise((r) => setTimeout(r, periodMs + 1000));
    const { count: messages, cpuS } = await child.measure(windowS);
    return { messages, cpuS, messagesPerCpuS: cpuS > 0 ? Math.round(messages / cpuS) : 0 };
  } finally {
    for (const t of timers) clearInterval(t);
    for (const s of sockets) s.destroy();
    child.kill();
  }
}

if (process.argv.includes('--floor-server')) server();
