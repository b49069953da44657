/**
 * `/platforms`: upper GB28181 platforms camgate registers to as a device (cascade, issue 16),
 * with the channels each one is shared and the registration state the SIP thread reports.
 */
import type { FastifyInstance } from 'fastify';
import { badRequest, envelopeSchema, errorResponses, notFound, ok } from './envelope.js';
import { gbIdPattern, listSchema } from './schemas.js';
import type { Platform, PlatformInput, SharedChannel, VirtualDirectory } from '../store/index.js';
import type { PlatformManager } from '../platforms.js';

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;

const sharedChannelSchema = {
  type: 'object',
  description: 'A shared channel: a camera channel by `channelid`, or a vehicle channel by `sim` and `channel`; `custom_id` is the ID the upper platform sees instead.',
  properties: {
    kind: { type: 'string', enum: ['camera', 'vehicle'] },
    channelid: { type: 'string', minLength: 1, maxLength: 64 },
    sim: { type: 'string', pattern: '^[0-9]{1,20}$' },
    channel: { type: 'integer', minimum: 1, maximum: 99 },
    custom_id: { type: ['string', 'null'], pattern: gbIdPattern },
    parent_id: { type: ['string', 'null'], pattern: gbIdPattern, description: 'The virtual directory (an id of `virtual_directories`) it is listed under; null: directly under our device ID' },
  },
} as const;

const virtualDirectorySchema = {
  type: 'object',
  required: ['id', 'name'],
  description: 'A virtual directory of the catalog: `id` of type 215 (business group, at the top) or 216 (virtual organisation, `parent_id` a group or another organisation).',
  properties: {
    id: { type: 'string', pattern: gbIdPattern },
    name: { type: 'string', minLength: 1, maxLength: 255 },
    parent_id: { type: ['string', 'null'], pattern: gbIdPattern },
  },
} as const;

const editable = {
  name: { type: 'string', maxLength: 255 },
  serverid: { type: 'string', pattern: gbIdPattern, description: "The upper platform's SIP server ID (20 digits)" },
  domain: { type: 'string', pattern: '^[0-9A-Za-z.-]{1,64}$', description: 'Its SIP domain (realm), usually 10 digits' },
  host: { type: 'string', pattern: '^[^\\s/@]{1,255}$', description: 'Its SIP address (IP or host name)' },
  port: { type: 'integer', minimum: 1, maximum: 65535, description: 'Its SIP port (default 5060)' },
  transport: { type: 'string', enum: ['UDP', 'TCP'], description: 'Signalling transport (default UDP)' },
  deviceid: { type: 'string', pattern: gbIdPattern, description: 'Our device ID towards it (given by its administrator)' },
  pwd: { type: 'string', maxLength: 255, description: 'Digest password (write-only)' },
  expires: { type: 'integer', minimum: 10, maximum: 86400, description: 'Register expiry in seconds (default 3600)' },
  keepalive_interval: { type: 'integer', minimum: 5, maximum: 3600, description: 'Seconds between keepalives (default 60)' },
  keepalive_timeouts: { type: 'integer', minimum: 1, maximum: 10, description: 'Unanswered keepalives before registering again (default 3)' },
  charset: { type: 'string', enum: ['GB2312', 'UTF-8'], description: 'Character set of the bodies we send it (default GB2312)' },
  enabled: { type: 'boolean', description: 'Register to it (default true)' },
  share_cameras: { type: 'boolean', description: 'Share every camera channel (default false)' },
  share_vehicles: { type: 'boolean', description: 'Share every vehicle channel (default false)' },
  directories: { type: 'boolean', description: 'Group the catalog under virtual directories: a 215 business group with 216 organisations for cameras and vehicles (default false)' },
  channels: { type: 'array', maxItems: 100_000, items: sharedChannelSchema, description: 'Explicitly shared channels (replaces the list)' },
  virtual_directories: {
    type: 'array',
    maxItems: 10_000,
    items: virtualDirectorySchema,
    description: 'Operator-designed directory tree for this platform\'s catalog (replaces the list; takes the place of the fixed `directories` tree). Channels are placed with their `parent_id`.',
  },
} as const;

