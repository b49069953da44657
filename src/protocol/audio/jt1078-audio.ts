/**
 * Audio codecs of JT/T 1078 terminals behind one shape: a body (HiSilicon prefix allowed)
 * to 8 kHz 16-bit PCM, and PCM to bodies. The intercom transcodes ADPCM and G.726
 * terminals to and from G.711 with it; the terminal simulator speaks every codec with it.
 * Sans-I/O; one instance per direction of one stream (ADPCM and G.726 keep state).
 */
import { hisiliconPrefixLength } from '../jt1078/reassembly.js';
import { decodeG711, encodeG711 } from './g711.js';
import { decodeG726, encodeG726, G726State, g726BitsForFrame, type G726Bits } from './g726.js';
import { decodeImaBlock, ImaEncoder } from './ima-adpcm.js';

/** JT/T 1078 payload types (Table 12) this module speaks. */
export const JT1078_AUDIO = { G711A: 6, G711U: 7, G726: 8, ADPCMA: 26 } as const;

export interface Jt1078AudioCodec {
  readonly payloadType: number;
  /** One body (prefix stripped here) to PCM; throws RangeError on a body it cannot decode. */
  decode(body: Uint8Array): Int16Array;
  /** PCM to zero or more bodies (G.726 gathers 40 ms per body; ADPCM one body per call). */
  encode(samples: Int16Array): Uint8Array[];
}

export interface Jt1078AudioOptions {
  /** Put the HiSilicon prefix `00 01 LL 00` in front of encoded ADPCM bodies (default true, as most terminals send it). */
  hisilicon?: boolean;
  /** G.726 rate for encoding until a decoded frame shows the terminal's (default 4 bits, 32 kbit/s). */
  g726Bits?: G726Bits;
}

/** The HiSilicon prefix for a body of `length` bytes: 00 01 LL 00, LL = length in 16-bit words. */
export function withHisiliconPrefix(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 4);
  out[1] = 1;
  out[2] = (body.length >> 1) & 0xff;
  out.set(body, 4);
  return out;
}

function strip(body: Uint8Array): Uint8Array {
  return body.subarray(hisiliconPrefixLength(body));
}

export function jt1078AudioCodec(payloadType: number, options: Jt1078AudioOptions = {}): Jt1078AudioCodec | null {
  switch (payloadType) {
    case JT1078_AUDIO.G711A:
    case JT1078_AUDIO.G711U: {
      const law = payloadType === JT1078_AUDIO.G711A ? 'alaw' : 'ulaw';
      return { payloadType, decode: (body) => decodeG711(strip(body), law), encode: (samples) => [encodeG711(samples, law)] };
    }
    case JT1078_AUDIO.ADPCMA: {
      const encoder = new ImaEncoder();
      const prefix = options.hisilicon ?? true;
      return {
        payloadType,
        decode: (body) => decodeImaBlock(strip(body)),
        encode: (samples) => {
          const block = encoder.encode(samples);
          return [prefix ? withHisiliconPrefix(block) : block];
        },
      };
    }
    case JT1078_AUDIO.G726: {
      let decoder: G726State | null = null;
      let bits: G726Bits = options.g726Bits ?? 4;
      let encoder = new G726State(bits);
      const pending = new Int16Array(320);
      let filled = 0;
      return {
        payloadType,
        decode: (body) => {
          const frame = strip(body);
          const frameBits = g726BitsForFrame(frame.length);
          if (frameBits === null) throw new RangeError(`G.726 frame of ${frame.length} bytes: not 40 ms at 16, 24, 32 or 40 kbit/s`);
          if (decoder?.bits !== frameBits) decoder = new G726State(frameBits);
          if (frameBits !== bits) {
            // Answer in the rate the terminal speaks.
            bits = frameBits;
            encoder = new G726State(bits);
          }
          return decodeG726(frame, decoder);
        },
        encode: (samples) => {
          const out: Uint8Array[] = [];
          for (let i = 0; i < samples.length; ) {
            const take = Math.min(320 - filled, samples.length - i);
            pending.set(samples.subarray(i, i + take), filled);
            filled += take;
            i += take;
            if (filled === 320) {
              out.push(encodeG726(pending, encoder));
              filled = 0;
            }
          }
          return out;
        },
      };
    }
    default:
      return null;
  }
}
