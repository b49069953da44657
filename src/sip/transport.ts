import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { parseMessage, StreamFramer, type Endpoint, type ParseResult, type SipMessage } from '../protocol/sip/index.js';
import type { SharedCounters } from '../shared/counters.js';
import type { TcpRefusal } from '../shared/contracts/sip-counters.js';
import type { SipLimits } from '../shared/config/config-schema.js';

/**
 * The SIP transports: one UDP socket and one TCP listener on `sip.host:sip.port`.
 * A thin adapter: bytes in are parsed and handed up with the endpoint they came
 * from; bytes out go to an endpoint. Responses follow the request's endpoint (the
 * packet source, i.e. RFC 3581 `received`/`rport`), and on TCP the same connection.
 */

export interface TransportEvents {
  message(message: SipMessage, remote: Endpoint): void;
  /**
   * Unparseable input: counted by the caller, who may answer it (400) from
   * `failure.partial`; the transport survives it.
   */
  malformed(failure: Extract<ParseResult, { ok: false }>, remote: Endpoint): void;
}

export interface TransportOptions {
  host: string;
  port: number;
  transports: Array<'udp' | 'tcp'>;
  /** Close TCP connections idle for this long (ms, default 10 min). */
  tcpIdleTimeout?: number;
  /** Close TCP connections no device registered over after this long idle (ms, default 30 s). */
  tcpUnregisteredTimeout?: number;
  /** Open TCP connections in all (default 10,000) and per source address (default 256). */
  tcpConnections?: number;
  tcpConnectionsPerAddress?: number;
  /** Largest message (head + body) in bytes; bounds each connection's read buffer (default 64 KiB). */
  maxMessageSize?: number;
  /** Socket receive buffer for UDP (bytes); capped by net.core.rmem_max. */
  udpRecvBuffer?: number;
  /** Where refusals are counted (`tcp_refused|<reason>`, `oversize|udp`). */
  counters?: SharedCounters;
}

/** The transport's share of sip.limits (seconds in the config, ms here). */
export function transportLimits(limits: SipLimits): Pick<TransportOptions, 'tcpIdleTimeout' | 'tcpUnregisteredTimeout' | 'tcpConnections' | 'tcpConnectionsPerAddress' | 'maxMessageSize'> {
  return {
    tcpIdleTimeout: limits.tcpIdleTimeout * 1000,
    tcpUnregisteredTimeout: limits.tcpUnregisteredTimeout * 1000,
    tcpConnections: limits.tcpConnections,
    tcpConnectionsPerAddress: limits.tcpConnectionsPerAddress,
    maxMessageSize: limits.maxMessageSize,
  };
}

interface Connection {
  socket: Socket;
  address: string;
  /** A device registered over it: the long idle time-out applies. */
  trusted: boolean;
}

export class SipTransport {
  #udp: UdpSocket | null = null;
  #tcp: Server | null = null;
  #connections = new Map<string, Connection>();
  /** Open connections per remote address. */
  #perAddress = new Map<string, number>();
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
        if (data.length > this.#maxMessageSize) {
          this.#options.counters?.add('oversize|udp');
          return;
        }
        const parsed = parseMessage(data);
        if (parsed.ok) this.#events.message(parsed.message, remote);
        else this.#events.malformed(parsed, remote);
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
      const server = createServer((socket) => {
        const refusal = this.#refusal(socket.remoteAddress ?? '');
        if (refusal) {
          this.#refuse(refusal);
          socket.destroy();
          return;
        }
        this.#adopt(socket);
      });
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

  get #maxMessageSize(): number {
    return this.#options.maxMessageSize ?? 65536;
  }

  #refusal(address: string): TcpRefusal | null {
    if (this.#connections.size >= (this.#options.tcpConnections ?? 10_000)) return 'connection-cap';
    if ((this.#perAddress.get(address) ?? 0) >= (this.#options.tcpConnectionsPerAddress ?? 256)) return 'address-cap';
    return null;
  }

  #refuse(reason: TcpRefusal): void {
    this.#options.counters?.add(`tcp_refused|${reason}`);
  }

  #idleTimeout(connection: Connection): number {
    return connection.trusted ? (this.#options.tcpIdleTimeout ?? 600_000) : (this.#options.tcpUnregisteredTimeout ?? 30_000);
  }

  #adopt(socket: Socket, trusted = false, address = socket.remoteAddress ?? ''): string {
    const id = `c${this.#nextConnection++}`;
    const connection: Connection = { socket, address, trusted };
    this.#connections.set(id, connection);
    this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1);
    socket.setNoDelay(true);
    socket.setTimeout(this.#idleTimeout(connection), () => {
      this.#refuse(connection.trusted ? 'idle' : 'unregistered-idle');
      socket.destroy();
    });
    // The framer refuses a message above the limit before buffering it, so it also
    // bounds what one connection can make us hold.
    const framer = new StreamFramer({ maxMessageSize: this.#maxMessageSize });
    const remote = (): Endpoint => ({
      transport: 'TCP',
      address,
      port: socket.remotePort ?? 0,
      connectionId: id,
    });
    socket.on('data', (chunk) => {
      for (const result of framer.push(chunk)) {
        if (result.ok) this.#events.message(result.message, remote());
        else {
          this.#events.malformed(result, remote());
          if (result.fatal) {
            if (/maximum size/.test(result.reason)) this.#refuse('oversize');
            socket.destroy();
          }
        }
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.#connections.get(id)?.socket !== socket) return;
      this.#connections.delete(id);
      const left = (this.#perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(address, left);
      else this.#perAddress.delete(address);
    });
    return id;
  }

  /**
   * A device registered over this endpoint's connection: it now gets the long idle
   * time-out. No-op for UDP and for connections already closed.
   */
  trust(remote: Endpoint): void {
    if (remote.connectionId === undefined) return;
    const connection = this.#connections.get(String(remote.connectionId));
    if (!connection || connection.trusted) return;
    connection.trusted = true;
    connection.socket.setTimeout(this.#idleTimeout(connection));
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
    let socket = remote.connectionId !== undefined ? this.#connections.get(String(remote.connectionId))?.socket : undefined;
    if (!socket || socket.destroyed) socket = this.#findConnection(remote.address, remote.port);
    if (!socket) {
      // A connection we open goes to a registered device: the long idle time-out applies.
      if (this.#refusal(remote.address)) return false;
      socket = createConnection({ host: remote.address, port: remote.port });
      this.#adopt(socket, true, remote.address);
    }
    return socket.write(bytes), true;
  }

  #findConnection(address: string, port: number): Socket | undefined {
    for (const { socket } of this.#connections.values()) {
      if (!socket.destroyed && socket.remoteAddress === address && socket.remotePort === port) return socket;
    }
    return undefined;
  }

  async close(): Promise<void> {
    for (const { socket } of this.#connections.values()) socket.destroy();
    this.#connections.clear();
    this.#perAddress.clear();
    await Promise.all([
      new Promise<void>((resolve) => (this.#udp ? this.#udp.close(() => resolve()) : resolve())),
      new Promise<void>((resolve) => (this.#tcp ? this.#tcp.close(() => resolve()) : resolve())),
    ]);
    this.#udp = null;
    this.#tcp = null;
  }
}
