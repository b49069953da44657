/** The console's access to camgate's REST API (same origin; the session cookie authenticates). */

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Called when the API answers 401: the session expired or the token was removed. */
let onUnauthorized: () => void = () => undefined;
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

type Params = Record<string, string | number | undefined>;

function query(params: Params = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function call<T>(method: string, path: string, body?: object, params?: Params): Promise<T> {
  const res = await fetch(path + query(params), {
    method,
    credentials: 'same-origin',
    headers: body ? { 'content-type': 'application/json' } : {},
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let envelope: { code?: string; data?: unknown } = {};
  try {
    envelope = JSON.parse(text);
  } catch {
    envelope = { data: text };
  }
  if (res.status === 401) onUnauthorized();
  if (!res.ok || (envelope.code !== undefined && envelope.code !== '0')) {
    throw new ApiFailure(res.status, envelope.code ?? '', typeof envelope.data === 'string' ? envelope.data : `HTTP ${res.status}`);
  }
  return envelope.data as T;
}

export const api = {
  get: <T>(path: string, params?: Params) => call<T>('GET', path, undefined, params),
  post: <T>(path: string, body: object = {}) => call<T>('POST', path, body),
  del: <T>(path: string, params?: Params) => call<T>('DELETE', path, undefined, params),
};

export interface List<T> {
  Total: number;
  List: T[];
}

export interface Device {
  deviceid: string;
  name: string;
  online: number;
  active: number;
  source: string;
  transport: string;
  manufacturer: string;
  model: string;
  firmware: string;
  devicetype: string;
  expires_at: number | null;
  addtime: number;
}

export interface ChannelRow {
  channelid: string;
  deviceid: string;
  name: string;
  memo: string;
  status: string;
  manufacturer: string;
  model: string;
  streamtype: 'push' | 'pull';
  url: string;
  width: number;
  height: number;
  vf: string;
  fps: number;
}

export interface StreamRow {
  streamid: string;
  kind: 'gb28181' | 'jt1078';
  t: number;
  deviceid: string;
  channelid: string;
  status: number;
  start: number;
  end: number;
  media_server: string;
  worker: number | null;
  reason: string | null;
  urls: Record<string, string>;
  stream: boolean;
  addtime: number;
  closed_at: number | null;
  /** Open streams on the built-in media server: what the viewer server sees now. */
  live?: { viewers: number; bitsPerSecond: number; video?: { codec: string; width: number; height: number }; audio?: { codec: string; sampleRate: number } };
}

/** The fields of a `GET /vehicles` row the console shows (the API has more). */
export interface Vehicle {
  sim: string;
  plate: string;
  online: number;
  /** Last position and when the terminal took it (unix seconds). */
  latitude: number | null;
  longitude: number | null;
  position_time: number | null;
  speed: number;
  /** What the terminal says of itself in 0x0100 and 0x1003. */
  manufacturer: string;
  model: string;
  terminal_id: string;
  version: string;
  address: string;
  channels: number;
  av_attributes: Record<string, number> | null;
}

export interface Forward {
  host: string;
  port: number;
  transport: string;
  ssrc: number;
}

/** A gosip filter list, JSON-encoded for the `filters` parameter. */
export function filters(...conditions: Array<[string, string, string | number]>): string {
  return JSON.stringify(conditions.map(([field_name, operator, value]) => ({ field_name, operator, value })));
}

/** Every row of a list route (limit -1: no paging). */
export async function all<T>(path: string, params: Params = {}): Promise<T[]> {
  return (await api.get<List<T>>(path, { limit: -1, ...params })).List;
}

export type EventHandler = (event: string, data: Record<string, unknown>) => void;

/** The /events names the console listens to (GET /events documents them all). */
const EVENT_NAMES = [
  'devices.registered', 'devices.active', 'devices.offline',
  'channels.active', 'channels.added', 'channels.removed', 'channels.alarm',
  'streams.started', 'streams.stopped',
  'vehicles.online', 'vehicles.offline', 'vehicles.position', 'vehicles.alarm',
  'intercom.started', 'intercom.stopped',
];

/** The fields of a stored alarm (`GET /alarms`) the Overview shows. */
export interface AlarmRow {
  /** When camgate received it (unix s). */
  addtime: number;
  kind: 'gb28181' | 'jt808';
  /** Camera: device and channel or alarm input; vehicle: its SIM. */
  deviceid: string;
  channelid: string;
  /** GB28181 AlarmPriority, AlarmMethod, AlarmType and description. */
  priority: number | null;
  method: number | null;
  type: number | null;
  description: string;
  /** Vehicle alarm bits by name. */
  flags: string;
}

const handlers = new Set<EventHandler>();
let source: EventSource | null = null;

/** Subscribes to GET /events (one EventSource shared by every page). Returns the unsubscribe. */
export function onEvents(handler: EventHandler): () => void {
  handlers.add(handler);
  if (!source) {
    source = new EventSource('/events');
    for (const name of EVENT_NAMES) {
      source.addEventListener(name, (e) => {
        let body: { data?: Record<string, unknown> } = {};
        try {
          body = JSON.parse((e as MessageEvent<string>).data);
        } catch {
          return;
        }
        for (const h of handlers) h(name, body.data ?? {});
      });
    }
  }
  return () => void handlers.delete(handler);
}

export function closeEvents(): void {
  source?.close();
  source = null;
}
