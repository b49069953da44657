import type { Logger } from 'pino';
import type { ParentChannel } from '../shared/contracts/lifecycle.js';
import type { CatalogEntry, DeviceRegistered, OnlineDevice, SipContract } from '../shared/contracts/sip.js';
import type { CamgateConfig } from '../shared/config/config.js';
import { DuplicateError, type AlarmCreate, type DevicePatch, type Store } from './store/types.js';
import { isStoreUnavailable, ownQueue, type WriteBehind } from './write-behind.js';

/**
 * The supervisor's half of the SIP thread's protocol: it answers credential
 * lookups from the store and turns the thread's events into store writes and
 * webhooks. Every write goes through the write-behind queue, keyed (a device's
 * presence, its info, its catalog, a channel's position), so writes of one key land in
 * the order reported and a store outage delays them instead of losing them.
 *
 * Presence (registered, keepalive, offline) is the SIP thread's: the bridge announces it
 * at once (`devices.offline` does not wait for the store) and writes it through the
 * supervisor's write-behind queue (src/supervisor/write-behind.ts), one coalesced entry
 * per device, retried while the store is down. `reconcile` repairs the rows from the
 * SIP thread's presence table when the store comes back.
 */

/** A device's presence as it waits in the write-behind queue. */
interface PresenceWrite {
  patch: DevicePatch;
  /** A REGISTER to apply (create the row under open registration; `devices.registered` when first). */
  registered?: DeviceRegistered;
  /** A keepalive of a device this bridge does not know online: `devices.active` when the row said offline. */
  checkActive?: boolean;
}

/** A device's catalog items (latest fields per channel) and, per channel, the NOTIFY event ('' for a Catalog answer). */
interface CatalogWrite {
  items: Map<string, CatalogEntry>;
  events: Map<string, string>;
}

function mergeCatalog(older: CatalogWrite, newer: CatalogWrite): CatalogWrite {
  const items = new Map(older.items);
  for (const [id, item] of newer.items) items.set(id, { ...items.get(id), ...item });
  return { items, events: new Map([...older.events, ...newer.events]) };
}

function mergePatch<P extends object>(older: P, newer: P): P {
  return { ...older, ...newer };
}

function mergePresence(older: PresenceWrite, newer: PresenceWrite): PresenceWrite {
  const registered = newer.registered ?? older.registered;
  return {
    patch: { ...older.patch, ...newer.patch },
    ...(registered ? { registered: { ...registered, first: Boolean(older.registered?.first || newer.registered?.first) } } : {}),
    ...(older.checkActive || newer.checkActive ? { checkActive: true } : {}),
  };
}

export type EmitEvent = (event: string, data: Record<string, unknown>, orderKey?: string) => void;

export class SignallingBridge {
  #store: Store;
  #config: CamgateConfig;
  #log: Logger;
  #emit: EmitEvent;
  #writes: WriteBehind;
  #alarmSeq = 0;
  #now: () => number;
  /** Devices the SIP thread reported online (registered, or keepalive): their keepalives need no read to know it is no change. */
  #online = new Set<string>();
  /** Devices whose `devices.offline` went out and that did not come back since: reconcile does not announce them again. */
  #offlineSent = new Set<string>();
  /** Registrations as the SIP thread reported them (for its restart while the store is unavailable). */
  #registrations = new Map<string, OnlineDevice>();

