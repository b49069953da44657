import type { Socket as UdpSocket } from 'node:dgram';
import { createConnection, type Socket } from 'node:net';
import type { AvFrame } from '../protocol/av/frame.js';
import { PsMuxer } from '../protocol/mpeg-ps/index.js';
import { PsRtpPacketizer } from '../protocol/rtp/index.js';
import type { SharedCounters } from '../shared/counters.js';

/**
 * A stream's GB28181 PS-over-RTP outputs: one PS muxer per stream, one RTP
 * packetizer (own SSRC and sequence) per destination. UDP goes out of the worker's
 * own socket; TCP destinations get one RFC 4571 connection each, as an RTP server
 * in passive TCP mode (e.g. ZLMediaKit's openRtpServer) expects.
 */

export interface Destination {
  host: string;
  port: number;
  transport: 'udp' | 'tcp';
  ssrc?: number;
}

export { ssrcForName } from '../shared/contracts/destination.js';
import { ssrcForName } from '../shared/contracts/destination.js';

/** Bytes allowed to queue on a TCP destination before frames are dropped for it. */
const TCP_HIGH_WATER = 2 * 1024 * 1024;

class Output {
  readonly destination: Destination;
  readonly packetizer: PsRtpPacketizer;
  #udp: UdpSocket;
  #tcp: Socket | null = null;
  #counters: SharedCounters;
  #closed = false;

  constructor(destination: Destination, ssrc: number, udp: UdpSocket, counters: SharedCounters) {
    this.destination = destination;
    this.#udp = udp;
    this.#counters = counters;
    this.packetizer = new PsRtpPacketizer({ ssrc, rfc4571: destination.transport === 'tcp' });
    if (destination.transport === 'tcp') this.#connect();
  }

  #connect(): void {
    const socket = createConnection({ host: this.destination.host, port: this.destination.port });
    socket.setNoDelay(true);
    socket.on('error', () => this.#counters.add('send_errors|rtp'));
    socket.on('close', () => {
      if (this.#tcp === socket) this.#tcp = null;
      // Reconnect after a pause while the stream lives: the receiver may restart.
      if (!this.#closed) setTimeout(() => !this.#closed && !this.#tcp && this.#connect(), 1000).unref();
    });
    this.#tcp = socket;
  }

  send(slices: readonly Uint8Array[], timestamp: number): void {
    const packets = this.packetizer.packetize(slices, timestamp);
    if (packets.length === 0) return;
    let bytes = 0;
    if (this.destination.transport === 'udp') {
      for (const packet of packets) {
        this.#udp.send(packet, this.destination.port, this.destination.host);
        bytes += packet.length;
      }
    } else {
      const socket = this.#tcp;
      // While connecting, Node queues the writes; past the high-water mark the
      // receiver is too slow (or gone) and frames are dropped for it alone.
      if (!socket || socket.destroyed || socket.writableLength > TCP_HIGH_WATER) {
        this.#counters.add('send_errors|rtp');
        return;
      }
      const wire = this.packetizer.wire;
      socket.write(wire);
      bytes = wire.length;
    }
    this.#counters.add('packets_out|rtp', packets.length);
    this.#counters.add('bytes_out|rtp', bytes);
  }

  close(): void {
    this.#closed = true;
    this.#tcp?.end();
    this.#tcp = null;
  }
}

export class StreamOutputs {
  readonly name: string;
  #muxer = new PsMuxer();
  #outputs: Output[] = [];
  #udp: UdpSocket;
  #counters: SharedCounters;

  constructor(name: string, destinations: Destination[], udp: UdpSocket, counters: SharedCounters) {
    this.name = name;
    this.#udp = udp;
    this.#counters = counters;
    for (const d of destinations) this.add(d);
  }

  get destinations(): Array<Destination & { ssrc: number }> {
    return this.#outputs.map((o) => ({ ...o.destination, ssrc: o.packetizer.ssrc }));
  }

  add(destination: Destination): number {
    const ssrc = destination.ssrc ?? ssrcForName(this.name);
    this.#outputs.push(new Output(destination, ssrc, this.#udp, this.#counters));
    return ssrc;
  }

  remove(host: string, port: number): boolean {
    const i = this.#outputs.findIndex((o) => o.destination.host === host && o.destination.port === port);
    if (i < 0) return false;
    this.#outputs[i]!.close();
    this.#outputs.splice(i, 1);
    return true;
  }

  write(frame: AvFrame): void {
    if (this.#outputs.length === 0) return;
    const slices = this.#muxer.muxSlices(frame);
    if (slices.length === 0) return;
    for (const output of this.#outputs) output.send(slices, frame.pts);
  }

  close(): void {
    for (const output of this.#outputs) output.close();
    this.#outputs = [];
  }
}
