/**
 * SQLite backend of the driver layer, on better-sqlite3 (synchronous).
 *
 * better-sqlite3 has one connection, while the store's transactions are async
 * functions. A promise mutex serialises every statement and every transaction, so a
 * statement of one caller can never land inside another caller's open transaction.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { SqlValue } from './filters.js';
import type { Driver, Row, RunResult, SqlExecutor } from './driver.js';

class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

const BUSY_DEADLINE_MS = 15_000;

/**
 * Runs a statement, retrying while another connection holds the write lock. A busy
 * statement has done nothing, so retrying it is safe. Waits grow from 2 to 50 ms.
 */
/**
 * A pragma at open time, retried while another process holds the database (it may be
 * creating it): at start-up, blocking this thread for a few ms is fine, and there is no
 * event loop work to starve yet. Gives up after 2 s.
 */
function openingPragma(db: Database.Database, pragma: string): void {
  const deadline = Date.now() + 2000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      db.pragma(pragma);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
      Atomics.wait(pause, 0, 0, 10);
    }
  }
}

async function whenNotBusy<T>(statement: () => T): Promise<T> {
  const deadline = Date.now() + BUSY_DEADLINE_MS;
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    try {
      return statement();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if ((code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') || Date.now() > deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** Parses `sqlite:<path>` / `sqlite::memory:` into a filename for better-sqlite3. */
export function sqlitePath(url: string): string {
  let rest = url.slice('sqlite:'.length);
  if (rest.startsWith('//')) rest = rest.slice(2); // tolerate sqlite://path
  if (rest === '' || rest === ':memory:') return ':memory:';
  return rest;
}

export class SqliteDriver implements Driver {
  readonly dialect = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly mutex = new Mutex();
  private readonly statements = new Map<string, Database.Statement>();
  private readonly direct: SqlExecutor;
  private closed = false;

  constructor(filename: string) {
    if (filename !== ':memory:') mkdirSync(dirname(resolve(filename)), { recursive: true });
    // No synchronous busy handler: it would block the event loop, and with two
    // connections in one process the lock holder could never finish. Busy is
    // retried asynchronously instead (see whenNotBusy).
    this.db = new Database(filename, { timeout: 0 });
    if (filename !== ':memory:') {
      try {
        this.db.pragma('journal_mode = WAL');
      } catch (err) {
        // Another connection is mid-write; WAL is persistent, so it is set already
        // unless this is the very first open, which nobody else can be writing to.
        if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
      }
    }
    openingPragma(this.db, 'foreign_keys = ON');
    openingPragma(this.db, 'synchronous = NORMAL');
    this.direct = {
      dialect: 'sqlite',
      all: async (sql, params) => this.allNow(sql, params),
      run: async (sql, params) => this.runNow(sql, params),
    };
  }

  /** The journal mode in effect (for tests: 'wal' for files, 'memory' in memory). */
  journalMode(): string {
    return String(this.db.pragma('journal_mode', { simple: true }));
  }

  private prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      // Filter shapes vary; keep the cache bounded.
      if (this.statements.size >= 500) this.statements.clear();
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private allNow(sql: string, params: SqlValue[] = []): Row[] {
    return this.prepare(sql).all(...params) as Row[];
  }

  private runNow(sql: string, params: SqlValue[] = []): RunResult {
    const info = this.prepare(sql).run(...params);
    return { changes: info.changes, insertId: Number(info.lastInsertRowid) };
  }

  all(sql: string, params?: SqlValue[]): Promise<Row[]> {
    return this.mutex.run(() => whenNotBusy(() => this.allNow(sql, params)));
  }

  run(sql: string, params?: SqlValue[]): Promise<RunResult> {
    return this.mutex.run(() => whenNotBusy(() => this.runNow(sql, params)));
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      // IMMEDIATE takes the write lock up front, so two processes cannot both read
      // a counter and then both try to write it.
      await whenNotBusy(() => this.db.exec('BEGIN IMMEDIATE'));
      try {
        const result = await fn(this.direct);
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  withMigrationLock<T>(fn: (exec: Driver) => Promise<T>): Promise<T> {
    // Each migration runs in its own BEGIN IMMEDIATE transaction, which is the lock.
    return fn(this);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.mutex.run(() => {
      this.statements.clear();
      this.db.close();
    });
  }
}
