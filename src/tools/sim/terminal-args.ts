/**
 * Arguments of `sim terminal` (JT/T 808 terminals against a platform's JT808 port).
 * Errors name the flag at fault (CliUsageError), like `sim jt1078`.
 */
import { parseArgs } from 'node:util';
import { CliUsageError, positiveNumber } from './cli-args.js';

export const TERMINAL_USAGE = `Usage: sim terminal --server <host:port> --capture <file> [options]

Connects N simulated JT/T 808 terminals to a platform. Each registers, authenticates, sends
heartbeats and locations, answers 0x9003 / 0x9205, and on 0x9101 / 0x9201 streams the JT/T 1078
capture to the address given, with its own SIM and the requested channel, until 0x9102 / 0x9202.

  --server <host:port>  platform JT808 address (required)
  --capture <file>      JT/T 1078 capture streamed on request (required)
  --count <n>           terminals (default 1)
  --sim-base <digits>   phone of terminal 0; terminal i uses sim-base + i (default 13800000000)
  --version <2013|2019> JT808 header form (default 2013)
  --heartbeat <s>       heartbeat interval (default 30)
  --position <s>        location report interval (default 10)
  --speed <x>           media playback speed (default 1)
  --stagger <ms>        delay between terminal connects (default 0)
  --udp                 JT/T 808 over UDP (media stays TCP)
  --duration <s>        stop (log out) after this many seconds (default: until Ctrl-C)
  --quiet               no per-second lines
  -h, --help            this text
`;

export interface TerminalCliConfig {
  command: 'terminal';
  host: string;
  port: number;
  capture: string;
  count: number;
  simBase: string;
  version: '2013' | '2019';
  heartbeatMs: number;
  positionMs: number;
  speed: number;
  stagger: number;
  udp: boolean;
  durationMs: number | undefined;
  quiet: boolean;
}

/** Parse the arguments after `terminal`. */
export function parseTerminalArgs(argv: string[]): { help: true } | { help: false; config: TerminalCliConfig } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        server: { type: 'string' },
        capture: { type: 'string' },
        count: { type: 'string' },
        'sim-base': { type: 'string' },
        version: { type: 'string' },
        heartbeat: { type: 'string' },
        position: { type: 'string' },
        speed: { type: 'string' },
        stagger: { type: 'string' },
        duration: { type: 'string' },
        quiet: { type: 'boolean' },
        udp: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    const message = (error as Error).message;
    throw new CliUsageError(/'(-{1,2}[^' ]+)/.exec(message)?.[1] ?? 'arguments', message);
  }
  if (values.help) return { help: true };
  const server = /^(.+):([0-9]{1,5})$/.exec(values.server ?? '');
  if (server === null || Number(server[2]) < 1 || Number(server[2]) > 65535) {
    throw new CliUsageError('--server', `--server <host:port> is required (got ${JSON.stringify(values.server ?? '')})`);
  }
  if (values.capture === undefined || values.capture === '') throw new CliUsageError('--capture', '--capture <file> is required');
  const count = values.count === undefined ? 1 : positiveNumber('--count', values.count);
  if (!Number.isInteger(count)) throw new CliUsageError('--count', `--count must be an integer (got ${values.count})`);
  const simBase = values['sim-base'] ?? '13800000000';
  if (!/^[0-9]{1,20}$/.test(simBase)) throw new CliUsageError('--sim-base', `--sim-base must be 1 to 20 decimal digits (got ${JSON.stringify(simBase)})`);
  const version = values.version ?? '2013';
  if (version !== '2013' && version !== '2019') throw new CliUsageError('--version', `--version must be 2013 or 2019 (got ${JSON.stringify(version)})`);
  const maxDigits = version === '2019' ? 20 : 12;
  if ((BigInt(simBase) + BigInt(count - 1)).toString().length > maxDigits) {
    throw new CliUsageError('--sim-base', `--sim-base ${simBase} + ${count - 1} does not fit in ${maxDigits} digits`);
  }
  return {
    help: false,
    config: {
      command: 'terminal',
      host: server[1]!,
      port: Number(server[2]),
      capture: values.capture,
      count,
      simBase,
      version,
      heartbeatMs: (values.heartbeat === undefined ? 30 : positiveNumber('--heartbeat', values.heartbeat)) * 1000,
      positionMs: (values.position === undefined ? 10 : positiveNumber('--position', values.position)) * 1000,
      speed: values.speed === undefined ? 1 : positiveNumber('--speed', values.speed),
      stagger: values.stagger === undefined ? 0 : positiveNumber('--stagger', values.stagger, true),
      durationMs: values.duration === undefined ? undefined : positiveNumber('--duration', values.duration) * 1000,
      quiet: values.quiet ?? false,
      udp: values.udp ?? false,
    },
  };
}
