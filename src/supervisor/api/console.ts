import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';

/**
 * The web console: `/` is its page, `/ui/…` its scripts and styles (built by
 * `npm run build` into dist/console from console/). Public like /swagger: the
 * files hold no data; the API calls they make need the session cookie.
 * Pages are hash routes (`/#/devices`), so they never collide with API routes.
 */

/** dist/console of this package, found by walking up to package.json; null when not built. */
export function consoleDir(): string | null {
  let dir = new URL('./', import.meta.url);
  for (let i = 0; i < 6; i++) {
    if (existsSync(new URL('package.json', dir))) {
      const built = new URL('dist/console/', dir);
      return existsSync(new URL('index.html', built)) ? fileURLToPath(built) : null;
    }
    dir = new URL('../', dir);
  }
  return null;
}

/** Paths the console is served at (public). */
export function isConsolePath(path: string): boolean {
  return path === '/' || path === '/favicon.ico' || path.startsWith('/ui/');
}

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  // Viewers are served from the media workers' ports (or ZLMediaKit): other origins.
  "connect-src 'self' http: https: ws: wss:",
  "media-src 'self' blob:",
  "frame-ancestors 'none'",
].join('; ');

export async function consoleRoutes(app: FastifyInstance): Promise<void> {
  const dir = consoleDir();
  if (!dir) {
    app.get('/', { schema: { hide: true } }, (_request, reply) =>
      reply.code(503).type('text/plain; charset=utf-8').send('The console is not built: run `npm run build`.\n'),
    );
    return;
  }
  const page = readFileSync(`${dir}index.html`);
  app.get('/', { schema: { hide: true } }, (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .send(page),
  );
  app.get('/favicon.ico', { schema: { hide: true } }, (_request, reply) => reply.code(204).send());
  // File names carry a content hash (esbuild), so they may be cached for good.
  await app.register(fastifyStatic, {
    root: `${dir}ui`,
    prefix: '/ui/',
    wildcard: false,
    preCompressed: true,
    immutable: true,
    maxAge: '365d',
    index: false,
    schemaHide: true,
  });
}
