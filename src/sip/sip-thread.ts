/**
 * The SIP thread (docs/architecture.md): SIP transports, transactions and GB28181
 * signalling. It owns no database: credentials come from the supervisor on request
 * and every state change goes back to it as a note (src/shared/contracts/sip.ts).
 *
 * Owns: transport (sockets) → platform (transactions, registrar, presence, dialogs)
 * → service (MANSCDP queries). close() ends them in the reverse order.
 */
import { NonceStore, systemClock, type Clock, type Endpoint } from '../protocol/sip/index.js';
import type { ChildChannel } from '../shared/contracts/lifecycle.js';
import type { SipContract, SipInit, SipPing, SourceAddress } from '../shared/contracts/sip.js';
import { SharedCounters } from '../shared/counters.js';
import { conflict } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { GbService } from './gb-service.js';
import { GbPlatform } from './platform.js';
import { SIP_COUNTER_NAMES } from '../shared/contracts/sip-counters.js';
import { SipTransport, transportLimits } from './transport.js';
import { AuthThrottle } from './auth-throttle.js';

type SipChannel = ChildChannel<SipContract>;

function sourceOf(endpoint: Endpoint): SourceAddress {
  return { transport: endpoint.transport, address: endpoint.address, port: endpoint.port };
}

export class SipThread {
  readonly platform: GbPlatform;
  readonly service: GbService;
  readonly transport: SipTransport;
  readonly #channel: SipChannel;
  readonly #log: Logger;
  readonly #listen: { host: string; port: number; transports: string[] };

  constructor(init: SipInit, channel: SipChannel, clock: Clock = systemClock) {
    const { config } = init;
    this.#channel = channel;
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
          if (first) this.service.deviceOnline(binding.deviceId);
        },
        offline: (deviceId, reason) => {
          this.service.deviceOffline(deviceId);
          channel.notify('device.offline', { deviceId, reason });
        },
        keepalive: (deviceId, source) => channel.notify('device.keepalive', { deviceId, ...sourceOf(source) }),
        dialogEnded: (callId, deviceId) => channel.notify('dialog.ended', { callId, deviceId: deviceId ?? '' }),
        manscdp: (deviceId, body, contentType, source) => this.service.handleMessage(deviceId, body, contentType, source),
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
        log,
      },
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
      .handle('records.query', ({ deviceId, channelId, start, end }) => this.service.queryRecords(deviceId, channelId, start, end))
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
      });
  }

  async start(): Promise<void> {
    await this.transport.start();
    this.#log.info(this.#listen, 'sip listening');
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
    this.service.close();
    this.platform.close();
    await this.transport.close();
    this.#log.info('sip stopped');
  }
}
