/**
 * A 1 Mbit/s, 25 fps H.264 JT/T 1078 capture for the media benchmark: ffmpeg
 * encodes a test pattern, each access unit becomes JT/T 1078 packets (sub-packages
 * of at most 950 bytes, as terminals send), written as a raw capture file that the
 * simulator replays. Falls back to the shared data.txt capture without ffmpeg.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { DataType, PayloadType, SubPackage, encodeJt1078Packet } from '../src/protocol/jt1078/index.js';
import { splitAccessUnits } from '../src/protocol/mpeg-ps/index.js';
import { repoRoot } from './lib.js';

const BODY = 950;

export interface Fixture {
  file: string;
  description: string;
  /** Bits per second of the video payload. */
  bitrate: number;
  fps: number;
}

export function jt1078Fixture(seconds = 10): Fixture {
  const dir = mkdtempSync(join(os.tmpdir(), 'camgate-fixture-'));
  const es = join(dir, 'video.h264');
  const encode = spawnSync('ffmpeg', [
    '-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=25`, '-t', String(seconds),
    '-c:v', 'libx264', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0', '-bf', '0',
    '-x264-params', 'repeat-headers=1:nal-hrd=cbr', '-b:v', '1M', '-maxrate', '1M', '-bufsize', '1M', '-f', 'h264', es,
  ]);
  if (encode.status !== 0 || !existsSync(es)) {
    return { file: join(repoRoot, '../shared/testdata/jt1078/data.txt'), description: 'shared data.txt (ffmpeg missing)', bitrate: 500_000, fps: 24 };
  }
  const units = splitAccessUnits(readFileSync(es), 'h264');
  const packets: Buffer[] = [];
  let sequence = 0;
  let bytes = 0;
  units.forEach((unit, i) => {
    const data = unit.data;
    bytes += data.length;
    const pieces = Math.max(1, Math.ceil(data.length / BODY));
    for (let k = 0; k < pieces; k++) {
      const subPackage = pieces === 1 ? SubPackage.Atomic : k === 0 ? SubPackage.First : k === pieces - 1 ? SubPackage.Last : SubPackage.Middle;
      packets.push(
        encodeJt1078Packet({
          payloadType: PayloadType.H264,
          sequence: sequence++,
          sim: '013800000000',
          channel: 1,
          dataType: unit.key ? DataType.VideoI : DataType.VideoP,
          subPackage,
          timestamp: 1_700_000_000_000 + i * 40,
          lastIFrameInterval: 0,
          lastFrameInterval: 40,
          body: data.subarray(k * BODY, (k + 1) * BODY),
        }),
      );
    }
  });
  const file = join(dir, 'capture.bin');
  writeFileSync(file, Buffer.concat(packets));
  return { file, description: `ffmpeg testsrc2 1280x720, H.264 baseline, 1 Mbit/s CBR, 25 fps, ${seconds} s`, bitrate: (bytes * 8) / seconds, fps: 25 };
}
