/**
 * Every HTTP-FLV and WS-FLV viewer of the appliance, on one port, in the media process main
 * thread (DESIGN.md §1): uWebSockets.js serves the sockets, one FlvFanout per stream keeps the
 * GOP cache and each viewer's backpressure, and one WorkerFlvFeed per media worker brings the
 * tags that worker muxed through its FLV ring.
 *
 * Why the main thread: uWebSockets.js must not be loaded in a worker thread (terminating that
 * worker aborts the process), and a worker that dies must only end its own streams. Here it
 * does: detachWorker() closes that worker's viewers with a reason; the server stays up.
 *
 * URLs: `GET /<app>/<stream>.flv` (also `.live.flv`), chunked HTTP-FLV, or the same path as a
 * WebSocket upgrade for WS-FLV (one FLV piece per binary message). `?audio=0` leaves the
 * audio track out (mpegts.js plays no G.711 from FLV). A stream that is announced but has no
 * frame yet makes its viewers wait (up to startTimeoutMs) and start on its first key frame.
 *
 * Backpressure: WS through getBufferedAmount(); HTTP through write()'s result and
 * onWritable(). uWS has no buffered-amount for HTTP responses and, once an onWritable handler
 * is set, drains its own buffer only when we write again; so each HTTP viewer keeps at most
 * one tag inside uWS and queues the rest here, where the fan-out's limits see it.
 */
import uWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, WebSocket } from 'uWebSockets.js';
import { RingBuffer } from '../../shared/ring.js';
import type { FlvStreamInfo, FlvTag } from '../../protocol/flv/muxer.js';
import type { FlvOpenRecord } from '../../shared/contracts/flv-records.js';
import type { FlvWant, LiveStreamStats } from '../../shared/contracts/media.js';
import { FlvFanout, type FlvFanoutStats, type FlvViewer, type FlvViewerOptions, type FlvViewerSink, type FlvViewerStats } from './flv-fanout.js';
import { WorkerFlvFeed, type FlvFeedTarget, type WorkerFeedStats } from './worker-feed.js';

export interface ViewerServerOptions {
  host: string;
  /** 0: any free port (see `port` after start()). */
  port: number;
  /** Viewers at once, all streams (waiting ones included). Default 1000. */
  maxViewers?: number;
  /** Viewers at once per stream. Default 200. */
  maxViewersPerStream?: number;
  /** A viewer with no key frame this long after connecting is closed. Default 15 000 ms. */
  startTimeoutMs?: number;
  /** Per-viewer backpressure limits (FlvFanout defaults otherwise). */
  viewer?: Omit<FlvViewerOptions, 'id' | 'audio'>;
  gopCacheMaxBytes?: number;
  gopCacheMaxMs?: number;
  /**
   * Lazy streams: how long after its last viewer left a stream stays wanted (its tags keep
   * flowing and the GOP cache stays warm, so a page reload starts at once). Default 5000 ms.
   */
  wantGraceMs?: number;
  /** How often stuck and start timeouts are enforced without new tags. Default 1000 ms. */
  checkIntervalMs?: number;
  /** Every byte handed to a viewer's socket (e.g. the `bytes_out|flv` counter). */
  onBytesOut?: (bytes: number) => void;
  clock?: () => number;
}

/** Why viewers were closed, by kind (bounded label set for metrics). */
export type ViewerCloseKind = 'slow' | 'no_start' | 'stream_end' | 'worker_died' | 'shutdown' | 'client_gone';

export interface ViewerServerStats {
  port: number;
  streams: number;
  viewers: number;
  httpViewers: number;
  wsViewers: number;
  bytesOut: number;
  viewersAccepted: number;
  rejectedNotFound: number;
  rejectedLimit: number;
  rejectedMethod: number;
  closed: Record<ViewerCloseKind, number>;
  /** Tags in from all feeds, and gaps (a worker's ring was full: skipped to a key frame). */
  tagsIn: number;
  gaps: number;
  /** Tags not sent to slow viewers (they were cut back to the next key frame). */
  droppedTags: number;
  feeds: Array<WorkerFeedStats & { slot: number; usedBytes: number; capacityBytes: number; fullEvents: number }>;
}

