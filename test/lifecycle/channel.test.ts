import t from 'tap';
import { MessageChannel } from 'node:worker_threads';
import { Channel, portEndpoint } from '../../src/shared/channel.js';
import { ChannelClosedError, ChannelTimeoutError, RemoteError } from '../../src/shared/errors.js';
import { processSpawner, threadSpawner } from '../../src/shared/child.js';

const fixture = new URL('./fixtures/echo-child.ts', import.meta.url).pathname;

function pair() {
  const { port1, port2 } = new MessageChannel();
  const a = new Channel(portEndpoint(port1), { timeout: 500 });
  const b = new Channel(portEndpoint(port2), { timeout: 500 });
  return { a, b, port1, port2 };
}

t.test('request and response are correlated by id', async (t) => {
  const { a, b, port1 } = pair();
  b.handle('double', (n) => (n as number) * 2);
  b.handle('slow', (n) => new Promise((r) => setTimeout(() => r(n), 30 - (n as number) * 10)));
  t.equal(await a.request('double', 21), 42);
  // Answers arriving out of order still reach their own callers.
  t.same(await Promise.all([0, 1, 2].map((n) => a.request('slow', n))), [0, 1, 2]);
  t.equal(a.pendingCount, 0);
  port1.close();
});

t.test('remote errors, unknown methods and timeouts reject', async (t) => {
  const { a, b, port1 } = pair();
  b.handle('fail', () => {
    throw new RangeError('nope');
  });
  b.handle('never', () => new Promise(() => undefined));
  const failed = (await a.request('fail').catch((e: unknown) => e)) as RemoteError;
  t.type(failed, RemoteError);
  t.equal(failed.name, 'RangeError');
  t.equal(failed.message, 'nope');
  t.match(await a.request('missing').catch((e) => e), { name: 'UnknownMethod' });
  t.type(await a.request('never', undefined, 50).catch((e) => e), ChannelTimeoutError);
  t.equal(a.pendingCount, 0, 'timed-out request forgotten');
  port1.close();
});

t.test('notifications arrive in order after preceding responses', async (t) => {
  const { a, b, port1 } = pair();
  const seen: unknown[] = [];
  a.onNote('tick', (n) => seen.push(n));
  b.handle('go', () => {
    b.notify('tick', 1);
    b.notify('tick', 2);
    return 'went';
  });
  t.equal(await a.request('go'), 'went');
  await new Promise((r) => setImmediate(r));
  t.same(seen, [1, 2]);
  port1.close();
});

t.test('closing rejects every pending request', async (t) => {
  const { a, b, port2 } = pair();
  b.handle('never', () => new Promise(() => undefined));
  const pending = [a.request('never', 1, 5000), a.request('never', 2, 5000)];
  await new Promise((r) => setTimeout(r, 20));
  port2.close(); // the peer goes away
  for (const p of pending) t.type(await p.catch((e) => e), ChannelClosedError);
  t.ok(a.closed);
  t.type(await a.request('never').catch((e) => e), ChannelClosedError, 'no request after close');
});

t.test('a dying thread rejects pending requests', async (t) => {
  const child = threadSpawner(fixture, () => ({}), 'echo')();
  await new Promise((r) => child.channel.once('note:ready', r));
  t.same(await child.channel.request('echo', { a: [1, 2] }), { a: [1, 2] });
  const slow = child.channel.request('sleep', 5000, 10_000);
  child.kill();
  const error = await slow.catch((e) => e);
  t.type(error, ChannelClosedError);
  t.match(await child.exited, /thread exited/);
});

t.test('a killed process rejects pending requests', async (t) => {
  const child = processSpawner(fixture, () => ({}))();
  await new Promise((r) => child.channel.once('note:ready', r));
  t.equal(await child.channel.request('echo', 'hi'), 'hi');
  const slow = child.channel.request('sleep', 5000, 10_000);
  child.kill();
  t.type(await slow.catch((e) => e), ChannelClosedError);
  t.match(await child.exited, /SIGKILL/);
});
