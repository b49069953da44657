/**
 * IMA ADPCM as JT/T 1078 terminals send it (payload type 26, "ADPCMA"; jt1078.md §1.6):
 * after the optional HiSilicon prefix, a 4-byte state (predictor int16 little-endian,
 * step index, a reserved byte), then 4-bit codes, two per byte, low nibble first (the IMA
 * order; no real terminal capture was available to confirm it). The state is the
 * decoder's starting point, not an output sample: 160 code bytes are 320 samples (40 ms).
 * Hand-written (no maintained package is installed); sans-I/O.
 */

const INDEX_TABLE = [-1, -1, -1, -1, 2, 4, 6, 8, -1, -1, -1, -1, 2, 4, 6, 8];
const STEP_TABLE = [
  7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45, 50, 55, 60, 66, 73, 80, 88, 97, 107, 118, 130, 143, 157, 173, 190, 209, 230,
  253, 279, 307, 337, 371, 408, 449, 494, 544, 598, 658, 724, 796, 876, 963, 1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066, 2272, 2499, 2749, 3024, 3327,
  3660, 4026, 4428, 4871, 5358, 5894, 6484, 7132, 7845, 8630, 9493, 10442, 11487, 12635, 13899, 15289, 16818, 18500, 20350, 22385, 24623, 27086, 29794, 32767,
];

export interface ImaState {
  predictor: number;
  index: number;
}

function clampIndex(i: number): number {
  return i < 0 ? 0 : i > 88 ? 88 : i;
}

function clampSample(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}

function decodeNibble(state: ImaState, code: number): number {
  const step = STEP_TABLE[state.index]!;
  let diff = step >> 3;
  if (code & 4) diff += step;
  if (code & 2) diff += step >> 1;
  if (code & 1) diff += step >> 2;
  state.predictor = clampSample(code & 8 ? state.predictor - diff : state.predictor + diff);
  state.index = clampIndex(state.index + INDEX_TABLE[code]!);
  return state.predictor;
}

/** Decodes one block (4-byte state + codes). Throws RangeError on a block too short or a bad step index. */
export function decodeImaBlock(block: Uint8Array): Int16Array {
  if (block.length < 4) throw new RangeError('IMA ADPCM block shorter than its 4-byte state');
  const state: ImaState = { predictor: (block[0]! | (block[1]! << 8)) << 16 >> 16, index: block[2]! };
  if (state.index > 88) throw new RangeError(`IMA ADPCM step index ${state.index} > 88`);
  const out = new Int16Array((block.length - 4) * 2);
  let o = 0;
  for (let i = 4; i < block.length; i++) {
    const byte = block[i]!;
    out[o++] = decodeNibble(state, byte & 0x0f);
    out[o++] = decodeNibble(state, byte >> 4);
  }
  return out;
}

/** Encodes PCM blocks; keeps its state from block to block, as a terminal's encoder does. */
export class ImaEncoder {
  readonly state: ImaState = { predictor: 0, index: 0 };

  #code(sample: number): number {
    const state = this.state;
    const step = STEP_TABLE[state.index]!;
    let diff = sample - state.predictor;
    let code = 0;
    if (diff < 0) {
      code = 8;
      diff = -diff;
    }
    let s = step;
    if (diff >= s) {
      code |= 4;
      diff -= s;
    }
    s >>= 1;
    if (diff >= s) {
      code |= 2;
      diff -= s;
    }
    s >>= 1;
    if (diff >= s) code |= 1;
    decodeNibble(state, code); // the encoder tracks what the decoder will reconstruct
    return code;
  }

  /** One block: the state before it, then the codes (an odd sample count is padded with a repeat). */
  encode(samples: ArrayLike<number>): Uint8Array {
    const count = samples.length + (samples.length & 1);
    const out = new Uint8Array(4 + count / 2);
    out[0] = this.state.predictor & 0xff;
    out[1] = (this.state.predictor >> 8) & 0xff;
    out[2] = this.state.index;
    for (let i = 0; i < count; i += 2) {
      const a = samples[i]!;
      const b = i + 1 < samples.length ? samples[i + 1]! : a;
      const lo = this.#code(a);
      const hi = this.#code(b);
      out[4 + i / 2] = lo | (hi << 4);
    }
    return out;
  }
}
