/**
 * Just enough H.264 / H.265 parameter-set parsing to build the decoder configuration records
 * FLV needs (AVCDecoderConfigurationRecord, HEVCDecoderConfigurationRecord, ISO/IEC 14496-15)
 * and to tell the picture size for onMetaData. Only SPS fields up to the bit depths are read;
 * anything malformed yields `undefined` (the caller still muxes, just without width/height).
 */

/** NAL payload (header included) without emulation-prevention bytes (00 00 03 -> 00 00). */
export function toRbsp(nal: Uint8Array): Uint8Array {
  let zeros = 0;
  let found = -1;
  for (let i = 0; i < nal.length; i++) {
    const b = nal[i]!;
    if (zeros >= 2 && b === 3) {
      found = i;
      break;
    }
    zeros = b === 0 ? zeros + 1 : 0;
  }
  if (found < 0) return nal; // the common case: nothing to strip, no copy
  const out = new Uint8Array(nal.length);
  let n = 0;
  zeros = 0;
  for (let i = 0; i < nal.length; i++) {
    const b = nal[i]!;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[n++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, n);
}

class OutOfData extends Error {}

/** MSB-first bit reader with Exp-Golomb codes (H.264 9.1); throws OutOfData past the end. */
class BitReader {
  private pos = 0;
  constructor(
    private readonly data: Uint8Array,
    byteOffset: number,
  ) {
    this.pos = byteOffset * 8;
  }

  bit(): number {
    const byte = this.pos >>> 3;
    if (byte >= this.data.length) throw new OutOfData();
    const v = (this.data[byte]! >> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return v;
  }

  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  skip(n: number): void {
    this.pos += n;
  }

  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 31) throw new OutOfData();
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : -(k / 2);
  }
}

export interface AvcSpsInfo {
  profileIdc: number;
  constraintFlags: number;
  levelIdc: number;
  chromaFormatIdc: number;
  bitDepthLumaMinus8: number;
  bitDepthChromaMinus8: number;
  width: number;
  height: number;
}

const AVC_HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** H.264 7.3.2.1.1 seq_parameter_set_data, up to frame cropping. `nal` starts at the NAL header. */
export function parseAvcSps(nal: Uint8Array): AvcSpsInfo | undefined {
  if (nal.length < 4) return undefined;
  const rbsp = toRbsp(nal);
  const r = new BitReader(rbsp, 4);
  try {
    const profileIdc = rbsp[1]!;
    let chromaFormatIdc = 1;
    let separateColourPlane = 0;
    let bitDepthLumaMinus8 = 0;
    let bitDepthChromaMinus8 = 0;
    r.ue(); // seq_parameter_set_id
    if (AVC_HIGH_PROFILES.has(profileIdc)) {
      chromaFormatIdc = r.ue();
      if (chromaFormatIdc === 3) separateColourPlane = r.bit();
      bitDepthLumaMinus8 = r.ue();
      bitDepthChromaMinus8 = r.ue();
      r.bit(); // qpprime_y_zero_transform_bypass_flag
      if (r.bit()) {
        // seq_scaling_matrix_present_flag: skip the scaling lists (7.3.2.1.1.1)
        const lists = chromaFormatIdc !== 3 ? 8 : 12;
        for (let i = 0; i < lists; i++) {
          if (!r.bit()) continue;
          const size = i < 6 ? 16 : 64;
          let last = 8;
          let next = 8;
          for (let j = 0; j < size; j++) {
            if (next !== 0) next = (last + r.se() + 256) % 256;
            last = next === 0 ? last : next;
          }
        }
      }
    }
    r.ue(); // log2_max_frame_num_minus4
    const pocType = r.ue();
    if (pocType === 0) {
      r.ue();
    } else if (pocType === 1) {
      r.bit();
      r.se();
      r.se();
      const cycle = r.ue();
      for (let i = 0; i < cycle; i++) r.se();
    }
    r.ue(); // max_num_ref_frames
    r.bit(); // gaps_in_frame_num_value_allowed_flag
    const widthMbs = r.ue() + 1;
    const heightMapUnits = r.ue() + 1;
    const frameMbsOnly = r.bit();
    if (!frameMbsOnly) r.bit(); // mb_adaptive_frame_field_flag
    r.bit(); // direct_8x8_inference_flag
    let cropLeft = 0;
    let cropRight = 0;
    let cropTop = 0;
    let cropBottom = 0;
    if (r.bit()) {
      cropLeft = r.ue();
      cropRight = r.ue();
      cropTop = r.ue();
      cropBottom = r.ue();
    }
    const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
    const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
    const subHeightC = chromaArrayType === 1 ? 2 : 1;
    const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
    const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (2 - frameMbsOnly);
    return {
      profileIdc,
      constraintFlags: rbsp[2]!,
      levelIdc: rbsp[3]!,
      chromaFormatIdc,
      bitDepthLumaMinus8,
      bitDepthChromaMinus8,
      width: widthMbs * 16 - cropUnitX * (cropLeft + cropRight),
      height: (2 - frameMbsOnly) * heightMapUnits * 16 - cropUnitY * (cropTop + cropBottom),
    };
  } catch (err) {
    if (err instanceof OutOfData) return undefined;
    throw err;
  }
}

