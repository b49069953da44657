import t from 'tap';
import fc from 'fast-check';
import { RING_HEADER_BYTES, RingBuffer, RingReader, RingWriter } from '../../src/shared/ring.js';
import { checkRecord, fillRecord, makeRecord, seededRandom, sizeSequence, tagFor } from './fixtures/records.js';

const CANARY = 0xa5;
const GUARD = 64;

/** A ring placed between two canary zones, with every byte of the buffer pre-set to the canary. */
function guardedRing(capacity: number) {
  const sab = new SharedArrayBuffer(GUARD + RingBuffer.byteLengthFor(capacity) + GUARD);
  new Uint8Array(sab).fill(CANARY);
  RingBuffer.init(sab, GUARD, capacity);
  return {
    sab,
    writer: new RingWriter(sab, { byteOffset: GUARD, autoFlush: false, batchBytes: 0 }),
    reader: new RingReader(sab, { byteOffset: GUARD }),
    canariesIntact(): boolean {
      const bytes = new Uint8Array(sab);
      const after = GUARD + RING_HEADER_BYTES + capacity;
      for (let i = 0; i < GUARD; i++) if (bytes[i] !== CANARY || bytes[after + i] !== CANARY) return false;
      return true;
    },
  };
}

/** Reads everything available into [view copy, tag] pairs. */
function drain(reader: RingReader, max = Infinity): Array<[Uint8Array, number]> {
  const out: Array<[Uint8Array, number]> = [];
  reader.read((view, tag) => out.push([view.slice(), tag]), max);
  return out;
}

/** On-ring size of a record, as the layout defines it: 8-byte header, payload padded to 8. */
const recordBytes = (length: number) => (8 + length + 7) & ~7;

t.test('create validates capacity and lays out an empty ring', async (t) => {
  t.throws(() => RingBuffer.create(100), RangeError);
  t.throws(() => RingBuffer.create(16), RangeError);
  const sab = RingBuffer.create(1024);
  t.equal(sab.byteLength, RING_HEADER_BYTES + 1024);
  t.throws(() => new RingWriter(new SharedArrayBuffer(4096)), TypeError, 'no ring there');
  t.throws(() => new RingReader(sab, { byteOffset: 8 }), RangeError, 'offset not 64-aligned');
  const writer = new RingWriter(sab);
  t.equal(writer.maxRecordBytes, 1024 / 2 - 8);
  t.throws(() => writer.tryWrite(new Uint8Array(writer.maxRecordBytes + 1)), RangeError);
  t.same(RingBuffer.stats(sab), {
    capacityBytes: 1024, usedBytes: 0, records: 0, bytes: 0, fullEvents: 0, writerClosed: false, readerClosed: false,
  });
});

t.test('records come out in order with their tags, in one contiguous view each', async (t) => {
  const { writer, reader, canariesIntact } = guardedRing(256);
  t.ok(writer.tryWrite(Uint8Array.of(1, 2, 3), 7));
  t.ok(writer.tryWrite(new Uint8Array(0), 8));
  t.ok(writer.tryWriteParts(Uint8Array.of(9, 9), Uint8Array.of(4, 5, 6), 2 ** 31 - 1));
  t.same(drain(reader), [[Uint8Array.of(1, 2, 3), 7], [new Uint8Array(0), 8], [Uint8Array.of(9, 9, 4, 5, 6), 2 ** 31 - 1]]);
  t.same(drain(reader), []);
  t.ok(canariesIntact());
});

