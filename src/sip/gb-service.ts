import {
  CatalogAggregator,
  RecordQueryAggregator,
  SnAllocator,
  buildCatalogQuery,
  buildDeviceInfoQuery,
  buildRecordInfoQuery,
  encodeXmlBody,
  parseManscdp,
  toGosipRecords,
  type CatalogItem,
  type CatalogResult,
  type GosipRecords,
  type ManscdpMessage,
  type RecordItem,
  type RecordQueryResult,
} from '../protocol/gb28181/index.js';
import type { Clock, Endpoint, TimerHandle } from '../protocol/sip/index.js';
import type { SharedCounters } from '../shared/counters.js';
import type { GbPlatform } from './platform.js';
import type { CatalogEntry, RecordEntry } from '../shared/contracts/sip.js';
import { QueryQueue } from './query-queue.js';

/**
 * GB28181 above SIP: what to do with MANSCDP MESSAGEs (keepalives, catalogs,
 * device info, record lists) and the queries the platform sends (Catalog and
 * DeviceInfo after registration and every catalogInterval, RecordInfo on demand).
 */

/** A catalog item in the store's shape (what the supervisor applies). */
export type StoreCatalogItem = CatalogEntry;

export interface GbServiceEvents {
  catalog(deviceId: string, items: StoreCatalogItem[], complete: boolean): void;
  deviceInfo(info: { deviceId: string; manufacturer?: string; model?: string; firmware?: string; deviceType?: string; name?: string }): void;
  /** MediaStatus from a device; `channelId` is the body's DeviceID (the channel that played). */
  mediaStatus(deviceId: string, channelId: string, endOfFile: boolean): void;
  /**
   * Any other parsed MESSAGE (alarms, positions, control answers): the control service's
   * `handleManscdp`. Returns true when it was handled (not counted as ignored).
   */
  other?(deviceId: string, message: ManscdpMessage, source: Endpoint): boolean;
  log?(level: 'debug' | 'info' | 'warn', message: string, data?: Record<string, unknown>): void;
}

export interface GbServiceOptions {
  platform: GbPlatform;
  clock: Clock;
  counters: SharedCounters;
  /** Seconds between Catalog queries per device; 0 = only on registration. */
  catalogInterval: number;
  events: GbServiceEvents;
  /** Pacing of Catalog/DeviceInfo queries (gb28181.queries); defaults as in the config. */
  queries?: { concurrency: number; perDevice: number; perSecond: number; backlog: number };
  /** How long a record query waits for all items (ms, default 10,000). */
  recordTimeout?: number;
  /** Device clock offset from UTC in minutes (default +08:00). */
  utcOffsetMinutes?: number;
}

const MANSCDP = 'Application/MANSCDP+xml';

function charsetOf(contentType: string | undefined): string | undefined {
  const match = contentType ? /charset\s*=\s*"?([\w-]+)/i.exec(contentType) : null;
  return match?.[1];
}

export class GbService {
  #o: GbServiceOptions;
  #sn = new SnAllocator();
  #catalogs: CatalogAggregator;
  #records: RecordQueryAggregator;
  #recordWaiters = new Map<number, (result: RecordQueryResult) => void>();
  #nextCatalog = new Map<string, number>();
  #timer: TimerHandle | null = null;
  readonly queries: QueryQueue;

  constructor(options: GbServiceOptions) {
    this.#o = options;
    this.queries = new QueryQueue({
      clock: options.clock,
      ...(options.queries ?? { concurrency: 64, perDevice: 1, perSecond: 100, backlog: 20_000 }),
      onBacklog: (waiting) => options.counters.set('query_backlog', waiting),
    });
    const now = () => options.clock.now();
    this.#catalogs = new CatalogAggregator({ now });
    this.#records = new RecordQueryAggregator({ now, timeoutMs: options.recordTimeout ?? 10_000 });
    this.#schedule();
  }

  /** A device came online (first registration): ask what it is and what it has. */
  deviceOnline(deviceId: string): void {
    this.queryCatalog(deviceId);
    this.queryDeviceInfo(deviceId);
  }

  /** DeviceInfo: the answer updates the device's manufacturer, model and firmware. */
  queryDeviceInfo(deviceId: string): void {
    this.#query(deviceId, 'DeviceInfo', () => buildDeviceInfoQuery({ sn: this.#sn.next(), deviceId }));
  }

