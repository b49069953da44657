/**
 * Upper GB28181 platforms (cascade, issue 16): the platforms camgate registers to as a
 * device, the channels each one is shared, and the stable 20-digit IDs vehicle channels
 * get in those catalogs. Written once against the driver layer like the rest of the store.
 */
import { isUniqueViolation, type Driver, type Row, type SqlExecutor } from './driver.js';
import { quoteIdent } from './filters.js';
import { DuplicateError, StoreError } from './types.js';
import type { PlatformTransport, PlatformCharset, SharedChannel, VirtualDirectory, Platform, PlatformInput, PlatformCreate, PlatformStore } from './platform-types.js';

const PLATFORM_COLUMNS = [
  'id', 'name', 'serverid', 'domain', 'host', 'port', 'transport', 'deviceid', 'pwd', 'expires',
  'keepalive_interval', 'keepalive_timeouts', 'charset', 'enabled', 'share_cameras', 'share_vehicles', 'directories', 'addtime', 'uptime',
] as const;

const WRITABLE: Record<string, 'text' | 'int' | 'bool'> = {
  name: 'text',
  serverid: 'text',
  domain: 'text',
  host: 'text',
  port: 'int',
  transport: 'text',
  deviceid: 'text',
  pwd: 'text',
  expires: 'int',
  keepalive_interval: 'int',
  keepalive_timeouts: 'int',
  charset: 'text',
  enabled: 'bool',
  share_cameras: 'bool',
  share_vehicles: 'bool',
  directories: 'bool',
};

/** `c:<channelid>` / `v:<sim>/<n>` (SIM without leading zeros): a shared channel's key, in the store and to look its placement up by. */
export function sharedSource(channel: { kind: 'camera'; channelid: string } | { kind: 'vehicle'; sim: string; channel: number }): string {
  return channel.kind === 'camera' ? `c:${channel.channelid}` : `v:${stripSim(channel.sim)}/${channel.channel}`;
}

function parseSource(source: string, customId: string | null, parentId: string | null): SharedChannel | null {
  if (source.startsWith('c:')) return { kind: 'camera', channelid: source.slice(2), custom_id: customId, parent_id: parentId };
  const m = /^v:([0-9]{1,20})\/([0-9]{1,3})$/.exec(source);
  if (!m) return null;
  return { kind: 'vehicle', sim: m[1]!, channel: Number(m[2]), custom_id: customId, parent_id: parentId };
}

function stripSim(sim: string): string {
  const stripped = sim.replace(/^0+/, '');
  return stripped === '' ? '0' : stripped;
}

export class SqlPlatformStore implements PlatformStore {
  readonly #select: string;

  constructor(
    private readonly driver: Driver,
    private readonly now: () => number,
  ) {
    this.#select = PLATFORM_COLUMNS.map((c) => quoteIdent(driver.dialect, c)).join(', ');
  }

