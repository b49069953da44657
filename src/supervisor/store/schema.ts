/**
 * Column catalogue of the store's tables: what is selected, how a raw database value
 * becomes a typed row field, and which API names the list language may filter and
 * sort on. The DDL lives in migrations.ts.
 */
import { tableSpec, type FieldSpec, type FieldType, type TableSpec } from './filters.js';
import type { Alarm, Channel, Device, Stream, SysInfo, Vehicle } from './types.js';

/** How a column's raw value is decoded. */
export type ColumnKind = 'int' | 'intNull' | 'real' | 'realNull' | 'text' | 'textNull' | 'bool' | 'json';

export interface ColumnDef {
  kind: ColumnKind;
  /** Filterable/sortable through the list language (default true except json). */
  listable?: boolean;
}

type Columns = Record<string, ColumnDef>;

const int: ColumnDef = { kind: 'int' };
const intNull: ColumnDef = { kind: 'intNull' };
const realNull: ColumnDef = { kind: 'realNull' };
const text: ColumnDef = { kind: 'text' };
const textNull: ColumnDef = { kind: 'textNull' };
const bool: ColumnDef = { kind: 'bool' };
const json: ColumnDef = { kind: 'json', listable: false };

/** Public device columns. `pwd` and `deltime` are deliberately absent. */
export const DEVICE_COLUMNS: Columns = {
  id: int,
  deviceid: text,
  name: text,
  region: text,
  host: text,
  port: int,
  transport: text,
  rport: int,
  raddr: text,
  source: text,
  manufacturer: text,
  devicetype: text,
  firmware: text,
  model: text,
  uri: text,
  online: int,
  active: int,
  regist: bool,
  expires_at: intNull,
  status: json,
  status_at: intNull,
  addtime: int,
  uptime: int,
};

export const CHANNEL_COLUMNS: Columns = {
  id: int,
  channelid: text,
  deviceid: text,
  memo: text,
  name: text,
  manufacturer: text,
  model: text,
  owner: text,
  civilcode: text,
  address: text,
  parental: int,
  parentid: text,
  safetyway: int,
  registerway: int,
  secrecy: int,
  status: text,
  ptztype: int,
  longitude: realNull,
  latitude: realNull,
  active: int,
  uri: text,
  vf: text,
  height: int,
  width: int,
  fps: int,
  streamtype: text,
  url: text,
  addtime: int,
  uptime: int,
};

export const STREAM_COLUMNS: Columns = {
  id: int,
  streamid: text,
  ssrc: text,
  t: int,
  kind: text,
  deviceid: text,
  channelid: text,
  status: int,
  start: int,
  end: int,
  callid: text,
  from_tag: text,
  to_tag: text,
  cseq: int,
  route: json,
  remote_target: text,
  media_host: text,
  media_port: int,
  media_transport: text,
  media_server: text,
  worker: intNull,
  reason: textNull,
  urls: json,
  stream: bool,
  addtime: int,
  uptime: int,
  closed_at: intNull,
};

/** Public vehicle columns. `auth_code` is deliberately absent (like a device's `pwd`). */
export const VEHICLE_COLUMNS: Columns = {
  sim: text,
  plate: text,
  plate_color: int,
  manufacturer: text,
  model: text,
  terminal_id: text,
  channels: int,
  online: int,
  address: text,
  version: text,
  latitude: realNull,
  longitude: realNull,
  speed: { kind: 'real' },
  direction: int,
  position_time: intNull,
  av_attributes: json,
  addtime: int,
  uptime: int,
};

export const ALARM_COLUMNS: Columns = {
  id: int,
  kind: text,
  deviceid: text,
  channelid: text,
  priority: intNull,
  method: intNull,
  type: intNull,
  event_type: intNull,
  description: text,
  flags: text,
  alarm_time: intNull,
  latitude: realNull,
  longitude: realNull,
  addtime: int,
};

export const SYS_INFO_COLUMNS: Columns = {
  lid: text,
  region: text,
  did: text,
  dnum: int,
  cid: text,
  cnum: int,
  addtime: int,
  uptime: int,
};

