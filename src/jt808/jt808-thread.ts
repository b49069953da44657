/**
 * The JT/T 808 thread (docs/architecture.md): the TCP listener vehicle terminals connect
 * to, one `Jt808Session` per connection through one `Jt808Server`. It owns no database:
 * the vehicles the store knows come with `init` and the `vehicle.known` / `vehicle.forget`
 * notes, and every state change goes back to the supervisor as a note
 * (src/shared/contracts/jt808.ts). Commands (0x9101, 0x9102, 0x9003, 0x9205, raw) come
 * down as requests and resolve with the terminal's answer.
 *
 * With `jt808.udp` the same port takes UDP datagrams too: each remote address:port is a
 * connection of its own (a session fed by its datagrams, answered by datagrams), ended by
 * the same silence, authentication and bad-frame limits, since UDP has no close.
 *
 * Limits: `jt808.maxConnections` open connections, TCP and UDP together (more are closed
 * at once, or their datagrams dropped, and counted),
 * `jt808.unauthenticatedTimeout` to authenticate, `jt808.offlineAfter` of silence, a
 * write backlog per connection, and the session's own bad-frame and auth-failure limits.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { systemClock, type Clock } from '../protocol/sip/clock.js';
import { AnswerResult, jt808TimeToMs, msToJt808Time, msgIdHex } from '../protocol/jt808/index.js';
import type { ChildChannel, LifecycleNotes } from '../shared/contracts/lifecycle.js';
import type { CommandAnswer, Jt808Contract, Jt808Init, Jt808Ping, KnownVehicle, RecordItem, VehiclePosition } from '../shared/contracts/jt808.js';
import { conflict, ServiceError, unavailable } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { SharedCounters } from '../shared/counters.js';
import { JT808_COUNTER_NAMES, outSlotOf, type Jt808CounterName } from '../shared/contracts/jt808-counters.js';
import { Jt808CommandError, type Jt808Answer, type Jt808Event, type Jt808Output } from './events.js';
import { Jt808Server } from './server.js';
import type { Jt808Session } from './session.js';

type Jt808Channel = ChildChannel<Jt808Contract>;

/** Bytes queued to one terminal before it counts as not reading and is dropped. */
const MAX_WRITE_BACKLOG = 1 << 20;

/** One terminal's way back: a TCP socket, or a UDP address answered from the shared socket. */
interface Link {
  /** address:port of the terminal. */
  readonly remote: string;
  readonly closed: boolean;
  write(frame: Uint8Array): void;
  /** Bytes accepted by write() and not yet sent (TCP; UDP never queues). */
  readonly backlog: number;
  /** Ends after what was written (TCP: FIN, then destroy after 1 s; UDP: at once). */
  end(): void;
  destroy(): void;
}

interface Connection {
  link: Link;
  session: Jt808Session;
  authTimer: NodeJS.Timeout | null;
}

function tcpLink(socket: Socket): Link {
  const remote = `${socket.remoteAddress}:${socket.remotePort}`;
  return {
    remote,
    get closed() {
      return socket.destroyed;
    },
    write: (frame) => void socket.write(frame),
    get backlog() {
      return socket.writableLength;
    },
    end: () => {
      // Replies already written go out first; end() flushes them, destroy() stops a peer that never closes.
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    },
    destroy: () => void socket.destroy(),
  };
}

export interface Jt808ThreadStats {
  connectionsRefused: number;
  badFrames: number;
  messagesIn: number;
  framesOut: number;
}

export class Jt808Thread {
  readonly server: Jt808Server;
  readonly stats: Jt808ThreadStats = { connectionsRefused: 0, badFrames: 0, messagesIn: 0, framesOut: 0 };
  readonly #channel: Jt808Channel;
  readonly #log: Logger;
  readonly #config: Jt808Init['config']['jt808'];
  readonly #known = new Map<string, KnownVehicle>();
  readonly #connections = new Map<Jt808Session, Connection>();
  readonly #listener: Server;
  /** The UDP socket on the same port (jt808.udp), and its connections by remote address:port. */
  #udp: UdpSocket | null = null;
  readonly #udpPeers = new Map<string, Connection>();
  readonly #counters: SharedCounters<Jt808CounterName>;
  #nextId = 0;
  /** Positions since the last batch note: one postMessage per batch instead of one per 0x0200. */
  #positions: VehiclePosition[] = [];
  #positionTimer: NodeJS.Timeout | null = null;