  async list(): Promise<Platform[]> {
    const rows = await this.driver.all(`SELECT ${this.#select} FROM platforms ORDER BY id`);
    const channels = await this.#channels(this.driver);
    const directories = await this.#directories(this.driver);
    return rows.map((row) => this.#toPlatform(row, channels.get(Number(row.id)) ?? [], directories.get(Number(row.id)) ?? []));
  }

  get(id: number): Promise<Platform | null> {
    return this.#get(this.driver, id);
  }

  async create(input: PlatformCreate): Promise<Platform> {
    const now = this.now();
    try {
      const id = await this.driver.transaction(async (tx) => {
        const { columns, params } = this.#assignments(input);
        const result = await tx.run(
          `INSERT INTO platforms (${[...columns, 'addtime', 'uptime'].map((c) => quoteIdent(this.driver.dialect, c)).join(', ')}) ` +
            `VALUES (${[...columns, 'a', 'u'].map(() => '?').join(', ')})`,
          [...params, now, now],
        );
        if (input.channels) await this.#setChannels(tx, result.insertId, input.channels);
        if (input.virtual_directories) await this.#setDirectories(tx, result.insertId, input.virtual_directories);
        return result.insertId;
      });
      const platform = await this.get(id);
      if (!platform) throw new StoreError(`platform ${id} vanished after insert`);
      return platform;
    } catch (err) {
      if (isUniqueViolation(err)) throw new DuplicateError('platform', uniqueKey(err, input));
      throw err;
    }
  }

  async update(id: number, patch: PlatformInput): Promise<Platform | null> {
    try {
      return await this.driver.transaction(async (tx) => {
        const existing = await tx.all('SELECT id FROM platforms WHERE id = ?', [id]);
        if (existing.length === 0) return null;
        const { columns, params } = this.#assignments(patch);
        if (columns.length > 0) {
          const sets = columns.map((c) => `${quoteIdent(this.driver.dialect, c)} = ?`).join(', ');
          await tx.run(`UPDATE platforms SET ${sets}, uptime = ? WHERE id = ?`, [...params, this.now(), id]);
        }
        if (patch.channels) await this.#setChannels(tx, id, patch.channels);
        if (patch.virtual_directories) await this.#setDirectories(tx, id, patch.virtual_directories);
        return this.#get(tx, id);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new DuplicateError('platform', uniqueKey(err, patch));
      throw err;
    }
  }

  delete(id: number): Promise<boolean> {
    return this.driver.transaction(async (tx) => {
      await tx.run('DELETE FROM platform_channels WHERE platform_id = ?', [id]);
      await tx.run('DELETE FROM platform_directories WHERE platform_id = ?', [id]);
      return (await tx.run('DELETE FROM platforms WHERE id = ?', [id])).changes > 0;
    });
  }

  async getSecret(id: number): Promise<string | null> {
    const rows = await this.driver.all('SELECT pwd FROM platforms WHERE id = ?', [id]);
    return rows.length === 0 ? null : String(rows[0]!.pwd ?? '');
  }

  async vehicleChannelId(sim: string, channel: number, prefix: string, type: string): Promise<string> {
    const key = stripSim(sim);
    if (!/^[0-9]{10}$/.test(prefix)) throw new StoreError('vehicle channel ID prefix must be 10 digits');
    if (!/^[0-9]{3}$/.test(type)) throw new StoreError('vehicle channel ID type must be 3 digits');
    if (!Number.isInteger(channel) || channel < 0 || channel > 99) throw new StoreError('vehicle channel must be 0 to 99');
    const known = await this.driver.all('SELECT channelid FROM vehicle_channel_ids WHERE sim = ? AND channel = ?', [key, channel]);
    if (known.length > 0) return String(known[0]!.channelid);
    const base = Number(key.slice(-5).padStart(5, '0')) * 100 + channel;
    // The derived number first; on a clash (two SIMs ending alike) the next free one.
    for (let step = 0; step < 10_000_000; step++) {
      const candidate = `${prefix}${type}${String((base + step) % 10_000_000).padStart(7, '0')}`;
      try {
        await this.driver.run('INSERT INTO vehicle_channel_ids (sim, channel, channelid, addtime) VALUES (?, ?, ?, ?)', [key, channel, candidate, this.now()]);
        return candidate;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // Another caller may have stored this vehicle channel at the same moment.
        const raced = await this.driver.all('SELECT channelid FROM vehicle_channel_ids WHERE sim = ? AND channel = ?', [key, channel]);
        if (raced.length > 0) return String(raced[0]!.channelid);
      }
    }
    throw new StoreError('no vehicle channel ID left');
  }

  async vehicleChannelIds(): Promise<Map<string, string>> {
    const rows = await this.driver.all('SELECT sim, channel, channelid FROM vehicle_channel_ids');
    return new Map(rows.map((r) => [`${String(r.sim)}/${Number(r.channel)}`, String(r.channelid)]));
  }

  async #get(exec: SqlExecutor, id: number): Promise<Platform | null> {
    const rows = await exec.all(`SELECT ${this.#select} FROM platforms WHERE id = ?`, [id]);
    if (rows.length === 0) return null;
    return this.#toPlatform(rows[0]!, (await this.#channels(exec, id)).get(id) ?? [], (await this.#directories(exec, id)).get(id) ?? []);
  }

  async #directories(exec: SqlExecutor, id?: number): Promise<Map<number, VirtualDirectory[]>> {
    const rows = await exec.all(
      `SELECT platform_id, dirid, name, parent_id FROM platform_directories${id === undefined ? '' : ' WHERE platform_id = ?'} ORDER BY platform_id, position`,
      id === undefined ? [] : [id],
    );
    const out = new Map<number, VirtualDirectory[]>();
    for (const row of rows) {
      const key = Number(row.platform_id);
      const list = out.get(key) ?? [];
      list.push({ id: String(row.dirid), name: String(row.name ?? ''), parent_id: row.parent_id === null || row.parent_id === undefined ? null : String(row.parent_id) });
      out.set(key, list);
    }
    return out;
  }

  async #setDirectories(tx: SqlExecutor, id: number, directories: VirtualDirectory[]): Promise<void> {
    await tx.run('DELETE FROM platform_directories WHERE platform_id = ?', [id]);
    let position = 0;
    for (const d of directories) {
      await tx.run('INSERT INTO platform_directories (platform_id, dirid, name, parent_id, position) VALUES (?, ?, ?, ?, ?)', [id, d.id, d.name, d.parent_id ?? null, position++]);
    }
  }

