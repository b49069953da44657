import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import { Counter, Gauge } from 'prom-client';
import { ApiError, errorResponses } from './envelope.js';
import type { EventListener } from '../notify/index.js';

/** What `GET /events` listens to: the notifier, which sees every webhook event. */
export interface EventFeed {
  subscribe(listener: EventListener): () => void;
}

/** Open `/events` streams at most; more get a 503. */
export const MAX_EVENT_CLIENTS = 100;
/** A client that has this much unsent (ms: a stalled tab) is dropped; EventSource reconnects. */
export const MAX_EVENT_BACKLOG = 1024 * 1024;
const HEARTBEAT_MS = 15_000;

interface Client {
  res: ServerResponse;
  unsubscribe: () => void;
  heartbeat: NodeJS.Timeout;
}

/**
 * `GET /events`: server-sent events carrying the same events and bodies as the
 * webhooks (`event: <name>`, `data: {"method","data"}`), authenticated like the API
 * (Bearer token or the console's session cookie).
 */
export function eventsRoutes(feed: EventFeed | undefined) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const clients = new Set<Client>();
    let nextId = 1;
    const registry = app.deps.metrics.registry;
    new Gauge({
      name: 'camgate_events_clients',
      help: 'Open GET /events (server-sent events) streams.',
      registers: [registry],
      collect() {
        this.set(clients.size);
      },
    });
    const refused = new Counter({
      name: 'camgate_events_refused_total',
      help: `GET /events streams refused (more than ${MAX_EVENT_CLIENTS} open) or dropped (a client more than ${MAX_EVENT_BACKLOG} bytes behind).`,
      labelNames: ['reason'] as const,
      registers: [registry],
    });
    for (const reason of ['limit', 'backlog']) refused.inc({ reason }, 0);

    const end = (client: Client) => {
      if (!clients.delete(client)) return;
      client.unsubscribe();
      clearInterval(client.heartbeat);
      client.res.end();
    };
    // Open streams would hold fastify.close() forever: end them first.
    app.addHook('preClose', async () => {
      for (const client of [...clients]) end(client);
    });

    app.get(
      '/events',
      {
        schema: {
          tags: ['events'],
          summary: 'Server-sent events: every event the webhooks carry, as it happens.',
          description:
            'A `text/event-stream` (EventSource). Each event has `id` (a counter per connection), `event` ' +
            '(devices.registered, devices.active, devices.offline, channels.active, channels.added, channels.removed, channels.alarm, streams.started, streams.stopped, vehicles.online, vehicles.offline, vehicles.position, vehicles.alarm, platforms.online, platforms.offline) ' +
            'and `data`, the webhook body `{"method": <event>, "data": {...}}`, whether or not a webhook URL is ' +
            'configured for it. A comment line is sent every 15 s. Authenticated like the API: ' +
            '`Authorization: Bearer <token>` or the session cookie set by `POST /session`. ' +
            `At most ${MAX_EVENT_CLIENTS} streams at once (503 beyond); a client more than ` +
            `${MAX_EVENT_BACKLOG} bytes behind is disconnected (EventSource reconnects).`,
          produces: ['text/event-stream'],
          response: {
            200: { type: 'string', description: 'text/event-stream' },
            401: errorResponses[401],
            503: errorResponses[503],
          },
        },
      },
      async (_request, reply) => {
        if (!feed) throw new ApiError(503, '1001', 'events unavailable');
        if (clients.size >= MAX_EVENT_CLIENTS) {
          refused.inc({ reason: 'limit' });
          throw new ApiError(503, '1001', `too many /events streams (${MAX_EVENT_CLIENTS})`);
        }
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        res.write('retry: 3000\n: camgate events\n\n');
        const client: Client = {
          res,
          unsubscribe: () => undefined,
          heartbeat: setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS),
        };
        client.heartbeat.unref();
        client.unsubscribe = feed.subscribe((event, data) => {
          if (res.writableLength > MAX_EVENT_BACKLOG) {
            refused.inc({ reason: 'backlog' });
            end(client);
            return;
          }
          res.write(`id: ${nextId++}\nevent: ${event}\ndata: ${JSON.stringify({ method: event, data })}\n\n`);
        });
        clients.add(client);
        // The response's close is the connection's end; the request's may come as soon as its (empty) body is read.
        res.once('close', () => end(client));
      },
    );
  };
}