t.test('seeded random sizes, 1000 rounds, sequence verified, canaries intact', async (t) => {
  for (const capacity of [64, 256, 4096]) {
    const { writer, reader, canariesIntact } = guardedRing(capacity);
    const random = seededRandom(capacity);
    const nextSize = sizeSequence(capacity * 3 + 1, writer.maxRecordBytes);
    const sizes: number[] = [];
    const sizeOf = (seq: number) => (sizes[seq] ??= nextSize());
    let written = 0;
    let verified = 0;
    const failures: string[] = [];
    const verify = (view: Uint8Array, tag: number) => {
      const problem = checkRecord(verified, sizeOf(verified), view, tag);
      if (problem) failures.push(problem);
      verified++;
    };
    for (let round = 0; round < 1000; round++) {
      const burst = Math.floor(random() * 8);
      for (let i = 0; i < burst; i++) {
        if (!writer.tryWrite(makeRecord(written, sizeOf(written)), tagFor(written))) break;
        written++;
      }
      reader.read(verify, Math.floor(random() * 8));
    }
    reader.read(verify);
    t.same(failures, [], `capacity ${capacity}: every record intact`);
    t.equal(verified, written, `capacity ${capacity}: ${written} records`);
    t.ok(canariesIntact(), `capacity ${capacity}: canaries intact`);
  }
});

t.test('wrap-around at every offset, every size, for small rings', async (t) => {
  let checked = 0;
  for (const capacity of [32, 64, 128]) {
    for (let offset = 0; offset < capacity; offset += 8) {
      for (let length = 0; length <= capacity / 2 - 8; length++) {
        const { writer, reader, canariesIntact } = guardedRing(capacity);
        // Empty 8-byte records move both indices to `offset` first.
        for (let i = 0; i < offset / 8; i++) writer.tryWrite(new Uint8Array(0));
        drain(reader);
        t.equal(writer.usedBytes, 0);
        // Then enough records of `length` to go round the ring three times, at fill levels 1 and 2.
        const total = Math.ceil((3 * capacity) / recordBytes(length)) + 2;
        let seq = 0;
        let next = 0;
        let ok = true;
        const verify = (view: Uint8Array, tag: number) => {
          if (checkRecord(next, length, view, tag) !== null) ok = false;
          next++;
        };
        while (seq < total) {
          if (writer.tryWrite(makeRecord(seq, length), tagFor(seq))) seq++;
          if (seq % 2 === 0) reader.read(verify, 1);
          if (writer.usedBytes + 2 * recordBytes(length) > capacity) reader.read(verify);
        }
        reader.read(verify);
        if (!ok || next !== total || !canariesIntact()) {
          t.fail(`capacity ${capacity} offset ${offset} length ${length}: ok=${ok} read=${next}/${total}`);
        }
        checked++;
      }
    }
  }
  t.pass(`${checked} (capacity, offset, length) combinations`);
});

t.test('indices wrap past 2^32 without losing a record', async (t) => {
  const sab = RingBuffer.create(64);
  // Layout per ring.ts: write index in Int32 word 0, read index in word 16.
  const header = new Int32Array(sab, 0, 32);
  const start = 2 ** 32 - 40; // 8-aligned, 40 bytes below the u32 wrap
  header[0] = start | 0;
  header[16] = start | 0;
  const writer = new RingWriter(sab, { autoFlush: false, batchBytes: 0 });
  const reader = new RingReader(sab);
  let next = 0;
  for (let seq = 0; seq < 200; seq++) {
    const length = seq % 21;
    t.ok(writer.tryWrite(makeRecord(seq, length), tagFor(seq)));
    reader.read((view, tag) => {
      if (checkRecord(next, next % 21, view, tag) !== null) t.fail(`record ${next}`);
      next++;
    });
  }
  t.equal(next, 200);
  t.ok((Atomics.load(header, 0) >>> 0) < start, 'the write index did wrap');
});

t.test('full ring: tryWrite refuses, counts, corrupts nothing, continues after a drain', async (t) => {
  const { sab, writer, reader, canariesIntact } = guardedRing(256);
  let seq = 0;
  while (writer.tryWrite(makeRecord(seq, 20), tagFor(seq))) seq++;
  t.equal(seq, 256 / recordBytes(20), 'filled exactly to capacity');
  t.equal(writer.usedBytes, 256);
  t.notOk(writer.tryWrite(new Uint8Array(0)), 'even an empty record is refused');
  t.equal(writer.stats.fullEvents, 2);
  t.equal(RingBuffer.stats(sab, GUARD).fullEvents, 2, 'full events are visible in shared memory');
  t.equal(RingBuffer.stats(sab, GUARD).usedBytes, 256);
  let next = 0;
  reader.read((view, tag) => {
    t.equal(checkRecord(next, 20, view, tag), null);
    next++;
  }, 3);
  for (let i = 0; i < 3; i++) t.ok(writer.tryWrite(makeRecord(seq, 20), tagFor(seq++)), 'room again after a partial drain');
  t.notOk(writer.tryWrite(makeRecord(seq, 20)));
  reader.read((view, tag) => {
    t.equal(checkRecord(next, 20, view, tag), null);
    next++;
  });
  t.equal(next, seq);
  t.ok(canariesIntact());
  t.same(writer.stats, { records: seq, bytes: seq * 20, fullEvents: 3, usedBytes: 0, capacityBytes: 256 });
});

