import type { Logger } from 'pino';
import type { ParentChannel } from '../shared/contracts/lifecycle.js';
import type { CatalogChange, DeviceRegistered, OnlineDevice, SipContract } from '../shared/contracts/sip.js';
import { KeyedQueue } from '../shared/keyed-queue.js';
import type { CamgateConfig } from '../shared/config/config.js';
import { DuplicateError, type Store } from './store/types.js';

/**
 * The supervisor's half of the SIP thread's protocol: it answers credential
 * lookups from the store and turns the thread's events into store writes and
 * webhooks. Per-device writes are serialised so they land in the order reported.
 */

export type EmitEvent = (event: string, data: Record<string, unknown>, orderKey?: string) => void;

export class SignallingBridge {
  #store: Store;
  #config: CamgateConfig;
  #log: Logger;
  #emit: EmitEvent;
  #queue: KeyedQueue;
  #now: () => number;
  /** Devices whose row this bridge set online: their keepalives need no read to know it is no change. */
  #online = new Set<string>();

  constructor(options: { store: Store; config: CamgateConfig; logger: Logger; emit: EmitEvent; now?: () => number }) {
    this.#store = options.store;
    this.#config = options.config;
    this.#log = options.logger;
    this.#emit = options.emit;
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.#queue = new KeyedQueue((error, key) => this.#log.error({ err: error, device: key }, 'store write failed'));
  }

  /** Devices the store believes online, for the SIP thread's init. */
  async onlineDevices(): Promise<OnlineDevice[]> {
    const rows = await this.#store.devices.list({
      limit: -1,
      filters: [{ field_name: 'online', operator: '=', value: 1 }],
    });
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
      void this.#queue.run(registered.deviceId, () => this.#registered(registered));
    });
    channel.onNote('device.offline', ({ deviceId, reason }) => {
      void this.#queue.run(deviceId, async () => {
        this.#online.delete(deviceId);
        const device = await this.#store.devices.update(deviceId, { online: 0, expires_at: null });
        if (device) this.#emit('devices.offline', { deviceid: deviceId, reason }, deviceId);
      });
    });
    channel.onNote('device.keepalive', ({ deviceId, address, port }) => {
      void this.#queue.run(deviceId, async () => {
        // devices.active on every keepalive would flood receivers (10 k devices: 170/s);
        // by default it marks a state change only: the store had the device offline.
        // Only a device not known online here costs a read (the first keepalive after a restart).
        const every = this.#config.notify.activeEvents === 'every';
        const wasOnline = every || this.#online.has(deviceId) ? null : (await this.#store.devices.get(deviceId))?.online === 1;
        const device = await this.#store.devices.update(deviceId, { active: this.#now(), online: 1, source: `${address}:${port}` });
        if (!device) return;
        this.#online.add(deviceId);
        if (every || wasOnline === false) this.#emit('devices.active', { deviceid: deviceId, active: device.active }, deviceId);
      });
    });
    channel.onNote('device.info', (info) => {
      void this.#queue.run(info.deviceId, async () => {
        await this.#store.devices.update(info.deviceId, {
          ...(info.manufacturer ? { manufacturer: info.manufacturer } : {}),
          ...(info.model ? { model: info.model } : {}),
          ...(info.firmware ? { firmware: info.firmware } : {}),
          ...(info.deviceType ? { devicetype: info.deviceType } : {}),
        });
      });
    });
    channel.onNote('device.catalog', ({ deviceId, items }) => {
      void this.#queue.run(deviceId, async () => {
        const result = await this.#store.channels.upsertFromCatalog(deviceId, items, {
          addUnknown: this.#config.gb28181.registration === 'open',
        });
        for (const channelid of [...result.updated, ...result.added]) {
          const item = items.find((i) => i.channelid === channelid);
          this.#emit('channels.active', { channelid, deviceid: deviceId, status: item?.status ?? '' }, deviceId);
        }
        this.#log.info({ device: deviceId, ...countsOf(result) }, 'catalog applied');
      });
    });
    channel.onNote('catalog.change', ({ deviceId, changes }) => {
      void this.#queue.run(deviceId, () => this.#catalogChanged(deviceId, changes));
    });
    channel.onNote('device.alarm', ({ deviceId, channelId, ...alarm }) => {
      this.#emit('channels.alarm', { deviceid: deviceId, channelid: channelId, ...alarm }, deviceId);
    });
    channel.onNote('device.position', ({ deviceId, channelId, longitude, latitude }) => {
      if (longitude === undefined || latitude === undefined) return;
      void this.#queue.run(deviceId, async () => {
        // A device reporting its own position has no channel row of that ID: nothing to store.
        await this.#store.channels.update(channelId, { longitude, latitude });
      });
    });
    channel.onNote('subscription.state', (s) => {
      const level = s.state === 'active' || s.state === 'pending' || s.state === 'unsubscribed' ? 'debug' : 'info';
      this.#log[level]({ device: s.deviceId, kind: s.kind, state: s.state, status: s.status, reason: s.reason }, 'subscription state');
    });
  }

  /**
   * A Catalog NOTIFY: the items are applied as a catalog answer would be (DEL marks the channel
   * OFF rather than deleting a row an operator may have provisioned), then one webhook each:
   * ADD channels.added, DEL channels.removed, the others (ON, OFF, VLOST, DEFECT, UPDATE)
   * channels.active with the event.
   */
  async #catalogChanged(deviceId: string, changes: CatalogChange[]): Promise<void> {
    const items = changes.map(({ event, ...item }) => {
      const e = event.toUpperCase();
      return e === 'DEL' || e === 'OFF' || e === 'VLOST' || e === 'DEFECT' ? { ...item, status: 'OFF' } : e === 'ON' ? { ...item, status: 'ON' } : item;
    });
    const result = await this.#store.channels.upsertFromCatalog(deviceId, items, { addUnknown: this.#config.gb28181.registration === 'open' });
    const applied = new Set([...result.updated, ...result.added]);
    changes.forEach((change, i) => {
      if (!applied.has(change.channelid)) return;
      const e = change.event.toUpperCase();
      const event = e === 'ADD' ? 'channels.added' : e === 'DEL' ? 'channels.removed' : 'channels.active';
      this.#emit(event, { channelid: change.channelid, deviceid: deviceId, status: items[i]?.status ?? '', event: e }, deviceId);
    });
    this.#log.info({ device: deviceId, ...countsOf(result) }, 'catalog change applied');
  }

  async #registered(n: DeviceRegistered): Promise<void> {
    const now = this.#now();
    let existing = await this.#store.devices.get(n.deviceId);
    if (!existing && this.#config.gb28181.registration === 'open') {
      try {
        existing = await this.#store.devices.create({ deviceid: n.deviceId, pwd: '', region: n.domain });
      } catch (error) {
        if (!(error instanceof DuplicateError)) throw error;
      }
    }
    const device = await this.#store.devices.update(n.deviceId, {
      region: n.domain,
      host: n.via.host,
      port: n.via.port,
      transport: n.source.transport.toUpperCase(),
      rport: n.via.rport,
      raddr: n.via.received,
      source: `${n.source.address}:${n.source.port}`,
      uri: n.fromUri,
      online: 1,
      regist: true,
      active: now,
      expires_at: now + n.expires,
    });
    if (device) this.#online.add(n.deviceId);
    if (device && n.first) {
      this.#emit('devices.registered', { ...device, sysinfo: { lid: this.#config.sip.id, region: this.#config.sip.domain } }, n.deviceId);
    }
  }

  drain(): Promise<void> {
    return this.#queue.drain();
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