  /** The device went away: its queued queries are dropped (counted). */
  deviceOffline(deviceId: string): void {
    this.#nextCatalog.delete(deviceId);
    const dropped = this.queries.dropDevice(deviceId);
    if (dropped > 0) this.#o.counters.add('queries|dropped-offline', dropped);
  }

  queryCatalog(deviceId: string): void {
    if (this.#o.catalogInterval > 0) this.#nextCatalog.set(deviceId, this.#o.clock.now() + this.#o.catalogInterval * 1000);
    this.#query(deviceId, 'Catalog', () => {
      // The SN and the aggregator's deadline start when the query is sent, not queued.
      const sn = this.#sn.next();
      this.#catalogs.expect(deviceId, sn);
      return buildCatalogQuery({ sn, deviceId });
    });
  }

  /** RecordInfo for a channel of `deviceId`, aggregated into gosip's shape. */
  /** `raw`: the device's own items too (clipped to the range), as cascade relays them. */
  queryRecords(deviceId: string, channelId: string, start: number, end: number, raw = false): Promise<GosipRecords & { complete: boolean; items?: RecordEntry[] }> {
    const sn = this.#sn.next();
    if (!this.#records.start({ sn, channelId, deviceId, startTime: start, endTime: end })) {
      return Promise.reject(new Error('too many record queries in progress'));
    }
    const done = new Promise<RecordQueryResult>((resolve) => this.#recordWaiters.set(sn, resolve));
    const offset = this.#o.utcOffsetMinutes;
    const xml = buildRecordInfoQuery({ sn, deviceId: channelId, startTime: start, endTime: end, ...(offset === undefined ? {} : { utcOffsetMinutes: offset }) });
    this.#o.platform
      .request(deviceId, { body: encodeXmlBody(xml), contentType: MANSCDP, toUser: channelId })
      .catch((error: Error) => {
        const result = this.#records.cancel(sn);
        this.#o.events.log?.('warn', 'RecordInfo query failed', { device: deviceId, channel: channelId, error: error.message });
        if (result) this.#settleRecords(result);
      });
    return done.then((result) => ({
      ...toGosipRecords(result.items, { clip: { start, end }, ...(offset === undefined ? {} : { utcOffsetMinutes: offset }) }),
      complete: result.complete,
      ...(raw ? { items: rawRecords(result.items, start, end) } : {}),
    }));
  }

  /** Queues a query; `build` makes its XML when it is sent. */
  #query(deviceId: string, what: string, build: () => string): void {
    const queued = this.queries.enqueue(deviceId, what, () => {
      if (!this.#o.platform.presence.get(deviceId)) return Promise.resolve();
      this.#o.counters.add('queries|sent');
      return this.#o.platform.request(deviceId, { body: encodeXmlBody(build()), contentType: MANSCDP }).catch((error: Error) => {
        this.#o.events.log?.('info', `${what} query failed`, { device: deviceId, error: error.message });
      });
    });
    if (queued === 'backlog-full') this.#o.counters.add('queries|dropped-backlog');
  }

  /** A MESSAGE body from a registered device (already answered 200). */
  handleMessage(deviceId: string, body: Uint8Array, contentType: string | undefined, source: Endpoint): void {
    const parsed = parseManscdp(body, charsetOf(contentType), this.#o.utcOffsetMinutes === undefined ? {} : { utcOffsetMinutes: this.#o.utcOffsetMinutes });
    if (!parsed.ok) {
      this.#o.counters.add('manscdp|malformed');
      this.#o.events.log?.('info', 'malformed MANSCDP body', { device: deviceId, reason: parsed.reason });
      return;
    }
    this.#dispatch(deviceId, parsed.message, source);
  }

  #dispatch(deviceId: string, message: ManscdpMessage, source: Endpoint): void {
    switch (message.kind) {
      case 'keepalive':
        this.#o.platform.keepalive(deviceId, source);
        return;
      case 'catalog': {
        const outcome = this.#catalogs.push(message, deviceId);
        if (outcome.status === 'complete') this.#emitCatalog(outcome.result);
        return;
      }
      case 'deviceInfo':
        this.#o.events.deviceInfo({
          deviceId,
          ...(message.manufacturer ? { manufacturer: message.manufacturer } : {}),
          ...(message.model ? { model: message.model } : {}),
          ...(message.firmware ? { firmware: message.firmware } : {}),
          ...(message.deviceType ? { deviceType: message.deviceType } : {}),
          ...(message.deviceName ? { name: message.deviceName } : {}),
        });
        return;
      case 'recordInfo': {
        const outcome = this.#records.push(message, deviceId);
        if (outcome.status === 'complete') this.#settleRecords(outcome.result);
        return;
      }
      case 'mediaStatus':
        this.#o.events.mediaStatus(deviceId, message.deviceId || deviceId, message.endOfFile);
        return;
      default:
        if (this.#o.events.other?.(deviceId, message, source) === true) return;
        this.#o.counters.add('manscdp|other');
        this.#o.events.log?.('debug', 'MANSCDP message ignored', { device: deviceId, cmdType: message.cmdType, root: message.root });
    }
  }

  #emitCatalog(result: CatalogResult): void {
    if (result.items.length === 0) return; // the device never answered: nothing to apply
    const items = result.items.map(storeCatalogEntry);
    this.#o.events.catalog(result.deviceId, items, result.complete);
  }

  #settleRecords(result: RecordQueryResult): void {
    const waiter = this.#recordWaiters.get(result.query.sn);
    this.#recordWaiters.delete(result.query.sn);
    waiter?.(result);
  }

  /** Aggregator deadlines and periodic catalogs, once a second. */
  #tick(): void {
    const now = this.#o.clock.now();
    for (const result of this.#catalogs.tick(now)) this.#emitCatalog(result);
    for (const result of this.#records.tick(now)) this.#settleRecords(result);
    for (const [deviceId, due] of this.#nextCatalog) {
      if (due <= now && this.#o.platform.presence.get(deviceId)) this.queryCatalog(deviceId);
    }
  }

  #schedule(): void {
    this.#timer = this.#o.clock.setTimer(1000, () => {
      this.#tick();
      this.#schedule();
    });
  }

  close(): void {
    if (this.#timer !== null) this.#o.clock.clearTimer(this.#timer);
    this.queries.close();
  }
}

