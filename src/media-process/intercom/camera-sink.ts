/**
 * The camera end of a voice broadcast (GB/T 28181-2016 §9.12): the browser's G.711A as RTP
 * to the address and port of the camera's INVITE, raw (PT 8) or in PS, with its SSRC.
 *
 * - udp: from a socket of our own (its port is the one our SDP answer names);
 * - tcp-active: we connect to the camera (it offered a=setup:passive);
 * - tcp-passive: we listen on a port of our own and the camera connects (some connect
 *   seconds after the ACK, gb28181.md §16): audio before that is dropped, not queued.
 *
 * Like the talk ports, nothing is queued for a camera that is not reading: past
 * `highWaterBytes` in the socket a payload is dropped (`slow`).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { G711RtpSender } from '../../protocol/rtp/g711-sender.js';
import type { IntercomRtpTarget } from '../../shared/contracts/media.js';
import { ServiceError } from '../../shared/errors.js';

export type CameraWrite = 'ok' | 'not-connected' | 'slow';

/** How long a tcp-active connect to the camera may take. */
const CONNECT_TIMEOUT_MS = 5000;

export class CameraSink {
  readonly target: IntercomRtpTarget;
  #sender: G711RtpSender;
  #bindHost: string;
  #highWater: number;
  #onGone: (reason: string) => void;
  #udp: UdpSocket | null = null;
  #server: Server | null = null;
  #tcp: Socket | null = null;
  #closed = false;
  port = 0;

  constructor(target: IntercomRtpTarget, options: { bindHost: string; highWaterBytes?: number; onGone: (reason: string) => void }) {
    this.target = target;
    this.#bindHost = options.bindHost;
    this.#highWater = options.highWaterBytes ?? 16_384;
    this.#onGone = options.onGone;
    this.#sender = new G711RtpSender({ carriage: target.carriage, ssrc: target.ssrc, payloadType: target.payloadType, rfc4571: target.transport !== 'udp' });
  }

  /** Binds, listens or connects; resolves with our local port. Throws ServiceError 502 when the camera cannot be reached. */
  async open(): Promise<number> {
    const { transport, host, port } = this.target;
    if (transport === 'udp') {
      const socket = createSocket('udp4');
      socket.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(0, this.#bindHost, () => resolve());
      });
      // Connected: each send skips the per-packet address lookup (as RtpSender's UDP path).
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.connect(port, host, () => resolve());
      });
      this.#udp = socket;
      this.port = socket.address().port;
      return this.port;
    }
    if (transport === 'tcp-passive') {
      const server = createServer((socket) => this.#adopt(socket));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, this.#bindHost, () => resolve());
      });
      this.#server = server;
      this.port = (server.address() as { port: number }).port;
      return this.port;
    }
    const socket = connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ServiceError(502, '1001', `the camera's media port ${host}:${port} did not accept a connection within ${CONNECT_TIMEOUT_MS / 1000} s`));
      }, CONNECT_TIMEOUT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(new ServiceError(502, '1001', `the camera's media port ${host}:${port}: ${error.message}`));
      });
    });
    this.#adopt(socket);
    this.port = socket.localPort ?? 0;
    return this.port;
  }

  /** The camera's TCP connection (ours, or the newest it made to us). */
  #adopt(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#tcp?.destroy();
    this.#tcp = socket;
    socket.setNoDelay(true);
    socket.on('data', () => undefined); // RTCP or nothing: a sendonly stream reads none
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.#tcp !== socket) return;
      this.#tcp = null;
      if (!this.#closed) this.#onGone('the camera closed the media connection');
    });
  }

  /** One browser payload (G.711A) towards the camera. */
  write(payload: Uint8Array): CameraWrite {
    if (this.#closed) return 'not-connected';
    if (this.#udp) {
      for (const datagram of this.#sender.packetize(payload)) this.#udp.send(datagram);
      return 'ok';
    }
    const socket = this.#tcp;
    if (!socket || socket.destroyed) return 'not-connected';
    if (socket.writableLength > this.#highWater) return 'slow';
    for (const chunk of this.#sender.packetize(payload)) socket.write(chunk);
    return 'ok';
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#udp?.close();
    this.#tcp?.destroy();
    this.#server?.close();
    this.#udp = this.#tcp = null;
    this.#server = null;
  }
}
