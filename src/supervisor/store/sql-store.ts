/**
 * The Store written once against the driver layer; the few dialect differences
 * (identifier quoting, upsert syntax, row locks) are spelt out where they occur.
 */
import { compileListQuery, limitClause, quoteIdent, type SqlValue, type TableSpec } from './filters.js';
import { isUniqueViolation, type Driver, type Row, type SqlExecutor } from './driver.js';
import { appliedVersions } from './migrations.js';
import { SqlPlatformStore } from './platform-store.js';
import type { PlatformStore } from './platform-types.js';
import {
  CHANNEL_COLUMNS,
  CHANNEL_LIST,
  DEVICE_COLUMNS,
  DEVICE_LIST,
  STREAM_COLUMNS,
  STREAM_LIST,
  SYS_INFO_COLUMNS,
  VEHICLE_COLUMNS,
  VEHICLE_LIST,
  encode,
  toChannel,
  toDevice,
  toStream,
  toSysInfo,
  toVehicle,
  toAlarm,
  ALARM_COLUMNS,
  ALARM_LIST,
  type ColumnKind,
} from './schema.js';
import {
  DuplicateError,
  NotFoundError,
  StoreError,
  type CatalogItem,
  type Channel,
  type ChannelCreate,
  type ChannelPatch,
  type ChannelStore,
  type Device,
  type DeviceCreate,
  type DevicePatch,
  type DeviceStore,
  type Dialect,
  type ListQuery,
  type ListResult,
  type Store,
  type Stream,
  type StreamInsert,
  type StreamOpenFilter,
  type StreamPatch,
  type StreamStore,
  type SysInfo,
  type SysInfoSeed,
  type SysInfoStore,
  type UpsertCatalogOptions,
  type UpsertCatalogResult,
  type Vehicle,
  type VehicleCreate,
  type VehiclePatch,
  type VehicleStore,
  type Alarm,
  type AlarmCreate,
  type AlarmStore,
} from './types.js';

/** Counter suffix of generated IDs: `did`/`cid` (14 digits) + 6 digits. */
const COUNTER_DIGITS = 6;
const COUNTER_MAX = 10 ** COUNTER_DIGITS - 1;
const MAX_ID_LENGTH = 64;

/** Columns a DevicePatch may set, with how each value is encoded. */
const DEVICE_PATCH: Record<keyof DevicePatch, ColumnKind> = {
  status: 'json',
  status_at: 'intNull',
  name: 'text',
  pwd: 'text',
  region: 'text',
  host: 'text',
  port: 'int',
  transport: 'text',
  rport: 'int',
  raddr: 'text',
  source: 'text',
  manufacturer: 'text',
  devicetype: 'text',
  firmware: 'text',
  model: 'text',
  uri: 'text',
  online: 'int',
  active: 'int',
  regist: 'bool',
  expires_at: 'intNull',
};

const CATALOG_FIELDS = {
  name: 'text',
  manufacturer: 'text',
  model: 'text',
  owner: 'text',
  civilcode: 'text',
  address: 'text',
  parental: 'int',
  parentid: 'text',
  safetyway: 'int',
  registerway: 'int',
  secrecy: 'int',
  status: 'text',
  ptztype: 'int',
  longitude: 'realNull',
  latitude: 'realNull',
  uri: 'text',
} as const satisfies Record<string, ColumnKind>;

const CHANNEL_PATCH: Record<keyof ChannelPatch, ColumnKind> = {
  ...CATALOG_FIELDS,
  memo: 'text',
  streamtype: 'text',
  url: 'text',
  active: 'int',
  vf: 'text',
  height: 'int',
  width: 'int',
  fps: 'int',
};

const STREAM_WRITABLE: Record<string, ColumnKind> = Object.fromEntries(
  Object.entries(STREAM_COLUMNS)
    .filter(([name]) => !['id', 'addtime', 'uptime'].includes(name))
    .map(([name, def]) => [name, def.kind]),
);

