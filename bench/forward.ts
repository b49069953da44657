/**
 * bench:forward — RTP relay: N GB28181 PS/RTP inputs (paced sender process
 * replaying the sipp pcap), each relayed by camgate's media process to a loss-judging
 * sink (native-bench rtp-sink) with its own SSRC and sequence; then the same load
 * through native-bench's rtp-relay (recvmmsg/sendmmsg) in the same run. Rising N;
 * prints packets/s relayed with zero loss, CPU per packet, and the ratio to native.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ManagedChild, processSpawner } from '../src/shared/child.js';
import type { MediaContract } from '../src/shared/contracts/media.js';
import { loopbackMediaConfig, quick, repoRoot, scalingLine, startNativeTool, table, treeCpuSeconds, writeResult } from './lib.js';

// 10 %, 30 %, 50 % and 100 % of the top step (the scaling curve, issue 17 item 5).
const steps = quick ? [50, 150] : [100, 300, 500, 1000];
const seconds = quick ? 6 : 10;
const pcap = join(repoRoot, '../shared/sipp/gb_h264_4s_rtp.pcap');


function send(ports: number[], duration: number): Promise<any> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'dist/bench/rtp-sender.js'), pcap, String(duration), '127.0.0.1', ports.join(',')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', () => resolve(JSON.parse(out.trim() || '{}')));
  });
}

interface Step {
  target: 'camgate' | 'native';
  streams: number;
  pps: number;
  lost: number;
  cpuPerPacketUs: number;
}

async function camgateStep(media: ManagedChild<MediaContract>, streams: number): Promise<Step> {
  const sink = await startNativeTool('rtp-sink', ['--listen', '127.0.0.1:0', '--expect-ssrcs', String(streams)]);
  const ports: number[] = [];
  for (let i = 0; i < streams; i++) {
    const name = `rtp/F${i}`;
    const { port } = (await media.channel!.request('rtp.open', { name, transport: 'udp', mediaTimeoutMs: 60_000 }));
    await media.channel!.request('forward.add', { name, destination: { host: '127.0.0.1', port: sink.port, transport: 'udp', ssrc: 1000 + i } });
    ports.push(port);
  }
  const pid = media.pid!;
  const sending = send(ports, seconds);
  await new Promise((r) => setTimeout(r, 1000));
  const cpu0 = treeCpuSeconds(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, (seconds - 2) * 1000));
  const cpu = treeCpuSeconds(pid) - cpu0;
  const wall = (performance.now() - t0) / 1000;
  await sending;
  await new Promise((r) => setTimeout(r, 500));
  sink.child.kill('SIGTERM');
  const judged = await sink.result;
  for (let i = 0; i < streams; i++) await media.channel!.request('rtp.close', { name: `rtp/F${i}` });
  const pps = judged.received / judged.duration_s;
  return { target: 'camgate', streams, pps, lost: judged.lost + (judged.missing_ssrcs ?? 0), cpuPerPacketUs: (cpu / wall / pps) * 1e6 };
}

async function nativeStep(streams: number): Promise<Step> {
  const sink = await startNativeTool('rtp-sink', ['--listen', '127.0.0.1:0']);
  const relay = await startNativeTool('rtp-relay', ['--listen', '127.0.0.1:0', '--to', `127.0.0.1:${sink.port}`]);
  // The native relay merges its input into one output stream per destination, so the
  // sender aims every stream at its one port.
  const sending = send(Array.from({ length: streams }, () => relay.port), seconds);
  await sending;
  await new Promise((r) => setTimeout(r, 500));
  relay.child.kill('SIGTERM');
  const relayed = await relay.result;
  sink.child.kill('SIGTERM');
  const judged = await sink.result;
  const pps = relayed.packets_out / relayed.duration_s;
  return { target: 'native', streams, pps, lost: judged.lost, cpuPerPacketUs: ((relayed.cpu_user_s + relayed.cpu_sys_s) / relayed.packets_out) * 1e6 };
}

async function main(): Promise<void> {
  const build = spawnSync('make', ['-C', join(repoRoot, 'native-bench')], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`native-bench build failed: ${build.stderr}`);
  const config = await loopbackMediaConfig({ workers: 1, rtpPorts: 2000 });
  const media = new ManagedChild<MediaContract>('media', processSpawner<MediaContract>(join(repoRoot, 'dist/workers/media-process.js'), () => ({ config })));
  await media.start();
  const results: Step[] = [];
  const best: Partial<Record<Step['target'], Step>> = {};
  for (const streams of steps) {
    for (const step of [await nativeStep(streams), await camgateStep(media, streams)]) {
      results.push(step);
      console.log(`${step.target.padEnd(7)} ${String(streams).padStart(5)} streams: ${Math.round(step.pps)} packets/s relayed, lost ${step.lost}, ${step.cpuPerPacketUs.toFixed(2)} µs CPU per packet`);
      if (step.lost === 0 && (best[step.target]?.pps ?? 0) < step.pps) best[step.target] = step;
    }
  }
  await media.stop();
  const ours = best.camgate;
  const theirs = best.native;
  console.log(
    '\n' +
      table([ours, theirs].filter(Boolean).map((s) => ({ target: s!.target, 'packets/s, 0 loss': Math.round(s!.pps), 'µs CPU/packet': s!.cpuPerPacketUs.toFixed(2) }))),
  );
  const ratios = { packetsPerSecond: ours && theirs ? ours.pps / theirs.pps : 0, cpuPerPacket: ours && theirs ? theirs.cpuPerPacketUs / ours.cpuPerPacketUs : 0 };
  console.log(`\nratios vs native: packets/s ${ratios.packetsPerSecond.toFixed(2)} (target ≥ 0.8), CPU efficiency ${ratios.cpuPerPacket.toFixed(2)}`);
  for (const target of ['camgate', 'native'] as const) {
    console.log(scalingLine(`${target} CPU per packet`, results.filter((r) => r.target === target && r.lost === 0).map((r) => ({ load: r.streams, cost: r.cpuPerPacketUs })), 'µs per packet'));
  }
  console.log(`result: ${writeResult('forward', { quick, steps: results, figures: ours ?? null, baseline: theirs ?? null, ratios })}`);
}

await main();
