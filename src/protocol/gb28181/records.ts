/**
 * RecordInfo (record listing) aggregation, and conversion to gosip's day/time-range shape.
 *
 * Why: a RecordInfo answer is split over several MESSAGEs like a catalog. gosip correlated on
 * "response DeviceID + SN", so NVRs that answer with their own ID instead of the channel's
 * never matched and every query returned empty after 10 s. Our SNs are unique among
 * outstanding queries (see sn.ts), so the SN alone correlates; the DeviceID is only checked
 * against the channel *or* its parent device when the parent is known.
 *
 * Sans-I/O: no timers; the owner calls {@link RecordQueryAggregator.tick}. Each query has a
 * fixed deadline (default 10 s after {@link RecordQueryAggregator.start}): an API caller is
 * waiting, so the wait is bounded rather than sliding.
 */
import { CHINA_UTC_OFFSET_MINUTES, formatManscdpTime, type RecordInfoMessage, type RecordItem } from './manscdp.js';

export interface RecordQueryAggregatorOptions {
  /** Clock in milliseconds. Default `Date.now`. */
  now?: () => number;
  /** Wait for the complete list at most this long. Default 10 000 ms. */
  timeoutMs?: number;
  /** Items kept per query; reaching it completes the query. Default 100 000. */
  maxItems?: number;
  /** Concurrent queries; {@link RecordQueryAggregator.start} refuses more. Default 1 000. */
  maxQueries?: number;
}

export interface RecordQuery {
  sn: number;
  /** The channel the query was addressed to. */
  channelId: string;
  /** The channel's parent device (NVR), if known: answers carrying it are accepted too. */
  deviceId?: string;
  /** Requested range (unix seconds), echoed in the result so the caller can clip. */
  startTime?: number;
  endTime?: number;
}

export type RecordFinishReason = 'complete' | 'timeout' | 'item-cap';

export interface RecordQueryResult {
  query: RecordQuery;
  /** Largest SumNum reported; undefined if no answer arrived. */
  sumNum: number | undefined;
  /** De-duplicated (identical retransmitted items count once), in arrival order. */
  items: RecordItem[];
  complete: boolean;
  reason: RecordFinishReason;
  parts: number;
  startedAt: number;
  finishedAt: number;
}

export type RecordPushOutcome =
  | { status: 'pending'; received: number; sumNum: number | undefined }
  | { status: 'complete'; result: RecordQueryResult }
  | { status: 'ignored'; reason: 'unknown-sn' | 'device-mismatch' };

interface PendingQuery {
  query: RecordQuery;
  sumNum: number | undefined;
  items: Map<string, RecordItem>;
  parts: number;
  startedAt: number;
  deadline: number;
}

const itemKey = (i: RecordItem): string =>
  [i.deviceId, i.startTimeRaw, i.endTimeRaw, i.filePath ?? '', i.name ?? '', i.type ?? '', i.fileSize ?? ''].join('\u0000');

export class RecordQueryAggregator {
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #maxItems: number;
  readonly #maxQueries: number;
  readonly #pending = new Map<number, PendingQuery>();