  constructor(init: Jt808Init, channel: Jt808Channel, clock: Clock = systemClock) {
    this.#channel = channel;
    this.#config = init.config.jt808;
    this.#log = createLogger(init.config.log.level, { thread: 'jt808' });
    for (const v of init.vehicles) this.#known.set(v.sim, v);
    this.#counters = init.counters ? SharedCounters.attach(init.counters, JT808_COUNTER_NAMES) : SharedCounters.create(JT808_COUNTER_NAMES);
    this.server = new Jt808Server({
      clock,
      mode: this.#config.registration,
      lookupTerminal: (phone) => this.#known.get(phone),
      onOutput: (session, out) => this.#apply(session, out),
      session: { offlineAfterMs: this.#config.offlineAfter * 1000 },
    });
    this.#listener = createServer((socket) => this.#accept(socket));
    this.#listener.maxConnections = this.#config.maxConnections;
    this.#listener.on('drop', () => {
      this.stats.connectionsRefused++;
      this.#counters.add('refused|connection-cap');
    });
    this.#serve();
  }

  async start(): Promise<void> {
    const { host, port } = this.#config;
    await new Promise<void>((resolve, reject) => {
      this.#listener.once('error', reject);
      this.#listener.listen(port, host, () => {
        this.#listener.off('error', reject);
        resolve();
      });
    });
    this.#listener.on('error', (err) => this.#log.error({ err }, 'jt808 listener error'));
    if (this.#config.udp) await this.#listenUdp(host, this.port);
    this.#log.info({ host, port: this.port, udp: this.#config.udp, registration: this.#config.registration }, 'jt808 listening');
  }

  /** The bound port (the configured one, or the one the OS chose for port 0). */
  get port(): number {
    const address = this.#listener.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  ping(): Jt808Ping {
    const s = this.server.stats;
    this.#gauges();
    return {
      role: 'jt808',
      connections: this.#connections.size,
      online: s.online,
      registrations: s.registrations,
      registrationsRefused: s.registrationsRefused,
      authenticationsFailed: s.authenticationsFailed,
      ...this.stats,
    };
  }

  async close(): Promise<void> {
    this.#flushPositions();
    const closed = new Promise<void>((resolve) => this.#listener.close(() => resolve()));
    for (const c of this.#connections.values()) c.link.destroy();
    const udp = this.#udp;
    this.#udp = null;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    await closed;
    this.#log.info('jt808 stopped');
  }

  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    const connection = this.#open('tcp', tcpLink(socket));
    socket.on('data', (chunk: Buffer) => this.#feed(connection, chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.#closed(connection));
  }

  /** A new connection's session and its authentication deadline. */
  #open(kind: 'tcp' | 'udp', link: Link): Connection {
    const session = this.server.open(`${kind}-${this.#nextId++}`);
    const connection: Connection = { link, session, authTimer: null };
    this.#connections.set(session, connection);
    connection.authTimer = setTimeout(() => {
      connection.authTimer = null;
      if (!session.authenticated) {
        this.#counters.add('refused|auth-timeout');
        this.#log.debug({ connection: session.connectionId, remote: link.remote }, 'not authenticated in time');
        link.destroy();
      }
    }, this.#config.unauthenticatedTimeout * 1000);
    connection.authTimer.unref();
    this.#gauges();
    return connection;
  }

  #feed(connection: Connection, chunk: Uint8Array): void {
    const { session } = connection;
    const before = session.stats.messages;
    const out = session.feed(chunk);
    const received = session.stats.messages - before;
    this.stats.messagesIn += received;
    // Kinds the events name; answers to commands and the rest are `other`.
    let named = 0;
    for (const e of out.events) if (e.type in IN_KIND) named++;
    if (received > named) this.#counters.add('messages|in|other', received - named);
    this.#apply(session, out);
  }

  /** The connection is gone (TCP close, or a UDP connection ended): its session ends once. */
  #closed(connection: Connection): void {
    if (!this.#connections.has(connection.session)) return;
    if (connection.authTimer !== null) clearTimeout(connection.authTimer);
    this.#connections.delete(connection.session);
    this.#apply(connection.session, this.server.closeConnection(connection.session));
    this.#gauges();
  }

  async #listenUdp(host: string, port: number): Promise<void> {
    const udp = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    udp.on('error', (err) => this.#log.error({ err }, 'jt808 UDP socket error'));
    udp.on('message', (datagram, rinfo) => this.#datagram(udp, datagram, rinfo.address, rinfo.port));
    this.#udp = udp;
  }

  /** A datagram: fed to the connection of its address:port, which is opened by the first one (within maxConnections). */
  #datagram(udp: UdpSocket, datagram: Buffer, address: string, port: number): void {
    const remote = `${address}:${port}`;
    let connection = this.#udpPeers.get(remote);
    if (connection === undefined) {
      if (this.#connections.size >= this.#config.maxConnections) {
        this.stats.connectionsRefused++;
        this.#counters.add('refused|connection-cap');
        return;
      }
      let closed = false;
      const link: Link = {
        remote,
        get closed() {
          return closed;
        },
        write: (frame) => {
          if (!closed) udp.send(frame, port, address);
        },
        backlog: 0,
        end: () => link.destroy(),
        destroy: () => {
          if (closed) return;
          closed = true;
          this.#udpPeers.delete(remote);
          // Not from inside the session's own output handling: the session ends on the next turn.
          queueMicrotask(() => this.#closed(opened));
        },
      };
      const opened = this.#open('udp', link);
      this.#udpPeers.set(remote, opened);
      connection = opened;
    }
    this.#feed(connection, datagram);
  }

  #gauges(): void {
    this.#counters.set('connections', this.#connections.size);
    this.#counters.set('online', this.server.stats.online);
  }

  /** Writes a session's frames and acts on its events. */
  #apply(session: Jt808Session, out: Jt808Output): void {
    const link = this.#connections.get(session)?.link;
    if (link !== undefined && !link.closed) {
      for (const frame of out.replies) {
        link.write(frame);
        this.#counters.add(outSlotOf(frame));
      }
      this.stats.framesOut += out.replies.length;
      if (link.backlog > MAX_WRITE_BACKLOG) {
        this.#counters.add('refused|write-backlog');
        this.#log.warn({ sim: session.phone, backlog: link.backlog }, 'terminal does not read; disconnected');
        link.destroy();
      }
    }
    for (const event of out.events) this.#event(event, link);
  }

  /** A note to the supervisor, after the positions gathered before it: the supervisor sees them in arrival order. */
  #notify<K extends keyof Jt808Contract['upNotes'] & string>(note: K, data: (Jt808Contract['upNotes'] & LifecycleNotes)[K]): void {
    this.#flushPositions();
    this.#channel.notify(note, data);
  }

  /** Sends the positions gathered so far as one note. */
  #flushPositions(): void {
    if (this.#positionTimer !== null) clearTimeout(this.#positionTimer);
    this.#positionTimer = null;
    if (this.#positions.length === 0) return;
    const positions = this.#positions;
    this.#positions = [];
    this.#channel.notify('vehicle.positions', { positions });
  }

  #event(event: Jt808Event, link: Link | undefined): void {
    const kind = IN_KIND[event.type];
    if (kind !== undefined) this.#counters.add(`messages|in|${kind}`);
    switch (event.type) {
      case 'registered': {
        this.#counters.add('registrations|ok');
        const r = event.register;
        this.#notify('vehicle.registered', {
          sim: event.phone,
          authCode: event.authCode,
          plate: r.plate,
          plateColor: r.plateColor,
          model: r.model,
          terminalId: r.terminalId,
          manufacturerId: r.manufacturerId,
          version: event.version,
        });
        return;
      }
      case 'authenticated':
        this.#gauges();
        this.#notify('vehicle.online', { sim: event.phone, address: link?.remote ?? '', version: event.version });
        this.#log.info({ sim: event.phone, version: event.version }, 'terminal online');
        return;
      case 'offline':
        this.#counters.add(`offline|${event.reason}`);
        this.#gauges();
        this.#notify('vehicle.offline', { sim: event.phone, reason: event.reason });
        this.#log.info({ sim: event.phone, reason: event.reason }, 'terminal offline');
        return;
      case 'position': {
        const { latitude, longitude, altitude, speedKmh, direction, timeMs, alarms } = event;
        this.#positions.push({ sim: event.phone, latitude, longitude, altitude, speedKmh, direction, timeMs, alarms });
        if (this.#positions.length >= POSITION_BATCH_MAX) this.#flushPositions();
        else this.#positionTimer ??= setTimeout(() => this.#flushPositions(), POSITION_BATCH_MS);
        return;
      }
      case 'bad-frame':
        this.stats.badFrames++;
        this.#counters.add('bad_frames|all');
        return;
      case 'register-refused':
        this.#counters.add('registrations|refused');
        this.#log.info({ sim: event.phone, result: event.result }, event.type);
        return;
      case 'auth-failed':
        this.#log.info({ sim: event.phone, reason: event.reason }, event.type);
        return;
      case 'disconnect':
        if (event.reason === 'bad-frames' || event.reason === 'auth-failures') this.#counters.add(`refused|${event.reason}`);
        link?.end();
        return;
      default:
        return;
    }
  }

  /** The online session of a SIM (leading zeros ignored), or a 409. */
  #session(sim: string): Jt808Session {
    const session = this.server.sessionOf(normalizeSim(sim));
    if (session === undefined) {
      this.#counters.add('commands|offline');
      throw conflict(`vehicle ${sim} is not online`);
    }
    return session;
  }

  /** A command's outcome counted, its Jt808CommandError turned into the status the API answers with. */
  async #command<T>(promise: Promise<T>): Promise<T> {
    try {
      const result = await commandOf(promise);
      this.#counters.add('commands|ok');
      return result;
    } catch (error) {
      const status = error instanceof ServiceError ? error.status : 500;
      this.#counters.add(status === 409 ? 'commands|offline' : status === 504 ? 'commands|timeout' : status === 502 ? 'commands|refused' : 'commands|error');
      throw error;
    }
  }

  /** The supervisor's requests (src/shared/contracts/jt808.ts `down`). */
  #serve(): void {
    this.#channel
      .handle('vehicle.stream', async ({ sim, ...request }) => accepted(0x9101, await this.#command(this.#session(sim).requestRealtime(request))))
      .handle('vehicle.streamControl', async ({ sim, channel, command, closeType, streamType }) =>
        accepted(0x9102, await this.#command(this.#session(sim).controlAv({ channel, command, closeType: closeType ?? 0, streamType: streamType ?? 0 }))),
      )
      .handle('vehicle.playback', async ({ sim, start, end, ...request }) =>
        accepted(
          0x9201,
          await this.#command(this.#session(sim).requestPlayback({ ...request, start: msToJt808Time(start * 1000), end: msToJt808Time(end > 0 ? end * 1000 : null) })),
        ),
      )
      .handle('vehicle.playbackControl', async ({ sim, channel, command, speed, seek }) =>
        accepted(
          0x9202,
          await this.#command(this.#session(sim).controlPlayback({ channel, command, speed: speed ?? 0, seekTime: msToJt808Time(seek ? seek * 1000 : null) })),
        ),
      )
      .handle('vehicle.avAttributes', ({ sim }) => this.#command(this.#session(sim).queryAvAttributes()))
      .handle('vehicle.records', async ({ sim, channel, start, end }) => {
        const list = await this.#command(
          this.#session(sim).queryRecords({
            channel,
            start: msToJt808Time(start > 0 ? start * 1000 : null),
            end: msToJt808Time(end > 0 ? end * 1000 : null),
            alarmFlags: { videoAlarms: 0, alarms: 0 },
            mediaType: 0,
            streamType: 0,
            storageType: 0,
          }),
        );
        return list.items.map(
          (item): RecordItem => ({
            channel: item.channel,
            start: Math.trunc((jt808TimeToMs(item.start) ?? 0) / 1000),
            end: Math.trunc((jt808TimeToMs(item.end) ?? 0) / 1000),
            alarm: `${item.alarmFlags.videoAlarms.toString(16).padStart(8, '0')}${item.alarmFlags.alarms.toString(16).padStart(8, '0')}`,
            mediaType: item.mediaType,
            streamType: item.streamType,
            storageType: item.storageType,
            size: item.fileSize,
          }),
        );
      })
      .handle('vehicle.raw', async ({ sim, msgId, bodyHex }) => answerOf(await this.#command(this.#session(sim).command(msgId, Buffer.from(bodyHex, 'hex')))));
    this.#channel.onNote('vehicle.known', (vehicle) => this.#known.set(normalizeSim(vehicle.sim), { ...vehicle, sim: normalizeSim(vehicle.sim) }));
    this.#channel.onNote('vehicle.forget', ({ sim }) => {
      this.#known.delete(normalizeSim(sim));
      const session = this.server.sessionOf(normalizeSim(sim));
      if (session !== undefined) this.#connections.get(session)?.link.destroy();
    });
  }
}