/** One announced stream: its fan-out and the worker stream it comes from. */
interface StreamEntry {
  readonly name: string;
  readonly slot: number;
  readonly index: number;
  readonly fanout: FlvFanout;
  /** The last rate sample: bytes in at `at`, and the rate over the interval before it. */
  readonly rate: { bytes: number; at: number; bitsPerSecond: number };
  /**
   * Lazy streams (the publisher muxes only on request): whether we asked for tags, the epoch
   * of the last ask, whether its RESUME came (tags before it are ignored), and the source
   * bytes the publisher reported. Undefined: tags flow from the start; bytes are FLV bytes.
   */
  lazy: { wanted: boolean; epoch: number; live: boolean; sourceBytes: number } | undefined;
}

/** Rate samples are taken by the viewer check timer at most this often. */
const RATE_INTERVAL_MS = 2000;

interface WsViewerData {
  entry: StreamEntry;
  audio: boolean;
  sink: WsSink | undefined;
}

const CORS = ['Access-Control-Allow-Origin', '*'] as const;
const MAX_CLOSE_REASON = 120; // a WebSocket close reason fits in 123 bytes
/** Buffered bytes past which write() tells the fan-out to stop (it then waits for a key frame). */
const SOFT_LIMIT = 1024 * 1024;

/** The kind of a close reason (the reasons come from the fan-out, the feeds and close()). */
function closeKind(reason: string): ViewerCloseKind {
  if (reason.startsWith('backpressure')) return 'slow';
  if (reason.startsWith('no key frame')) return 'no_start';
  if (reason.startsWith('media worker')) return 'worker_died';
  if (reason === 'shutdown') return 'shutdown';
  return 'stream_end';
}

const WS_CLOSE_CODE: Record<ViewerCloseKind, number> = {
  slow: 1008, // policy violation: did not read fast enough
  no_start: 1013, // try again later
  stream_end: 1000,
  worker_died: 1011,
  shutdown: 1001,
  client_gone: 1000,
};

/** HTTP status for a viewer closed before its response began (nothing sent yet). */
const HTTP_STATUS: Record<ViewerCloseKind, string> = {
  slow: '503 Service Unavailable',
  no_start: '504 Gateway Timeout',
  stream_end: '503 Service Unavailable',
  worker_died: '502 Bad Gateway',
  shutdown: '503 Service Unavailable',
  client_gone: '503 Service Unavailable',
};

/**
 * `/rtp/0BEBC201.flv` → `rtp/0BEBC201`; also accepts `.live.flv` (ZLMediaKit's form).
 * Path segments of letters, digits, `_`, `.`, `-` only.
 */
export function streamName(path: string): string | undefined {
  const m = /^\/(.+?)(?:\.live)?\.flv$/.exec(path);
  if (!m) return undefined;
  return m[1]!.split('/').every((part) => /^[A-Za-z0-9_.-]+$/.test(part)) ? m[1] : undefined;
}

