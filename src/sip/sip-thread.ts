/**
 * The SIP thread (docs/architecture.md): SIP transports, transactions and GB28181
 * signalling. It owns no database: credentials come from the supervisor on request
 * and every state change goes back to it as a note (src/shared/contracts/sip.ts).
 *
 * Owns: transport (sockets) → platform (transactions, registrar, presence, dialogs)
 * → service (MANSCDP queries) → control (DeviceControl, playback INFO, subscriptions).
 * close() ends them in the reverse order.
 */
import { NonceStore, systemClock, type Clock, type Endpoint } from '../protocol/sip/index.js';
import type { ChildChannel } from '../shared/contracts/lifecycle.js';
import type { SipContract, SipInit, SipPing, SourceAddress } from '../shared/contracts/sip.js';
import { SharedCounters } from '../shared/counters.js';
import { ServiceError, conflict, type ApiCode } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { GbService, storeCatalogEntry } from './gb-service.js';
import { ControlError, GbControlService } from './control-service.js';
import type { ControlFailure } from '../shared/contracts/sip-counters.js';
import { GbPlatform } from './platform.js';
import { SIP_COUNTER_NAMES } from '../shared/contracts/sip-counters.js';
import { SipTransport, transportLimits } from './transport.js';
import { AuthThrottle } from './auth-throttle.js';
import { Cascade } from './cascade.js';
import { GbBroadcast } from './broadcast.js';
import { packageVersion } from '../shared/entry.js';

type SipChannel = ChildChannel<SipContract>;

/** How a control failure reaches the API: HTTP status and envelope code. */
const CONTROL_STATUS: Record<ControlFailure, [number, ApiCode]> = {
  'not-registered': [409, '1002'],
  rejected: [502, '1001'],
  timeout: [504, '1001'],
  'no-response': [504, '1001'],
  'device-error': [502, '1001'],
  'send-failed': [503, '1001'],
  busy: [503, '1001'],
  closed: [503, '1001'],
  invalid: [400, '1002'],
  'no-invite': [504, '1001'],
  'invite-refused': [502, '1001'],
};

/** A ControlError as a ServiceError (status and code cross the channel); anything else as is. */
export function controlServiceError(error: unknown): unknown {
  if (!(error instanceof ControlError)) return error;
  const [status, code] = CONTROL_STATUS[error.reason];
  return new ServiceError(status, code, `${error.reason}: ${error.message}`, error.status);
}

/** Runs a control call and maps its ControlError. */
async function mapped<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw controlServiceError(error);
  }
}

function sourceOf(endpoint: Endpoint): SourceAddress {
  return { transport: endpoint.transport, address: endpoint.address, port: endpoint.port };
}

export class SipThread {
  readonly platform: GbPlatform;
  readonly service: GbService;
  readonly control: GbControlService;
  readonly transport: SipTransport;
  readonly cascade: Cascade;
  readonly broadcast: GbBroadcast;
  readonly #channel: SipChannel;
  readonly #log: Logger;
  readonly #platforms: SipInit['platforms'];
  readonly #listen: { host: string; port: number; transports: string[] };
  readonly #clock: Clock;
  readonly #autoSubscriptions: ReadonlyArray<'catalog' | 'alarm' | 'mobilePosition'>;

