/**
 * Upper GB28181 platforms (cascade, issue 16), the supervisor's half: hands the enabled
 * platforms (with their passwords) to the SIP thread, keeps the registration state the
 * thread reports, turns its changes into `platforms.online` / `platforms.offline`
 * webhooks and metrics, and resolves the channels shared with each platform for its
 * Catalog queries: cameras under their own (or a custom) ID, vehicle channels under the
 * stable IDs the store allocates.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ParentChannel } from '../shared/contracts/lifecycle.js';
import type { SharedCatalogItem, SipContract, UpstreamConfig, UpstreamStatus } from '../shared/contracts/sip.js';
import type { CamgateConfig } from '../shared/config/config.js';
import type { Platform, Store } from './store/index.js';
import type { EmitEvent } from './signalling-bridge.js';

/** GB/T 28181 type code of a vehicle channel in our catalog (131: camera). */
export const VEHICLE_CHANNEL_TYPE = '131';

/** The registration state as the API shows it: the SIP thread's report, or why there is none. */
export interface PlatformRuntime {
  state: UpstreamStatus['state'] | 'disabled' | 'unknown';
  error: string | null;
  /** Unix seconds of the last state change. */
  since: number | null;
  expires: number;
  failures: number;
}

export interface PlatformManagerOptions {
  store: Store;
  config: CamgateConfig;
  logger: Logger;
  emit: EmitEvent;
  sip: () => ParentChannel<SipContract> | null;
  registry?: Registry;
  now?: () => number;
}

export class PlatformManager {
  readonly #o: PlatformManagerOptions;
  readonly #status = new Map<number, UpstreamStatus & { since: number }>();
  readonly #now: () => number;
  readonly #registrations: Counter<'result'> | undefined;

