/**
 * The media process (DESIGN.md §1): forked by the supervisor. Its main thread owns
 * the JT/T 1078 TCP acceptors and one SharedArrayBuffer ring per media worker, and
 * supervises the workers: one that dies is restarted with a fresh ring, its
 * connections are dropped (terminals reconnect) and its streams reported closed.
 */
import { runChild } from '../src/shared/child-runtime.js';
import { ManagedChild, threadSpawner } from '../src/shared/child.js';
import { SharedCounters } from '../src/shared/counters.js';
import { entryPath } from '../src/shared/entry.js';
import { RingBuffer, RingWriter } from '../src/shared/ring.js';
import { IngestAcceptor, type WorkerSlot } from '../src/media-process/ingest-acceptor.js';
import { MEDIA_COUNTER_NAMES } from '../src/shared/contracts/media-counters.js';
import { mediaWorkerCount } from '../src/media-process/worker-count.js';
import type { CamgateConfig } from '../src/shared/config/config.js';

// Only the supervisor decides when the data plane stops; a terminal's Ctrl-C or a
// stray SIGTERM to the group must not beat the ordered shutdown.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);

interface MediaInit {
  config: CamgateConfig;
}

interface StreamRecord {
  name: string;
  slot: number;
  connId: number;
  [key: string]: unknown;
}

const workers: ManagedChild[] = [];
const slots: WorkerSlot[] = [];
/** Live streams by name: which worker and connection own them. */
const streams = new Map<string, StreamRecord>();
let acceptor: IngestAcceptor | null = null;
let counters: SharedCounters | null = null;

const channel = runChild<MediaInit>({
  async init({ config }) {
    // Shared memory cannot cross processes: the media process owns its counters and
    // reports them in its ping answer; the supervisor keeps totals across restarts.
    counters = SharedCounters.create(MEDIA_COUNTER_NAMES);
    const countersSab = counters.sab;
    const count = mediaWorkerCount(config.media.workers);
    for (let slot = 0; slot < count; slot++) {
      slots.push({ slot, writer: null });
      const worker = new ManagedChild(
        `media-worker-${slot}`,
        threadSpawner(
          entryPath('media-worker'),
          () => {
            // A fresh ring per incarnation: the dead worker's unread bytes are gone with it.
            const ring = RingBuffer.create(config.media.ringBytes);
            slots[slot]!.writer = new RingWriter(ring);
            return {
              slot,
              ring,
              counters: countersSab,
              prefixes: { realtime: config.jt1078.realtime.prefix, playback: config.jt1078.playback.prefix },
              forward: config.jt1078.forward,
              packetTimeoutMs: config.jt1078.packetTimeout * 1000, // siphard
              flv: { host: config.media.host, port: config.media.server === 'builtin' ? config.media.httpPort + slot : 0, noViewerCloseMs: config.streams.noViewerClose * 1000 },
            };
          },
          `media-worker-${slot}`,
        ),
        {
          onChannel: (workerChannel) => {
            workerChannel.onNote('stream.started', (note) => onStreamStarted(note as StreamRecord));
            workerChannel.onNote('stream.stopped', (note) => onStreamStopped(note as StreamRecord));
            workerChannel.onNote('stream.idle', (note) => channel.notify('stream.idle', note));
            workerChannel.onNote('connection.stalled', (note) => acceptor?.closeStalled((note as { connId: number }).connId)); // siphard
          },
        },
      );
      worker.on('died', (reason) => {
        const writer = slots[slot]!.writer;
        slots[slot]!.writer = null;
        writer?.close();
        const dropped = acceptor?.dropSlot(slot) ?? 0;
        // Streams that lived there end now, reported like any other stop.
        for (const stream of [...streams.values()]) {
          if (stream.slot === slot) onStreamStopped({ ...stream, reason: `media worker died: ${reason}`, endedAt: Date.now() });
        }
        channel.notify('worker.died', { slot, reason, droppedConnections: dropped });
      });
      worker.on('restarted', (restarts) => channel.notify('worker.restarted', { slot, restarts }));
      workers.push(worker);
    }
    await Promise.all(workers.map((w) => w.start()));
    acceptor = new IngestAcceptor({
      host: config.jt1078.host,
      ports: { realtime: config.jt1078.realtime.port, playback: config.jt1078.playback.port },
      idleTimeoutMs: config.jt1078.idleTimeout * 1000,
      counters,
      slots,
    });
    await acceptor.listen();
    const [low, high] = config.media.rtpPorts.split('-').map(Number) as [number, number];
    rtpConfig = { low, high, host: config.media.host };
  },
  async ping() {
    const states = await Promise.all(workers.map((w) => w.health(500)));
    const rings = slots.map((s) => ({ slot: s.slot, usedBytes: s.writer?.usedBytes ?? 0, capacity: s.writer?.capacity ?? 0, fullEvents: s.writer?.stats.fullEvents ?? 0 }));
    return {
      role: 'media',
      ok: states.every((s) => s.ok),
      workers: states,
      rings,
      connections: acceptor?.connectionCount ?? 0,
      streams: streams.size,
      streamsByProtocol: {
        jt1078: [...streams.values()].filter((r) => r.kind !== 'gb28181').length,
        gb28181: [...streams.values()].filter((r) => r.kind === 'gb28181').length,
      },
      viewers: states.reduce((n, w) => n + ((w.detail as { viewers?: number } | undefined)?.viewers ?? 0), 0),
      counters: counters?.snapshot() ?? {},
    };
  },
  async shutdown() {
    await acceptor?.close();
    await Promise.all(workers.map((w) => w.stop(2000)));
  },
});

