/**
 * The Store: persistent state of the supervisor (devices, channels, streams, sys info).
 *
 * One interface, two backends (SQLite for the embedded default, MySQL/MariaDB for
 * production). Every method is async so both backends fit behind it. Timestamps are
 * integer unix seconds from the injectable clock in {@link StoreOptions}.
 *
 * Rows returned here never contain a device's digest password; use
 * `devices.getSecret()` when the SIP layer needs it.
 */

import type { CatalogFields, CatalogEntry as CatalogItem } from '../../shared/contracts/sip.js';
import type { PlatformStore } from './platform-types.js';
export type Dialect = 'sqlite' | 'mysql';

/** Unix time in whole seconds. */
export type UnixSeconds = number;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** Base class of every error the store throws on purpose. */
export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

/** Which list parameter a {@link QueryError} is about. */
export type QueryParam = 'limit' | 'skip' | 'sort' | 'filters';

/**
 * A list query (limit, skip, sort or filters) is invalid. Never a SQL error: the
 * query is rejected before any SQL runs. The API maps this to a 400-style answer.
 */
export class QueryError extends StoreError {
  /** The offending field name when there is one, else the parameter name. */
  readonly field: string;
  /** The list parameter that carried the problem. */
  readonly param: QueryParam;
  constructor(param: QueryParam, message: string, field: string = param) {
    super(message);
    this.name = 'QueryError';
    this.param = param;
    this.field = field;
  }
}

/** An alive row with the same unique key exists already. */
export class DuplicateError extends StoreError {
  constructor(
    readonly entity: 'device' | 'channel' | 'vehicle' | 'platform',
    readonly key: string,
  ) {
    super(`${entity} ${key} already exists`);
    this.name = 'DuplicateError';
  }
}

/** A row that an operation depends on (e.g. the parent device of a new channel) is missing. */
export class NotFoundError extends StoreError {
  constructor(
    readonly entity: 'device' | 'channel' | 'stream' | 'sys_info',
    readonly key: string,
  ) {
    super(`${entity} ${key} not found`);
    this.name = 'NotFoundError';
  }
}

// ---------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------

/**
 * gosip's list language. Values may come straight from a query string.
 * - `limit`: integer, default 20; negative = no limit; otherwise capped at 1000.
 * - `skip`: non-negative integer offset, default 0.
 * - `sort`: comma list of field names, `-` prefix for DESC; default `-addtime`.
 * - `filters`: JSON text (or the already-parsed value) of an array of
 *   `{field_name, opertator|operator, value}` and `{or: [[cond...], [cond...]]}`.
 */
export interface ListQuery {
  limit?: number | string;
  skip?: number | string;
  sort?: string;
  filters?: string | unknown;
}