  constructor(options: RecordQueryAggregatorOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#maxItems = options.maxItems ?? 100_000;
    this.#maxQueries = options.maxQueries ?? 1_000;
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Registers a sent query. False if at capacity or the SN is already outstanding. */
  start(query: RecordQuery): boolean {
    if (this.#pending.has(query.sn) || this.#pending.size >= this.#maxQueries) return false;
    const now = this.#now();
    this.#pending.set(query.sn, { query: { ...query }, sumNum: undefined, items: new Map(), parts: 0, startedAt: now, deadline: now + this.#timeoutMs });
    return true;
  }

  /**
   * Adds one RecordInfo Response. `sourceDeviceId` (SIP From user), when given, is accepted
   * as an identity as well as the body DeviceID.
   */
  push(message: RecordInfoMessage, sourceDeviceId?: string): RecordPushOutcome {
    const pending = this.#pending.get(message.sn);
    if (pending === undefined) return { status: 'ignored', reason: 'unknown-sn' };
    const { channelId, deviceId } = pending.query;
    if (deviceId !== undefined) {
      const known = (id: string | undefined): boolean => id === channelId || id === deviceId;
      if (!known(message.deviceId) && !known(sourceDeviceId)) return { status: 'ignored', reason: 'device-mismatch' };
    }

    const now = this.#now();
    pending.parts += 1;
    for (const item of message.items) {
      if (pending.items.size >= this.#maxItems) break;
      pending.items.set(itemKey(item), item);
    }
    // No SumNum: take this message as completing the answer.
    const sumNum = message.sumNum ?? pending.items.size;
    pending.sumNum = pending.sumNum === undefined ? sumNum : Math.max(pending.sumNum, sumNum);
    if (pending.items.size >= pending.sumNum) return { status: 'complete', result: this.#finish(pending, 'complete', now) };
    if (pending.items.size >= this.#maxItems) return { status: 'complete', result: this.#finish(pending, 'item-cap', now) };
    return { status: 'pending', received: pending.items.size, sumNum: pending.sumNum };
  }

  /** Emits every query whose deadline is at or before `now`, with what arrived. */
  tick(now: number = this.#now()): RecordQueryResult[] {
    const due = [...this.#pending.values()].filter((p) => p.deadline <= now).sort((a, b) => a.deadline - b.deadline);
    return due.map((p) => this.#finish(p, 'timeout', now));
  }

  nextDeadline(): number | undefined {
    let earliest: number | undefined;
    for (const p of this.#pending.values()) if (earliest === undefined || p.deadline < earliest) earliest = p.deadline;
    return earliest;
  }

  /** Stops waiting for a query and returns what it has (e.g. the SIP MESSAGE itself failed). */
  cancel(sn: number): RecordQueryResult | undefined {
    const pending = this.#pending.get(sn);
    return pending === undefined ? undefined : this.#finish(pending, 'timeout', this.#now());
  }

  #finish(pending: PendingQuery, reason: RecordFinishReason, now: number): RecordQueryResult {
    this.#pending.delete(pending.query.sn);
    const items = [...pending.items.values()];
    return {
      query: pending.query,
      sumNum: pending.sumNum,
      items,
      complete: pending.sumNum !== undefined && items.length >= pending.sumNum,
      reason,
      parts: pending.parts,
      startedAt: pending.startedAt,
      finishedAt: now,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// gosip shape

export interface GosipRecordRange {
  /** Unix seconds, inclusive. */
  start: number;
  /** Unix seconds, inclusive (a split day ends at 23:59:59 local). */
  end: number;
}

export interface GosipRecordDay {
  /** Local date `YYYY-MM-DD` at the configured offset. */
  date: string;
  items: GosipRecordRange[];
}

export interface GosipRecords {
  daynum: number;
  timenum: number;
  list: GosipRecordDay[];
}

export interface ToGosipOptions {
  /** Offset used for day boundaries and dates. Default 480 (+08:00). */
  utcOffsetMinutes?: number;
  /** Clip segments to the queried range (unix seconds), as gosip did. */
  clip?: { start?: number; end?: number };
}

const DAY = 86_400;
/** 9999-12-29T00:00:00Z: still year 9999 at any UTC offset. */
const LAST_FORMATTABLE = 253_402_041_600;

/**
 * Record items → `{daynum, timenum, list:[{date, items:[{start, end}]}]}` (gosip's API shape).
 *
 * Decisions:
 * - Items without a parseable StartTime/EndTime, ending before they start, or outside
 *   1970–9999 are skipped. Pass `clip` (the queried range): an unclipped bogus multi-year
 *   segment would otherwise be split into one range per day.
 * - Segments are sorted, then overlapping or touching (gap ≤ 1 s) segments are merged: the shape
 *   describes time coverage, not files, and NVRs report back-to-back files (gosip merged only
 *   exact end==start).
 * - A segment spanning local midnight is split and appears on EVERY day it covers: the first
 *   part ends at 23:59:59, the next starts at 00:00:00. A day view then shows the recording on
 *   both days, and each part's date matches its times.
 * - Days are in ascending date order; `timenum` counts the ranges after splitting.
 * - Empty input gives `list: []`, not gosip's `null`: clients can iterate without a null check,
 *   and `daynum`/`timenum` are 0.
 */
export function toGosipRecords(items: Iterable<Pick<RecordItem, 'startTime' | 'endTime'>>, options: ToGosipOptions = {}): GosipRecords {
  const offsetSeconds = (options.utcOffsetMinutes ?? CHINA_UTC_OFFSET_MINUTES) * 60;
  const clipStart = options.clip?.start ?? -Infinity;
  const clipEnd = options.clip?.end ?? Infinity;

  const segments: GosipRecordRange[] = [];
  for (const item of items) {
    if (item.startTime === undefined || item.endTime === undefined) continue;
    // Outside 1970…9999 is device junk, and could not be formatted as a date.
    if (!(item.startTime >= 0 && item.endTime <= LAST_FORMATTABLE)) continue;
    const start = Math.max(item.startTime, clipStart);
    const end = Math.min(item.endTime, clipEnd);
    if (end >= start) segments.push({ start, end });
  }
  segments.sort((a, b) => a.start - b.start || a.end - b.end);

  const merged: GosipRecordRange[] = [];
  for (const seg of segments) {
    const last = merged[merged.length - 1];
    if (last !== undefined && seg.start <= last.end + 1) last.end = Math.max(last.end, seg.end);
    else merged.push({ ...seg });
  }

  const days: GosipRecordDay[] = [];
  let timenum = 0;
  const add = (range: GosipRecordRange): void => {
    const date = formatManscdpTime(range.start, offsetSeconds / 60).slice(0, 10);
    const day = days[days.length - 1];
    if (day !== undefined && day.date === date) day.items.push(range);
    else days.push({ date, items: [range] });
    timenum += 1;
  };
  for (const seg of merged) {
    let start = seg.start;
    for (;;) {
      const nextMidnight = Math.floor((start + offsetSeconds) / DAY) * DAY - offsetSeconds + DAY;
      if (seg.end < nextMidnight) break;
      add({ start, end: nextMidnight - 1 });
      start = nextMidnight;
    }
    add({ start, end: seg.end });
  }
  return { daynum: days.length, timenum, list: days };
}
