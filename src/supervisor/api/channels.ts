import type { FastifyInstance } from 'fastify';
import { ApiError, badRequest, envelopeSchema, errorResponses, notFound, ok } from './envelope.js';
import { channelSchema, gbIdPattern, idParams, listRoute, rangeProperties } from './schemas.js';
import type { ChannelPatch } from '../store/types.js';

interface ChannelBody {
  channelid?: string;
  memo?: string;
  streamtype?: 'push' | 'pull';
  url?: string;
}

const channelBody = {
  type: 'object',
  properties: {
    channelid: { type: 'string', pattern: gbIdPattern, description: 'Optional explicit 20-digit ID' },
    memo: { type: 'string', maxLength: 255 },
    streamtype: {
      type: 'string',
      enum: ['push', 'pull'],
      description: 'push: the device pushes over GB28181 (default); pull: the media server pulls `url`',
    },
    url: { type: 'string', maxLength: 1024, description: 'Pull URL (only with streamtype=pull)' },
  },
} as const;

export async function channelsRoutes(app: FastifyInstance): Promise<void> {
  const { store } = app.deps;

  listRoute(app, { path: '/channels', tag: 'channels', summary: 'List channels (paging, sort, filters).', item: channelSchema, list: (query) => store.channels.list(query) });

  app.post<{ Params: { id: string }; Body: ChannelBody }>(
    '/devices/:id/channels',
    {
      schema: {
        tags: ['channels'],
        summary: 'Provision a channel under a device.',
        params: idParams,
        body: channelBody,
        response: { 200: envelopeSchema(channelSchema), ...errorResponses },
      },
    },
    async (request) => {
      const body = request.body ?? {};
      if (body.streamtype === 'pull' && !body.url) throw badRequest('url', 'is required with streamtype=pull');
      const channel = await store.channels.create(request.params.id, {
        ...(body.channelid ? { channelid: body.channelid } : {}),
        memo: body.memo ?? '',
        streamtype: body.streamtype ?? 'push',
        url: body.streamtype === 'pull' ? (body.url ?? '') : '',
      });
      return ok(channel);
    },
  );

  app.post<{ Params: { id: string }; Body: ChannelBody }>(
    '/channels/:id',
    {
      schema: {
        tags: ['channels'],
        summary: 'Change a channel\'s memo or stream type (empty fields are kept).',
        params: idParams,
        body: { ...channelBody, properties: { memo: channelBody.properties.memo, streamtype: channelBody.properties.streamtype, url: channelBody.properties.url } },
        response: { 200: envelopeSchema(channelSchema), ...errorResponses },
      },
    },
    async (request) => {
      const body = request.body ?? {};
      const patch: ChannelPatch = {};
      if (body.memo) patch.memo = body.memo;
      if (body.streamtype === 'push') {
        patch.streamtype = 'push';
        patch.url = '';
      } else if (body.streamtype === 'pull') {
        if (!body.url) throw badRequest('url', 'is required with streamtype=pull');
        patch.streamtype = 'pull';
        patch.url = body.url;
      }
      const channel = await store.channels.update(request.params.id, patch);
      if (!channel) throw notFound(`channel ${request.params.id} not found`);
      return ok(channel);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/channels/:id',
    {
      schema: {
        tags: ['channels'],
        summary: 'Delete a channel.',
        params: idParams,
        response: { 200: envelopeSchema({ type: 'string' }), ...errorResponses },
      },
    },
    async (request) => {
      if (!(await store.channels.softDelete(request.params.id))) {
        throw notFound(`channel ${request.params.id} not found`);
      }
      return ok('');
    },
  );

  app.get<{ Params: { id: string }; Querystring: { start: number; end: number } }>(
    '/channels/:id/records',
    {
      schema: {
        tags: ['channels'],
        summary: 'Recordings of a channel between start and end (RecordInfo), by day.',
        description:
          'Asks the device (RecordInfo) and aggregates its answers until SumNum items arrived or 10 s passed. ' +
          'Segments are clipped to the range, merged when back to back, split at local midnight. ' +
          '`complete` is false when the device sent fewer items than it announced.',
        params: idParams,
        querystring: {
          type: 'object',
          required: ['start', 'end'],
          properties: rangeProperties,
        },
        response: {
          200: envelopeSchema({
            type: 'object',
            properties: {
              daynum: { type: 'integer' },
              timenum: { type: 'integer' },
              complete: { type: 'boolean' },
              list: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    date: { type: 'string' },
                    items: {
                      type: 'array',
                      items: { type: 'object', properties: { start: { type: 'integer' }, end: { type: 'integer' } } },
                    },
                  },
                },
              },
            },
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { start, end } = request.query;
      if (end <= start) throw badRequest('end', 'must be after start');
      const channel = await store.channels.get(request.params.id);
      if (!channel) throw notFound(`channel ${request.params.id} not found`);
      const device = await store.devices.get(channel.deviceid);
      if (!device || device.online !== 1) throw new ApiError(409, '1002', `device ${channel.deviceid} is offline`);
      if (!app.deps.gb) throw new ApiError(503, '1001', 'signalling unavailable');
      return ok(await app.deps.gb.queryRecords(device.deviceid, channel.channelid, start, end));
    },
  );
}
