import t, { type Test } from 'tap';
import { createHmac } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Notifier, verifySignature, type NotifierLogger, type NotifierOptions } from '../../../src/supervisor/notify/index.js';
import { Receiver, sleep, until, type Received } from './fixtures/receiver.js';

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

const FAST_RETRY = { minDelay: 20, maxDelay: 100 };

interface LogLine {
  level: 'warn' | 'debug';
  obj: Record<string, unknown>;
  msg: string;
}

function captureLogger(): NotifierLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    warn: (obj, msg) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    debug: (obj, msg) => lines.push({ level: 'debug', obj: obj as Record<string, unknown>, msg }),
  };
}

/** A receiver and a notifier posting every listed event to it; both closed at test end. */
async function setup(
  t: Test,
  events: string[],
  options: Partial<NotifierOptions> = {},
): Promise<{ receiver: Receiver; notifier: Notifier }> {
  const receiver = await Receiver.start();
  const urls = Object.fromEntries(events.map((event) => [event, receiver.url(`/hook/${event}`)]));
  const notifier = new Notifier({ urls, timeout: 2000, retry: FAST_RETRY, ...options });
  t.teardown(async () => {
    await notifier.close({ drainTimeout: 0 });
    await receiver.stop();
  });
  return { receiver, notifier };
}

const seqOf = (request: Received) => request.json?.data?.['seq'] as number;
const keyOf = (request: Received) => request.json?.data?.['key'] as string;

