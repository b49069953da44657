import os from 'node:os';
import { Piscina } from 'piscina';
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram } from 'prom-client';
import type { Logger } from 'pino';
import { ManagedChild, processSpawner, threadSpawner, type ChildHealth } from '../shared/child.js';
import { entryPath, packageVersion } from '../shared/entry.js';
import { buildApi, type GosipRecordsWithState } from './api/app.js';
import { ApiError } from './api/envelope.js';
import type { HealthReport, ListenAddress, PartHealth } from './api/system.js';
import type { RecentLog } from './recent-log.js';
import { bindOf, listeningAddresses, listeningLines } from './listening.js';
import type { CamgateConfig } from '../shared/config/config.js';
import { createMetrics, type Metrics, type ThreadLoad } from './metrics.js';
import { openStore } from './store/index.js';
import type { Store } from './store/types.js';
import { Notifier } from './notify/index.js';
import { SignallingBridge } from './signalling-bridge.js';
import { registerSipMetrics } from './sip-metrics.js';
import { SharedCounters } from '../shared/counters.js';
import { SIP_COUNTER_NAMES } from '../sip/sip-metrics.js';
import { MEDIA_COUNTER_NAMES } from '../shared/contracts/media-counters.js';
import { CounterTotals, registerMediaMetrics, type MediaSnapshot } from './media-metrics.js';
import { StreamCallbacks, type StreamNote } from './stream-callbacks.js';
import { StreamManager } from './streams.js';
import { mediaWorkerCount } from '../media-process/worker-count.js';
import { BuiltinBackend, ZlmBackend } from './media-backends.js';

/**
 * The supervisor's main thread (DESIGN.md §1): owns config, store, REST API and
 * metrics, and starts, watches and restarts the SIP thread, the piscina pool and
 * the media process. Ownership and shutdown order are in docs/closures.md.
 */

export interface SupervisorOptions {
  logger: Logger;
  /** Hard limit for an ordered shutdown (ms); past it the process exits anyway. */
  shutdownTimeout?: number;
  /** The latest warnings and errors of `logger`, shown by GET /system/log. */
  recentLog?: RecentLog;
}

export class Supervisor {
  readonly config: CamgateConfig;
  readonly version = packageVersion();
  #logger: Logger;
  #recentLog: RecentLog | undefined;
  #store: Store | null = null;
  #sip: ManagedChild | null = null;
  #media: ManagedChild | null = null;
  #pool: Piscina | null = null;
  #api: FastifyInstance | null = null;
  #metrics: Metrics | null = null;
  #notifier: Notifier | null = null;
  #bridge: SignallingBridge | null = null;
  #streams: StreamManager | null = null;
  /** Outlives SIP thread restarts, so its counters stay monotonic. */
  #sipCounters = SharedCounters.create(SIP_COUNTER_NAMES);
  #mediaTotals = new CounterTotals();
  #mediaHealth: Promise<ChildHealth> | null = null;
  #startedAt = Date.now();
  #stopping: Promise<void> | null = null;

  constructor(config: CamgateConfig, options: SupervisorOptions) {
    this.config = config;
    this.#logger = options.logger;
    this.#recentLog = options.recentLog;
  }

  get sip(): ManagedChild | null {
    return this.#sip;
  }
  get media(): ManagedChild | null {
    return this.#media;
  }
  get api(): FastifyInstance | null {
    return this.#api;
  }
  get store(): Store | null {
    return this.#store;
  }

  /** The address devices reach our SIP port at. */
  sipHost(): string {
    if (this.config.sip.advertisedHost) return this.config.sip.advertisedHost;
    if (this.config.sip.host !== '0.0.0.0' && this.config.sip.host !== '::') return this.config.sip.host;
    for (const addresses of Object.values(os.networkInterfaces())) {
      for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
    }
    return '127.0.0.1';
  }

