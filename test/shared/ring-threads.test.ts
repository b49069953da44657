import t from 'tap';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { RingBuffer, RingReader, RingWriter } from '../../src/shared/ring.js';
import { checkRecord, makeRecord, sizeSequence, tagFor } from './fixtures/records.js';
import type { RingPeerData, RingPeerReport } from './fixtures/ring-peer.js';

const PEER = new URL('./fixtures/ring-peer.ts', import.meta.url);

function startPeer(data: RingPeerData): { worker: Worker; report: Promise<RingPeerReport> } {
  const worker = new Worker(PEER, { workerData: data });
  const report = new Promise<RingPeerReport>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`ring peer exited with ${code} before reporting`)));
  });
  return { worker, report };
}

t.test('worker writes 200,000 random-size records, main thread reads them with waitAsync', async (t) => {
  const count = 200_000;
  const seed = 1078;
  const sab = RingBuffer.create(16 * 1024); // small: forces wraps and backpressure
  const maxLength = 2000;
  const reader = new RingReader(sab);
  const { worker, report } = startPeer({ role: 'producer', sab, count, seed, maxLength });

  const nextSize = sizeSequence(seed, maxLength);
  const failures: string[] = [];
  let seq = 0;
  let bytes = 0;
  await reader.run((view, tag) => {
    const length = nextSize();
    const problem = checkRecord(seq, length, view, tag);
    if (problem && failures.length < 10) failures.push(problem);
    bytes += length;
    seq++;
  });
  const producer = await report;
  await once(worker, 'exit');

  t.same(failures, [], 'every record intact, in order');
  t.equal(seq, count, 'every record arrived');
  t.equal(producer.records, count);
  const stats = RingBuffer.stats(sab);
  t.equal(stats.records, count, 'shared counter: records');
  t.equal(stats.bytes, bytes, 'shared counter: payload bytes');
  t.equal(stats.usedBytes, 0, 'ring empty at the end');
  t.ok(stats.writerClosed);
  t.equal(stats.fullEvents, producer.fullEvents, 'full events counted in shared memory');
  t.comment(`producer hit a full ring ${producer.fullEvents} times`);
});

t.test('wake-ups are never lost: a producer that pauses every few records', async (t) => {
  const count = 20_000;
  const sab = RingBuffer.create(64 * 1024);
  const reader = new RingReader(sab);
  const { worker, report } = startPeer({ role: 'producer', sab, count, seed: 808, maxLength: 300, pauseEvery: 10 });
  const nextSize = sizeSequence(808, 300);
  let seq = 0;
  let sleeps = 0;
  let bad = 0;
  // Hand-rolled loop instead of run(), to count how often the reader really slept.
  while (!reader.done) {
    reader.read((view, tag) => {
      if (checkRecord(seq++, nextSize(), view, tag) !== null) bad++;
    });
    if (reader.usedBytes === 0 && !reader.done) sleeps++;
    await reader.waitAsync();
  }
  await report;
  await once(worker, 'exit');
  t.equal(bad, 0);
  t.equal(seq, count);
  t.comment(`reader went to sleep ${sleeps} times`);
  t.ok(sleeps > 100, 'the reader did sleep and get woken many times');
});

t.test('main thread writes, a worker whose only work is the ring reads', async (t) => {
  const count = 100_000;
  const seed = 28181;
  const maxLength = 1400;
  const sab = RingBuffer.create(8 * 1024);
  const { worker, report } = startPeer({ role: 'consumer', sab, count, seed, maxLength });
  const writer = new RingWriter(sab);
  const nextSize = sizeSequence(seed, maxLength);
  for (let seq = 0; seq < count; seq++) {
    const length = nextSize();
    const record = makeRecord(seq, length);
    while (!writer.tryWrite(record, tagFor(seq))) {
      if (!(await writer.waitForSpace(length))) return t.fail('ring closed under the writer');
    }
    // Let the consumer fall asleep now and then, so wake-ups get exercised too.
    if (seq % 10_000 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  writer.close();
  const consumer = await report;
  await once(worker, 'exit');
  t.same(consumer.failures, []);
  t.equal(consumer.records, count);
});

t.test('a reader can close while the worker is still producing', async (t) => {
  const sab = RingBuffer.create(4096);
  const reader = new RingReader(sab);
  const { worker, report } = startPeer({ role: 'producer', sab, count: 1_000_000, seed: 5, maxLength: 500 });
  let seen = 0;
  await reader.run(() => {
    if (++seen === 5000) reader.close();
  });
  const producer = await report; // the producer's waitForSpace must not hang on a dead reader
  await once(worker, 'exit');
  t.equal(seen, 5000);
  t.ok(producer.records < 1_000_000, 'the producer gave up once the reader closed');
  t.ok(RingBuffer.stats(sab).readerClosed);
});
