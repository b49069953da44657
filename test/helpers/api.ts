/** A fastify app from buildApi for inject() tests, with stand-in metrics and health, and a JSON caller. */
import { buildApi, type ApiDeps } from '../../src/supervisor/api/app.js';
import { createMetrics } from '../../src/supervisor/metrics.js';

export function testMetrics() {
  return createMetrics({ deviceCounts: async () => ({ online: 0, offline: 0 }), channelCount: async () => 0, threads: async () => ({ children: [], loads: [] }) }, 'test');
}

export async function injectApi(deps: Omit<ApiDeps, 'metrics' | 'sipHost' | 'version' | 'health'> & Partial<Pick<ApiDeps, 'metrics'>>) {
  const app = await buildApi({
    metrics: testMetrics(),
    sipHost: '203.0.113.5',
    version: 'test',
    health: async () => ({ status: 'ok', version: 'test', uptime: 1, parts: { api: { ok: true } } }),
    ...deps,
  });
  const call = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: object) => {
    const res = await app.inject({ method, url, ...(body ? { payload: body } : {}) });
    return { status: res.statusCode, body: res.json() };
  };
  return { app, call };
}
