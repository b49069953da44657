/**
 * MySQL / MariaDB backend of the driver layer, on a mysql2/promise pool.
 * Statements use server-side prepared statements (`execute`), so values are bound,
 * never spliced into the text.
 */
import mysql from 'mysql2/promise';
import type { SqlValue } from './filters.js';
import type { Driver, Row, RunResult, SqlExecutor } from './driver.js';
import { StoreError } from './types.js';

const RETRYABLE = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);
const MAX_ATTEMPTS = 4;

/** Default bound on one store operation (connect, query, transaction), in ms. */
export const DEFAULT_STORE_TIMEOUT_MS = 1500;

/**
 * When the server last answered anything (a row set, an OK, an SQL error) on any of
 * the pool's connections. A deadline counts server silence, not time in the pool's
 * queue: 200 concurrent creates that wait their turn behind each other are load, and
 * must not be told "store unavailable" while the server keeps answering.
 */
export class ServerLiveness {
  lastAnswerAt = 0;
  answered(): void {
    this.lastAnswerAt = Date.now();
  }
  /** ms since the later of `since` and the server's last answer. */
  silentFor(since: number): number {
    return Date.now() - Math.max(since, this.lastAnswerAt);
  }
}

/** However busy the pool, one operation gives up after this many deadlines. */
const HARD_CAP_FACTOR = 20;

/**
 * Rejects with a StoreError once the server has been silent for `ms` while `work` is
 * pending (a frozen or unreachable server must fail the caller fast: API 503, REGISTER
 * 503) or, at the latest, after HARD_CAP_FACTOR × `ms`. Without `liveness` it is a plain
 * `ms` deadline. The work itself goes on; its late result is dropped.
 */