/** Columns a VehiclePatch may set (auth_code included: it is written, never selected). */
const VEHICLE_PATCH: Record<keyof VehiclePatch, ColumnKind> = {
  plate: 'text',
  plate_color: 'int',
  manufacturer: 'text',
  model: 'text',
  terminal_id: 'text',
  channels: 'int',
  online: 'int',
  address: 'text',
  version: 'text',
  auth_code: 'text',
  latitude: 'realNull',
  longitude: 'realNull',
  speed: 'real',
  direction: 'int',
  position_time: 'intNull',
  av_attributes: 'json',
};

/** A SIM as terminals send it in BCD: 1 to 20 digits, kept without leading zeros. */
function checkSim(sim: unknown): string {
  if (typeof sim !== 'string' || !/^[0-9]{1,20}$/.test(sim)) throw new StoreError('sim must be 1 to 20 digits');
  const stripped = sim.replace(/^0+/, '');
  return stripped === '' ? '0' : stripped;
}

/** Default identity, the same as gosip's demo config and camgate's config defaults. */
export const DEFAULT_SYS_INFO_SEED: SysInfoSeed = {
  lid: '37070000082008000001',
  region: '3707000008',
  did: '37070000081118',
  cid: '37070000081318',
  dnum: 0,
  cnum: 0,
};

function pad(counter: number): string {
  return String(counter).padStart(COUNTER_DIGITS, '0');
}

function checkId(kind: 'deviceid' | 'channelid', id: unknown): string {
  if (typeof id !== 'string' || id.trim() === '' || id.length > MAX_ID_LENGTH || id !== id.trim()) {
    throw new StoreError(`${kind} must be a non-empty string of at most ${MAX_ID_LENGTH} characters`);
  }
  return id;
}

const ALARM_PRUNE_EVERY = 1000;

export class SqlStore implements Store {
  readonly dialect: Dialect;
  readonly devices: DeviceStore;
  readonly channels: ChannelStore;
  readonly streams: StreamStore;
  readonly sysInfo: SysInfoStore;
  readonly vehicles: VehicleStore;
  readonly alarms: AlarmStore;
  readonly platforms: PlatformStore;

  private readonly selectVehicle: string;
  private readonly selectAlarm: string;
  private alarmsAdded = 0;
  private readonly selectDevice: string;
  private readonly selectChannel: string;
  private readonly selectStream: string;
  private readonly selectSysInfo: string;

  constructor(
    private readonly driver: Driver,
    private readonly now: () => number,
  ) {
    this.dialect = driver.dialect;
    const list = (columns: Record<string, unknown>) =>
      Object.keys(columns)
        .map((c) => this.q(c))
        .join(', ');
    this.selectDevice = list(DEVICE_COLUMNS);
    this.selectChannel = list(CHANNEL_COLUMNS);
    this.selectStream = list(STREAM_COLUMNS);
    this.selectSysInfo = list(SYS_INFO_COLUMNS);
    this.selectVehicle = list(VEHICLE_COLUMNS);
    this.selectAlarm = list(ALARM_COLUMNS);
    this.alarms = {
      add: (alarm) => this.addAlarm(alarm),
      list: (query) => this.listRows(ALARM_LIST, this.selectAlarm, toAlarm, query, '1=1'),
    };

    this.devices = {
      list: (query) => this.listDevices(query),
      get: (deviceid) => this.getDevice(this.driver, deviceid),
      create: (input) => this.createDevice(input),
      update: (deviceid, patch) => this.updateDevice(deviceid, patch),
      patch: (deviceid, patch) => this.patchDevice(deviceid, patch),
      softDelete: (deviceid) => this.deleteDevice(deviceid),
      getSecret: (deviceid) => this.getSecret(deviceid),
    };
    this.channels = {
      list: (query) => this.listChannels(query),
      get: (channelid) => this.getChannel(this.driver, channelid),
      listByDevice: (deviceid) => this.channelsOf(deviceid),
      create: (deviceid, input) => this.createChannel(deviceid, input),
      update: (channelid, patch) => this.updateChannel(channelid, patch),
      softDelete: (channelid) => this.deleteChannel(channelid),
      upsertFromCatalog: (deviceid, items, options) => this.upsertCatalog(deviceid, items, options),
    };
    this.streams = {
      insert: (row) => this.insertStream(row),
      update: (id, patch) => this.updateStream(id, patch),
      get: (id) => this.getStream(this.driver, id),
      getByStreamId: (streamid) => this.getStreamByStreamId(streamid),
      list: (query) => this.listStreams(query),
      listOpen: (filter) => this.listOpenStreams(filter),
      close: (id, reason) => this.closeStream(id, reason),
    };
    this.sysInfo = {
      get: () => this.getSysInfo(this.driver),
      seed: (seed) => this.seedSysInfo(seed),
    };
    this.platforms = new SqlPlatformStore(driver, now);
    this.vehicles = {
      list: (query) => this.listRows(VEHICLE_LIST, this.selectVehicle, toVehicle, query, '1=1'),
      get: (sim) => this.getVehicle(this.driver, sim),
      create: (input) => this.createVehicle(input),
      update: (sim, patch) => this.updateVehicle(this.driver, sim, patch),
      upsert: (sim, patch) => this.upsertVehicle(sim, patch),
      updateMany: (patches) => this.updateVehicles(patches),
      delete: async (sim) => (await this.driver.run('DELETE FROM vehicles WHERE sim = ?', [checkSim(sim)])).changes > 0,
      known: async () =>
        (await this.driver.all('SELECT sim, auth_code FROM vehicles')).map((row) => ({ sim: String(row.sim), authCode: String(row.auth_code ?? '') })),
      allOffline: async () => (await this.driver.run('UPDATE vehicles SET online = 0, uptime = ? WHERE online = 1', [this.now()])).changes,
    };
  }

