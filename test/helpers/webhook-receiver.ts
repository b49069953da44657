import type { Test } from 'tap';
import { createServer, type IncomingMessage } from 'node:http';

export interface ReceivedEvent {
  method: string;
  data: any;
  headers: IncomingMessage['headers'];
}

/** A webhook receiver on a free loopback port, collecting `{method, data}` bodies; closed at teardown. */
export async function webhookReceiver(t: Test): Promise<{ url: string; events: ReceivedEvent[] }> {
  const events: ReceivedEvent[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      events.push({ ...JSON.parse(body), headers: req.headers });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, events };
}
