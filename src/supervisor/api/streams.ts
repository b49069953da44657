import type { FastifyInstance } from 'fastify';
import { ApiError, badRequest, envelopeSchema, errorResponses, notFound, ok, replayRange } from './envelope.js';
import { idParams, listQuerystring, listSchema } from './schemas.js';
import type { ListQuery } from '../store/types.js';
import type { StreamManager } from '../streams.js';
import type { VehicleControl } from '../vehicle-streams.js';
import type { Destination } from '../../shared/contracts/destination.js';
import type { ParentChannel } from '../../shared/contracts/lifecycle.js';
import type { MediaContract } from '../../shared/contracts/media.js';
import { rtpStreamName } from '../../shared/contracts/stream-name.js';
import type { PlaybackAction } from '../../protocol/gb28181/index.js';

const int = { type: 'integer' } as const;
const str = { type: 'string' } as const;

export const streamSchema = {
  type: 'object',
  description: 'A media session (GB28181 INVITE dialog or JT/T 1078 stream), kept after it closes.',
  properties: {
    id: int,
    streamid: { type: 'string', description: 'SSRC as 8 upper-case hex digits (GB28181)' },
    ssrc: { type: 'string', description: '10-digit decimal SSRC (Annex F)' },
    t: { type: 'integer', enum: [0, 1], description: '0 live, 1 playback' },
    kind: { type: 'string', enum: ['gb28181', 'jt1078'] },
    deviceid: str,
    channelid: str,
    status: { type: 'integer', enum: [0, 1], description: '0 active, 1 closed' },
    start: int,
    end: int,
    callid: str,
    cseq: int,
    media_host: str,
    media_port: int,
    media_transport: str,
    media_server: str,
    worker: { type: ['integer', 'null'] },
    reason: { type: ['string', 'null'], description: 'Why it closed' },
    urls: { type: 'object', additionalProperties: { type: 'string' } },
    stream: { type: 'boolean', description: 'Media has been seen' },
    addtime: int,
    uptime: int,
    closed_at: { type: ['integer', 'null'] },
    live: {
      type: 'object',
      description:
        'Open streams on the built-in media server only (GET /streams): what the viewer server sees now. Absent when the media process does not answer within 1 s.',
      properties: {
        viewers: { type: 'integer', description: 'HTTP-FLV and WS-FLV viewers' },
        bitsPerSecond: { type: 'integer', description: 'Media bitrate (audio and video frames as received, counted by the media worker) over the last ~2 s' },
        bytesIn: int,
        video: { type: 'object', properties: { codec: str, width: int, height: int } },
        audio: { type: 'object', properties: { codec: str, sampleRate: int } },
      },
    },
  },
} as const;

/** How long GET /streams waits for the media process's live figures before answering without them. */
const LIVE_STATS_TIMEOUT_MS = 1000;

