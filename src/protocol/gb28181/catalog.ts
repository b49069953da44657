/**
 * Catalog aggregation across MESSAGEs.
 *
 * Why: a device answers one Catalog query with `SumNum` items spread over any number of
 * Response MESSAGEs (NVRs often send one channel per MESSAGE), may retransmit parts, may drop
 * some, and sometimes pushes a catalog nobody asked for. gosip applied items one by one without
 * knowing when a list was complete; wvp lost channels when parts went missing. This collects
 * the parts per (device ID, SN), de-duplicates by item DeviceID, and emits the list exactly once:
 * as soon as it is complete, or at its deadline with what arrived (marked incomplete).
 *
 * Sans-I/O: no timers. The owner calls {@link CatalogAggregator.tick} (e.g. at
 * {@link CatalogAggregator.nextDeadline}) and reads the emitted results; time comes from an
 * injectable `now()` in milliseconds.
 *
 * Deadline: `idleTimeoutMs` after the query was registered or the last new part arrived
 * (a sliding window, so a slow 1000-channel NVR is not cut off while it is still sending),
 * capped at `maxDurationMs` after the start.
 */
import type { CatalogItem, CatalogMessage } from './manscdp.js';

export interface CatalogAggregatorOptions {
  /** Clock in milliseconds. Default `Date.now`. */
  now?: () => number;
  /** Silence after which a partial list is emitted. Default 10 000 ms. */
  idleTimeoutMs?: number;
  /** Hard cap on one aggregation's lifetime. Default 60 000 ms. */
  maxDurationMs?: number;
  /** Items kept per aggregation; reaching it completes the list as truncated. Default 50 000. */
  maxItems?: number;
  /** Concurrent aggregations; parts that would start one more are ignored. Default 1 000. */
  maxAggregations?: number;
  /** How long parts for an already emitted (device, SN) are ignored as late. Default = idleTimeoutMs. */
  lateWindowMs?: number;
}

export type CatalogFinishReason = 'complete' | 'timeout' | 'item-cap';

export interface CatalogResult {
  deviceId: string;
  sn: number;
  /** Largest SumNum any part reported; undefined if none did. */
  sumNum: number | undefined;
  /** Unique by DeviceID, in first-arrival order; a repeated item's later copy wins. */
  items: CatalogItem[];
  /** True when items.length reached sumNum. */
  complete: boolean;
  reason: CatalogFinishReason;
  /** False when the catalog arrived without a matching {@link CatalogAggregator.expect}. */
  solicited: boolean;
  parts: number;
  startedAt: number;
  finishedAt: number;
}

export type CatalogPushOutcome =
  | { status: 'pending'; received: number; sumNum: number | undefined }
  | { status: 'complete'; result: CatalogResult }
  | { status: 'ignored'; reason: 'late' | 'capacity' };

interface Aggregation {
  deviceId: string;
  sn: number;
  sumNum: number | undefined;
  items: Map<string, CatalogItem>;
  solicited: boolean;
  parts: number;
  startedAt: number;
  deadline: number;
}

const keyOf = (deviceId: string, sn: number): string => `${deviceId}\u0000${sn}`;

export class CatalogAggregator {
  readonly #now: () => number;
  readonly #idleTimeoutMs: number;
  readonly #maxDurationMs: number;
  readonly #maxItems: number;
  readonly #maxAggregations: number;
  readonly #lateWindowMs: number;
  readonly #pending = new Map<string, Aggregation>();
  /** Emitted keys → time until which further parts are dropped as late. */
  readonly #finished = new Map<string, number>();

  constructor(options: CatalogAggregatorOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 10_000;
    this.#maxDurationMs = Math.max(options.maxDurationMs ?? 60_000, this.#idleTimeoutMs);
    this.#maxItems = options.maxItems ?? 50_000;
    this.#maxAggregations = options.maxAggregations ?? 1_000;
    this.#lateWindowMs = options.lateWindowMs ?? this.#idleTimeoutMs;
  }

