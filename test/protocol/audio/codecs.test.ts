/**
 * The intercom's hand-written audio codecs: G.711 A/µ, IMA ADPCM as JT/T 1078 terminals
 * send it, G.726 at the four rates (checked against ffmpeg's decoder on the bundled
 * in_*.g726 samples), and the JT/T 1078 codec shape around them. Property tests: any
 * bytes decode or are refused with a RangeError, never anything else, and output sizes
 * follow the input.
 */
import t from 'tap';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { alawToLinear, decodeG711, encodeG711, linearToAlaw, linearToUlaw, transcodeG711, ulawToLinear } from '../../../src/protocol/audio/g711.js';
import { decodeG726, encodeG726, G726State, type G726Bits } from '../../../src/protocol/audio/g726.js';
import { decodeImaBlock, ImaEncoder } from '../../../src/protocol/audio/ima-adpcm.js';
import { jt1078AudioCodec, withHisiliconPrefix } from '../../../src/protocol/audio/jt1078-audio.js';
import { sineSamples, toneRatio } from '../../../src/tools/sim/tone.js';
import { capturesDir } from '../../helpers/jt1078.js';
import { havePeer } from '../../helpers/peers.js';

function snrDb(reference: ArrayLike<number>, decoded: ArrayLike<number>, skip = 0): number {
  let signal = 0;
  let noise = 0;
  for (let i = skip; i < Math.min(reference.length, decoded.length); i++) {
    signal += reference[i]! ** 2;
    noise += (reference[i]! - decoded[i]!) ** 2;
  }
  return 10 * Math.log10(signal / noise);
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    sab += a[i]! * b[i]!;
    saa += a[i]! ** 2;
    sbb += b[i]! ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

t.test('G.711: every code survives decode and encode; quantisation error stays within the law', async (t) => {
  for (let code = 0; code < 256; code++) {
    t.equal(linearToAlaw(alawToLinear(code)), code, `A-law ${code}`);
    // µ-law 0x7f and 0xff both decode to 0; 0 encodes to 0xff.
    if (code !== 0x7f) t.equal(linearToUlaw(ulawToLinear(code)), code, `µ-law ${code}`);
  }
  t.equal(linearToAlaw(0), 0xd5, 'A-law silence');
  t.equal(linearToUlaw(0), 0xff, 'µ-law silence');
  fc.assert(
    fc.property(fc.integer({ min: -32768, max: 32767 }), (x) => {
      for (const [enc, dec] of [
        [linearToAlaw, alawToLinear],
        [linearToUlaw, ulawToLinear],
      ] as const) {
        const y = dec(enc(x));
        if (Math.abs(y - x) > Math.max(16, Math.abs(x) / 16) + 8) return false;
      }
      return true;
    }),
  );
  const tone = sineSamples(440, 8000, 1600);
  t.ok(snrDb(tone, decodeG711(encodeG711(tone, 'alaw'), 'alaw')) > 30, 'A-law tone SNR > 30 dB');
  const viaU = decodeG711(transcodeG711(encodeG711(tone, 'alaw'), 'alaw', 'ulaw'), 'ulaw');
  t.ok(snrDb(tone, viaU) > 25, 'A → µ transcoding keeps the tone');
});

t.test('IMA ADPCM: blocks decode or are refused; a tone survives encode and decode', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      try {
        return decodeImaBlock(bytes).length === (bytes.length - 4) * 2;
      } catch (error) {
        return error instanceof RangeError && (bytes.length < 4 || bytes[2]! > 88);
      }
    }),
  );
  const encoder = new ImaEncoder();
  const decoded: number[] = [];
  for (let i = 0; i < 10; i++) {
    const block = encoder.encode(sineSamples(1000, 8000, 320, 8000, i * 320));
    t.equal(block.length, 164, '4-byte state + 160 code bytes for 40 ms');
    decoded.push(...decodeImaBlock(block));
  }
  const reference = sineSamples(1000, 8000, 3200);
  t.ok(snrDb(reference, decoded, 320) > 15, `tone SNR ${snrDb(reference, decoded, 320).toFixed(1)} dB`);
  t.ok(toneRatio(decoded.slice(1600), 1000, 8000) > 0.9, 'still a 1 kHz tone');
});