t.test('posts exactly {"method","data"} with the event headers; unconfigured events are not sent', async (t) => {
  const { receiver, notifier } = await setup(t, ['devices.registered']);
  const data = { deviceid: '34020000001320000001', name: 'Gate 1', online: true, channels: 2 };

  t.equal(notifier.emit('devices.offline', { deviceid: 'x' }, 'x'), false, 'no URL for devices.offline: not queued');
  t.equal(notifier.emit('devices.registered', data, data.deviceid), true);
  data.name = 'changed after emit';
  await until(() => receiver.delivered().length === 1);
  await sleep(50);

  t.equal(receiver.requests.length, 1, 'only the configured event reached the receiver');
  const [request] = receiver.requests as [Received];
  t.equal(request.method, 'POST');
  t.equal(request.path, '/hook/devices.registered', 'per-event URL from the urls map');
  t.equal(
    request.body,
    '{"method":"devices.registered","data":{"deviceid":"34020000001320000001","name":"Gate 1","online":true,"channels":2}}',
    'body is byte-for-byte the gosip shape, with data as it was at emit time',
  );
  t.match(request.headers['content-type'], /^application\/json/);
  t.equal(request.headers['x-camgate-event'], 'devices.registered');
  t.match(request.headers['x-camgate-event-id'], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.equal(request.headers['x-camgate-attempt'], '1');
  const timestamp = Number(request.headers['x-camgate-timestamp']);
  t.ok(Math.abs(timestamp - Date.now() / 1000) < 5, 'timestamp is unix seconds, now');
  t.notOk('x-camgate-signature' in request.headers, 'unsigned without a secret');
  t.same(notifier.stats(), { queued: 0, inFlight: 0, backingOff: 0, delivered: 1, failedAttempts: 0, dropped: 0 });
});

t.test('signs timestamp + "." + body with HMAC-SHA256 when a secret is set', async (t) => {
  const secret = 'correct horse battery staple';
  const { receiver, notifier } = await setup(t, ['streams.started'], { secret });
  notifier.emit('streams.started', { streamid: 'gb_34020000001320000001_1', ssrc: '0100000001' }, 'd1');
  await until(() => receiver.delivered().length === 1);

  const request = receiver.requests[0]!;
  const timestamp = request.headers['x-camgate-timestamp'] as string;
  const expected = 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${request.body}`).digest('hex');
  t.equal(request.headers['x-camgate-signature'], expected, 'independently computed HMAC matches');
  t.ok(verifySignature(secret, timestamp, request.body, expected), 'reference verifier accepts it');
  t.notOk(verifySignature('wrong secret', timestamp, request.body, expected), 'wrong secret rejected');
  t.notOk(verifySignature(secret, timestamp, request.body.replace('0100000001', '0100000002'), expected), 'tampered body rejected');
  t.notOk(
    verifySignature(secret, timestamp, request.body, expected, { nowSeconds: Number(timestamp) + 301 }),
    'replay outside the 300 s window rejected',
  );
  t.notOk(verifySignature(secret, undefined, request.body, expected), 'missing timestamp rejected');
});

t.test('receiver outage: per-key order, exactly-once after recovery, other keys not held up', async (t) => {
  const { receiver, notifier } = await setup(t, ['devices.active']);
  let phase: 'fail-A' | 'fail-all' | 'ok' = 'fail-A';
  receiver.answer = (request) => (phase === 'ok' || (phase === 'fail-A' && keyOf(request) !== 'A') ? 200 : 503);

  const emitBoth = (from: number, to: number) => {
    for (let seq = from; seq <= to; seq++) {
      for (const key of ['A', 'B']) notifier.emit('devices.active', { key, seq }, key);
    }
  };

  // Phase 1: only A's events fail; B must get through while A retries.
  emitBoth(1, 5);
  await until(() => receiver.delivered().filter((r) => keyOf(r) === 'B').length === 5, 5000, "B's five events");
  const aAttempts = receiver.requests.filter((r) => keyOf(r) === 'A');
  t.ok(aAttempts.length >= 1, 'A was attempted');
  t.equal(receiver.delivered().filter((r) => keyOf(r) === 'A').length, 0, 'none of A delivered yet');
  t.same([...new Set(aAttempts.map(seqOf))], [1], 'A retries its first event and sends nothing after it');
  t.equal(new Set(aAttempts.map((r) => r.headers['x-camgate-event-id'])).size, 1, 'retries keep the event id');
  t.same(
    aAttempts.map((r) => r.headers['x-camgate-attempt']),
    aAttempts.map((_, index) => String(index + 1)),
    'attempt header counts up',
  );

  // Phase 2: everything fails with 503, then the receiver goes away (connection refused).
  phase = 'fail-all';
  emitBoth(6, 7);
  await until(() => receiver.requests.some((r) => keyOf(r) === 'B' && r.status === 503), 5000, 'a 503 for B');
  await receiver.stop();
  const failedBefore = notifier.stats().failedAttempts;
  await sleep(300);
  t.ok(notifier.stats().failedAttempts > failedBefore, 'refused connections count as failed attempts');
  t.equal(notifier.stats().delivered, 5, 'nothing delivered during the outage');
  t.equal(notifier.stats().queued, 9, 'A 1-7 and B 6-7 wait');

  // Recovery on the same port.
  phase = 'ok';
  await receiver.listen();
  await until(() => notifier.stats().delivered === 14, 5000, 'all 14 delivered');
  await sleep(100);

  for (const key of ['A', 'B']) {
    const delivered = receiver.delivered().filter((r) => keyOf(r) === key);
    t.same(delivered.map(seqOf), [1, 2, 3, 4, 5, 6, 7], `${key}: each event delivered exactly once, in order`);
    const attempted = receiver.requests.filter((r) => keyOf(r) === key).map(seqOf);
    t.same(attempted, [...attempted].sort((a, b) => a - b), `${key}: no attempt ever overtook an earlier event`);
  }
  const stats = notifier.stats();
  t.equal(stats.delivered, 14);
  t.equal(stats.dropped, 0);
  t.equal(stats.queued, 0);
  t.ok(stats.failedAttempts >= receiver.requests.filter((r) => r.status === 503).length);
});

t.test('a key backing off frees its slot at once, even with concurrency 1', async (t) => {
  const { receiver, notifier } = await setup(t, ['devices.active'], {
    concurrency: 1,
    retry: { minDelay: 2000, maxDelay: 2000 },
  });
  receiver.answer = (request) => (keyOf(request) === 'A' ? 503 : 200);
  notifier.emit('devices.active', { key: 'A', seq: 1 }, 'A');
  notifier.emit('devices.active', { key: 'B', seq: 1 }, 'B');
  const started = performance.now();
  await until(() => notifier.stats().delivered === 1, 5000, 'B delivered');
  const waited = performance.now() - started;
  t.ok(waited < 1000, `B delivered after ${waited.toFixed(0)} ms, not after A's 2 s backoff`);
  t.equal(notifier.stats().backingOff, 1, 'A still backing off');
});

t.test('random failures over many keys: each key complete, once, in order', async (t) => {
  const { receiver, notifier } = await setup(t, ['devices.active'], { concurrency: 4, retry: { minDelay: 5, maxDelay: 20 } });
  // Deterministic pseudo-random 35 % failure rate (LCG), mixing 503s and cut connections.
  let state = 12345;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  receiver.answer = () => {
    const roll = random();
    return roll < 0.25 ? 503 : roll < 0.35 ? 500 : 200;
  };
  const keys = Array.from({ length: 20 }, (_, index) => `dev${index}`);
  for (let seq = 1; seq <= 15; seq++) {
    for (const key of keys) notifier.emit('devices.active', { key, seq }, key);
  }
  await until(() => notifier.stats().delivered === 300, 15_000, 'all 300 delivered');
  t.ok(notifier.stats().failedAttempts > 0, `${notifier.stats().failedAttempts} failed attempts retried`);
  const expected = Array.from({ length: 15 }, (_, index) => index + 1);
  let allInOrder = true;
  for (const key of keys) {
    const delivered = receiver.delivered().filter((r) => keyOf(r) === key).map(seqOf);
    if (JSON.stringify(delivered) !== JSON.stringify(expected)) {
      allInOrder = false;
      t.fail(`${key} got ${delivered.join(',')}`);
    }
  }
  t.ok(allInOrder, 'every key got 1..15 exactly once, in order');
  t.equal(notifier.stats().dropped, 0);
});

t.test('a receiver that never answers times out, counts as failed and is retried', async (t) => {
  const { receiver, notifier } = await setup(t, ['channels.active'], { timeout: 150 });
  let calls = 0;
  receiver.answer = () => (++calls <= 2 ? 'hang' : 200);

  notifier.emit('channels.active', { channelid: '34020000001310000001', status: 'ON' }, 'dev');
  await until(() => notifier.stats().delivered === 1, 5000, 'delivery after two timeouts');
  t.equal(receiver.requests.length, 3, 'two hung attempts, then the delivered one');
  t.equal(notifier.stats().failedAttempts, 2);
  t.equal(notifier.stats().delivered, 1);
});

t.test('emit() returns synchronously and cheaply even while the receiver hangs', async (t) => {
  const { receiver, notifier } = await setup(t, ['devices.active'], { timeout: 10_000 });
  receiver.answer = () => 'hang';
  notifier.emit('devices.active', { warm: true });
  await until(() => receiver.requests.length >= 1, 5000, 'first request hanging');

  const started = performance.now();
  const result = notifier.emit('devices.active', { deviceid: '1' }, 'dev');
  const single = performance.now() - started;
  t.equal(typeof result, 'boolean', 'a plain boolean, not a promise');
  t.ok(single < 20, `one emit took ${single.toFixed(3)} ms`);

  const loopStart = performance.now();
  for (let i = 0; i < 2000; i++) notifier.emit('devices.active', { deviceid: String(i % 50), i }, String(i % 50));
  const loop = performance.now() - loopStart;
  t.ok(loop < 500, `2000 emits took ${loop.toFixed(1)} ms`);
  t.equal(notifier.stats().queued, 2002);
  await sleep(50);
  t.ok(notifier.stats().inFlight <= 16, 'in-flight requests bounded by the concurrency cap');
});

t.test('per-key cap drops the oldest queued event, never the one on the wire', async (t) => {
  const logger = captureLogger();
  const { receiver, notifier } = await setup(t, ['devices.active'], { queue: { perKey: 3 }, logger });

  for (let seq = 1; seq <= 10; seq++) notifier.emit('devices.active', { key: 'A', seq }, 'A');
  t.equal(notifier.stats().dropped, 7, 'seven dropped as they were queued');
  t.equal(notifier.stats().queued, 3);
  await until(() => receiver.delivered().length === 3);
  t.same(receiver.delivered().map(seqOf), [8, 9, 10], 'the newest three survive, in order');

  // Hold seq 11 on the wire, then overflow behind it.
  let release!: () => void;
  const gate = new Promise<number>((resolve) => (release = () => resolve(200)));
  receiver.answer = (request) => (seqOf(request) === 11 ? gate : 200);
  notifier.emit('devices.active', { key: 'A', seq: 11 }, 'A');
  await until(() => receiver.requests.some((r) => seqOf(r) === 11), 5000, 'seq 11 in flight');
  for (let seq = 12; seq <= 15; seq++) notifier.emit('devices.active', { key: 'A', seq }, 'A');
  t.equal(notifier.stats().dropped, 9, '12 and 13 dropped, not the in-flight 11');
  release();
  await until(() => receiver.delivered().length === 6);
  t.same(receiver.delivered().map(seqOf), [8, 9, 10, 11, 14, 15]);

  const dropLines = logger.lines.filter((line) => line.msg === 'webhook event dropped');
  t.equal(dropLines.length, 1, 'nine drops within ten seconds log one line');
});

t.test('with a per-key cap of 1 the newest event replaces the waiting one, the one on the wire is kept', async (t) => {
  const { receiver, notifier } = await setup(t, ['devices.active'], { queue: { perKey: 1 } });
  let release!: () => void;
  const gate = new Promise<number>((resolve) => (release = () => resolve(200)));
  receiver.answer = (request) => (seqOf(request) === 1 ? gate : 200);
  notifier.emit('devices.active', { seq: 1 }, 'A');
  await until(() => receiver.requests.length === 1, 5000, 'seq 1 in flight');
  for (let seq = 2; seq <= 5; seq++) notifier.emit('devices.active', { seq }, 'A');
  t.match(notifier.stats(), { queued: 2, dropped: 3 }, 'in-flight 1 plus the newest');
  release();
  await until(() => notifier.stats().delivered === 2);
  t.same(receiver.delivered().map(seqOf), [1, 5]);
});

t.test('global cap drops the oldest over all keys; drop log is rate limited with a suppressed count', async (t) => {
  const logger = captureLogger();
  let clock = 1_700_000_000_000;
  const { receiver, notifier } = await setup(t, ['devices.active'], {
    queue: { total: 5 },
    logger,
    now: () => clock,
  });

  for (let seq = 1; seq <= 10; seq++) notifier.emit('devices.active', { key: `k${seq}`, seq }, `k${seq}`);
  t.equal(notifier.stats().dropped, 5);
  t.equal(notifier.stats().queued, 5);
  await until(() => receiver.delivered().length === 5);
  await sleep(30);
  t.same(receiver.delivered().map(seqOf).sort((a, b) => a - b), [6, 7, 8, 9, 10], 'the oldest five went');
  t.equal(receiver.requests.length, 5, 'dropped events were never sent');

  let dropLines = logger.lines.filter((line) => line.msg === 'webhook event dropped');
  t.equal(dropLines.length, 1, 'one line for five drops');
  t.equal(dropLines[0]!.obj['suppressed'], 0);

  clock += 11_000;
  for (let seq = 11; seq <= 16; seq++) notifier.emit('devices.active', { key: 'x', seq }, 'x');
  dropLines = logger.lines.filter((line) => line.msg === 'webhook event dropped');
  t.equal(dropLines.length, 2, 'a new line after the interval');
  t.equal(dropLines[1]!.obj['suppressed'], 4, 'it reports the four lines held back');
  t.equal(dropLines[1]!.obj['droppedTotal'], 6);
});

t.test('maxAttempts gives up on an event and moves on to the next of the key', async (t) => {
  const { receiver, notifier } = await setup(t, ['streams.stopped'], { retry: { ...FAST_RETRY, maxAttempts: 3 } });
  receiver.answer = (request) => (seqOf(request) === 1 ? 500 : 200);
  notifier.emit('streams.stopped', { seq: 1 }, 'd');
  notifier.emit('streams.stopped', { seq: 2 }, 'd');
  await until(() => notifier.stats().delivered === 1);
  t.same(receiver.requests.map(seqOf), [1, 1, 1, 2]);
  t.match(notifier.stats(), { delivered: 1, failedAttempts: 3, dropped: 1, queued: 0 });
});

t.test('a 429/503 Retry-After longer than the backoff is honoured', async (t) => {
  const { receiver, notifier } = await setup(t, ['devices.active'], { retry: { minDelay: 10, maxDelay: 5000 } });
  // node:http cannot add headers through our Answer, so answer Retry-After via a custom server handler.
  await receiver.stop();
  const { createServer } = await import('node:http');
  const times: number[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      times.push(performance.now());
      if (times.length === 1) res.writeHead(503, { 'retry-after': '1' }).end();
      else res.writeHead(200).end('OK');
    });
  });
  await new Promise<void>((resolve) => server.listen(receiver.port, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  notifier.emit('devices.active', { seq: 1 });
  await until(() => notifier.stats().delivered === 1, 5000, 'the retry delivered');
  t.equal(times.length, 2);
  t.ok(times[1]! - times[0]! >= 900, `retried after ${(times[1]! - times[0]!).toFixed(0)} ms, not 10 ms`);
});

