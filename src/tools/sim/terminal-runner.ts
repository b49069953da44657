/**
 * Runs simulated JT/T 808 terminals over TCP against a platform's JT808 port. Each terminal
 * is a `SimTerminal` (sans-I/O); this file owns the sockets and, when the platform asks
 * for media (0x9101 / 0x9201), replays a JT/T 1078 capture to the given address through
 * the existing replay runner (`startSimulation`) with the terminal's SIM and the requested
 * channel written into every packet, paced by the capture's timestamps, until 0x9102 /
 * 0x9202 stop (or the terminal stops).
 */
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { systemClock } from '../../protocol/sip/clock.js';
import type { Jt808Version } from '../../protocol/jt808/index.js';
import { loadReplaySource, type ReplaySource } from './replay.js';
import { startSimulation, type SimulationHandle } from './runner.js';
import { SimTerminal, type SimTerminalOptions, type StreamMode, type TerminalAction, type TerminalOutput } from './terminal.js';
import { TalkClient } from './talk-client.js';

export interface TerminalSimulationOptions {
  /** Platform JT808 address. */
  host?: string;
  port: number;
  /** Terminals (one TCP connection, or one UDP socket, each). Default 1. */
  count?: number;
  /** JT/T 808 over UDP instead of TCP (the platform's jt808.udp). Media stays TCP. */
  udp?: boolean;
  /** Phone of terminal 0; terminal i uses simBase + i. */
  simBase: string;
  version?: Jt808Version;
  /** JT/T 1078 capture streamed on 0x9101 / 0x9201 (path, content or loaded source). */
  capture: string | URL | Uint8Array | ReplaySource;
  /** Media playback speed factor. Default 1. */
  speed?: number;
  /** ms between terminal connects. Default 0. */
  stagger?: number;
  /** Reconnect a dropped terminal after this long (keeping its auth code). Default 5000; 0 = never. */
  reconnectDelayMs?: number;
  /** Options passed to every SimTerminal (phone, clock and version are set here). */
  terminal?: Omit<SimTerminalOptions, 'phone' | 'clock' | 'version'>;
  signal?: AbortSignal;
  /**
   * Talk (0x9101 data type 2 two-way, 3 listen, 4 broadcast): the terminal connects a
   * TalkClient to the given port, listens for `detect` Hz (default 1000) in what it
   * receives, and (types 2 and 3) sends a `tone` Hz tone (default 440) in its audio codec,
   * or the audio packets given in `packets` (e.g. those of audio_data.txt) as they are.
   */
  talk?: { tone?: number; detect?: number; packets?: ReadonlyArray<{ payloadType: number; body: Uint8Array }>; packetMs?: number; hisilicon?: boolean };
  /** Every action of every terminal, plus connection changes and errors. */
  onEvent?: (event: TerminalRunnerEvent) => void;
}

export type TerminalRunnerEvent =
  | { type: 'action'; phone: string; action: TerminalAction }
  | { type: 'connected'; phone: string }
  | { type: 'disconnected'; phone: string }
  | { type: 'stream-ended'; phone: string; mode: StreamMode; channel: number; packetsSent: number }
  | { type: 'talk-started'; phone: string; channel: number; port: number; client: TalkClient }
  | { type: 'talk-ended'; phone: string; channel: number; packetsIn: number; packetsOut: number }
  | { type: 'error'; phone: string; error: Error };

export interface TerminalSimulationStats {
  terminals: number;
  connected: number;
  online: number;
  framesSent: number;
  framesReceived: number;
  streamsOpened: number;
  streamsActive: number;
  mediaPacketsSent: number;
  errors: number;
}

export interface TerminalSimulationHandle {
  readonly stats: Readonly<TerminalSimulationStats>;
  /** Phones in terminal order. */
  readonly phones: readonly string[];
  /** The live state machine of a terminal (replaced on reconnect). */
  terminal(phone: string): SimTerminal | undefined;
  /** Log out every terminal, stop media, close sockets. */
  stop(): Promise<TerminalSimulationStats>;
  /** Resolves when stopped. */
  readonly done: Promise<TerminalSimulationStats>;
}

/** The terminal's JT/T 808 transport: a TCP connection or a connected UDP socket (UdpSignalling). */
type SignallingSocket = Socket | UdpSignalling;

/**
 * A connected UDP socket with the events and methods of a TCP connection that the runner
 * uses ('connect', 'data', 'error', 'close'; write, end, destroy). UDP has no close of its
 * own: the platform ending the "connection" is silence, so only we close it.
 */
class UdpSignalling extends EventEmitter {
  #udp: DgramSocket;
  destroyed = false;

  constructor(host: string, port: number) {
    super();
    this.#udp = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    this.#udp.on('message', (datagram) => this.emit('data', datagram));
    this.#udp.on('error', (error) => this.emit('error', error));
    this.#udp.on('close', () => this.emit('close'));
    this.#udp.connect(port, host, () => this.emit('connect'));
  }

