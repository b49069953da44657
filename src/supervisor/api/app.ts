import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import formbody from '@fastify/formbody';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { CamgateConfig } from '../../shared/config/config.js';
import type { Metrics } from '../metrics.js';
import { DuplicateError, NotFoundError, QueryError, StoreError, type Store } from '../store/types.js';
import { ServiceError } from '../../shared/errors.js';
import type { ParentChannel } from '../../shared/contracts/lifecycle.js';
import type { MediaContract } from '../../shared/contracts/media.js';
import type { RecordsAnswer, SipContract } from '../../shared/contracts/sip.js';
import { rtpStreamName } from '../../shared/contracts/stream-name.js';
import { msgid, type ApiCode } from './envelope.js';
import { devicesRoutes } from './devices.js';
import { channelsRoutes } from './channels.js';
import { systemRoutes, type HealthReport } from './system.js';
import { streamsRoutes } from './streams.js';
import { controlRoutes } from './control.js';
import { vehiclesRoutes } from './vehicles.js';
import { alarmsRoutes } from './alarms.js';
import { platformsRoutes } from './platforms.js';
import { intercomRoutes } from './intercom.js';
import { downloadsRoutes } from './downloads.js';
import { SESSION_COOKIE, authenticated, sessionRoutes } from './session.js';
import { eventsRoutes, type EventFeed } from './events.js';
import { consoleRoutes, isConsolePath } from './console.js';
import type { ListenAddress } from './system.js';
import type { RecentLog } from '../recent-log.js';
import { createZlmHooks, zlmWebhookRoutes, ZlmTransportError } from '../../media-server/zlm/index.js';
import type { StreamManager } from '../streams.js';

/** gosip's record list shape plus whether the device sent all it announced. */
export type GosipRecordsWithState = RecordsAnswer;

/** What the API asks of the GB28181 signalling (the SIP thread). */
export interface GbControl {
  queryRecords(deviceId: string, channelId: string, start: number, end: number): Promise<GosipRecordsWithState>;
  /** Drops a deleted device's registration. */
  forgetDevice(deviceId: string): Promise<void>;
  /** Sends Catalog or DeviceInfo to an online device; the answer updates the store (and emits events). */
  queryDevice?(deviceId: string, what: 'catalog' | 'deviceinfo'): Promise<void>;
}

export interface ApiDeps {
  gb?: GbControl;
  /** The SIP thread's channel for GB28181 control (src/supervisor/api/control.ts); null while it restarts. */
  sip?: () => ParentChannel<SipContract> | null;
  /** The media process's channel, null while it restarts. */
  media?: () => ParentChannel<MediaContract> | null;
  /** Vehicles (JT/T 808 commands); null until the supervisor built it. */
  vehicles?: () => import('../vehicle-streams.js').VehicleControl | null;
  /** Upper platforms (cascade); null until the supervisor built it. */
  platforms?: () => import('../platforms.js').PlatformManager | null;
  /** Browser ⇄ vehicle intercom (src/supervisor/intercom.ts); null until the supervisor built it. */
  intercom?: () => import('../intercom.js').IntercomControl | null;
  /** GB28181 streams; null until the children are up. */
  streams?: () => import('../streams.js').StreamManager | null;
  /** GB28181 downloads into files; null until the supervisor built it. */
  downloads?: () => import('../downloads.js').DownloadManager | null;
  config: CamgateConfig;
  store: Store;
  metrics: Metrics;
  health(): Promise<HealthReport>;
  /** The address devices should use to reach our SIP port (advertised in POST /devices). */
  sipHost: string;
  version: string;
  /** A pino logger; request logs are kept to warn level unless it is at debug or trace. */
  logger?: import('pino').Logger;
  /** Every event the webhooks carry, for GET /events (the Notifier). */
  events?: EventFeed;
  /** Every listening address, for GET /system. */
  listening?: () => Promise<ListenAddress[]>;
  /** The latest warnings and errors, for GET /system/log. */
  recentLog?: Pick<RecentLog, 'entries'>;
}

