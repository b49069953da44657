/**
 * ADTS (ISO/IEC 13818-7 6.2 / 14496-3 1.A.2) headers -> AudioSpecificConfig, because FLV
 * carries AAC as raw access units after one AudioSpecificConfig sequence header.
 */

export const AAC_SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

export interface AdtsFrame {
  /** The raw AAC payload (view into the input, ADTS header and CRC stripped). */
  payload: Uint8Array;
  /** MPEG-4 audio object type (profile + 1). */
  objectType: number;
  samplingIndex: number;
  channelConfig: number;
}

/** True when `data` starts with an ADTS syncword (0xFFF, layer 0). */
export function isAdts(data: Uint8Array): boolean {
  return data.length >= 7 && data[0] === 0xff && (data[1]! & 0xf6) === 0xf0;
}

/**
 * Every ADTS frame in `data`, in order. Stops at the first byte that is not a valid header
 * (truncated or garbage tail) and reports how many bytes were used. Frames with more than
 * one raw data block are skipped (their block boundaries need the CRC-less block parser).
 */
export function splitAdts(data: Uint8Array): { frames: AdtsFrame[]; used: number; skipped: number } {
  const frames: AdtsFrame[] = [];
  let o = 0;
  let skipped = 0;
  while (o + 7 <= data.length && data[o] === 0xff && (data[o + 1]! & 0xf6) === 0xf0) {
    const protectionAbsent = data[o + 1]! & 1;
    const b2 = data[o + 2]!;
    const b3 = data[o + 3]!;
    const objectType = (b2 >> 6) + 1;
    const samplingIndex = (b2 >> 2) & 0x0f;
    const channelConfig = ((b2 & 1) << 2) | (b3 >> 6);
    const frameLength = ((b3 & 3) << 11) | (data[o + 4]! << 3) | (data[o + 5]! >> 5);
    const blocks = (data[o + 6]! & 3) + 1;
    const headerLength = protectionAbsent ? 7 : 9;
    if (frameLength < headerLength || o + frameLength > data.length || samplingIndex >= AAC_SAMPLE_RATES.length) break;
    if (blocks === 1) {
      frames.push({ payload: data.subarray(o + headerLength, o + frameLength), objectType, samplingIndex, channelConfig });
    } else {
      skipped++;
    }
    o += frameLength;
  }
  return { frames, used: o, skipped };
}

/** The 2-byte AudioSpecificConfig (14496-3 1.6.2.1) for a plain AAC stream. */
export function audioSpecificConfig(objectType: number, samplingIndex: number, channelConfig: number): Uint8Array {
  return Uint8Array.of((objectType << 3) | (samplingIndex >> 1), ((samplingIndex & 1) << 7) | (channelConfig << 3));
}