export class ViewerServer implements FlvFeedTarget {
  readonly #options: ViewerServerOptions;
  readonly #clock: () => number;
  readonly #app: TemplatedApp;
  #listenSocket: us_listen_socket | undefined;
  #port = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #byName = new Map<string, StreamEntry>();
  readonly #feeds = new Map<number, { feed: WorkerFlvFeed; streams: Map<number, StreamEntry>; want: ((want: FlvWant) => void) | undefined }>();
  readonly #sinks = new Set<ViewerSink>();
  readonly #counters = {
    bytesOut: 0,
    viewersAccepted: 0,
    rejectedNotFound: 0,
    rejectedLimit: 0,
    rejectedMethod: 0,
    tagsIn: 0,
    gaps: 0,
    droppedTagsClosed: 0,
  };
  readonly #closedBy: Record<ViewerCloseKind, number> = { slow: 0, no_start: 0, stream_end: 0, worker_died: 0, shutdown: 0, client_gone: 0 };
  #nextViewerId = 1;

  constructor(options: ViewerServerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#app = uWS
      .App()
      .ws<WsViewerData>('/*', {
        compression: uWS.DISABLED,
        maxPayloadLength: 4096, // viewers have nothing to say
        idleTimeout: 60,
        sendPingsAutomatically: true,
        // The fan-out enforces the limits; uWS must never drop a message on its own.
        maxBackpressure: 1024 * 1024 * 1024,
        upgrade: (res, req, context) => this.#upgrade(res, req, context),
        open: (ws) => this.#openWs(ws),
        close: (ws) => {
          const data = ws.getUserData();
          data.sink?.gone();
        },
      })
      .get('/*', (res, req) => this.#http(res, req))
      .any('/*', (res) => {
        this.#counters.rejectedMethod++;
        res.writeStatus('405 Method Not Allowed').writeHeader(...CORS).writeHeader('Allow', 'GET').end('GET only');
      });
  }

  /** Listens; resolves with the port (the OS picks one when options.port is 0). */
  start(): Promise<number> {
    const { host, port } = this.#options;
    return new Promise((resolve, reject) => {
      this.#app.listen(host, port, (socket) => {
        if (!socket) return reject(new Error(`FLV viewers: cannot listen on ${host}:${port}`));
        this.#listenSocket = socket;
        this.#port = uWS.us_socket_local_port(socket);
        const every = this.#options.checkIntervalMs ?? 1000;
        this.#timer = setInterval(() => this.checkViewers(), every);
        this.#timer.unref();
        resolve(this.#port);
      });
    });
  }

  get port(): number {
    return this.#port;
  }

  /**
   * Starts reading a worker's FLV ring. A slot attached again (a restarted worker with a fresh
   * ring) first ends the streams of the previous one. `want` carries `flv.want` to the worker
   * (its lazy streams are muxed only while wanted); without it lazy streams never start.
   */
  attachWorker(slot: number, ring: SharedArrayBuffer, want?: (want: FlvWant) => void): void {
    if (this.#feeds.has(slot)) this.detachWorker(slot, 'media worker restarted');
    const feed = new WorkerFlvFeed(slot, ring, this);
    const record = { feed, streams: new Map<number, StreamEntry>(), want };
    this.#feeds.set(slot, record);
    feed.run().then(
      () => this.#feedEnded(slot, feed, 'media worker stopped'),
      (error: unknown) => this.#feedEnded(slot, feed, `media worker feed failed: ${error instanceof Error ? error.message : String(error)}`),
    );
  }

  /** Stops reading a worker's ring and closes its streams' viewers with `reason` (e.g. it died). */
  detachWorker(slot: number, reason: string): void {
    const record = this.#feeds.get(slot);
    if (!record) return;
    this.#feeds.delete(slot);
    record.feed.close();
    for (const entry of record.streams.values()) this.#endStream(entry, reason);
    record.streams.clear();
  }

  /** Names of announced streams nobody has watched since before `cutoff` (ms, clock time). */
  idleStreams(cutoff: number): string[] {
    const out: string[] = [];
    for (const [name, entry] of this.#byName) {
      const since = entry.fanout.idleSince;
      if (since !== undefined && since <= cutoff) out.push(name);
    }
    return out;
  }

  /** One stream's fan-out counters and its viewers (undefined: not announced). */
  streamStats(name: string): (FlvFanoutStats & { slot: number; viewerList: FlvViewerStats[] }) | undefined {
    const entry = this.#byName.get(name);
    if (!entry) return undefined;
    return { ...entry.fanout.stats(), slot: entry.slot, viewerList: entry.fanout.viewerStats() };
  }

  /** The worker slot a stream comes from. */
  streamSlot(name: string): number | undefined {
    return this.#byName.get(name)?.slot;
  }

  get viewerCount(): number {
    return this.#sinks.size;
  }

  /** Enforces stuck and start timeouts now (also runs on a timer). */
  checkViewers(now = this.#clock()): void {
    const grace = this.#options.wantGraceMs ?? 5000;
    for (const entry of this.#byName.values()) {
      entry.fanout.checkViewers(now);
      const idleSince = entry.fanout.idleSince;
      if (entry.lazy?.wanted && idleSince !== undefined && now - idleSince >= grace) this.#want(entry, false);
      const { rate } = entry;
      if (now - rate.at < RATE_INTERVAL_MS) continue;
      const bytes = entryBytes(entry);
      rate.bitsPerSecond = Math.round(((bytes - rate.bytes) * 8000) / (now - rate.at));
      rate.bytes = bytes;
      rate.at = now;
    }
  }

  /** Viewers, media bitrate (source bytes of lazy streams, FLV bytes of others, over the last ~2 s) and codecs of the named streams that are announced (all without `names`). */
  liveStats(names?: readonly string[]): LiveStreamStats[] {
    const entries = names ? names.flatMap((n) => this.#byName.get(n) ?? []) : [...this.#byName.values()];
    return entries.map((entry) => {
      const { name, fanout, rate } = entry;
      const info = fanout.streamInfo;
      return {
        name,
        viewers: fanout.viewerCount,
        bitsPerSecond: rate.bitsPerSecond,
        bytesIn: entryBytes(entry),
        ...(info.videoCodec ? { video: { codec: info.videoCodec, width: info.width ?? 0, height: info.height ?? 0 } } : {}),
        ...(info.audioCodec ? { audio: { codec: info.audioCodec, sampleRate: info.audioSampleRate ?? 0 } } : {}),
      };
    });
  }


  stats(): ViewerServerStats {
    let httpViewers = 0;
    for (const sink of this.#sinks) if (sink instanceof HttpSink) httpViewers++;
    let droppedTags = this.#counters.droppedTagsClosed;
    for (const entry of this.#byName.values()) droppedTags += entry.fanout.stats().droppedTags;
    const feeds = [...this.#feeds.values()].map(({ feed }) => {
      const ring = RingBuffer.stats(feed.ring);
      return { slot: feed.slot, ...feed.stats, usedBytes: ring.usedBytes, capacityBytes: ring.capacityBytes, fullEvents: ring.fullEvents };
    });
    const { droppedTagsClosed: _, ...counters } = this.#counters;
    return {
      port: this.#port,
      streams: this.#byName.size,
      viewers: this.#sinks.size,
      httpViewers,
      wsViewers: this.#sinks.size - httpViewers,
      ...counters,
      droppedTags,
      closed: { ...this.#closedBy },
      feeds,
    };
  }

  /** Closes every viewer ('shutdown'), stops the feeds and the listener. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    for (const slot of [...this.#feeds.keys()]) this.detachWorker(slot, 'shutdown');
    for (const entry of [...this.#byName.values()]) this.#endStream(entry, 'shutdown');
    for (const sink of [...this.#sinks]) sink.close('shutdown');
    if (this.#listenSocket) uWS.us_listen_socket_close(this.#listenSocket);
    this.#listenSocket = undefined;
  }

  // --- FlvFeedTarget: stream events from the worker rings ------------------------------

  streamOpened(slot: number, index: number, open: FlvOpenRecord): void {
    const record = this.#feeds.get(slot);
    if (!record) return;
    const previous = this.#byName.get(open.name);
    if (previous) {
      // The same name again (a terminal reconnected, maybe on another worker): the newest wins.
      this.#feeds.get(previous.slot)?.streams.delete(previous.index);
      this.#endStream(previous, 'replaced by a newer stream');
    }
    const o = this.#options;
    const fanout = new FlvFanout({
      clock: this.#clock,
      ...(open.hasVideo === undefined ? {} : { hasVideo: open.hasVideo }),
      ...(open.hasAudio === undefined ? {} : { hasAudio: open.hasAudio }),
      ...(o.gopCacheMaxBytes === undefined ? {} : { gopCacheMaxBytes: o.gopCacheMaxBytes }),
      ...(o.gopCacheMaxMs === undefined ? {} : { gopCacheMaxMs: o.gopCacheMaxMs }),
      ...(o.viewer === undefined ? {} : { viewer: o.viewer }),
      startTimeoutMs: o.startTimeoutMs ?? 15_000,
    });
    const entry: StreamEntry = {
      name: open.name,
      slot,
      index,
      fanout,
      rate: { bytes: 0, at: this.#clock(), bitsPerSecond: 0 },
      lazy: open.lazy ? { wanted: false, epoch: 0, live: false, sourceBytes: 0 } : undefined,
    };
    const sameIndex = record.streams.get(index);
    if (sameIndex) this.#endStream(sameIndex, 'replaced by a newer stream');
    record.streams.set(index, entry);
    this.#byName.set(open.name, entry);
  }

  streamInfo(slot: number, index: number, info: FlvStreamInfo): void {
    this.#feeds.get(slot)?.streams.get(index)?.fanout.setStreamInfo(info);
  }

  streamTag(slot: number, index: number, tag: FlvTag, afterGap: boolean): void {
    const entry = this.#feeds.get(slot)?.streams.get(index);
    // A lazy stream's tags count only after the RESUME of our latest want (older ones are
    // from a want we took back and would not continue the fresh GOP).
    if (!entry || (entry.lazy && !entry.lazy.live)) return;
    this.#counters.tagsIn++;
    if (afterGap) this.#counters.gaps++;
    entry.fanout.pushTag(tag, afterGap);
  }

  streamBytes(slot: number, index: number, total: number): void {
    const lazy = this.#feeds.get(slot)?.streams.get(index)?.lazy;
    if (lazy) lazy.sourceBytes = total;
  }

  streamResumed(slot: number, index: number, epoch: number): void {
    const entry = this.#feeds.get(slot)?.streams.get(index);
    const lazy = entry?.lazy;
    if (!lazy?.wanted || lazy.epoch !== epoch) return;
    lazy.live = true;
    entry!.fanout.resetCache();
  }

  streamClosed(slot: number, index: number, reason: string): void {
    const record = this.#feeds.get(slot);
    const entry = record?.streams.get(index);
    if (!entry) return;
    record!.streams.delete(index);
    this.#endStream(entry, reason);
  }

  // --- internals -----------------------------------------------------------------------

  /** Asks a lazy stream's worker for its tags (a viewer came) or stops them (grace over). */
  #want(entry: StreamEntry, wanted: boolean): void {
    const lazy = entry.lazy;
    if (!lazy || lazy.wanted === wanted) return;
    lazy.wanted = wanted;
    lazy.live = false;
    if (wanted) lazy.epoch = (lazy.epoch + 1) >>> 0;
    // Nobody watches now and the next tags start a fresh GOP: the cache would not continue.
    else entry.fanout.resetCache();
    this.#feeds.get(entry.slot)?.want?.({ index: entry.index, wanted, epoch: lazy.epoch });
  }

  #feedEnded(slot: number, feed: WorkerFlvFeed, reason: string): void {
    // Only if this feed is still the slot's current one (not detached or replaced).
    if (this.#feeds.get(slot)?.feed === feed) this.detachWorker(slot, reason);
  }

  #endStream(entry: StreamEntry, reason: string): void {
    if (this.#byName.get(entry.name) === entry) this.#byName.delete(entry.name);
    this.#counters.droppedTagsClosed += entry.fanout.stats().droppedTags;
    entry.fanout.close(reason);
  }

  /** The stream a request asks for, or why not (the response is then written). */
  #admit(res: HttpResponse, path: string): StreamEntry | undefined {
    const name = streamName(path);
    const entry = name === undefined ? undefined : this.#byName.get(name);
    if (!entry || this.#closed) {
      this.#counters.rejectedNotFound++;
      res.writeStatus('404 Not Found').writeHeader(...CORS).end('no such stream');
      return undefined;
    }
    const perStream = this.#options.maxViewersPerStream ?? 200;
    if (this.#sinks.size >= (this.#options.maxViewers ?? 1000) || entry.fanout.viewerCount >= perStream) {
      this.#counters.rejectedLimit++;
      res.writeStatus('503 Service Unavailable').writeHeader(...CORS).writeHeader('Retry-After', '10').end('viewer limit reached');
      return undefined;
    }
    this.#counters.viewersAccepted++;
    return entry;
  }

  #http(res: HttpResponse, req: HttpRequest): void {
    const path = req.getUrl();
    const audio = req.getQuery('audio') !== '0';
    const entry = this.#admit(res, path);
    if (!entry) return;
    const sink = new HttpSink(res, this.#hooks);
    this.#sinks.add(sink);
    res.onAborted(() => sink.gone());
    res.onWritable(() => sink.writable());
    sink.attach(entry.fanout, entry.fanout.addViewer(sink, { id: `http:${entry.name}#${this.#nextViewerId++}`, audio }));
    this.#want(entry, true);
  }

  #upgrade(res: HttpResponse, req: HttpRequest, context: uWS.us_socket_context_t): void {
    const path = req.getUrl();
    const audio = req.getQuery('audio') !== '0';
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const entry = this.#admit(res, path);
    if (!entry) return;
    res.upgrade<WsViewerData>({ entry, audio, sink: undefined }, key, protocol, extensions, context);
  }

  #openWs(ws: WebSocket<WsViewerData>): void {
    const data = ws.getUserData();
    const sink = new WsSink(ws, this.#hooks);
    data.sink = sink;
    this.#sinks.add(sink);
    const fanout = data.entry.fanout;
    sink.attach(fanout, fanout.addViewer(sink, { id: `ws:${data.entry.name}#${this.#nextViewerId++}`, audio: data.audio }));
    this.#want(data.entry, true);
  }

  readonly #dirty = new Set<ViewerSink>();
  readonly #flushDirty = (): void => {
    for (const sink of this.#dirty) sink.flush();
    this.#dirty.clear();
  };

  readonly #hooks: SinkHooks = {
    bytesOut: (n) => {
      this.#counters.bytesOut += n;
      this.#options.onBytesOut?.(n);
    },
    schedule: (sink) => {
      if (this.#dirty.size === 0) queueMicrotask(this.#flushDirty);
      this.#dirty.add(sink);
    },
    ended: (sink, kind) => {
      if (this.#sinks.delete(sink)) this.#closedBy[kind]++;
    },
  };
}

/** Bytes a stream brought in: what its lazy publisher counted, or the FLV bytes. */
function entryBytes(entry: StreamEntry): number {
  return entry.lazy ? entry.lazy.sourceBytes : entry.fanout.bytesIn;
}

interface SinkHooks {
  bytesOut(bytes: number): void;
  /** Asks for flush() at the end of this batch of tags (one cork, one syscall, many tags). */
  schedule(sink: ViewerSink): void;
  ended(sink: ViewerSink, kind: ViewerCloseKind): void;
}

/**
 * Shared bookkeeping of both transports: the fan-out side, the end of a viewer, and a queue
 * of tags written in this batch. Tags go to uWS once per batch, corked: a write per tag cost
 * a syscall per tag per viewer (about 19 µs each, measured), more than everything else.
 */
abstract class ViewerSink implements FlvViewerSink {
  protected done = false;
  protected readonly queue: Uint8Array[] = [];
  protected queued = 0;
  #fanout: FlvFanout | undefined;
  #viewer: FlvViewer | undefined;

  constructor(protected readonly hooks: SinkHooks) {}

  /** Sends what is queued, as far as the transport takes it. */
  abstract flush(): void;
  /** Bytes the transport holds (not counting the queue). */
  protected abstract transportBuffered(): number;
  /** Ends the transport with a reason; the socket is still ours. */
  protected abstract end(kind: ViewerCloseKind, reason: string): void;

  write(bytes: Uint8Array): boolean {
    if (this.done) return false;
    this.hooks.bytesOut(bytes.length);
    this.queue.push(bytes);
    this.queued += bytes.length;
    if (this.queue.length === 1) this.hooks.schedule(this);
    // Not uWS's own "would block", which one key frame trips on any real link: the fan-out
    // drops to the next key frame only past this (and checks its byte limits itself).
    return this.bufferedAmount() < SOFT_LIMIT;
  }

  bufferedAmount(): number {
    return this.done ? 0 : this.queued + this.transportBuffered();
  }

  attach(fanout: FlvFanout, viewer: FlvViewer): void {
    this.#fanout = fanout;
    this.#viewer = viewer;
  }

  /** The fan-out (or the server) drops this viewer. */
  close(reason: string): void {
    if (this.done) return;
    this.done = true;
    const kind = closeKind(reason);
    this.#detach();
    // A stream that ended (or a shutdown) still owes the viewer what is queued: its last
    // frames came in the same ring batch as the close. A slow viewer's queue is dropped.
    if (kind === 'stream_end' || kind === 'shutdown') {
      this.done = false;
      this.flush();
      this.done = true;
    }
    this.end(kind, reason.slice(0, MAX_CLOSE_REASON));
    this.queue.length = 0;
    this.queued = 0;
    this.hooks.ended(this, kind);
  }

  /** The client went away (abort, socket closed); the socket is no longer usable. */
  gone(): void {
    if (this.done) return;
    this.done = true;
    this.queue.length = 0;
    this.queued = 0;
    this.#detach();
    this.hooks.ended(this, 'client_gone');
  }

  #detach(): void {
    if (this.#fanout && this.#viewer) this.#fanout.removeViewer(this.#viewer);
  }
}

class HttpSink extends ViewerSink {
  /** Size of the tag uWS holds since write() said false (0: none we know of). */
  #held = 0;
  #headSent = false;

  constructor(
    private readonly res: HttpResponse,
    hooks: SinkHooks,
  ) {
    super(hooks);
  }

  flush(): void {
    if (this.done || this.#held > 0 || this.queue.length === 0) return;
    this.res.cork(() => this.#send());
  }

  /** uWS: the socket can take more. Writing drains what uWS holds first, then the queue. */
  writable(): boolean {
    if (this.done) return true;
    this.#held = 0;
    this.#send();
    return this.#held === 0;
  }

  protected transportBuffered(): number {
    return this.#held;
  }

  protected end(kind: ViewerCloseKind, reason: string): void {
    // Close the connection too: a viewer's connection serves one stream, not a keep-alive client.
    this.res.cork(() => {
      if (this.#headSent) this.res.end(undefined, true);
      else this.res.writeStatus(HTTP_STATUS[kind]).writeHeader(...CORS).end(reason, true);
    });
  }

  #send(): void {
    if (!this.#headSent) {
      this.#headSent = true;
      this.res.writeStatus('200 OK').writeHeader('Content-Type', 'video/x-flv').writeHeader(...CORS).writeHeader('Cache-Control', 'no-cache');
    }
    while (this.queue.length > 0) {
      const bytes = this.queue.shift()!;
      this.queued -= bytes.length;
      if (!this.res.write(bytes)) {
        this.#held = bytes.length;
        return;
      }
    }
  }
}

class WsSink extends ViewerSink {
  constructor(
    private readonly ws: WebSocket<WsViewerData>,
    hooks: SinkHooks,
  ) {
    super(hooks);
  }

  flush(): void {
    if (this.done || this.queue.length === 0) return;
    let dropped = false;
    this.ws.cork(() => {
      while (this.queue.length > 0 && !dropped) {
        const bytes = this.queue.shift()!;
        this.queued -= bytes.length;
        dropped = this.ws.send(bytes, true, false) === 2;
      }
    });
    // uWS dropped a message (cannot happen below maxBackpressure): the stream is broken.
    if (dropped) this.close('backpressure: hard limit');
  }

  protected transportBuffered(): number {
    return this.ws.getBufferedAmount();
  }

  protected end(kind: ViewerCloseKind, reason: string): void {
    // end() runs our close handler at once; `done` is already set, so it is a no-op there.
    this.ws.end(WS_CLOSE_CODE[kind], reason);
  }
}