  private q(name: string): string {
    return quoteIdent(this.dialect, name);
  }

  getDeviceSecret(deviceid: string): Promise<string | null> {
    return this.getSecret(deviceid);
  }

  migrations(): Promise<number[]> {
    return appliedVersions(this.driver);
  }

  close(): Promise<void> {
    return this.driver.close();
  }

  // -------------------------------------------------------------------------
  // shared helpers
  // -------------------------------------------------------------------------

  private async listRows<T>(
    spec: TableSpec,
    select: string,
    toRow: (row: Row) => T,
    query: ListQuery | undefined,
    baseWhere: string,
  ): Promise<ListResult<T>> {
    // Throws QueryError before any SQL runs.
    const compiled = compileListQuery(spec, query, this.dialect);
    const where = `${baseWhere} AND (${compiled.where})`;
    const table = this.q(spec.table);
    const counted = await this.driver.all(
      `SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`,
      compiled.params,
    );
    const total = Number(counted[0]?.n ?? 0);
    if (compiled.limit === 0 || total === 0) return { total, list: [] };
    const rows = await this.driver.all(
      `SELECT ${select} FROM ${table} WHERE ${where} ORDER BY ${compiled.orderBy}` +
        limitClause(this.dialect, compiled.limit, compiled.offset),
      compiled.params,
    );
    return { total, list: rows.map(toRow) };
  }

