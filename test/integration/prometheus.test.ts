import t from 'tap';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { getJson, startAppliance, waitFor } from '../helpers/appliance.js';
import { capturesDir } from '../helpers/jt1078.js';
import { needPeer } from '../helpers/peers.js';
import { freePort } from '../helpers/ports.js';
import { startSipp } from '../helpers/sipp.js';
import { runSimulation } from '../../src/tools/sim/index.js';

/**
 * A real Prometheus (Debian package) scrapes a running camgate under a little load
 * (a sipp device with a live stream, a JT/T 1078 terminal, a webhook receiver), and
 * every query of the shipped Grafana dashboard is evaluated through Prometheus's
 * HTTP API: each must parse and return data.
 */
const root = new URL('../../', import.meta.url).pathname;
const CAMERA = '34020000001310000001';

if (!needPeer(t, 'prometheus', 'prometheus') || !needPeer(t, 'sipp', 'sip-tester')) process.exit(0);

t.test('every Grafana panel query returns data from a real Prometheus', async (t) => {
  const hooks = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
  const realtime = await freePort();
  const app = await startAppliance({
    sip: { id: '34020000002000000001', domain: '3402000000' },
    gb28181: { registration: 'open' },
    jt1078: { realtime: { port: realtime } },
    notify: { urls: { 'devices.registered': `http://127.0.0.1:${(hooks.address() as { port: number }).port}/hook` } },
  });
  const promPort = await freePort();
  let prometheus: ReturnType<typeof spawn> | undefined;
  t.teardown(async () => {
    prometheus?.kill('SIGTERM');
    app.process.kill('SIGTERM');
    await app.exited;
    hooks.close();
  });
  await waitFor(async () => (await getJson(`${app.api}/healthz`)).status === 200, 15_000, 'healthy');

  // Load: a GB28181 device with a live stream, a JT/T 1078 terminal.
  const sipp = startSipp([
    `127.0.0.1:${app.sipPort}`, '-i', '127.0.0.1', '-p', String(await freePort()), '-mp', String(await freePort()),
    '-sf', 'gb_device.xml', '-oocsf', 'gb_device_ooc_media.xml', '-inf', 'device1.csv', '-m', '1', '-d', '1000', '-set', 'KA_COUNT', '25',
  ]);
  const sim = runSimulation({ capture: `${capturesDir}data.txt`, host: '127.0.0.1', port: realtime, streams: 2, loops: 4, speed: 1 });
  await waitFor(async () => (await getJson(`${app.api}/channels`)).body.data.List.some((c: { channelid: string }) => c.channelid === CAMERA), 8000, 'camera channel');
  const live = await fetch(`${app.api}/channels/${CAMERA}/streams`, { method: 'POST', body: new URLSearchParams({}) });
  t.equal(live.status, 200);

  // Prometheus with the shipped scrape job, pointed at this camgate, scraping every second.
  const shipped = parse(readFileSync(join(root, 'config/prometheus.yml'), 'utf8'));
  shipped.global.scrape_interval = '1s';
  shipped.global.evaluation_interval = '1s';
  shipped.scrape_configs[0].static_configs[0].targets = [new URL(app.api).host];
  const dir = mkdtempSync(join(tmpdir(), 'camgate-prom-'));
  writeFileSync(join(dir, 'prometheus.yml'), stringify(shipped));
  prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--web.listen-address=127.0.0.1:${promPort}`, `--storage.tsdb.path=${join(dir, 'data')}`], { stdio: 'ignore' });
  const prom = `http://127.0.0.1:${promPort}`;
  await waitFor(async () => {
    const targets = await getJson(`${prom}/api/v1/targets`);
    return targets.body.data?.activeTargets?.[0]?.health === 'up';
  }, 20_000, 'camgate target up in Prometheus');
  await new Promise((r) => setTimeout(r, 8000)); // several scrapes for rate()
  await sim;

  const dashboard = JSON.parse(readFileSync(join(root, 'config/grafana/camgate.json'), 'utf8'));
  t.equal(dashboard.uid, 'camgate-overview');
  const jobs = await getJson(`${prom}/api/v1/label/job/values?match[]=camgate_build_info`);
  t.same(jobs.body.data, ['camgate'], 'the job variable finds camgate');
  const targets = dashboard.panels.filter((p: { type: string }) => p.type !== 'row').flatMap((p: { title: string; targets: Array<{ expr: string }> }) => p.targets.map((x) => ({ title: p.title, expr: x.expr })));
  t.ok(targets.length >= 25, `${targets.length} queries`);
  const empty: string[] = [];
  for (const { title, expr } of targets) {
    const query = expr.replaceAll('$job', '.*').replaceAll('$instance', '.*');
    const res = await getJson(`${prom}/api/v1/query?query=${encodeURIComponent(query)}`);
    t.equal(res.body.status, 'success', `${title}: ${query} parses`);
    if (!(res.body.data?.result?.length > 0)) empty.push(`${title}: ${query}`);
  }
  t.same(empty, [], 'every panel query returns data');
  await sipp.done;
});
