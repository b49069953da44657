import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createConnection, isIPv6, type Server, type Socket } from 'node:net';
import { encodeRfc4571Batch, restampRtpPacket, type RtpFramePart } from '../protocol/rtp/index.js';
import type { Destination } from '../shared/contracts/destination.js';
import type { SharedCounters } from '../shared/counters.js';

/**
 * The one way the media worker sends RTP to a destination: the muxing outputs (frames →
 * PS → RTP) and the packet relays of GB28181 inputs both hand it frames as RTP packets.
 * Each sender has its own SSRC and sequence (it restamps a copy of each packet) and
 * socket: UDP through a connected socket of its own (no per-packet address lookup, and
 * a send queue of its own to watch), TCP as an RFC 4571 client (the passive RTP server
 * of ZLMediaKit's openRtpServer or an upper platform), reconnecting while it lives, or
 * as an RFC 4571 server (`destination.listen`: an upper platform that offered
 * a=setup:active connects to us), started with the cached GOP when it connects.
 *
 * Backpressure is frame-aware: when the bytes queued for the destination pass the high-
 * water mark, whole frames are dropped up to the next key frame (which carries its PSM
 * and parameter sets), so the receiver never resumes on a P-frame. Memory per destination
 * stays under twice the mark: a frame that started is finished unless the queue doubles.
 */

export interface RtpSenderSettings {
  /** Bytes queued for one destination before it is behind (`media.forwardHighWater`). */
  highWaterBytes?: number;
  /** Bytes of a stream's last GOP kept to start destinations added later (0: off). */
  gopCacheBytes?: number;
}

export const DEFAULT_FORWARD_HIGH_WATER = 2 * 1024 * 1024;
export const DEFAULT_GOP_CACHE_BYTES = 4 * 1024 * 1024;

export interface RtpSenderStats {
  framesSent: number;
  /** Frames dropped to reach the next key frame after the destination fell behind. */
  droppedToKeyframe: number;
  /** Frames skipped before the first key frame (a destination added with no GOP cached). */
  skippedBeforeKeyframe: number;
  /** Largest backlog seen when a frame was queued. */
  maxBacklogBytes: number;
}

const RECONNECT_MS = 1000;

/** A listening TCP destination: its bound server, the GOP to start a connection with, and who hears that nobody came. */
export interface RtpListen {
  server: Server;
  replay: () => readonly RtpFramePart[];
  /** Nobody (allowed) connected within `listen.acceptTimeoutMs`, at the start or after the connection closed. */
  ended: (reason: string) => void;
}

/** A listening destination as the fanout takes it (the fanout supplies the GOP replay). */
export type RtpFanoutListen = Omit<RtpListen, 'replay'>;

/** `::ffff:127.0.0.1` → `127.0.0.1`, so an IPv4 peer matches on a dual-stack listener. */
function plainAddress(address: string | undefined): string {
  return (address ?? '').replace(/^::ffff:/i, '');
}

export class RtpSender {
  readonly destination: Destination;
  readonly ssrc: number;
  readonly stats: RtpSenderStats = { framesSent: 0, droppedToKeyframe: 0, skippedBeforeKeyframe: 0, maxBacklogBytes: 0 };
  sequenceNumber = Math.floor(Math.random() * 0x10000);
  readonly #highWater: number;
  readonly #counters: SharedCounters;
  #tcp: Socket | null = null;
  #udp: UdpSocket | null = null;
  /** UDP datagrams queued while the socket connects. */
  #pending: Buffer[] | null = null;
  #pendingBytes = 0;
  /** Resume only on a key frame: at start, after falling behind, after a reconnect. */
  #waitingForKey = true;
  #fellBehind = false;
  /** The frame in progress is being sent. */
  #sendingFrame = false;
  #closed = false;
  #server: Server | null = null;
  #acceptTimer: NodeJS.Timeout | undefined;

  constructor(destination: Destination, ssrc: number, counters: SharedCounters, highWaterBytes = DEFAULT_FORWARD_HIGH_WATER, listen?: RtpListen) {
    this.destination = destination;
    this.ssrc = ssrc >>> 0;
    this.#counters = counters;
    this.#highWater = highWaterBytes;
    if (listen) this.#accept(listen);
    else if (destination.transport === 'tcp') this.#connectTcp();
    else this.#connectUdp();
  }

