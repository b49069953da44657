import t from 'tap';
import { createServer, type Socket } from 'node:net';
import { openDriver, StoreError } from '../../../src/supervisor/store/index.js';
import { scratchDatabase } from '../../helpers/mariadb.js';
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

t.test('a transaction that finishes after its deadline is rolled back, not committed behind the caller', async (t) => {
  const db = await scratchDatabase(t, 'camgate_deadline');
  if (!db) return;
  const driver = openDriver(db.url, { timeoutMs: 300 });
  t.teardown(async () => {
    await driver.close();
    await db.drop();
  });
  await driver.run('CREATE TABLE late (id INT PRIMARY KEY)');
  let finished!: () => void;
  const workDone = new Promise<void>((resolve) => (finished = resolve));
  const error = await driver
    .transaction(async (tx) => {
      await tx.run('INSERT INTO late (id) VALUES (?)', [1]);
      await new Promise((r) => setTimeout(r, 600)); // a slow server, past the 300 ms bound
      finished();
    })
    .then(() => null, (e: unknown) => e);
  t.ok(error instanceof StoreError, 'the caller got a StoreError');
  t.match((error as Error).message, /timed out after 300 ms/);
  await workDone;
  await new Promise((r) => setTimeout(r, 100)); // let the late rollback run
  t.same(await driver.all('SELECT id FROM late'), [], 'the late insert was rolled back');
  await driver.transaction((tx) => tx.run('INSERT INTO late (id) VALUES (?)', [2]));
  t.same(await driver.all('SELECT id FROM late'), [{ id: 2 }], 'a transaction within the bound commits');
});

t.test('a busy pool is load, not an outage: queued operations wait past the bound while the server answers', async (t) => {
  const db = await scratchDatabase(t, 'camgate_busy');
  if (!db) return;
  // Two connections, forty transactions of ~60 ms each: the last one waits ~1.2 s in the
  // pool's queue, four times the 300 ms bound, and must still succeed.
  const driver = openDriver(db.url, { timeoutMs: 300, poolSize: 2 });
  t.teardown(async () => {
    await driver.close();
    await db.drop();
  });
  const started = performance.now();
  const results = await Promise.allSettled(
    Array.from({ length: 40 }, (_, i) => driver.transaction(async (tx) => {
      await tx.all('SELECT SLEEP(0.06) AS s');
      return i;
    })),
  );
  const ms = performance.now() - started;
  const failed = results.filter((r) => r.status === 'rejected');
  t.equal(failed.length, 0, `no operation failed (first: ${failed[0] && String((failed[0] as PromiseRejectedResult).reason)})`);
  t.ok(ms > 600, `the queue really was longer than the bound: ${Math.round(ms)} ms`);
});

t.test('withDeadline: silence counts from the last answer, with a hard cap', async (t) => {
  const { withDeadline, ServerLiveness } = await import('../../../src/supervisor/store/mysql-driver.js');
  const liveness = new ServerLiveness();
  const never = new Promise<never>(() => undefined);
  // The server keeps answering other queries every 50 ms: a 200 ms bound does not fire…
  const ticker = setInterval(() => liveness.answered(), 50);
  const started = performance.now();
  const error = await withDeadline(never, 200, undefined, liveness).then(() => null, (e: unknown) => e);
  clearInterval(ticker);
  const ms = performance.now() - started;
  // …until the hard cap, 20 × 200 ms.
  t.ok(error instanceof StoreError, 'gives up at last');
  t.ok(ms >= 3900 && ms < 5500, `after the hard cap: ${Math.round(ms)} ms`);

  const silentStart = performance.now();
  const silentError = await withDeadline(never, 200, undefined, liveness).then(() => null, (e: unknown) => e);
  const silentMs = performance.now() - silentStart;
  t.ok(silentError instanceof StoreError);
  t.ok(silentMs >= 190 && silentMs < 600, `a silent server: after ${Math.round(silentMs)} ms`);
});
