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
import type { RecordEntry, SharedCatalogItem, SipContract, UpstreamConfig, UpstreamInvite, UpstreamInviteAnswer, UpstreamStatus } from '../shared/contracts/sip.js';
import type { MediaContract } from '../shared/contracts/media.js';
import { decodePtzCmd, type PlaybackAction } from '../protocol/gb28181/index.js';
import { ptzToJt1078 } from '../protocol/jt808/index.js';
import { rtpStreamName } from '../shared/contracts/stream-name.js';
import { missing, unavailable } from '../shared/errors.js';
import type { StreamManager } from './streams.js';
import type { VehicleControl } from './vehicle-streams.js';
import type { CamgateConfig } from '../shared/config/config.js';
import { sharedSource, type Platform, type Store, type VirtualDirectory } from './store/index.js';
import type { EmitEvent } from './signalling-bridge.js';

/** GB/T 28181 type code of a vehicle channel in our catalog by default (131: camera; gb28181.cascade.vehicleIdType). */
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
  /** For play upward: camera streams, vehicle streams, the media process (forwards), and the address we send media from. */
  streams?: () => StreamManager | null;
  vehicles?: () => VehicleControl | null;
  media?: () => ParentChannel<MediaContract> | null;
  mediaHost?: string;
  /** Every event the appliance emits (the Notifier): vehicle and device changes become NOTIFYs to subscribed platforms. */
  events?: { subscribe(listener: (event: string, data: object) => void): () => void };
}

/** Where a shared channel comes from. */
type ChannelSource = { kind: 'camera'; channelid: string } | { kind: 'vehicle'; sim: string; channel: number };

/** One upper platform's media dialog: the stream it is fed from and where it is sent. */
interface UpwardSession {
  platformId: number;
  callId: string;
  /** Media-plane name of the source stream. */
  name: string;
  streamid: string;
  kind: 'gb28181' | 'jt1078';
  host: string;
  port: number;
  /** The source was started for this session (it was not live before). */
  started: boolean;
}

/** Each directory's business group (the 215 at the top of its chain); a 215 is its own. */
function businessGroups(directories: readonly VirtualDirectory[]): Map<string, string> {
  const byId = new Map(directories.map((d) => [d.id, d]));
  const out = new Map<string, string>();
  for (const d of directories) {
    let at: VirtualDirectory | undefined = d;
    for (let hops = 0; at && at.parent_id && hops <= directories.length; hops++) at = byId.get(at.parent_id);
    if (at && at.id.slice(10, 13) === '215') out.set(d.id, at.id);
  }
  return out;
}