export const platformSchema = {
  type: 'object',
  description: 'An upper GB28181 platform. The password is never returned.',
  properties: {
    id: int,
    name: str,
    serverid: str,
    domain: str,
    host: str,
    port: int,
    transport: str,
    deviceid: str,
    expires: int,
    keepalive_interval: int,
    keepalive_timeouts: int,
    charset: str,
    enabled: { type: 'boolean' },
    share_cameras: { type: 'boolean' },
    share_vehicles: { type: 'boolean' },
    directories: { type: 'boolean' },
    has_password: { type: 'boolean' },
    channels: { type: 'array', items: sharedChannelSchema },
    virtual_directories: { type: 'array', items: virtualDirectorySchema },
    status: {
      type: 'object',
      description: 'Registration state: disabled, unknown (signalling restarting), registering, online, retrying',
      properties: {
        state: str,
        error: { type: ['string', 'null'], description: 'Why it is not online: the upper platform\'s answer, a time-out, unanswered keepalives' },
        since: { type: ['integer', 'null'], description: 'Unix seconds of the last state change' },
        expires: { type: 'integer', description: 'Seconds the registration was granted for' },
        failures: { type: 'integer', description: 'Failures since the last success' },
      },
    },
    addtime: int,
    uptime: int,
  },
} as const;

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } } as const;

type Body = Omit<PlatformInput, 'channels' | 'virtual_directories'> & {
  channels?: Array<{ kind?: string; channelid?: string; sim?: string; channel?: number; custom_id?: string | null; parent_id?: string | null }>;
  virtual_directories?: Array<{ id: string; name: string; parent_id?: string | null }>;
};

/** GB/T 28181 type code of an ID (digits 11–13). */
const typeOf = (id: string) => id.slice(10, 13);

/**
 * The directory tree as given, checked: 215 business groups at the top, 216 organisations
 * under a directory of the list, no ID twice, no cycle; returned parents first (the order
 * the catalog lists them in). A 400 names `virtual_directories.N.<field>`.
 */
function directoryTree(list: NonNullable<Body['virtual_directories']>): VirtualDirectory[] {
  const byId = new Map<string, number>();
  list.forEach((d, i) => {
    if (typeOf(d.id) !== '215' && typeOf(d.id) !== '216') throw badRequest(`virtual_directories.${i}.id`, 'must be of type 215 (business group) or 216 (virtual organisation)');
    if (byId.has(d.id)) throw badRequest(`virtual_directories.${i}.id`, `is given twice (also item ${byId.get(d.id)})`);
    byId.set(d.id, i);
  });
  list.forEach((d, i) => {
    const parent = d.parent_id ?? null;
    if (typeOf(d.id) === '215') {
      if (parent !== null) throw badRequest(`virtual_directories.${i}.parent_id`, 'a business group (215) is at the top: no parent');
      return;
    }
    if (parent === null || !byId.has(parent)) throw badRequest(`virtual_directories.${i}.parent_id`, 'must name a directory of virtual_directories');
    // Up the chain to a business group; meeting this item again is a cycle.
    const seen = new Set([d.id]);
    for (let up: string | null = parent; up !== null && typeOf(up) === '216' && byId.has(up); up = list[byId.get(up)!]!.parent_id ?? null) {
      if (seen.has(up)) throw badRequest(`virtual_directories.${i}.parent_id`, 'makes a cycle');
      seen.add(up);
    }
  });
  const ordered: VirtualDirectory[] = [];
  const placed = new Set<string>();
  const place = (d: (typeof list)[number]) => {
    if (placed.has(d.id)) return;
    if (d.parent_id) place(list[byId.get(d.parent_id)!]!);
    placed.add(d.id);
    ordered.push({ id: d.id, name: d.name, parent_id: d.parent_id ?? null });
  };
  list.forEach(place);
  return ordered;
}

/** The body's channel list as store entries; a 400 naming `channels.N.<field>` for an entry that is neither kind. */
function sharedChannels(list: NonNullable<Body['channels']>): SharedChannel[] {
  const customs = new Set<string>();
  return list.map((c, i) => {
    const custom = c.custom_id ?? null;
    if (custom !== null) {
      if (customs.has(custom)) throw badRequest(`channels.${i}.custom_id`, 'is used by another shared channel');
      customs.add(custom);
    }
    const kind = c.kind ?? (c.sim !== undefined ? 'vehicle' : 'camera');
    if (kind === 'vehicle') {
      if (c.sim === undefined) throw badRequest(`channels.${i}.sim`, 'is required for a vehicle channel');
      if (c.channel === undefined) throw badRequest(`channels.${i}.channel`, 'is required for a vehicle channel');
      return { kind: 'vehicle', sim: c.sim, channel: c.channel, custom_id: custom, parent_id: c.parent_id ?? null };
    }
    if (c.channelid === undefined) throw badRequest(`channels.${i}.channelid`, 'is required for a camera channel (or give sim and channel)');
    return { kind: 'camera', channelid: c.channelid, custom_id: custom, parent_id: c.parent_id ?? null };
  });
}

/**
 * The body as a store input. `stored`: the platform's directories now, for a PATCH that
 * places channels without giving the tree; every channel's parent_id must be one of them.
 */
