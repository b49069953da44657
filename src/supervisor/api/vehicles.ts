import type { FastifyInstance } from 'fastify';
import { ApiError, envelopeSchema, errorResponses, notFound, ok, replayRange } from './envelope.js';
import { listRoute } from './schemas.js';
import { streamSchema } from './streams.js';
import type { VehiclePatch } from '../store/types.js';
import type { VehicleControl } from '../vehicle-streams.js';

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const numNull = { type: ['number', 'null'] } as const;

export const vehicleSchema = {
  type: 'object',
  description: 'A JT/T 808 terminal (one vehicle), keyed by its SIM (phone number) without leading zeros.',
  properties: {
    sim: str,
    plate: str,
    plate_color: { type: 'integer', description: 'JT/T 808 plate colour (0: not registered, plate holds the VIN)' },
    manufacturer: str,
    model: str,
    terminal_id: str,
    channels: { type: 'integer', description: 'Video channels (from 0x1003)' },
    online: { type: 'integer', enum: [0, 1] },
    address: { type: 'string', description: 'host:port of its JT/T 808 connection' },
    version: { type: 'string', description: 'JT/T 808 header form: 2011, 2013 or 2019' },
    latitude: numNull,
    longitude: numNull,
    speed: { type: 'number', description: 'km/h' },
    direction: int,
    position_time: { type: ['integer', 'null'], description: 'Device time of the last position, unix seconds' },
    av_attributes: { type: ['object', 'null'], additionalProperties: { type: 'number' }, description: '0x1003 audio/video attributes' },
    addtime: int,
    uptime: int,
  },
} as const;

const simParams = {
  type: 'object',
  required: ['sim'],
  properties: { sim: { type: 'string', pattern: '^[0-9]{1,20}$', description: 'SIM (phone number); leading zeros optional' } },
} as const;

const editable = {
  plate: { type: 'string', maxLength: 64 },
  plate_color: { type: 'integer', minimum: 0, maximum: 255 },
  channels: { type: 'integer', minimum: 0, maximum: 255 },
} as const;

interface VehicleBody {
  sim?: string;
  plate?: string;
  plate_color?: number;
  channels?: number;
}

