import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ManagedChild, processSpawner, threadSpawner, type ChildHealth } from '../shared/child.js';
import type { RecentLog } from './recent-log.js';
import { bindOf, listeningAddresses, listeningLines } from './listening.js';
import { Simulations } from './simulations.js';
import type { CamgateConfig } from '../shared/config/config.js';
import { mediaWorkerCount } from '../shared/config/worker-count.js';
import type { MediaContract, MediaPing } from '../shared/contracts/media.js';
import { MEDIA_COUNTER_NAMES } from '../shared/contracts/media-counters.js';
import type { SipContract } from '../shared/contracts/sip.js';
import type { Jt808Contract } from '../shared/contracts/jt808.js';
import { SharedCounters } from '../shared/counters.js';
import { entryPath, packageVersion } from '../shared/entry.js';
import { unavailable } from '../shared/errors.js';
import { SIP_COUNTER_NAMES } from '../shared/contracts/sip-counters.js';
import { buildApi } from './api/app.js';
import type { HealthReport, ListenAddress, PartHealth } from './api/system.js';
import { BuiltinBackend, ZlmBackend, type MediaBackend } from './media-backends.js';
import { MediaBridge } from './media-bridge.js';
import { CounterTotals, registerMediaMetrics } from './media-metrics.js';
import { createMetrics, type Metrics, type ThreadLoad } from './metrics.js';
import { Notifier } from './notify/index.js';
import { SignallingBridge } from './signalling-bridge.js';
import { PlatformManager } from './platforms.js';
import { VehicleBridge } from './vehicle-bridge.js';
import { VehicleControl } from './vehicle-streams.js';
import { registerSipMetrics } from './sip-metrics.js';
import { jt808CommandHistogram, registerJt808Metrics } from './jt808-metrics.js';
import { JT808_COUNTER_NAMES } from '../shared/contracts/jt808-counters.js';
import { openStore } from './store/index.js';
import type { Store } from './store/types.js';
import { StreamCallbacks } from './stream-callbacks.js';
import { IntercomControl } from './intercom.js';
import { StreamManager } from './streams.js';
import { DownloadManager, downloadMetrics } from './downloads.js';
import { rtpStreamName } from '../shared/contracts/stream-name.js';
import { CoalescingRunner } from '../shared/coalescing-runner.js';
import { registerWriteBehindMetrics, WriteBehind } from './write-behind.js';

/**
 * The supervisor's main thread (docs/architecture.md): owns config, store, REST API
 * and metrics, and starts, watches and restarts the SIP thread and
 * the media process. Ownership and shutdown order are in docs/closures.md.
 */