function input(body: Body, stored: VirtualDirectory[] = []): PlatformInput {
  const { channels, virtual_directories: directories, ...rest } = body;
  const out: PlatformInput = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  if (directories !== undefined) out.virtual_directories = directoryTree(directories);
  if (channels !== undefined) {
    out.channels = sharedChannels(channels);
    const known = new Set((out.virtual_directories ?? stored).map((d) => d.id));
    out.channels.forEach((c, i) => {
      if (c.parent_id && !known.has(c.parent_id)) throw badRequest(`channels.${i}.parent_id`, 'must name a directory of virtual_directories');
    });
  }
  return out;
}

export function platformsRoutes(manager: () => PlatformManager | null) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { store } = app.deps;
    const view = (p: Platform) => ({ ...p, status: manager()?.runtime(p) ?? { state: 'unknown', error: null, since: null, expires: 0, failures: 0 } });
    const changed = async () => {
      await manager()?.changed().catch((err: Error) => app.log.warn({ err }, 'platforms not handed to the SIP thread (it will get them when it restarts)'));
    };

    app.get(
      '/platforms',
      {
        schema: {
          tags: ['platforms'],
          summary: 'Upper GB28181 platforms (cascade) with their registration state.',
          response: { 200: envelopeSchema(listSchema(platformSchema)), ...errorResponses },
        },
      },
      async () => {
        const list = await store.platforms.list();
        return ok({ Total: list.length, List: list.map(view) });
      },
    );

    app.post<{ Body: Body }>(
      '/platforms',
      {
        schema: {
          tags: ['platforms'],
          summary: 'Add an upper platform; camgate registers to it at once when enabled. serverid, domain, host and deviceid are required.',
          body: { type: 'object', required: ['serverid', 'domain', 'host', 'deviceid'], properties: editable },
          response: { 200: envelopeSchema(platformSchema), ...errorResponses },
        },
      },
      async (request) => {
        const body = input(request.body);
        const created = await store.platforms.create({ ...body, serverid: request.body.serverid!, domain: request.body.domain!, host: request.body.host!, deviceid: request.body.deviceid! });
        await changed();
        return ok(view(created));
      },
    );

    app.get<{ Params: { id: number } }>(
      '/platforms/:id',
      { schema: { tags: ['platforms'], summary: 'One upper platform.', params: idParams, response: { 200: envelopeSchema(platformSchema), ...errorResponses } } },
      async (request) => {
        const platform = await store.platforms.get(request.params.id);
        if (!platform) throw notFound(`platform ${request.params.id} not found`);
        return ok(view(platform));
      },
    );

    for (const method of ['PATCH', 'POST'] as const) {
      app.route<{ Params: { id: number }; Body: Body }>({
        method,
        url: '/platforms/:id',
        schema: {
          tags: ['platforms'],
          summary: method === 'PATCH' ? 'Change an upper platform; a changed address, identity or timer registers again.' : 'Same as PATCH /platforms/:id.',
          params: idParams,
          body: { type: 'object', properties: editable },
          response: { 200: envelopeSchema(platformSchema), ...errorResponses },
        },
        handler: async (request) => {
          const stored = request.body?.channels ? ((await store.platforms.get(request.params.id))?.virtual_directories ?? []) : [];
          const updated = await store.platforms.update(request.params.id, input(request.body ?? {}, stored));
          if (!updated) throw notFound(`platform ${request.params.id} not found`);
          await changed();
          return ok(view(updated));
        },
      });
    }

    app.delete<{ Params: { id: number } }>(
      '/platforms/:id',
      {
        schema: {
          tags: ['platforms'],
          summary: 'Remove an upper platform; camgate unregisters from it.',
          params: idParams,
          response: { 200: envelopeSchema({ type: 'string' }), ...errorResponses },
        },
      },
      async (request) => {
        if (!(await store.platforms.delete(request.params.id))) throw notFound(`platform ${request.params.id} not found`);
        await changed();
        return ok('');
      },
    );

    app.get<{ Params: { id: number } }>(
      '/platforms/:id/catalog',
      {
        schema: {
          tags: ['platforms'],
          summary: 'The catalog the platform gets: every shared channel under the ID it sees (vehicle channels get stable 20-digit IDs).',
          params: idParams,
          response: {
            200: envelopeSchema(
              listSchema({
                type: 'object',
                properties: { channelId: str, name: str, status: str, manufacturer: str, model: str, address: str, civilCode: str, parentId: str, businessGroupId: str, directory: { type: 'boolean' }, longitude: { type: 'number' }, latitude: { type: 'number' } },
              }),
            ),
            ...errorResponses,
          },
        },
      },
      async (request) => {
        const m = manager();
        if (!(await store.platforms.get(request.params.id))) throw notFound(`platform ${request.params.id} not found`);
        const items = m ? await m.catalog(request.params.id) : [];
        return ok({ Total: items.length, List: items });
      },
    );
  };
}