export function vehiclesRoutes(control: () => VehicleControl | null) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { store, config } = app.deps;
    const vehicles = () => {
      const c = control();
      if (!c) throw new ApiError(503, '1001', 'JT/T 808 signalling unavailable');
      return c;
    };

    listRoute(app, { path: '/vehicles', tag: 'vehicles', summary: 'List vehicles (paging, sort, filters).', item: vehicleSchema, list: (query) => store.vehicles.list(query) });

    app.post<{ Body: VehicleBody }>(
      '/vehicles',
      {
        schema: {
          tags: ['vehicles'],
          summary: 'Provision a vehicle (needed with jt808.registration: provisioned); returns it and the JT/T 808 server to configure on the terminal.',
          body: { type: 'object', required: ['sim'], properties: { sim: simParams.properties.sim, ...editable } },
          response: {
            200: envelopeSchema({
              ...vehicleSchema,
              properties: { ...vehicleSchema.properties, jt808: { type: 'object', properties: { host: str, port: int } } },
            }),
            ...errorResponses,
          },
        },
      },
      async (request) => {
        const { sim, plate, plate_color, channels } = request.body;
        const vehicle = await store.vehicles.create({ sim: sim!, ...defined({ plate, plate_color, channels }) });
        control()?.known(vehicle.sim);
        return ok({ ...vehicle, jt808: { host: control()?.mediaHost ?? '', port: config.jt808.port } });
      },
    );

    app.get<{ Params: { sim: string } }>(
      '/vehicles/:sim',
      {
        schema: { tags: ['vehicles'], summary: 'One vehicle.', params: simParams, response: { 200: envelopeSchema(vehicleSchema), ...errorResponses } },
      },
      async (request) => {
        const vehicle = await store.vehicles.get(request.params.sim);
        if (!vehicle) throw notFound(`vehicle ${request.params.sim} not found`);
        return ok(vehicle);
      },
    );

    for (const method of ['PATCH', 'POST'] as const) {
      app.route<{ Params: { sim: string }; Body: VehicleBody }>({
        method,
        url: '/vehicles/:sim',
        schema: {
          tags: ['vehicles'],
          summary: method === 'PATCH' ? 'Change a vehicle\'s plate, plate colour or channel count.' : 'Same as PATCH /vehicles/:sim (as devices have).',
          params: simParams,
          body: { type: 'object', properties: editable },
          response: { 200: envelopeSchema(vehicleSchema), ...errorResponses },
        },
        handler: async (request) => {
          const { plate, plate_color, channels } = request.body ?? {};
          const patch: VehiclePatch = defined({ plate, plate_color, channels });
          const vehicle = await store.vehicles.update(request.params.sim, patch);
          if (!vehicle) throw notFound(`vehicle ${request.params.sim} not found`);
          return ok(vehicle);
        },
      });
    }

    app.delete<{ Params: { sim: string } }>(
      '/vehicles/:sim',
      {
        schema: {
          tags: ['vehicles'],
          summary: 'Delete a vehicle; its terminal is disconnected (and refused in provisioned mode).',
          params: simParams,
          response: { 200: envelopeSchema({ type: 'string' }), ...errorResponses },
        },
      },
      async (request) => {
        const vehicle = await store.vehicles.get(request.params.sim);
        if (!vehicle || !(await store.vehicles.delete(vehicle.sim))) throw notFound(`vehicle ${request.params.sim} not found`);
        control()?.forget(vehicle.sim);
        return ok('');
      },
    );

    app.post<{ Params: { sim: string; channel: number }; Body: { dataType?: number; streamType?: number; replay?: string; start?: number; end?: number; speed?: number; mode?: number } }>(
      '/vehicles/:sim/channels/:channel/streams',
      {
        schema: {
          tags: ['vehicles'],
          summary:
            'Start live view of a vehicle channel (deduplicated): 0x9101 points the terminal at camgate\'s JT/T 1078 realtime port; ' +
            'answers once the terminal accepted (0x0001) and its media arrived (jt808.streamTimeout), with the stream and its URLs. ' +
            'With replay=1, start and end: a playback (0x9201 towards the playback port), one at a time per channel.',
          params: {
            type: 'object',
            required: ['sim', 'channel'],
            properties: { sim: simParams.properties.sim, channel: { type: 'integer', minimum: 1, maximum: 255 } },
          },
          body: {
            type: 'object',
            properties: {
              dataType: { type: 'integer', enum: [0, 1, 3], default: 0, description: '0 audio and video, 1 video, 3 listen' },
              streamType: { type: 'integer', enum: [0, 1], default: 0, description: '0 main, 1 sub stream' },
              replay: { type: 'string', enum: ['0', '1'], description: '1: playback of start..end' },
              start: { type: 'integer', minimum: 1, description: 'Playback start, unix seconds' },
              end: { type: 'integer', minimum: 1, description: 'Playback end, unix seconds' },
              speed: { type: 'integer', minimum: 0, maximum: 5, default: 0, description: 'Playback speed: 0 n/a, 1 ×1, 2 ×2, 3 ×4, 4 ×8, 5 ×16' },
              mode: { type: 'integer', minimum: 0, maximum: 4, default: 0, description: 'Playback mode: 0 normal, 1 fast forward, 2 key-frame rewind, 3 key-frame play, 4 single frame' },
            },
          },
          response: { 200: envelopeSchema(streamSchema), ...errorResponses },
        },
      },
      async (request) => {
        const body = request.body ?? {};
        const range = replayRange(body);
        if (range) return ok(await vehicles().startPlayback(request.params.sim, request.params.channel, { ...range, speed: body.speed ?? 0, mode: body.mode ?? 0 }));
        return ok(await vehicles().startStream(request.params.sim, request.params.channel, { dataType: body.dataType ?? 0, streamType: body.streamType ?? 0 }));
      },
    );

    app.get<{ Params: { sim: string }; Querystring: { channel?: number; start?: number; end?: number } }>(
      '/vehicles/:sim/records',
      {
        schema: {
          tags: ['vehicles'],
          summary: 'Recordings on the terminal (0x9205 → 0x1205).',
          params: simParams,
          querystring: {
            type: 'object',
            properties: {
              channel: { type: 'integer', minimum: 0, maximum: 255, default: 0, description: '0: every channel' },
              start: { type: 'integer', minimum: 0, default: 0, description: 'unix seconds; 0: unbounded' },
              end: { type: 'integer', minimum: 0, default: 0, description: 'unix seconds; 0: unbounded' },
            },
          },
          response: {
            200: envelopeSchema({
              type: 'array',
              items: {
                type: 'object',
                properties: { channel: int, start: int, end: int, alarm: str, mediaType: int, streamType: int, storageType: int, size: int },
              },
            }),
            ...errorResponses,
          },
        },
      },
      async (request) => {
        const { channel, start, end } = request.query;
        return ok(await vehicles().records(request.params.sim, channel ?? 0, start ?? 0, end ?? 0));
      },
    );

    app.post<{ Params: { sim: string }; Body: { msgId: number; body?: string } }>(
      '/vehicles/:sim/messages',
      {
        schema: {
          tags: ['vehicles'],
          summary: 'Send any platform message (message ID and body as hex); answers with the terminal\'s answer.',
          params: simParams,
          body: {
            type: 'object',
            required: ['msgId'],
            properties: { msgId: { type: 'integer', minimum: 0, maximum: 65535 }, body: { type: 'string', pattern: '^([0-9A-Fa-f]{2})*$', maxLength: 65536, default: '' } },
          },
          response: {
            200: envelopeSchema({ type: 'object', properties: { msgId: int, result: int, body: {} } }),
            ...errorResponses,
          },
        },
      },
      async (request) => ok(await vehicles().raw(request.params.sim, request.body.msgId, request.body.body ?? '')),
    );
  };
}

/** The keys whose value is not undefined (exactOptionalPropertyTypes). */
function defined<T extends Record<string, unknown>>(values: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
