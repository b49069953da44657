import t from 'tap';
import { ManagedChild, processSpawner, threadSpawner } from '../../src/shared/child.js';

const fixture = new URL('./fixtures/echo-child.ts', import.meta.url).pathname;

for (const kind of ['thread', 'process'] as const) {
  const spawner = (init: () => unknown) =>
    kind === 'thread' ? threadSpawner(fixture, init, 'echo') : processSpawner(fixture, init);

  t.test(`${kind}: a child that dies is restarted and serves again`, async (t) => {
    const child = new ManagedChild(`echo-${kind}`, spawner(() => ({})), { minBackoff: 50 });
    const events: string[] = [];
    child.on('died', () => events.push('died'));
    child.on('restarted', () => events.push('restarted'));
    await child.start();
    t.equal(child.state, 'running');
    t.match(await child.health(), { ok: true, restarts: 0, detail: { role: 'echo' } });
    const firstPid = child.pid;

    await child.channel!.request('crash');
    await new Promise<void>((resolve) => child.once('restarted', () => resolve()));
    t.same(events, ['died', 'restarted'], 'died before restarted');
    t.equal(child.restarts, 1);
    t.equal(await child.channel!.request('echo', 7), 7);
    if (kind === 'process') t.not(child.pid, firstPid, 'a new process');
    t.match(await child.health(), { ok: true, restarts: 1, lastExit: /code 3/ });

    child.kill(); // as SIGKILL / terminate would
    await new Promise<void>((resolve) => child.once('restarted', () => resolve()));
    t.equal(child.restarts, 2);

    await child.stop();
    t.equal(child.state, 'stopped');
    t.match(await child.health(), { ok: false });
  });
}

t.test('restarts back off exponentially while a child keeps failing', async (t) => {
  let spawns = 0;
  const spawnedAt: number[] = [];
  const diedAt: number[] = [];
  let failing = true;
  const child = new ManagedChild(
    'flaky',
    () => {
      spawns++;
      spawnedAt.push(Date.now());
      return threadSpawner(fixture, () => ({ failInit: failing && spawns > 1 }), 'flaky')();
    },
    // A thread that loads TypeScript can take seconds to start on a busy machine; the
    // backoff is measured from a death to the next spawn, not by the ready time.
    { minBackoff: 100, maxBackoff: 400, readyTimeout: 20_000 },
  );
  child.on('died', () => diedAt.push(Date.now()));
  await child.start();
  child.kill();
  while (spawns < 5) await new Promise((r) => setTimeout(r, 50));
  failing = false;
  await new Promise<void>((resolve) => child.once('restarted', () => resolve()));
  // The delay between a death and the next spawn is the backoff: 100, 200, 400, 400...
  const delays = diedAt.slice(0, 4).map((d, i) => spawnedAt[i + 1]! - d);
  t.ok(delays[0]! >= 80 && delays[0]! < 300, `first delay ${delays[0]}`);
  t.ok(delays[1]! >= 190, `second delay ${delays[1]}`);
  t.ok(delays[2]! >= 390, `third delay ${delays[2]}`);
  t.ok(delays[3]! >= 390 && delays[3]! < 1000, `capped at max: ${delays[3]}`);
  t.equal(child.state, 'running');
  await child.stop();
});

t.test('the first start fails loudly when the child cannot start', async (t) => {
  const child = new ManagedChild('broken', threadSpawner(fixture, () => ({ failInit: true }), 'broken'), {
    readyTimeout: 1000,
  });
  await t.rejects(child.start(), /broken did not start/);
  await child.stop();
});