declare module 'fastify' {
  interface FastifyInstance {
    deps: ApiDeps;
  }
}

/** Paths that answer without a token: probes and the API's own documentation. */
function isPublic(url: string, config: CamgateConfig): boolean {
  const path = url.split('?', 1)[0]!;
  if (path === '/healthz') return true;
  // ZLMediaKit cannot send a token; its hooks are checked by mediaServerId instead.
  if (path.startsWith('/zlm/webhook/')) return true;
  if (path === '/metrics') return config.api.publicMetrics;
  // The console's files and its sign-in (which checks the token itself).
  if (isConsolePath(path) || path === '/session') return true;
  return path === '/swagger' || path.startsWith('/swagger/');
}

function sendError(reply: import('fastify').FastifyReply, status: number, code: ApiCode, data: string) {
  return reply.code(status).send({ code, msgid: msgid(), data });
}

/** Names the field a schema validation error is about, e.g. `pwd` or `limit`. */
function validationField(error: FastifyError): string {
  const first = error.validation?.[0];
  if (!first) return error.validationContext ?? 'request';
  const params = first.params as Record<string, unknown>;
  const fromPath = first.instancePath.split('/').filter(Boolean).join('.');
  const extra = (params.missingProperty ?? params.additionalProperty ?? '') as string;
  return [fromPath, extra].filter(Boolean).join('.') || error.validationContext || 'request';
}

export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.logger
      ? {
          loggerInstance: deps.logger.child(
            { part: 'api' },
            { level: ['debug', 'trace'].includes(deps.logger.level) ? deps.logger.level : 'warn' },
          ) as unknown as FastifyBaseLogger,
        }
      : { logger: false }),
    bodyLimit: deps.config.api.bodyLimit,
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: true, allErrors: false } },
  });
  app.decorate('deps', deps);

  await app.register(formbody);
  await app.register(cookie);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'camgate',
        version: deps.version,
        description:
          'GB/T 28181 and JT/T 1078 media gateway. Responses use the envelope `{code, msgid, data}`: ' +
          'code "0" success, "1000" auth, "1001" store unavailable, "1002" bad parameter or not found, ' +
          '"1003" internal error. Request bodies may be JSON or application/x-www-form-urlencoded.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: 'Set by POST /session (the console)' },
        },
      },
      security: deps.config.api.tokens.length > 0 ? [{ bearer: [] }, { session: [] }] : [],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/swagger' });
  // gosip served the UI at /swagger/index.html; keep that address working.
  app.get('/swagger/index.html', { schema: { hide: true } }, (_req, reply) => reply.redirect('/swagger/'));

  const tokens = deps.config.api.tokens.map((t) => Buffer.from(t));
  if (tokens.length > 0) {
    app.addHook('onRequest', async (request, reply) => {
      if (isPublic(request.url, deps.config)) return;
      if (!authenticated(request, tokens)) {
        reply.header('www-authenticate', 'Bearer realm="camgate"');
        return sendError(reply, 401, '1000', 'authorization: a valid Bearer token (or session cookie) is required');
      }
    });
  }
  // A POST whose fields are all optional may come without a body (`curl -X POST`):
  // validate it as an empty object rather than answering "body: must be object".
  app.addHook('preValidation', async (request) => {
    if ((request.body === undefined || request.body === null) && request.routeOptions.schema?.body) request.body = {};
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    deps.metrics.httpDuration.observe(
      { method: request.method, route, status_class: `${Math.floor(reply.statusCode / 100)}xx` },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) {
      const field = validationField(error);
      const message = error.validation[0]?.message ?? 'is invalid';
      return sendError(reply, 400, '1002', `${field}: ${message}`);
    }
    // Errors raised anywhere (this process, the SIP thread, the media process) keep their status and code.
    const storeError: Error = error;
    if (storeError instanceof ServiceError) return sendError(reply, storeError.status, storeError.code, storeError.message);
    if (storeError instanceof QueryError) {
      return sendError(reply, 400, '1002', `${storeError.field}: ${storeError.message}`);
    }
    if (storeError instanceof DuplicateError) return sendError(reply, 409, '1002', storeError.message);
    if (storeError instanceof NotFoundError) return sendError(reply, 404, '1002', storeError.message);
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      // Fastify's own client errors: bad JSON, wrong content type, body too large.
      return sendError(reply, error.statusCode, '1002', `body: ${error.message}`);
    }
    if (storeError instanceof ZlmTransportError) {
      return sendError(reply, 503, '1001', `ZLMediaKit unreachable: ${storeError.message}`);
    }
    if (storeError instanceof StoreError || isDatabaseError(error)) {
      request.log.error({ err: error }, 'store error');
      return sendError(reply, 503, '1001', 'store unavailable');
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendError(reply, 500, '1003', 'internal error');
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, '1002', `no route ${request.method} ${request.url.split('?', 1)[0]}`),
  );

  await app.register(systemRoutes);
  await app.register(sessionRoutes(tokens));
  await app.register(eventsRoutes(deps.events));
  await app.register(consoleRoutes);
  await app.register(devicesRoutes);
  await app.register(channelsRoutes);
  await app.register(streamsRoutes(deps.streams ?? (() => null), deps.vehicles ?? (() => null)));
  await app.register(controlRoutes(deps.streams ?? (() => null)));
  await app.register(downloadsRoutes(deps.downloads ?? (() => null)));
  await app.register(vehiclesRoutes(deps.vehicles ?? (() => null)));
  await app.register(alarmsRoutes);
  await app.register(platformsRoutes(deps.platforms ?? (() => null)));
  await app.register(intercomRoutes(deps.intercom ?? (() => null)));
  if (deps.config.media.server === 'zlm' && deps.streams) await registerZlmHooks(app, deps.config, deps.streams);
  return app;
}

