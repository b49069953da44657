import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Single-producer single-consumer byte ring over a SharedArrayBuffer, for
 * variable-length records (one per packet or frame) between two threads.
 *
 * Why a ring and not postMessage: postMessage structured-clones and allocates per
 * message and wakes the other event loop per message; a packet stream of 10k+ msg/s
 * per camera cannot afford that (../shared/DESIGN.md §1). Here a record is a memcpy into shared
 * memory plus, in the common case, no cross-thread signal at all.
 *
 * Layout (byte offsets from the ring's `byteOffset`, which must be 64-aligned):
 *
 *   0    write index        u32, free-running, wraps at 2^32   (writer stores)
 *   64   read index         u32, free-running                  (reader stores)
 *   128  reader sleepers, reader wake sequence                 (futex words)
 *   192  writer waiters,  writer wake sequence                 (futex words)
 *   256  magic, capacity, closed flags                         (set once / at close)
 *   320  records, bytes, full events: BigInt64 counters        (writer stores)
 *   384  data area, `capacity` bytes (a power of two)
 *
 * Each index sits on its own 64-byte cache line so that the writer bumping the
 * write index does not invalidate the line the reader keeps reading, and vice versa
 * (false sharing costs more than the copy for small records).
 *
 * Indices are free-running u32 counters reduced with `& (capacity - 1)`, so empty is
 * `write === read` and full is `write - read === capacity`: no spare slot, no
 * ambiguity, as long as the capacity divides 2^32 (hence a power of two).
 *
 * A record is an 8-byte header (int32 length, int32 tag) then the payload, padded so
 * the next record starts 8-aligned. Alignment keeps the header readable through an
 * Int32Array (no DataView, no unaligned access) and guarantees that at least 8 bytes
 * remain before the end of the data area, so a wrap marker always fits: when a record
 * does not fit contiguously before the end, the writer stores length = -1 there and
 * the record starts at offset 0; the skipped tail counts as used space until read.
 * Records never straddle the end, so the reader always hands out one contiguous view.
 *
 * Usage (one ring per direction per worker, strictly one writer and one reader):
 *
 *   const sab = RingBuffer.create(1 << 20);        // owner; pass sab in workerData
 *   const writer = new RingWriter(sab);            // producing thread
 *   if (!writer.tryWrite(packet, streamSlot)) drops++;   // full: backpressure, no growth
 *   const reader = new RingReader(sab);            // consuming thread
 *   void reader.run((view, streamSlot) => demux(streamSlot, view));
 *
 * Tags are int32; a stream slot id lets one ring carry many streams.
 */

/** Bytes of header before the data area of every ring. */
export const RING_HEADER_BYTES = 384;
/** Smallest and largest accepted data-area capacity. */
export const RING_MIN_CAPACITY = 32;
export const RING_MAX_CAPACITY = 1 << 30;

const RECORD_HEADER_BYTES = 8;
const WRAP_MARKER = -1;
const MAGIC = 0x52494e47; // 'RING'

// Int32 slot indices inside the header.
const WRITE_INDEX = 0;
const READ_INDEX = 16;
const READER_SLEEPERS = 32;
const READER_WAKE = 33;
const WRITER_WAITERS = 48;
const WRITER_WAKE = 49;
const MAGIC_SLOT = 64;
const CAPACITY_SLOT = 65;
const CLOSED_SLOT = 66;
// BigInt64 slot indices inside the header.
const COUNT_RECORDS = 40;
const COUNT_BYTES = 41;
const COUNT_FULL = 42;

const CLOSED_BY_WRITER = 1;
const CLOSED_BY_READER = 2;

const RESOLVED: Promise<void> = Promise.resolve();

/** `Atomics.waitAsync` (Node 16+), typed here because the project's lib is ES2023. */
type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs?: number): WaitAsyncResult;
}).waitAsync.bind(Atomics);

/** Bytes a record of `length` payload bytes occupies in the data area. */
function recordBytes(length: number): number {
  return (RECORD_HEADER_BYTES + length + 7) & ~7;
}