  constructor(options: { store: Store; config: CamgateConfig; logger: Logger; emit: EmitEvent; writes?: WriteBehind; now?: () => number }) {
    this.#store = options.store;
    // A private queue when none is given (unit tests); the supervisor passes its one queue.
    this.#writes = options.writes ?? ownQueue(options.config.store, options.logger, 'store write');
    this.#config = options.config;
    this.#log = options.logger;
    this.#emit = options.emit;
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** Devices the store believes online, for the SIP thread's init. */
  async onlineDevices(): Promise<OnlineDevice[]> {
    let rows: Awaited<ReturnType<Store['devices']['list']>>;
    try {
      rows = await this.#store.devices.list({ limit: -1, filters: [{ field_name: 'online', operator: '=', value: 1 }] });
    } catch (error) {
      // A SIP thread that restarts during a store outage gets the registrations the last one reported.
      if (!isStoreUnavailable(error)) throw error;
      this.#log.warn({ devices: this.#registrations.size }, 'store unavailable: the restarted SIP thread gets the registrations known here');
      return [...this.#registrations.values()];
    }
    const out: OnlineDevice[] = [];
    for (const d of rows.list) {
      const [address, port] = splitSource(d.source);
      if (!address || !port || !d.expires_at) continue;
      out.push({ deviceId: d.deviceid, transport: d.transport || 'UDP', address, port, expiresAt: d.expires_at, contact: d.uri });
    }
    return out;
  }

  /** Wires the request handlers and notes of a (new) SIP thread channel. */
  attach(channel: ParentChannel<SipContract>): void {
    channel.handle('device.credentials', async ({ deviceId }) => {
      const secret = await this.#store.devices.getSecret(deviceId);
      return { known: secret !== null, password: secret || this.#config.sip.password };
    });
    channel.onNote('device.registered', (registered) => {
      this.#cameOnline(registered.deviceId);
      const now = this.#now();
      const { transport, address, port } = registered.source;
      this.#registrations.set(registered.deviceId, {
        deviceId: registered.deviceId,
        transport: transport.toUpperCase(),
        address,
        port,
        expiresAt: now + registered.expires,
        contact: registered.fromUri,
      });
      this.#presence(registered.deviceId, {
        patch: {
          region: registered.domain,
          host: registered.via.host,
          port: registered.via.port,
          transport: registered.source.transport.toUpperCase(),
          rport: registered.via.rport,
          raddr: registered.via.received,
          source: `${registered.source.address}:${registered.source.port}`,
          uri: registered.fromUri,
          online: 1,
          regist: true,
          active: now,
          expires_at: now + registered.expires,
        },
        registered,
      });
    });
    channel.onNote('device.offline', ({ deviceId, reason }) => {
      this.#online.delete(deviceId);
      this.#registrations.delete(deviceId);
      // The SIP thread decided; receivers hear it now, whether or not the store is up.
      // A device deleted through the API (`removed`) has no row left to announce.
      if (reason !== 'removed') this.#announceOffline(deviceId, reason);
      this.#presence(deviceId, { patch: { online: 0, expires_at: null } });
    });
    channel.onNote('device.keepalive', ({ deviceId, address, port }) => {
      // devices.active on every keepalive would flood receivers (10 k devices: 170/s);
      // by default it marks a state change only: the store had the device offline.
      // Only a device not known online here costs a read (the first keepalive after a restart).
      const every = this.#config.notify.activeEvents === 'every';
      const known = this.#online.has(deviceId);
      this.#cameOnline(deviceId);
      const registration = this.#registrations.get(deviceId);
      if (registration) Object.assign(registration, { address, port });
      const active = this.#now();
      if (every) this.#emit('devices.active', { deviceid: deviceId, active }, deviceId);
      this.#presence(deviceId, { patch: { active, online: 1, source: `${address}:${port}` }, ...(every || known ? {} : { checkActive: true }) });
    });
    channel.onNote('device.info', (info) => {
      const patch: DevicePatch = {
        ...(info.manufacturer ? { manufacturer: info.manufacturer } : {}),
        ...(info.model ? { model: info.model } : {}),
        ...(info.firmware ? { firmware: info.firmware } : {}),
        ...(info.deviceType ? { devicetype: info.deviceType } : {}),
      };
      this.#put(`device-info:${info.deviceId}`, patch, (p) => this.#store.devices.update(info.deviceId, p), mergePatch);
    });
    channel.onNote('device.catalog', ({ deviceId, items }) => {
      this.#catalog(deviceId, items.map((item) => ({ item, event: '' })));
    });
    channel.onNote('catalog.change', ({ deviceId, changes }) => {
      // DEL marks the channel OFF rather than deleting a row an operator may have provisioned.
      this.#catalog(
        deviceId,
        changes.map(({ event, ...item }) => {
          const e = event.toUpperCase();
          const status = e === 'DEL' || e === 'OFF' || e === 'VLOST' || e === 'DEFECT' ? 'OFF' : e === 'ON' ? 'ON' : item.status;
          return { item: status === undefined ? item : { ...item, status }, event: e };
        }),
      );
    });
    channel.onNote('device.alarm', ({ deviceId, channelId, ...alarm }) => {
      this.#emit('channels.alarm', { deviceid: deviceId, channelid: channelId, ...alarm }, deviceId);
      // Every alarm is its own row (never coalesced), written behind like presence.
      const row: AlarmCreate = {
        kind: 'gb28181',
        deviceid: deviceId,
        channelid: channelId,
        priority: alarm.priority ?? null,
        method: alarm.method ?? null,
        type: alarm.alarmType ?? null,
        event_type: alarm.eventType ?? null,
        description: alarm.description ?? '',
        alarm_time: alarm.time ?? null,
        latitude: alarm.latitude ?? null,
        longitude: alarm.longitude ?? null,
      };
      this.#put(`alarm:${++this.#alarmSeq}`, row, (r) => this.#store.alarms.add(r));
    });
    channel.onNote('device.position', ({ channelId, longitude, latitude }) => {
      if (longitude === undefined || latitude === undefined) return;
      // A device reporting its own position has no channel row of that ID: nothing to store.
      this.#put(`position:${channelId}`, { longitude, latitude }, async (p) => void (await this.#store.channels.update(channelId, p)));
    });
    channel.onNote('subscription.state', (s) => {
      const level = s.state === 'active' || s.state === 'pending' || s.state === 'unsubscribed' ? 'debug' : 'info';
      this.#log[level]({ device: s.deviceId, kind: s.kind, state: s.state, status: s.status, reason: s.reason }, 'subscription state');
    });
  }

  /**
   * Catalog answers and NOTIFYs, written behind: one entry per device holding the latest
   * fields of each channel. Once applied, one webhook per channel the store knows:
   * a Catalog answer's `channels.active`; a NOTIFY's ADD `channels.added`, DEL
   * `channels.removed`, the others (ON, OFF, VLOST, DEFECT, UPDATE) `channels.active` with the event.
   */
  #catalog(deviceId: string, entries: Array<{ item: CatalogEntry; event: string }>): void {
    const write: CatalogWrite = { items: new Map(), events: new Map() };
    for (const { item, event } of entries) {
      write.items.set(item.channelid, item);
      write.events.set(item.channelid, event);
    }
    this.#put(`catalog:${deviceId}`, write, (w) => this.#writeCatalog(deviceId, w), mergeCatalog);
  }

  async #writeCatalog(deviceId: string, w: CatalogWrite): Promise<void> {
    const items = [...w.items.values()];
    const result = await this.#store.channels.upsertFromCatalog(deviceId, items, { addUnknown: this.#config.gb28181.registration === 'open' });
    for (const channelid of [...result.updated, ...result.added]) {
      const status = w.items.get(channelid)?.status ?? '';
      const e = w.events.get(channelid) ?? '';
      if (e === '') this.#emit('channels.active', { channelid, deviceid: deviceId, status }, deviceId);
      else {
        const event = e === 'ADD' ? 'channels.added' : e === 'DEL' ? 'channels.removed' : 'channels.active';
        this.#emit(event, { channelid, deviceid: deviceId, status, event: e }, deviceId);
      }
    }
    this.#log.info({ device: deviceId, ...countsOf(result) }, 'catalog applied');
  }

  #put<V>(key: string, value: V, write: (value: V) => Promise<unknown>, merge?: (older: V, newer: V) => V): void {
    if (!this.#writes.put(key, value, async (v) => void (await write(v)), merge)) {
      this.#log.warn({ key }, 'not queued: store write queue full');
    }
  }

  #cameOnline(deviceId: string): void {
    this.#online.add(deviceId);
    this.#offlineSent.delete(deviceId);
  }

  #announceOffline(deviceId: string, reason: string): void {
    this.#offlineSent.add(deviceId);
    this.#emit('devices.offline', { deviceid: deviceId, reason }, deviceId);
  }

  #presence(deviceId: string, write: PresenceWrite): void {
    const queued = this.#writes.put(`device:${deviceId}`, write, (w) => this.#writePresence(deviceId, w), mergePresence);
    if (!queued) this.#log.warn({ device: deviceId }, 'presence not queued: store write queue full (reconciled when the store is back)');
  }

  async #writePresence(deviceId: string, w: PresenceWrite): Promise<void> {
    const create = w.registered !== undefined && this.#config.gb28181.registration === 'open';
    // One read serves both: whether an open-mode registration must create the row, and
    // whether a keepalive brings back a device the store had offline.
    const before = create || w.checkActive ? await this.#store.devices.get(deviceId) : undefined;
    if (create && !before) {
      try {
        await this.#store.devices.create({ deviceid: deviceId, pwd: '', region: w.registered!.domain });
      } catch (error) {
        if (!(error instanceof DuplicateError)) throw error;
      }
    }
    const cameBack = w.checkActive === true && before?.online !== 1 && w.patch.online === 1;
    // The row is read back only for the webhook that carries it (a first registration); a
    // keepalive's presence is one UPDATE.
    if (w.registered?.first) {
      const device = await this.#store.devices.update(deviceId, w.patch);
      if (!device) return;
      this.#emit('devices.registered', { ...device, sysinfo: { lid: this.#config.sip.id, region: this.#config.sip.domain } }, deviceId);
      if (cameBack) this.#emit('devices.active', { deviceid: deviceId, active: device.active }, deviceId);
      return;
    }
    if (!(await this.#store.devices.patch(deviceId, w.patch))) return;
    if (cameBack) this.#emit('devices.active', { deviceid: deviceId, active: w.patch.active }, deviceId);
  }

  /**
   * The store is back (or the SIP thread restarted): rows are made to say what the SIP
   * thread's presence table says. A row online for a device the thread does not hold goes
   * offline, with `devices.offline` (reason `reconciled`) unless one went out already; a
   * device the thread holds whose row says offline is set online. Returns the counts.
   */
  async reconcile(live: OnlineDevice[]): Promise<{ offline: number; online: number }> {
    const held = new Map(live.map((d) => [d.deviceId, d]));
    this.#registrations = new Map(held);
    const rows = await this.#store.devices.list({ limit: -1, filters: [{ field_name: 'online', operator: '=', value: 1 }] });
    let offline = 0;
    let online = 0;
    const stored = new Set<string>();
    for (const row of rows.list) {
      stored.add(row.deviceid);
      if (held.has(row.deviceid)) continue;
      offline++;
      this.#online.delete(row.deviceid);
      if (!this.#offlineSent.has(row.deviceid)) this.#announceOffline(row.deviceid, 'reconciled');
      this.#presence(row.deviceid, { patch: { online: 0, expires_at: null } });
    }
    for (const d of live) {
      if (stored.has(d.deviceId)) continue;
      online++;
      this.#cameOnline(d.deviceId);
      this.#presence(d.deviceId, { patch: { online: 1, source: `${d.address}:${d.port}`, expires_at: Math.floor(d.expiresAt) } });
    }
    if (offline + online > 0) this.#log.warn({ offline, online }, 'device rows reconciled with the SIP thread');
    return { offline, online };
  }

  /** Resolves when the queued writes landed (at once while the store is down: shutdown flushes the queue with a bound). */
  async drain(): Promise<void> {
    if (this.#writes.up) await this.#writes.idle();
  }
}

/** A device row's `source` ("ip:port") as address and port; ['', 0] when unknown. */
export function splitSource(source: string): [string, number] {
  const i = source.lastIndexOf(':');
  return i < 0 ? ['', 0] : [source.slice(0, i), Number(source.slice(i + 1))];
}

function countsOf(result: { updated: string[]; added: string[]; ignored: string[] }) {
  return { updated: result.updated.length, added: result.added.length, ignored: result.ignored.length };
}
