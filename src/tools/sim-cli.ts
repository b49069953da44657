/**
 * Command-line front end of the JT/T 1078 simulator (see src/tools/sim/).
 *
 *   node dist/src/tools/sim-cli.js jt1078 --capture ../shared/testdata/jt1078/data.txt \
 *     --host 127.0.0.1 --port 12051 --streams 10 --loops 3
 *   node dist/src/tools/sim-cli.js terminal --server 127.0.0.1:12001 --count 10 \
 *     --sim-base 13800000000 --capture ../shared/testdata/jt1078/data.txt
 *
 * Exit codes: 0 all streams ran without a socket error, 1 errors during the run,
 * 2 bad arguments (the message names the flag). Ctrl-C stops cleanly with a final summary.
 */
import { performance } from 'node:perf_hooks';
import { ReplayOptionError, loadReplaySource, type ReplaySource } from './sim/replay.js';
import { startSimulation, type SimulationHandle, type SimulationStats } from './sim/runner.js';
import { CliUsageError, parseSimArgs, SIM_USAGE, type SimCliConfig } from './sim/cli-args.js';
import { parseTerminalArgs, TERMINAL_USAGE } from './sim/terminal-args.js';
import { startTerminalSimulation, type TerminalRunnerEvent, type TerminalSimulationStats } from './sim/terminal-runner.js';

/** Planner option → CLI flag, so option errors from the planner name the flag typed. */
const FLAG_OF_OPTION: Record<string, string> = {
  simBase: '--sim-base',
  channel: '--channel',
  speed: '--speed',
  variant: '--variant',
  streams: '--streams',
  loops: '--loops',
  port: '--port',
  durationMs: '--duration',
  startStagger: '--stagger',
  tickMs: '--tick',
};

function usageError(message: string): never {
  process.stderr.write(`sim: ${message}\nRun with --help for usage.\n`);
  process.exit(2);
}

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

function mbit(bytes: number, ms: number): string {
  return ms > 0 ? ((bytes * 8) / (ms * 1000)).toFixed(2) : '0.00';
}

function line(stats: SimulationStats, previous: SimulationStats, wallMs: number, cpuPercent: number): string {
  const dt = stats.elapsedMs - previous.elapsedMs;
  const perSecond = (a: number, b: number) => (dt > 0 ? Math.round(((a - b) * 1000) / dt) : 0);
  return (
    `[${(wallMs / 1000).toFixed(1).padStart(6)}s] streams ${stats.connected}/${stats.streams} up, ${stats.finished} done` +
    ` | pkts ${formatCount(stats.packetsSent)} (+${formatCount(perSecond(stats.packetsSent, previous.packetsSent))}/s)` +
    ` | frames ${formatCount(stats.framesSent)} (+${formatCount(perSecond(stats.framesSent, previous.framesSent))}/s)` +
    ` | ${mbit(stats.bytesSent - previous.bytesSent, dt)} Mbit/s` +
    ` | stalls ${stats.stalls} errors ${stats.errors} | late max ${stats.maxLateMs.toFixed(0)} ms | cpu ${cpuPercent.toFixed(0)}%`
  );
}

function finalSummary(stats: SimulationStats): string {
  return (
    `${stats.aborted ? 'stopped' : 'done'} after ${(stats.elapsedMs / 1000).toFixed(1)} s: ${stats.streams} streams,` +
    ` ${formatCount(stats.packetsSent)} packets, ${formatCount(stats.framesSent)} frames,` +
    ` ${(stats.bytesSent / 1e6).toFixed(2)} MB (avg ${mbit(stats.bytesSent, stats.elapsedMs)} Mbit/s),` +
    ` ${stats.stalls} stalls, ${stats.errors} errors, ${stats.reconnects} reconnects, late max ${stats.maxLateMs.toFixed(0)} ms`
  );
}

/** Parsed config, or null after printing the usage for --help; exits 2 on a usage error. */
function parseOrExit<T>(parse: () => { help: true } | { help: false; config: T }, usage: string): T | null {
  try {
    const parsed = parse();
    if (parsed.help) {
      process.stdout.write(usage);
      return null;
    }
    return parsed.config;
  } catch (error) {
    if (error instanceof CliUsageError) usageError(error.message);
    throw error;
  }
}

async function loadSourceOrExit(capture: string): Promise<ReplaySource> {
  try {
    return await loadReplaySource(capture);
  } catch (error) {
    usageError(`--capture ${capture}: ${(error as Error).message}`);
  }
}

function terminalLine(stats: TerminalSimulationStats, elapsedMs: number): string {
  return (
    `[${(elapsedMs / 1000).toFixed(1).padStart(6)}s] terminals ${stats.connected}/${stats.terminals} connected, ${stats.online} online` +
    ` | jt808 frames out ${formatCount(stats.framesSent)} in ${formatCount(stats.framesReceived)}` +
    ` | streams ${stats.streamsActive} active (${stats.streamsOpened} opened), ${formatCount(stats.mediaPacketsSent)} media packets | errors ${stats.errors}`
  );
}

function describeEvent(event: TerminalRunnerEvent): string | null {
  switch (event.type) {
    case 'action': {
      const a = event.action;
      if (a.type === 'state') return `${event.phone}: ${a.state}${a.detail !== undefined ? ` (${a.detail})` : ''}`;
      if (a.type === 'open-stream') return `${event.phone}: ${a.mode} channel ${a.channel} -> ${a.host}:${a.port} (${a.transport})`;
      if (a.type === 'close-stream') return `${event.phone}: ${a.mode} channel ${a.channel} stopped`;
      return null;
    }
    case 'disconnected':
      return `${event.phone}: disconnected`;
    default:
      return null;
  }
}

