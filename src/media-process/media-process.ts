/**
 * The media process's main thread (docs/architecture.md): forked by the supervisor.
 * It owns the JT/T 1078 TCP acceptors, the RTP port range and one SharedArrayBuffer
 * ring per media worker, and supervises the workers: one that dies is restarted with
 * a fresh ring, its connections are dropped (terminals reconnect) and its streams are
 * reported closed with reason `worker-died`.
 *
 * Owns: media workers (ManagedChild) → their rings; the acceptor; the port allocator;
 * the registry of live streams (which worker owns each). close() stops the acceptor,
 * then the workers (each closes its streams with reason `shutdown`).
 */
import type { CamgateConfig } from '../shared/config/config.js';
import { ManagedChild, threadSpawner } from '../shared/child.js';
import type { ChildChannel } from '../shared/contracts/lifecycle.js';
import type { ForwardAdded, MediaContract, MediaPing, MediaWorkerContract, RtpOpenRequest, StreamInfo, StreamStopped } from '../shared/contracts/media.js';
import type { Destination } from '../shared/contracts/destination.js';
import { MEDIA_COUNTER_NAMES } from '../shared/contracts/media-counters.js';
import { SharedCounters } from '../shared/counters.js';
import { entryPath } from '../shared/entry.js';
import { conflict, missing, unavailable } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { RingBuffer, RingWriter } from '../shared/ring.js';
import { IngestAcceptor, type WorkerSlot } from './ingest-acceptor.js';
import { RtpPortAllocator } from './rtp-port-allocator.js';
import { ViewerServer } from './viewers/viewer-server.js';
import type { IntercomServer } from './intercom/intercom-server.js';
import { mediaWorkerCount } from '../shared/config/worker-count.js';

type MediaChannel = ChildChannel<MediaContract>;
type WorkerChild = ManagedChild<MediaWorkerContract>;

/** Why streams of a dead worker ended; the supervisor records it on their rows. */
export const WORKER_DIED = 'worker-died';

export class MediaProcess {
  #config: CamgateConfig;
  #channel: MediaChannel;
  #log: Logger;
  #counters: SharedCounters;
  #workers: WorkerChild[] = [];
  #slots: WorkerSlot[] = [];
  /** Live streams by name: which worker and connection own them. */
  #streams = new Map<string, StreamInfo>();
  /** GB28181 inputs: stream name → worker slot and RTP port. */
  #rtpInputs = new Map<string, { slot: number; port: number }>();
  #ports: RtpPortAllocator;
  /** Ports of listening forwards (media.rtpPorts), by stream name. */
  readonly #listening = new Map<string, Set<number>>();
  #acceptor: IngestAcceptor | null = null;
  /** Every HTTP-FLV / WS-FLV viewer on one port (media.httpPort); null with media.server zlm. */
  #viewers: ViewerServer | null = null;
  #idleTimer: NodeJS.Timeout | null = null;
  #nextWorker = 0;
  /** Browser ⇄ vehicle talk (jt1078.intercom.enabled); in this thread, next to the talk sockets (docs/intercom.md). */
  #intercom: IntercomServer | null = null;

  constructor(config: CamgateConfig, channel: MediaChannel) {
    this.#config = config;
    this.#channel = channel;
    this.#log = createLogger(config.log.level, { process: 'media' });
    // Shared memory cannot cross processes: the media process owns its counters and
    // reports them in its ping answer; the supervisor keeps totals across restarts.
    this.#counters = SharedCounters.create(MEDIA_COUNTER_NAMES);
    this.#ports = new RtpPortAllocator(config.media.rtpPorts);
    if (config.media.server === 'builtin') {
      this.#viewers = new ViewerServer({ host: config.media.host, port: config.media.httpPort, onBytesOut: (n) => this.#counters.add('bytes_out|flv', n) });
    }
    const count = mediaWorkerCount(config.media.workers);
    for (let slot = 0; slot < count; slot++) this.#workers.push(this.#worker(slot));
    this.#serve();
  }

