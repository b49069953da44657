/**
 * bench:play — the built-in media server under viewers: M GB28181 PS/RTP inputs
 * (a paced sender process replaying the sipp pcap) each watched by one HTTP-FLV
 * viewer, then one input watched by V viewers. Measures the media process tree:
 * CPU per stream, CPU per extra viewer, RSS per stream. The anchor is ZLMediaKit's
 * 0.29 % of a core per on-demand stream with one FLV viewer on this machine kind
 * (../shared/reference/zlmediakit.md). `--quick` runs smaller numbers.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ManagedChild, processSpawner } from '../src/shared/child.js';
import type { MediaContract } from '../src/shared/contracts/media.js';
import { loopbackMediaConfig, quick, repoRoot, table, treeCpuSeconds, treeRssBytes, writeResult } from './lib.js';

const M = quick ? 20 : 100;
const V = quick ? 20 : 100;
const window = quick ? 5 : 10;
const pcap = join(repoRoot, '../shared/sipp/gb_h264_4s_rtp.pcap');

function run(script: string, args: string[]): Promise<any> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'dist/bench', script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', () => resolve(JSON.parse(out.trim() || '{}')));
  });
}

async function main(): Promise<void> {
  const config = await loopbackMediaConfig({ workers: 1, rtpPorts: 1000 });
  const media = new ManagedChild<MediaContract>('media', processSpawner<MediaContract>(join(repoRoot, 'dist/workers/media-process.js'), () => ({ config })));
  await media.start();
  const pid = media.pid!;
  const base = `http://127.0.0.1:${config.media.httpPort}`;

  async function scenario(inputs: number, viewersPerInput: number) {
    const ports: number[] = [];
    for (let i = 0; i < inputs; i++) {
      const opened = (await media.channel!.request('rtp.open', { name: `rtp/P${i}`, transport: 'udp', mediaTimeoutMs: 60_000 }));
      ports.push(opened.port);
    }
    const rssBefore = treeRssBytes(pid);
    const seconds = window + 4;
    const sender = run('rtp-sender.js', [pcap, String(seconds), '127.0.0.1', ports.join(',')]);
    await new Promise((r) => setTimeout(r, 1000)); // streams start on their first frame
    const urls = ports.flatMap((_, i) => Array.from({ length: viewersPerInput }, () => `${base}/rtp/P${i}.flv`));
    const viewers = run('flv-viewers.js', [String(window + 2), ...urls]);
    await new Promise((r) => setTimeout(r, 1500));
    const cpu0 = treeCpuSeconds(pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, window * 1000));
    const cpu = treeCpuSeconds(pid) - cpu0;
    const wall = (performance.now() - t0) / 1000;
    const rss = treeRssBytes(pid) - rssBefore;
    const [sent, watched] = await Promise.all([sender, viewers]);
    for (let i = 0; i < inputs; i++) await media.channel!.request('rtp.close', { name: `rtp/P${i}` });
    return { inputs, viewers: urls.length, coreShare: cpu / wall, rssBytes: rss, sent, watched };
  }

  const perStream = await scenario(M, 1);
  const fanout = await scenario(1, V);
  const single = await scenario(1, 1);
  await media.stop();

  const cpuPerStream = perStream.coreShare / M;
  const cpuPerViewer = Math.max(0, fanout.coreShare - single.coreShare) / (V - 1);
  console.log(
    table([
      { scenario: `${M} inputs × 1 viewer`, 'CPU (% core)': (perStream.coreShare * 100).toFixed(2), 'per stream (% core)': (cpuPerStream * 100).toFixed(3), 'RSS/stream KiB': (perStream.rssBytes / M / 1024).toFixed(0), 'viewer MB read': (perStream.watched.bytes / 1e6).toFixed(1), failed: perStream.watched.failed },
      { scenario: `1 input × ${V} viewers`, 'CPU (% core)': (fanout.coreShare * 100).toFixed(2), 'per stream (% core)': '-', 'RSS/stream KiB': '-', 'viewer MB read': (fanout.watched.bytes / 1e6).toFixed(1), failed: fanout.watched.failed },
    ]),
  );
  console.log(`\nCPU per stream with one FLV viewer: ${(cpuPerStream * 100).toFixed(3)} % of a core (ZLMediaKit anchor 0.29 %, ratio ${(0.0029 / cpuPerStream).toFixed(2)}×)`);
  console.log(`CPU per extra viewer: ${(cpuPerViewer * 100).toFixed(4)} % of a core`);
  const file = writeResult('play', {
    quick,
    input: 'gb_h264_4s_rtp.pcap looped (640x480 H.264 PS/RTP, ~0.3 Mbit/s)',
    figures: { cpuPerStream, cpuPerViewer, rssPerStreamBytes: perStream.rssBytes / M },
    scenarios: { perStream, fanout, single },
    anchor: { zlmCpuPerStream: 0.0029, source: '../shared/reference/zlmediakit.md' },
  });
  console.log(`result: ${file}`);
}

await main();
