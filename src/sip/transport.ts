import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { parseMessage, StreamFramer, type Endpoint, type SipMessage } from '../protocol/sip/index.js';

/**
 * The SIP transports: one UDP socket and one TCP listener on `sip.host:sip.port`.
 * A thin adapter: bytes in are parsed and handed up with the endpoint they came
 * from; bytes out go to an endpoint. Responses follow the request's endpoint (the
 * packet source, i.e. RFC 3581 `received`/`rport`), and on TCP the same connection.
 */

export interface TransportEvents {
  message(message: SipMessage, remote: Endpoint): void;
  /** Unparseable input: counted by the caller; the transport survives it. */
  malformed(reason: string, remote: Endpoint, status?: number): void;
}

export interface TransportOptions {
  host: string;
  port: number;
  transports: Array<'udp' | 'tcp'>;
  /** Close TCP connections idle for this long (ms, default 10 min). */
  tcpIdleTimeout?: number;
  /** Socket receive buffer for UDP (bytes); capped by net.core.rmem_max. */
  udpRecvBuffer?: number;
}

export class SipTransport {
  #udp: UdpSocket | null = null;
  #tcp: Server | null = null;
  #connections = new Map<string, Socket>();
  #events: TransportEvents;
  #options: TransportOptions;
  #nextConnection = 1;

  constructor(options: TransportOptions, events: TransportEvents) {
    this.#options = options;
    this.#events = events;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  async start(): Promise<void> {
    const { host, port, transports } = this.#options;
    if (transports.includes('udp')) {
      const udp = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', reuseAddr: false });
      this.#udp = udp;
      udp.on('message', (data, rinfo) => {
        const remote: Endpoint = { transport: 'UDP', address: rinfo.address, port: rinfo.port };
        const parsed = parseMessage(data);
        if (parsed.ok) this.#events.message(parsed.message, remote);
        else this.#events.malformed(parsed.reason, remote, parsed.status);
      });
      udp.on('error', () => undefined); // ICMP errors on send: the transaction layer times out
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(port, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      if (this.#options.udpRecvBuffer) {
        try {
          udp.setRecvBufferSize(this.#options.udpRecvBuffer);
        } catch {
          // capped by the kernel; the sysctl drop-in raises the cap
        }
      }
    }
    if (transports.includes('tcp')) {
      const server = createServer((socket) => this.#adopt(socket));
      this.#tcp = server;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
  }

  #adopt(socket: Socket, id = `c${this.#nextConnection++}`): string {
    this.#connections.set(id, socket);
    socket.setNoDelay(true);
    socket.setTimeout(this.#options.tcpIdleTimeout ?? 600_000, () => socket.destroy());
    const framer = new StreamFramer();
    const remote = (): Endpoint => ({
      transport: 'TCP',
      address: socket.remoteAddress ?? '',
      port: socket.remotePort ?? 0,
      connectionId: id,
    });
    socket.on('data', (chunk) => {
      for (const result of framer.push(chunk)) {
        if (result.ok) this.#events.message(result.message, remote());
        else {
          this.#events.malformed(result.reason, remote(), result.status);
          if (result.fatal) socket.destroy();
        }
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.#connections.get(id) === socket) this.#connections.delete(id);
    });
    return id;
  }

  /**
   * Sends bytes. UDP: to address:port. TCP: on the endpoint's connection if it is
   * still open, else on any open connection from that address:port, else a new one.
   */
  send(bytes: Uint8Array, remote: Endpoint): boolean {
    if (remote.transport.toUpperCase() === 'UDP') {
      if (!this.#udp) return false;
      this.#udp.send(bytes, remote.port, remote.address);
      return true;
    }
    let socket = remote.connectionId !== undefined ? this.#connections.get(String(remote.connectionId)) : undefined;
    if (!socket || socket.destroyed) socket = this.#findConnection(remote.address, remote.port);
    if (!socket) {
      socket = createConnection({ host: remote.address, port: remote.port });
      this.#adopt(socket);
    }
    return socket.write(bytes), true;
  }

  #findConnection(address: string, port: number): Socket | undefined {
    for (const socket of this.#connections.values()) {
      if (!socket.destroyed && socket.remoteAddress === address && socket.remotePort === port) return socket;
    }
    return undefined;
  }

  async close(): Promise<void> {
    for (const socket of this.#connections.values()) socket.destroy();
    this.#connections.clear();
    await Promise.all([
      new Promise<void>((resolve) => (this.#udp ? this.#udp.close(() => resolve()) : resolve())),
      new Promise<void>((resolve) => (this.#tcp ? this.#tcp.close(() => resolve()) : resolve())),
    ]);
    this.#udp = null;
    this.#tcp = null;
  }
}
