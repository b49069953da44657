/**
 * The last warnings and errors of the appliance's log, for the console's Overview
 * (`GET /system/log`). It is a pino destination: give it to `pino.multistream` at
 * level `warn` next to stdout. Bounded: the oldest lines fall out.
 */

export interface LogEntry {
  /** Unix ms. */
  time: number;
  level: 'warn' | 'error' | 'fatal';
  msg: string;
  /** The part of camgate that logged it (api, sip, streams, …), when known. */
  part?: string;
  /** The error message, when an error was logged. */
  err?: string;
}

const LEVELS: Record<number, LogEntry['level']> = { 40: 'warn', 50: 'error', 60: 'fatal' };

export class RecentLog {
  readonly #capacity: number;
  #entries: LogEntry[] = [];

  constructor(capacity = 100) {
    this.#capacity = capacity;
  }

  /** pino calls this with one JSON line per log record. */
  write(line: string): void {
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof record !== 'object' || record === null) return;
    const r = record as Record<string, unknown>;
    const level = LEVELS[Number(r.level)];
    if (!level) return;
    const err = r.err as { message?: unknown } | undefined;
    this.#entries.push({
      time: typeof r.time === 'number' ? r.time : Date.now(),
      level,
      msg: String(r.msg ?? ''),
      ...(typeof r.part === 'string' ? { part: r.part } : typeof r.child === 'string' ? { part: r.child } : {}),
      ...(typeof err?.message === 'string' ? { err: err.message } : typeof r.reason === 'string' ? { err: r.reason } : {}),
    });
    if (this.#entries.length > this.#capacity) this.#entries.splice(0, this.#entries.length - this.#capacity);
  }

  /** Newest first. */
  entries(): LogEntry[] {
    return [...this.#entries].reverse();
  }
}
