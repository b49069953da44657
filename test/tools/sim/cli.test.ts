import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CliUsageError, parseSimArgs } from '../../../src/tools/sim/index.js';
import { runCli, SIM_CLI as CLI, startCollector, TESTDATA } from './fixtures/helpers.js';

const capture = (name: string) => fileURLToPath(new URL(name, TESTDATA));

/** Run the CLI from its TypeScript source with the loader this test runs under. */
function runCliSync(args: string[]) {
  return spawnSync(process.execPath, [...process.execArgv, CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
}


t.test('argument parsing (in process)', async (t) => {
  const base = ['jt1078', '--capture', 'x.txt', '--port', '12051'];
  const ok = parseSimArgs(base);
  t.equal(ok.help, false);
  if (!ok.help) {
    t.match(ok.config, { host: '127.0.0.1', port: 12051, streams: 1, loops: 1, speed: 1, startStagger: 0, tickMs: 5 });
  }
  const withDuration = parseSimArgs([...base, '--duration', '2.5']);
  t.match(withDuration, { help: false, config: { durationMs: 2500, loops: Infinity } }, '--duration alone means endless loops');
  t.match(parseSimArgs([...base, '--loops', 'inf']), { config: { loops: Infinity } });
  t.match(parseSimArgs([...base, '--sim-base', '013800000000', '--channel', '2', '--speed', '0.5', '--variant', '2019']), {
    config: { simBase: '013800000000', channel: 2, speed: 0.5, variant: '2019' },
  });
  t.same(parseSimArgs(['--help']), { help: true });

  const flagOf = (args: string[]) => {
    try {
      parseSimArgs(args);
      return 'no error';
    } catch (error) {
      return error instanceof CliUsageError ? error.flag : String(error);
    }
  };
  t.equal(flagOf([]), 'command');
  t.equal(flagOf(['gb28181']), 'command');
  t.equal(flagOf(['jt1078', '--port', '1']), '--capture');
  t.equal(flagOf(['jt1078', '--capture', 'x']), '--port');
  t.equal(flagOf([...base, '--bogus']), '--bogus');
  t.equal(flagOf(['jt1078', '--capture', 'x', '--port']), '--port');
  t.equal(flagOf(['jt1078', '--capture', 'x', '--port', '70000']), '--port');
  t.equal(flagOf([...base, '--streams', '0']), '--streams');
  t.equal(flagOf([...base, '--loops', '1.5']), '--loops');
  t.equal(flagOf([...base, '--duration', 'soon']), '--duration');
  t.equal(flagOf([...base, '--speed', '0']), '--speed');
  t.equal(flagOf([...base, '--channel', '300']), '--channel');
  t.equal(flagOf([...base, '--sim-base', '138-0000']), '--sim-base');
  t.equal(flagOf([...base, '--variant', '2013']), '--variant');
  t.equal(flagOf([...base, '--stagger', '-5']), '--stagger');
});

t.test('bad arguments exit 2 naming the flag', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['jt1078', '--port', '12051'], /--capture/],
    [['jt1078', '--capture', capture('data.txt'), '--port', 'abc'], /--port/],
    [['jt1078', '--capture', capture('data.txt'), '--port', '12051', '--bogus'], /--bogus/],
    [['jt1078', '--capture', capture('data.txt'), '--port', '12051', '--streams', '-3'], /--streams/],
    [['jt1078', '--capture', '/nonexistent/capture.txt', '--port', '12051'], /--capture/],
    [['jt1078', '--capture', capture('data.txt'), '--port', '12051', '--sim-base', '999999999999', '--streams', '2'], /--sim-base/],
    [['rtp', '--capture', capture('data.txt'), '--port', '12051'], /command/],
  ];
  for (const [args, flag] of cases) {
    const result = runCliSync(args);
    t.equal(result.status, 2, `exit 2 for ${args.slice(1).join(' ')}`);
    t.match(result.stderr, flag, `message names ${flag.source}: ${result.stderr.split('\n')[0]}`);
  }
  const help = runCliSync(['--help']);
  t.equal(help.status, 0);
  t.match(help.stdout, /--capture <file>/);
});

t.test('a run against a real server: per-second lines, final summary, exit 0', async (t) => {
  const collector = await startCollector();
  const result = await runCli([
    'jt1078',
    '--capture',
    capture('data.txt'),
    '--port',
    String(collector.port),
    '--streams',
    '3',
    '--loops',
    '2',
    '--speed',
    '4',
    '--sim-base',
    '13800000000',
    '--channel',
    '2',
  ]);
  await collector.waitClosed(3);
  t.equal(result.status, 0, result.stderr);
  t.match(result.stdout, /^\[\s+1\.0s\] streams \d\/3 up/m, 'one line per second');
  t.match(result.stdout, /done after [\d.]+ s: 3 streams, 1,944 packets, 606 frames/, 'final summary');
  t.equal(collector.connections.length, 3);
  const sims = collector.connections.map((c) => c.packets[0]!.packet.sim).sort();
  t.same(sims, ['013800000000', '013800000001', '013800000002']);
  t.ok(collector.connections.every((c) => c.packets.length === 648 && c.packets.every((p) => p.packet.channel === 2)));
  await collector.close();

  const refused = await runCli(['jt1078', '--capture', capture('jt1078_1.txt'), '--port', String(collector.port), '--json']);
  t.equal(refused.status, 1, 'socket errors: exit 1');
  t.match(JSON.parse(refused.stdout.trim().split('\n').at(-1)!), { errors: 1, packetsSent: 0 });
});
