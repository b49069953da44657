/**
 * The store suite against MariaDB/MySQL. Each fresh store is a scratch database
 * `camgate_test_<random>` created through the root connection and dropped afterwards,
 * so parallel runs never collide.
 *
 * Server: CAMGATE_TEST_MYSQL (default mysql://root@127.0.0.1:3306/test). When it is
 * unreachable the suite is skipped, except with CI=true, where that is a failure.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import t from 'tap';
import fc from 'fast-check';
import { CHANNEL_LIST } from '../../../src/supervisor/store/schema.js';
import { openStore } from '../../../src/supervisor/store/index.js';
import { wellFormedFilters } from './fixtures/filter-arbitraries.js';
import { ALL_VERSIONS, TestClock, storeSuite } from './fixtures/store-suite.js';

const serverUrl = process.env.CAMGATE_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306/test';

async function connectAdmin(): Promise<mysql.Connection | Error> {
  try {
    return await mysql.createConnection({ uri: serverUrl, connectTimeout: 3000 });
  } catch (err) {
    return err as Error;
  }
}

const admin = await connectAdmin();
if (admin instanceof Error) {
  const reason = `MariaDB/MySQL at ${serverUrl.replace(/\/\/[^@]*@/, '//')} unreachable: ${admin.message}`;
  if (process.env.CI === 'true') t.fail(reason);
  else t.plan(0, reason);
} else {
  const created = new Set<string>();
  t.teardown(async () => {
    for (const name of created) await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await admin.end();
  });

  t.test('a pool of one connection still migrates (the lock needs its own)', async (t) => {
    const name = `camgate_test_${randomBytes(6).toString('hex')}`;
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
    created.add(name);
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    const store = await openStore(url.toString(), { poolSize: 1 });
    t.same(await store.migrations(), ALL_VERSIONS);
    t.equal((await store.devices.create({ pwd: 'x' })).deviceid, '37070000081118000001');
    await store.close();
  });

  t.test('differential: random well-formed filters give the same rows on MariaDB and SQLite', async (t) => {
    const name = `camgate_test_${randomBytes(6).toString('hex')}`;
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
    created.add(name);
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    const clock = new TestClock();
    const stores = [
      await openStore(url.toString(), { now: clock.now }),
      await openStore('sqlite::memory:', { now: clock.now }),
    ];
    t.teardown(() => Promise.all(stores.map((s) => s.close())).then(() => undefined));

    // Small domains so that filters hit rows. ASCII only: `like` lowers both sides, and
    // SQLite's LOWER() knows only ASCII. No trailing spaces: MariaDB's utf8mb4_bin pads.
    const words = ['', 'a', 'A', 'b', 'ab', 'Ab', 'ba', '1', 'on', 'off', 'ON', '%', '_', 'a_b', '!'];
    for (const store of stores) {
      const device = await store.devices.create({ pwd: 'x' });
      for (let i = 0; i < 30; i++) {
        const channel = await store.channels.create(device.deviceid, { memo: words[i % words.length]! });
        await store.channels.update(channel.channelid, {
          name: words[(i * 7) % words.length]!,
          status: ['ON', 'OFF', 'on', ''][i % 4]!,
          parental: i % 3,
          secrecy: i % 2,
          ptztype: (i * 5) % 4 - 1,
          longitude: i % 4 === 0 ? null : i / 2,
          active: clock.value + (i % 5),
          fps: (i * 3) % 7,
        });
      }
    }
    const filters = wellFormedFilters(CHANNEL_LIST, {
      text: fc.constantFrom(...words, 'x', 'o'),
      number: fc.oneof(fc.integer({ min: -2, max: 8 }), fc.constantFrom('1', '2.5', String(clock.value + 2))),
      bool: fc.boolean(),
    });
    let nonEmpty = 0;
    await fc.assert(
      fc.asyncProperty(filters, fc.constantFrom('id', '-name,id', 'status,-fps'), async (f, sort) => {
        const [mysqlRows, sqliteRows] = await Promise.all(
          stores.map((s) => s.channels.list({ filters: f, sort, limit: -1 })),
        );
        if (mysqlRows!.total > 0) nonEmpty++;
        t.same(
          mysqlRows!.list.map((c) => c.id),
          sqliteRows!.list.map((c) => c.id),
          JSON.stringify(f),
          { diagnostic: false },
        );
        return mysqlRows!.total === sqliteRows!.total;
      }),
      { numRuns: 300 },
    );
    t.ok(nonEmpty > 30, `many filters matched rows (${nonEmpty}/300)`);
  });

  t.test('mysql', async (t) => {
    storeSuite(t, {
      name: 'mysql',
      shared: true,
      fresh: async () => {
        const name = `camgate_test_${randomBytes(6).toString('hex')}`;
        await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
        created.add(name);
        const url = new URL(serverUrl);
        url.pathname = `/${name}`;
        return {
          url: url.toString(),
          cleanup: async () => {
            await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
            created.delete(name);
          },
        };
      },
    });
  });
}