  constructor(options: PlatformManagerOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000));
    if (options.registry) {
      const self = this;
      new Gauge({
        name: 'camgate_platforms',
        help: 'Upper GB28181 platforms by registration state (enabled ones; disabled ones are not counted).',
        labelNames: ['state'],
        registers: [options.registry],
        collect() {
          const counts: Record<string, number> = { registering: 0, online: 0, retrying: 0 };
          for (const s of self.#status.values()) if (s.state in counts) counts[s.state]!++;
          for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
        },
      });
      this.#registrations = new Counter({
        name: 'camgate_platform_registrations_total',
        help: 'Registration outcomes towards upper platforms: online (registered or refreshed into online), failed.',
        labelNames: ['result'],
        registers: [options.registry],
      });
      for (const result of ['online', 'failed']) this.#registrations.inc({ result }, 0);
    }
  }

  /** The enabled platforms as the SIP thread needs them. */
  async upstreams(): Promise<UpstreamConfig[]> {
    const out: UpstreamConfig[] = [];
    for (const p of await this.#o.store.platforms.list()) {
      if (!p.enabled) continue;
      out.push({
        id: p.id,
        serverId: p.serverid,
        domain: p.domain,
        host: p.host,
        port: p.port,
        transport: p.transport,
        deviceId: p.deviceid,
        password: (await this.#o.store.platforms.getSecret(p.id)) ?? '',
        expires: p.expires,
        keepaliveInterval: p.keepalive_interval,
        keepaliveTimeouts: p.keepalive_timeouts,
        charset: p.charset,
      });
    }
    return out;
  }

  /** Wires a (new) SIP thread channel. */
  attach(channel: ParentChannel<SipContract>): void {
    channel.handle('platform.catalog', ({ id }) => this.catalog(id));
    channel.onNote('platform.status', (status) => this.#statusChanged(status));
  }

  /** After a change through the API: the SIP thread gets the new set (no-op while it restarts: its init has them). */
  async changed(): Promise<void> {
    const channel = this.#o.sip();
    if (!channel) return;
    const upstreams = await this.upstreams();
    const enabled = new Set(upstreams.map((u) => u.id));
    for (const id of [...this.#status.keys()]) if (!enabled.has(id)) this.#status.delete(id);
    await channel.request('platforms.set', { platforms: upstreams });
  }

  runtime(platform: Platform): PlatformRuntime {
    if (!platform.enabled) return { state: 'disabled', error: null, since: null, expires: 0, failures: 0 };
    const s = this.#status.get(platform.id);
    if (!s) return { state: 'unknown', error: null, since: null, expires: 0, failures: 0 };
    return { state: s.state, error: s.error, since: s.since, expires: s.expires, failures: s.failures };
  }

  #statusChanged(status: UpstreamStatus): void {
    const before = this.#status.get(status.id);
    if (status.state === 'stopped') this.#status.delete(status.id);
    else this.#status.set(status.id, { ...status, since: before?.state === status.state ? before.since : this.#now() });
    const wasOnline = before?.state === 'online';
    const isOnline = status.state === 'online';
    if (isOnline && !wasOnline) {
      this.#registrations?.inc({ result: 'online' });
      this.#o.logger.info({ platform: status.id }, 'registered to upper platform');
      this.#o.emit('platforms.online', { id: status.id, expires: status.expires }, `platform:${status.id}`);
    }
    if (status.state === 'retrying' && before?.error !== status.error) {
      this.#registrations?.inc({ result: 'failed' });
      this.#o.logger.warn({ platform: status.id, error: status.error, failures: status.failures }, 'upper platform registration failed');
    }
    if (wasOnline && !isOnline) {
      this.#o.emit('platforms.offline', { id: status.id, state: status.state, error: status.error }, `platform:${status.id}`);
    }
  }

  /** The 10-digit prefix of vehicle channel IDs: our SIP domain, or the first 10 digits of our SIP ID. */
  #vehiclePrefix(): string {
    const { domain, id } = this.#o.config.sip;
    return /^[0-9]{10}$/.test(domain) ? domain : id.slice(0, 10);
  }

  /** The channels shared with platform `id`, each under the ID that platform sees. */
  async catalog(id: number): Promise<SharedCatalogItem[]> {
    const { store } = this.#o;
    const platform = await store.platforms.get(id);
    if (!platform) return [];
    const custom = new Map<string, string>();
    const cameras = new Set<string>();
    const vehicleChannels = new Map<string, Set<number>>();
    for (const c of platform.channels) {
      if (c.kind === 'camera') {
        cameras.add(c.channelid);
        if (c.custom_id) custom.set(`c:${c.channelid}`, c.custom_id);
      } else {
        const set = vehicleChannels.get(c.sim) ?? new Set<number>();
        set.add(c.channel);
        vehicleChannels.set(c.sim, set);
        if (c.custom_id) custom.set(`v:${c.sim}/${c.channel}`, c.custom_id);
      }
    }
    const items: SharedCatalogItem[] = [];
    const seen = new Set<string>();
    const push = (item: SharedCatalogItem) => {
      if (seen.has(item.channelId)) return; // a custom ID equal to another channel's ID: the first wins
      seen.add(item.channelId);
      items.push(item);
    };

    const channelRows = platform.share_cameras
      ? (await store.channels.list({ limit: -1, sort: 'channelid' })).list
      : (await Promise.all([...cameras].map((c) => store.channels.get(c)))).filter((c) => c !== null);
    for (const ch of channelRows) {
      push({
        channelId: custom.get(`c:${ch.channelid}`) ?? ch.channelid,
        name: ch.name || ch.channelid,
        status: ch.status === 'ON' ? 'ON' : 'OFF',
        ...(ch.manufacturer ? { manufacturer: ch.manufacturer } : {}),
        ...(ch.model ? { model: ch.model } : {}),
        ...(ch.address ? { address: ch.address } : {}),
        ...(ch.civilcode ? { civilCode: ch.civilcode } : {}),
        ...(ch.longitude === null ? {} : { longitude: ch.longitude }),
        ...(ch.latitude === null ? {} : { latitude: ch.latitude }),
      });
    }

    const vehicles = platform.share_vehicles
      ? (await store.vehicles.list({ limit: -1, sort: 'sim' })).list
      : (await Promise.all([...vehicleChannels.keys()].map((sim) => store.vehicles.get(sim)))).filter((v) => v !== null);
    if (vehicles.length > 0) {
      const ids = await store.platforms.vehicleChannelIds();
      const prefix = this.#vehiclePrefix();
      for (const v of vehicles) {
        const numbers = platform.share_vehicles
          ? Array.from({ length: Math.max(1, Math.min(v.channels, 99)) }, (_, i) => i + 1)
          : [...(vehicleChannels.get(v.sim) ?? [])].sort((a, b) => a - b);
        for (const n of numbers) {
          const key = `${v.sim}/${n}`;
          const stable = ids.get(key) ?? (await store.platforms.vehicleChannelId(v.sim, n, prefix, VEHICLE_CHANNEL_TYPE));
          push({
            channelId: custom.get(`v:${key}`) ?? stable,
            name: `${v.plate || v.sim} 通道${n}`,
            status: v.online ? 'ON' : 'OFF',
            manufacturer: v.manufacturer || 'JT/T 1078',
            ...(v.model ? { model: v.model } : {}),
            ...(v.longitude === null ? {} : { longitude: v.longitude }),
            ...(v.latitude === null ? {} : { latitude: v.latitude }),
          });
        }
      }
    }
    return items;
  }
}
