/** Shared by the PS and RTP tests: sample files, demux helpers, the ffprobe oracle. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AvFrame } from '../../../src/media/frame.js';
import { PsDemuxer } from '../../../src/protocol/mpeg-ps/index.js';
import type { PsDemuxerOptions } from '../../../src/protocol/mpeg-ps/index.js';

export const mediaDir = fileURLToPath(new URL('../../../../shared/media/', import.meta.url));

export function media(name: string): Buffer {
  return readFileSync(join(mediaDir, name));
}

/** Demux `ps` fed in pieces of `chunk` bytes (or at the given cut points). */
export function demuxAll(ps: Uint8Array, chunk: number | number[] = ps.length, options?: PsDemuxerOptions): { frames: AvFrame[]; demuxer: PsDemuxer } {
  const frames: AvFrame[] = [];
  const demuxer = new PsDemuxer((f) => frames.push(f), options);
  if (typeof chunk === 'number') {
    for (let i = 0; i < ps.length; i += chunk) demuxer.push(ps.subarray(i, i + chunk));
  } else {
    let prev = 0;
    for (const cut of [...chunk, ps.length]) {
      demuxer.push(ps.subarray(prev, cut));
      prev = cut;
    }
  }
  demuxer.flush();
  return { frames, demuxer };
}

export function concat(parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

const ffprobeCheck = spawnSync('ffprobe', ['-version'], { encoding: 'utf8' });
const ffprobeMissing = ffprobeCheck.error !== undefined || ffprobeCheck.status !== 0;

/**
 * tap `skip` value for tests that need ffprobe: a reason when it is missing, false otherwise.
 * Under CI it is required, so there the test runs and fails instead.
 */
export const needFfprobe: string | false =
  ffprobeMissing && process.env.CI !== 'true' ? 'ffprobe not installed (apt-get install ffmpeg); required when CI=true' : false;

export interface ProbeResult {
  status: number | null;
  stderr: string;
  json: any;
}

/** Run ffprobe with `-v error -of json` on the bytes; the file lives in a temp dir. */
export function ffprobe(bytes: Uint8Array, args: string[]): ProbeResult {
  const dir = mkdtempSync(join(tmpdir(), 'camgate-ps-'));
  try {
    const file = join(dir, 'in.ps');
    writeFileSync(file, bytes);
    const r = spawnSync('ffprobe', ['-v', 'error', ...args, '-of', 'json', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (r.error) throw r.error;
    return { status: r.status, stderr: r.stderr, json: r.stdout ? JSON.parse(r.stdout) : undefined };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Run ffmpeg on the bytes and return what it wrote to stdout. */
export function ffmpegExtract(bytes: Uint8Array, args: string[]): { status: number | null; stderr: string; out: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'camgate-ps-'));
  try {
    const file = join(dir, 'in.ps');
    writeFileSync(file, bytes);
    const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file, ...args, 'pipe:1'], { maxBuffer: 64 * 1024 * 1024 });
    if (r.error) throw r.error;
    return { status: r.status, stderr: r.stderr.toString(), out: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Hikvision 40-byte header ('IMKH' + zeros): makes ffmpeg read 0xC0 as pcm_alaw (peers.md §2). */
export function withImkh(ps: Uint8Array): Buffer {
  const head = Buffer.alloc(40);
  head.write('IMKH', 0, 'latin1');
  return Buffer.concat([head, ps]);
}

/** Walk the units of a well-formed PS; returns [stream id, offset, total length]. */
export function walkUnits(ps: Uint8Array): Array<[number, number, number]> {
  const units: Array<[number, number, number]> = [];
  let i = 0;
  while (i + 4 <= ps.length) {
    if (ps[i] !== 0 || ps[i + 1] !== 0 || ps[i + 2] !== 1) throw new Error(`no start code at ${i}`);
    const id = ps[i + 3]!;
    const n = id === 0xba ? 14 + (ps[i + 13]! & 7) : 6 + ((ps[i + 4]! << 8) | ps[i + 5]!);
    units.push([id, i, n]);
    i += n;
  }
  if (i !== ps.length) throw new Error(`trailing bytes at ${i}`);
  return units;
}
