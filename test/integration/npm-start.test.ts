/**
 * `npm start` as a newcomer runs it, on a built tree: no recompile, the start log
 * lists every listening address with the address actually bound, the first
 * /healthz answers quickly, and SIGTERM to npm stops the appliance (npm's script
 * execs node, so the signal reaches it).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { alive, waitFor } from '../helpers/appliance.js';
import { freePort } from '../helpers/ports.js';

const repo = new URL('../../', import.meta.url).pathname;

t.test('npm start: no build, every listening address logged, /healthz fast, SIGTERM reaches the appliance', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'camgate-npm-start-'));
  const [api, sip, http, realtime, playback, jt808] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const file = join(dir, 'camgate.yaml');
  writeFileSync(
    file,
    stringify({
      api: { host: '127.0.0.1', port: api },
      sip: { host: '127.0.0.1', port: sip },
      store: { url: `sqlite:${join(dir, 'camgate.db')}` },
      media: { workers: 1, httpPort: http, host: '127.0.0.1' },
      jt1078: { host: '127.0.0.1', realtime: { port: realtime }, playback: { port: playback } },
      jt808: { host: '127.0.0.1', port: jt808 },
    }),
  );
  const started = Date.now();
  const npm = spawn('npm', ['start', '--', '--config', file], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  npm.stdout.on('data', (d) => (output += d));
  npm.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | string>((resolve) => npm.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  t.teardown(() => void npm.kill('SIGKILL'));

  let firstAnswer = 0;
  await waitFor(async () => {
    const res = await fetch(`http://127.0.0.1:${api}/healthz`, { signal: AbortSignal.timeout(500) });
    firstAnswer ||= Date.now() - started;
    return res.status === 200;
  }, 20_000, 'healthy').catch((e: Error) => {
    throw new Error(`${e.message}\n${output}`);
  });
  // A loaded machine (other test files, other jobs) slows everything alike: allow for it.
  const load = Math.max(1, loadavg()[0]! / cpus().length);
  t.ok(firstAnswer < 2000 * load, `first /healthz answer ${firstAnswer} ms after npm start (< 2000 ms × load factor ${load.toFixed(1)})`);
  t.notMatch(output, /tsc|esbuild/, 'nothing is compiled at start');

  await waitFor(async () => output.includes('listening: viewers'), 5000, 'listening lines');
  const lines = [
    `listening: console http 127.0.0.1:${api} → http://127.0.0.1:${api}/`,
    `listening: api http 127.0.0.1:${api} → http://127.0.0.1:${api}/swagger`,
    `listening: sip udp 127.0.0.1:${sip} → sip:`,
    `listening: sip tcp 127.0.0.1:${sip} → sip:`,
    `listening: rtp udp+tcp 127.0.0.1:30000-30999`,
    `listening: jt808 tcp 127.0.0.1:${jt808}`,
    `listening: jt1078-realtime tcp 127.0.0.1:${realtime}`,
    `listening: jt1078-playback tcp 127.0.0.1:${playback}`,
    `listening: viewers http-flv+ws-flv 127.0.0.1:${http} → http://127.0.0.1:${http}/`,
  ];
  for (const line of lines) t.ok(output.includes(line), line);
  t.match(output, new RegExp(`"address":"127\\.0\\.0\\.1:${api}","msg":"api listening"`), 'the API logs its bound address');

  const supervisorPid = Number(/"pid":(\d+)/.exec(output)?.[1]);
  const health = (await (await fetch(`http://127.0.0.1:${api}/healthz`)).json()) as { parts: { media: { pid: number } } };
  const mediaPid = health.parts.media.pid;
  t.ok(alive(supervisorPid) && alive(mediaPid), 'supervisor and media process run');
  npm.kill('SIGTERM');
  t.equal(await exited, 0, 'npm exits 0 after SIGTERM');
  t.match(output, /"signal":"SIGTERM","msg":"shutting down"/, 'the appliance got the SIGTERM');
  await waitFor(async () => !alive(supervisorPid) && !alive(mediaPid), 5000, 'appliance processes gone');
  t.pass('no appliance process is left');
});
