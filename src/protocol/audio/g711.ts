/**
 * G.711 A-law and µ-law (ITU-T G.711), sans-I/O: 16-bit linear PCM ⇄ 8-bit codes.
 * Hand-written (no maintained npm package is installed here; README "Hand-written code"):
 * the simulator decodes what the intercom sends it and encodes its tones, and the intercom
 * uses it to transcode between the two laws. Decoding goes through 256-entry tables.
 */

const SEG_AEND = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
const SEG_UEND = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];

function search(value: number, table: readonly number[]): number {
  for (let i = 0; i < table.length; i++) if (value <= table[i]!) return i;
  return table.length;
}

/** One 16-bit sample to A-law. */
export function linearToAlaw(sample: number): number {
  let pcm = sample >> 3; // 13-bit
  let mask: number;
  if (pcm >= 0) mask = 0xd5;
  else {
    mask = 0x55;
    pcm = -pcm - 1;
  }
  const seg = search(pcm, SEG_AEND);
  if (seg >= 8) return (0x7f ^ mask) & 0xff;
  const code = (seg << 4) | (seg < 2 ? (pcm >> 1) & 0x0f : (pcm >> seg) & 0x0f);
  return (code ^ mask) & 0xff;
}

function alawToLinearSlow(code: number): number {
  const a = code ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

const BIAS = 0x84;
const CLIP = 8159;

/** One 16-bit sample to µ-law. */
export function linearToUlaw(sample: number): number {
  let pcm = sample >> 2; // 14-bit
  let mask: number;
  if (pcm < 0) {
    pcm = -pcm;
    mask = 0x7f;
  } else mask = 0xff;
  if (pcm > CLIP) pcm = CLIP;
  pcm += BIAS >> 2;
  const seg = search(pcm, SEG_UEND);
  if (seg >= 8) return (0x7f ^ mask) & 0xff;
  const code = (seg << 4) | ((pcm >> (seg + 1)) & 0x0f);
  return (code ^ mask) & 0xff;
}

function ulawToLinearSlow(code: number): number {
  const u = ~code & 0xff;
  let t = ((u & 0x0f) << 3) + BIAS;
  t <<= (u & 0x70) >> 4;
  return u & 0x80 ? BIAS - t : t - BIAS;
}

const ALAW_TABLE = Int16Array.from({ length: 256 }, (_, i) => alawToLinearSlow(i));
const ULAW_TABLE = Int16Array.from({ length: 256 }, (_, i) => ulawToLinearSlow(i));

export function alawToLinear(code: number): number {
  return ALAW_TABLE[code & 0xff]!;
}

export function ulawToLinear(code: number): number {
  return ULAW_TABLE[code & 0xff]!;
}

export type G711Law = 'alaw' | 'ulaw';

export function decodeG711(data: Uint8Array, law: G711Law): Int16Array {
  const table = law === 'alaw' ? ALAW_TABLE : ULAW_TABLE;
  const out = new Int16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = table[data[i]!]!;
  return out;
}

export function encodeG711(samples: ArrayLike<number>, law: G711Law): Uint8Array {
  const encode = law === 'alaw' ? linearToAlaw : linearToUlaw;
  const out = new Uint8Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = encode(Math.max(-32768, Math.min(32767, Math.round(samples[i]!))));
  return out;
}

const ALAW_TO_ULAW = Uint8Array.from({ length: 256 }, (_, i) => linearToUlaw(alawToLinearSlow(i)));
const ULAW_TO_ALAW = Uint8Array.from({ length: 256 }, (_, i) => linearToAlaw(ulawToLinearSlow(i)));

/** Re-encodes G.711 from one law to the other (one table lookup per byte). */
export function transcodeG711(data: Uint8Array, from: G711Law, to: G711Law): Uint8Array {
  if (from === to) return data;
  const table = from === 'alaw' ? ALAW_TO_ULAW : ULAW_TO_ALAW;
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = table[data[i]!]!;
  return out;
}
