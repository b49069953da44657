import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { PsRtpReceiver, Rfc4571Decoder } from '../protocol/rtp/index.js';
import type { SharedCounters } from '../shared/counters.js';
import type { AvFrame } from '../protocol/av/frame.js';

/**
 * GB28181 media in: PS over RTP on a port of `media.rtpPorts`, UDP or TCP passive
 * (RFC 4571), owned by the media worker the stream is pinned to. Frames go to the
 * stream's outputs; a stream that gets no media for `mediaTimeoutMs` ends with a reason.
 */

export interface RtpIngestOptions {
  name: string;
  port: number;
  host: string;
  transport: 'udp' | 'tcp';
  /** Accept only this SSRC (the INVITE's y=); absent: lock to the first seen. */
  ssrc?: number;
  mediaTimeoutMs: number;
}

export interface RtpIngestHooks {
  started(ingest: RtpIngest): void;
  frame(ingest: RtpIngest, frame: AvFrame): void;
  stopped(ingest: RtpIngest, reason: string): void;
}

/** A relay destination: the input's RTP packets as they came, with our SSRC and sequence. */
export interface RelayTarget {
  host: string;
  port: number;
  transport: 'udp' | 'tcp';
  ssrc: number;
}

interface Relay extends RelayTarget {
  sequence: number;
  tcp: Socket | null;
}

export class RtpIngest {
  readonly options: RtpIngestOptions;
  startedAt = 0;
  #hooks: RtpIngestHooks;
  #counters: SharedCounters;
  #receiver: PsRtpReceiver;
  #udp: UdpSocket | null = null;
  #tcp: Server | null = null;
  #lastPacketAt = Date.now();
  #watchdog: NodeJS.Timeout | null = null;
  #closed = false;
  #relays: Relay[] = [];

  constructor(options: RtpIngestOptions, hooks: RtpIngestHooks, counters: SharedCounters) {
    this.options = options;
    this.#hooks = hooks;
    this.#counters = counters;
    this.#receiver = new PsRtpReceiver((frame) => this.#frame(frame), { ssrc: options.ssrc ?? 'first' });
  }

  get name(): string {
    return this.options.name;
  }

  /** Binds the port; rejects (e.g. EADDRINUSE) so the caller can try another. */
  async open(): Promise<void> {
    const { host, port, transport } = this.options;
    if (transport === 'udp') {
      const socket = createSocket({ type: 'udp4' });
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(port, host, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      try {
        socket.setRecvBufferSize(4 * 1024 * 1024);
      } catch {
        // capped by net.core.rmem_max
      }
      socket.on('message', (datagram) => this.#packet(datagram));
      socket.on('error', () => undefined);
      this.#udp = socket;
    } else {
      const server = createServer((conn) => {
        // One sender per stream (passive mode): a newer connection replaces the old one.
        const decoder = new Rfc4571Decoder((packet) => this.#packet(packet));
        conn.on('data', (chunk) => decoder.push(chunk));
        conn.on('error', () => undefined);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      this.#tcp = server;
    }
    this.#lastPacketAt = Date.now();
    this.#watchdog = setInterval(() => {
      if (Date.now() - this.#lastPacketAt >= this.options.mediaTimeoutMs) this.close('media timeout');
    }, Math.min(1000, this.options.mediaTimeoutMs));
  }

  #packet(datagram: Uint8Array): void {
    this.#lastPacketAt = Date.now();
    this.#counters.add('packets_in|rtp');
    this.#counters.add('bytes_in|rtp', datagram.length);
    if (this.#relays.length > 0) this.#relay(datagram);
    this.#receiver.pushRtp(datagram);
  }

  get relays(): RelayTarget[] {
    return this.#relays.map(({ host, port, transport, ssrc }) => ({ host, port, transport, ssrc }));
  }

  /** Relays the input's packets, unchanged but for SSRC and sequence, to one more destination. */
  addRelay(target: RelayTarget): void {
    const relay: Relay = { ...target, sequence: Math.floor(Math.random() * 0x10000), tcp: null };
    if (target.transport === 'tcp') {
      relay.tcp = createConnection({ host: target.host, port: target.port });
      relay.tcp.setNoDelay(true);
      relay.tcp.on('error', () => this.#counters.add('send_errors|rtp'));
    }
    this.#relays.push(relay);
  }

  removeRelay(host: string, port: number): boolean {
    const i = this.#relays.findIndex((r) => r.host === host && r.port === port);
    if (i < 0) return false;
    this.#relays[i]!.tcp?.end();
    this.#relays.splice(i, 1);
    return true;
  }

  #relay(datagram: Uint8Array): void {
    if (datagram.length < 12 || datagram[0]! >> 6 !== 2) return;
    for (const relay of this.#relays) {
      const prefix = relay.transport === 'tcp' ? 2 : 0;
      const out = Buffer.allocUnsafe(prefix + datagram.length);
      if (prefix) out.writeUInt16BE(datagram.length, 0);
      out.set(datagram, prefix);
      out.writeUInt16BE(relay.sequence, prefix + 2);
      out.writeUInt32BE(relay.ssrc >>> 0, prefix + 8);
      relay.sequence = (relay.sequence + 1) & 0xffff;
      if (relay.transport === 'udp') (this.#udp ?? relayUdp()).send(out, relay.port, relay.host);
      else if (relay.tcp && !relay.tcp.destroyed && relay.tcp.writableLength < 2 * 1024 * 1024) relay.tcp.write(out);
      else this.#counters.add('send_errors|rtp');
      this.#counters.add('packets_out|rtp');
      this.#counters.add('bytes_out|rtp', datagram.length);
    }
  }

  #frame(frame: AvFrame): void {
    if (this.#closed) return;
    if (this.startedAt === 0) {
      this.startedAt = Date.now();
      this.#counters.add('streams_started|rtp');
      this.#hooks.started(this);
    }
    this.#counters.add(frame.kind === 'video' ? 'frames_in|video' : 'frames_in|audio');
    this.#hooks.frame(this, frame);
  }

  close(reason: string): void {
    if (this.#closed) return;
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#receiver.flush();
    this.#closed = true;
    for (const relay of this.#relays) relay.tcp?.end();
    this.#relays = [];
    this.#udp?.close();
    this.#tcp?.close();
    if (this.startedAt !== 0) this.#counters.add('streams_stopped|rtp');
    this.#hooks.stopped(this, reason);
  }
}

let sharedUdp: UdpSocket | null = null;
/** A send socket for relays of TCP inputs (UDP inputs relay from their own socket). */
function relayUdp(): UdpSocket {
  if (!sharedUdp) {
    sharedUdp = createSocket('udp4');
    sharedUdp.on('error', () => undefined);
    sharedUdp.unref();
  }
  return sharedUdp;
}