t.test('G.726: any bytes decode at every rate; tones survive; the bundled samples decode as ffmpeg does', async (t) => {
  for (const bits of [2, 3, 4, 5] as G726Bits[]) {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const out = decodeG726(bytes, new G726State(bits));
        return out.length === Math.floor((bytes.length * 8) / bits) && out.every((v) => v >= -32768 && v <= 32767);
      }),
      { numRuns: 50 },
    );
    const tone = sineSamples(1000, 8000, 8000);
    const packed = encodeG726(tone, new G726State(bits));
    t.equal(packed.length, Math.ceil((8000 * bits) / 8), `${bits} bits a sample`);
    const back = decodeG726(packed, new G726State(bits));
    t.ok(toneRatio(back.slice(4000), 1000, 8000) > 0.9, `${16 * (bits / 2)} kbit/s: the tone comes back (ratio ${toneRatio(back.slice(4000), 1000, 8000).toFixed(3)}, SNR ${snrDb(tone, back, 800).toFixed(1)} dB)`);
  }
  if (!havePeer('ffmpeg')) {
    if (process.env.CI === 'true') t.fail('ffmpeg not found');
    return;
  }
  for (const [rate, bits] of [
    [16, 2],
    [24, 3],
    [32, 4],
    [40, 5],
  ] as const) {
    const file = `${capturesDir}in_${rate}.g726`;
    const ff = spawnSync('ffmpeg', ['-loglevel', 'error', '-f', 'g726', '-code_size', String(bits), '-ar', '8000', '-ac', '1', '-i', file, '-f', 's16le', '-'], { maxBuffer: 1 << 24 });
    const reference = new Int16Array(ff.stdout.buffer, ff.stdout.byteOffset, ff.stdout.length >> 1);
    const ours = decodeG726(readFileSync(file), new G726State(bits));
    t.equal(ours.length, reference.length, `in_${rate}.g726: as many samples as ffmpeg (${ours.length})`);
    const r = correlation(ours, reference);
    t.ok(r > 0.99, `in_${rate}.g726: correlation with ffmpeg's decode ${r.toFixed(4)}`);
  }
});

t.test('JT/T 1078 codec shape: HiSilicon prefix stripped, G.726 rate by frame length, bad frames refused', async (t) => {
  const adpcm = jt1078AudioCodec(26)!;
  const [withPrefix] = adpcm.encode(sineSamples(1000, 8000, 320));
  t.same([...withPrefix!.subarray(0, 4)], [0, 1, 82, 0], 'prefix 00 01 LL 00 with LL = 164 / 2');
  t.equal(withPrefix!.length, 168, '168-byte body for 40 ms, as terminals send');
  t.equal(adpcm.decode(withPrefix!).length, 320, 'with the prefix: 320 samples');
  t.equal(jt1078AudioCodec(26, { hisilicon: false })!.encode(new Int16Array(320))[0]!.length, 164, 'without the prefix');
  t.equal(adpcm.decode(withPrefix!.subarray(4)).length, 320, 'and decoded without it');
  const g726 = jt1078AudioCodec(8)!;
  t.same(g726.encode(new Int16Array(160)), [], '20 ms is held until 40 ms are there');
  const [frame] = g726.encode(new Int16Array(160));
  t.equal(frame!.length, 160, '40 ms at 32 kbit/s = 160 bytes');
  for (const [length, samples] of [
    [80, 320],
    [120, 320],
    [160, 320],
    [200, 320],
  ]) {
    t.equal(jt1078AudioCodec(8)!.decode(new Uint8Array(length)).length, samples, `${length}-byte G.726 frame`);
  }
  t.throws(() => jt1078AudioCodec(8)!.decode(new Uint8Array(99)), RangeError, 'a G.726 frame of another length');
  t.equal(jt1078AudioCodec(6)!.decode(withHisiliconPrefix(new Uint8Array(160))).length, 160, 'G.711 with a prefix');
  t.equal(jt1078AudioCodec(98), null, 'video is no audio codec');
});
