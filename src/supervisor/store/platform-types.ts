/**
 * The shapes of the upper GB28181 platforms' part of the store (cascade, issue 16): a
 * platform, the channels it is shared, its virtual directories, and the interface the
 * SQL implementation (platform-store.ts) fulfils. Apart from it so store/types.ts can name
 * the interface without importing the implementation.
 */
export type PlatformTransport = 'UDP' | 'TCP';
export type PlatformCharset = 'GB2312' | 'UTF-8';

/**
 * One shared channel: a camera channel by its ID, or a vehicle channel by SIM and channel
 * number; `parent_id` is the virtual directory it sits in (null or absent: none).
 */
export type SharedChannel =
  | { kind: 'camera'; channelid: string; custom_id: string | null; parent_id?: string | null }
  | { kind: 'vehicle'; sim: string; channel: number; custom_id: string | null; parent_id?: string | null };

/**
 * An operator-designed virtual directory of one platform's catalog (GB/T 28181-2016): a
 * business group (type 215 in the ID) at the top, or a virtual organisation (216) under a
 * group or another organisation (`parent_id`).
 */
export interface VirtualDirectory {
  id: string;
  name: string;
  parent_id: string | null;
}

/** An upper platform as the API shows it: no password. */
export interface Platform {
  id: number;
  name: string;
  /** The upper platform's SIP server ID (20 digits). */
  serverid: string;
  /** Its SIP domain (realm), usually the first 10 digits of its ID. */
  domain: string;
  host: string;
  port: number;
  transport: PlatformTransport;
  /** Our device ID towards it (what its administrator provisioned for us). */
  deviceid: string;
  /** Register expiry asked for, seconds. */
  expires: number;
  /** Seconds between keepalive MESSAGEs. */
  keepalive_interval: number;
  /** Keepalives without an answer before we count ourselves dropped and register again. */
  keepalive_timeouts: number;
  charset: PlatformCharset;
  enabled: boolean;
  /** Every camera channel is shared (besides the explicit list). */
  share_cameras: boolean;
  /** Every vehicle channel is shared. */
  share_vehicles: boolean;
  /** The catalog groups channels under virtual directories (a 215 business group with 216 organisations "cameras" and "vehicles"). */
  directories: boolean;
  /** A password is set (it is never returned). */
  has_password: boolean;
  channels: SharedChannel[];
  /** Operator-designed directories, parents first (empty: none; `directories` then picks the fixed tree or none). */
  virtual_directories: VirtualDirectory[];
  addtime: number;
  uptime: number;
}

export interface PlatformInput {
  name?: string;
  serverid?: string;
  domain?: string;
  host?: string;
  port?: number;
  transport?: PlatformTransport;
  deviceid?: string;
  pwd?: string;
  expires?: number;
  keepalive_interval?: number;
  keepalive_timeouts?: number;
  charset?: PlatformCharset;
  enabled?: boolean;
  share_cameras?: boolean;
  share_vehicles?: boolean;
  directories?: boolean;
  /** Replaces the explicit list when given. */
  channels?: SharedChannel[];
  /** Replaces the directories when given (the API checks the tree). */
  virtual_directories?: VirtualDirectory[];
}

export type PlatformCreate = PlatformInput & Required<Pick<PlatformInput, 'serverid' | 'domain' | 'host' | 'deviceid'>>;

export interface PlatformStore {
  list(): Promise<Platform[]>;
  get(id: number): Promise<Platform | null>;
  /** Throws DuplicateError when another platform has the server ID. */
  create(input: PlatformCreate): Promise<Platform>;
  /** Null when there is no such platform. */
  update(id: number, patch: PlatformInput): Promise<Platform | null>;
  delete(id: number): Promise<boolean>;
  /** The digest password, for the SIP layer only. */
  getSecret(id: number): Promise<string | null>;
  /**
   * The stable channel ID of a vehicle channel: allocated on first use as
   * `prefix` (10 digits) + `type` (131/132) + the SIM's last 5 digits + the channel (2 digits),
   * the next free number when that is taken, and stored, so it never changes afterwards.
   */
  vehicleChannelId(sim: string, channel: number, prefix: string, type: string): Promise<string>;
  /** Every stored vehicle channel ID, keyed `sim/channel`. */
  vehicleChannelIds(): Promise<Map<string, string>>;
}
