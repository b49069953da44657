/**
 * Named counters in shared memory: workers bump them on the hot path, the owner
 * thread reads them at scrape time (inside prom-client `collect()` callbacks).
 *
 * Why shared memory: prom-client 15 has no worker_threads aggregation, and asking
 * each worker for its numbers over the control channel per scrape adds latency and a
 * failure mode; a per-packet postMessage is out of the question (../shared/DESIGN.md §1). A
 * counter here is one `Atomics.add`, about 15 ns, and the reader never waits.
 *
 * Slots are BigInt64 so byte counters do not wrap at 2^31 like Int32 slots would;
 * values are exposed as numbers (exact up to 2^53, far beyond any uptime).
 * `Atomics.add` keeps several writers on one slot correct (e.g. all media workers
 * adding to one `rx_packets`); a single writer pays the same few nanoseconds.
 *
 * The names are the schema: fixed at creation, and whoever attaches must pass the
 * same list (the buffer carries a hash of it, checked on attach), so slot i means
 * the same counter in every thread.
 */

const HEADER_SLOTS = 1; // slot 0: schema hash

/** FNV-1a over the joined names: cheap, and enough to catch a mismatched list. */
function schemaHash(names: readonly string[]): bigint {
  let hash = 0x811c9dc5;
  const text = names.join('\n');
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return BigInt(hash) | (BigInt(names.length) << 32n);
}

function checkNames(names: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('counter names must be non-empty strings');
    if (seen.has(name)) throw new TypeError(`duplicate counter name: ${name}`);
    seen.add(name);
  }
}

export class SharedCounters<Name extends string = string> {
  /** Transfer or share this with the threads that update or read the counters. */
  readonly sab: SharedArrayBuffer;
  readonly names: readonly Name[];
  readonly #slots: BigInt64Array;
  readonly #indexOf: Map<string, number>;

  private constructor(sab: SharedArrayBuffer, names: readonly Name[]) {
    this.sab = sab;
    this.names = Object.freeze([...names]);
    this.#slots = new BigInt64Array(sab);
    this.#indexOf = new Map(names.map((name, i) => [name, i]));
  }

  /** A new zeroed set of counters with these names, in this order. */
  static create<N extends string>(names: readonly N[]): SharedCounters<N> {
    checkNames(names);
    const sab = new SharedArrayBuffer((HEADER_SLOTS + names.length) * 8);
    new BigInt64Array(sab)[0] = schemaHash(names);
    return new SharedCounters(sab, names);
  }

  /** Counters created elsewhere (another thread); `names` must be the creation list. */
  static attach<N extends string>(sab: SharedArrayBuffer, names: readonly N[]): SharedCounters<N> {
    checkNames(names);
    if (!(sab instanceof SharedArrayBuffer)) throw new TypeError('SharedCounters live in a SharedArrayBuffer');
    if (sab.byteLength !== (HEADER_SLOTS + names.length) * 8 || Atomics.load(new BigInt64Array(sab), 0) !== schemaHash(names)) {
      throw new TypeError('SharedCounters.attach: names differ from the ones the buffer was created with');
    }
    return new SharedCounters(sab, names);
  }

  /** Slot index of a counter, for the `addAt` fast path (resolve once, not per packet). */
  indexOf(name: Name): number {
    const index = this.#indexOf.get(name);
    if (index === undefined) throw new RangeError(`unknown counter: ${name}`);
    return index;
  }

  add(name: Name, amount = 1): void {
    Atomics.add(this.#slots, HEADER_SLOTS + this.indexOf(name), BigInt(amount));
  }

  /** Hot-path add by slot index (from `indexOf`); `amount` must be an integer. */
  addAt(index: number, amount = 1): void {
    Atomics.add(this.#slots, HEADER_SLOTS + index, BigInt(amount));
  }

  /** Overwrites a slot, for gauges (e.g. active streams on this worker). */
  set(name: Name, value: number): void {
    Atomics.store(this.#slots, HEADER_SLOTS + this.indexOf(name), BigInt(value));
  }

  get(name: Name): number {
    return Number(Atomics.load(this.#slots, HEADER_SLOTS + this.indexOf(name)));
  }

  getAt(index: number): number {
    return Number(Atomics.load(this.#slots, HEADER_SLOTS + index));
  }

  /** Every counter by name; each value is read atomically, the set as a whole is not. */
  snapshot(): Record<Name, number> {
    const out = {} as Record<Name, number>;
    this.names.forEach((name, i) => {
      out[name] = Number(Atomics.load(this.#slots, HEADER_SLOTS + i));
    });
    return out;
  }
}
