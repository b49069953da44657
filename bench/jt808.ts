/**
 * JT/T 808 at fleet scale (issue 12): N simulated terminals (the terminal simulator, in
 * its own process) connect to the built appliance's jt808 port, heartbeat every 30 s and
 * report a position every 10 s. Figures: the appliance's CPU per 1,000 JT/T 808
 * messages (store writes of the coalesced positions included), its RSS per connected
 * idle terminal (the appliance's own idle CPU over the same window is measured first
 * and subtracted), and the time to start live streams on M of them through the API
 * (0x9101, terminal connects its JT/T 1078 media, row returned).
 *
 *   npm run bench:jt808                               (2,000 terminals, 100 streams)
 *   npm run bench:jt808 -- --terminals 10000 --streams 1000
 *   npm run bench:jt808 -- --quick                    (500 terminals, 20 streams, short window)
 *
 * A benchmark, not a test: it prints figures, writes bench/results/jt808-*.json, and asserts nothing.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { measureFloor } from './jt808-floor.js';
import { freePort, percentile, quick, repoRoot, startAppliance, table, treeCpuSeconds, treeRssBytes, writeResult } from './lib.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const terminals = arg('terminals', quick ? 500 : 2000);
const streams = Math.min(terminals, arg('streams', quick ? 20 : 100));
const windowS = arg('window', quick ? 20 : 60);
const SIM_BASE = 13_700_000_000;

async function metric(api: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${api}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(pattern.source, 'gm'))) sum += Number(m[1]);
  return sum;
}
const messagesIn = (api: string) => metric(api, /^camgate_jt808_messages_total\{direction="in",[^}]*\} (\d+)/);
const online = (api: string) => metric(api, /^camgate_vehicles_online (\d+)/);

async function main(): Promise<void> {
  const jt808Port = await freePort();
  const app = await startAppliance({ jt808: { host: '127.0.0.1', port: jt808Port, registration: 'open' }, media: { workers: 1 } });
  const pid = app.process.pid!;
  // What the appliance burns with no terminal at all (media process, workers, timers), to subtract.
  await new Promise((r) => setTimeout(r, 3000));
  const idle0 = treeCpuSeconds(pid);
  await new Promise((r) => setTimeout(r, windowS * 1000));
  const idleCpuS = treeCpuSeconds(pid) - idle0;
  const rssEmpty = treeRssBytes(pid);
  const sim = spawn(
    process.execPath,
    [
      join(repoRoot, 'dist/src/tools/sim-cli.js'),
      'terminal',
      '--server',
      `127.0.0.1:${jt808Port}`,
      '--count',
      String(terminals),
      '--sim-base',
      String(SIM_BASE),
      '--capture',
      join(repoRoot, '../shared/testdata/jt1078/data.txt'),
      '--heartbeat',
      '30',
      '--position',
      '10',
      '--stagger',
      '1',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  let stopped = false;
  try {
    const connectStart = Date.now();
    while ((await online(app.api)) < terminals) {
      if (Date.now() - connectStart > 120_000 + terminals * 5) throw new Error(`only ${await online(app.api)} of ${terminals} terminals online`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const connectS = (Date.now() - connectStart) / 1000;
    // Let the registration burst (0x9003 per vehicle, store rows) settle before measuring.
    await new Promise((r) => setTimeout(r, 5000));
    const rssOnline = treeRssBytes(pid);

    const cpu0 = treeCpuSeconds(pid);
    const msg0 = await messagesIn(app.api);
    await new Promise((r) => setTimeout(r, windowS * 1000));
    const cpuS = Math.max(0, treeCpuSeconds(pid) - cpu0 - idleCpuS);
    const messages = (await messagesIn(app.api)) - msg0;

    const started = Date.now();
    /** When each answer arrived, in ms from the first request (a ramp means throughput-bound, a wall means one slow step). */
    const durations: number[] = [];
    const results = await Promise.all(
      Array.from({ length: streams }, async (_, i) => {
        const res = await fetch(`${app.api}/vehicles/${SIM_BASE + i}/channels/1/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        await res.arrayBuffer();
        durations.push(Date.now() - started);
        return res.status;
      }),
    );
    const streamsS = (Date.now() - started) / 1000;
    const okStreams = results.filter((s) => s === 200).length;

    // The same load on a bare Node answerer, after the appliance is gone (it would compete for the cores).
    sim.kill('SIGTERM');
    await app.stop();
    stopped = true;
    // Heartbeat every 30 s and position every 10 s: 4 messages per 30 s per terminal.
    const floor = await measureFloor(terminals, 7500, windowS);
    const perCpuS = cpuS > 0 ? Math.round(messages / cpuS) : 0;

    const rows = [
      { figure: 'terminals online', value: terminals, unit: `(connected in ${connectS.toFixed(1)} s)` },
      { figure: 'messages in window', value: messages, unit: `in ${windowS} s` },
      { figure: 'idle CPU of the appliance', value: (idleCpuS / windowS * 100).toFixed(1), unit: '% of a core (subtracted below)' },
      { figure: 'CPU per 1,000 messages', value: messages > 0 ? ((cpuS * 1000) / messages * 1000).toFixed(1) : 'n/a', unit: 'ms (appliance process tree, idle subtracted)' },
      { figure: 'messages per CPU-second', value: perCpuS || 'n/a', unit: 'target >= 30,000' },
      { figure: 'bare Node TCP answerer, same load', value: floor.messagesPerCpuS, unit: `messages per CPU-second (${floor.messages} in ${windowS} s): one read + one write per message, nothing else` },
      { figure: 'camgate / bare Node', value: floor.messagesPerCpuS > 0 ? (perCpuS / floor.messagesPerCpuS).toFixed(2) : 'n/a', unit: 'ratio (the 30,000 target is ' + (floor.messagesPerCpuS > 0 ? (30000 / floor.messagesPerCpuS).toFixed(2) : '?') + ' of the bare answerer)' },
      { figure: 'RSS per idle terminal', value: ((rssOnline - rssEmpty) / terminals / 1024).toFixed(1), unit: 'KiB, target <= 16' },
      { figure: `streams started (${okStreams}/${streams} ok)`, value: streamsS.toFixed(2), unit: `s (answers at p10/p50/p90: ${[10, 50, 90].map((p) => (percentile(durations, p) / 1000).toFixed(1)).join(' / ')} s), target <= 10 for 1,000` },
    ];
    console.log(table(rows));
    console.log(`results: ${writeResult('jt808', { terminals, streams, windowS, connectS, idleCpuS, cpuS, messages, rssEmpty, rssOnline, streamsS, okStreams, floor })}`);
  } finally {
    if (!stopped) {
      sim.kill('SIGTERM');
      await app.stop();
    }
  }
}

await main();
