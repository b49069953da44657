/**
 * `POST /zlm/webhook/:hook`: where ZLMediaKit's `[hook]` URLs point.
 *
 * ZLM expects its own reply shape (HTTP 200, JSON with an integer `code`), not camgate's
 * `{code, msgid, data}` envelope, so these routes live in their own encapsulated fastify scope
 * with their own body parser and error handler; nothing here leaks into the rest of the API.
 *
 * ZLM sends no secret with its hooks: every body carries `mediaServerId` (and `hook_index`), and
 * the request comes from ZLM's address. Those are the two things checked, when configured. Note that
 * the API's Bearer-token check cannot apply here (ZLM cannot send a token), so the path must be
 * exempt from it where the API is assembled.
 */
import type { FastifyError, FastifyInstance, FastifySchema } from 'fastify';
import type { ZlmHooks } from './hooks.js';

export interface ZlmWebhookRoutesOptions {
  hooks: ZlmHooks;
  /** ZLM's `general.mediaServerId`; bodies naming another server are refused with 403. */
  mediaServerId?: string;
  /** Addresses ZLM posts from (as fastify reports `request.ip`); requests from elsewhere are refused with 403. */
  allowedSources?: readonly string[];
}

export const ZLM_WEBHOOK_PATH = '/zlm/webhook/:hook';

/** Registers the webhook route in a child scope of `app`; call it directly or through `app.register`. */
export async function zlmWebhookRoutes(app: FastifyInstance, options: ZlmWebhookRoutesOptions): Promise<void> {
  const { hooks } = options;
  const allowed = options.allowedSources ? new Set(options.allowedSources) : undefined;

  await app.register(async (scope) => {
    // Take the body as text whatever the content type, so bad JSON is ours to answer in ZLM's shape.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

    scope.setErrorHandler((error: FastifyError, request, reply) => {
      const hook = (request.params as { hook?: string } | undefined)?.hook ?? 'unknown';
      const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
      if (status < 500) {
        const outcome = hooks.malformed(hook, error.message);
        return reply.code(status).send(outcome.reply);
      }
      request.log.error({ err: error, hook }, 'zlm webhook failed');
      return reply.code(500).send({ code: -1, msg: 'internal error' });
    });

    scope.post<{ Params: { hook: string }; Body: string | undefined }>(
      ZLM_WEBHOOK_PATH,
      // Not part of camgate's documented API; `hide` is @fastify/swagger's flag, typed there only.
      { schema: { hide: true } as unknown as FastifySchema },
      async (request, reply) => {
        const hook = request.params.hook;
        if (allowed && !allowed.has(request.ip)) {
          return reply.code(403).send(hooks.refused(hook, `source ${request.ip} is not an allowed ZLMediaKit address`));
        }
        let body: unknown;
        try {
          body = typeof request.body === 'string' && request.body.length > 0 ? JSON.parse(request.body) : undefined;
        } catch {
          const outcome = hooks.malformed(hook, 'body is not JSON');
          return reply.code(outcome.status).send(outcome.reply);
        }
        if (body === undefined) {
          const outcome = hooks.malformed(hook, 'body is empty');
          return reply.code(outcome.status).send(outcome.reply);
        }
        if (options.mediaServerId !== undefined && typeof body === 'object' && body !== null) {
          const from = (body as { mediaServerId?: unknown }).mediaServerId;
          if (from !== options.mediaServerId) {
            return reply.code(403).send(hooks.refused(hook, `mediaServerId ${String(from)} is not ours`));
          }
        }
        const outcome = await hooks.handle(hook, body);
        return reply.code(outcome.status).send(outcome.reply);
      },
    );
  });
}
