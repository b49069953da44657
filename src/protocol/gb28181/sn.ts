/**
 * SN allocation for MANSCDP queries.
 *
 * Why: responses are correlated by SN (RecordInfo) or device ID + SN (Catalog), so SNs must not
 * repeat among outstanding queries. A wrapping counter guarantees that for 2^31 − 1 queries,
 * unlike gosip's random 100000–999999 draw. The start is injectable for tests; by default it is
 * random so SNs from before a restart are unlikely to be reused while late answers still arrive.
 * 0 is never allocated (the parser reports a missing SN as 0).
 */

/** Largest SN we hand out: fits a signed 32-bit field, which some devices parse SN into. */
export const MAX_SN = 0x7fffffff;

export class SnAllocator {
  #next: number;
  readonly #max: number;

  /**
   * @param start first SN returned (default: random in 1..min(max, 1_000_000))
   * @param max   largest SN before wrapping back to 1 (default {@link MAX_SN})
   */
  constructor(start?: number, max = MAX_SN) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${max}`);
    const first = start ?? 1 + Math.floor(Math.random() * Math.min(max, 1_000_000));
    if (!Number.isSafeInteger(first) || first < 1 || first > max) throw new RangeError(`start must be in 1..${max}, got ${first}`);
    this.#next = first;
    this.#max = max;
  }

  /** Returns the next SN, wrapping from max to 1. */
  next(): number {
    const sn = this.#next;
    this.#next = sn >= this.#max ? 1 : sn + 1;
    return sn;
  }

  /** The SN the next call to {@link next} returns. */
  peek(): number {
    return this.#next;
  }
}