/** True when the record needs the chroma/bit-depth extension (ISO/IEC 14496-15 5.3.3.1.2). */
export function avcConfigHasExtension(profileIdc: number): boolean {
  return profileIdc === 100 || profileIdc === 110 || profileIdc === 122 || profileIdc === 144;
}

export interface HevcSpsInfo {
  /** sps_max_sub_layers_minus1 + 1 */
  numTemporalLayers: number;
  temporalIdNested: number;
  /** The 12 bytes of general profile_tier_level: profile_space..general_level_idc. */
  generalProfileTierLevel: Uint8Array;
  chromaFormatIdc: number;
  bitDepthLumaMinus8: number;
  bitDepthChromaMinus8: number;
  width: number;
  height: number;
}

/** H.265 7.3.2.2 seq_parameter_set_rbsp up to the bit depths. `nal` starts at the 2-byte NAL header. */
export function parseHevcSps(nal: Uint8Array): HevcSpsInfo | undefined {
  if (nal.length < 15) return undefined;
  const rbsp = toRbsp(nal);
  if (rbsp.length < 15) return undefined;
  try {
    const b = rbsp[2]!;
    const maxSubLayersMinus1 = (b >> 1) & 7;
    const temporalIdNested = b & 1;
    const generalProfileTierLevel = rbsp.slice(3, 15);
    const r = new BitReader(rbsp, 15);
    // sub_layer_profile_present_flag / sub_layer_level_present_flag, then the reserved 2-bit padding
    const profilePresent: number[] = [];
    const levelPresent: number[] = [];
    for (let i = 0; i < maxSubLayersMinus1; i++) {
      profilePresent.push(r.bit());
      levelPresent.push(r.bit());
    }
    if (maxSubLayersMinus1 > 0) r.skip(2 * (8 - maxSubLayersMinus1));
    for (let i = 0; i < maxSubLayersMinus1; i++) {
      if (profilePresent[i]) r.skip(88);
      if (levelPresent[i]) r.skip(8);
    }
    r.ue(); // sps_seq_parameter_set_id
    const chromaFormatIdc = r.ue();
    let separateColourPlane = 0;
    if (chromaFormatIdc === 3) separateColourPlane = r.bit();
    let width = r.ue();
    let height = r.ue();
    if (r.bit()) {
      const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
      const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
      const subHeightC = chromaArrayType === 1 ? 2 : 1;
      const left = r.ue();
      const right = r.ue();
      const top = r.ue();
      const bottom = r.ue();
      width -= subWidthC * (left + right);
      height -= subHeightC * (top + bottom);
    }
    const bitDepthLumaMinus8 = r.ue();
    const bitDepthChromaMinus8 = r.ue();
    return {
      numTemporalLayers: maxSubLayersMinus1 + 1,
      temporalIdNested,
      generalProfileTierLevel,
      chromaFormatIdc,
      bitDepthLumaMinus8,
      bitDepthChromaMinus8,
      width,
      height,
    };
  } catch (err) {
    if (err instanceof OutOfData) return undefined;
    throw err;
  }
}

/**
 * AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1) with 4-byte NAL lengths.
 * Profile/compatibility/level come from the first SPS's bytes 1..3.
 */