  /** `SET a = ?, b = ?` for the known keys of a patch; unknown keys are ignored. */
  private assignments(
    patch: object,
    allowed: Record<string, ColumnKind>,
  ): { sets: string[]; params: SqlValue[] } {
    const sets: string[] = [];
    const params: SqlValue[] = [];
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined || !Object.prototype.hasOwnProperty.call(allowed, key)) continue;
      const kind = allowed[key]!;
      const encoded = encode(kind, value);
      // NOT NULL columns get their neutral value instead of a constraint error.
      if (encoded === null && !kind.endsWith('Null') && kind !== 'json') {
        params.push(kind === 'text' ? '' : 0);
      } else {
        params.push(encoded);
      }
      sets.push(`${this.q(key)} = ?`);
    }
    return { sets, params };
  }

  /** Locks the sys_info row for the rest of the transaction and returns it. */
  private async lockSysInfo(tx: SqlExecutor): Promise<SysInfo> {
    // SQLite's BEGIN IMMEDIATE already holds the write lock; MySQL needs a row lock.
    const lock = this.dialect === 'mysql' ? ' FOR UPDATE' : '';
    const rows = await tx.all(`SELECT ${this.selectSysInfo} FROM sys_info WHERE id = 1${lock}`);
    if (rows.length === 0) throw new NotFoundError('sys_info', '1');
    return toSysInfo(rows[0]!);
  }

  /** Increments a counter inside the caller's transaction and returns the new value. */
  private async nextCounter(tx: SqlExecutor, counter: 'dnum' | 'cnum'): Promise<number> {
    await tx.run(`UPDATE sys_info SET ${counter} = ${counter} + 1, uptime = ? WHERE id = 1`, [this.now()]);
    const rows = await tx.all(`SELECT ${counter} AS n FROM sys_info WHERE id = 1`);
    const value = Number(rows[0]?.n);
    if (!(value <= COUNTER_MAX)) {
      throw new StoreError(`${counter} exhausted: no ${COUNTER_DIGITS}-digit IDs left`);
    }
    return value;
  }

  /** An explicit ID in the generated range moves the counter past it. */
  private async raiseCounter(
    tx: SqlExecutor,
    counter: 'dnum' | 'cnum',
    prefix: string,
    id: string,
  ): Promise<void> {
    if (id.length !== prefix.length + COUNTER_DIGITS || !id.startsWith(prefix)) return;
    const suffix = id.slice(prefix.length);
    if (!/^\d+$/.test(suffix)) return;
    const greatest = this.dialect === 'mysql' ? 'GREATEST' : 'MAX';
    await tx.run(`UPDATE sys_info SET ${counter} = ${greatest}(${counter}, ?) WHERE id = 1`, [
      Number(suffix),
    ]);
  }

  /**
   * Inserts a row whose ID is either given (duplicate → DuplicateError) or allocated
   * from the counter (a taken ID is skipped). `sys` must be locked by the caller.
   */
  private async insertWithId(
    tx: SqlExecutor,
    sys: SysInfo,
    entity: 'device' | 'channel',
    explicit: string | undefined,
    insert: (id: string) => Promise<void>,
  ): Promise<string> {
    const counter = entity === 'device' ? 'dnum' : 'cnum';
    const prefix = entity === 'device' ? sys.did : sys.cid;
    if (explicit !== undefined) {
      try {
        await insert(explicit);
      } catch (err) {
        if (isUniqueViolation(err)) throw new DuplicateError(entity, explicit);
        throw err;
      }
      await this.raiseCounter(tx, counter, prefix, explicit);
      return explicit;
    }
    for (;;) {
      const id = prefix + pad(await this.nextCounter(tx, counter));
      try {
        await insert(id);
        return id;
      } catch (err) {
        // Taken by a hand-made row; the counter has moved on, try the next one.
        if (!isUniqueViolation(err)) throw err;
      }
    }
  }

  // -------------------------------------------------------------------------
  // devices
  // -------------------------------------------------------------------------

  private listDevices(query?: ListQuery): Promise<ListResult<Device>> {
    return this.listRows(DEVICE_LIST, this.selectDevice, toDevice, query, 'deltime IS NULL');
  }

  private async getDevice(exec: SqlExecutor, deviceid: string): Promise<Device | null> {
    const rows = await exec.all(
      `SELECT ${this.selectDevice} FROM devices WHERE deviceid = ? AND deltime IS NULL`,
      [String(deviceid)],
    );
    return rows.length === 0 ? null : toDevice(rows[0]!);
  }

  private async getSecret(deviceid: string): Promise<string | null> {
    const rows = await this.driver.all('SELECT pwd FROM devices WHERE deviceid = ? AND deltime IS NULL', [
      String(deviceid),
    ]);
    return rows.length === 0 ? null : String(rows[0]!.pwd ?? '');
  }

  private async createDevice(input: DeviceCreate): Promise<Device> {
    const explicit = input.deviceid === undefined ? undefined : checkId('deviceid', input.deviceid);
    return this.driver.transaction(async (tx) => {
      const now = this.now();
      const sys = await this.lockSysInfo(tx);
      const region = input.region ?? sys.region;
      const deviceid = await this.insertWithId(tx, sys, 'device', explicit, async (id) => {
        await tx.run(
          'INSERT INTO devices (deviceid, name, region, pwd, addtime, uptime) VALUES (?, ?, ?, ?, ?, ?)',
          [id, input.name || id, region, String(input.pwd ?? ''), now, now],
        );
      });
      const device = await this.getDevice(tx, deviceid);
      if (!device) throw new StoreError(`device ${deviceid} vanished after insert`);
      return device;
    });
  }

  private async updateDevice(deviceid: string, patch: DevicePatch): Promise<Device | null> {
    await this.patchDevice(deviceid, patch);
    return this.getDevice(this.driver, deviceid);
  }

  private async patchDevice(deviceid: string, patch: DevicePatch): Promise<boolean> {
    const { sets, params } = this.assignments(patch, DEVICE_PATCH);
    if (sets.length === 0) return (await this.getDevice(this.driver, deviceid)) !== null;
    const result = await this.driver.run(
      `UPDATE devices SET ${sets.join(', ')}, uptime = ? WHERE deviceid = ? AND deltime IS NULL`,
      [...params, this.now(), String(deviceid)],
    );
    return result.changes > 0;
  }

  private deleteDevice(deviceid: string): Promise<boolean> {
    return this.driver.transaction(async (tx) => {
      const now = this.now();
      const result = await tx.run(
        'UPDATE devices SET deltime = ?, uptime = ? WHERE deviceid = ? AND deltime IS NULL',
        [now, now, String(deviceid)],
      );
      if (result.changes === 0) return false;
      await tx.run('UPDATE channels SET deltime = ?, uptime = ? WHERE deviceid = ? AND deltime IS NULL', [
        now,
        now,
        String(deviceid),
      ]);
      return true;
    });
  }

  // -------------------------------------------------------------------------
  // channels
  // -------------------------------------------------------------------------

  private listChannels(query?: ListQuery): Promise<ListResult<Channel>> {
    return this.listRows(CHANNEL_LIST, this.selectChannel, toChannel, query, 'deltime IS NULL');
  }

  private async getChannel(exec: SqlExecutor, channelid: string): Promise<Channel | null> {
    const rows = await exec.all(
      `SELECT ${this.selectChannel} FROM channels WHERE channelid = ? AND deltime IS NULL`,
      [String(channelid)],
    );
    return rows.length === 0 ? null : toChannel(rows[0]!);
  }

  private async channelsOf(deviceid: string): Promise<Channel[]> {
    const rows = await this.driver.all(
      `SELECT ${this.selectChannel} FROM channels WHERE deviceid = ? AND deltime IS NULL ORDER BY channelid`,
      [String(deviceid)],
    );
    return rows.map(toChannel);
  }

  private async deviceAlive(tx: SqlExecutor, deviceid: string): Promise<boolean> {
    const lock = this.dialect === 'mysql' ? ' FOR UPDATE' : '';
    const rows = await tx.all(`SELECT id FROM devices WHERE deviceid = ? AND deltime IS NULL${lock}`, [
      String(deviceid),
    ]);
    return rows.length > 0;
  }

  private async createChannel(deviceid: string, input: ChannelCreate): Promise<Channel> {
    const explicit = input.channelid === undefined ? undefined : checkId('channelid', input.channelid);
    return this.driver.transaction(async (tx) => {
      // Lock order everywhere: sys_info, then devices, then channels.
      const sys = await this.lockSysInfo(tx);
      if (!(await this.deviceAlive(tx, deviceid))) throw new NotFoundError('device', String(deviceid));
      const now = this.now();
      const channelid = await this.insertWithId(tx, sys, 'channel', explicit, async (id) => {
        await tx.run(
          'INSERT INTO channels (channelid, deviceid, memo, name, streamtype, url, addtime, uptime) ' +
            'VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          [
            id,
            String(deviceid),
            input.memo ?? '',
            input.name ?? '',
            input.streamtype || 'push',
            input.url ?? '',
            now,
            now,
          ],
        );
      });
      const channel = await this.getChannel(tx, channelid);
      if (!channel) throw new StoreError(`channel ${channelid} vanished after insert`);
      return channel;
    });
  }

  private async updateChannel(channelid: string, patch: ChannelPatch): Promise<Channel | null> {
    const { sets, params } = this.assignments(patch, CHANNEL_PATCH);
    if (sets.length > 0) {
      await this.driver.run(
        `UPDATE channels SET ${sets.join(', ')}, uptime = ? WHERE channelid = ? AND deltime IS NULL`,
        [...params, this.now(), String(channelid)],
      );
    }
    return this.getChannel(this.driver, channelid);
  }

  private async deleteChannel(channelid: string): Promise<boolean> {
    const now = this.now();
    const result = await this.driver.run(
      'UPDATE channels SET deltime = ?, uptime = ? WHERE channelid = ? AND deltime IS NULL',
      [now, now, String(channelid)],
    );
    return result.changes > 0;
  }

  private upsertCatalog(
    deviceid: string,
    items: CatalogItem[],
    options: UpsertCatalogOptions,
  ): Promise<UpsertCatalogResult> {
    return this.driver.transaction(async (tx) => {
      // No sys_info lock: catalogs consume no counter, and devices → channels is the
      // same lock order as everywhere else, so catalogs of different devices run in parallel.
      if (!(await this.deviceAlive(tx, deviceid))) throw new NotFoundError('device', String(deviceid));
      const result: UpsertCatalogResult = { updated: [], added: [], ignored: [] };
      const now = this.now();
      for (const item of items) {
        const channelid = item?.channelid;
        if (typeof channelid !== 'string' || channelid === '' || channelid.length > MAX_ID_LENGTH) {
          result.ignored.push(String(channelid ?? ''));
          continue;
        }
        const fields: Record<string, unknown> = {};
        for (const key of Object.keys(CATALOG_FIELDS)) {
          const value = (item as unknown as Record<string, unknown>)[key];
          if (value !== undefined) fields[key] = value;
        }
        fields.active = now;
        const owner = await tx.all('SELECT deviceid FROM channels WHERE channelid = ? AND deltime IS NULL', [
          channelid,
        ]);
        if (owner.length > 0) {
          if (String(owner[0]!.deviceid) !== String(deviceid)) {
            result.ignored.push(channelid); // belongs to another device: never steal it
            continue;
          }
          const { sets, params } = this.assignments(fields, { ...CATALOG_FIELDS, active: 'int' });
          await tx.run(
            `UPDATE channels SET ${sets.join(', ')}, uptime = ? WHERE channelid = ? AND deltime IS NULL`,
            [...params, now, channelid],
          );
          result.updated.push(channelid);
        } else if (options.addUnknown) {
          const { sets, params } = this.assignments(fields, { ...CATALOG_FIELDS, active: 'int' });
          const columns = sets.map((s) => s.slice(0, s.indexOf(' =')));
          try {
            await tx.run(
              `INSERT INTO channels (channelid, deviceid, ${columns.join(', ')}, addtime, uptime) ` +
                `VALUES (?, ?, ${columns.map(() => '?').join(', ')}, ?, ?)`,
              [channelid, String(deviceid), ...params, now, now],
            );
          } catch (err) {
            // Another device claimed this ID in the meantime: same as foreign.
            if (!isUniqueViolation(err)) throw err;
            result.ignored.push(channelid);
            continue;
          }
          result.added.push(channelid);
        } else {
          result.ignored.push(channelid);
        }
      }
      return result;
    });
  }

  // -------------------------------------------------------------------------
  // streams
  // -------------------------------------------------------------------------

  private async insertStream(row: StreamInsert): Promise<Stream> {
    const now = this.now();
    const values: Record<string, unknown> = {
      route: [],
      urls: {},
      ...row,
      status: 0,
      addtime: now,
      uptime: now,
    };
    const columns: string[] = [];
    const params: SqlValue[] = [];
    for (const [name, def] of Object.entries(STREAM_COLUMNS)) {
      if (name === 'id' || values[name] === undefined) continue;
      const encoded = encode(def.kind, values[name]);
      // NOT NULL columns keep their default rather than fail on a null.
      if (encoded === null && !def.kind.endsWith('Null')) continue;
      columns.push(this.q(name));
      params.push(encoded);
    }
    const result = await this.driver.run(
      `INSERT INTO streams (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
      params,
    );
    const stream = await this.getStream(this.driver, result.insertId);
    if (!stream) throw new StoreError(`stream ${result.insertId} vanished after insert`);
    return stream;
  }

  private async getStream(exec: SqlExecutor, id: number): Promise<Stream | null> {
    if (!Number.isSafeInteger(id)) return null;
    const rows = await exec.all(`SELECT ${this.selectStream} FROM streams WHERE id = ?`, [id]);
    return rows.length === 0 ? null : toStream(rows[0]!);
  }

  private async getStreamByStreamId(streamid: string): Promise<Stream | null> {
    const rows = await this.driver.all(
      `SELECT ${this.selectStream} FROM streams WHERE streamid = ? ORDER BY status ASC, id DESC LIMIT 1`,
      [String(streamid)],
    );
    return rows.length === 0 ? null : toStream(rows[0]!);
  }

  private async updateStream(id: number, patch: StreamPatch): Promise<Stream | null> {
    const values: Record<string, unknown> = { ...patch };
    delete values.kind;
    if (values.status === 1 && values.closed_at === undefined) values.closed_at = this.now();
    const { sets, params } = this.assignments(values, STREAM_WRITABLE);
    if (sets.length > 0 && Number.isSafeInteger(id)) {
      await this.driver.run(`UPDATE streams SET ${sets.join(', ')}, uptime = ? WHERE id = ?`, [
        ...params,
        this.now(),
        id,
      ]);
    }
    return this.getStream(this.driver, id);
  }

  private listStreams(query?: ListQuery): Promise<ListResult<Stream>> {
    return this.listRows(STREAM_LIST, this.selectStream, toStream, query, '1=1');
  }

  private async listOpenStreams(filter: StreamOpenFilter = {}): Promise<Stream[]> {
    const conditions = ['status = 0'];
    const params: SqlValue[] = [];
    for (const key of ['kind', 'deviceid', 'channelid', 't', 'streamid'] as const) {
      const value = filter[key];
      if (value === undefined) continue;
      conditions.push(`${this.q(key)} = ?`);
      params.push(value);
    }
    const rows = await this.driver.all(
      `SELECT ${this.selectStream} FROM streams WHERE ${conditions.join(' AND ')} ORDER BY id ASC`,
      params,
    );
    return rows.map(toStream);
  }

  private async closeStream(id: number, reason: string): Promise<Stream | null> {
    if (!Number.isSafeInteger(id)) return null;
    const now = this.now();
    await this.driver.run(
      'UPDATE streams SET status = 1, reason = ?, closed_at = ?, uptime = ? WHERE id = ? AND status = 0',
      [String(reason), now, now, id],
    );
    return this.getStream(this.driver, id);
  }

  // -------------------------------------------------------------------------
  // alarms

  /** Rows kept: the oldest beyond this are deleted every ALARM_PRUNE_EVERY inserts. */
  static readonly ALARMS_KEPT = 100_000;

  private async addAlarm(a: AlarmCreate): Promise<Alarm> {
    const row = {
      kind: a.kind,
      deviceid: a.deviceid,
      channelid: a.channelid ?? '',
      priority: a.priority ?? null,
      method: a.method ?? null,
      type: a.type ?? null,
      event_type: a.event_type ?? null,
      description: (a.description ?? '').slice(0, 1024),
      flags: (a.flags ?? '').slice(0, 1024),
      alarm_time: a.alarm_time ?? null,
      latitude: a.latitude ?? null,
      longitude: a.longitude ?? null,
      addtime: this.now(),
    };
    const columns = Object.keys(row);
    const result = await this.driver.run(
      `INSERT INTO alarms (${columns.map((c) => this.q(c)).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
      Object.values(row),
    );
    if (++this.alarmsAdded % ALARM_PRUNE_EVERY === 0) {
      // The id of the newest row beyond the kept ones; everything up to it goes.
      // A constant, written in (MariaDB refuses a bound LIMIT/OFFSET of the kind mysql2 sends).
      const cut = await this.driver.all(`SELECT id FROM alarms ORDER BY id DESC LIMIT 1 OFFSET ${SqlStore.ALARMS_KEPT}`);
      if (cut[0]) await this.driver.run('DELETE FROM alarms WHERE id <= ?', [Number(cut[0].id)]);
    }
    return { id: result.insertId, ...row };
  }

  // vehicles
  // -------------------------------------------------------------------------

  private async getVehicle(exec: SqlExecutor, sim: string): Promise<Vehicle | null> {
    const rows = await exec.all(`SELECT ${this.selectVehicle} FROM vehicles WHERE sim = ?`, [checkSim(sim)]);
    return rows.length === 0 ? null : toVehicle(rows[0]!);
  }

  private async createVehicle(input: VehicleCreate): Promise<Vehicle> {
    const sim = checkSim(input.sim);
    const now = this.now();
    try {
      await this.driver.run('INSERT INTO vehicles (sim, plate, plate_color, channels, addtime, uptime) VALUES (?, ?, ?, ?, ?, ?)', [
        sim,
        String(input.plate ?? ''),
        Math.trunc(input.plate_color ?? 0),
        Math.trunc(input.channels ?? 0),
        now,
        now,
      ]);
    } catch (err) {
      if (isUniqueViolation(err)) throw new DuplicateError('vehicle', sim);
      throw err;
    }
    const vehicle = await this.getVehicle(this.driver, sim);
    if (!vehicle) throw new StoreError(`vehicle ${sim} vanished after insert`);
    return vehicle;
  }

  private async updateVehicle(exec: SqlExecutor, sim: string, patch: VehiclePatch): Promise<Vehicle | null> {
    const { sets, params } = this.assignments(patch, VEHICLE_PATCH);
    if (sets.length > 0) {
      await exec.run(`UPDATE vehicles SET ${sets.join(', ')}, uptime = ? WHERE sim = ?`, [...params, this.now(), checkSim(sim)]);
    }
    return this.getVehicle(exec, sim);
  }

  private async upsertVehicle(sim: string, patch: VehiclePatch): Promise<Vehicle> {
    const key = checkSim(sim);
    const now = this.now();
    const ignore = this.dialect === 'mysql' ? 'INSERT IGNORE' : 'INSERT OR IGNORE';
    await this.driver.run(`${ignore} INTO vehicles (sim, addtime, uptime) VALUES (?, ?, ?)`, [key, now, now]);
    const vehicle = await this.updateVehicle(this.driver, key, patch);
    if (!vehicle) throw new StoreError(`vehicle ${key} vanished after upsert`);
    return vehicle;
  }

  private updateVehicles(patches: ReadonlyMap<string, VehiclePatch>): Promise<number> {
    if (patches.size === 0) return Promise.resolve(0);
    return this.driver.transaction(async (tx) => {
      let changed = 0;
      const now = this.now();
      for (const [sim, patch] of patches) {
        const { sets, params } = this.assignments(patch, VEHICLE_PATCH);
        if (sets.length === 0) continue;
        const result = await tx.run(`UPDATE vehicles SET ${sets.join(', ')}, uptime = ? WHERE sim = ?`, [...params, now, checkSim(sim)]);
        changed += result.changes;
      }
      return changed;
    });
  }

  // -------------------------------------------------------------------------
  // sys_info
  // -------------------------------------------------------------------------

  private async getSysInfo(exec: SqlExecutor): Promise<SysInfo | null> {
    const rows = await exec.all(`SELECT ${this.selectSysInfo} FROM sys_info WHERE id = 1`);
    return rows.length === 0 ? null : toSysInfo(rows[0]!);
  }

  private async seedSysInfo(seed: SysInfoSeed): Promise<SysInfo> {
    for (const key of ['did', 'cid'] as const) {
      if (!/^\d{14}$/.test(String(seed[key]))) throw new StoreError(`sys_info ${key} must be 14 digits`);
    }
    const now = this.now();
    const conflict =
      this.dialect === 'mysql' ? ' ON DUPLICATE KEY UPDATE id = id' : ' ON CONFLICT (id) DO NOTHING';
    await this.driver.run(
      'INSERT INTO sys_info (id, lid, region, did, dnum, cid, cnum, addtime, uptime) ' +
        `VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)${conflict}`,
      [
        String(seed.lid),
        String(seed.region),
        seed.did,
        Math.trunc(seed.dnum ?? 0),
        seed.cid,
        Math.trunc(seed.cnum ?? 0),
        now,
        now,
      ],
    );
    const info = await this.getSysInfo(this.driver);
    if (!info) throw new StoreError('sys_info row missing after seeding');
    return info;
  }
}