  /** Aggregations in progress. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Registers a query we sent, so its deadline runs even if no part ever arrives (the result is
   * then an empty, incomplete list) and its result is marked solicited. Returns false when at
   * capacity. Registering an SN twice keeps the first registration.
   */
  expect(deviceId: string, sn: number): boolean {
    const key = keyOf(deviceId, sn);
    if (this.#pending.has(key)) return true;
    if (this.#pending.size >= this.#maxAggregations) return false;
    this.#finished.delete(key);
    this.#pending.set(key, this.#create(deviceId, sn, true, this.#now()));
    return true;
  }

  /**
   * Adds one Catalog MESSAGE. `sourceDeviceId` is the sending device as the SIP layer knows it
   * (From user); it defaults to the body's DeviceID and is the aggregation key with the SN.
   */
  push(message: CatalogMessage, sourceDeviceId: string = message.deviceId): CatalogPushOutcome {
    const now = this.#now();
    const key = keyOf(sourceDeviceId, message.sn);
    let agg = this.#pending.get(key);
    if (agg === undefined) {
      const lateUntil = this.#finished.get(key);
      if (lateUntil !== undefined && now < lateUntil) return { status: 'ignored', reason: 'late' };
      if (this.#pending.size >= this.#maxAggregations) return { status: 'ignored', reason: 'capacity' };
      agg = this.#create(sourceDeviceId, message.sn, false, now);
      this.#pending.set(key, agg);
    }

    agg.parts += 1;
    let grew = false;
    for (const item of message.items) {
      if (!agg.items.has(item.deviceId)) {
        if (agg.items.size >= this.#maxItems) break;
        grew = true;
      }
      agg.items.set(item.deviceId, item);
    }
    // A message without SumNum is taken as completing the list.
    const sumNum = message.sumNum ?? agg.items.size;
    agg.sumNum = agg.sumNum === undefined ? sumNum : Math.max(agg.sumNum, sumNum);
    if (grew || agg.parts === 1) agg.deadline = Math.min(now + this.#idleTimeoutMs, agg.startedAt + this.#maxDurationMs);

    if (agg.items.size >= agg.sumNum) return { status: 'complete', result: this.#finish(key, agg, 'complete', now) };
    if (agg.items.size >= this.#maxItems) return { status: 'complete', result: this.#finish(key, agg, 'item-cap', now) };
    return { status: 'pending', received: agg.items.size, sumNum: agg.sumNum };
  }

  /** Emits every aggregation whose deadline is at or before `now`, earliest first. */
  tick(now: number = this.#now()): CatalogResult[] {
    for (const [key, until] of this.#finished) if (until <= now) this.#finished.delete(key);
    const due = [...this.#pending.entries()].filter(([, agg]) => agg.deadline <= now).sort((a, b) => a[1].deadline - b[1].deadline);
    return due.map(([key, agg]) => this.#finish(key, agg, 'timeout', now));
  }

  /** Earliest deadline among pending aggregations, for the owner's single timer. */
  nextDeadline(): number | undefined {
    let earliest: number | undefined;
    for (const agg of this.#pending.values()) if (earliest === undefined || agg.deadline < earliest) earliest = agg.deadline;
    return earliest;
  }

  /** Drops an aggregation without emitting it (e.g. the device unregistered). */
  cancel(deviceId: string, sn: number): boolean {
    return this.#pending.delete(keyOf(deviceId, sn));
  }

  #create(deviceId: string, sn: number, solicited: boolean, now: number): Aggregation {
    return { deviceId, sn, sumNum: undefined, items: new Map(), solicited, parts: 0, startedAt: now, deadline: now + this.#idleTimeoutMs };
  }

  #finish(key: string, agg: Aggregation, reason: CatalogFinishReason, now: number): CatalogResult {
    this.#pending.delete(key);
    this.#finished.set(key, now + this.#lateWindowMs);
    // Bound the late set as well: oldest entries go first (Map keeps insertion order).
    if (this.#finished.size > this.#maxAggregations * 4) {
      const oldest = this.#finished.keys().next();
      if (oldest.done !== true) this.#finished.delete(oldest.value);
    }
    const items = [...agg.items.values()];
    return {
      deviceId: agg.deviceId,
      sn: agg.sn,
      sumNum: agg.sumNum,
      items,
      complete: agg.sumNum !== undefined && items.length >= agg.sumNum,
      reason,
      solicited: agg.solicited,
      parts: agg.parts,
      startedAt: agg.startedAt,
      finishedAt: now,
    };
  }
}