export class PlatformManager {
  readonly #o: PlatformManagerOptions;
  readonly #status = new Map<number, UpstreamStatus & { since: number }>();
  readonly #now: () => number;
  readonly #registrations: Counter<'result'> | undefined;
  readonly #sessions = new Map<string, UpwardSession>();
  /** What each platform subscribed to: catalog changes, positions. */
  readonly #subscribed = new Map<number, { catalog: boolean; mobilePosition: boolean; alarm: boolean }>();

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
      new Gauge({
        name: 'camgate_platform_sessions',
        help: 'Media dialogs upper platforms hold with us (live and playback outputs).',
        registers: [options.registry],
        collect() {
          this.set(self.#sessions.size);
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
    options.events?.subscribe((event, data) => this.#event(event, data as Record<string, unknown>));
  }

  /** Vehicle and device changes → NOTIFYs to the platforms subscribed (only when one is). */
  #event(event: string, data: Record<string, unknown>): void {
    if (this.#subscribed.size === 0) return;
    const sim = typeof data.sim === 'string' ? data.sim : undefined;
    const deviceid = typeof data.deviceid === 'string' ? data.deviceid : undefined;
    const work = async () => {
      if (sim && (event === 'vehicles.online' || event === 'vehicles.offline')) await this.#notifyCatalog((s) => s.kind === 'vehicle' && s.sim === sim, event === 'vehicles.online' ? 'ON' : 'OFF', sim);
      else if (deviceid && (event === 'devices.offline' || event === 'devices.registered')) {
        const channels = new Set((await this.#o.store.channels.listByDevice(deviceid)).map((c) => c.channelid));
        await this.#notifyCatalog((s) => s.kind === 'camera' && channels.has(s.channelid), event === 'devices.registered' ? 'ON' : 'OFF');
      } else if (event === 'vehicles.alarm' && sim) {
        const names = Array.isArray(data.alarms) ? data.alarms.join(', ') : '';
        await this.#notifyAlarm((s) => s.kind === 'vehicle' && s.sim === sim, {
          priority: 2,
          method: 2,
          time: Math.floor((typeof data.time === 'number' ? data.time : Date.now()) / 1000),
          description: `JT/T 808 alarm: ${names}`,
          ...(typeof data.longitude === 'number' ? { longitude: data.longitude } : {}),
          ...(typeof data.latitude === 'number' ? { latitude: data.latitude } : {}),
        }, sim);
      } else if (event === 'channels.alarm' && typeof data.channelid === 'string') {
        const channelid = data.channelid;
        await this.#notifyAlarm((s) => s.kind === 'camera' && s.channelid === channelid, {
          priority: Number(data.priority ?? 4),
          method: Number(data.method ?? 2),
          time: typeof data.time === 'number' ? data.time : Math.floor(Date.now() / 1000),
          ...(typeof data.description === 'string' ? { description: data.description } : {}),
          ...(typeof data.longitude === 'number' ? { longitude: data.longitude } : {}),
          ...(typeof data.latitude === 'number' ? { latitude: data.latitude } : {}),
          ...(typeof data.alarmType === 'number' ? { alarmType: data.alarmType } : {}),
        });
      } else if (sim && event === 'vehicles.position' && typeof data.latitude === 'number' && typeof data.longitude === 'number') {
        await this.#notifyPositions(sim, data.latitude, data.longitude, Number(data.speed ?? 0), Number(data.direction ?? 0), typeof data.time === 'number' ? data.time : Date.now());
      }
    };
    void work().catch((err: Error) => this.#o.logger.warn({ err, event }, 'NOTIFY to upper platforms failed'));
  }

  async #notifyCatalog(match: (source: ChannelSource) => boolean, event: 'ON' | 'OFF', sim?: string): Promise<void> {
    for (const [id, subs] of this.#subscribed) {
      if (!subs.catalog) continue;
      const platform = await this.#o.store.platforms.get(id);
      if (!platform) continue;
      const items = this.#placed(platform, (await this.#shared(platform, sim)).filter((i) => match(i.source))).map((item) => ({ ...item, status: event, event }));
      if (items.length > 0) await this.#o.sip()?.request('platform.notify', { id, kind: 'catalog', items });
    }
  }

  /** An alarm of a shared source → Alarm NOTIFY (Event: presence) under each of its channel IDs, to the platforms subscribed. */
  async #notifyAlarm(match: (source: ChannelSource) => boolean, alarm: { priority: number; method: number; time: number; description?: string; longitude?: number; latitude?: number; alarmType?: number }, sim?: string): Promise<void> {
    for (const [id, subs] of this.#subscribed) {
      if (!subs.alarm) continue;
      const alarms = (await this.#sharedOf(id, sim)).filter((i) => match(i.source)).map((i) => ({ channelId: i.channelId, ...alarm }));
      if (alarms.length > 0) await this.#o.sip()?.request('platform.notify', { id, kind: 'alarm', alarms });
    }
  }

  async #notifyPositions(sim: string, latitude: number, longitude: number, speed: number, direction: number, time: number): Promise<void> {
    for (const [id, subs] of this.#subscribed) {
      if (!subs.mobilePosition) continue;
      const positions = (await this.#sharedOf(id, sim))
        .filter((i) => i.source.kind === 'vehicle' && i.source.sim === sim)
        .map((i) => ({ channelId: i.channelId, time, latitude, longitude, speed, direction }));
      if (positions.length > 0) await this.#o.sip()?.request('platform.notify', { id, kind: 'mobilePosition', positions });
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
    // A new SIP thread knows none of the old one's dialogs or subscriptions: end what they fed.
    this.#subscribed.clear();
    for (const session of [...this.#sessions.values()]) void this.bye(session.callId, 'signalling restarted').catch(() => undefined);
    channel.handle('platform.catalog', ({ id }) => this.catalog(id));
    channel.handle('platform.invite', (invite) => this.invite(invite));
    channel.handle('platform.playback', ({ callId, action }) => this.playbackControl(callId, action));
    channel.handle('platform.vehiclePtz', ({ sim, channel: logical, ptzCmd }) => this.vehiclePtz(sim, logical, ptzCmd));
    channel.handle('platform.records', ({ id, channelId, start, end }) => this.records(id, channelId, start, end));
    channel.handle('platform.resolve', async ({ id, channelId }) => {
      const source = await this.#sourceOf(id, channelId);
      if (!source) return null;
      if (source.kind === 'vehicle') return source;
      const channel = await this.#o.store.channels.get(source.channelid);
      return channel ? { kind: 'camera' as const, deviceId: channel.deviceid, channelId: channel.channelid } : null;
    });
    channel.onNote('platform.bye', ({ callId }) => void this.bye(callId, 'upper platform sent BYE'));
    channel.onNote('platform.status', (status) => this.#statusChanged(status));
    channel.onNote('platform.subscription', ({ id, kind, active }) => {
      const subs = this.#subscribed.get(id) ?? { catalog: false, mobilePosition: false, alarm: false };
      subs[kind] = active;
      if (subs.catalog || subs.mobilePosition || subs.alarm) this.#subscribed.set(id, subs);
      else this.#subscribed.delete(id);
      this.#o.logger.info({ platform: id, kind, active }, active ? 'upper platform subscribed' : 'upper platform subscription ended');
    });
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
    if (!isOnline) void this.#endSessions(status.id, `upper platform ${status.state}`);
    if (wasOnline && !isOnline) {
      this.#o.emit('platforms.offline', { id: status.id, state: status.state, error: status.error }, `platform:${status.id}`);
    }
  }

  /** The 10-digit prefix of vehicle channel IDs: gb28181.cascade.vehicleIdPrefix, else our SIP domain, else the first 10 digits of our SIP ID. */
  #vehiclePrefix(): string {
    const configured = this.#o.config.gb28181.cascade?.vehicleIdPrefix;
    if (configured) return configured;
    const { domain, id } = this.#o.config.sip;
    return /^[0-9]{10}$/.test(domain) ? domain : id.slice(0, 10);
  }

  #vehicleType(): string {
    return this.#o.config.gb28181.cascade?.vehicleIdType ?? VEHICLE_CHANNEL_TYPE;
  }

  /** The channels shared with platform `id`, each under the ID that platform sees, with the directories they sit in. */
  async catalog(id: number): Promise<SharedCatalogItem[]> {
    const platform = await this.#o.store.platforms.get(id);
    if (!platform) return [];
    return [...this.#directoryItems(platform), ...this.#placed(platform, await this.#shared(platform))];
  }

  /**
   * The directory items of a platform's catalog, parents first: the operator's tree when it
   * designed one, else with `directories` the fixed tree (a business group 215 with the
   * organisations 216 "cameras" and "vehicles"), else none.
   */
  #directoryItems(platform: Platform): SharedCatalogItem[] {
    if (platform.virtual_directories.length > 0) {
      const group = businessGroups(platform.virtual_directories);
      return platform.virtual_directories.map((d) => ({
        channelId: d.id,
        name: d.name,
        status: 'ON' as const,
        directory: true,
        parentId: d.parent_id ?? platform.deviceid,
        ...(d.parent_id && group.get(d.id) ? { businessGroupId: group.get(d.id)! } : {}),
      }));
    }
    if (!platform.directories) return [];
    const { group, cameras, vehicles } = this.#fixedTree();
    return [
      { channelId: group, name: 'camgate', status: 'ON', directory: true, parentId: platform.deviceid },
      { channelId: cameras, name: '摄像机', status: 'ON', directory: true, parentId: group, businessGroupId: group },
      { channelId: vehicles, name: '车辆', status: 'ON', directory: true, parentId: group, businessGroupId: group },
    ];
  }

  #fixedTree(): { group: string; cameras: string; vehicles: string } {
    const prefix = this.#vehiclePrefix();
    return { group: `${prefix}2150000001`, cameras: `${prefix}2160000001`, vehicles: `${prefix}2160000002` };
  }

  /** Shared channels placed in the platform's directories: an operator tree by each entry's parent_id, the fixed tree by kind. */
  #placed(platform: Platform, shared: Array<SharedCatalogItem & { source: ChannelSource }>): SharedCatalogItem[] {
    if (platform.virtual_directories.length > 0) {
      const group = businessGroups(platform.virtual_directories);
      const parents = new Map<string, string>();
      for (const c of platform.channels) if (c.parent_id && group.has(c.parent_id)) parents.set(sharedSource(c), c.parent_id);
      return shared.map(({ source, ...item }) => {
        const parent = parents.get(sharedSource(source));
        return parent ? { ...item, parentId: parent, businessGroupId: group.get(parent)! } : item;
      });
    }
    if (!platform.directories) return shared.map(({ source: _source, ...item }) => item);
    const { group, cameras, vehicles } = this.#fixedTree();
    return shared.map(({ source, ...item }) => ({ ...item, parentId: source.kind === 'vehicle' ? vehicles : cameras, businessGroupId: group }));
  }

  /** `onlySim`: just that vehicle's channels (a position or a vehicle's change must not walk the whole catalog). */
  async #sharedOf(id: number, onlySim?: string): Promise<Array<SharedCatalogItem & { source: ChannelSource }>> {
    const platform = await this.#o.store.platforms.get(id);
    return platform ? this.#shared(platform, onlySim) : [];
  }

  /** As #sharedOf for a platform already read (one store read per catalog or NOTIFY, not two). */
  async #shared(platform: Platform, onlySim?: string): Promise<Array<SharedCatalogItem & { source: ChannelSource }>> {
    const { store } = this.#o;
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
    const items: Array<SharedCatalogItem & { source: ChannelSource }> = [];
    const seen = new Set<string>();
    const push = (item: SharedCatalogItem & { source: ChannelSource }) => {
      if (seen.has(item.channelId)) return; // a custom ID equal to another channel's ID: the first wins
      seen.add(item.channelId);
      items.push(item);
    };

    const channelRows =
      onlySim !== undefined
        ? []
        : platform.share_cameras
          ? (await store.channels.list({ limit: -1, sort: 'channelid' })).list
          : (await Promise.all([...cameras].map((c) => store.channels.get(c)))).filter((c) => c !== null);
    for (const ch of channelRows) {
      push({
        source: { kind: 'camera', channelid: ch.channelid },
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

    const vehicles =
      onlySim !== undefined
        ? platform.share_vehicles || vehicleChannels.has(onlySim)
          ? [await store.vehicles.get(onlySim)].filter((v) => v !== null)
          : []
        : platform.share_vehicles
          ? (await store.vehicles.list({ limit: -1, sort: 'sim' })).list
          : (await Promise.all([...vehicleChannels.keys()].map((sim) => store.vehicles.get(sim)))).filter((v) => v !== null);
    if (vehicles.length > 0) {
      // All stored IDs in one read for a whole catalog; one vehicle's are read row by row.
      const ids = onlySim === undefined ? await store.platforms.vehicleChannelIds() : new Map<string, string>();
      const prefix = this.#vehiclePrefix();
      for (const v of vehicles) {
        const numbers = platform.share_vehicles
          ? Array.from({ length: Math.max(1, Math.min(v.channels, 99)) }, (_, i) => i + 1)
          : [...(vehicleChannels.get(v.sim) ?? [])].sort((a, b) => a - b);
        for (const n of numbers) {
          const key = `${v.sim}/${n}`;
          const stable = ids.get(key) ?? (await store.platforms.vehicleChannelId(v.sim, n, prefix, this.#vehicleType()));
          push({
            source: { kind: 'vehicle', sim: v.sim, channel: n },
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

  /**
   * Where the channel a platform asked for comes from, without building its whole catalog
   * (an INVITE must not cost a 10,000-channel walk): a custom ID, an explicit entry, or, with
   * the share-all switches, any camera channel or any vehicle channel by its stable ID.
   */
  async #sourceOf(id: number, channelId: string): Promise<ChannelSource | null> {
    const { store } = this.#o;
    const platform = await store.platforms.get(id);
    if (!platform) return null;
    const customised = new Set<string>();
    for (const c of platform.channels) {
      const source: ChannelSource = c.kind === 'camera' ? { kind: 'camera', channelid: c.channelid } : { kind: 'vehicle', sim: c.sim, channel: c.channel };
      if (c.custom_id === channelId) return source;
      if (c.custom_id) customised.add(c.kind === 'camera' ? c.channelid : `${c.sim}/${c.channel}`);
      else if (c.kind === 'camera' && c.channelid === channelId) return source;
    }
    if (platform.share_cameras && !customised.has(channelId) && (await store.channels.get(channelId))) return { kind: 'camera', channelid: channelId };
    for (const [key, stable] of await store.platforms.vehicleChannelIds()) {
      if (stable !== channelId || customised.has(key)) continue;
      const [sim, n] = key.split('/') as [string, string];
      const explicit = platform.channels.some((c) => c.kind === 'vehicle' && c.sim === sim && c.channel === Number(n));
      const vehicle = platform.share_vehicles ? await store.vehicles.get(sim) : null;
      if (explicit || (vehicle && Number(n) <= Math.max(1, vehicle.channels))) return { kind: 'vehicle', sim, channel: Number(n) };
    }
    return this.#unallocatedVehicle(platform, channelId, customised);
  }

  /**
   * A vehicle channel whose stable ID was never allocated (no catalog built since it was
   * shared, e.g. a platform INVITEing from a catalog it cached): the ID names the SIM's last
   * 5 digits and the channel, so only vehicles ending alike are tried, each allocated as the
   * catalog would (a clash moved it to another number: then it is not this one).
   */
  async #unallocatedVehicle(platform: Platform, channelId: string, customised: Set<string>): Promise<ChannelSource | null> {
    const prefix = `${this.#vehiclePrefix()}${this.#vehicleType()}`;
    if (channelId.length !== 20 || !channelId.startsWith(prefix)) return null;
    const tail = channelId.slice(13, 18);
    const n = Number(channelId.slice(18));
    if (n < 1) return null;
    const { store } = this.#o;
    const explicit = platform.channels.flatMap((c) => (c.kind === 'vehicle' && c.channel === n ? [c.sim] : []));
    const all = platform.share_vehicles ? (await store.vehicles.list({ limit: -1, sort: 'sim' })).list.filter((v) => n <= Math.max(1, v.channels)).map((v) => v.sim) : [];
    for (const sim of new Set([...explicit, ...all])) {
      if (sim.padStart(5, '0').slice(-5) !== tail || customised.has(`${sim}/${n}`)) continue;
      if ((await store.platforms.vehicleChannelId(sim, n, this.#vehiclePrefix(), this.#vehicleType())) === channelId) return { kind: 'vehicle', sim, channel: n };
    }
    return null;
  }

  /** A platform's PTZCmd for a vehicle channel, as JT/T 1078 0x9301/0x9302/0x9303/0x9306; how many the terminal accepted (result 0). */
  async vehiclePtz(sim: string, channel: number, ptzCmd: string): Promise<number> {
    const decoded = decodePtzCmd(ptzCmd);
    if (!decoded.ok) return 0;
    const vehicles = this.#o.vehicles?.();
    if (!vehicles) throw unavailable('JT/T 808 signalling unavailable');
    let accepted = 0;
    for (const m of ptzToJt1078(channel, decoded.command)) {
      const answer = await vehicles.raw(sim, m.msgId, Buffer.from(m.body).toString('hex'));
      if (answer.result === 0) accepted++;
    }
    return accepted;
  }

  /**
   * MANSRTSP from a platform in one of its playbacks: the camera gets it as an INFO in our
   * playback dialog; a terminal gets 0x9202 (speed ×1/×2/×4 → codes 1/2/3, seek as the range's start + position).
   */
  async playbackControl(callId: string, action: PlaybackAction): Promise<boolean> {
    const session = this.#sessions.get(callId);
    if (!session) throw missing('no such playback');
    const row = await this.#o.store.streams.getByStreamId(session.streamid);
    if (!row || row.status !== 0 || row.t !== 1) throw missing(`no open playback behind ${callId}`);
    if (action.action === 'teardown') return true;
    if (row.kind === 'gb28181') {
      const streams = this.#o.streams?.();
      if (!streams) throw unavailable('streams unavailable');
      await streams.playbackControl(row, action);
      return true;
    }
    const vehicles = this.#o.vehicles?.();
    if (!vehicles) throw unavailable('JT/T 808 signalling unavailable');
    const value = action.action === 'speed' ? Math.max(1, Math.min(5, Math.round(Math.log2(Math.max(1, action.scale))) + 1)) : action.action === 'seek' ? row.start + Math.round(action.position) : 0;
    await vehicles.controlPlayback(row, action.action, value);
    return true;
  }

  /** Recordings of a shared channel: the camera's RecordInfo (through the SIP thread), or the terminal's 0x9205. */
  async records(id: number, channelId: string, start: number, end: number): Promise<RecordEntry[]> {
    const source = await this.#sourceOf(id, channelId);
    if (!source) return [];
    if (source.kind === 'vehicle') {
      const vehicles = this.#o.vehicles?.();
      if (!vehicles) throw unavailable('JT/T 808 signalling unavailable');
      const items = await vehicles.records(source.sim, source.channel, start, end);
      return items.filter((i) => i.channel === source.channel || i.channel === 0).map((i) => ({ start: i.start, end: i.end }));
    }
    const channel = await this.#o.store.channels.get(source.channelid);
    const sip = this.#o.sip();
    if (!channel || !sip) return [];
    // The camera's own items (name, file path, type …) are relayed, not ranges merged for our API.
    const answer = await sip.request('records.query', { deviceId: channel.deviceid, channelId: channel.channelid, start, end, raw: true }, 15_000);
    return answer.items ?? answer.list.flatMap((day) => day.items);
  }

  /** A stream ended by itself (source gone): the platforms fed from it are told with a BYE. */
  sourceStopped(name: string, reason: string): void {
    for (const session of [...this.#sessions.values()]) {
      if (session.name !== name) continue;
      this.#sessions.delete(session.callId);
      this.#o.logger.info({ platform: session.platformId, stream: name, reason }, 'source ended; BYE to the upper platform');
      void this.#o.sip()?.request('platform.hangup', { callId: session.callId }).catch(() => undefined);
    }
  }

  /** A listening output nobody connected to in time (or whose connection closed for good): BYE upward, the session ends. */
  forwardEnded(name: string, port: number, reason: string): void {
    for (const session of [...this.#sessions.values()]) {
      if (session.name !== name || session.port !== port) continue;
      this.#o.logger.info({ platform: session.platformId, stream: name, port, reason }, 'upper platform never connected; BYE to it');
      void this.#o.sip()?.request('platform.hangup', { callId: session.callId }).catch(() => undefined);
      void this.bye(session.callId, reason).catch((err: Error) => this.#o.logger.warn({ err }, 'upward session not ended'));
    }
  }

  /**
   * The media process restarted: every output it carried is gone, so each upward dialog is
   * ended with a BYE to its platform (it may INVITE again) and its state, and the sources
   * started for it, are released.
   */
  mediaRestarted(): void {
    for (const session of [...this.#sessions.values()]) {
      this.#o.logger.info({ platform: session.platformId, stream: session.name }, 'media process restarted; BYE to the upper platform');
      void this.#o.sip()?.request('platform.hangup', { callId: session.callId }).catch(() => undefined);
      void this.bye(session.callId, 'media process restarted').catch((err: Error) => this.#o.logger.warn({ err }, 'upward session not ended'));
    }
  }

  /** True while an upper platform is fed from the stream (the no-viewer timer must leave it alone). */
  feeds(name: string): boolean {
    for (const s of this.#sessions.values()) if (s.name === name) return true;
    return false;
  }

  /** Open media dialogs of upper platforms, for the API. */
  sessions(platformId?: number): Array<Omit<UpwardSession, 'started'> & { started: boolean }> {
    return [...this.#sessions.values()].filter((s) => platformId === undefined || s.platformId === platformId).map((s) => ({ ...s }));
  }

  /**
   * An upper platform's INVITE for a shared channel: starts the source when it is not live
   * (camera INVITE, or 0x9101 to the terminal) and adds the platform as one more PS/RTP output.
   */
  async invite(request: UpstreamInvite): Promise<UpstreamInviteAnswer> {
    const source = await this.#sourceOf(request.id, request.channelId);
    if (!source) throw missing(`channel ${request.channelId} is not shared with platform ${request.id}`);
    const shared = { source };
    const media = this.#o.media?.();
    if (!media) throw unavailable('media process is restarting');
    let row;
    let started: boolean;
    const playback = request.playback;
    if (shared.source.kind === 'camera') {
      const streams = this.#o.streams?.();
      if (!streams) throw unavailable('streams unavailable');
      started = playback !== undefined || (await this.#o.store.streams.listOpen({ channelid: shared.source.channelid, t: 0 })).length === 0;
      row = await streams.start(shared.source.channelid, playback ? { playback } : {});
    } else {
      const vehicles = this.#o.vehicles?.();
      if (!vehicles) throw unavailable('JT/T 808 signalling unavailable');
      if (playback) {
        started = true;
        row = await vehicles.startPlayback(shared.source.sim, shared.source.channel, { ...playback, speed: 0, mode: 0 });
      } else {
        const before = await this.#o.store.streams.listOpen({ kind: 'jt1078', deviceid: shared.source.sim, channelid: String(shared.source.channel), t: 0 });
        started = before.length === 0;
        row = await vehicles.startStream(shared.source.sim, shared.source.channel, { dataType: 0, streamType: 0 });
      }
    }
    const name = row.kind === 'gb28181' ? rtpStreamName(row.streamid) : row.streamid;
    let added;
    try {
      const passive = request.transport === 'tcp-passive';
      added = await media.request('forward.add', {
        name,
        destination: {
          host: request.host,
          // Passive: a port of media.rtpPorts is taken and listened on; the platform connects to it.
          port: passive ? 0 : request.port,
          transport: passive ? 'tcp' : request.transport === 'tcp' ? 'tcp' : 'udp',
          ...(request.ssrc === undefined ? {} : { ssrc: request.ssrc }),
          ...(passive ? { listen: { acceptTimeoutMs: (this.#o.config.gb28181.cascade?.tcpAcceptTimeout ?? 10) * 1000, ...(request.sipAddress ? { peers: [request.sipAddress] } : {}) } } : {}),
        },
      });
    } catch (error) {
      // Not sent anywhere: a source started for this INVITE must not keep running.
      if (started && !this.feeds(name)) {
        if (row.kind === 'gb28181') await this.#o.streams?.()?.stopById(row.streamid, 'upper platform output failed').catch(() => undefined);
        else await this.#o.vehicles?.()?.stopStream(row, 'upper platform output failed').catch(() => undefined);
      }
      throw error;
    }
    this.#sessions.set(request.callId, {
      platformId: request.id,
      callId: request.callId,
      name,
      streamid: row.streamid,
      kind: row.kind,
      host: request.host,
      port: added.port ?? request.port,
      started,
    });
    const to = added.port === undefined ? `${request.transport}:${request.host}:${request.port}` : `tcp-passive: listening on ${added.port} for ${request.host}`;
    this.#o.logger.info({ platform: request.id, channel: request.channelId, stream: name, to, ssrc: added.ssrc }, 'sending to upper platform');
    return { ssrc: added.ssrc, mediaHost: this.#o.mediaHost ?? '127.0.0.1', ...(added.port === undefined ? {} : { mediaPort: added.port }) };
  }

  /** Ends one upward media dialog: its output removed, and the source stopped when this session started it and nothing else is fed from it. */
  async bye(callId: string, reason: string): Promise<void> {
    const session = this.#sessions.get(callId);
    if (!session) return;
    this.#sessions.delete(callId);
    const media = this.#o.media?.();
    const removed = await media?.request('forward.remove', { name: session.name, host: session.host, port: session.port }).catch(() => false);
    const others = (await media?.request('forward.list', { name: session.name }).catch(() => []))?.length ?? 0;
    // Console viewers count as users too: a stream someone watches is left to the no-viewer timer.
    const viewers = (await media?.request('viewers', { name: session.name }).catch(() => 0)) ?? 0;
    this.#o.logger.info({ platform: session.platformId, stream: session.name, removed, others, viewers, reason }, 'upper platform output ended');
    // A session that came while this one ended (a re-INVITE right after the BYE) found the
    // source live and did not count it as started: it inherits the source, or nobody stops it.
    const heir = session.started ? [...this.#sessions.values()].find((s) => s.name === session.name) : undefined;
    if (heir) heir.started = true;
    if (!session.started || others > 0 || viewers > 0 || heir) return;
    const row = await this.#o.store.streams.getByStreamId(session.streamid);
    if (!row || row.status !== 0) return;
    if (row.kind === 'gb28181') await this.#o.streams?.()?.stopById(row.streamid, `${reason}; nothing else uses it`);
    else await this.#o.vehicles?.()?.stopStream(row, `${reason}; nothing else uses it`);
  }

  async #endSessions(platformId: number, reason: string): Promise<void> {
    for (const session of [...this.#sessions.values()]) {
      if (session.platformId === platformId) await this.bye(session.callId, reason).catch((err: Error) => this.#o.logger.warn({ err }, 'upward session not ended'));
    }
  }
}
