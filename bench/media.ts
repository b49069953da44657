/**
 * bench:media — N simulated 1 Mbit/s 25 fps JT/T 1078 terminals over TCP into
 * camgate, out as PS/RTP over UDP to a loss-judging sink (native-bench rtp-sink),
 * rising N until loss appears. The same load goes through native-bench's C
 * pipeline in the same run, so the figures come with ratios. Prints max streams
 * with zero loss, CPU and RSS per stream. `--quick` runs two small steps.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { jt1078Fixture } from './jt1078-fixture.js';
import { freePort, quick, repoRoot, scalingLine, startNativeTool, startAppliance, table, treeCpuSeconds, treeRssBytes, writeResult } from './lib.js';

const steps = quick ? [25, 100] : [100, 200, 300, 400, 500, 600, 800];
const seconds = quick ? 8 : 15;
const warmup = 3;


function simulate(capture: string, port: number, streams: number): Promise<any> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'dist/src/tools/sim-cli.js'), 'jt1078', '--capture', capture, '--host', '127.0.0.1', '--port', String(port), '--streams', String(streams), '--duration', String(seconds), '--stagger', String(Math.floor(1000 / streams)), '--quiet', '--json'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', () => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() || '{}'));
      } catch {
        resolve({});
      }
    });
  });
}

interface StepResult {
  target: 'camgate' | 'native';
  streams: number;
  lost: number;
  missingSsrcs: number;
  received: number;
  cpuPerStream: number;
  rssPerStreamBytes: number;
  simStalls: number;
}

async function runStep(target: 'camgate' | 'native', capture: string, streams: number): Promise<StepResult> {
  const sink = await startNativeTool('rtp-sink', ['--listen', '127.0.0.1:0', '--expect-ssrcs', String(streams)]);
  let pid: number;
  let port: number;
  let stop: () => Promise<void>;
  if (target === 'camgate') {
    const realtime = await freePort();
    const app = await startAppliance({
      log: { level: 'error' },
      jt1078: { realtime: { port: realtime }, idleTimeout: 60, forward: [{ host: '127.0.0.1', port: sink.port, transport: 'udp' }] },
    });
    pid = app.process.pid!;
    port = realtime;
    stop = app.stop;
  } else {
    const native = await startNativeTool('jt1078-pipeline', ['--listen', '127.0.0.1:0', '--to', `127.0.0.1:${sink.port}`]);
    pid = native.child.pid!;
    port = native.port;
    stop = async () => {
      native.child.kill('SIGTERM');
      await native.result;
    };
  }
  const idleRss = treeRssBytes(pid);
  const sim = simulate(capture, port, streams);
  await new Promise((r) => setTimeout(r, warmup * 1000));
  const cpu0 = treeCpuSeconds(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, (seconds - warmup - 1) * 1000));
  const cpu = treeCpuSeconds(pid) - cpu0;
  const wall = (performance.now() - t0) / 1000;
  const rss = treeRssBytes(pid);
  const simStats = await sim;
  await new Promise((r) => setTimeout(r, 1000));
  sink.child.kill('SIGTERM');
  const judged = await sink.result;
  await stop();
  return {
    target,
    streams,
    lost: judged.lost ?? -1,
    missingSsrcs: judged.missing_ssrcs ?? 0,
    received: judged.received ?? 0,
    cpuPerStream: cpu / wall / streams,
    rssPerStreamBytes: Math.max(0, rss - idleRss) / streams,
    simStalls: simStats.stalls ?? 0,
  };
}

async function main(): Promise<void> {
  const build = spawnSync('make', ['-C', join(repoRoot, 'native-bench')], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`native-bench build failed: ${build.stderr}`);
  const fixture = jt1078Fixture(10);
  console.log(`input: ${fixture.description}; measured video bitrate ${(fixture.bitrate / 1e6).toFixed(2)} Mbit/s`);
  const results: StepResult[] = [];
  const best: Record<string, StepResult | undefined> = {};
  for (const target of ['native', 'camgate'] as const) {
    for (const streams of steps) {
      const r = await runStep(target, fixture.file, streams);
      results.push(r);
      const clean = r.lost === 0 && r.missingSsrcs === 0;
      console.log(`${target.padEnd(7)} ${String(streams).padStart(4)} streams: lost ${r.lost}, missing SSRCs ${r.missingSsrcs}, CPU/stream ${(r.cpuPerStream * 100).toFixed(3)} % of a core, RSS/stream ${(r.rssPerStreamBytes / 1024).toFixed(0)} KiB`);
      if (!clean) break;
      best[target] = r;
    }
  }
  const ours = best.camgate;
  const native = best.native;
  const rows = [ours, native].filter(Boolean).map((r) => ({
    target: r!.target,
    'max streams, 0 loss': r!.streams,
    'CPU/stream (% core)': (r!.cpuPerStream * 100).toFixed(3),
    'RSS/stream KiB': (r!.rssPerStreamBytes / 1024).toFixed(0),
  }));
  console.log('\n' + table(rows));
  const ratios = {
    maxStreams: ours && native ? ours.streams / native.streams : 0,
    // Throughput per core: how many streams one core carries, ours over native's.
    cpuEfficiency: ours && native ? native.cpuPerStream / ours.cpuPerStream : 0,
  };
  console.log(`\nratios vs native: max streams ${ratios.maxStreams.toFixed(2)}, streams per core ${ratios.cpuEfficiency.toFixed(2)} (top step ${steps.at(-1)})`);
  for (const target of ['camgate', 'native'] as const) {
    const clean = results.filter((r) => r.target === target && r.lost === 0 && r.missingSsrcs === 0);
    console.log(scalingLine(`${target} CPU per stream`, clean.map((r) => ({ load: r.streams, cost: r.cpuPerStream * 100 })), '% of a core per stream'));
    console.log(scalingLine(`${target} RSS per stream`, clean.map((r) => ({ load: r.streams, cost: r.rssPerStreamBytes / 1024 })), 'KiB per stream'));
  }
  const file = writeResult('media', {
    quick,
    input: fixture.description,
    bitrate: fixture.bitrate,
    steps: results,
    figures: ours ?? null,
    baseline: native ?? null,
    ratios,
    targets: '≥ 500 streams with zero loss, ≤ 256 KB RSS per stream, ≥ 0.7 of native throughput',
  });
  console.log(`result: ${file}`);
}

await main();