t.test('zero-copy reserve and commit', async (t) => {
  const { writer, reader, canariesIntact } = guardedRing(128);
  t.throws(() => writer.commit(), Error, 'commit without a reservation');
  const view = writer.tryReserve(10, 3)!;
  t.equal(view.length, 10);
  fillRecord(0, view);
  t.same(drain(reader), [], 'invisible before commit');
  writer.commit();
  t.throws(() => writer.commit(), Error, 'one commit per reservation');

  const shorter = writer.tryReserve(40, 4)!;
  fillRecord(1, shorter.subarray(0, 5));
  t.throws(() => writer.commit(41), RangeError);
  writer.commit(5);

  writer.tryReserve(30, 5); // abandoned: the next write replaces it
  t.ok(writer.tryWrite(Uint8Array.of(42), 6));
  const records = drain(reader);
  t.same(records, [[makeRecord(0, 10), 3], [makeRecord(1, 5), 4], [Uint8Array.of(42), 6]]);

  // A reservation that must wrap, committed short, at every offset.
  for (let i = 0; i < 40; i++) {
    const slot = writer.tryReserve(40, i)!;
    t.ok(slot, `reservation ${i}`);
    fillRecord(i, slot.subarray(0, i % 41));
    writer.commit(i % 41);
    const records = drain(reader);
    t.equal(records.length, 1);
    t.same(records[0], [makeRecord(i, i % 41), i]);
  }
  t.ok(canariesIntact());
  const full = guardedRing(64);
  while (full.writer.tryWrite(new Uint8Array(8)));
  t.equal(full.writer.tryReserve(0), null, 'reserve on a full ring is null');
});

t.test('publishing: nothing visible before flush, batch threshold, auto flush at end of turn', async (t) => {
  const sab = RingBuffer.create(1024);
  const manual = new RingWriter(sab, { autoFlush: false, batchBytes: 64 });
  const reader = new RingReader(sab);
  manual.tryWrite(new Uint8Array(8)); // 16 bytes pending
  t.equal(reader.usedBytes, 0, 'pending, not published');
  t.equal(RingBuffer.stats(sab).records, 0);
  manual.flush();
  t.equal(reader.usedBytes, 16);
  t.equal(RingBuffer.stats(sab).records, 1, 'shared counters follow the publication');
  for (let i = 0; i < 3; i++) manual.tryWrite(new Uint8Array(8));
  t.equal(reader.usedBytes, 16, '48 pending bytes stay below the 64-byte batch');
  manual.tryWrite(new Uint8Array(8));
  t.equal(reader.usedBytes, 80, 'the fourth record crosses the batch threshold');
  t.equal(drain(reader).length, 5);

  const sab2 = RingBuffer.create(1024);
  const auto = new RingWriter(sab2); // batchBytes 128, autoFlush
  const reader2 = new RingReader(sab2);
  auto.tryWrite(new Uint8Array(8));
  auto.tryWrite(new Uint8Array(8));
  t.equal(reader2.usedBytes, 0);
  await Promise.resolve();
  t.equal(reader2.usedBytes, 32, 'published by the end-of-turn microtask');
});

