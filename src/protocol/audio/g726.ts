/**
 * ITU-T G.726 ADPCM at 16, 24, 32 and 40 kbit/s (2, 3, 4, 5 bits a sample, 8 kHz),
 * written from the Recommendation's block description (adaptive quantizer, scale factor
 * adaptation, adaptation speed control, 2-pole 6-zero predictor, tone and transition
 * detection). Codes are packed left-justified, most significant bits first (the order of
 * the bundled in_*.g726 samples and of ffmpeg's `g726` format; jt1078.md §1.6).
 * Hand-written (no maintained package is installed); sans-I/O; tested against ffmpeg's decoder.
 */

export type G726Bits = 2 | 3 | 4 | 5;

interface RateTables {
  /** Quantizer decision levels (log domain). */
  qtab: readonly number[];
  /** Reconstruction levels by code. */
  dqln: readonly number[];
  /** Scale factor multipliers W(I), already scaled as the update uses them. */
  wi: readonly number[];
  /** Rate-of-change function F(I). */
  fi: readonly number[];
}

const TABLES: Record<G726Bits, RateTables> = {
  2: {
    qtab: [261],
    dqln: [116, 365, 365, 116],
    wi: [-704, 14048, 14048, -704],
    fi: [0, 0xe00, 0xe00, 0],
  },
  3: {
    qtab: [8, 218, 331],
    dqln: [-2048, 135, 273, 373, 373, 273, 135, -2048],
    wi: [-128, 960, 4384, 18624, 18624, 4384, 960, -128],
    fi: [0, 0x200, 0x400, 0xe00, 0xe00, 0x400, 0x200, 0],
  },
  4: {
    qtab: [-124, 80, 178, 246, 300, 349, 400],
    dqln: [-2048, 4, 135, 213, 273, 323, 373, 425, 425, 373, 323, 273, 213, 135, 4, -2048],
    wi: [-12, 18, 41, 64, 112, 198, 355, 1122, 1122, 355, 198, 112, 64, 41, 18, -12].map((w) => w << 5),
    fi: [0, 0, 0, 0x200, 0x200, 0x200, 0x600, 0xe00, 0xe00, 0x600, 0x200, 0x200, 0x200, 0, 0, 0],
  },
  5: {
    qtab: [-122, -16, 68, 139, 198, 250, 298, 339, 378, 413, 445, 475, 502, 528, 553],
    dqln: [
      -2048, -66, 28, 104, 169, 224, 274, 318, 358, 395, 429, 459, 488, 514, 539, 566, 566, 539, 514, 488, 459, 429, 395, 358, 318, 274, 224, 169, 104, 28, -66, -2048,
    ],
    wi: [
      448, 448, 768, 1248, 1280, 1312, 1856, 3200, 4512, 5728, 7008, 8960, 11456, 14080, 16928, 22272, 22272, 16928, 14080, 11456, 8960, 7008, 5728, 4512, 3200,
      1856, 1312, 1280, 1248, 768, 448, 448,
    ],
    fi: [
      0, 0, 0, 0, 0, 0x200, 0x200, 0x200, 0x200, 0x200, 0x400, 0x600, 0x800, 0xa00, 0xc00, 0xc00, 0xc00, 0xc00, 0xa00, 0x800, 0x600, 0x400, 0x200, 0x200, 0x200,
      0x200, 0x200, 0, 0, 0, 0, 0,
    ],
  },
};

/** "Negative zero" in the floating format: 0xFC20 as a signed 16-bit value, so sign tests see it negative. */
const NEG_ZERO = 0xfc20 - 0x10000;

const POWER2 = [1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800, 0x1000, 0x2000, 0x4000];

/** Index of the first entry greater than `value` (the table length when none is). */
function quan(value: number, table: readonly number[]): number {
  let i = 0;
  while (i < table.length && value >= table[i]!) i++;
  return i;
}

/** Multiplies a predictor coefficient by a signal in G.726's floating format. */
function fmult(an: number, srn: number): number {
  const anmag = an > 0 ? an : -an & 0x1fff;
  const anexp = quan(anmag, POWER2) - 6;
  const anmant = anmag === 0 ? 32 : anexp >= 0 ? anmag >> anexp : anmag << -anexp;
  const wanexp = anexp + ((srn >> 6) & 0xf) - 13;
  const wanmant = (anmant * (srn & 0x3f) + 0x30) >> 4;
  const retval = wanexp >= 0 ? (wanmant << wanexp) & 0x7fff : wanmant >> -wanexp;
  return (an ^ srn) < 0 ? -retval : retval;
}

