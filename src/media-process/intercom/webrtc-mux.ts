/**
 * One UDP port for every intercom WebRTC session (jt1078.intercom.webrtcPort), as m7s
 * does: werift 0.24 binds a socket per PeerConnection and has no UDP mux, so each session's
 * ICE protocol gets a `MuxTransport` instead of its own socket (see `attachToMux` in
 * intercom-session.ts), and this class sorts datagrams by sender.
 *
 * Routing: a STUN Binding request goes to the session its USERNAME names
 * (`<our ufrag>:<their ufrag>`, RFC 8445 §7.2.2), and its source address is learnt for
 * that session (moved from another session if a gone browser's address was reused); any
 * other datagram goes to the session its address belongs to, or is dropped and counted.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

export type MuxAddress = [string, number];

/** What a session registers: where its datagrams go. */
export interface MuxEndpoint {
  deliver(data: Buffer, from: MuxAddress): void;
}

export interface MuxStats {
  datagramsIn: number;
  datagramsOut: number;
  /** From an unknown address and not a STUN request naming a session. */
  unrouted: number;
}

const STUN_MAGIC_COOKIE = 0x2112a442;
const MUX_RECV_BUFFER = 4 * 1024 * 1024;
const STUN_ATTR_USERNAME = 0x0006;
const SENT: Promise<void> = Promise.resolve();

/** The USERNAME of a STUN Binding request, or null (not STUN, not a request, no USERNAME). */
export function stunUsername(data: Uint8Array): string | null {
  if (data.length < 20 || (data[0]! & 0xc0) !== 0) return null;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (view.getUint32(4) !== STUN_MAGIC_COOKIE) return null;
  const type = view.getUint16(0);
  if (type !== 0x0001) return null; // Binding request only
  const length = view.getUint16(2);
  const end = Math.min(data.length, 20 + length);
  let at = 20;
  while (at + 4 <= end) {
    const attr = view.getUint16(at);
    const len = view.getUint16(at + 2);
    if (at + 4 + len > end) return null;
    if (attr === STUN_ATTR_USERNAME) return Buffer.from(data.buffer, data.byteOffset + at + 4, len).toString('utf8');
    at += 4 + ((len + 3) & ~3);
  }
  return null;
}

export class WebrtcMux {
  readonly stats: MuxStats = { datagramsIn: 0, datagramsOut: 0, unrouted: 0 };
  /** The receive buffer the kernel granted (bytes), for the log. */
  recvBufferSize = 0;
  #socket: Socket | null = null;
  #byUfrag = new Map<string, MuxEndpoint>();
  /** Ufrags handed out and not yet registered or released. */
  #reserved = new Set<string>();
  #byAddress = new Map<string, MuxEndpoint>();
  /** Addresses learned per endpoint, forgotten with it. */
  #addresses = new Map<MuxEndpoint, Set<string>>();

  constructor(
    readonly host: string,
    readonly port: number,
  ) {}

  async listen(): Promise<void> {
    const socket = createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.port, this.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // Every session's audio shares this one socket: room for bursts (about 1 s of 100 sessions).
    try {
      socket.setRecvBufferSize(MUX_RECV_BUFFER);
      socket.setSendBufferSize(MUX_RECV_BUFFER);
    } catch {
      // capped by net.core.rmem_max; the default still works
    }
    socket.on('error', () => {}); // ICMP unreachable of a gone browser: nothing to do
    this.recvBufferSize = socket.getRecvBufferSize();
    socket.on('message', (data, rinfo) => this.#receive(data, [rinfo.address, rinfo.port]));
    this.#socket = socket;
  }

  get address(): AddressInfo {
    return this.#socket?.address() ?? { address: this.host, family: 'IPv4', port: this.port };
  }

  get sessions(): number {
    return this.#byUfrag.size;
  }

  /**
   * A ufrag no other session uses, reserved until `unregister`. werift's own are 4
   * characters (a collision among 100 sessions is likely, and would route one session's
   * checks to another), so sessions take theirs from here.
   */
  reserveUfrag(): string {
    for (;;) {
      const ufrag = randomBytes(6).toString('hex');
      if (this.#byUfrag.has(ufrag) || this.#reserved.has(ufrag)) continue;
      this.#reserved.add(ufrag);
      return ufrag;
    }
  }

  register(ufrag: string, endpoint: MuxEndpoint): void {
    if (this.#byUfrag.has(ufrag)) throw new Error(`ICE ufrag ${ufrag} is already registered`);
    this.#reserved.delete(ufrag);
    this.#byUfrag.set(ufrag, endpoint);
    this.#addresses.set(endpoint, new Set());
  }

  unregister(ufrag: string): void {
    this.#reserved.delete(ufrag);
    const endpoint = this.#byUfrag.get(ufrag);
    if (!endpoint) return;
    this.#byUfrag.delete(ufrag);
    for (const key of this.#addresses.get(endpoint) ?? []) this.#byAddress.delete(key);
    this.#addresses.delete(endpoint);
  }

  /** Sends at once; resolves at once (werift awaits it, and a failed datagram has nobody to tell). */
  send(data: Buffer, to: MuxAddress): Promise<void> {
    const socket = this.#socket;
    if (!socket) return SENT;
    this.stats.datagramsOut++;
    // No callback: a send error goes to the socket's 'error' listener (ignored, as ICMP).
    socket.send(data, to[1], to[0]);
    return SENT;
  }

  #receive(data: Buffer, from: MuxAddress): void {
    this.stats.datagramsIn++;
    const key = `${from[0]}:${from[1]}`;
    let endpoint = this.#byAddress.get(key);
    // A Binding request always goes to the session its USERNAME names: an address a gone
    // browser used may be reused by another one before its old session has ended.
    const username = data.length >= 20 && data[0]! < 2 ? stunUsername(data) : null;
    if (username !== null) {
      const named = this.#byUfrag.get(username.slice(0, username.indexOf(':')));
      if (named && named !== endpoint) {
        if (endpoint) this.#addresses.get(endpoint)?.delete(key);
        endpoint = named;
        this.#byAddress.set(key, endpoint);
        this.#addresses.get(endpoint)?.add(key);
      }
    }
    if (!endpoint) {
      this.stats.unrouted++;
      return;
    }
    endpoint.deliver(data, from);
  }

  close(): void {
    this.#socket?.close();
    this.#socket = null;
    this.#byUfrag.clear();
    this.#byAddress.clear();
    this.#addresses.clear();
  }
}