t.test('close() drains the queue, then refuses new events', async (t) => {
  const { receiver, notifier } = await setup(t, ['devices.active']);
  receiver.answer = () => sleep(30).then(() => 200);
  for (let seq = 1; seq <= 5; seq++) notifier.emit('devices.active', { key: 'A', seq }, 'A');
  const result = await notifier.close({ drainTimeout: 3000 });
  t.same(result, { drained: true, dropped: 0 });
  t.same(receiver.delivered().map(seqOf), [1, 2, 3, 4, 5]);
  t.equal(notifier.emit('devices.active', { key: 'A', seq: 6 }, 'A'), false, 'closed: not queued');
  await sleep(100);
  t.equal(receiver.requests.length, 5, 'nothing sent after close');
  t.equal(notifier.close(), notifier.close(), 'close is idempotent');
});

t.test('close() retries a backed-off event at once instead of sitting out the backoff', async (t) => {
  const { receiver, notifier } = await setup(t, ['devices.active'], { retry: { minDelay: 30_000, maxDelay: 60_000 } });
  let calls = 0;
  receiver.answer = () => (++calls === 1 ? 503 : 200);
  notifier.emit('devices.active', { seq: 1 }, 'A');
  await until(() => notifier.stats().backingOff === 1, 5000, 'backoff after the 503');
  const started = performance.now();
  const result = await notifier.close({ drainTimeout: 2000 });
  t.same(result, { drained: true, dropped: 0 });
  t.ok(performance.now() - started < 1000, 'did not wait 30 s');
  t.equal(receiver.delivered().length, 1);
});