/** `sim terminal`: JT/T 808 terminals until --duration or Ctrl-C. */
async function runTerminalMode(argv: string[]): Promise<void> {
  const config = parseOrExit(() => parseTerminalArgs(argv), TERMINAL_USAGE);
  if (config === null) return;
  const source = await loadSourceOrExit(config.capture);
  const seenErrors = new Set<string>();
  const startedAt = performance.now();
  const sim = await startTerminalSimulation({
    host: config.host,
    port: config.port,
    count: config.count,
    simBase: config.simBase,
    version: config.version,
    capture: source,
    speed: config.speed,
    stagger: config.stagger,
    udp: config.udp,
    terminal: { heartbeatMs: config.heartbeatMs, positionMs: config.positionMs },
    onEvent(event) {
      if (event.type === 'error') {
        const key = (event.error as NodeJS.ErrnoException).code ?? event.error.message;
        if (!seenErrors.has(key)) process.stderr.write(`sim: ${event.phone}: ${event.error.message}\n`);
        seenErrors.add(key);
        return;
      }
      const text = config.quiet ? null : describeEvent(event);
      if (text !== null) process.stdout.write(text + '\n');
    },
  });
  process.stdout.write(
    `sim: ${config.count} terminal(s) ${sim.phones[0]}${config.count > 1 ? `..${sim.phones.at(-1)}` : ''} (JT808 ${config.version}) -> ${config.host}:${config.port}, media from ${config.capture}\n`,
  );
  const progress = config.quiet ? undefined : setInterval(() => process.stdout.write(terminalLine(sim.stats, performance.now() - startedAt) + '\n'), 1000);
  const stop = () => void sim.stop();
  const timer = config.durationMs === undefined ? undefined : setTimeout(stop, config.durationMs);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const final = await sim.done;
  clearInterval(progress);
  clearTimeout(timer);
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  process.stdout.write(`done: ${terminalLine(final, performance.now() - startedAt).replace(/^\[[^\]]*\] /, '')}\n`);
  process.exitCode = final.errors > 0 ? 1 : 0;
}

async function main(): Promise<void> {
  if (process.argv[2] === 'terminal') return runTerminalMode(process.argv.slice(3));
  const config: SimCliConfig | null = parseOrExit(() => parseSimArgs(process.argv.slice(2)), SIM_USAGE);
  if (config === null) return;
  const source = await loadSourceOrExit(config.capture);

  // Errors are reported once per kind so 500 refused connects do not flood the terminal.
  const seenErrors = new Set<string>();
  function reportError(streamIndex: number, error: Error): void {
    const key = (error as NodeJS.ErrnoException).code ?? error.message;
    if (seenErrors.has(key)) return;
    seenErrors.add(key);
    process.stderr.write(`sim: stream ${streamIndex}: ${error.message}\n`);
  }

  let previous: SimulationStats | null = null;
  let previousCpu = process.cpuUsage();
  function progress(stats: SimulationStats): void {
    const cpu = process.cpuUsage(previousCpu);
    previousCpu = process.cpuUsage();
    const last = previous ?? { ...stats, packetsSent: 0, framesSent: 0, bytesSent: 0, elapsedMs: 0 };
    const dt = stats.elapsedMs - last.elapsedMs;
    const cpuPercent = dt > 0 ? ((cpu.user + cpu.system) / 1000 / dt) * 100 : 0;
    process.stdout.write(line(stats, last, stats.elapsedMs, cpuPercent) + '\n');
    previous = stats;
  }

  const controller = new AbortController();
  let handle: SimulationHandle;
  try {
    handle = await startSimulation({
      capture: source,
      host: config.host,
      port: config.port,
      streams: config.streams,
      loops: config.loops,
      durationMs: config.durationMs,
      simBase: config.simBase,
      channel: config.channel,
      variant: config.variant,
      speed: config.speed,
      startStagger: config.startStagger,
      tickMs: config.tickMs,
      reconnectDelayMs: config.reconnectDelayMs,
      signal: controller.signal,
      onProgress: config.quiet || config.json ? undefined : progress,
      onStreamError: reportError,
    });
  } catch (error) {
    if (error instanceof ReplayOptionError) usageError(`${FLAG_OF_OPTION[error.option] ?? error.option}${error.message.slice(error.option.length)}`);
    if (error instanceof RangeError) {
      const option = /^(\w+):/.exec(error.message)?.[1];
      if (option !== undefined && FLAG_OF_OPTION[option] !== undefined) {
        usageError(`${FLAG_OF_OPTION[option]}${error.message.slice(option.length)}`);
      }
    }
    throw error;
  }

  const plan = handle.plan;
  if (!config.json) {
    process.stdout.write(
      `sim: ${config.streams} x ${config.capture} (${plan.packetsPerLoop} packets, ${(plan.loopDurationMs / 1000).toFixed(2)} s per loop at speed ${config.speed}, ${plan.variant} header)` +
        ` -> ${config.host}:${config.port}, SIM ${plan.simFor(0)}${config.streams > 1 ? `..${plan.simFor(config.streams - 1)}` : ''}, loops ${config.loops}\n`,
    );
  }

  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const stats = await handle.done;
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  process.stdout.write((config.json ? JSON.stringify(stats) : finalSummary(stats)) + '\n');
  process.exitCode = stats.errors > 0 || stats.packetsSent === 0 ? 1 : 0;
}

main().catch((error: unknown) => {
  process.stderr.write(`sim: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