  constructor(init: SipInit, channel: SipChannel, clock: Clock = systemClock) {
    const { config } = init;
    this.#channel = channel;
    this.#clock = clock;
    this.#autoSubscriptions = config.gb28181.subscribe;
    this.#platforms = init.platforms ?? [];
    this.#listen = { host: config.sip.host, port: config.sip.port, transports: [...config.sip.transports] };
    this.#log = createLogger(config.log.level, { thread: 'sip' });
    const counters = SharedCounters.attach(init.counters, SIP_COUNTER_NAMES);
    const log = (level: 'debug' | 'info' | 'warn', message: string, data?: Record<string, unknown>) => this.#log[level](data ?? {}, message);

    this.platform = new GbPlatform({
      serverId: config.sip.id,
      domain: config.sip.domain,
      advertisedHost: init.advertisedHost,
      advertisedPort: config.sip.port,
      registration: config.gb28181.registration,
      maxExpires: config.gb28181.registerExpires,
      keepaliveInterval: config.gb28181.keepaliveInterval,
      keepaliveTimeouts: config.gb28181.keepaliveTimeouts,
      clock,
      nonces: new NonceStore({ clock, maxEntries: config.sip.limits.nonces }),
      throttle: new AuthThrottle({ clock, ...config.sip.limits }),
      trust: (remote) => this.transport.trust(remote),
      counters,
      lookup: (deviceId) => channel.request('device.credentials', { deviceId }),
      send: (bytes, remote) => this.transport.send(bytes, remote),
      events: {
        registered: (binding, first) => {
          const { known: _known, ...registered } = binding;
          channel.notify('device.registered', { ...registered, source: sourceOf(binding.source), first });
          if (first) {
            this.service.deviceOnline(binding.deviceId);
            this.#autoSubscribe(binding.deviceId);
          }
        },
        offline: (deviceId, reason) => {
          this.service.deviceOffline(deviceId);
          this.control.deviceOffline(deviceId);
          this.broadcast.deviceOffline(deviceId, reason);
          channel.notify('device.offline', { deviceId, reason });
        },
        keepalive: (deviceId, source) => channel.notify('device.keepalive', { deviceId, ...sourceOf(source) }),
        dialogEnded: (callId, deviceId) => {
          if (!this.broadcast.ended(callId)) channel.notify('dialog.ended', { callId, deviceId: deviceId ?? '' });
        },
        invite: (tx, request, remote) => this.broadcast.handleInvite(tx, request, remote),
        manscdp: (deviceId, body, contentType, source) => this.service.handleMessage(deviceId, body, contentType, source),
        notify: (request, remote) => this.control.handleNotify(request, remote),
        upstream: (tx, request, remote) => this.cascade.handle(tx, request, remote),
        log,
      },
    });
    this.service = new GbService({
      platform: this.platform,
      clock,
      counters,
      catalogInterval: config.gb28181.catalogInterval,
      queries: config.gb28181.queries,
      events: {
        catalog: (deviceId, items, complete) => channel.notify('device.catalog', { deviceId, items, complete }),
        deviceInfo: (info) => channel.notify('device.info', info),
        mediaStatus: (deviceId, channelId, endOfFile) => channel.notify('device.mediaStatus', { deviceId, channelId, endOfFile }),
        other: (deviceId, message, source) => this.control.handleManscdp(deviceId, message, source),
        log,
      },
    });
    this.control = new GbControlService({
      platform: this.platform,
      clock,
      counters,
      serverId: config.sip.id,
      events: {
        subscription: (snapshot) => channel.notify('subscription.state', snapshot),
        catalogChange: (deviceId, items) =>
          channel.notify('catalog.change', { deviceId, changes: items.map((i) => ({ ...storeCatalogEntry(i), event: i.event ?? '' })) }),
        alarm: (alarm) => channel.notify('device.alarm', alarm),
        position: (position) => channel.notify('device.position', position),
        log,
      },
    });
    this.broadcast = new GbBroadcast({
      platform: this.platform,
      control: this.control,
      clock,
      counters,
      serverId: config.sip.id,
      local: { host: init.advertisedHost, port: config.sip.port },
      invite: (invite) => channel.request('broadcast.invite', invite, 15_000),
      bye: (id, callId, reason) => channel.notify('broadcast.bye', { id, callId, ...(reason ? { reason } : {}) }),
      log,
    });
    this.cascade = new Cascade({
      clock,
      local: { host: init.advertisedHost, port: config.sip.port },
      send: (request, remote, handlers) => {
        this.platform.transactions.sendRequest(request, remote, handlers);
      },
      status: (status) => channel.notify('platform.status', status),
      catalog: (id) => channel.request('platform.catalog', { id }, 30_000),
      invite: (request) => channel.request('platform.invite', request, 45_000),
      resolve: (id, channelId) => channel.request('platform.resolve', { id, channelId }, 10_000),
      vehiclePtz: (sim, logical, ptzCmd) => channel.request('platform.vehiclePtz', { sim, channel: logical, ptzCmd }, 20_000),
      playback: (callId, action) => channel.request('platform.playback', { callId, action }, 20_000),
      records: (id, channelId, start, end) => channel.request('platform.records', { id, channelId, start, end }, 30_000),
      relay: (deviceId, channelId, xml, cmdType, label, expectResponse) => {
        let sipAnswered!: (status: number) => void;
        const sip = new Promise<number>((resolve) => (sipAnswered = resolve));
        const response = this.control.relay(deviceId, channelId, xml, cmdType, label, expectResponse, sipAnswered);
        response.catch(() => undefined);
        return { sip, response };
      },
      bye: (id, callId) => channel.notify('platform.bye', { id, callId }),
      subscription: (subscription) => channel.notify('platform.subscription', subscription),
      version: packageVersion(),
      log,
    });
    this.#restore(init, clock);
    const platform = this.platform;
    this.transport = new SipTransport(
      { host: config.sip.host, port: config.sip.port, transports: config.sip.transports, udpRecvBuffer: 8 * 1024 * 1024, ...transportLimits(config.sip.limits), counters },
      {
        message: (message, remote) => platform.receive(message, remote),
        malformed: (failure, remote) => platform.malformed(remote, failure),
      },
    );
    this.#serve();
  }