/**
 * A fleet reporting every 10 s sends thousands of 0x0200 a second; the supervisor coalesces
 * them anyway (vehicle-bridge), so they cross the thread boundary in batches of at most this
 * many, at most this late.
 */
const POSITION_BATCH_MAX = 500;
const POSITION_BATCH_MS = 50;

/** The `messages|in|…` kind of the events that stand for one received message. */
const IN_KIND: Partial<Record<Jt808Event['type'], 'register' | 'authenticate' | 'heartbeat' | 'location' | 'logout'>> = {
  registered: 'register',
  'register-refused': 'register',
  authenticated: 'authenticate',
  'auth-failed': 'authenticate',
  heartbeat: 'heartbeat',
  position: 'location',
  logout: 'logout',
};

function normalizeSim(sim: string): string {
  const stripped = sim.replace(/^0+/, '');
  return stripped === '' ? '0' : stripped;
}

/** A command's promise, its Jt808CommandError turned into the status the API answers with. */
async function commandOf<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    if (!(error instanceof Jt808CommandError)) throw error;
    switch (error.reason) {
      case 'offline':
        throw conflict(error.message);
      case 'timeout':
        throw new ServiceError(504, '1003', error.message);
      case 'refused':
        throw new ServiceError(502, '1002', error.message);
      default:
        throw unavailable(error.message);
    }
  }
}

function answerOf(answer: Jt808Answer): CommandAnswer {
  switch (answer.msgId) {
    case 0x0001:
      return { msgId: answer.msgId, result: answer.general.result };
    case 0x1003:
      return { msgId: answer.msgId, body: answer.attributes };
    case 0x1205:
      return { msgId: answer.msgId, body: answer.recordList };
  }
}

/** A 0x0001 with a result other than 0 is the terminal saying no: 502 with its result. */
function accepted(msgId: number, answer: Jt808Answer): CommandAnswer {
  const wire = answerOf(answer);
  if (wire.msgId === 0x0001 && wire.result !== AnswerResult.Ok) {
    throw new ServiceError(502, '1002', `${msgIdHex(msgId)} refused by the terminal (0x0001 result ${wire.result})`, wire.result);
  }
  return wire;
}
