/**
 * Entry point of the store: `openStore(url)` picks the backend from the URL, applies
 * pending migrations and seeds sys_info on first run.
 *
 *   sqlite:./data/camgate.db      embedded default (directory created, WAL mode)
 *   sqlite::memory:               tests
 *   mysql://user:pass@host:port/db   MySQL / MariaDB pool
 */
import type { Driver } from './driver.js';
import { migrate } from './migrations.js';
import { MysqlDriver } from './mysql-driver.js';
import { DEFAULT_SYS_INFO_SEED, SqlStore } from './sql-store.js';
import { SqliteDriver, sqlitePath } from './sqlite-driver.js';
import { StoreError, type Store, type StoreOptions } from './types.js';

export * from './types.js';
export type { Platform, PlatformCreate, PlatformInput, PlatformStore, SharedChannel, PlatformCharset, PlatformTransport, VirtualDirectory } from './platform-types.js';
export { DEFAULT_SYS_INFO_SEED } from './sql-store.js';
export { MIGRATIONS, type Migration } from './migrations.js';
export { sharedSource } from './platform-store.js';

const systemClock = () => Math.floor(Date.now() / 1000);

/** Creates the driver for a store URL without touching the schema. */
export function openDriver(url: string, options: Pick<StoreOptions, 'poolSize' | 'timeoutMs'> = {}): Driver {
  if (url.startsWith('sqlite:')) return new SqliteDriver(sqlitePath(url));
  if (url.startsWith('mysql://') || url.startsWith('mariadb://')) {
    return new MysqlDriver(url.replace(/^mariadb:/, 'mysql:'), options.poolSize, options.timeoutMs);
  }
  // Only the scheme goes into the message: the URL may carry a password.
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? '(none)';
  throw new StoreError(`unsupported store URL scheme ${scheme}; use sqlite: or mysql://`);
}

export async function openStore(url: string, options: StoreOptions = {}): Promise<Store> {
  const now = options.now ?? systemClock;
  const driver = openDriver(url, options);
  try {
    await migrate(driver, now);
    const store = new SqlStore(driver, now);
    await store.sysInfo.seed(options.seed ?? DEFAULT_SYS_INFO_SEED);
    return store;
  } catch (err) {
    await driver.close().catch(() => undefined);
    throw err;
  }
}