t.test('close() gives up after the drain timeout, counts the rest as dropped, sends nothing more', async (t) => {
  const { receiver, notifier } = await setup(t, ['devices.active']);
  receiver.answer = () => 503;
  for (let seq = 1; seq <= 3; seq++) notifier.emit('devices.active', { key: 'A', seq }, 'A');
  notifier.emit('devices.active', { key: 'B', seq: 1 }, 'B');
  await until(() => receiver.requests.length >= 2);
  const started = performance.now();
  const result = await notifier.close({ drainTimeout: 200 });
  const elapsed = performance.now() - started;
  t.same(result, { drained: false, dropped: 4 });
  t.ok(elapsed >= 190 && elapsed < 1500, `close took ${elapsed.toFixed(0)} ms`);
  t.match(notifier.stats(), { queued: 0, inFlight: 0, backingOff: 0, dropped: 4, delivered: 0 });
  // Requests already on the wire when close() aborted them may still reach the server
  // late under load; after that settles, nothing new may come (retries would, within 100 ms).
  await sleep(200);
  const count = receiver.requests.length;
  await sleep(300);
  t.equal(receiver.requests.length, count, 'no retries after close resolved');
});

t.test('close() aborts a request that hangs', async (t) => {
  const { receiver, notifier } = await setup(t, ['devices.active'], { timeout: 30_000 });
  receiver.answer = () => 'hang';
  notifier.emit('devices.active', { seq: 1 }, 'A');
  await until(() => receiver.requests.length === 1);
  const started = performance.now();
  t.same(await notifier.close({ drainTimeout: 100 }), { drained: false, dropped: 1 });
  t.ok(performance.now() - started < 1000, 'the hanging fetch was aborted, not awaited');
});

