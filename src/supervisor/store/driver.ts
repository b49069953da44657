/**
 * The thin async SQL layer both backends implement, so the store logic is written once.
 * Placeholders are `?` in both dialects; every value is bound.
 */
import type { SqlValue } from './filters.js';
import type { Dialect } from './types.js';

export type Row = Record<string, unknown>;

export interface RunResult {
  /** Rows matched/changed by the statement. */
  changes: number;
  /** Auto-increment id of an INSERT. */
  insertId: number;
}

export interface SqlExecutor {
  readonly dialect: Dialect;
  all(sql: string, params?: SqlValue[]): Promise<Row[]>;
  run(sql: string, params?: SqlValue[]): Promise<RunResult>;
}

export interface Driver extends SqlExecutor {
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it
   * throws. Statements must go through the executor handed to `fn`.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` with the schema-migration lock held (serialises several processes that
   * start at once). `fn` gets an executor bound to one connection.
   */
  withMigrationLock<T>(fn: (exec: Driver) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** True when the error is a unique-key violation in either engine. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'ER_DUP_ENTRY';
}
