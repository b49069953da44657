/**
 * The floor under bench:intercom's CPU per session: a bare Node relay between N UDP peers
 * (the browsers' side, one shared UDP socket as camgate's WebRTC mux) and N TCP
 * connections (the terminals' talk connections), loaded as the benchmark loads camgate —
 * one packet each way every 20 ms per session, of the sizes the real ones have. It only
 * moves bytes: no ICE/DTLS/SRTP, no RTP or JT/T 1078 parsing, no counters. What it burns
 * per packet is Node's own cost of one datagram and one TCP write (or read) on this
 * machine; camgate's figure is printed as a ratio to it.
 *
 * Run as a child of bench/intercom.ts (`--floor-server` starts the relay half).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { answerCounts, startFloorChild } from './floor-child.js';

/** An SRTP packet of 20 ms PCMA: 12-byte header, 160 bytes, 16-byte GCM tag. */
const DATAGRAM = Buffer.alloc(12 + 160 + 16, 0x55);
/** A JT/T 1078 audio packet of 20 ms PCMA: 26-byte header (audio has no frame intervals), 160 bytes. */
const TALK_PACKET = Buffer.alloc(26 + 160, 0x33);

function server(): void {
  let down = 0;
  let up = 0;
  const udp = createSocket('udp4');
  const talkByUdpPort = new Map<number, Socket>();
  const listener = createServer((socket) => {
    socket.setNoDelay(true);
    let peerPort = 0;
    socket.on('data', (chunk) => {
      // The first two bytes name the connection's UDP peer; every later chunk is its audio.
      if (peerPort === 0) {
        peerPort = chunk.readUInt16BE(0);
        talkByUdpPort.set(peerPort, socket);
        return;
      }
      up++;
      udp.send(DATAGRAM, peerPort, '127.0.0.1');
    });
    socket.on('error', () => {});
  });
  udp.on('message', (_data, from) => {
    const talk = talkByUdpPort.get(from.port);
    if (!talk) return;
    down++;
    talk.write(TALK_PACKET);
  });
  udp.bind(0, '127.0.0.1', () => {
    listener.listen(0, '127.0.0.1', () => {
      const tcp = listener.address();
      process.send!({ udpPort: udp.address().port, tcpPort: typeof tcp === 'object' && tcp ? tcp.port : 0 });
    });
  });
  answerCounts(() => down + up);
}

export interface IntercomFloorResult {
  /** Packets relayed in the window, both ways. */
  packets: number;
  cpuS: number;
  cpuPerPacketUs: number;
  /** % of a core per two-way session at 50 + 50 packets a second. */
  corePerFullSession: number;
}

/** Loads a bare relay with `sessions` two-way sessions (20 ms packets each way) and measures it over `windowS`. */
export async function measureIntercomFloor(sessions: number, windowS: number): Promise<IntercomFloorResult> {
  const child = await startFloorChild<{ udpPort: number; tcpPort: number }>(fileURLToPath(import.meta.url));
  const { udpPort, tcpPort } = child.ports;
  const peers: Array<{ udp: UdpSocket; talk: Socket }> = [];
  let ticker: NodeJS.Timeout | null = null;
  try {
    for (let i = 0; i < sessions; i++) {
      const udp = createSocket('udp4');
      udp.on('message', () => {});
      await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', () => resolve()));
      udp.connect(udpPort, '127.0.0.1');
      const talk = connect(tcpPort, '127.0.0.1');
      talk.setNoDelay(true);
      talk.on('data', () => {});
      talk.on('error', () => {});
      await new Promise<void>((resolve) => talk.once('connect', () => resolve()));
      const hello = Buffer.alloc(2);
      hello.writeUInt16BE(udp.address().port);
      talk.write(hello);
      peers.push({ udp, talk });
    }
    await new Promise((r) => setTimeout(r, 500));
    // Every session sends one packet each way per 20 ms, spread over the period as real sessions are.
    let tick = 0;
    const slots = 10;
    ticker = setInterval(() => {
      const slot = tick++ % slots;
      for (let i = slot; i < peers.length; i += slots) {
        peers[i]!.udp.send(DATAGRAM);
        peers[i]!.talk.write(TALK_PACKET);
      }
    }, 20 / slots);
    await new Promise((r) => setTimeout(r, 1000));
    const { count: packets, cpuS } = await child.measure(windowS);
    const cpuPerPacketUs = packets > 0 ? (cpuS / packets) * 1e6 : 0;
    return { packets, cpuS, cpuPerPacketUs, corePerFullSession: (cpuPerPacketUs * 100) / 1e6 * 100 };
  } finally {
    if (ticker) clearInterval(ticker);
    for (const peer of peers) {
      peer.udp.close();
      peer.talk.destroy();
    }
    child.kill();
  }
}

if (process.argv.includes('--floor-server')) server();