export function buildAvcConfig(sps: readonly Uint8Array[], pps: readonly Uint8Array[], info: AvcSpsInfo | undefined): Uint8Array {
  const first = sps[0]!;
  const ext = info !== undefined && avcConfigHasExtension(info.profileIdc);
  let size = 6 + 1 + (ext ? 4 : 0);
  for (const s of sps) size += 2 + s.length;
  for (const p of pps) size += 2 + p.length;
  const out = new Uint8Array(size);
  out[0] = 1; // configurationVersion
  out[1] = first[1] ?? 0; // AVCProfileIndication
  out[2] = first[2] ?? 0; // profile_compatibility
  out[3] = first[3] ?? 0; // AVCLevelIndication
  out[4] = 0xfc | 3; // reserved '111111' + lengthSizeMinusOne = 3
  out[5] = 0xe0 | Math.min(sps.length, 31); // reserved '111' + numOfSequenceParameterSets
  let o = 6;
  for (const s of sps.slice(0, 31)) {
    out[o] = s.length >> 8;
    out[o + 1] = s.length & 0xff;
    out.set(s, o + 2);
    o += 2 + s.length;
  }
  out[o++] = Math.min(pps.length, 255);
  for (const p of pps.slice(0, 255)) {
    out[o] = p.length >> 8;
    out[o + 1] = p.length & 0xff;
    out.set(p, o + 2);
    o += 2 + p.length;
  }
  if (ext && info) {
    out[o++] = 0xfc | (info.chromaFormatIdc & 3);
    out[o++] = 0xf8 | (info.bitDepthLumaMinus8 & 7);
    out[o++] = 0xf8 | (info.bitDepthChromaMinus8 & 7);
    out[o++] = 0; // numOfSequenceParameterSetExt
  }
  return out.subarray(0, o);
}

export const HEVC_NAL_VPS = 32;
export const HEVC_NAL_SPS = 33;
export const HEVC_NAL_PPS = 34;

/**
 * HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1) with 4-byte NAL lengths and one
 * array each for VPS, SPS and PPS. array_completeness = `complete`: 1 only when the coded
 * frames carry no parameter sets of their own (the muxer strips them).
 * Fields that need VUI parsing (min_spatial_segmentation_idc, parallelismType, avgFrameRate)
 * are written as 0 = unknown, which the format allows.
 */
export function buildHevcConfig(
  vps: readonly Uint8Array[],
  sps: readonly Uint8Array[],
  pps: readonly Uint8Array[],
  info: HevcSpsInfo | undefined,
  complete = false,
): Uint8Array {
  const arrays: Array<[number, readonly Uint8Array[]]> = [
    [HEVC_NAL_VPS, vps],
    [HEVC_NAL_SPS, sps],
    [HEVC_NAL_PPS, pps],
  ];
  const present = arrays.filter(([, nals]) => nals.length > 0);
  let size = 23;
  for (const [, nals] of present) {
    size += 3;
    for (const n of nals) size += 2 + n.length;
  }
  const out = new Uint8Array(size);
  out[0] = 1; // configurationVersion
  if (info) out.set(info.generalProfileTierLevel, 1); // profile_space..general_level_idc (12 bytes)
  out[13] = 0xf0; // reserved '1111' + min_spatial_segmentation_idc (12 bits) = 0
  out[14] = 0x00;
  out[15] = 0xfc; // reserved '111111' + parallelismType = 0
  out[16] = 0xfc | ((info?.chromaFormatIdc ?? 1) & 3);
  out[17] = 0xf8 | ((info?.bitDepthLumaMinus8 ?? 0) & 7);
  out[18] = 0xf8 | ((info?.bitDepthChromaMinus8 ?? 0) & 7);
  out[19] = 0; // avgFrameRate (16) = 0: unspecified
  out[20] = 0;
  // constantFrameRate (2) = 0, numTemporalLayers (3), temporalIdNested (1), lengthSizeMinusOne (2) = 3
  out[21] = (((info?.numTemporalLayers ?? 1) & 7) << 3) | (((info?.temporalIdNested ?? 0) & 1) << 2) | 3;
  out[22] = present.length; // numOfArrays
  let o = 23;
  for (const [type, nals] of present) {
    out[o++] = (complete ? 0x80 : 0) | type; // array_completeness, reserved 0, NAL_unit_type
    out[o++] = nals.length >> 8;
    out[o++] = nals.length & 0xff;
    for (const n of nals) {
      out[o] = n.length >> 8;
      out[o + 1] = n.length & 0xff;
      out.set(n, o + 2);
      o += 2 + n.length;
    }
  }
  return out;
}