  /**
   * Devices online before this thread (re)started keep their place: keepalives from
   * their registered address stay trusted until the registration expires. Dialogs of
   * open streams stay known, so a device's BYE still ends its stream.
   */
  /**
   * gb28181.subscribe: a device that comes online gets these SUBSCRIBEs through the paced
   * query queue (a registration storm does not become a SUBSCRIBE storm); a refusal only
   * sets the subscription's state (GET /devices/:id/subscriptions).
   */
  #autoSubscribe(deviceId: string): void {
    for (const kind of this.#autoSubscriptions) {
      this.service.queries.enqueue(deviceId, `subscribe:${kind}`, () =>
        this.control.subscribe(deviceId, kind).catch((error: Error) => this.#log.info({ device: deviceId, kind, err: error.message }, 'automatic subscription refused')),
      );
    }
  }

  #restore(init: SipInit, clock: Clock): void {
    const nowSeconds = Date.now() / 1000;
    for (const d of init.online) {
      const remaining = d.expiresAt - nowSeconds;
      if (remaining <= 0) continue;
      this.platform.presence.restore({
        deviceId: d.deviceId,
        source: { transport: d.transport, address: d.address, port: d.port },
        contact: d.contact,
        expiresAt: clock.now() + remaining * 1000,
        lastKeepalive: clock.now(),
        registeredAt: clock.now(),
      });
    }
    for (const d of init.dialogs) this.platform.dialogs.set(d.callId, d.deviceId);
    if (init.online.length > 0 || init.dialogs.length > 0) {
      this.#log.info({ devices: init.online.length, dialogs: init.dialogs.length }, 'state restored');
    }
  }

  /** The supervisor's requests (src/shared/contracts/sip.ts `down`). */
  #serve(): void {
    const p = this.platform;
    this.#channel
      .handle('invite', (request) => p.invite(request))
      .handle('bye', ({ dialog, deviceId, fallback }) => p.bye(dialog, deviceId, fallback))
      .handle('records.query', ({ deviceId, channelId, start, end, raw }) => this.service.queryRecords(deviceId, channelId, start, end, raw === true))
      .handle('device.forget', ({ deviceId }) => p.presence.unregister(deviceId, 'removed'))
      .handle('catalog.query', ({ deviceId }) => {
        if (!p.presence.get(deviceId)) throw conflict(`device ${deviceId} is not online`);
        this.service.queryCatalog(deviceId);
        return true;
      })
      .handle('deviceinfo.query', ({ deviceId }) => {
        if (!p.presence.get(deviceId)) throw conflict(`device ${deviceId} is not online`);
        this.service.queryDeviceInfo(deviceId);
        return true;
      })
      .handle('control.device', ({ deviceId, channelId, command }) => mapped(() => this.control.control(deviceId, channelId, command)))
      .handle('control.presets', ({ deviceId, channelId }) => mapped(() => this.control.queryPresets(deviceId, channelId)))
      .handle('control.status', ({ deviceId, channelId }) => mapped(() => this.control.queryStatus(deviceId, channelId)))
      .handle('control.configDownload', ({ deviceId, channelId, types }) => mapped(() => this.control.queryConfig(deviceId, channelId, types)))
      .handle('control.config', ({ deviceId, channelId, basic }) => mapped(() => this.control.configure(deviceId, channelId, basic)))
      .handle('playback.control', async ({ deviceId, dialog, action, fallback }) => {
        try {
          return await this.control.playback(deviceId, dialog, action, fallback);
        } catch (error) {
          // The INFO took a CSeq even when refused: the caller must store the dialog.
          const failure = controlServiceError(error);
          if (!(error instanceof ControlError) || !(failure instanceof ServiceError)) throw failure;
          return { dialog: error.dialog ?? dialog, failure: { status: failure.status, code: failure.code, message: failure.message } };
        }
      })
      .handle('subscription.start', ({ deviceId, kind, options }) => {
        if (!p.presence.get(deviceId)) throw conflict(`device ${deviceId} is not online`);
        return this.control.subscribe(deviceId, kind, options);
      })
      .handle('subscription.stop', async ({ deviceId, kind }) => (await this.control.unsubscribe(deviceId, kind)) ?? null)
      .handle('subscription.list', ({ deviceId }) => this.control.subscriptions(deviceId))
      .handle('presence.list', () => {
        const nowMs = this.#clock.now();
        const nowSeconds = Date.now() / 1000;
        return [...p.presence.entries()].map((e) => ({
          deviceId: e.deviceId,
          transport: e.source.transport,
          address: e.source.address,
          port: e.source.port,
          expiresAt: Math.floor(nowSeconds + (e.expiresAt - nowMs) / 1000),
          contact: e.contact,
        }));
      })
      .handle('platforms.set', ({ platforms }) => this.cascade.set(platforms))
      .handle('platform.hangup', ({ callId }) => this.cascade.hangup(callId))
      .handle('platform.notify', (n) => this.cascade.notify(n))
      .handle('broadcast.start', (o) => mapped(() => this.broadcast.start(o)))
      .handle('broadcast.stop', ({ id }) => this.broadcast.stop(id));
  }

  async start(): Promise<void> {
    await this.transport.start();
    this.#log.info(this.#listen, 'sip listening');
    if (this.#platforms.length > 0) this.cascade.set(this.#platforms);
  }

  ping(): SipPing {
    return {
      role: 'sip',
      registered: this.platform.presence.size,
      transactions: { client: this.platform.transactions.clientCount, server: this.platform.transactions.serverCount },
      tcpConnections: this.transport.connectionCount,
    };
  }

  async close(): Promise<void> {
    // Unregister upward while the transport still runs, bounded so shutdown never hangs on a silent platform.
    await Promise.race([this.cascade.close(), new Promise((resolve) => setTimeout(resolve, 1500).unref())]);
    this.broadcast.close();
    this.control.close();
    this.service.close();
    this.platform.close();
    await this.transport.close();
    this.#log.info('sip stopped');
  }
}
