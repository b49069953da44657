import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the webhook receiver saw it, with the status it answered. */
export interface Received {
  path: string;
  method: string;
  headers: IncomingHttpHeaders;
  /** Raw body, exactly as received. */
  body: string;
  /** Parsed body; undefined when it was not JSON. */
  json: { method?: string; data?: Record<string, unknown> } | undefined;
  /** Status answered; undefined while the request hangs or when the connection was cut. */
  status: number | undefined;
}

/** How to answer a request: a status, a promise of one, or 'hang' to never answer. */
export type Answer = (request: Received) => number | 'hang' | Promise<number>;

/** A real HTTP webhook receiver on 127.0.0.1 that records everything it gets. */
export class Receiver {
  answer: Answer = () => 200;
  readonly requests: Received[] = [];
  #server: Server | undefined;
  #port = 0;

  static async start(): Promise<Receiver> {
    const receiver = new Receiver();
    await receiver.listen();
    return receiver;
  }

  get port(): number {
    return this.#port;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.#port}${path}`;
  }

  /** Requests answered with a 2xx, i.e. the ones the notifier counts as delivered. */
  delivered(): Received[] {
    return this.requests.filter((request) => request.status !== undefined && request.status >= 200 && request.status < 300);
  }

  /** Listens again on the same port after stop() (port 0 the first time). */
  async listen(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: Received['json'];
        try {
          json = JSON.parse(body) as Received['json'];
        } catch {
          json = undefined;
        }
        const request: Received = { path: req.url ?? '', method: req.method ?? '', headers: req.headers, body, json, status: undefined };
        this.requests.push(request);
        const answer = this.answer(request);
        if (answer === 'hang') return;
        void Promise.resolve(answer).then((status) => {
          if (res.destroyed) return;
          request.status = status;
          res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'OK' : 'no');
        });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Closes the listener and cuts every open connection, hanging requests included. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
}

/** Polls until the predicate holds; fails the wait after `timeout` ms. */
export async function until(predicate: () => boolean, timeout = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
