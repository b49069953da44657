/**
 * Small measure of the FLV viewer path (not part of bench:all): FlvPublisher → ring →
 * ViewerServer on uWebSockets.js, in one thread so it pays the mux too (the per-worker
 * node:http server it replaced measured about the same CPU per MB). V curl processes read one HTTP-FLV stream while LOOPS plays
 * of the 4 s H.264 + G.711A sample are pushed, one play per 100 ms (40x real time, about
 * 1.9 MB/s per viewer). Prints bytes per viewer and this process's CPU per MB delivered.
 *   node --import <ts loader> bench/viewer-server.ts [VIEWERS=1] [LOOPS=30]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { AvFrame } from '../src/protocol/av/frame.js';
import { splitAccessUnits } from '../src/protocol/mpeg-ps/index.js';
import { FlvPublisher } from '../src/media-worker/flv-publisher.js';
import { ViewerServer } from '../src/media-process/viewers/viewer-server.js';
import { RingBuffer } from '../src/shared/ring.js';
import { freePort } from '../src/tools/loopback.js';

const [viewersArg = '1', loopsArg = '30'] = process.argv.slice(2);
const mode = 'viewer-server';
const viewers = Number(viewersArg);
const loops = Number(loopsArg);
const media = new URL('../../shared/media/', import.meta.url);

function sample(): AvFrame[] {
  const video = splitAccessUnits(readFileSync(new URL('h264_640x480_25fps_gop50_baseline_4s.h264', media)), 'h264').map(
    (au, i): AvFrame => ({ kind: 'video', codec: 'h264', key: au.key, pts: 3600 * i, dts: 3600 * i, data: au.data }),
  );
  const alaw = readFileSync(new URL('g711a_8k_mono_4s.alaw', media));
  const audio: AvFrame[] = [];
  for (let j = 0; j * 160 < alaw.length; j++) audio.push({ kind: 'audio', codec: 'g711a', key: true, pts: 1800 * j, dts: 1800 * j, data: alaw.subarray(j * 160, j * 160 + 160) });
  return [...video, ...audio].sort((a, b) => a.dts - b.dts);
}

async function main(): Promise<void> {
  const frames = sample();
  const port = await freePort();
  const server = new ViewerServer({ host: '127.0.0.1', port });
  await server.start();
  const ring = RingBuffer.create(1 << 23);
  server.attachWorker(0, ring);
  const publication = new FlvPublisher(ring).open('live/bench');
  await sleep(50);
  const push = (f: AvFrame) => publication.push(f);
  const end = () => publication.close('end');
  const attached = () => server.viewerCount;
  const shutdown = () => server.close();
  const url = `http://127.0.0.1:${port}/live/bench.flv`;
  const readers = Array.from({ length: viewers }, () => {
    const child = spawn('curl', ['-s', '-o', '/dev/null', '-w', '%{size_download}', url], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    return new Promise<number>((resolve) => child.once('exit', () => resolve(Number(out))));
  });
  while (attached() < viewers) await sleep(10);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let n = 0;
  const start = Date.now();
  for (let loop = 0; loop < loops; loop++) {
    for (const f of frames) {
      push({ ...f, pts: f.pts + loop * 360_000, dts: f.dts + loop * 360_000 });
      if (++n % 8 === 0) await nextTurn();
    }
    await sleep(Math.max(0, start + (loop + 1) * 100 - Date.now()));
  }
  await nextTurn();
  end();
  const bytes = await Promise.all(readers);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const total = bytes.reduce((a, b) => a + b, 0);
  shutdown();
  console.log(
    JSON.stringify({
      mode,
      viewers,
      loops,
      bytesPerViewer: Math.round(total / viewers),
      seconds: Number(seconds.toFixed(2)),
      mbPerSecondPerViewer: Number((total / viewers / seconds / 1e6).toFixed(1)),
      cpuMsPerMbOut: Number((cpuMs / (total / 1e6)).toFixed(2)),
    }),
  );
  process.exit(0);
}

void main();