/** mysql2 and better-sqlite3 errors carry a `code` such as ER_… or SQLITE_…. */
function isDatabaseError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    typeof code === 'string' &&
    (code.startsWith('ER_') || code.startsWith('SQLITE_') || code === 'ECONNREFUSED' || code === 'PROTOCOL_CONNECTION_LOST')
  );
}

/**
 * ZLMediaKit's webhooks (media.server: zlm): streams are ours when an open row has
 * that id (or a live id this run started). Only a real viewer (on_play, or a player
 * that asked for the stream) counts as watching: handing out URLs does not, so with
 * `zlm.closeUnwatched: false` a feed nobody opened is kept.
 */
async function registerZlmHooks(app: FastifyInstance, config: CamgateConfig, streams: () => StreamManager | null): Promise<void> {
  const manager = () => streams();
  const hooks = createZlmHooks(
    {
      isOurs: (appName, stream) => appName === 'rtp' && ((manager()?.openIds.has(stream) || manager()?.liveIds.has(stream)) ?? false),
      onStreamRegistered: async (_app, stream) => void (await manager()?.mediaStarted(rtpStreamName(stream))),
      onStreamUnregistered: async (_app, stream, _schema, reason) =>
        void (await manager()?.mediaGone(stream, reason ?? 'media server dropped the stream')),
      startOnDemand: async (appName, stream) => appName === 'rtp' && ((await manager()?.startOnDemand(stream)) ?? false),
      onRtpServerTimeout: async (streamId) => void (await manager()?.mediaGone(streamId, 'no media (ZLMediaKit rtp server timeout)')),
      reconcile: async () => void (await manager()?.mediaServerRestarted()),
    },
    { closeUnwatched: config.zlm.closeUnwatched },
  );
  await zlmWebhookRoutes(app, { hooks, ...(config.zlm.mediaServerId ? { mediaServerId: config.zlm.mediaServerId } : {}) });
}