function filterType(kind: ColumnKind): FieldType {
  switch (kind) {
    case 'int':
    case 'intNull':
      return 'int';
    case 'real':
    case 'realNull':
      return 'real';
    case 'bool':
      return 'bool';
    default:
      return 'text';
  }
}

function listSpec(table: string, columns: Columns, aliases: Record<string, string> = {}, tieBreaker = 'id'): TableSpec {
  const fields: Record<string, FieldSpec> = {};
  for (const [name, def] of Object.entries(columns)) {
    if (def.listable === false) continue;
    fields[name] = { column: name, type: filterType(def.kind) };
  }
  // gosip's JSON names for the same columns, so old clients keep working.
  for (const [alias, column] of Object.entries(aliases)) {
    const target = fields[column];
    if (target) fields[alias] = target;
  }
  return tableSpec(table, fields, '-addtime', tieBreaker);
}

export const DEVICE_LIST = listSpec('devices', DEVICE_COLUMNS, { report: 'rport' });
export const ALARM_LIST = listSpec('alarms', ALARM_COLUMNS);
export const CHANNEL_LIST = listSpec('channels', CHANNEL_COLUMNS);
export const STREAM_LIST = listSpec('streams', STREAM_COLUMNS, { cseqno: 'cseq' });
export const VEHICLE_LIST = listSpec('vehicles', VEHICLE_COLUMNS, {}, 'sim');

function decode(kind: ColumnKind, raw: unknown): unknown {
  switch (kind) {
    case 'int':
      return raw === null || raw === undefined ? 0 : Number(raw);
    case 'intNull':
      return raw === null || raw === undefined ? null : Number(raw);
    case 'real':
      return raw === null || raw === undefined ? 0 : Number(raw);
    case 'realNull':
      return raw === null || raw === undefined ? null : Number(raw);
    case 'text':
      return raw === null || raw === undefined ? '' : String(raw);
    case 'textNull':
      return raw === null || raw === undefined ? null : String(raw);
    case 'bool':
      return Number(raw) !== 0 && raw !== null && raw !== undefined;
    case 'json':
      if (raw === null || raw === undefined || raw === '') return null;
      if (typeof raw !== 'string') return raw; // mysql2 may hand JSON back parsed
      try {
        return JSON.parse(raw);
      } catch {
        return null;
      }
  }
}

function mapper<T>(columns: Columns, fixups?: (row: Record<string, unknown>) => void) {
  const entries = Object.entries(columns);
  return (raw: Record<string, unknown>): T => {
    const row: Record<string, unknown> = {};
    for (const [name, def] of entries) row[name] = decode(def.kind, raw[name]);
    fixups?.(row);
    return row as T;
  };
}

export const toDevice = mapper<Device>(DEVICE_COLUMNS, (row) => {
  row.online = row.online ? 1 : 0;
});
export const toChannel = mapper<Channel>(CHANNEL_COLUMNS);
export const toStream = mapper<Stream>(STREAM_COLUMNS, (row) => {
  if (!Array.isArray(row.route)) row.route = [];
  if (row.urls === null || typeof row.urls !== 'object' || Array.isArray(row.urls)) row.urls = {};
  row.t = row.t ? 1 : 0;
  row.status = row.status ? 1 : 0;
});
export const toSysInfo = mapper<SysInfo>(SYS_INFO_COLUMNS);
export const toAlarm = mapper<Alarm>(ALARM_COLUMNS);

export const toVehicle = mapper<Vehicle>(VEHICLE_COLUMNS, (row) => {
  row.online = row.online ? 1 : 0;
});

/** Values as they are bound: booleans as 0/1, JSON columns as text. */
export function encode(kind: ColumnKind, value: unknown): string | number | null {
  if (value === undefined || value === null) return null;
  switch (kind) {
    case 'bool':
      return value ? 1 : 0;
    case 'json':
      return JSON.stringify(value);
    case 'int':
    case 'intNull': {
      if (typeof value === 'boolean') return value ? 1 : 0;
      const number = Math.trunc(Number(value));
      return Number.isFinite(number) ? number : null; // garbage becomes null, never NaN
    }
    case 'real':
    case 'realNull': {
      const number = Number(value);
      return Number.isFinite(number) ? number : null;
    }
    default:
      return String(value);
  }
}
