import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

export interface RtpRecord {
  ssrc: number;
  seq: number;
  timestamp: number;
  marker: boolean;
  payloadType: number;
  payload: Buffer;
}

/** Parses the fixed RTP header by hand (independent of the code under test). */
export function parseRtp(packet: Buffer): RtpRecord {
  const csrc = packet[0]! & 0x0f;
  const offset = 12 + csrc * 4;
  return {
    marker: (packet[1]! & 0x80) !== 0,
    payloadType: packet[1]! & 0x7f,
    seq: packet.readUInt16BE(2),
    timestamp: packet.readUInt32BE(4),
    ssrc: packet.readUInt32BE(8),
    payload: packet.subarray(offset),
  };
}

export async function udpSink() {
  const socket = createSocket('udp4');
  const packets: RtpRecord[] = [];
  socket.on('message', (msg) => packets.push(parseRtp(Buffer.from(msg))));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  try {
    socket.setRecvBufferSize(4 * 1024 * 1024); // up to net.core.rmem_max
  } catch {
    // keep the default
  }
  return { port: (socket.address() as { port: number }).port, packets, close: () => socket.close() };
}

/** A passive RTP-over-TCP receiver (RFC 4571 framing decoded by hand). */
export async function tcpSink() {
  const packets: RtpRecord[] = [];
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 2) {
        const length = buffer.readUInt16BE(0);
        if (buffer.length < 2 + length) break;
        packets.push(parseRtp(Buffer.from(buffer.subarray(2, 2 + length))));
        buffer = buffer.subarray(2 + length);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    packets,
    connections: () => connections,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The PS byte stream carried by one SSRC's packets, in sequence order. */
export function psOf(packets: RtpRecord[], ssrc: number): Buffer {
  return Buffer.concat(packets.filter((p) => p.ssrc === ssrc).map((p) => p.payload));
}

/**
 * Sends RTP packets paced by their timestamps (a frame's packets together), `speed`
 * times faster than real time: loopback UDP sockets hold only ~100 full-size
 * packets, so an unpaced burst measures the machine's scheduler, not camgate.
 */
export async function sendPaced(packets: Buffer[], send: (packet: Buffer, index: number) => void, speed = 4, from = 0, to = packets.length): Promise<void> {
  for (let i = from; i < to; i++) {
    send(packets[i]!, i);
    const next = packets[i + 1];
    if (next && i + 1 < to) {
      const delta = ((next.readUInt32BE(4) - packets[i]!.readUInt32BE(4)) >>> 0) / 90 / speed;
      if (delta > 0) await new Promise((r) => setTimeout(r, delta));
    }
  }
}

/** RTP packets of a pcap (Ethernet/IPv4/UDP). */
export { udpPayloadsOfPcap as rtpFromPcap } from '../../src/tools/pcap.js';