function onStreamStarted(stream: StreamRecord): void {
  const previous = streams.get(stream.name);
  if (previous && previous.connId !== stream.connId) {
    // The same terminal channel connected again (the old connection is usually
    // half-open): the newest connection wins, the old one is closed and reported
    // stopped now, so a leave always precedes the next join for a name.
    streams.delete(stream.name);
    channel.notify('stream.stopped', { ...previous, reason: 'replaced by a new connection', endedAt: Date.now() });
    acceptor?.closeConnection(previous.connId);
  }
  streams.set(stream.name, stream);
  channel.notify('stream.started', stream);
}

function onStreamStopped(stream: StreamRecord): void {
  const input = rtpInputs.get(stream.name);
  if (input && input.slot === stream.slot) {
    rtpInputs.delete(stream.name);
    rtpPortsInUse.delete(input.port);
  }
  const current = streams.get(stream.name);
  if (current && current.connId === stream.connId && current.slot === stream.slot) streams.delete(stream.name);
  else if (current) return; // a newer connection owns the name: this stop is old news
  channel.notify('stream.stopped', stream);
}

channel.handle('streams', () => [...streams.values()]);

/** RTP ports in use, so two streams never race for one. */
const rtpPortsInUse = new Set<number>();
/** GB28181 inputs: stream name → worker slot and port. */
const rtpInputs = new Map<string, { slot: number; port: number }>();
let rtpRoundRobin = 0;
let rtpConfig: { low: number; high: number; host: string } | null = null;

/**
 * Opens a GB28181 PS/RTP input: picks a live worker, a free port of media.rtpPorts
 * (trying the next when the bind fails), and lets the worker own the socket.
 */
channel.handle('rtp.open', async (data) => {
  const request = data as { name: string; transport: 'udp' | 'tcp'; ssrc?: number; mediaTimeoutMs?: number; destinations?: unknown[] };
  if (!rtpConfig) throw new Error('media process not initialised');
  if (rtpInputs.has(request.name)) throw new Error(`stream ${request.name} is already open`);
  const live = workers.map((w, slot) => ({ w, slot })).filter(({ w }) => w.channel !== null);
  if (live.length === 0) throw new Error('no media worker is running');
  const { slot, w } = live[rtpRoundRobin++ % live.length]!;
  const { low, high, host } = rtpConfig;
  const span = high - low + 1;
  const start = low + Math.floor(Math.random() * span);
  for (let i = 0, tries = 0; i < span && tries < 20; i++) {
    const port = low + ((start - low + i) % span);
    if (rtpPortsInUse.has(port)) continue;
    tries++;
    rtpPortsInUse.add(port);
    try {
      await w.channel!.request('rtp.open', {
        name: request.name,
        port,
        host,
        transport: request.transport,
        ...(request.ssrc === undefined ? {} : { ssrc: request.ssrc }),
        mediaTimeoutMs: request.mediaTimeoutMs ?? 30_000,
        destinations: request.destinations ?? [],
      });
      rtpInputs.set(request.name, { slot, port });
      return { name: request.name, port, slot };
    } catch (error) {
      rtpPortsInUse.delete(port);
      if (!/EADDRINUSE|EACCES/.test((error as Error).message)) throw error;
    }
  }
  throw new Error('no free RTP port in media.rtpPorts');
});

channel.handle('rtp.close', async (data) => {
  const { name, reason } = data as { name: string; reason?: string };
  const input = rtpInputs.get(name);
  if (!input) return false;
  return workers[input.slot]?.channel?.request('rtp.close', { name, reason }) ?? false;
});
/** Forwards of a live stream, handled by the worker that owns it. */
for (const method of ['forward.add', 'forward.remove', 'forward.list'] as const) {
  channel.handle(method, async (data) => {
    const { name } = data as { name: string };
    const slot = streams.get(name)?.slot ?? rtpInputs.get(name)?.slot;
    const worker = slot === undefined ? undefined : workers[slot]?.channel;
    if (!worker) throw new Error(`no live stream ${name}`);
    return worker.request(method, data);
  });
}

/** Restarts a stuck worker the hard way (as a crash would): its streams end, its terminals reconnect. */
channel.handle('worker.kill', (data) => {
  const { slot } = data as { slot: number };
  const worker = workers[slot];
  if (!worker) throw new RangeError(`no media worker ${slot}`);
  worker.kill();
  return true;
});