export function withDeadline<T>(
  work: Promise<T>,
  ms: number,
  onExpired?: () => void,
  liveness?: ServerLiveness,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const startedAt = Date.now();
  const deadline = new Promise<never>((_, reject) => {
    const check = (): void => {
      const total = Date.now() - startedAt;
      const silent = liveness ? liveness.silentFor(startedAt) : total;
      if (silent >= ms || total >= ms * HARD_CAP_FACTOR) {
        onExpired?.();
        reject(new StoreError(`store unavailable: timed out after ${ms} ms`));
        return;
      }
      timer = setTimeout(check, Math.max(1, ms - silent));
    };
    timer = setTimeout(check, ms);
  });
  const mapped = work.catch((error: unknown) => {
    throw asUnavailable(error);
  });
  mapped.catch(() => undefined); // a late failure after the deadline is not unhandled
  return Promise.race([mapped, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Connection-level failures (server stopped, unreachable, connection lost) become a
 * StoreError, so every caller sees one "store unavailable" kind; SQL errors (ER_*, e.g.
 * a duplicate key) keep their code for the store logic.
 */
function asUnavailable(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof StoreError) return error;
  const { code, fatal } = error as { code?: unknown; fatal?: unknown };
  if (typeof code === 'string' && code.startsWith('ER_')) return error;
  // A code that is not ER_* is a socket or protocol one (ECONNREFUSED, PROTOCOL_CONNECTION_LOST…).
  const connectionLost = typeof code === 'string' || fatal === true || /closed state/.test(error.message);
  return connectionLost ? new StoreError(`store unavailable: ${error.message || String(code)}`) : error;
}

type Queryable = Pick<mysql.Pool, 'execute' | 'query'> | mysql.PoolConnection;

function toResult(result: unknown): RunResult {
  const header = result as mysql.ResultSetHeader;
  return { changes: Number(header.affectedRows ?? 0), insertId: Number(header.insertId ?? 0) };
}

/** Resolves or rejects as `work` does; an answer from the server (rows or an ER_* error) counts as liveness. */
async function noting<T>(liveness: ServerLiveness, work: Promise<T>): Promise<T> {
  try {
    const result = await work;
    liveness.answered();
    return result;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ER_')) liveness.answered();
    throw error;
  }
}

function executor(target: Queryable, liveness: ServerLiveness): SqlExecutor {
  return {
    dialect: 'mysql',
    async all(sql, params = []) {
      const [rows] = await noting(liveness, target.execute(sql, params as unknown[] as never));
      return rows as Row[];
    },
    async run(sql, params = []) {
      // DDL is not allowed as a prepared statement everywhere, so unparameterised
      // statements go through the text protocol.
      if (params.length === 0) {
        const [result] = await noting(liveness, target.query(sql));
        return toResult(result);
      }
      const [result] = await noting(liveness, target.execute(sql, params as unknown[] as never));
      return toResult(result);
    },
  };
}

export class MysqlDriver implements Driver {
  readonly dialect = 'mysql' as const;
  private readonly pool: mysql.Pool;
  private readonly direct: SqlExecutor;

  private readonly timeoutMs: number;
  private readonly liveness = new ServerLiveness();

  constructor(url: string, poolSize = 10, timeoutMs = DEFAULT_STORE_TIMEOUT_MS) {
    this.timeoutMs = timeoutMs;
    this.pool = mysql.createPool({
      uri: url,
      connectTimeout: timeoutMs,
      // withMigrationLock parks one connection on the lock while the work uses another.
      connectionLimit: Math.max(2, poolSize),
      charset: 'utf8mb4',
      supportBigNumbers: true,
      bigNumberStrings: false,
      decimalNumbers: true,
      // Filter shapes vary; bound the per-connection prepared statement cache so the
      // server-wide max_prepared_stmt_count is never reached.
      maxPreparedStatements: 256,
    });
    this.direct = executor(this.pool, this.liveness);
  }

  all(sql: string, params?: SqlValue[]): Promise<Row[]> {
    return withDeadline(this.direct.all(sql, params), this.timeoutMs, undefined, this.liveness);
  }

  run(sql: string, params?: SqlValue[]): Promise<RunResult> {
    return withDeadline(this.direct.run(sql, params), this.timeoutMs, undefined, this.liveness);
  }

  /** The whole transaction (retries and its wait for a pooled connection included) is bounded by one deadline. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const caller = { gaveUp: false };
    return withDeadline(this.#transaction(fn, caller), this.timeoutMs, () => (caller.gaveUp = true), this.liveness);
  }

  /**
   * `caller.gaveUp`: the caller was already answered "timed out", so work that gets
   * through late is rolled back rather than committed behind its back.
   */
  async #transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, caller = { gaveUp: false }): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const connection = await this.pool.getConnection();
      try {
        await noting(this.liveness, connection.query('START TRANSACTION'));
        const result = await fn(executor(connection, this.liveness));
        if (caller.gaveUp) throw new StoreError('store unavailable: transaction finished after its deadline; rolled back');
        await noting(this.liveness, connection.query('COMMIT'));
        return result;
      } catch (err) {
        await connection.query('ROLLBACK').catch(() => undefined);
        const code = (err as { code?: string }).code;
        if (code && RETRYABLE.has(code) && attempt < MAX_ATTEMPTS && !caller.gaveUp) continue;
        throw err;
      } finally {
        connection.release();
      }
    }
  }

  async withMigrationLock<T>(fn: (exec: Driver) => Promise<T>): Promise<T> {
    const connection = await this.pool.getConnection();
    // GET_LOCK is server-wide, so the name carries the database.
    const [rows] = await connection.query("SELECT CONCAT('camgate_migrate:', DATABASE()) AS name");
    const name = String((rows as Row[])[0]?.name);
    try {
      const [got] = await connection.query('SELECT GET_LOCK(?, 60) AS ok', [name]);
      if (Number((got as Row[])[0]?.ok) !== 1) {
        throw new Error('timed out waiting for the schema migration lock');
      }
      try {
        // Migrations may legitimately take longer than one operation's bound (ALTER on a
        // big table), and start-up waits for them anyway: they run without the deadline.
        return await fn(this.#unbounded());
      } finally {
        await connection.query('SELECT RELEASE_LOCK(?)', [name]).catch(() => undefined);
      }
    } finally {
      connection.release();
    }
  }

  #unbounded(): Driver {
    return {
      ...this.direct,
      transaction: (fn) => this.#transaction(fn),
      withMigrationLock: (fn) => this.withMigrationLock(fn),
      close: () => this.close(),
    };
  }

  private closing: Promise<void> | undefined;

  close(): Promise<void> {
    this.closing ??= this.pool.end();
    return this.closing;
  }
}