export function streamsRoutes(manager: () => StreamManager | null, vehicles: () => VehicleControl | null = () => null) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { store } = app.deps;
    const streams = () => {
      const m = manager();
      if (!m) throw new ApiError(503, '1001', 'streams unavailable');
      return m;
    };

    app.post<{ Params: { id: string }; Body: { replay?: string | number; start?: number; end?: number } }>(
      '/channels/:id/streams',
      {
        schema: {
          tags: ['streams'],
          summary: 'Start live view (deduplicated per channel) or, with replay=1, a playback of start..end.',
          params: idParams,
          body: {
            type: 'object',
            properties: {
              replay: { type: 'string', enum: ['0', '1'], description: '1: playback' },
              start: { type: 'integer', minimum: 1, description: 'Playback start, unix seconds' },
              end: { type: 'integer', minimum: 1, description: 'Playback end, unix seconds' },
            },
          },
          response: { 200: envelopeSchema(streamSchema), ...errorResponses },
        },
      },
      async (request) => {
        const body = request.body ?? {};
        const range = replayRange(body);
        if (range) return ok(await streams().start(request.params.id, { playback: range }));
        return ok(await streams().start(request.params.id));
      },
    );

    app.get<{ Querystring: ListQuery }>(
      '/streams',
      {
        schema: {
          tags: ['streams'],
          summary: 'List streams, closed ones included (filter on status).',
          querystring: listQuerystring,
          response: { 200: envelopeSchema(listSchema(streamSchema)), ...errorResponses },
        },
      },
      async (request) => {
        const { total, list } = await store.streams.list(request.query);
        const open = list.filter((row) => row.status === 0 && row.media_server !== 'zlm');
        const channel = open.length > 0 ? app.deps.media?.() : null;
        if (!channel) return ok({ Total: total, List: list });
        const nameOf = (row: (typeof list)[number]) => (row.kind === 'gb28181' ? rtpStreamName(row.streamid) : row.streamid);
        // Only this page's open streams are asked for.
        const stats = await channel.request('streams.stats', { names: open.map(nameOf) }, LIVE_STATS_TIMEOUT_MS).catch(() => null);
        const byName = new Map((stats ?? []).map(({ name, ...live }) => [name, live]));
        const withLive = list.map((row) => {
          const live = row.status === 0 ? byName.get(nameOf(row)) : undefined;
          return live ? { ...row, live } : row;
        });
        return ok({ Total: total, List: withLive });
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/streams/:id',
      {
        schema: {
          tags: ['streams'],
          summary:
            'Stop a stream: a camera stream (8 hex digits) gets BYE; a vehicle stream (URL-encoded `live/jt1078-<sim>-<channel>`) ' +
            'gets 0x9102 (close) to its terminal. Media closed, row closed.',
          params: {
            type: 'object',
            required: ['id'],
            properties: { id: { type: 'string', maxLength: 128, pattern: '^([0-9A-Fa-f]{8}|[A-Za-z0-9_./-]+-[0-9]+-[0-9]+)$' } },
          },
          response: { 200: envelopeSchema({ type: 'string' }), ...errorResponses },
        },
      },
      async (request) => {
        const { id } = request.params;
        if (/^[0-9A-Fa-f]{8}$/.test(id)) {
          if (!(await streams().stopById(id.toUpperCase(), 'stopped by API'))) throw notFound(`stream ${id} not found or already closed`);
          return ok('');
        }
        const row = await store.streams.getByStreamId(id);
        if (!row || row.status !== 0 || row.kind !== 'jt1078') throw notFound(`stream ${id} not found or already closed`);
        const control = vehicles();
        if (!control) throw new ApiError(503, '1001', 'JT/T 808 signalling unavailable');
        await control.stopStream(row, 'stopped by API');
        return ok('');
      },
    );

    app.post<{ Params: { id: string }; Body: { action: 'pause' | 'resume' | 'seek' | 'speed'; speed?: number; time?: number; position?: number; scale?: number } }>(
      '/streams/:id/playback',
      {
        schema: {
          tags: ['streams'],
          summary:
            'Control a playback: pause, resume, seek or speed. Camera playbacks get INFO with MANSRTSP (seek: `position` seconds from the start of the range; speed: `scale`); vehicle playbacks get 0x9202 (seek: `time` unix seconds; speed: `speed` 1 ×1, 2 ×2, 3 ×4, 4 ×8, 5 ×16).',
          params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 128, description: 'streamid (URL-encoded for JT/T 1078 names)' } } },
          body: {
            type: 'object',
            required: ['action'],
            properties: {
              action: { type: 'string', enum: ['pause', 'resume', 'seek', 'speed'] },
              speed: { type: 'integer', minimum: 1, maximum: 5, description: 'vehicle speed step' },
              time: { type: 'integer', minimum: 1, description: 'vehicle seek target, unix seconds' },
              position: { type: 'number', minimum: 0, description: 'camera seek: seconds from the start of the playback range' },
              scale: { type: 'number', enum: [0.25, 0.5, 1, 2, 4], description: 'camera speed: playback rate' },
            },
          },
          response: { 200: envelopeSchema({ description: 'camera: {streamid, cseq}; vehicle: ""' }), ...errorResponses },
        },
      },
      async (request) => {
        const { action, speed, time, position, scale } = request.body;
        // Camera stream ids are SSRCs in upper-case hex; vehicle ids are stream names.
        const id = /^[0-9a-f]{8}$/i.test(request.params.id) ? request.params.id.toUpperCase() : request.params.id;
        const row = await store.streams.getByStreamId(id);
        if (!row || row.status !== 0) throw notFound(`stream ${request.params.id} not found or closed`);
        if (row.kind === 'gb28181') {
          const manager = streams();
          let playback: PlaybackAction;
          if (action === 'seek') {
            if (position === undefined) throw badRequest('position', 'is required with action seek');
            playback = { action, position };
          } else if (action === 'speed') {
            if (scale === undefined) throw badRequest('scale', 'is required with action speed');
            playback = { action, scale };
          } else playback = { action };
          const updated = await manager.playbackControl(row, playback);
          return ok({ streamid: updated.streamid, cseq: updated.cseq });
        }
        if (action === 'speed' && speed === undefined) throw badRequest('speed', 'is required with action speed');
        if (action === 'seek' && time === undefined) throw badRequest('time', 'is required with action seek');
        const control = vehicles();
        if (!control) throw new ApiError(503, '1001', 'JT/T 808 signalling unavailable');
        await control.controlPlayback(row, action, (action === 'speed' ? speed : time) ?? 0);
        return ok('');
      },
    );

    app.post<{ Params: { id: string }; Body: { streamType: 0 | 1 } }>(
      '/streams/:id/switch',
      {
        schema: {
          tags: ['streams'],
          summary: 'Switch an open vehicle live stream between its main (0) and sub (1) stream: 0x9102 command 1 to the terminal.',
          params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 128, description: 'streamid (URL-encoded live/jt1078-<sim>-<channel>)' } } },
          body: { type: 'object', required: ['streamType'], properties: { streamType: { type: 'integer', enum: [0, 1], description: '0 main, 1 sub stream' } } },
          response: { 200: envelopeSchema({ description: 'the terminal answered 0x0001 OK' }), ...errorResponses },
        },
      },
      async (request) => {
        const row = await store.streams.getByStreamId(request.params.id);
        if (!row || row.status !== 0) throw notFound(`stream ${request.params.id} not found or closed`);
        if (row.kind !== 'jt1078') throw new ApiError(409, '1002', 'only vehicle streams have a main and a sub stream to switch between');
        const control = vehicles();
        if (!control) throw new ApiError(503, '1001', 'JT/T 808 signalling unavailable');
        await control.switchStream(row, request.body.streamType);
        return ok('');
      },
    );

    const forwardBody = {
      type: 'object',
      required: ['host', 'port'],
      properties: {
        host: { type: 'string', pattern: '^[A-Za-z0-9.:-]+$', maxLength: 255 },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        transport: { type: 'string', enum: ['udp', 'tcp'], default: 'udp' },
        ssrc: { type: 'integer', minimum: 0, maximum: 4294967295 },
      },
    } as const;
    const forwardSchema = {
      type: 'object',
      properties: { host: str, port: int, transport: str, ssrc: int },
    } as const;
    const streamParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 128, description: 'streamid' } } } as const;

    /** The media plane's name of an open stream, or a 404. */
    const liveName = async (id: string): Promise<string> => {
      const row = await store.streams.getByStreamId(id);
      if (!row || row.status !== 0) throw notFound(`stream ${id} not found or closed`);
      if (row.media_server === 'zlm') throw new ApiError(409, '1002', 'forwards need media.server: builtin');
      return row.kind === 'gb28181' ? rtpStreamName(row.streamid) : row.streamid;
    };
    const media = (): ParentChannel<MediaContract> => {
      const channel = app.deps.media?.();
      if (!channel) throw new ApiError(503, '1001', 'media process is restarting; retry');
      return channel;
    };

    app.post<{ Params: { id: string }; Body: { host: string; port: number; transport?: 'udp' | 'tcp'; ssrc?: number } }>(
      '/streams/:id/forwards',
      {
        schema: {
          tags: ['streams'],
          summary: 'Send a live stream to one more destination as PS over RTP (GB28181 inputs are relayed packet by packet with their own SSRC and sequence).',
          params: streamParams,
          body: forwardBody,
          response: { 200: envelopeSchema({ ...forwardSchema, properties: { ...forwardSchema.properties, mode: str } }), ...errorResponses },
        },
      },
      async (request) => {
        const name = await liveName(request.params.id);
        const { host, port, transport, ssrc } = request.body;
        const destination: Destination = { host, port, transport: transport ?? 'udp', ...(ssrc === undefined ? {} : { ssrc }) };
        const result = await media().request('forward.add', { name, destination });
        return ok({ host, port, transport: destination.transport, ...result });
      },
    );

    app.get<{ Params: { id: string } }>(
      '/streams/:id/forwards',
      {
        schema: {
          tags: ['streams'],
          summary: 'Destinations a live stream is sent to.',
          params: streamParams,
          response: { 200: envelopeSchema({ type: 'array', items: forwardSchema }), ...errorResponses },
        },
      },
      async (request) => ok(await media().request('forward.list', { name: await liveName(request.params.id) })),
    );

    app.delete<{ Params: { id: string }; Querystring: { host: string; port: number } }>(
      '/streams/:id/forwards',
      {
        schema: {
          tags: ['streams'],
          summary: 'Stop sending a live stream to host:port.',
          params: streamParams,
          querystring: { type: 'object', required: ['host', 'port'], properties: { host: forwardBody.properties.host, port: forwardBody.properties.port } },
          response: { 200: envelopeSchema({ type: 'string' }), ...errorResponses },
        },
      },
      async (request) => {
        const name = await liveName(request.params.id);
        const removed = await media().request('forward.remove', { name, host: request.query.host, port: request.query.port });
        if (!removed) throw notFound(`no forward to ${request.query.host}:${request.query.port}`);
        return ok('');
      },
    );
  };
}
