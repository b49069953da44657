/** Test audio files: Chromium's fake microphone plays a WAV (--use-file-for-fake-audio-capture). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sineSamples } from '../../src/tools/sim/index.js';

/** A mono 16-bit 48 kHz WAV of a 1 kHz tone (Chromium loops the fake capture file). */
export function toneWav(seconds: number): string {
  const rate = 48_000;
  const pcm = sineSamples(1000, rate, rate * seconds, 12_000);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + pcm.byteLength, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(pcm.byteLength, 40);
  const file = join(mkdtempSync(join(tmpdir(), 'camgate-tone-')), 'tone-1khz.wav');
  writeFileSync(file, Buffer.concat([header, Buffer.from(pcm.buffer)]));
  return file;
}

