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
import { openStore } from '../../../src/supervisor/store/index.js';
import { storeSuite } from './fixtures/store-suite.js';

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
    t.same(await store.migrations(), [1]);
    t.equal((await store.devices.create({ pwd: 'x' })).deviceid, '37070000081118000001');
    await store.close();
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