  /** Bytes accepted for this destination and not yet handed to the kernel. */
  get backlogBytes(): number {
    if (this.#closed) return 0;
    if (this.#tcp) return this.#tcp.writableLength;
    if (this.#udp) return this.#pendingBytes + (this.#pending ? 0 : this.#udp.getSendQueueSize());
    return 0;
  }

  send(part: RtpFramePart): void {
    if (this.#closed) return;
    if (part.start) this.#sendingFrame = this.#admit(part.key);
    else if (this.#sendingFrame && this.backlogBytes > 2 * this.#highWater) {
      // One huge frame on a stalled destination: cut it, resume at the next key frame.
      this.#sendingFrame = false;
      this.#behind();
    }
    if (this.#sendingFrame) this.#write(part.packets);
  }

  /** Decide at a frame's start whether the frame goes out. */
  #admit(key: boolean): boolean {
    if (this.destination.transport === 'tcp' && (!this.#tcp || this.#tcp.destroyed)) {
      // A listening sender waiting for its peer is not failing.
      if (!this.#server) this.#counters.add('send_errors|rtp');
      this.#waitingForKey = true;
      return false;
    }
    const backlog = this.backlogBytes;
    if (backlog > this.#highWater) {
      this.#behind();
      return false;
    }
    if (this.#waitingForKey && !key) {
      if (this.#fellBehind) this.#dropped();
      else this.stats.skippedBeforeKeyframe++;
      return false;
    }
    this.#waitingForKey = false;
    this.#fellBehind = false;
    this.stats.framesSent++;
    if (backlog > this.stats.maxBacklogBytes) this.stats.maxBacklogBytes = backlog;
    return true;
  }

  #behind(): void {
    this.#waitingForKey = true;
    this.#fellBehind = true;
    this.#dropped();
  }

  #dropped(): void {
    this.stats.droppedToKeyframe++;
    this.#counters.add('drops|dropped_to_keyframe');
  }

  #write(packets: readonly Uint8Array[]): void {
    const tcp = this.destination.transport === 'tcp';
    const socket = this.#tcp;
    if (tcp && (!socket || socket.destroyed)) {
      // The connection went away within a frame.
      this.#counters.add('send_errors|rtp');
      this.#sendingFrame = false;
      this.#waitingForKey = true;
      return;
    }
    const wire = encodeRfc4571Batch(packets, tcp);
    let bytes = 0;
    let p = 0;
    for (const packet of packets) {
      if (tcp) p += 2;
      restampRtpPacket(wire, p, this.sequenceNumber, this.ssrc);
      this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
      if (!tcp) this.#sendDatagram(wire.subarray(p, p + packet.length));
      p += packet.length;
      bytes += packet.length;
    }
    if (socket) socket.write(wire);
    this.#counters.add('packets_out|rtp', packets.length);
    this.#counters.add('bytes_out|rtp', bytes);
  }

  #sendDatagram(datagram: Buffer): void {
    if (this.#pending) {
      this.#pending.push(datagram);
      this.#pendingBytes += datagram.length;
    } else {
      this.#udp!.send(datagram);
    }
  }

  #connectUdp(): void {
    const { host, port } = this.destination;
    const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    this.#udp = socket;
    this.#pending = [];
    // A connected socket reports ICMP port-unreachable as errors: counted, not fatal.
    socket.on('error', () => {
      this.#counters.add('send_errors|rtp');
      if (this.#closed && this.#pending) this.#closeUdp(socket);
    });
    socket.connect(port, host, () => {
      const pending = this.#pending ?? [];
      this.#pending = null;
      this.#pendingBytes = 0;
      for (const datagram of pending) socket.send(datagram);
      // Closed while connecting: what was queued still goes out, as TCP's end() does.
      if (this.#closed) this.#closeUdp(socket);
    });
    socket.unref();
  }

  #connectTcp(): void {
    const socket = createConnection({ host: this.destination.host, port: this.destination.port });
    socket.setNoDelay(true);
    socket.on('error', () => this.#counters.add('send_errors|rtp'));
    socket.on('close', () => {
      if (this.#tcp === socket) this.#tcp = null;
      // The receiver may restart: reconnect while the stream lives, and start it on a key frame.
      if (!this.#closed) {
        setTimeout(() => {
          if (this.#closed || this.#tcp) return;
          this.#waitingForKey = true;
          this.#connectTcp();
        }, RECONNECT_MS).unref();
      }
    });
    this.#tcp = socket;
  }

  /**
   * The receiver connects to us: the first connection from its address (or the SIP peer's)
   * is taken and started with the cached GOP; others are refused. While no connection is
   * up the accept timer runs, so a receiver that never comes (or leaves) ends the forward.
   */
  #accept(listen: RtpListen): void {
    const { server } = listen;
    this.#server = server;
    const peers = new Set([this.destination.host, ...(this.destination.listen?.peers ?? [])].map(plainAddress));
    const timeoutMs = this.destination.listen?.acceptTimeoutMs ?? 10_000;
    const arm = () => {
      clearTimeout(this.#acceptTimer);
      this.#acceptTimer = setTimeout(() => {
        if (this.#closed || this.#tcp) return;
        listen.ended(`nobody connected to TCP port ${this.destination.port} within ${timeoutMs} ms`);
      }, timeoutMs);
      this.#acceptTimer.unref();
    };
    server.on('connection', (socket) => {
      if (this.#closed || this.#tcp || !peers.has(plainAddress(socket.remoteAddress))) {
        socket.destroy();
        return;
      }
      clearTimeout(this.#acceptTimer);
      socket.setNoDelay(true);
      socket.on('error', () => this.#counters.add('send_errors|rtp'));
      // We only send; whatever the receiver writes (RTCP) is read and dropped.
      socket.resume();
      socket.on('close', () => {
        if (this.#tcp !== socket) return;
        this.#tcp = null;
        if (!this.#closed) arm();
      });
      this.#tcp = socket;
      this.#waitingForKey = true;
      for (const part of listen.replay()) this.send(part);
    });
    server.on('error', () => this.#counters.add('send_errors|rtp'));
    arm();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#acceptTimer);
    this.#server?.close();
    this.#server = null;
    this.#tcp?.end();
    this.#tcp = null;
    // Still connecting: the connect callback sends what is queued, then closes.
    if (this.#udp && !this.#pending) this.#closeUdp(this.#udp);
  }

  #closeUdp(socket: UdpSocket): void {
    this.#pending = null;
    try {
      socket.close();
    } catch {
      // already closed: nothing left to release
    }
  }
}

/**
 * A stream's senders and its last GOP: every frame part goes to each sender, and a
 * destination added later is started with the cached GOP (PSM and IDR first), so a
 * ZLMediaKit or an upper platform registers the stream at once instead of at the next IDR.
 */
export class RtpFanout {
  readonly #counters: SharedCounters;
  readonly #highWater: number;
  readonly #gopLimit: number;
  #senders: RtpSender[] = [];
  /** Parts since the last key frame start; null while no complete GOP start fits. */
  #gop: RtpFramePart[] | null = null;
  #gopBytes = 0;

  constructor(counters: SharedCounters, settings: RtpSenderSettings = {}) {
    this.#counters = counters;
    this.#highWater = settings.highWaterBytes ?? DEFAULT_FORWARD_HIGH_WATER;
    this.#gopLimit = settings.gopCacheBytes ?? DEFAULT_GOP_CACHE_BYTES;
  }

  get senders(): readonly RtpSender[] {
    return this.#senders;
  }

  /** Parts are kept for later destinations (so the stream must be packetized even with none). */
  get caching(): boolean {
    return this.#gopLimit > 0;
  }

  /** The cached GOP's parts, a key frame's first (empty when none). */
  get gop(): readonly RtpFramePart[] {
    return this.#gop ?? [];
  }

  /** Bytes of the cached GOP (0 when none). */
  get gopBytes(): number {
    return this.#gop ? this.#gopBytes : 0;
  }

  /** `listen`: a bound server the receiver connects to, and who hears that it never did. */
  add(destination: Destination, ssrc: number, listen?: RtpFanoutListen): RtpSender {
    const sender = new RtpSender(destination, ssrc, this.#counters, this.#highWater, listen ? { ...listen, replay: () => this.#gop ?? [] } : undefined);
    for (const part of this.#gop ?? []) sender.send(part);
    this.#senders.push(sender);
    return sender;
  }

  remove(host: string, port: number): boolean {
    const i = this.#senders.findIndex((s) => s.destination.host === host && s.destination.port === port);
    if (i < 0) return false;
    this.#senders[i]!.close();
    this.#senders.splice(i, 1);
    return true;
  }

  send(part: RtpFramePart): void {
    this.#cache(part);
    for (const sender of this.#senders) sender.send(part);
  }

  #cache(part: RtpFramePart): void {
    if (this.#gopLimit <= 0) return;
    if (part.start && part.key) {
      this.#gop = [];
      this.#gopBytes = 0;
    }
    if (!this.#gop) return;
    for (const packet of part.packets) this.#gopBytes += packet.length;
    if (this.#gopBytes > this.#gopLimit) this.#gop = null; // too long a GOP: wait for the next
    else this.#gop.push(part);
  }

  close(): void {
    for (const sender of this.#senders) sender.close();
    this.#senders = [];
    this.#gop = null;
  }
}