export interface ListResult<T> {
  /** COUNT over the same WHERE, ignoring limit/skip. */
  total: number;
  list: T[];
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

interface Timestamps {
  addtime: UnixSeconds;
  uptime: UnixSeconds;
}

/** A GB28181 device (NVR/DVR/IPC) as the API may show it: no password. */
export interface Device extends Timestamps {
  id: number;
  deviceid: string;
  name: string;
  region: string;
  /** Via sent-by host. */
  host: string;
  /** Via sent-by port, 0 when unknown. */
  port: number;
  /** Via transport: 'UDP' / 'TCP' as the device sent it, '' when unknown. */
  transport: string;
  /** Via rport value, 0 when absent. */
  rport: number;
  /** Via received. */
  raddr: string;
  /** `ip:port` the last request came from. */
  source: string;
  manufacturer: string;
  devicetype: string;
  firmware: string;
  model: string;
  /** From-header URI. */
  uri: string;
  online: 0 | 1;
  /** Last keepalive (unix s); 0 never; -1 when a keepalive reported a non-OK status. */
  active: number;
  /** Has registered successfully at least once. */
  regist: boolean;
  /** Registration expiry (unix s) or null when not registered. */
  expires_at: UnixSeconds | null;
  /** The device's last DeviceStatus answer (online, encode, record, alarm inputs…), and when it came. */
  status: Record<string, unknown> | null;
  status_at: UnixSeconds | null;
}

export interface DeviceCreate {
  /** Explicit 20-digit ID; when absent the store allocates `did` + 6-digit `dnum+1`. */
  deviceid?: string;
  /** Defaults to the device ID. */
  name?: string;
  pwd: string;
  /** Defaults to sys_info.region. */
  region?: string;
}

/** Fields the API and the SIP layer may change; undefined keys are left alone. */
export interface DevicePatch {
  name?: string;
  pwd?: string;
  region?: string;
  host?: string;
  port?: number;
  transport?: string;
  rport?: number;
  raddr?: string;
  source?: string;
  manufacturer?: string;
  devicetype?: string;
  firmware?: string;
  model?: string;
  uri?: string;
  online?: 0 | 1 | boolean;
  active?: number;
  regist?: boolean;
  expires_at?: UnixSeconds | null;
  status?: Record<string, unknown> | null;
  status_at?: UnixSeconds | null;
}

export interface Channel extends Timestamps {
  id: number;
  channelid: string;
  deviceid: string;
  memo: string;
  name: string;
  manufacturer: string;
  model: string;
  owner: string;
  civilcode: string;
  address: string;
  parental: number;
  parentid: string;
  safetyway: number;
  registerway: number;
  secrecy: number;
  /** Catalog status as mapped by the SIP layer ('ON', 'OFF', or raw). */
  status: string;
  ptztype: number;
  longitude: number | null;
  latitude: number | null;
  /** Unix time of the last Catalog item for this channel. */
  active: number;
  uri: string;
  /** Video format from the codec probe. */
  vf: string;
  height: number;
  width: number;
  fps: number;
  /** 'push' (device pushes over GB28181) or 'pull' (media server pulls `url`). */
  streamtype: string;
  url: string;
}

export interface ChannelCreate {
  /** Explicit ID; when absent the store allocates `cid` + 6-digit `cnum+1`. */
  channelid?: string;
  memo?: string;
  name?: string;
  /** Default 'push'. */
  streamtype?: string;
  url?: string;
}

/** Catalog fields and items are part of the SIP contract: the SIP thread sends them, the store applies them. */
export type { CatalogFields, CatalogEntry as CatalogItem } from '../../shared/contracts/sip.js';

export interface ChannelPatch extends CatalogFields {
  memo?: string;
  streamtype?: string;
  url?: string;
  active?: number;
  vf?: string;
  height?: number;
  width?: number;
  fps?: number;
}

export interface UpsertCatalogOptions {
  /** Insert channels the store does not know yet (else they are ignored). */
  addUnknown: boolean;
}

export interface UpsertCatalogResult {
  /** Alive channels of this device that were updated. */
  updated: string[];
  /** New channels inserted (only with addUnknown). */
  added: string[];
  /** Unknown channels skipped (addUnknown false) or IDs owned by another device. */
  ignored: string[];
}

export type StreamKind = 'gb28181' | 'jt1078';

/** One row per media session (INVITE dialog or JT1078 request), kept after close. */
export interface Stream extends Timestamps {
  id: number;
  streamid: string;
  ssrc: string;
  /** 0 live, 1 playback. */
  t: 0 | 1;
  kind: StreamKind;
  deviceid: string;
  channelid: string;
  /** 0 active, 1 closed. */
  status: 0 | 1;
  /** Playback range (unix s), 0 for live. */
  start: UnixSeconds;
  end: UnixSeconds;
  // SIP dialog state, enough to rebuild a BYE after a restart.
  callid: string;
  from_tag: string;
  to_tag: string;
  cseq: number;
  /** Route set (Record-Route values in order). */
  route: string[];
  /** Remote target (Contact URI of the device). */
  remote_target: string;
  // Media destination.
  media_host: string;
  media_port: number;
  media_transport: string;
  media_server: string;
  /** Media worker index the stream lives on, null when not placed. */
  worker: number | null;
  /** Why it closed; null while open. */
  reason: string | null;
  /** Player URLs by name (e.g. flv, wsflv, hls). */
  urls: Record<string, string>;
  /** Media has been seen. */
  stream: boolean;
  closed_at: UnixSeconds | null;
}

export interface StreamInsert {
  streamid: string;
  ssrc: string;
  t: 0 | 1;
  kind: StreamKind;
  deviceid: string;
  channelid: string;
  start?: UnixSeconds;
  end?: UnixSeconds;
  callid?: string;
  from_tag?: string;
  to_tag?: string;
  cseq?: number;
  route?: string[];
  remote_target?: string;
  media_host?: string;
  media_port?: number;
  media_transport?: string;
  media_server?: string;
  worker?: number | null;
  urls?: Record<string, string>;
  stream?: boolean;
}

export type StreamPatch = Partial<Omit<StreamInsert, 'kind'>> & {
  status?: 0 | 1;
  reason?: string | null;
  closed_at?: UnixSeconds | null;
};

export interface StreamOpenFilter {
  kind?: StreamKind;
  deviceid?: string;
  channelid?: string;
  t?: 0 | 1;
  /** One stream's open rows (indexed; a fleet's writes must not scan every open stream). */
  streamid?: string;
}

/** The single sys_info row: server identity and ID counters. */
export interface SysInfo extends Timestamps {
  /** Server SIP ID. */
  lid: string;
  /** SIP domain / realm. */
  region: string;
  /** 14-digit device ID prefix. */
  did: string;
  /** Last device counter used. */
  dnum: number;
  /** 14-digit channel ID prefix. */
  cid: string;
  /** Last channel counter used. */
  cnum: number;
}

export interface SysInfoSeed {
  lid: string;
  region: string;
  did: string;
  cid: string;
  dnum?: number;
  cnum?: number;
}

// ---------------------------------------------------------------------------
// The Store
// ---------------------------------------------------------------------------

export interface DeviceStore {
  list(query?: ListQuery): Promise<ListResult<Device>>;
  get(deviceid: string): Promise<Device | null>;
  /** Throws DuplicateError when an explicit deviceid is taken by an alive device. */
  create(input: DeviceCreate): Promise<Device>;
  /** Null when no alive device has this ID. */
  update(deviceid: string, patch: DevicePatch): Promise<Device | null>;
  /** As update without reading the row back (presence writes, one per keepalive): false when no alive device has this ID. */
  patch(deviceid: string, patch: DevicePatch): Promise<boolean>;
  /** Soft-deletes the device and all its channels in one transaction; false if not found. */
  softDelete(deviceid: string): Promise<boolean>;
  /** The digest password, for the SIP layer only; null when no alive device. */
  getSecret(deviceid: string): Promise<string | null>;
}

export interface ChannelStore {
  list(query?: ListQuery): Promise<ListResult<Channel>>;
  get(channelid: string): Promise<Channel | null>;
  /** All alive channels of a device, by channelid. */
  listByDevice(deviceid: string): Promise<Channel[]>;
  /** Throws NotFoundError if the device is not alive, DuplicateError for a taken channelid. */
  create(deviceid: string, input: ChannelCreate): Promise<Channel>;
  update(channelid: string, patch: ChannelPatch): Promise<Channel | null>;
  softDelete(channelid: string): Promise<boolean>;
  /**
   * Applies one Catalog response in one transaction: updates the device's known
   * channels (and their `active` time), optionally inserts unknown ones.
   * Throws NotFoundError if the device is not alive.
   */
  upsertFromCatalog(
    deviceid: string,
    items: CatalogItem[],
    options: UpsertCatalogOptions,
  ): Promise<UpsertCatalogResult>;
}

export interface StreamStore {
  insert(row: StreamInsert): Promise<Stream>;
  update(id: number, patch: StreamPatch): Promise<Stream | null>;
  get(id: number): Promise<Stream | null>;
  /** The newest row with this streamid (open rows first). */
  getByStreamId(streamid: string): Promise<Stream | null>;
  list(query?: ListQuery): Promise<ListResult<Stream>>;
  /** Every open (status 0) row, oldest first. */
  listOpen(filter?: StreamOpenFilter): Promise<Stream[]>;
  /** Marks the row closed with a reason; a row already closed keeps its first reason. */
  close(id: number, reason: string): Promise<Stream | null>;
}

/** A JT/T 808 terminal (one vehicle), keyed by its SIM without leading zeros. */
export interface Vehicle extends Timestamps {
  sim: string;
  plate: string;
  /** JT/T 808 plate colour (0: vehicle not registered, `plate` holds the VIN). */
  plate_color: number;
  manufacturer: string;
  model: string;
  terminal_id: string;
  /** Video channels (from 0x1003, or set through the API). */
  channels: number;
  online: 0 | 1;
  /** Where the terminal's connection comes from (host:port). */
  address: string;
  /** JT/T 808 header form it speaks: 2011, 2013 or 2019. */
  version: string;
  latitude: number | null;
  longitude: number | null;
  speed: number;
  direction: number;
  /** Device time of the last position, unix seconds. */
  position_time: UnixSeconds | null;
  av_attributes: Record<string, number> | null;
}

export interface VehicleCreate {
  sim: string;
  plate?: string;
  plate_color?: number;
  channels?: number;
}

export interface VehiclePatch {
  plate?: string;
  plate_color?: number;
  manufacturer?: string;
  model?: string;
  terminal_id?: string;
  channels?: number;
  online?: 0 | 1;
  address?: string;
  version?: string;
  auth_code?: string;
  latitude?: number | null;
  longitude?: number | null;
  speed?: number;
  direction?: number;
  position_time?: UnixSeconds | null;
  av_attributes?: Record<string, number> | null;
}

export interface VehicleStore {
  list(query?: ListQuery): Promise<ListResult<Vehicle>>;
  get(sim: string): Promise<Vehicle | null>;
  /** Throws DuplicateError when the SIM exists. */
  create(input: VehicleCreate): Promise<Vehicle>;
  /** Null when there is no such vehicle. */
  update(sim: string, patch: VehiclePatch): Promise<Vehicle | null>;
  /** Creates the vehicle if missing (open registration), then applies the patch. */
  upsert(sim: string, patch: VehiclePatch): Promise<Vehicle>;
  /** Many patches in one transaction (coalesced positions); vehicles that do not exist are skipped. */
  updateMany(patches: ReadonlyMap<string, VehiclePatch>): Promise<number>;
  delete(sim: string): Promise<boolean>;
  /** Every vehicle's SIM and stored auth code, for the JT/T 808 thread. */
  known(): Promise<Array<{ sim: string; authCode: string }>>;
  /** Marks every vehicle offline (start-up); returns how many were online. */
  allOffline(): Promise<number>;
}

export interface SysInfoStore {
  get(): Promise<SysInfo | null>;
  /** Inserts the row if there is none (first run); the stored row wins afterwards. */
  seed(seed: SysInfoSeed): Promise<SysInfo>;
}

/** An alarm a camera (MESSAGE Notify Alarm) or a vehicle (0x0200 alarm bits) reported. */
export interface Alarm {
  id: number;
  kind: 'gb28181' | 'jt808';
  /** Device ID, or the vehicle's SIM. */
  deviceid: string;
  /** Channel or alarm input ID (cameras); '' for vehicles. */
  channelid: string;
  /** GB28181 AlarmPriority, AlarmMethod, AlarmType, EventType, as sent. */
  priority: number | null;
  method: number | null;
  type: number | null;
  event_type: number | null;
  description: string;
  /** Vehicles: the alarm bits set, by name, comma-separated. */
  flags: string;
  /** When the device says it happened (unix s). */
  alarm_time: UnixSeconds | null;
  latitude: number | null;
  longitude: number | null;
  /** When camgate received it. */
  addtime: UnixSeconds;
}

export type AlarmCreate = Omit<Alarm, 'id' | 'addtime' | 'channelid' | 'priority' | 'method' | 'type' | 'event_type' | 'description' | 'flags' | 'alarm_time' | 'latitude' | 'longitude'> &
  Partial<Omit<Alarm, 'id' | 'addtime' | 'kind' | 'deviceid'>>;

export interface AlarmStore {
  /** Stores one alarm; the oldest beyond `keep` rows are deleted now and then. */
  add(alarm: AlarmCreate): Promise<Alarm>;
  list(query?: ListQuery): Promise<ListResult<Alarm>>;
}

export interface Store {
  readonly dialect: Dialect;
  readonly devices: DeviceStore;
  readonly channels: ChannelStore;
  readonly streams: StreamStore;
  readonly sysInfo: SysInfoStore;
  readonly vehicles: VehicleStore;
  readonly alarms: AlarmStore;
  /** Upper GB28181 platforms (cascade) and the stable IDs of vehicle channels. */
  readonly platforms: PlatformStore;
  /** Same as `devices.getSecret` (the digest password for the SIP layer only). */
  getDeviceSecret(deviceid: string): Promise<string | null>;
  /** Versions of the applied migrations, ascending. */
  migrations(): Promise<number[]>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** Clock in unix seconds; default `Math.floor(Date.now() / 1000)`. */
  now?: () => number;
  /** Seeds sys_info on first run; defaults to the config defaults of gosip's demo. */
  seed?: SysInfoSeed;
  /** MySQL pool size (default 10). */
  poolSize?: number;
  /** MySQL: bound on one connect, query or transaction in ms (default 1500); past it a StoreError. */
  timeoutMs?: number;
}
