/**
 * Argument parsing for `sim-cli` (kept apart from the entry so tests can call it in-process).
 * Every error names the flag at fault: the CLI prints it and exits with code 2.
 */
import { parseArgs } from 'node:util';
import type { HeaderVariant } from '../../protocol/jt1078/index.js';

export const SIM_USAGE = `Usage: sim jt1078 --capture <file> --port <port> [options]
       sim terminal --server <host:port> --capture <file> [options]   (JT/T 808 terminals; sim terminal --help)

Replays a JT/T 1078 capture (hex text, SmallChi CSV or raw bytes) over TCP as N terminals,
paced by the packet timestamps.

  --capture <file>     capture to replay (required)
  --host <host>        gateway address (default 127.0.0.1)
  --port <port>        gateway JT1078 TCP port (required)
  --streams <n>        concurrent terminals, one TCP connection each (default 1)
  --loops <n|inf>      times each terminal plays the capture (default 1, or inf with --duration)
  --duration <s>       stop after this many seconds
  --sim-base <digits>  SIM of terminal 0; terminal i uses sim-base + i (default: capture's SIM)
  --channel <n>        logical channel to write into every packet (default: capture's)
  --speed <x>          playback speed factor (default 1)
  --stagger <ms>       delay between terminal starts (default 0)
  --variant <2016|2019> header form to send (default: capture's)
  --tick <ms>          scheduler tick (default 5)
  --reconnect <ms>     reconnect a dropped terminal after <ms> (default: off)
  --quiet              no per-second lines, final summary only
  --json               final summary as one JSON line
  -h, --help           this text
`;

export class CliUsageError extends Error {
  constructor(
    /** The flag at fault, e.g. '--port' (or 'command'). */
    readonly flag: string,
    message: string,
  ) {
    super(message);
    this.name = 'CliUsageError';
  }
}

export interface SimCliConfig {
  command: 'jt1078';
  capture: string;
  host: string;
  port: number;
  streams: number;
  loops: number;
  durationMs: number | undefined;
  simBase: string | undefined;
  channel: number | undefined;
  speed: number;
  startStagger: number;
  variant: HeaderVariant | undefined;
  tickMs: number;
  reconnectDelayMs: number | undefined;
  quiet: boolean;
  json: boolean;
}

export type SimCliParse = { help: true } | { help: false; config: SimCliConfig };

function integer(flag: string, raw: string, min: number, max: number): number {
  const value = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
  if (!(Number.isSafeInteger(value) && value >= min && value <= max)) {
    throw new CliUsageError(flag, `${flag} must be an integer ${min}..${max} (got ${JSON.stringify(raw)})`);
  }
  return value;
}

/** A positive (or, with allowZero, non-negative) number flag value. */
export function positiveNumber(flag: string, raw: string, allowZero = false): number {
  const value = raw.trim() === '' ? NaN : Number(raw);
  if (!(Number.isFinite(value) && (value > 0 || (allowZero && value === 0)))) {
    throw new CliUsageError(flag, `${flag} must be a ${allowZero ? 'non-negative' : 'positive'} number (got ${JSON.stringify(raw)})`);
  }
  return value;
}

/** Parse `argv` (without node and the script). Throws CliUsageError. */
export function parseSimArgs(argv: string[]): SimCliParse {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        capture: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        streams: { type: 'string' },
        loops: { type: 'string' },
        duration: { type: 'string' },
        'sim-base': { type: 'string' },
        channel: { type: 'string' },
        speed: { type: 'string' },
        stagger: { type: 'string' },
        variant: { type: 'string' },
        tick: { type: 'string' },
        reconnect: { type: 'string' },
        quiet: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    // parseArgs messages already quote the option ("Unknown option '--x'", "Option '--port <value>' argument missing").
    const message = (error as Error).message;
    const flag = /'(-{1,2}[^' ]+)/.exec(message)?.[1] ?? 'arguments';
    throw new CliUsageError(flag, message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  const command = positionals[0];
  if (command === undefined) throw new CliUsageError('command', 'missing command (expected "jt1078" or "terminal")');
  if (command !== 'jt1078') throw new CliUsageError('command', `unknown command ${JSON.stringify(command)} (expected "jt1078" or "terminal")`);
  if (positionals.length > 1) throw new CliUsageError('command', `unexpected argument ${JSON.stringify(positionals[1])}`);

  if (values.capture === undefined || values.capture === '') throw new CliUsageError('--capture', '--capture <file> is required');
  if (values.port === undefined) throw new CliUsageError('--port', '--port <port> is required');
  const port = integer('--port', values.port, 1, 65535);
  const host = values.host ?? '127.0.0.1';
  if (host === '') throw new CliUsageError('--host', '--host must not be empty');
  const streams = values.streams === undefined ? 1 : integer('--streams', values.streams, 1, 1_000_000);
  const durationMs = values.duration === undefined ? undefined : positiveNumber('--duration', values.duration) * 1000;
  let loops: number;
  if (values.loops === undefined) loops = durationMs === undefined ? 1 : Infinity;
  else if (/^(inf|infinity|infinite|forever)$/i.test(values.loops)) loops = Infinity;
  else loops = integer('--loops', values.loops, 1, Number.MAX_SAFE_INTEGER);
  let simBase: string | undefined;
  if (values['sim-base'] !== undefined) {
    simBase = values['sim-base'];
    if (!/^[0-9]{1,20}$/.test(simBase)) {
      throw new CliUsageError('--sim-base', `--sim-base must be 1 to 20 decimal digits (got ${JSON.stringify(simBase)})`);
    }
  }
  const channel = values.channel === undefined ? undefined : integer('--channel', values.channel, 0, 255);
  const speed = values.speed === undefined ? 1 : positiveNumber('--speed', values.speed);
  const startStagger = values.stagger === undefined ? 0 : positiveNumber('--stagger', values.stagger, true);
  let variant: HeaderVariant | undefined;
  if (values.variant !== undefined) {
    if (values.variant !== '2016' && values.variant !== '2019') {
      throw new CliUsageError('--variant', `--variant must be 2016 or 2019 (got ${JSON.stringify(values.variant)})`);
    }
    variant = values.variant;
  }
  const tickMs = values.tick === undefined ? 5 : integer('--tick', values.tick, 1, 1000);
  const reconnectDelayMs = values.reconnect === undefined ? undefined : positiveNumber('--reconnect', values.reconnect, true);
  return {
    help: false,
    config: {
      command: 'jt1078',
      capture: values.capture,
      host,
      port,
      streams,
      loops,
      durationMs,
      simBase,
      channel,
      speed,
      startStagger,
      variant,
      tickMs,
      reconnectDelayMs,
      quiet: values.quiet ?? false,
      json: values.json ?? false,
    },
  };
}