  async start(): Promise<void> {
    const { config } = this;
    // The viewer port first: workers attach their FLV rings to it as they start.
    await this.#viewers?.start();
    if (this.#viewers && config.streams.noViewerClose > 0) this.#watchIdle(config.streams.noViewerClose * 1000);
    await Promise.all(this.#workers.map((w) => w.start()));
    this.#acceptor = new IngestAcceptor({
      host: config.jt1078.host,
      ports: { realtime: config.jt1078.realtime.port, playback: config.jt1078.playback.port },
      idleTimeoutMs: config.jt1078.idleTimeout * 1000,
      counters: this.#counters,
      slots: this.#slots,
    });
    await this.#acceptor.listen();
    if (config.jt1078.intercom.enabled) {
      // Loaded only when enabled: werift costs ~0.4 s of start-up that every other start would pay.
      const { IntercomServer } = await import('./intercom/intercom-server.js');
      this.#intercom = new IntercomServer(config, this.#counters, {
        connected: (id) => this.#channel.notify('intercom.connected', { id }),
        ended: (ended) => this.#channel.notify('intercom.ended', ended),
        join: (join) => this.#channel.notify('intercom.audioJoin', join),
        leave: (leave) => this.#channel.notify('intercom.audioLeave', leave),
      });
      await this.#intercom.listen();
    }
    this.#log.info(
      {
        workers: this.#workers.length,
        jt1078: { host: config.jt1078.host, realtime: config.jt1078.realtime.port, playback: config.jt1078.playback.port },
        rtpPorts: config.media.rtpPorts,
        viewers: this.#viewers ? { host: config.media.host, port: this.#viewers.port } : null,
        intercom: this.#intercom ? { webrtcPort: config.jt1078.intercom.webrtcPort, audioPorts: config.jt1078.intercom.audioPorts } : null,
      },
      'media process started',
    );
  }

  get config(): CamgateConfig {
    return this.#config;
  }

  async ping(): Promise<MediaPing & { ok: boolean }> {
    const states = await Promise.all(this.#workers.map((w) => w.health(500)));
    const streams = [...this.#streams.values()];
    const gb28181 = streams.filter((s) => s.kind === 'gb28181').length;
    return {
      role: 'media',
      ok: states.every((s) => s.ok),
      workers: states,
      rings: this.#slots.map((s) => ({ slot: s.slot, usedBytes: s.writer?.usedBytes ?? 0, capacity: s.writer?.capacity ?? 0, fullEvents: s.writer?.stats.fullEvents ?? 0 })),
      connections: this.#acceptor?.connectionCount ?? 0,
      streams: streams.length,
      streamsByProtocol: { jt1078: streams.length - gb28181, gb28181 },
      viewers: this.#viewers?.viewerCount ?? 0,
      viewerPort: this.#viewers?.port ?? 0,
      counters: this.#counters.snapshot(),
      intercom: this.#intercom?.ping() ?? null,
    };
  }

  async close(): Promise<void> {
    if (this.#idleTimer) clearInterval(this.#idleTimer);
    await this.#intercom?.shutdown();
    await this.#acceptor?.close();
    await Promise.all(this.#workers.map((w) => w.stop(2000)));
    this.#viewers?.close();
    this.#log.info('media process stopped');
  }

  // --- Workers --------------------------------------------------------------------

  #worker(slot: number): WorkerChild {
    const { config } = this;
    this.#slots.push({ slot, writer: null });
    const name = `media-worker-${slot}`;
    const worker: WorkerChild = new ManagedChild(
      name,
      threadSpawner<MediaWorkerContract>(
        entryPath('media-worker'),
        () => {
          // Fresh rings per incarnation: the dead worker's unread bytes are gone with it.
          const ring = RingBuffer.create(config.media.ringBytes);
          this.#slots[slot]!.writer = new RingWriter(ring);
          const flvRing = this.#viewers ? RingBuffer.create(config.media.ringBytes) : null;
          // flv.want goes to whichever incarnation is current: the ring's streams are its own.
          if (flvRing) this.#viewers!.attachWorker(slot, flvRing, (want) => this.#workers[slot]?.channel?.notify('flv.want', want));
          return {
            slot,
            ring,
            counters: this.#counters.sab,
            prefixes: { realtime: config.jt1078.realtime.prefix, playback: config.jt1078.playback.prefix },
            forward: config.jt1078.forward,
            flvRing,
            forwardHighWater: config.media.forwardHighWater,
            packetTimeoutMs: config.jt1078.packetTimeout * 1000,
            logLevel: config.log.level,
          };
        },
        name,
      ),
      {
        onChannel: (channel) => {
          channel.onNote('stream.started', (info) => this.#streamStarted(info));
          channel.onNote('stream.stopped', (stopped) => this.#streamStopped(stopped));
          channel.onNote('record.progress', (progress) => this.#channel.notify('record.progress', progress));
          channel.onNote('connection.stalled', ({ connId }) => this.#acceptor?.closeStalled(connId));
          channel.onNote('forward.ended', (ended) => {
            this.#releaseListening(ended.name, ended.port);
            this.#channel.notify('forward.ended', ended);
          });
        },
      },
    );
    worker.on('died', (reason) => this.#workerDied(slot, reason));
    worker.on('restarted', (restarts) => {
      this.#log.info({ worker: slot, restarts }, 'media worker restarted');
      this.#channel.notify('worker.restarted', { slot, restarts });
    });
    return worker;
  }

  /** A worker died: its ring is dropped, its connections closed, its streams end with reason `worker-died`. */
  #workerDied(slot: number, reason: string): void {
    // The "media worker" prefix tells viewers (502 / WS 1011) that their stream's worker died.
    this.#viewers?.detachWorker(slot, `media worker died: ${reason}`);
    const writer = this.#slots[slot]!.writer;
    this.#slots[slot]!.writer = null;
    writer?.close();
    const droppedConnections = this.#acceptor?.dropSlot(slot) ?? 0;
    const closedStreams: string[] = [];
    for (const stream of [...this.#streams.values()]) {
      if (stream.slot !== slot) continue;
      closedStreams.push(stream.name);
      this.#streamStopped({ ...stream, reason: `${WORKER_DIED}: ${reason}`, endedAt: Date.now() });
    }
    for (const [name, input] of [...this.#rtpInputs]) {
      if (input.slot === slot) this.#releaseInput(name);
    }
    this.#log.warn({ worker: slot, reason, closedStreams, droppedConnections }, 'media worker died; its streams closed');
    this.#channel.notify('worker.died', { slot, reason, droppedConnections, closedStreams });
  }

  /** Reports streams without a viewer for `ms`, once per idle spell; the supervisor decides (BYE for GB28181). */
  #watchIdle(ms: number): void {
    const reported = new Set<string>();
    this.#idleTimer = setInterval(() => {
      const idle = new Set(this.#viewers?.idleStreams(Date.now() - ms) ?? []);
      for (const name of idle) {
        const slot = this.#viewers?.streamSlot(name);
        if (!reported.has(name) && slot !== undefined) this.#channel.notify('stream.idle', { name, slot });
      }
      for (const name of [...reported]) if (!idle.has(name)) reported.delete(name);
      for (const name of idle) reported.add(name);
    }, Math.min(5000, ms));
    this.#idleTimer.unref();
  }

  /** A live worker for a new input, round robin. */
  #pickWorker(): { slot: number; worker: WorkerChild } {
    const live = this.#workers.map((worker, slot) => ({ worker, slot })).filter(({ worker }) => worker.channel !== null);
    if (live.length === 0) throw unavailable('no media worker is running');
    return live[this.#nextWorker++ % live.length]!;
  }

  #workerOf(name: string): WorkerChild {
    const slot = this.#streams.get(name)?.slot ?? this.#rtpInputs.get(name)?.slot;
    const worker = slot === undefined ? undefined : this.#workers[slot];
    if (!worker?.channel) throw missing(`no live stream ${name}`);
    return worker;
  }

  // --- Stream registry ----------------------------------------------------------------

  #streamStarted(stream: StreamInfo): void {
    const previous = this.#streams.get(stream.name);
    if (previous && (previous.connId !== stream.connId || previous.slot !== stream.slot)) {
      // The same terminal channel connected again (the old connection is usually
      // half-open): the newest connection wins, the old one is closed and reported
      // stopped now, so a leave always precedes the next join for a name.
      this.#streams.delete(stream.name);
      this.#channel.notify('stream.stopped', { ...previous, reason: 'replaced by a new connection', endedAt: Date.now() });
      this.#acceptor?.closeConnection(previous.connId);
    }
    this.#streams.set(stream.name, stream);
    this.#channel.notify('stream.started', stream);
  }

  #streamStopped(stream: StreamStopped): void {
    const input = this.#rtpInputs.get(stream.name);
    if (input && input.slot === stream.slot) this.#releaseInput(stream.name);
    if (this.#streams.get(stream.name)?.slot === stream.slot || input?.slot === stream.slot) this.#releaseListening(stream.name);
    const current = this.#streams.get(stream.name);
    if (current && current.connId === stream.connId && current.slot === stream.slot) this.#streams.delete(stream.name);
    else if (current) return; // a newer connection owns the name: this stop is old news
    this.#channel.notify('stream.stopped', stream);
  }

  #releaseInput(name: string): void {
    const input = this.#rtpInputs.get(name);
    if (!input) return;
    this.#rtpInputs.delete(name);
    this.#ports.release(input.port);
  }

  // --- Requests from the supervisor -----------------------------------------------

  #serve(): void {
    this.#channel
      .handle('streams', () => [...this.#streams.values()])
      .handle('rtp.inputs', () => [...this.#rtpInputs.keys()])
      .handle('streams.stats', ({ names }) => this.#viewers?.liveStats(names) ?? [])
      .handle('viewers', ({ name }) => this.#viewers?.streamStats(name)?.viewerList.length ?? 0)
      .handle('rtp.open', (request) => this.#openRtp(request))
      .handle('rtp.close', async ({ name, reason }) => {
        const input = this.#rtpInputs.get(name);
        if (!input) return false;
        return (await this.#workers[input.slot]?.channel?.request('rtp.close', { name, ...(reason ? { reason } : {}) })) ?? false;
      })
      .handle('forward.add', (request) => this.#forwardAdd(request))
      .handle('forward.remove', async (request) => {
        const removed = await this.#workerOf(request.name).channel!.request('forward.remove', request);
        if (this.#listening.get(request.name)?.delete(request.port)) this.#ports.release(request.port);
        return removed;
      })
      .handle('forward.list', (request) => this.#workerOf(request.name).channel!.request('forward.list', request))
      .handle('intercom.open', (request) => this.#intercomServer().open(request))
      .handle('intercom.close', ({ id, reason }) => this.#intercom?.close(id, reason) ?? false)
      .handle('intercom.list', () => this.#intercom?.list() ?? [])
      .handle('intercom.attachRtp', (target) => this.#intercomServer().attachRtp(target))
      .handle('worker.kill', ({ slot }) => {
        const worker = this.#workers[slot];
        if (!worker) throw missing(`no media worker ${slot}`);
        this.#log.warn({ worker: slot }, 'media worker killed by request');
        worker.kill();
        return true;
      });
  }

  /** A forward; a listening one (the receiver connects) on a free port of media.rtpPorts, bound by the stream's worker. */
  async #forwardAdd(request: { name: string; destination: Destination }): Promise<ForwardAdded> {
    const worker = this.#workerOf(request.name);
    if (!request.destination.listen) return worker.channel!.request('forward.add', request);
    let added: ForwardAdded | undefined;
    const port = await this.#ports.allocate(async (candidate) => {
      const channel = worker.channel;
      if (!channel) throw unavailable('media worker went away');
      added = await channel.request('forward.add', { name: request.name, destination: { ...request.destination, port: candidate }, bind: this.#config.media.host });
    });
    const ports = this.#listening.get(request.name) ?? new Set<number>();
    ports.add(port);
    this.#listening.set(request.name, ports);
    return { ...added!, port };
  }

  /** The listening ports of a stream's forwards go back to the range with it. */
  #releaseListening(name: string, port?: number): void {
    const ports = this.#listening.get(name);
    if (!ports) return;
    for (const p of port === undefined ? [...ports] : [port]) if (ports.delete(p)) this.#ports.release(p);
    if (ports.size === 0) this.#listening.delete(name);
  }

  #intercomServer(): IntercomServer {
    if (!this.#intercom) throw unavailable('intercom is off (jt1078.intercom.enabled)');
    return this.#intercom;
  }

  /** Opens a GB28181 PS/RTP input: a live worker, a free port of media.rtpPorts, and the worker owns the socket. */
  async #openRtp(request: RtpOpenRequest): Promise<{ name: string; port: number; slot: number }> {
    if (this.#rtpInputs.has(request.name)) throw conflict(`stream ${request.name} is already open`);
    const { slot, worker } = this.#pickWorker();
    const port = await this.#ports.allocate(async (candidate) => {
      const channel = worker.channel;
      if (!channel) throw unavailable(`media worker ${slot} went away`);
      await channel.request('rtp.open', {
        ...request,
        port: candidate,
        host: this.#config.media.host,
        mediaTimeoutMs: request.mediaTimeoutMs ?? 30_000,
        destinations: request.destinations ?? [],
      });
    });
    this.#rtpInputs.set(request.name, { slot, port });
    return { name: request.name, port, slot };
  }
}
