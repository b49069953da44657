import t from 'tap';
import { createServer, type Socket } from 'node:net';
import { openDriver, StoreError } from '../../../src/supervisor/store/index.js';
import { freePort } from '../../helpers/ports.js';

/*
 * The MySQL driver's bound per operation, against real sockets: a server that accepts
 * TCP and never answers (a frozen mariadbd) and a port nobody listens on (a stopped one).
 */

t.test('a server that accepts and never answers fails each operation after store.timeout', async (t) => {
  const sockets: Socket[] = [];
  const silent = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  const driver = openDriver(`mysql://root@127.0.0.1:${port}/camgate`, { timeoutMs: 300 });
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
    await driver.close().catch(() => undefined);
  });

  for (const [name, operation] of [
    ['all', () => driver.all('SELECT 1')],
    ['run', () => driver.run('UPDATE x SET y = ?', [1])],
    ['transaction', () => driver.transaction((tx) => tx.all('SELECT 1'))],
  ] as const) {
    const started = performance.now();
    const error = await operation().then(() => null, (e: unknown) => e);
    const ms = performance.now() - started;
    t.ok(error instanceof StoreError, `${name}: a StoreError`);
    // The connect bound (mysql2 connectTimeout) or the operation deadline, whichever fires first.
    t.match((error as Error).message, /^store unavailable: (timed out after 300 ms|connect ETIMEDOUT)$/, `${name}: says why`);
    t.ok(ms >= 290 && ms < 1000, `${name}: failed after ${Math.round(ms)} ms (bound 300)`);
  }
  t.ok(sockets.length > 0, 'the driver did reach the silent server');
});

t.test('a port nobody listens on fails at once with a StoreError', async (t) => {
  const port = await freePort();
  const driver = openDriver(`mysql://root@127.0.0.1:${port}/camgate`, { timeoutMs: 5000 });
  t.teardown(() => driver.close().catch(() => undefined));
  const started = performance.now();
  const error = await driver.all('SELECT 1').then(() => null, (e: unknown) => e);
  const ms = performance.now() - started;
  t.ok(error instanceof StoreError, 'a StoreError, not a raw socket error');
  t.match((error as Error).message, /^store unavailable: /);
  t.ok(ms < 1000, `refused in ${Math.round(ms)} ms, well before the 5000 ms bound`);
});
