import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { openDriver, openStore } from '../../../src/supervisor/store/index.js';
import { SqliteDriver } from '../../../src/supervisor/store/sqlite-driver.js';
import { ALL_VERSIONS, storeSuite } from './fixtures/store-suite.js';

const scratch = mkdtempSync(join(tmpdir(), 'camgate-store-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
let files = 0;

t.test('sqlite in memory', async (t) => {
  storeSuite(t, {
    name: 'sqlite-memory',
    shared: false,
    fresh: async () => ({ url: 'sqlite::memory:', cleanup: async () => undefined }),
  });
});

t.test('sqlite file', async (t) => {
  storeSuite(t, {
    name: 'sqlite-file',
    shared: true,
    fresh: async () => {
      const dir = join(scratch, `db${++files}`);
      return {
        // A directory that does not exist yet: openStore creates it.
        url: `sqlite:${join(dir, 'nested', 'camgate.db')}`,
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  });
});

t.test('sqlite file: directory created, WAL mode, data survives reopen', async (t) => {
  const path = join(scratch, 'reopen', 'data', 'camgate.db');
  const store = await openStore(`sqlite:${path}`);
  t.ok(existsSync(path), 'database file created with its directories');
  const created = await store.devices.create({ pwd: 'x' });
  await store.close();
  await store.close(); // idempotent

  const driver = openDriver(`sqlite:${path}`) as SqliteDriver;
  t.equal(driver.journalMode(), 'wal');
  await driver.close();

  const again = await openStore(`sqlite:${path}`);
  t.same(await again.migrations(), ALL_VERSIONS, 'no migration re-applied');
  t.equal((await again.devices.get(created.deviceid))?.id, created.id, 'row survived');
  t.equal((await again.devices.create({ pwd: 'y' })).deviceid, '37070000081118000002', 'counter survived');
  await again.close();
});

t.test('unsupported URL schemes are refused without echoing credentials', async (t) => {
  const err = await openStore('postgres://user:hunter2@db/camgate').then(
    () => undefined,
    (e: Error) => e,
  );
  t.match(err?.message, /postgres:/);
  t.notMatch(err?.message, /hunter2/);
});