/** A Catalog item as the store applies it (column names; absent fields left out). */
export function storeCatalogEntry(i: CatalogItem): StoreCatalogItem {
  const item: StoreCatalogItem = { channelid: i.deviceId, status: i.status };
  if (i.name !== undefined) item.name = i.name;
  if (i.manufacturer !== undefined) item.manufacturer = i.manufacturer;
  if (i.model !== undefined) item.model = i.model;
  if (i.owner !== undefined) item.owner = i.owner;
  if (i.civilCode !== undefined) item.civilcode = i.civilCode;
  if (i.address !== undefined) item.address = i.address;
  if (i.parental !== undefined) item.parental = i.parental;
  if (i.parentId !== undefined) item.parentid = i.parentId;
  if (i.safetyWay !== undefined) item.safetyway = i.safetyWay;
  if (i.registerWay !== undefined) item.registerway = i.registerWay;
  if (i.secrecy !== undefined) item.secrecy = i.secrecy;
  if (i.ptzType !== undefined) item.ptztype = i.ptzType;
  if (i.longitude !== undefined) item.longitude = i.longitude;
  if (i.latitude !== undefined) item.latitude = i.latitude;
  return item;
}

/** A device's RecordInfo items as it sent them, the unreadable ones left out, times clipped to the query. */
function rawRecords(items: readonly RecordItem[], start: number, end: number): RecordEntry[] {
  const out: RecordEntry[] = [];
  for (const i of items) {
    if (i.startTime === undefined || i.endTime === undefined) continue;
    const from = Math.max(start, i.startTime);
    const to = Math.min(end, i.endTime);
    if (to <= from) continue;
    out.push({
      start: from,
      end: to,
      ...(i.name ? { name: i.name } : {}),
      ...(i.filePath ? { filePath: i.filePath } : {}),
      ...(i.address ? { address: i.address } : {}),
      ...(i.secrecy === undefined ? {} : { secrecy: i.secrecy }),
      ...(i.type ? { type: i.type } : {}),
      ...(i.recorderId ? { recorderId: i.recorderId } : {}),
      ...(i.fileSize === undefined ? {} : { fileSize: i.fileSize }),
    });
  }
  return out;
}