  async start(): Promise<{ apiAddress: string }> {
    const { config } = this;
    const log = this.#logger;
    this.#store = await openStore(config.store.url, {
      seed: { lid: config.sip.id, region: config.sip.domain, did: config.gb28181.did, cid: config.gb28181.cid },
    });
    log.info({ store: this.#store.dialect, migrations: await this.#store.migrations() }, 'store open');

    const store = this.#store;
    this.#metrics = createMetrics(
      {
        deviceCounts: async () => {
          const online = await store.devices.list({ limit: 0, filters: [{ field_name: 'online', operator: '=', value: 1 }] });
          const all = await store.devices.list({ limit: 0 });
          return { online: online.total, offline: all.total - online.total };
        },
        channelCount: async () => (await store.channels.list({ limit: 0 })).total,
        threads: () => this.#threadLoads(),
      },
      this.version,
    );

    registerSipMetrics(this.#metrics.registry, this.#sipCounters);
    // Every child's restart counter exists from the start (at 0), so rate() and
    // increase() have a series to work on before the first restart.
    for (const child of ['sip', 'media', ...Array.from({ length: mediaWorkerCount(config.media.workers) }, (_, i) => `media-worker-${i}`)]) {
      this.#metrics.childRestarts.inc({ child }, 0);
    }
    this.#notifier = new Notifier({
      urls: config.notify.urls,
      secret: config.notify.secret,
      timeout: config.notify.timeout,
      registry: this.#metrics.registry,
      logger: log.child({ part: 'notify' }),
    });
    const notifier = this.#notifier;
    const bridge = new SignallingBridge({
      store,
      config,
      logger: log.child({ part: 'sip' }),
      emit: (event, data, key) => void notifier.emit(event, data, key),
    });
    this.#bridge = bridge;
    const advertisedHost = this.sipHost();
    const streams = new StreamManager({
      metrics: {
        invites: zeroed(
          new Counter({
            name: 'camgate_gb28181_invites_total',
            help: 'INVITEs for live and playback streams by outcome: ok, 4xx/5xx/6xx, timeout, error.',
            labelNames: ['result'] as const,
            registers: [this.#metrics.registry],
          }),
          ['ok', '4xx', '5xx', '6xx', 'timeout', 'error'],
        ),
        firstFrame: new Histogram({
          name: 'camgate_invite_to_first_frame_seconds',
          help: 'Time from sending an INVITE to the first complete frame of its media.',
          buckets: [0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32],
          registers: [this.#metrics.registry],
        }),
      },
      store,
      config,
      logger: log.child({ part: 'streams' }),
      sip: () => this.#sip?.channel ?? null,
      media: () => this.#media?.channel ?? null,
      backend:
        config.media.server === 'zlm'
          ? new ZlmBackend(config, advertisedHost)
          : new BuiltinBackend(() => this.#media?.channel ?? null, advertisedHost, config),
      emit: (event, data, key) => void notifier.emit(event, data, key),
      mediaHost: advertisedHost,
    });
    this.#streams = streams;
    this.#sip = new ManagedChild(
      'sip',
      threadSpawner(
        entryPath('sip-thread'),
        async () => ({
          config,
          advertisedHost,
          counters: this.#sipCounters.sab,
          online: await bridge.onlineDevices(),
          dialogs: await streams.openDialogs(),
        }),
        'sip',
      ),
      {
        onChannel: (channel) => {
          bridge.attach(channel);
          channel.onNote('device.mediaStatus', (note) => {
            const { deviceId, channelId, endOfFile } = note as { deviceId: string; channelId: string; endOfFile: boolean };
            if (endOfFile) void streams.playbackEnded(deviceId, channelId).catch((err) => log.error({ err }, 'playback end failed'));
          });
          channel.onNote('dialog.ended', (note) => {
            const { callId } = note as { callId: string };
            void streams.dialogEnded(callId).catch((err) => log.error({ err }, 'dialog end failed'));
          });
          channel.onNote('log', (note) => {
            const { level, message, data } = note as { level: 'debug' | 'info' | 'warn'; message: string; data?: object };
            log[level]({ part: 'sip', ...data }, message);
          });
        },
      },
    );
    const callbacks = new StreamCallbacks(config, log.child({ part: 'jt1078' }), this.#metrics.registry);
    registerMediaMetrics(this.#metrics.registry, MEDIA_COUNTER_NAMES, this.#mediaTotals, () => this.#mediaSnapshot());
    this.#media = new ManagedChild(
      'media',
      processSpawner(entryPath('media-process'), () => ({ config })),
      {
        onChannel: (channel) => {
          channel.onNote('stream.started', (note) => {
            const n = note as StreamNote;
            log.info({ stream: n.name, kind: n.kind }, 'stream started');
            callbacks.joined(n);
            if (n.kind === 'gb28181') void streams.mediaStarted(n.name).catch(() => undefined);
            else void streams.jt1078Started(note as StreamNote & { slot: number }).catch((err) => log.error({ err }, 'stream row failed'));
          });
          channel.onNote('stream.stopped', (note) => {
            const n = note as StreamNote;
            log.info({ stream: n.name, reason: n.reason }, 'stream stopped');
            callbacks.left(n);
            if (n.kind === 'gb28181') {
              void streams.mediaStopped(n.name, n.reason ?? 'media stopped').catch((err) => log.error({ err }, 'stream stop failed'));
            } else {
              void streams.jt1078Stopped(n.name, n.reason ?? 'stream ended').catch((err) => log.error({ err }, 'stream row failed'));
            }
          });
          channel.onNote('stream.idle', (note) => {
            const { name } = note as { name: string };
            if (!name.startsWith('rtp/')) return; // a terminal's stream ends when the terminal stops it
            void streams.stopById(name.slice(4), `no viewer for ${config.streams.noViewerClose} s`).catch(() => undefined);
          });
          channel.onNote('worker.died', (data) => log.warn(data, 'media worker died'));
          channel.onNote('worker.restarted', (data) => {
            const { slot } = data as { slot: number };
            this.#metrics?.childRestarts.inc({ child: `media-worker-${slot}` });
          });
        },
      },
    );
    for (const child of [this.#sip, this.#media]) this.#watch(child);
    this.#pool = new Piscina({
      filename: entryPath('cpu-task'),
      maxThreads: config.pool.maxThreads,
      minThreads: 1,
      idleTimeout: 60_000,
    });

    // The API comes up first so /healthz can show the children starting.
    this.#api = await buildApi({
      config,
      store,
      metrics: this.#metrics,
      health: () => this.health(),
      streams: () => this.#streams,
      media: () => this.#media?.channel ?? null,
      sipHost: advertisedHost,
      gb: {
        queryRecords: async (deviceId, channelId, start, end) => {
          const channel = this.#sip?.channel;
          if (!channel) throw new ApiError(503, '1001', 'signalling is restarting; retry');
          return channel.request('records.query', { deviceId, channelId, start, end }, 15_000) as Promise<GosipRecordsWithState>;
        },
        forgetDevice: async (deviceId) => {
          await this.#sip?.channel?.request('device.forget', { deviceId }).catch(() => undefined);
        },
        queryDevice: async (deviceId, what) => {
          const channel = this.#sip?.channel;
          if (!channel) throw new ApiError(503, '1001', 'signalling is restarting; retry');
          await channel.request(what === 'catalog' ? 'catalog.query' : 'deviceinfo.query', { deviceId }, 5000);
        },
      },
      version: this.version,
      logger: log,
      events: notifier,
      listening: () => this.listening(),
      ...(this.#recentLog ? { recentLog: this.#recentLog } : {}),
    });
    const apiAddress = await this.#api.listen({ host: config.api.host, port: config.api.port });
    log.info({ address: bindOf(this.#api.server.address()) }, 'api listening');

    await Promise.all([this.#sip.start(), this.#media.start()]);
    // Streams a previous run left open have no media port any more: BYE and close them.
    await streams.reconcile('camgate restarted').catch((err) => log.error({ err }, 'stream reconcile failed'));
    // A media process that comes back has lost every input it had: same treatment.
    this.#media.on('restarted', () => void streams.reconcile('media process restarted').catch(() => undefined));
    log.info('all parts started');
    for (const line of listeningLines(await this.listening())) log.info(line);
    return { apiAddress };
  }

  /** Every address the appliance listens on, with the addresses actually bound. */
  async listening(): Promise<ListenAddress[]> {
    const media = await this.#mediaPing()?.catch(() => undefined);
    const workers = (media?.detail as { workers?: ChildHealth[] } | undefined)?.workers ?? [];
    return listeningAddresses({
      config: this.config,
      api: this.#api?.server.address() ?? null,
      viewerPorts: workers.map((w) => (w.detail as { flvPort?: number } | undefined)?.flvPort ?? 0).filter((p) => p > 0),
      publicHost: this.sipHost(),
    });
  }

  #watch(child: ManagedChild): void {
    child.on('died', (reason) => this.#logger.error({ child: child.name, reason }, 'child died; restarting'));
    child.on('restarted', (restarts) => {
      this.#metrics?.childRestarts.inc({ child: child.name });
      this.#logger.info({ child: child.name, restarts }, 'child restarted');
    });
  }

  /** One media ping shared by everything that scrapes within 200 ms. */
  #mediaPing(): Promise<ChildHealth> | undefined {
    if (!this.#media) return undefined;
    this.#mediaHealth ??= this.#media.health(1000).finally(() => setTimeout(() => (this.#mediaHealth = null), 200).unref());
    return this.#mediaHealth;
  }

  async #mediaSnapshot(): Promise<MediaSnapshot | null> {
    const health = await this.#mediaPing();
    const snapshot = (health?.detail as MediaSnapshot | undefined) ?? null;
    if (snapshot?.counters) this.#mediaTotals.update(health?.pid, snapshot.counters);
    return snapshot;
  }

  async #threadLoads(): Promise<{ children: Array<{ child: string; up: boolean }>; loads: ThreadLoad[] }> {
    const [sip, media] = await Promise.all([this.#sip?.health(500), this.#mediaPing()]);
    const children: Array<{ child: string; up: boolean }> = [];
    const loads: ThreadLoad[] = [];
    for (const h of [sip, media]) {
      if (!h) continue;
      children.push({ child: h.name, up: h.ok });
      const elu = (h.detail as { elu?: number } | undefined)?.elu;
      if (typeof elu === 'number') loads.push({ thread: h.name, elu });
    }
    const workers = ((media?.detail as { workers?: ChildHealth[] } | undefined)?.workers ?? []);
    for (const w of workers) {
      children.push({ child: w.name, up: w.ok });
      const elu = (w.detail as { elu?: number } | undefined)?.elu;
      if (typeof elu === 'number') loads.push({ thread: w.name, elu });
    }
    if (this.#pool) {
      children.push({ child: 'pool', up: this.#pool.threads.length > 0 });
      loads.push({ thread: 'pool', elu: this.#pool.utilization });
    }
    return { children, loads };
  }

  async health(): Promise<HealthReport> {
    const parts: Record<string, PartHealth> = { api: { ok: true } };
    const checks: Array<Promise<void>> = [];
    checks.push(
      (async () => {
        try {
          await this.#store!.sysInfo.get();
          parts.store = { ok: true, dialect: this.#store!.dialect };
        } catch (error) {
          parts.store = { ok: false, error: (error as Error).message };
        }
      })(),
    );
    for (const child of [this.#sip, this.#media]) {
      if (!child) continue;
      checks.push(child.health(1000).then((h) => void (parts[child.name] = { ...h })));
    }
    checks.push(
      (async () => {
        if (!this.#pool) return void (parts.pool = { ok: false, error: 'not started' });
        try {
          const answer = (await this.#pool.run({ kind: 'ping' })) as { ok: boolean };
          parts.pool = { ok: answer.ok === true, threads: this.#pool.threads.length, utilization: this.#pool.utilization };
        } catch (error) {
          parts.pool = { ok: false, error: (error as Error).message };
        }
      })(),
    );
    await Promise.all(checks);
    const healthy = !this.#stopping && Object.values(parts).every((p) => p.ok);
    return {
      status: healthy ? 'ok' : 'degraded',
      version: this.version,
      uptime: (Date.now() - this.#startedAt) / 1000,
      parts,
    };
  }

  /**
   * Ordered shutdown: stop taking API requests, then signalling (so devices get
   * their BYEs while media still flows), then the media process, the pool, the store.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const log = this.#logger;
      const step = async (name: string, fn: () => Promise<unknown> | undefined) => {
        try {
          await fn();
          log.info({ part: name }, 'stopped');
        } catch (error) {
          log.error({ part: name, err: error }, 'stop failed');
        }
      };
      await step('api', () => this.#api?.close());
      await step('sip', () => this.#sip?.stop(3000));
      await step('media', () => this.#media?.stop(3000));
      await step('pool', () => this.#pool?.destroy());
      await step('notify', async () => {
        await this.#bridge?.drain();
        await this.#notifier?.close({ drainTimeout: 2000 });
      });
      this.#metrics?.stopMeters();
      await step('store', () => this.#store?.close());
    })();
    return this.#stopping;
  }
}

/** A labelled counter with every expected label value present at 0. */
function zeroed(counter: Counter<'result'>, results: string[]): Counter<'result'> {
  for (const result of results) counter.inc({ result }, 0);
  return counter;
}
