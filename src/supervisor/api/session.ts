import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, envelopeSchema, errorResponses, ok } from './envelope.js';

/**
 * Sign-in for the console. EventSource cannot send an Authorization header, so a
 * signed-in browser carries an HttpOnly, SameSite=Strict cookie instead. The cookie
 * is stateless: `<expiry>.<HMAC-SHA256(token, expiry)>`, keyed by the API token it
 * was signed in with, so it survives restarts and dies when that token is removed
 * from `api.tokens` (or at expiry).
 */

export const SESSION_COOKIE = 'camgate_session';
/** How long a sign-in lasts (s). */
export const SESSION_SECONDS = 12 * 3600;

function mac(token: Buffer, expires: number): Buffer {
  return createHmac('sha256', token).update(`camgate-session.${expires}`).digest();
}

export function signSession(token: Buffer, expires: number): string {
  return `${expires}.${mac(token, expires).toString('base64url')}`;
}

/** True when `value` is an unexpired session cookie signed with one of `tokens`. */
export function sessionValid(value: string | undefined, tokens: Buffer[], nowSeconds = Date.now() / 1000): boolean {
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value ?? '');
  if (!match) return false;
  const expires = Number(match[1]);
  if (expires <= nowSeconds) return false;
  // The signature's text is compared, not its decoded bytes: the last of 43 base64url
  // characters carries two unused bits, so four spellings decode alike, and only the
  // canonical one (what signSession wrote) is accepted.
  const presented = Buffer.from(match[2]!, 'ascii');
  let found = false;
  // Every token is tried, so timing does not tell which one matched.
  for (const token of tokens) if (timingSafeEqual(Buffer.from(mac(token, expires).toString('base64url'), 'ascii'), presented)) found = true;
  return found;
}

export function tokenMatches(presented: string, tokens: Buffer[]): Buffer | null {
  const candidate = Buffer.from(presented);
  let found: Buffer | null = null;
  for (const token of tokens) {
    // Compare against every token, in constant time per token, so timing tells nothing.
    if (token.length === candidate.length && timingSafeEqual(token, candidate)) found = token;
  }
  return found;
}

/** A request is authenticated by `Authorization: Bearer <token>` or the session cookie. */
export function authenticated(request: FastifyRequest, tokens: Buffer[]): boolean {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  if (match) return tokenMatches(match[1]!, tokens) !== null;
  return sessionValid(request.cookies[SESSION_COOKIE], tokens);
}

const sessionSchema = {
  type: 'object',
  required: ['auth', 'signedIn'],
  properties: {
    auth: { type: 'boolean', description: 'True when api.tokens is set: the API needs a token or a session' },
    signedIn: { type: 'boolean', description: 'True when this request is authenticated (always true without tokens)' },
    expires: { type: 'integer', description: 'Session expiry, unix seconds (after POST)' },
  },
} as const;

function setCookie(reply: FastifyReply, request: FastifyRequest, value: string, maxAge: number): void {
  reply.setCookie(SESSION_COOKIE, value, {
    path: '/',
    httpOnly: true,
    sameSite: 'strict',
    secure: request.protocol === 'https',
    maxAge,
  });
}

export function sessionRoutes(tokens: Buffer[]) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get(
      '/session',
      {
        schema: {
          tags: ['session'],
          summary: 'Whether the API needs a token and whether this request carries a valid one (or session cookie). Public.',
          response: { 200: envelopeSchema(sessionSchema), ...errorResponses },
        },
      },
      async (request) => ok({ auth: tokens.length > 0, signedIn: tokens.length === 0 || authenticated(request, tokens) }),
    );

    app.post<{ Body: { token?: string } }>(
      '/session',
      {
        schema: {
          tags: ['session'],
          summary: `Sign in with an API token: sets the HttpOnly, SameSite=Strict cookie \`${SESSION_COOKIE}\` (${SESSION_SECONDS / 3600} h), which the API and /events accept instead of the Bearer header. Public.`,
          body: {
            type: 'object',
            required: ['token'],
            properties: { token: { type: 'string', minLength: 1, maxLength: 512, description: 'One of api.tokens' } },
          },
          response: { 200: envelopeSchema(sessionSchema), ...errorResponses },
        },
      },
      async (request, reply) => {
        if (tokens.length === 0) return ok({ auth: false, signedIn: true });
        const token = tokenMatches(request.body.token ?? '', tokens);
        if (!token) throw new ApiError(401, '1000', 'token: not one of api.tokens');
        const expires = Math.floor(Date.now() / 1000) + SESSION_SECONDS;
        setCookie(reply, request, signSession(token, expires), SESSION_SECONDS);
        return ok({ auth: true, signedIn: true, expires });
      },
    );

    app.delete(
      '/session',
      {
        schema: {
          tags: ['session'],
          summary: 'Sign out: clears the session cookie in this browser. Public.',
          response: { 200: envelopeSchema(sessionSchema), ...errorResponses },
        },
      },
      async (request, reply) => {
        setCookie(reply, request, '', 0);
        return ok({ auth: tokens.length > 0, signedIn: tokens.length === 0 });
      },
    );
  };
}
