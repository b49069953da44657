import type { FastifyInstance } from 'fastify';
import type { CamgateConfig } from '../../shared/config/config.js';
import { envelopeSchema, errorResponses, ok } from './envelope.js';

/** One listening socket (or socket group) of the appliance, as the start log and GET /system list it. */
export interface ListenAddress {
  /** api, console, swagger, sip, jt808, jt1078-realtime, jt1078-playback, viewers, rtp, zlm */
  name: string;
  protocol: string;
  /** The address actually bound, host:port (or a port range). */
  bind: string;
  /** Where to point a browser, device or player, when there is such a URL. */
  url?: string;
}

const MASK = '********';
const SECRET_KEYS = new Set(['tokens', 'password', 'secret', 'pwd']);

/** The effective config with secrets masked: tokens, passwords, secrets, and a password in store.url. */
export function maskedConfig(config: CamgateConfig): unknown {
  const walk = (value: unknown, key: string): unknown => {
    if (SECRET_KEYS.has(key)) {
      if (Array.isArray(value)) return value.map(() => MASK);
      return value === '' ? '' : MASK;
    }
    if (key === 'url' && typeof value === 'string') return value.replace(/^(\w+:\/\/[^:/@]*):[^@]*@/, `$1:${MASK}@`);
    if (Array.isArray(value)) return value.map((v) => walk(v, ''));
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, k)]));
    }
    return value;
  };
  return walk(config, '');
}

const listenSchema = {
  type: 'object',
  required: ['name', 'protocol', 'bind'],
  properties: { name: { type: 'string' }, protocol: { type: 'string' }, bind: { type: 'string' }, url: { type: 'string' } },
} as const;

export interface PartHealth {
  ok: boolean;
  [key: string]: unknown;
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  version: string;
  uptime: number;
  parts: Record<string, PartHealth>;
}

const partSchema = { type: 'object', required: ['ok'], properties: { ok: { type: 'boolean' } }, additionalProperties: true };
const healthSchema = {
  type: 'object',
  description:
    'Health of every part: api, store, sip (thread), media (process and its workers), and zlm ' +
    '(ZLMediaKit reachable, its mediaServerId and the configured one) when media.server is zlm.',
  required: ['status', 'parts'],
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded'] },
    version: { type: 'string' },
    uptime: { type: 'number' },
    parts: { type: 'object', additionalProperties: partSchema },
  },
} as const;

export async function systemRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['system'],
        summary: 'Liveness and readiness of every part; 503 while any part is down.',
        response: { 200: healthSchema, 503: healthSchema },
      },
    },
    async (_request, reply) => {
      const report = await app.deps.health();
      return reply.code(report.status === 'ok' ? 200 : 503).send(report);
    },
  );

  app.get(
    '/system',
    {
      schema: {
        tags: ['system'],
        summary: 'Version, every listening address and the effective configuration (secrets masked).',
        response: {
          200: envelopeSchema({
            type: 'object',
            properties: {
              version: { type: 'string' },
              node: { type: 'string' },
              uptime: { type: 'number', description: 'seconds' },
              listening: { type: 'array', items: listenSchema },
              config: { type: 'object', additionalProperties: true, description: 'Effective config; tokens, passwords and secrets masked' },
            },
          }),
          ...errorResponses,
        },
      },
    },
    async () =>
      ok({
        version: app.deps.version,
        node: process.version,
        uptime: process.uptime(),
        listening: (await app.deps.listening?.()) ?? [],
        config: maskedConfig(app.deps.config),
      }),
  );

  app.get(
    '/system/log',
    {
      schema: {
        tags: ['system'],
        summary: 'The latest warnings and errors of the log (at most 100, newest first).',
        response: {
          200: envelopeSchema({
            type: 'array',
            items: {
              type: 'object',
              properties: {
                time: { type: 'integer', description: 'unix ms' },
                level: { type: 'string', enum: ['warn', 'error', 'fatal'] },
                msg: { type: 'string' },
                part: { type: 'string' },
                err: { type: 'string' },
              },
            },
          }),
          ...errorResponses,
        },
      },
    },
    async () => ok(app.deps.recentLog?.entries() ?? []),
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['system'],
        summary: 'Prometheus metrics (text exposition format).',
        produces: ['text/plain'],
        response: { 200: { type: 'string' } },
      },
    },
    async (_request, reply) => {
      const { registry } = app.deps.metrics;
      const body = await registry.metrics();
      return reply.type(registry.contentType).send(body);
    },
  );
}