  async #channels(exec: SqlExecutor, id?: number): Promise<Map<number, SharedChannel[]>> {
    const rows = await exec.all(
      `SELECT platform_id, source, custom_id, parent_id FROM platform_channels${id === undefined ? '' : ' WHERE platform_id = ?'} ORDER BY platform_id, addtime, source`,
      id === undefined ? [] : [id],
    );
    const out = new Map<number, SharedChannel[]>();
    for (const row of rows) {
      const shared = parseSource(String(row.source), row.custom_id === null || row.custom_id === undefined ? null : String(row.custom_id), row.parent_id === null || row.parent_id === undefined ? null : String(row.parent_id));
      if (!shared) continue;
      const key = Number(row.platform_id);
      const list = out.get(key) ?? [];
      list.push(shared);
      out.set(key, list);
    }
    return out;
  }

  async #setChannels(tx: SqlExecutor, id: number, channels: SharedChannel[]): Promise<void> {
    await tx.run('DELETE FROM platform_channels WHERE platform_id = ?', [id]);
    const now = this.now();
    const seen = new Set<string>();
    for (const channel of channels) {
      const source = sharedSource(channel);
      if (seen.has(source)) continue; // the same channel twice: the first entry wins
      seen.add(source);
      await tx.run('INSERT INTO platform_channels (platform_id, source, custom_id, parent_id, addtime) VALUES (?, ?, ?, ?, ?)', [id, source, channel.custom_id ?? null, channel.parent_id ?? null, now]);
    }
  }

  #assignments(input: PlatformInput): { columns: string[]; params: Array<string | number> } {
    const columns: string[] = [];
    const params: Array<string | number> = [];
    for (const [key, value] of Object.entries(input)) {
      const kind = WRITABLE[key];
      if (kind === undefined || value === undefined) continue;
      columns.push(key);
      params.push(kind === 'bool' ? (value ? 1 : 0) : kind === 'int' ? Math.trunc(Number(value)) : String(value));
    }
    return { columns, params };
  }

  #toPlatform(row: Row, channels: SharedChannel[], directories: VirtualDirectory[]): Platform {
    return {
      id: Number(row.id),
      name: String(row.name ?? ''),
      serverid: String(row.serverid),
      domain: String(row.domain),
      host: String(row.host),
      port: Number(row.port),
      transport: String(row.transport) === 'TCP' ? 'TCP' : 'UDP',
      deviceid: String(row.deviceid),
      expires: Number(row.expires),
      keepalive_interval: Number(row.keepalive_interval),
      keepalive_timeouts: Number(row.keepalive_timeouts),
      charset: String(row.charset) === 'UTF-8' ? 'UTF-8' : 'GB2312',
      enabled: Number(row.enabled) !== 0,
      share_cameras: Number(row.share_cameras) !== 0,
      share_vehicles: Number(row.share_vehicles) !== 0,
      directories: Number(row.directories) !== 0,
      has_password: String(row.pwd ?? '') !== '',
      channels,
      virtual_directories: directories,
      addtime: Number(row.addtime),
      uptime: Number(row.uptime),
    };
  }
}

/** Which unique key a violation was about: a custom channel ID used twice, else the server ID. */
function uniqueKey(err: unknown, input: PlatformInput): string {
  const message = String((err as { message?: unknown }).message ?? '');
  if (/custom/i.test(message)) return 'custom_id (one custom channel ID given twice)';
  return input.serverid ?? 'server ID';
}