/** Counters and state of one ring, readable from any thread. */
export interface RingStats {
  capacityBytes: number;
  /** Bytes currently between the published read and write indices (wrap padding included). */
  usedBytes: number;
  /** Records published by the writer since creation. */
  records: number;
  /** Payload bytes published by the writer since creation. */
  bytes: number;
  /** Writes refused because the ring was full (backpressure). */
  fullEvents: number;
  writerClosed: boolean;
  readerClosed: boolean;
}

export interface RingAttachOptions {
  /** Where the ring starts inside the SharedArrayBuffer; a multiple of 64. Default 0. */
  byteOffset?: number;
}

export interface RingWriterOptions extends RingAttachOptions {
  /**
   * Publish the write index as soon as this many bytes are pending. Smaller means
   * lower latency for a reader that is already awake; larger means fewer stores to the
   * shared line. Default: capacity / 8.
   */
  batchBytes?: number;
  /**
   * Publish whatever is pending in a microtask at the end of the current turn, so a
   * producer that writes a few records per socket read never strands them. With
   * `false`, the caller must call `flush()`. Default true.
   */
  autoFlush?: boolean;
}

/** Header views shared by the writer, the reader and `RingBuffer.stats`. */
class RingView {
  readonly sab: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly capacity: number;
  readonly mask: number;
  readonly header: Int32Array;
  readonly counters: BigInt64Array;
  readonly data: Uint8Array;
  readonly words: Int32Array;

  constructor(sab: SharedArrayBuffer, byteOffset: number) {
    checkOffset(sab, byteOffset);
    if (sab.byteLength - byteOffset < RING_HEADER_BYTES) throw new RangeError('SharedArrayBuffer too small for a ring header');
    this.sab = sab;
    this.byteOffset = byteOffset;
    this.header = new Int32Array(sab, byteOffset, RING_HEADER_BYTES / 4);
    this.counters = new BigInt64Array(sab, byteOffset, RING_HEADER_BYTES / 8);
    if (Atomics.load(this.header, MAGIC_SLOT) !== MAGIC) throw new TypeError('no ring at this offset (RingBuffer.create or RingBuffer.init first)');
    this.capacity = Atomics.load(this.header, CAPACITY_SLOT);
    if (sab.byteLength - byteOffset < RING_HEADER_BYTES + this.capacity) throw new RangeError('SharedArrayBuffer smaller than the ring it claims to hold');
    this.mask = this.capacity - 1;
    this.data = new Uint8Array(sab, byteOffset + RING_HEADER_BYTES, this.capacity);
    this.words = new Int32Array(sab, byteOffset + RING_HEADER_BYTES, this.capacity / 4);
  }

  closedFlags(): number {
    return Atomics.load(this.header, CLOSED_SLOT);
  }

}

/**
 * One direction's sleep/wake protocol on two header words: a sleeper count and a
 * wake sequence. A sleeper bumps the sequence when it registers, then waits for the
 * sequence to move. The waker rings only if someone sleeps *and* registered since
 * its last ring: a busy producer pays one load per publish while the consumer is
 * awake, and one notify per sleep, not one per publish until the woken thread runs.
 *
 * Sleeping on this sequence rather than on the ring index itself also makes close()
 * safe: close changes no index, but it does move the sequence, so a close that lands
 * between a sleeper's last check and its wait cannot be missed.
 */
class Doorbell {
  readonly #header: Int32Array;
  readonly #sleepers: number;
  readonly #sequence: number;
  /** Sequence value our last ring left; NaN until then, as a sleeper may predate us. */
  #lastRung = NaN;

  constructor(header: Int32Array, sleepersSlot: number, sequenceSlot: number) {
    this.#header = header;
    this.#sleepers = sleepersSlot;
    this.#sequence = sequenceSlot;
  }

