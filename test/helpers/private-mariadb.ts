import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { needPeer, type SkipTarget } from './peers.js';
import { freePort } from './ports.js';

export interface PrivateMariadb {
  /** mysql:// URL of a fresh `camgate` database on this server. */
  url: string;
  readonly pid: number;
  /** Freezes (SIGSTOP) or thaws (SIGCONT) the server: an outage that accepts TCP but never answers. */
  freeze(): void;
  thaw(): void;
  /** Kills the server (an outage that refuses connections); `start` brings it back on the same port and data. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** Ends the server for good and removes its files. */
  stop(): Promise<void>;
}

/**
 * A MariaDB server of the test's own (own datadir, port and socket under a temp dir),
 * for tests that stop or freeze the server without disturbing the shared one.
 * Null (skipped, or failed under CI=true) when mariadbd is not installed.
 */
export async function startPrivateMariadb(t: SkipTarget): Promise<PrivateMariadb | null> {
  if (!needPeer(t, 'mariadbd', 'mariadb-server') || !needPeer(t, 'mariadb-install-db', 'mariadb-server')) return null;
  const dir = mkdtempSync(join(tmpdir(), 'camgate-mariadb-'));
  const datadir = join(dir, 'data');
  const install = spawnSync(
    'mariadb-install-db',
    ['--no-defaults', `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db'],
    { encoding: 'utf8' },
  );
  if (install.status !== 0) throw new Error(`mariadb-install-db failed: ${install.stderr}`);
  const port = await freePort();
  const args = [
    '--no-defaults',
    `--datadir=${datadir}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--socket=${join(dir, 'mariadb.sock')}`,
    `--pid-file=${join(dir, 'mariadb.pid')}`,
    // mariadbd refuses to run as root unless told which user to be.
    ...(process.getuid?.() === 0 ? ['--user=root'] : []),
    '--skip-log-bin',
    '--innodb-buffer-pool-size=16M',
  ];
  const admin = `mysql://root@127.0.0.1:${port}/mysql`;
  let server = await launch(args, admin);
  await query(admin, 'CREATE DATABASE camgate CHARACTER SET utf8mb4');
  const running = () => server.process.exitCode === null && server.process.signalCode === null;
  return {
    url: `mysql://root@127.0.0.1:${port}/camgate`,
    get pid() {
      return server.process.pid!;
    },
    freeze: () => process.kill(server.process.pid!, 'SIGSTOP'),
    thaw: () => process.kill(server.process.pid!, 'SIGCONT'),
    async kill() {
      if (running()) server.process.kill('SIGKILL');
      await server.exited;
    },
    async start() {
      if (!running()) server = await launch(args, admin);
    },
    async stop() {
      if (running()) {
        process.kill(server.process.pid!, 'SIGCONT');
        server.process.kill('SIGKILL');
        await server.exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function query(url: string, sql: string): Promise<void> {
  const connection = await mysql.createConnection({ uri: url, connectTimeout: 1000 });
  try {
    await connection.query(sql);
  } finally {
    await connection.end();
  }
}

/** Starts mariadbd and waits until it answers a query. */
async function launch(args: string[], admin: string): Promise<{ process: ChildProcess; exited: Promise<void> }> {
  const server = spawn('mariadbd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  server.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const until = Date.now() + 30_000;
  for (;;) {
    try {
      await query(admin, 'SELECT 1');
      return { process: server, exited };
    } catch (error) {
      if (Date.now() > until || server.exitCode !== null) {
        server.kill('SIGKILL');
        throw new Error(`private mariadbd did not come up: ${(error as Error).message}\n${log.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