/** How long an ordered shutdown waits, in all, for the devices to answer their BYEs. */
const SHUTDOWN_BYE_WAIT_MS = 2000;
/** How long an ordered shutdown lets the write-behind queue write what it holds. */
const SHUTDOWN_FLUSH_MS = 2000;
/** How long reconciliation waits for the queue to write what it held before comparing rows with the live state. */
const RECONCILE_SETTLE_MS = 2000;

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
  #sip: ManagedChild<SipContract> | null = null;
  #jt808: ManagedChild<Jt808Contract> | null = null;
  #simulations: Simulations | null = null;
  #media: ManagedChild<MediaContract> | null = null;
  #api: FastifyInstance | null = null;
  #metrics: Metrics | null = null;
  #notifier: Notifier | null = null;
  #bridge: SignallingBridge | null = null;
  #platforms: PlatformManager | null = null;
  #vehicleControl: VehicleControl | null = null;
  #vehicles: VehicleBridge | null = null;
  #streams: StreamManager | null = null;
  /** GB28181 downloads into files (src/supervisor/downloads.ts). */
  #downloads: DownloadManager | null = null;
  /** Presence and stream rows written behind the live state (src/supervisor/write-behind.ts). */
  #writes: WriteBehind | null = null;
  /** Rows made to agree with the live state when the store is back after an outage. */
  #reconciler = new CoalescingRunner(
    () => this.#reconcileWithLiveState(),
    (error) => {
      this.#logger.error({ err: error }, 'reconciliation with the live state failed; retried when the store is back');
      this.#writes?.reportFailure(error);
    },
  );
  #intercom: IntercomControl | null = null;
  /** The ZLMediaKit backend when media.server is zlm. */
  #zlm: ZlmBackend | null = null;
  /** Outlives SIP thread restarts, so its counters stay monotonic. */
  #sipCounters = SharedCounters.create(SIP_COUNTER_NAMES);
  /** Outlives JT/T 808 thread restarts, likewise. */
  #jt808Counters = SharedCounters.create(JT808_COUNTER_NAMES);
  #mediaTotals = new CounterTotals();
  #mediaHealth: Promise<ChildHealth<MediaPing>> | null = null;
  #startedAt = Date.now();
  #stopping: Promise<void> | null = null;

  constructor(config: CamgateConfig, options: SupervisorOptions) {
    this.config = config;
    this.#logger = options.logger;
    this.#recentLog = options.recentLog;
  }

  get sip(): ManagedChild<SipContract> | null {
    return this.#sip;
  }
  get jt808(): ManagedChild<Jt808Contract> | null {
    return this.#jt808;
  }
  get media(): ManagedChild<MediaContract> | null {
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

  /**
   * Start-up, in dependency order: store, metrics, webhooks, streams, the children
   * (built, not yet started), the API (first, so /healthz shows the
   * children starting), then the children; finally, streams a previous run left open
   * are ended.
   */
  async start(): Promise<{ apiAddress: string }> {
    const store = await this.#openStore();
    const writes = this.#createWrites(store);
    const metrics = this.#createMetrics(store);
    registerWriteBehindMetrics(metrics.registry, writes);
    const notifier = this.#createNotifier(metrics);
    const advertisedHost = this.sipHost();
    const streams = this.#createStreams(store, metrics, notifier, advertisedHost);
    const downloads = new DownloadManager({
      config: this.config,
      logger: this.#logger.child({ part: 'downloads' }),
      streams: () => this.#streams,
      emit: (event, data, key) => void notifier.emit(event, data, key),
      metrics: downloadMetrics(metrics.registry),
    });
    downloads.load();
    this.#downloads = downloads;
    this.#sip = this.#createSipThread(store, notifier, streams, advertisedHost);
    this.#media = this.#createMediaProcess(store, metrics, streams, notifier, advertisedHost);
    this.#jt808 = this.#createJt808Thread(store, notifier);
    for (const child of [this.#sip, this.#media, this.#jt808]) this.#watch(child);
    const apiAddress = await this.#startApi(store, metrics, notifier, advertisedHost);

    await Promise.all([this.#sip.start(), this.#media.start(), this.#jt808.start()]);
    const log = this.#logger;
    // Streams a previous run left open have no media port any more: BYE and close them.
    await streams.reconcile('camgate restarted').catch((err) => log.error({ err }, 'stream reconcile failed'));
    // A media process that comes back has lost every input it had: same treatment.
    this.#media.on('restarted', () => void streams.reconcile('media process restarted').catch((err) => log.error({ err }, 'stream reconcile failed')));
    this.#media.on('restarted', () => this.#intercom?.mediaRestarted());
    this.#media.on('restarted', () => this.#platforms?.mediaRestarted());
    if (this.#zlm) await this.#checkZlm(this.#zlm, streams);
    log.info('all parts started');
    for (const line of listeningLines(await this.listening())) log.info(line);
    this.#simulations = new Simulations(this.config.jt1078.simulations, log.child({ part: 'simulations' }));
    this.#simulations.start();
    return { apiAddress };
  }

  async #openStore(): Promise<Store> {
    const { config } = this;
    this.#store = await openStore(config.store.url, {
      timeoutMs: config.store.timeout,
      seed: { lid: config.sip.id, region: config.sip.domain, did: config.gb28181.did, cid: config.gb28181.cid },
    });
    this.#logger.info({ store: this.#store.dialect, migrations: await this.#store.migrations() }, 'store open');
    return this.#store;
  }

  #createWrites(store: Store): WriteBehind {
    const log = this.#logger.child({ part: 'store' });
    this.#writes = new WriteBehind({
      capacity: this.config.store.queueSize,
      retryMaxMs: this.config.store.retryMax,
      probe: () => store.sysInfo.get(),
      onError: (err, key) => log.error({ err, key }, 'store write failed; not retried'),
      onDown: (err) => log.warn({ err: (err as Error).message }, 'store unavailable: presence and stream rows wait in the write-behind queue'),
      onUp: (downForMs) => {
        log.warn({ downForMs: Math.round(downForMs), backlog: this.#writes?.backlog }, 'store back: writing the queue and reconciling with the live state');
        void this.#reconciler.request();
      },
    });
    return this.#writes;
  }

  /**
   * After an outage: the queue writes what it holds (up to RECONCILE_SETTLE_MS), then device,
   * vehicle and stream rows are compared with the SIP thread's presence table, the JT/T 808
   * thread's online vehicles and the media process's streams, and corrected.
   */
  async #reconcileWithLiveState(): Promise<void> {
    const writes = this.#writes;
    if (!writes || this.#stopping) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([writes.idle(), new Promise((resolve) => (timer = setTimeout(resolve, RECONCILE_SETTLE_MS)))]).finally(() => clearTimeout(timer));
    const sip = this.#sip?.channel;
    const devices = sip && this.#bridge ? await this.#bridge.reconcile(await sip.request('presence.list', undefined)) : null;
    const vehicles = (await this.#vehicles?.reconcile()) ?? null;
    const streams = (await this.#streams?.reconcileLive()) ?? null;
    // Logged as a warning, like the outage it ends, so operators see what was corrected.
    this.#logger.warn({ devices, vehicles, streams }, 'rows reconciled with the live state');
  }

  /** A store failure seen by a live-state path or the health check: the queue watches for the store's return. */
  storeFailed(error: unknown): void {
    this.#writes?.reportFailure(error);
  }

  #createMetrics(store: Store): Metrics {
    const metrics = createMetrics(
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
    registerSipMetrics(metrics.registry, this.#sipCounters);
    registerJt808Metrics(metrics.registry, this.#jt808Counters);
    registerMediaMetrics(metrics.registry, MEDIA_COUNTER_NAMES, this.#mediaTotals, () => this.#mediaSnapshot());
    // Every child's restart counter exists from the start (at 0), so rate() and
    // increase() have a series to work on before the first restart.
    const workers = Array.from({ length: mediaWorkerCount(this.config.media.workers) }, (_, i) => `media-worker-${i}`);
    for (const child of ['sip', 'jt808', 'media', ...workers]) metrics.childRestarts.inc({ child }, 0);
    this.#metrics = metrics;
    return metrics;
  }

  #createNotifier(metrics: Metrics): Notifier {
    const { notify } = this.config;
    this.#notifier = new Notifier({
      urls: notify.urls,
      secret: notify.secret,
      timeout: notify.timeout,
      registry: metrics.registry,
      logger: this.#logger.child({ part: 'notify' }),
    });
    return this.#notifier;
  }

  #createStreams(store: Store, metrics: Metrics, notifier: Notifier, advertisedHost: string): StreamManager {
    const { config } = this;
    const media = () => this.#media?.channel ?? null;
    const backend: MediaBackend = config.media.server === 'zlm' ? new ZlmBackend(config, advertisedHost) : new BuiltinBackend(media, advertisedHost, config);
    this.#zlm = backend instanceof ZlmBackend ? backend : null;
    this.#streams = new StreamManager({
      metrics: { invites: metrics.invites, firstFrame: metrics.inviteToFirstFrame },
      store,
      config,
      logger: this.#logger.child({ part: 'streams' }),
      sip: () => this.#sip?.channel ?? null,
      media,
      backend,
      emit: (event, data, key) => {
        void notifier.emit(event, data, key);
        // A download's stream may end without a note from the media plane (its input never got media).
        if (event === 'streams.stopped' && typeof data.streamid === 'string') this.#downloads?.streamStopped(rtpStreamName(data.streamid), String(data.reason));
      },
      mediaHost: advertisedHost,
      ...(this.#writes ? { writes: this.#writes } : {}),
    });
    return this.#streams;
  }

  #createSipThread(store: Store, notifier: Notifier, streams: StreamManager, advertisedHost: string): ManagedChild<SipContract> {
    const { config } = this;
    const log = this.#logger;
    const bridge = new SignallingBridge({
      store,
      config,
      logger: log.child({ part: 'sip' }),
      emit: (event, data, key) => void notifier.emit(event, data, key),
      writes: this.#writes!,
    });
    this.#bridge = bridge;
    const platforms = new PlatformManager({
      store,
      config,
      logger: log.child({ part: 'cascade' }),
      emit: (event, data, key) => void notifier.emit(event, data, key),
      sip: () => this.#sip?.channel ?? null,
      ...(this.#metrics ? { registry: this.#metrics.registry } : {}),
      streams: () => this.#streams,
      vehicles: () => this.#vehicleControl,
      media: () => this.#media?.channel ?? null,
      mediaHost: config.media.publicHost || advertisedHost,
      events: notifier,
    });
    this.#platforms = platforms;
    const init = async () => ({
      platforms: await platforms.upstreams(),
      config,
      advertisedHost,
      counters: this.#sipCounters.sab,
      online: await bridge.onlineDevices(),
      dialogs: await streams.openDialogs(),
    });
    return new ManagedChild<SipContract>('sip', threadSpawner<SipContract>(entryPath('sip-thread'), init, 'sip'), {
      onChannel: (channel) => {
        bridge.attach(channel);
        platforms.attach(channel);
        channel.onNote('device.mediaStatus', ({ deviceId, channelId, endOfFile }) => {
          if (endOfFile) void streams.playbackEnded(deviceId, channelId).catch((err) => this.#failed(err, 'playback end failed'));
        });
        channel.onNote('dialog.ended', ({ callId }) => {
          void streams.dialogEnded(callId).catch((err) => this.#failed(err, 'dialog end failed'));
        });
        // Voice broadcast (src/supervisor/intercom.ts): a new SIP thread knows none of the old broadcasts.
        this.#intercom?.sipRestarted();
        channel.handle('broadcast.invite', (invite) => {
          if (!this.#intercom) throw unavailable('intercom is not ready');
          return this.#intercom.broadcastInvite(invite);
        });
        channel.onNote('broadcast.bye', ({ id, reason }) => this.#intercom?.broadcastBye(id, reason));
      },
    });
  }

  #createJt808Thread(store: Store, notifier: Notifier): ManagedChild<Jt808Contract> {
    const { config } = this;
    const vehicles = new VehicleBridge({
      store,
      config,
      logger: this.#logger.child({ part: 'jt808' }),
      emit: (event, data, key) => void notifier.emit(event, data, key),
      writes: this.#writes!,
    });
    this.#vehicles = vehicles;
    const init = async () => ({ config, vehicles: await vehicles.known(), counters: this.#jt808Counters.sab });
    return new ManagedChild<Jt808Contract>('jt808', threadSpawner<Jt808Contract>(entryPath('jt808-thread'), init, 'jt808'), {
      onChannel: (channel) => vehicles.attach(channel),
    });
  }

  #createMediaProcess(store: Store, metrics: Metrics, streams: StreamManager, notifier: Notifier, advertisedHost: string): ManagedChild<MediaContract> {
    const { config } = this;
    const callbacks = new StreamCallbacks(config, this.#logger.child({ part: 'jt1078' }), metrics.registry);
    const intercom = new IntercomControl({
      config,
      store,
      jt808: () => this.#jt808?.channel ?? null,
      media: () => this.#media?.channel ?? null,
      sip: () => this.#sip?.channel ?? null,
      mediaHost: this.#mediaHost(advertisedHost),
      gbMediaHost: config.media.publicHost || advertisedHost,
      callbacks,
      emit: (event, data, key) => void notifier.emit(event, data, key),
      logger: this.#logger.child({ part: 'intercom' }),
    });
    this.#intercom = intercom;
    const bridge = new MediaBridge({
      streams,
      callbacks,
      config,
      logger: this.#logger.child({ part: 'media' }),
      workerRestarted: (slot) => metrics.childRestarts.inc({ child: `media-worker-${slot}` }),
      storeFailed: (error) => this.storeFailed(error),
      feeds: (name) => (this.#platforms?.feeds(name) ?? false) || (this.#downloads?.feeds(name) ?? false),
      stopped: (name, reason) => {
        this.#platforms?.sourceStopped(name, reason);
        this.#downloads?.streamStopped(name, reason);
      },
    });
    return new ManagedChild<MediaContract>('media', processSpawner<MediaContract>(entryPath('media-process'), () => ({ config })), {
      onChannel: (channel) => {
        bridge.attach(channel);
        channel.onNote('record.progress', (progress) => this.#downloads?.progress(progress));
        intercom.attach(channel);
        channel.onNote('forward.ended', ({ name, port, reason }) => this.#platforms?.forwardEnded(name, port, reason));
      },
    });
  }

  /** Where terminals reach our JT/T 1078 ports: jt808.mediaHost, else media.publicHost, else the advertised host. */
  #mediaHost(advertisedHost: string): string {
    return this.config.jt808.mediaHost || this.config.media.publicHost || advertisedHost;
  }

  async #startApi(store: Store, metrics: Metrics, notifier: Notifier, advertisedHost: string): Promise<string> {
    const { config } = this;
    const sip = () => {
      const channel = this.#sip?.channel;
      if (!channel) throw unavailable('signalling is restarting; retry');
      return channel;
    };
    const vehicles = (this.#vehicleControl = new VehicleControl({
      config,
      store,
      streams: () => this.#streams,
      jt808: () => this.#jt808?.channel ?? null,
      mediaHost: this.#mediaHost(advertisedHost),
      logger: this.#logger.child({ part: 'jt808' }),
      commandSeconds: jt808CommandHistogram(metrics.registry),
    }));
    this.#api = await buildApi({
      config,
      store,
      metrics,
      health: () => this.health(),
      streams: () => this.#streams,
      downloads: () => this.#downloads,
      vehicles: () => vehicles,
      platforms: () => this.#platforms,
      intercom: () => this.#intercom,
      media: () => this.#media?.channel ?? null,
      sip: () => this.#sip?.channel ?? null,
      sipHost: advertisedHost,
      gb: {
        queryRecords: (deviceId, channelId, start, end) => sip().request('records.query', { deviceId, channelId, start, end }, 15_000),
        queryDevice: async (deviceId, what) => {
          await sip().request(what === 'catalog' ? 'catalog.query' : 'deviceinfo.query', { deviceId }, 5000);
        },
        forgetDevice: async (deviceId) => {
          await this.#sip?.channel?.request('device.forget', { deviceId }).catch((err: Error) => this.#logger.warn({ device: deviceId, err: err.message }, 'forget device failed'));
        },
      },
      version: this.version,
      logger: this.#logger,
      events: notifier,
      listening: () => this.listening(),
      ...(this.#recentLog ? { recentLog: this.#recentLog } : {}),
    });
    const address = await this.#api.listen({ host: config.api.host, port: config.api.port });
    this.#logger.info({ address: bindOf(this.#api.server.address()) }, 'api listening');
    return address;
  }

  /** Every address the appliance listens on, with the addresses actually bound. */
  async listening(): Promise<ListenAddress[]> {
    const media = await this.#mediaPing()?.catch(() => undefined);
    const viewerPort = media?.detail?.viewerPort ?? 0;
    return listeningAddresses({
      config: this.config,
      api: this.#api?.server.address() ?? null,
      viewerPorts: viewerPort > 0 ? [viewerPort] : [],
      publicHost: this.sipHost(),
    });
  }

  /** Says at start-up what /healthz will say about ZLMediaKit, and re-pushes streams when it answers again. */
  async #checkZlm(zlm: ZlmBackend, streams: StreamManager): Promise<void> {
    const health = await zlm.health();
    if (!health.ok) this.#logger.warn({ part: 'zlm', ...health }, health.error ?? 'ZLMediaKit is not healthy');
    zlm.onReachableAgain = () => void streams.mediaServerRestarted();
  }

  /** A live-state path failed: logged; a store outage makes the queue watch for its return (then reconcile). */
  #failed(error: unknown, what: string): void {
    this.#logger.error({ err: error }, what);
    this.storeFailed(error);
  }

  #watch(child: ManagedChild<SipContract> | ManagedChild<MediaContract> | ManagedChild<Jt808Contract>): void {
    child.on('died', (reason) => this.#logger.error({ child: child.name, reason }, 'child died; restarting'));
    child.on('restarted', (restarts) => {
      this.#metrics?.childRestarts.inc({ child: child.name });
      this.#logger.info({ child: child.name, restarts }, 'child restarted');
    });
  }

  /** One media ping shared by everything that scrapes within 200 ms. */
  #mediaPing(): Promise<ChildHealth<MediaPing>> | undefined {
    if (!this.#media) return undefined;
    this.#mediaHealth ??= this.#media.health(1000).finally(() => setTimeout(() => (this.#mediaHealth = null), 200).unref());
    return this.#mediaHealth;
  }

  async #mediaSnapshot(): Promise<Partial<MediaPing> | null> {
    const health = await this.#mediaPing();
    const snapshot = health?.detail ?? null;
    if (snapshot?.counters) this.#mediaTotals.update(health?.pid, snapshot.counters);
    return snapshot;
  }

  async #threadLoads(): Promise<{ children: Array<{ child: string; up: boolean }>; loads: ThreadLoad[] }> {
    const [sip, jt808, media] = await Promise.all([this.#sip?.health(500), this.#jt808?.health(500), this.#mediaPing()]);
    const children: Array<{ child: string; up: boolean }> = [];
    const loads: ThreadLoad[] = [];
    const add = (h: ChildHealth | undefined) => {
      if (!h) return;
      children.push({ child: h.name, up: h.ok });
      if (typeof h.detail?.elu === 'number') loads.push({ thread: h.name, elu: h.detail.elu });
    };
    add(sip);
    add(jt808);
    add(media);
    for (const worker of media?.detail?.workers ?? []) add(worker);
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
          this.storeFailed(error);
        }
      })(),
    );
    for (const child of [this.#sip, this.#media, this.#jt808]) {
      if (!child) continue;
      checks.push(child.health(1000).then((h) => void (parts[child.name] = { ...h })));
    }
    const zlm = this.#zlm;
    if (zlm) checks.push(zlm.health().then((h) => void (parts.zlm = { ...h })));
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
   * Ordered shutdown: stop taking API requests; end every GB28181 dialog with BYE
   * (rows closed with reason `shutdown`) while the SIP thread and the media are still
   * up, waiting for the devices' answers up to SHUTDOWN_BYE_WAIT_MS; then signalling,
   * the media process, webhooks, the store.
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
      await step('simulations', () => this.#simulations?.stop());
      await step('api', () => this.#api?.close());
      await step('streams', async () => {
        const ended = await this.#streams?.shutdown(SHUTDOWN_BYE_WAIT_MS);
        if (ended?.open) log.info(ended, 'dialogs ended with BYE');
      });
      await step('sip', () => this.#sip?.stop(3000));
      await step('jt808', () => this.#jt808?.stop(3000));
      await step('media', () => this.#media?.stop(3000));
      await step('writes', async () => {
        await this.#vehicles?.drain({ writes: false });
        const left = await this.#writes?.flush(SHUTDOWN_FLUSH_MS);
        if (left) log.warn({ left }, 'store writes left unwritten at shutdown (reconciled at the next start)');
      });
      this.#downloads?.close();
      await step('notify', () => this.#notifier?.close({ drainTimeout: 2000 }));
      this.#metrics?.stopMeters();
      await step('store', () => this.#store?.close());
    })();
    return this.#stopping;
  }
}