  write(frame: Uint8Array): void {
    if (!this.destroyed) this.#udp.send(frame);
  }

  end(): void {
    this.destroy();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.#udp.close();
  }
}

interface Running {
  index: number;
  phone: string;
  terminal: SimTerminal;
  socket: SignallingSocket | null;
  streams: Map<string, Promise<SimulationHandle | null>>;
  talks: Map<number, TalkClient>;
  reconnectTimer: ReturnType<typeof setTimeout> | null;
}

export async function startTerminalSimulation(options: TerminalSimulationOptions): Promise<TerminalSimulationHandle> {
  const capture = options.capture;
  const source = typeof capture === 'string' || capture instanceof URL || capture instanceof Uint8Array ? await loadReplaySource(capture) : capture;
  const host = options.host ?? '127.0.0.1';
  const count = options.count ?? 1;
  if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`count: must be a positive integer (got ${count})`);
  if (!/^[0-9]{1,20}$/.test(options.simBase)) throw new RangeError(`simBase: must be 1 to 20 decimal digits (got ${JSON.stringify(options.simBase)})`);
  const version = options.version ?? '2013';
  const digits = version === '2019' ? 20 : 12;
  const phones: string[] = [];
  for (let i = 0; i < count; i++) {
    const phone = (BigInt(options.simBase) + BigInt(i)).toString();
    if (phone.length > digits) throw new RangeError(`simBase: ${options.simBase} + ${count - 1} does not fit in ${digits} digits (${version} header)`);
    phones.push(phone);
  }
  const reconnectDelayMs = options.reconnectDelayMs ?? 5000;
  const stats: TerminalSimulationStats = {
    terminals: count,
    connected: 0,
    online: 0,
    framesSent: 0,
    framesReceived: 0,
    streamsOpened: 0,
    streamsActive: 0,
    mediaPacketsSent: 0,
    errors: 0,
  };
  const emit = (event: TerminalRunnerEvent) => options.onEvent?.(event);
  let stopping = false;
  let resolveDone!: (s: TerminalSimulationStats) => void;
  const done = new Promise<TerminalSimulationStats>((resolve) => (resolveDone = resolve));
  const running: Running[] = [];

  function newTerminal(phone: string, authCode?: string): SimTerminal {
    return new SimTerminal({ ...options.terminal, phone, version, clock: systemClock, ...(authCode !== undefined ? { authCode } : {}) });
  }

  function write(r: Running, out: TerminalOutput): void {
    if (r.socket !== null && !r.socket.destroyed) {
      for (const frame of out.frames) r.socket.write(frame);
      stats.framesSent += out.frames.length;
    }
    for (const action of out.actions) act(r, action);
  }

  function act(r: Running, action: TerminalAction): void {
    emit({ type: 'action', phone: r.phone, action });
    if (action.type === 'state') {
      if (action.state === 'online') stats.online++;
    } else if (action.type === 'open-stream') openStream(r, action);
    else if (action.type === 'close-stream') closeStream(r, action.mode, action.channel);
  }

  function openTalk(r: Running, action: Extract<TerminalAction, { type: 'open-stream' }>): void {
    closeTalk(r, action.channel);
    const payloadType = r.terminal.audioCodec;
    const talk = options.talk ?? {};
    const client = new TalkClient({ host: action.host, port: action.port, sim: r.phone, channel: action.channel, payloadType, detect: talk.detect ?? 1000, ...(talk.hisilicon !== undefined ? { hisilicon: talk.hisilicon } : {}) });
    r.talks.set(action.channel, client);
    stats.streamsOpened++;
    stats.streamsActive++;
    client.connect().then(
      () => {
        emit({ type: 'talk-started', phone: r.phone, channel: action.channel, port: action.port, client });
        if (action.dataType !== 4) {
          if (talk.packets?.length) client.sendPackets(talk.packets, talk.packetMs ?? 20);
          else client.sendTone(talk.tone ?? 440);
        }
      },
      (error: Error) => {
        stats.errors++;
        emit({ type: 'error', phone: r.phone, error });
      },
    );
    void client.closed.then(() => {
      client.stopSending();
      if (r.talks.get(action.channel) === client) r.talks.delete(action.channel);
      stats.streamsActive--;
      stats.mediaPacketsSent += client.stats.packetsOut;
      emit({ type: 'talk-ended', phone: r.phone, channel: action.channel, packetsIn: client.stats.packetsIn, packetsOut: client.stats.packetsOut });
    });
  }

  function closeTalk(r: Running, channel: number): void {
    const client = r.talks.get(channel);
    if (!client) return;
    r.talks.delete(channel);
    void client.close();
  }

  function openStream(r: Running, action: Extract<TerminalAction, { type: 'open-stream' }>): void {
    const key = `${action.mode}:${action.channel}`;
    closeStream(r, action.mode, action.channel);
    if (action.mode === 'realtime' && action.dataType >= 2 && action.dataType <= 4 && action.transport === 'tcp') {
      openTalk(r, action);
      return;
    }
    if (action.transport !== 'tcp') {
      stats.errors++;
      emit({ type: 'error', phone: r.phone, error: new Error(`${action.mode} channel ${action.channel}: UDP media is not simulated`) });
      return;
    }
    stats.streamsOpened++;
    stats.streamsActive++;
    const started = startSimulation({
      capture: source,
      host: action.host,
      port: action.port,
      streams: 1,
      loops: Infinity,
      simBase: r.phone,
      channel: action.channel,
      speed: options.speed ?? 1,
      onStreamError: (_i, error) => {
        stats.errors++;
        emit({ type: 'error', phone: r.phone, error });
      },
    }).catch((error: unknown) => {
      stats.errors++;
      emit({ type: 'error', phone: r.phone, error: error instanceof Error ? error : new Error(String(error)) });
      return null;
    });
    r.streams.set(key, started);
    void started.then((handle) =>
      handle?.done.then((final) => {
        if (r.streams.get(key) === started) r.streams.delete(key);
        stats.streamsActive--;
        stats.mediaPacketsSent += final.packetsSent;
        emit({ type: 'stream-ended', phone: r.phone, mode: action.mode, channel: action.channel, packetsSent: final.packetsSent });
      }),
    );
  }

  function closeStream(r: Running, mode: StreamMode, channel: number): void {
    if (mode === 'realtime') closeTalk(r, channel);
    const key = `${mode}:${channel}`;
    const started = r.streams.get(key);
    if (started === undefined) return;
    r.streams.delete(key);
    void started.then((handle) => handle?.stop());
  }

  function connect(r: Running): void {
    const socket: SignallingSocket = options.udp ? new UdpSignalling(host, options.port) : createConnection({ host, port: options.port, noDelay: true });
    r.socket = socket;
    let connected = false;
    socket.once('connect', () => {
      connected = true;
      stats.connected++;
      emit({ type: 'connected', phone: r.phone });
      write(r, r.terminal.start());
    });
    socket.on('data', (chunk: Buffer) => {
      const before = r.terminal.stats.received;
      const out = r.terminal.feed(chunk);
      stats.framesReceived += r.terminal.stats.received - before;
      write(r, out);
    });
    socket.on('error', (error: Error) => {
      stats.errors++;
      emit({ type: 'error', phone: r.phone, error });
    });
    socket.once('close', () => {
      if (r.socket !== socket) return;
      if (connected) {
        stats.connected--;
        emit({ type: 'disconnected', phone: r.phone });
      }
      if (r.terminal.state === 'online') stats.online--;
      const authCode = r.terminal.authCode;
      for (const action of r.terminal.stop().actions) act(r, action);
      r.socket = null;
      if (stopping || reconnectDelayMs === 0) return;
      r.reconnectTimer = setTimeout(() => {
        r.reconnectTimer = null;
        if (stopping) return;
        r.terminal = newTerminal(r.phone, authCode);
        r.terminal.onOutput = (out) => write(r, out);
        connect(r);
      }, reconnectDelayMs);
    });
  }

  phones.forEach((phone, index) => {
    const r: Running = { index, phone, terminal: newTerminal(phone), socket: null, streams: new Map(), talks: new Map(), reconnectTimer: null };
    r.terminal.onOutput = (out) => write(r, out);
    running.push(r);
    const stagger = options.stagger ?? 0;
    if (stagger > 0 && index > 0) r.reconnectTimer = setTimeout(() => connect(r), index * stagger);
    else connect(r);
  });

  async function stop(): Promise<TerminalSimulationStats> {
    if (stopping) return done;
    stopping = true;
    const waits: Promise<unknown>[] = [];
    for (const r of running) {
      if (r.reconnectTimer !== null) clearTimeout(r.reconnectTimer);
      const wasOnline = r.terminal.state === 'online';
      for (const started of r.streams.values()) waits.push(started.then((h) => h?.done));
      for (const client of r.talks.values()) waits.push(client.closed);
      write(r, r.terminal.stop());
      if (wasOnline) stats.online--;
      const socket = r.socket;
      if (socket !== null) {
        waits.push(new Promise<void>((resolve) => {
          socket.once('close', () => resolve());
          socket.end();
          setTimeout(() => socket.destroy(), 2000).unref();
        }));
      }
    }
    await Promise.all(waits);
    resolveDone({ ...stats });
    return done;
  }

  options.signal?.addEventListener('abort', () => void stop(), { once: true });

  return {
    stats,
    phones,
    terminal: (phone) => running.find((r) => r.phone === phone)?.terminal,
    stop,
    done,
  };
}
