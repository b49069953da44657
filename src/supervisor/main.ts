import { existsSync } from 'node:fs';
import { destination, multistream, pino } from 'pino';
import { ConfigError, EXIT_CONFIG, configPathFrom, defaultConfig, loadConfig } from '../shared/config/config.js';
import { RecentLog } from './recent-log.js';
import { Supervisor } from './supervisor.js';

const SHUTDOWN_TIMEOUT_MS = 10_000;

/**
 * Runs the appliance as `npm start` and systemd do: loads the config (or the defaults),
 * builds the Supervisor with the process's logger, stops it in order on SIGTERM/SIGINT.
 * Exit codes: 0 clean stop, 1 start-up failure, 78 configuration error.
 */
export async function runSupervisor(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const path = configPathFrom(argv, env);
  const explicit = argv.includes('--config') || argv.some((a) => a.startsWith('--config=')) || !!env.CAMGATE_CONFIG;
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

