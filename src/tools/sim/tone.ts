/**
 * Test tones for the intercom: a sine generator and a Goertzel detector (the power of one
 * frequency relative to the whole signal), used by the simulated terminal to find the
 * browser's 1 kHz tone in what it receives, and to make its own 440 Hz tone.
 */

/** `count` samples of a sine of `frequency` Hz at `rate` Hz, amplitude `amplitude` (16-bit scale), starting at sample `offset`. */
export function sineSamples(frequency: number, rate: number, count: number, amplitude = 8000, offset = 0): Int16Array {
  const out = new Int16Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * frequency * (offset + i)) / rate));
  return out;
}

/**
 * The share of the signal's energy at `frequency` (0..1): Goertzel power at that bin over
 * the total energy times N/2. A pure tone gives about 1, silence or noise about 0.
 */
export function toneRatio(samples: ArrayLike<number>, frequency: number, rate: number): number {
  const n = samples.length;
  if (n === 0) return 0;
  const k = Math.round((n * frequency) / rate);
  const w = (2 * Math.PI * k) / n;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (let i = 0; i < n; i++) {
    const x = samples[i]!;
    energy += x * x;
    const s0 = x + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  if (energy === 0) return 0;
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return power / ((energy * n) / 2);
}

/** Collects decoded samples and reports whether a tone dominates the last `window` samples. */
export class ToneDetector {
  #buffer: Int16Array;
  #filled = 0;
  #at = 0;
  samples = 0;

  constructor(
    readonly frequency: number,
    readonly rate = 8000,
    readonly window = 1600,
  ) {
    this.#buffer = new Int16Array(window);
  }

  push(samples: Int16Array): void {
    for (let i = 0; i < samples.length; i++) {
      this.#buffer[this.#at] = samples[i]!;
      this.#at = (this.#at + 1) % this.window;
    }
    this.#filled = Math.min(this.window, this.#filled + samples.length);
    this.samples += samples.length;
  }

  /** Tone share over the last window; 0 until a whole window was heard. */
  ratio(): number {
    if (this.#filled < this.window) return 0;
    const ordered = new Int16Array(this.window);
    ordered.set(this.#buffer.subarray(this.#at));
    ordered.set(this.#buffer.subarray(0, this.#at), this.window - this.#at);
    return toneRatio(ordered, this.frequency, this.rate);
  }
}
