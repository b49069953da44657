import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import type { SkipTarget } from './peers.js';

const ADMIN_URL = process.env.CAMGATE_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306/test';

export interface ScratchDatabase {
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh database on the local MariaDB for one test file, so parallel test files
 * never see each other's rows. Null (test skipped, or failed under CI) when MariaDB
 * is not reachable.
 */
export async function scratchDatabase(t: SkipTarget, prefix: string): Promise<ScratchDatabase | null> {
  let admin: mysql.Connection;
  try {
    admin = await mysql.createConnection({ uri: ADMIN_URL, connectTimeout: 3000 });
  } catch (error) {
    const reason = `MariaDB not reachable at ${ADMIN_URL} (${(error as Error).message}); .ci/run starts it`;
    if (process.env.CI === 'true') t.fail(reason);
    else t.skip(reason, () => undefined);
    return null;
  }
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE \`${name}\``);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.end();
    },
  };
}