  /** Waker side, on every publish: usually a single load. */
  ring(): void {
    if (Atomics.load(this.#header, this.#sleepers) === 0) return;
    if (Atomics.load(this.#header, this.#sequence) === this.#lastRung) return;
    this.force();
  }

  /** Wakes every sleeper now (close). */
  force(): void {
    this.#lastRung = (Atomics.add(this.#header, this.#sequence, 1) + 1) | 0;
    Atomics.notify(this.#header, this.#sequence);
  }

  /** Sleeper side: registers, then sleeps unless `ready()` became true meanwhile. */
  async sleep(ready: () => boolean, timeoutMs: number): Promise<void> {
    const header = this.#header;
    const seen = (Atomics.add(header, this.#sequence, 1) + 1) | 0;
    Atomics.add(header, this.#sleepers, 1);
    try {
      if (!ready()) await sleepOn(header, this.#sequence, seen, timeoutMs);
    } finally {
      Atomics.sub(header, this.#sleepers, 1);
    }
  }
}

function checkOffset(sab: SharedArrayBuffer, byteOffset: number): void {
  if (!(sab instanceof SharedArrayBuffer)) throw new TypeError('a ring lives in a SharedArrayBuffer');
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 64 !== 0) {
    throw new RangeError(`ring byteOffset must be a non-negative multiple of 64, got ${byteOffset}`);
  }
}

function checkCapacity(capacityBytes: number): void {
  const isPowerOfTwo = Number.isInteger(capacityBytes) && capacityBytes > 0 && (capacityBytes & (capacityBytes - 1)) === 0;
  if (!isPowerOfTwo || capacityBytes < RING_MIN_CAPACITY || capacityBytes > RING_MAX_CAPACITY) {
    throw new RangeError(`ring capacity must be a power of two in [${RING_MIN_CAPACITY}, 2^30], got ${capacityBytes}`);
  }
}

/**
 * Sleeps on a futex word until it moves away from `seen` (or `timeoutMs` passes).
 * A pending `Atomics.waitAsync` does not keep Node's event loop alive (checked on
 * v20.20), so a thread whose only work is this ring would exit under our feet; a
 * ref'd timer holds the loop open for as long as we sleep.
 */
async function sleepOn(header: Int32Array, slot: number, seen: number, timeoutMs: number): Promise<void> {
  const result = waitAsync(header, slot, seen, timeoutMs);
  if (!result.async) return;
  const keepAlive = setInterval(() => {}, 1 << 30);
  try {
    await result.value;
  } finally {
    clearInterval(keepAlive);
  }
}

/** Static helpers: create or lay out rings, read their stats from any thread. */
export const RingBuffer = {
  /** SharedArrayBuffer bytes needed for a ring with `capacityBytes` of data area. */
  byteLengthFor(capacityBytes: number): number {
    checkCapacity(capacityBytes);
    return RING_HEADER_BYTES + capacityBytes;
  },

  /** A new SharedArrayBuffer holding one empty ring; transfer it to the other thread. */
  create(capacityBytes: number): SharedArrayBuffer {
    const sab = new SharedArrayBuffer(RingBuffer.byteLengthFor(capacityBytes));
    RingBuffer.init(sab, 0, capacityBytes);
    return sab;
  },

  /**
   * Lays out an empty ring inside an existing SharedArrayBuffer (several rings and
   * counters can share one buffer per worker). Writes only the header words it uses.
   */
  init(sab: SharedArrayBuffer, byteOffset: number, capacityBytes: number): void {
    checkOffset(sab, byteOffset);
    checkCapacity(capacityBytes);
    if (sab.byteLength - byteOffset < RING_HEADER_BYTES + capacityBytes) throw new RangeError('SharedArrayBuffer too small for this ring');
    const header = new Int32Array(sab, byteOffset, RING_HEADER_BYTES / 4);
    const counters = new BigInt64Array(sab, byteOffset, RING_HEADER_BYTES / 8);
    for (const slot of [WRITE_INDEX, READ_INDEX, READER_SLEEPERS, READER_WAKE, WRITER_WAITERS, WRITER_WAKE, CLOSED_SLOT]) {
      Atomics.store(header, slot, 0);
    }
    for (const slot of [COUNT_RECORDS, COUNT_BYTES, COUNT_FULL]) Atomics.store(counters, slot, 0n);
    Atomics.store(header, CAPACITY_SLOT, capacityBytes);
    Atomics.store(header, MAGIC_SLOT, MAGIC); // last: a half-initialised ring is not a ring
  },

  /** Counters and occupancy of a ring, from any thread (e.g. in a prom-client collect()). */
  stats(sab: SharedArrayBuffer, byteOffset = 0): RingStats {
    const view = new RingView(sab, byteOffset);
    const header = view.header;
    const write = Atomics.load(header, WRITE_INDEX);
    const read = Atomics.load(header, READ_INDEX);
    const closed = view.closedFlags();
    return {
      capacityBytes: view.capacity,
      usedBytes: (write - read) >>> 0,
      records: Number(Atomics.load(view.counters, COUNT_RECORDS)),
      bytes: Number(Atomics.load(view.counters, COUNT_BYTES)),
      fullEvents: Number(Atomics.load(view.counters, COUNT_FULL)),
      writerClosed: (closed & CLOSED_BY_WRITER) !== 0,
      readerClosed: (closed & CLOSED_BY_READER) !== 0,
    };
  },
};

/**
 * The producing end. Exactly one RingWriter per ring, used from one thread.
 *
 * Writes land in shared memory at once but become visible to the reader only when
 * the write index is published (batch threshold, `flush()`, end of turn, or before
 * waiting for space). The reader is notified only if it is asleep, so a busy
 * stream pays neither a notify nor a store to the shared line per record.
 */
export class RingWriter {
  readonly capacity: number;
  /** Largest payload that always fits in an empty ring (wherever the indices are). */
  readonly maxRecordBytes: number;

  readonly #view: RingView;
  readonly #header: Int32Array;
  readonly #data: Uint8Array;
  readonly #words: Int32Array;
  readonly #mask: number;
  /** Rung when records are published; the reader sleeps on it. */
  readonly #dataBell: Doorbell;
  /** The writer sleeps on it when the ring is full; the reader rings it. */
  readonly #spaceBell: Doorbell;
  readonly #batchBytes: number;
  readonly #autoFlush: boolean;
  /** Local write index (u32), ahead of the published one by the pending records. */
  #write: number;
  #published: number;
  /** Last read index seen; refreshed only when it says "full", to leave the reader's line alone. */
  #readSeen: number;
  #records = 0;
  #bytes = 0;
  #fullEvents = 0;
  #flushQueued = false;
  /** Payload offset and capacity of the open reservation, or -1. */
  #reservedAt = -1;
  #reservedLength = 0;
  /** Write index where the reserved record starts (after a possible wrap marker). */
  #reservedIndex = 0;
  readonly #flushTask = (): void => {
    this.#flushQueued = false;
    this.flush();
  };

  constructor(sab: SharedArrayBuffer, options: RingWriterOptions = {}) {
    this.#view = new RingView(sab, options.byteOffset ?? 0);
    this.#header = this.#view.header;
    this.#data = this.#view.data;
    this.#words = this.#view.words;
    this.#mask = this.#view.mask;
    this.#dataBell = new Doorbell(this.#header, READER_SLEEPERS, READER_WAKE);
    this.#spaceBell = new Doorbell(this.#header, WRITER_WAITERS, WRITER_WAKE);
    this.capacity = this.#view.capacity;
    this.maxRecordBytes = this.capacity / 2 - RECORD_HEADER_BYTES;
    this.#batchBytes = Math.max(0, Math.min(options.batchBytes ?? this.capacity / 8, this.capacity));
    this.#autoFlush = options.autoFlush ?? true;
    this.#write = Atomics.load(this.#header, WRITE_INDEX) >>> 0;
    this.#published = this.#write;
    this.#readSeen = Atomics.load(this.#header, READ_INDEX) >>> 0;
    const counters = this.#view.counters;
    this.#records = Number(Atomics.load(counters, COUNT_RECORDS));
    this.#bytes = Number(Atomics.load(counters, COUNT_BYTES));
    this.#fullEvents = Number(Atomics.load(counters, COUNT_FULL));
  }

  /** Copies `data` into the ring as one record. False when full (counted) or the reader closed. */
  tryWrite(data: Uint8Array, tag = 0): boolean {
    const at = this.#begin(data.length, tag);
    if (at < 0) return false;
    this.#data.set(data, at);
    this.#end(data.length);
    return true;
  }

  /**
   * Writes `head` then `body` as one record without concatenating them first (e.g. a
   * small per-packet header in front of a payload view from a socket buffer).
   */
  tryWriteParts(head: Uint8Array, body: Uint8Array, tag = 0): boolean {
    const length = head.length + body.length;
    const at = this.#begin(length, tag);
    if (at < 0) return false;
    this.#data.set(head, at);
    this.#data.set(body, at + head.length);
    this.#end(length);
    return true;
  }

  /**
   * Zero-copy write: returns a writable view of `length` bytes inside the ring (or
   * null when full / closed). Fill it, then `commit()`; nothing is visible to the
   * reader before that. Commit fewer bytes than reserved when the final size is only
   * known afterwards. A reservation not committed is simply dropped by the next
   * write or reservation.
   */
  tryReserve(length: number, tag = 0): Uint8Array | null {
    const at = this.#begin(length, tag, true);
    if (at < 0) return null;
    return this.#data.subarray(at, at + length);
  }

  /** Turns the open reservation into a record of `length` bytes (default: all reserved). */
  commit(length = this.#reservedLength): void {
    if (this.#reservedAt < 0) throw new Error('RingWriter.commit() without an open reservation');
    if (!Number.isInteger(length) || length < 0 || length > this.#reservedLength) {
      throw new RangeError(`commit length ${length} outside [0, ${this.#reservedLength}]`);
    }
    this.#words[(this.#reservedAt - RECORD_HEADER_BYTES) >> 2] = length;
    this.#write = this.#reservedIndex;
    this.#end(length);
  }

  /** Makes every written record visible to the reader, waking it if it sleeps. */
  flush(): void {
    if (this.#write === this.#published) return;
    Atomics.store(this.#header, WRITE_INDEX, this.#write | 0);
    this.#published = this.#write;
    this.#storeCounters();
    this.#dataBell.ring();
  }

  /**
   * Waits until a record of `length` payload bytes fits (or `timeoutMs` passes).
   * Resolves false when the ring is closed, so a retry loop
   * `while (!w.tryWrite(d)) if (!(await w.waitForSpace(d.length))) break;` ends.
   * Publishes pending records first: a reader cannot free space it cannot see.
   */
  async waitForSpace(length = 0, timeoutMs = Infinity): Promise<boolean> {
    this.#checkLength(length);
    this.flush();
    const needed = recordBytes(length);
    if (this.closed) return false;
    if (this.#fits(needed)) return true;
    // The re-check after registering covers a reader that advanced just before.
    await this.#spaceBell.sleep(() => this.#fits(needed) || this.closed, timeoutMs);
    return !this.closed;
  }

  /** Flushes and marks the ring finished; the reader drains what is left, then its run() ends. */
  close(): void {
    this.#reservedAt = -1;
    this.flush();
    Atomics.or(this.#header, CLOSED_SLOT, CLOSED_BY_WRITER);
    this.#dataBell.force();
    this.#spaceBell.force(); // our own pending waitForSpace, if any
  }

  /** True once either side closed the ring. */
  get closed(): boolean {
    return this.#view.closedFlags() !== 0;
  }

  /** Bytes written and not yet read, pending (unpublished) records included. */
  get usedBytes(): number {
    return (this.#write - (Atomics.load(this.#header, READ_INDEX) >>> 0)) >>> 0;
  }

  /** Writer-side counters, current to the last record (the shared copy updates on flush). */
  get stats(): { records: number; bytes: number; fullEvents: number; usedBytes: number; capacityBytes: number } {
    return { records: this.#records, bytes: this.#bytes, fullEvents: this.#fullEvents, usedBytes: this.usedBytes, capacityBytes: this.capacity };
  }

  /** Reserves room for a record and writes its header; returns the payload offset or -1. */
  #begin(length: number, tag: number, reserving = false): number {
    this.#reservedAt = -1;
    this.#checkLength(length);
    if (this.#view.closedFlags() !== 0) return -1;
    const needed = recordBytes(length);
    if (!this.#fits(needed)) {
      this.#fullEvents++;
      Atomics.store(this.#view.counters, COUNT_FULL, BigInt(this.#fullEvents));
      return -1;
    }
    let index = this.#write;
    let pos = index & this.#mask;
    const tail = this.capacity - pos;
    if (tail < needed) {
      this.#words[pos >> 2] = WRAP_MARKER;
      index = (index + tail) >>> 0;
      pos = 0;
    }
    const word = pos >> 2;
    this.#words[word] = length;
    this.#words[word + 1] = tag | 0;
    const at = pos + RECORD_HEADER_BYTES;
    if (reserving) {
      this.#reservedAt = at;
      this.#reservedLength = length;
      this.#reservedIndex = index;
    } else {
      this.#write = index;
    }
    return at;
  }

  /** Advances past the record just filled (header at `#write`) and publishes if due. */
  #end(length: number): void {
    this.#reservedAt = -1;
    this.#write = (this.#write + recordBytes(length)) >>> 0;
    this.#records++;
    this.#bytes += length;
    if (((this.#write - this.#published) >>> 0) >= this.#batchBytes) {
      this.flush();
    } else if (this.#autoFlush && !this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flushTask);
    }
  }

  /** Whether `needed` bytes (plus a wrap skip if the tail is too short) are free. */
  #fits(needed: number): boolean {
    const pos = this.#write & this.#mask;
    const tail = this.capacity - pos;
    const total = tail < needed ? tail + needed : needed;
    if (this.capacity - ((this.#write - this.#readSeen) >>> 0) >= total) return true;
    this.#readSeen = Atomics.load(this.#header, READ_INDEX) >>> 0;
    return this.capacity - ((this.#write - this.#readSeen) >>> 0) >= total;
  }

  #checkLength(length: number): void {
    if (!Number.isInteger(length) || length < 0 || length > this.maxRecordBytes) {
      throw new RangeError(`record of ${length} bytes: must be an integer in [0, ${this.maxRecordBytes}] for a ${this.capacity}-byte ring`);
    }
  }

  #storeCounters(): void {
    const counters = this.#view.counters;
    Atomics.store(counters, COUNT_RECORDS, BigInt(this.#records));
    Atomics.store(counters, COUNT_BYTES, BigInt(this.#bytes));
  }
}

/** Called once per record; `view` is only valid until the callback returns. */
export type RecordHandler = (view: Uint8Array, tag: number) => void;

export interface RingRunOptions {
  /**
   * Records handled per event-loop turn before yielding with setImmediate, so a
   * stream that never lets the ring go empty cannot starve this thread's sockets
   * and timers (a resolved promise alone would only ever run microtasks). Default 1024.
   */
  recordsPerTurn?: number;
}

/**
 * The consuming end. Exactly one RingReader per ring, used from one thread.
 * Sleeps with `Atomics.waitAsync`, never the blocking `Atomics.wait`, so it can live
 * on a thread that also serves sockets.
 */
export class RingReader {
  readonly capacity: number;

  readonly #view: RingView;
  readonly #header: Int32Array;
  readonly #data: Uint8Array;
  readonly #words: Int32Array;
  readonly #mask: number;
  readonly #dataBell: Doorbell;
  readonly #spaceBell: Doorbell;
  readonly #maxRecordBytes: number;
  /** Hand space back to the writer mid-batch every this many bytes, not only at the end. */
  readonly #releaseBytes: number;
  #read: number;
  #stopped = false;

  constructor(sab: SharedArrayBuffer, options: RingAttachOptions = {}) {
    this.#view = new RingView(sab, options.byteOffset ?? 0);
    this.#header = this.#view.header;
    this.#data = this.#view.data;
    this.#words = this.#view.words;
    this.#mask = this.#view.mask;
    this.#dataBell = new Doorbell(this.#header, READER_SLEEPERS, READER_WAKE);
    this.#spaceBell = new Doorbell(this.#header, WRITER_WAITERS, WRITER_WAKE);
    this.capacity = this.#view.capacity;
    this.#maxRecordBytes = this.capacity / 2 - RECORD_HEADER_BYTES;
    this.#releaseBytes = this.capacity / 4;
    this.#read = Atomics.load(this.#header, READ_INDEX) >>> 0;
  }

  /**
   * Hands each available record (up to `maxRecords`) to `onRecord`, then publishes
   * the new read index. Returns the number of records handled. A record whose
   * callback throws is consumed; the error propagates after the index is published.
   */
  read(onRecord: RecordHandler, maxRecords = Infinity): number {
    const header = this.#header;
    const words = this.#words;
    const data = this.#data;
    const mask = this.#mask;
    const write = Atomics.load(header, WRITE_INDEX) >>> 0;
    let read = this.#read;
    let released = read;
    let count = 0;
    try {
      while (read !== write && count < maxRecords && !this.#stopped) {
        const pos = read & mask;
        const length = words[pos >> 2]!;
        const available = (write - read) >>> 0;
        if (length === WRAP_MARKER && available > this.capacity - pos) {
          read = (read + this.capacity - pos) >>> 0;
          continue;
        }
        // Cheap guard against a second writer or a foreign write into the data area:
        // fail loudly instead of walking garbage past the write index.
        if (length < 0 || length > this.#maxRecordBytes || recordBytes(length) > available) {
          throw new Error(`ring corrupted: record length ${length} at offset ${pos}`);
        }
        const tag = words[(pos >> 2) + 1]!;
        const at = pos + RECORD_HEADER_BYTES;
        count++;
        read = (read + recordBytes(length)) >>> 0;
        onRecord(data.subarray(at, at + length), tag);
        if (((read - released) >>> 0) >= this.#releaseBytes) {
          this.#release(read);
          released = read;
        }
      }
    } finally {
      if (read !== released) this.#release(read);
    }
    return count;
  }

  /**
   * Resolves when records are available, the ring is closed, or `timeoutMs` passes;
   * at once (no sleep) if the ring is already non-empty. The writer sees the
   * sleeper count and notifies only then.
   */
  waitAsync(timeoutMs = Infinity): Promise<void> {
    if (this.#hasData() || this.#done()) return RESOLVED;
    return this.#dataBell.sleep(() => this.#hasData() || this.#done(), timeoutMs);
  }

  /**
   * Drains and sleeps in a loop until `close()` or until the writer closed and the
   * ring is empty. Resolves when the loop ends; rejects if `onRecord` throws.
   */
  async run(onRecord: RecordHandler, options: RingRunOptions = {}): Promise<void> {
    const perTurn = options.recordsPerTurn ?? 1024;
    while (!this.#stopped) {
      const handled = this.read(onRecord, perTurn);
      if (this.#stopped) return;
      if (handled === perTurn) {
        await nextTurn();
        continue;
      }
      if (this.#done()) return;
      await this.waitAsync();
    }
  }

  /** Stops run(), wakes a pending wait, and tells the writer nobody reads any more. */
  close(): void {
    this.#stopped = true;
    Atomics.or(this.#header, CLOSED_SLOT, CLOSED_BY_READER);
    this.#dataBell.force(); // our own pending wait
    this.#spaceBell.force();
  }

  /** Published bytes not yet read (wrap padding included). */
  get usedBytes(): number {
    return ((Atomics.load(this.#header, WRITE_INDEX) >>> 0) - this.#read) >>> 0;
  }

  /** True when the writer closed and every record was read, or this reader closed. */
  get done(): boolean {
    return this.#done();
  }

  #hasData(): boolean {
    return (Atomics.load(this.#header, WRITE_INDEX) >>> 0) !== this.#read;
  }

  /** Writer closed and nothing left (the writer flushes before it sets the flag). */
  #done(): boolean {
    if (this.#stopped) return true;
    if ((this.#view.closedFlags() & CLOSED_BY_WRITER) === 0) return false;
    return !this.#hasData();
  }

  #release(read: number): void {
    this.#read = read;
    Atomics.store(this.#header, READ_INDEX, read | 0);
    this.#spaceBell.ring();
  }
}
