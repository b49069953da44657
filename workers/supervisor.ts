#!/usr/bin/env node
/**
 * camgate's entry point: the supervisor process that systemd starts.
 * Exit codes: 0 clean stop, 1 start-up failure, 78 configuration error.
 */
import { destination, multistream, pino } from 'pino';
import { ConfigError, EXIT_CONFIG, configPathFrom, defaultConfig, loadConfig } from '../src/shared/config/config.js';
import { Supervisor } from '../src/supervisor/supervisor.js';
import { existsSync } from 'node:fs';
import { RecentLog } from '../src/supervisor/recent-log.js';

const SHUTDOWN_TIMEOUT_MS = 10_000;

async function main(): Promise<void> {
  const path = configPathFrom(process.argv.slice(2), process.env);
  const explicit = process.argv.includes('--config') || process.argv.some((a) => a.startsWith('--config=')) || !!process.env.CAMGATE_CONFIG;
  let config;
  try {
    // Without an explicit file and without config/camgate.yaml, run on the defaults.
    config = explicit || existsSync(path) ? loadConfig(path) : defaultConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`camgate: ${error.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  }

  // Warnings and errors are also kept in memory for the console (GET /system/log).
  const recentLog = new RecentLog();
  const logger = pino(
    { level: config.log.level, base: { pid: process.pid } },
    // The logger's own level filters first; each stream then takes what it wants.
    multistream([{ level: 'trace', stream: destination(1) }, { level: 'warn', stream: recentLog }]),
  );
  const supervisor = new Supervisor(config, { logger, recentLog });

  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) return;
    signalled = true;
    logger.info({ signal }, 'shutting down');
    const hard = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    hard.unref();
    supervisor.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  try {
    await supervisor.start();
  } catch (error) {
    logger.fatal({ err: error }, 'start-up failed');
    await supervisor.stop().catch(() => undefined);
    process.exit(1);
  }
}

void main();