t.test('a busy writer signals nothing while the reader is awake; one notify per sleep', async (t) => {
  const notify = Atomics.notify;
  let notifies = 0;
  Atomics.notify = ((array: Int32Array, index: number, count?: number) => {
    notifies++;
    return notify(array, index, count);
  }) as typeof Atomics.notify;
  t.teardown(() => {
    Atomics.notify = notify;
  });
  const sab = RingBuffer.create(1024);
  const writer = new RingWriter(sab, { autoFlush: false, batchBytes: 0 });
  const reader = new RingReader(sab);
  for (let i = 0; i < 100; i++) {
    writer.tryWrite(Uint8Array.of(i));
    drain(reader);
  }
  t.equal(notifies, 0, 'no notify for 100 records published to an awake reader');
  for (let round = 1; round <= 3; round++) {
    const sleeping = reader.waitAsync();
    for (let i = 0; i < 10; i++) writer.tryWrite(Uint8Array.of(i)); // all before the reader runs again
    await sleeping;
    t.equal(notifies, round, `sleep ${round}: one notify for 10 publishes`);
    t.equal(drain(reader).length, 10);
  }
  writer.tryWrite(Uint8Array.of(3));
  t.equal(notifies, 3, 'none once it is awake again');
});

t.test('waitAsync: immediate when non-empty, wakes on flush, times out, wakes on close', async (t) => {
  const sab = RingBuffer.create(1024);
  const writer = new RingWriter(sab, { autoFlush: false });
  const reader = new RingReader(sab);

  let woke = false;
  const waiting = reader.waitAsync().then(() => (woke = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.notOk(woke, 'still asleep on an empty ring');
  writer.tryWrite(Uint8Array.of(1));
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.notOk(woke, 'an unpublished record does not wake it');
  writer.flush();
  await waiting;
  t.ok(woke, 'flush woke the sleeping reader');
  await reader.waitAsync(); // non-empty: resolves at once
  t.equal(drain(reader).length, 1);

  const started = Date.now();
  await reader.waitAsync(30);
  t.ok(Date.now() - started >= 25, 'timeout honoured');

  const closing = reader.waitAsync();
  writer.close();
  await closing;
  t.ok(reader.done, 'done: writer closed and ring empty');
  t.ok(RingBuffer.stats(sab).writerClosed);
  t.notOk(writer.tryWrite(Uint8Array.of(1)), 'no writes after close');
  t.equal(writer.stats.fullEvents, 0, 'a closed ring is not a full one');
});

t.test('run() drains, yields, and ends after the writer closes with everything read', async (t) => {
  const sab = RingBuffer.create(4096);
  const writer = new RingWriter(sab);
  const reader = new RingReader(sab);
  const seen: number[] = [];
  const running = reader.run((view, tag) => {
    if (checkRecord(tag, tag % 50, view, tagFor(tag)) !== null) t.fail(`record ${tag}`);
    seen.push(tag);
  }, { recordsPerTurn: 7 });
  let seq = 0;
  for (let burst = 0; burst < 40; burst++) {
    for (let i = 0; i < 25; i++, seq++) {
      while (!writer.tryWrite(makeRecord(seq, seq % 50), seq)) await writer.waitForSpace(seq % 50);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  writer.close();
  await running;
  t.same(seen, Array.from({ length: seq }, (_, i) => i), 'all records, in order');
});

t.test('reader close stops run() and unblocks a writer waiting for space', async (t) => {
  const sab = RingBuffer.create(64);
  const writer = new RingWriter(sab);
  const reader = new RingReader(sab);
  while (writer.tryWrite(new Uint8Array(24)));
  const waiting = writer.waitForSpace(24);
  let count = 0;
  const running = reader.run(() => {
    count++;
    reader.close();
  });
  await running;
  t.equal(await waiting, false, 'waitForSpace reports the closed ring');
  t.equal(count, 1, 'no record handed out after close()');
  t.ok(writer.closed);
  t.notOk(writer.tryWrite(new Uint8Array(1)), 'writes refused once the reader is gone');
  t.ok(RingBuffer.stats(sab).readerClosed);
});

t.test('a throwing handler consumes its record and leaves the ring usable', async (t) => {
  const sab = RingBuffer.create(256);
  const writer = new RingWriter(sab, { autoFlush: false, batchBytes: 0 });
  const reader = new RingReader(sab);
  for (let i = 0; i < 3; i++) writer.tryWrite(Uint8Array.of(i));
  t.throws(() => reader.read((view) => {
    if (view[0] === 1) throw new Error('bad record');
  }), /bad record/);
  t.same(drain(reader), [[Uint8Array.of(2), 0]]);
});

t.test('property: any sequence of operations keeps FIFO order and content', async (t) => {
  type Op =
    | { kind: 'write'; length: number; tag: number }
    | { kind: 'parts'; head: number; body: number; tag: number }
    | { kind: 'reserve'; length: number; commit: number | null; tag: number }
    | { kind: 'flush' }
    | { kind: 'read'; max: number };
  const maxLen = 56; // capacity 128 → max record 56
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('write' as const), length: fc.integer({ min: 0, max: maxLen }), tag: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }),
    fc.record({ kind: fc.constant('parts' as const), head: fc.integer({ min: 0, max: 8 }), body: fc.integer({ min: 0, max: maxLen - 8 }), tag: fc.nat(1000) }),
    fc.record({ kind: fc.constant('reserve' as const), length: fc.integer({ min: 0, max: maxLen }), commit: fc.option(fc.nat(maxLen)), tag: fc.nat(1000) }),
    fc.constant({ kind: 'flush' as const }),
    fc.record({ kind: fc.constant('read' as const), max: fc.integer({ min: 1, max: 10 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), fc.boolean(), (ops, autoBatch) => {
      const capacity = 128;
      const sab = RingBuffer.create(capacity);
      const writer = new RingWriter(sab, { autoFlush: false, batchBytes: autoBatch ? 32 : capacity });
      const reader = new RingReader(sab);
      // Model: records written (pending or published) and the index arithmetic of the layout.
      const queue: Array<{ bytes: Uint8Array; tag: number; end: number }> = [];
      let write = 0;
      let read = 0;
      let seq = 0;
      const fits = (length: number) => {
        const needed = recordBytes(length);
        const tail = capacity - (write % capacity);
        return capacity - (write - read) >= (tail < needed ? tail + needed : needed);
      };
      const account = (length: number) => {
        const needed = recordBytes(length);
        const tail = capacity - (write % capacity);
        write += (tail < needed ? tail : 0) + needed;
      };
      for (const o of ops) {
        if (o.kind === 'write' || o.kind === 'parts') {
          const length = o.kind === 'write' ? o.length : o.head + o.body;
          const bytes = makeRecord(seq++, length);
          const expected = fits(length);
          const ok = o.kind === 'write'
            ? writer.tryWrite(bytes, o.tag)
            : writer.tryWriteParts(bytes.subarray(0, o.head), bytes.subarray(o.head), o.tag);
          if (ok !== expected) return false;
          if (ok) {
            account(length);
            queue.push({ bytes, tag: o.tag, end: write });
          }
        } else if (o.kind === 'reserve') {
          const slot = writer.tryReserve(o.length, o.tag);
          if ((slot !== null) !== fits(o.length)) return false;
          if (slot && o.commit !== null) {
            const length = Math.min(o.commit, o.length);
            const bytes = makeRecord(seq++, length);
            slot.set(bytes);
            writer.commit(length);
            account(o.length); // the slot was placed for the reserved size...
            write -= recordBytes(o.length) - recordBytes(length); // ...and shrinks to the committed one
            queue.push({ bytes, tag: o.tag, end: write });
          }
        } else if (o.kind === 'flush') {
          writer.flush();
        } else {
          writer.flush();
          let bad = false;
          const available = queue.length;
          const got = reader.read((view, tag) => {
            const want = queue.shift();
            if (!want || tag !== want.tag || Buffer.compare(view, want.bytes) !== 0) bad = true;
            else read = want.end;
          }, o.max);
          if (bad || got !== Math.min(o.max, available)) return false;
        }
      }
      writer.flush();
      let bad = false;
      reader.read((view, tag) => {
        const want = queue.shift();
        if (!want || tag !== want.tag || Buffer.compare(view, want.bytes) !== 0) bad = true;
      });
      return !bad && queue.length === 0;
    }),
    { numRuns: 300, seed: 28181 },
  );
  t.pass('fast-check property held');
});