/** A value in G.726's 11-bit floating format (sign, 4-bit exponent, 6-bit mantissa). */
function toFloat(value: number, negativeZero: boolean): number {
  if (value === 0) return negativeZero ? NEG_ZERO : 0x20;
  const mag = value < 0 ? -value : value;
  const exp = quan(mag, POWER2);
  const f = (exp << 6) + ((mag << 6) >> exp);
  return value < 0 ? f - 0x400 : f;
}

/** One direction's codec state (encoder or decoder). */
export class G726State {
  yl = 34816;
  yu = 544;
  dms = 0;
  dml = 0;
  ap = 0;
  a = [0, 0];
  b = [0, 0, 0, 0, 0, 0];
  pk = [0, 0];
  dq = [32, 32, 32, 32, 32, 32];
  sr = [32, 32];
  td = 0;

  constructor(readonly bits: G726Bits) {}

  #predictorZero(): number {
    let sezi = 0;
    for (let i = 0; i < 6; i++) sezi += fmult(this.b[i]! >> 2, this.dq[i]!);
    return sezi;
  }

  #predictorPole(): number {
    return fmult(this.a[1]! >> 2, this.sr[1]!) + fmult(this.a[0]! >> 2, this.sr[0]!);
  }

  #stepSize(): number {
    if (this.ap >= 256) return this.yu;
    let y = this.yl >> 6;
    const dif = this.yu - y;
    const al = this.ap >> 2;
    if (dif > 0) y += (dif * al) >> 6;
    else if (dif < 0) y += (dif * al + 0x3f) >> 6;
    return y;
  }

  #reconstruct(sign: boolean, dqln: number, y: number): number {
    const dql = dqln + (y >> 2);
    if (dql < 0) return sign ? -0x8000 : 0;
    const dex = (dql >> 7) & 15;
    const dqt = 128 + (dql & 127);
    const dq = (dqt << 7) >> (14 - dex);
    return sign ? dq - 0x8000 : dq;
  }

  #quantize(d: number, y: number): number {
    const { qtab } = TABLES[this.bits];
    const size = qtab.length;
    const dqm = Math.abs(d);
    const exp = quan(dqm >> 1, POWER2);
    const mant = ((dqm << 7) >> exp) & 0x7f;
    const dl = (exp << 7) + mant;
    const dln = dl - (y >> 2);
    const i = quan(dln, qtab);
    if (this.bits === 2) return d < 0 ? 3 - i : i; // no zero level at 16 kbit/s
    if (d < 0) return (size << 1) + 1 - i;
    if (i === 0) return (size << 1) + 1; // the smallest positive level is sent as the negative zero code
    return i;
  }

  #update(y: number, wi: number, fi: number, dq: number, sr: number, dqsez: number): void {
    const pk0 = dqsez < 0 ? 1 : 0;
    const mag = dq & 0x7fff;
    // Transition detector.
    const ylint = this.yl >> 15;
    const ylfrac = (this.yl >> 10) & 0x1f;
    const thr1 = (32 + ylfrac) << ylint;
    const thr2 = ylint > 9 ? 31 << 10 : thr1;
    const dqthr = (thr2 + (thr2 >> 1)) >> 1;
    const tr = this.td === 0 || mag <= dqthr ? 0 : 1;
    // Quantizer scale factor adaptation.
    this.yu = Math.min(5120, Math.max(544, y + ((wi - y) >> 5)));
    this.yl += this.yu + (-this.yl >> 6);
    let a2p = 0;
    if (tr === 1) {
      this.a[0] = this.a[1] = 0;
      this.b.fill(0);
    } else {
      const pks1 = pk0 ^ this.pk[0]!;
      a2p = this.a[1]! - (this.a[1]! >> 7);
      if (dqsez !== 0) {
        const fa1 = pks1 ? this.a[0]! : -this.a[0]!;
        if (fa1 < -8191) a2p -= 0x100;
        else if (fa1 > 8191) a2p += 0xff;
        else a2p += fa1 >> 5;
        if (pk0 ^ this.pk[1]!) {
          if (a2p <= -12160) a2p = -12288;
          else if (a2p >= 12416) a2p = 12288;
          else a2p -= 0x80;
        } else if (a2p <= -12416) a2p = -12288;
        else if (a2p >= 12160) a2p = 12288;
        else a2p += 0x80;
      }
      this.a[1] = a2p;
      let a1 = this.a[0]! - (this.a[0]! >> 8);
      if (dqsez !== 0) a1 += pks1 === 0 ? 192 : -192;
      const a1ul = 15360 - a2p;
      if (a1 < -a1ul) a1 = -a1ul;
      else if (a1 > a1ul) a1 = a1ul;
      this.a[0] = a1;
      for (let i = 0; i < 6; i++) {
        let b = this.b[i]!;
        // Leak 2^-8 at every rate: the 2^-9 some references use at 40 kbit/s decodes the
        // bundled in_40.g726 far from ffmpeg (r 0.84 instead of 0.998).
        b -= b >> 8;
        if (mag !== 0) b += (dq ^ this.dq[i]!) >= 0 ? 128 : -128;
        this.b[i] = b;
      }
    }
    for (let i = 5; i > 0; i--) this.dq[i] = this.dq[i - 1]!;
    this.dq[0] = mag === 0 ? (dq >= 0 ? 0x20 : NEG_ZERO) : toFloat(dq >= 0 ? mag : -mag, false);
    this.sr[1] = this.sr[0]!;
    this.sr[0] = sr <= -32768 ? NEG_ZERO : toFloat(sr, false);
    this.pk[1] = this.pk[0]!;
    this.pk[0] = pk0;
    // Tone detector.
    this.td = tr === 1 ? 0 : a2p < -11776 ? 1 : 0;
    // Adaptation speed control.
    this.dms += (fi - this.dms) >> 5;
    this.dml += ((fi << 2) - this.dml) >> 7;
    if (tr === 1) this.ap = 256;
    else if (y < 1536 || this.td === 1 || Math.abs((this.dms << 2) - this.dml) >= this.dml >> 3) this.ap += (0x200 - this.ap) >> 4;
    else this.ap += -this.ap >> 4;
  }

  /** One code to one 16-bit sample. */
  decode(code: number): number {
    const t = TABLES[this.bits];
    const i = code & ((1 << this.bits) - 1);
    const sezi = this.#predictorZero();
    const sez = sezi >> 1;
    const se = (sezi + this.#predictorPole()) >> 1;
    const y = this.#stepSize();
    const dq = this.#reconstruct((i & (1 << (this.bits - 1))) !== 0, t.dqln[i]!, y);
    const sr = dq < 0 ? se - (dq & 0x3fff) : se + dq;
    const dqsez = sr - se + sez;
    this.#update(y, t.wi[i]!, t.fi[i]!, dq, sr, dqsez);
    return Math.max(-32768, Math.min(32767, sr << 2));
  }

  /** One 16-bit sample to one code. */
  encode(sample: number): number {
    const t = TABLES[this.bits];
    const sl = sample >> 2;
    const sezi = this.#predictorZero();
    const sez = sezi >> 1;
    const se = (sezi + this.#predictorPole()) >> 1;
    const d = sl - se;
    const y = this.#stepSize();
    const i = this.#quantize(d, y);
    const dq = this.#reconstruct((i & (1 << (this.bits - 1))) !== 0, t.dqln[i]!, y);
    const sr = dq < 0 ? se - (dq & 0x3fff) : se + dq;
    const dqsez = sr + sez - se;
    this.#update(y, t.wi[i]!, t.fi[i]!, dq, sr, dqsez);
    return i;
  }
}

/** Decodes packed codes (most significant bits first) with a running state. */
export function decodeG726(data: Uint8Array, state: G726State): Int16Array {
  const bits = state.bits;
  const count = Math.floor((data.length * 8) / bits);
  const out = new Int16Array(count);
  let acc = 0;
  let have = 0;
  let at = 0;
  for (let n = 0; n < count; n++) {
    while (have < bits) {
      acc = ((acc << 8) | data[at++]!) & 0xffff;
      have += 8;
    }
    have -= bits;
    out[n] = state.decode((acc >> have) & ((1 << bits) - 1));
  }
  return out;
}

/** Encodes samples into packed codes (most significant bits first; the last byte zero-padded). */
export function encodeG726(samples: ArrayLike<number>, state: G726State): Uint8Array {
  const bits = state.bits;
  const out = new Uint8Array(Math.ceil((samples.length * bits) / 8));
  let acc = 0;
  let have = 0;
  let at = 0;
  for (let n = 0; n < samples.length; n++) {
    acc = ((acc << bits) | state.encode(samples[n]!)) & 0xffff;
    have += bits;
    while (have >= 8) {
      have -= 8;
      out[at++] = (acc >> have) & 0xff;
    }
  }
  if (have > 0) out[at] = (acc << (8 - have)) & 0xff;
  return out;
}

/**
 * The rate of a G.726 frame from its length, assuming 40 ms (320 samples) per frame as
 * terminals send it (glaciall's rule, jt1078.md §1.6): 80 B → 16 kbit/s, 120 → 24, 160 → 32, 200 → 40.
 */
export function g726BitsForFrame(length: number): G726Bits | null {
  switch (length) {
    case 80:
      return 2;
    case 120:
      return 3;
    case 160:
      return 4;
    case 200:
      return 5;
    default:
      return null;
  }
}
