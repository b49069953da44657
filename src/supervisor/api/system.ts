import type { FastifyInstance } from 'fastify';

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
    'Health of every part: api, store, sip (thread), pool (piscina), media (process and its workers), and zlm ' +
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
