import { tmpdir } from 'node:os';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { ApiError, envelopeSchema, errorEnvelopeSchema, errorResponses, notFound, ok, replayRange } from './envelope.js';
import { idParams, listSchema, rangeProperties } from './schemas.js';
import type { DownloadManager } from '../downloads.js';

const int = { type: 'integer' } as const;
const str = { type: 'string' } as const;

export const downloadSchema = {
  type: 'object',
  description: 'A GB28181 download (INVITE s=Download) of a recorded range into a PS or MP4 file.',
  properties: {
    id: str,
    deviceid: str,
    channelid: str,
    start: { type: 'integer', description: 'unix seconds' },
    end: { type: 'integer', description: 'unix seconds' },
    speed: { type: 'integer', description: 'a=downloadspeed asked for' },
    format: { type: 'string', enum: ['ps', 'mp4'] },
    state: { type: 'string', enum: ['running', 'done', 'failed', 'cancelled'] },
    reason: { type: ['string', 'null'], description: 'Why it ended' },
    streamid: { type: 'string', description: 'The stream carrying it (GET /streams)' },
    bytes: { type: 'integer', description: 'File size' },
    mediaSeconds: { type: 'number', description: 'Media time received (from the PS timestamps)' },
    progress: { type: 'number', description: 'mediaSeconds / (end - start), 0..1; 1 once done' },
    createdAt: int,
    finishedAt: { type: ['integer', 'null'] },
  },
} as const;

const downloadParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9a-f]{12}$' } } } as const;

export function downloadsRoutes(manager: () => DownloadManager | null) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const downloads = () => {
      const m = manager();
      if (!m) throw new ApiError(503, '1001', 'downloads unavailable');
      return m;
    };
    const found = (id: string) => {
      const download = downloads().get(id);
      if (!download) throw notFound(`download ${id} not found`);
      return download;
    };

    app.post<{ Params: { id: string }; Body: { start: number; end: number; speed?: number; format?: 'ps' | 'mp4' } }>(
      '/channels/:id/downloads',
      {
        schema: {
          tags: ['downloads'],
          summary: 'Download a recorded range of a camera channel into a PS or MP4 file: INVITE with s=Download, t=start end, a=downloadspeed.',
          description:
            'Done when the device says end of file (MediaStatus 121), when the media time received reaches end - start (then BYE), ' +
            'or when the device sends BYE; progress in GET /downloads/{id}, the file at GET /downloads/{id}/file. ' +
            '429 when downloads.maxConcurrent run already; 507 when the kept files hold downloads.maxTotalBytes; 409 with media.server: zlm.',
          params: idParams,
          body: {
            type: 'object',
            required: ['start', 'end'],
            properties: {
              ...rangeProperties,
              speed: { type: 'integer', minimum: 1, maximum: 4, default: 4, description: 'a=downloadspeed: times real time' },
              format: {
                type: 'string',
                enum: ['ps', 'mp4'],
                default: 'ps',
                description: 'ps: the device\'s program stream as received (audio included); mp4: its H.264/H.265 video in a fragmented MP4 (no audio)',
              },
            },
          },
          response: { 200: envelopeSchema(downloadSchema), 429: errorEnvelopeSchema, 507: errorEnvelopeSchema, ...errorResponses },
        },
      },
      async (request) => {
        const { start, end, speed, format } = request.body;
        const range = replayRange({ replay: '1', start, end })!;
        return ok(await downloads().start(request.params.id, { ...range, speed: speed ?? 4, format: format ?? 'ps' }));
      },
    );

    app.get(
      '/downloads',
      {
        schema: {
          tags: ['downloads'],
          summary: 'Downloads kept (running ones and those finished within downloads.retention), newest first.',
          response: { 200: envelopeSchema(listSchema(downloadSchema)), ...errorResponses },
        },
      },
      async () => {
        const list = downloads().list();
        return ok({ Total: list.length, List: list });
      },
    );

    app.get<{ Params: { id: string } }>(
      '/downloads/:id',
      {
        schema: {
          tags: ['downloads'],
          summary: 'One download: state, bytes and progress.',
          params: downloadParams,
          response: { 200: envelopeSchema(downloadSchema), ...errorResponses },
        },
      },
      async (request) => ok(found(request.params.id)),
    );

    // Range requests, ETag and Content-Disposition come from @fastify/static; nothing is served by path.
    const root = manager()?.dir ?? tmpdir();
    // The type is set only once a file is sent (mime would say PostScript for .ps); errors stay JSON.
    await app.register(fastifyStatic, {
      root,
      serve: false,
      decorateReply: true,
      contentType: false,
      setHeaders: (res, path) => void res.setHeader('content-type', path.endsWith('.mp4') ? 'video/mp4' : 'video/MP2P'),
    });
    app.get<{ Params: { id: string } }>(
      '/downloads/:id/file',
      {
        schema: {
          tags: ['downloads'],
          summary: 'The downloaded file (video/MP2P or video/mp4), as an attachment; Range requests are honoured. 409 while the download runs.',
          params: downloadParams,
          response: { 200: { type: 'string', format: 'binary' }, ...errorResponses },
        },
      },
      async (request, reply) => {
        const download = found(request.params.id);
        if (download.state === 'running') throw new ApiError(409, '1002', `download ${download.id} is running (${Math.round(download.progress * 100)} %)`);
        if (download.bytes === 0) throw notFound(`download ${download.id} has no file (${download.state}: ${download.reason})`);
        const name = `${download.channelid}_${download.start}_${download.end}.${download.format}`;
        // The name is digits and underscores only: no quoting or encoding needed.
        return reply.header('content-disposition', `attachment; filename="${name}"`).sendFile(`${download.id}.${download.format}`, root);
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/downloads/:id',
      {
        schema: {
          tags: ['downloads'],
          summary: 'Cancel a running download (BYE to the device) or forget a finished one; its file is deleted.',
          params: downloadParams,
          response: { 200: envelopeSchema({ type: 'string' }), ...errorResponses },
        },
      },
      async (request) => {
        if (!(await downloads().remove(request.params.id))) throw notFound(`download ${request.params.id} not found`);
        return ok('');
      },
    );
  };
}