t.test('emit() never throws: unserialisable data is dropped and counted', async (t) => {
  const { receiver, notifier } = await setup(t, ['devices.active']);
  const circular: Record<string, unknown> = {};
  circular['self'] = circular;
  t.doesNotThrow(() => t.equal(notifier.emit('devices.active', circular, 'A'), false));
  t.doesNotThrow(() => t.equal(notifier.emit('devices.active', { big: 1n } as object, 'A'), false));
  t.equal(notifier.stats().dropped, 2);
  notifier.emit('devices.active', { ok: true }, 'A');
  await until(() => receiver.delivered().length === 1);
  t.equal(receiver.requests.length, 1);
});

t.test('prom-client metrics: deliveries by event and result, queue depth, attempt durations', async (t) => {
  const registry = new Registry();
  const { receiver, notifier } = await setup(t, ['devices.registered', 'vendor.custom'], {
    registry,
    queue: { perKey: 1 },
  });
  let calls = 0;
  receiver.answer = (request) => (request.json?.method === 'devices.registered' && ++calls === 1 ? 503 : 200);
  notifier.emit('devices.registered', { seq: 1 }, 'A');
  notifier.emit('vendor.custom', { seq: 1 }, 'B');
  notifier.emit('vendor.custom', { seq: 2 }, 'B');
  t.equal((await registry.getSingleMetric('camgate_webhook_queue_depth')!.get()).values[0]!.value, 2);
  await until(() => notifier.stats().delivered === 2);

  const deliveries = await registry.getSingleMetric('camgate_webhook_deliveries_total')!.get();
  const count = (event: string, result: string) =>
    deliveries.values.find((v) => v.labels['event'] === event && v.labels['result'] === result)?.value ?? 0;
  t.equal(count('devices.registered', 'retry'), 1);
  t.equal(count('devices.registered', 'delivered'), 1);
  t.equal(count('other', 'dropped'), 1, 'unknown event names are labelled other');
  t.equal(count('other', 'delivered'), 1);
  t.notOk(deliveries.values.some((v) => v.labels['event'] === 'vendor.custom'), 'no unbounded labels');
  t.equal((await registry.getSingleMetric('camgate_webhook_queue_depth')!.get()).values[0]!.value, 0);
  const text = await registry.metrics();
  t.match(text, /camgate_webhook_delivery_duration_seconds_count\{result="delivered"\} 2/);
  t.match(text, /camgate_webhook_delivery_duration_seconds_count\{result="retry"\} 1/);

  // A second notifier on the same registry reuses the families instead of throwing.
  const second = new Notifier({ urls: {}, registry });
  t.equal(second.emit('devices.active', {}), false);
});

t.test('accepts a pino logger and the config.notify shape as is', async (t) => {
  const notify = { secret: '', timeout: 5000, urls: {} as Record<string, string> };
  const notifier = new Notifier({ ...notify, logger: pino({ level: 'silent' }) });
  t.equal(notifier.wants('devices.active'), false);
  t.same(await notifier.close(), { drained: true, dropped: 0 });
});

t.test('no unhandled rejections over the whole run', async (t) => {
  await sleep(50);
  t.same(unhandled, []);
});
