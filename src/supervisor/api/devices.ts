import type { FastifyInstance } from 'fastify';
import { ApiError, envelopeSchema, errorResponses, notFound, ok } from './envelope.js';
import { deviceSchema, gbIdPattern, idParams, listRoute } from './schemas.js';

interface DeviceBody {
  deviceid?: string;
  name?: string;
  pwd?: string;
}

const deviceBody = {
  type: 'object',
  properties: {
    deviceid: { type: 'string', pattern: gbIdPattern, description: 'Optional explicit 20-digit ID' },
    name: { type: 'string', maxLength: 128 },
    pwd: {
      type: 'string',
      maxLength: 64,
      description: 'Digest password for this device; empty or absent: sip.password from the config.',
    },
  },
} as const;

const sipSettingsSchema = {
  type: 'object',
  description: 'What to type into the device\'s GB28181 page.',
  properties: {
    id: { type: 'string', description: 'Server SIP ID' },
    domain: { type: 'string', description: 'SIP domain (realm)' },
    host: { type: 'string' },
    port: { type: 'integer' },
    transports: { type: 'array', items: { type: 'string' } },
  },
} as const;

const sysinfoSchema = {
  type: 'object',
  description: 'gosip-compatible server identity and ID counters.',
  properties: {
    lid: { type: 'string' },
    region: { type: 'string' },
    did: { type: 'string' },
    dnum: { type: 'integer' },
    cid: { type: 'string' },
    cnum: { type: 'integer' },
  },
} as const;

export async function devicesRoutes(app: FastifyInstance): Promise<void> {
  const { store, config } = app.deps;

  listRoute(app, { path: '/devices', tag: 'devices', summary: 'List devices (paging, sort, filters).', item: deviceSchema, list: (query) => store.devices.list(query) });

  app.post<{ Body: DeviceBody }>(
    '/devices',
    {
      schema: {
        tags: ['devices'],
        summary: 'Provision a device; returns its ID and the SIP settings it needs.',
        body: deviceBody,
        response: {
          200: envelopeSchema({
            ...deviceSchema,
            properties: { ...deviceSchema.properties, sip: sipSettingsSchema, sysinfo: sysinfoSchema },
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const body = request.body ?? {};
      const device = await store.devices.create({
        ...(body.deviceid ? { deviceid: body.deviceid } : {}),
        ...(body.name ? { name: body.name } : {}),
        pwd: body.pwd ?? '',
      });
      const sysinfo = await store.sysInfo.get();
      return ok({
        ...device,
        sip: {
          id: config.sip.id,
          domain: config.sip.domain,
          host: app.deps.sipHost,
          port: config.sip.port,
          transports: config.sip.transports,
        },
        sysinfo,
      });
    },
  );

  app.post<{ Params: { id: string }; Body: DeviceBody }>(
    '/devices/:id',
    {
      schema: {
        tags: ['devices'],
        summary: 'Change a device\'s name or password (empty fields are kept).',
        params: idParams,
        body: { ...deviceBody, properties: { name: deviceBody.properties.name, pwd: deviceBody.properties.pwd } },
        response: { 200: envelopeSchema(deviceSchema), ...errorResponses },
      },
    },
    async (request) => {
      const body = request.body ?? {};
      const patch = {
        ...(body.name ? { name: body.name } : {}),
        ...(body.pwd ? { pwd: body.pwd } : {}),
      };
      const device = await store.devices.update(request.params.id, patch);
      if (!device) throw notFound(`device ${request.params.id} not found`);
      return ok(device);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/devices/:id',
    {
      schema: {
        tags: ['devices'],
        summary: 'Delete a device and all its channels.',
        params: idParams,
        response: { 200: envelopeSchema({ type: 'string' }), ...errorResponses },
      },
    },
    async (request) => {
      if (!(await store.devices.softDelete(request.params.id))) {
        throw notFound(`device ${request.params.id} not found`);
      }
      await app.deps.gb?.forgetDevice(request.params.id);
      return ok('');
    },
  );

  for (const [what, cmd, effect] of [
    ['catalog', 'Catalog', 'its channels are updated (channels.active events)'],
    ['deviceinfo', 'DeviceInfo', 'manufacturer, model and firmware are updated'],
  ] as const) {
    app.post<{ Params: { id: string } }>(
      `/devices/:id/${what}`,
      {
        schema: {
          tags: ['devices'],
          summary: `Ask an online device for its ${cmd} now; when it answers, ${effect}.`,
          params: idParams,
          response: { 200: envelopeSchema({ type: 'string' }), ...errorResponses },
        },
      },
      async (request) => {
        const device = await store.devices.get(request.params.id);
        if (!device) throw notFound(`device ${request.params.id} not found`);
        if (device.online !== 1) throw new ApiError(409, '1002', `device ${request.params.id} is offline`);
        if (!app.deps.gb?.queryDevice) throw new ApiError(503, '1001', 'signalling unavailable');
        await app.deps.gb.queryDevice(request.params.id, what);
        return ok('');
      },
    );
  }
}
