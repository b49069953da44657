/**
 * PTZCmd (GB/T 28181-2016 Annex A.3): the 8-byte front-end control command carried as 16
 * upper-case hex characters in `<PTZCmd>` of a DeviceControl.
 *
 *   byte 1  0xA5                       header
 *   byte 2  version (high nibble) | check nibble (low) = (0xA + 0x5 + version) mod 16
 *   byte 3  address, low 8 bits
 *   byte 4  instruction
 *   byte 5  data 1
 *   byte 6  data 2
 *   byte 7  data 3 (high nibble) | address, high 4 bits (low nibble)
 *   byte 8  checksum = (byte 1 + … + byte 7) mod 256
 *
 * Instruction byte families:
 *   0x00–0x3F  PTZ: bit0 right, bit1 left, bit2 down, bit3 up, bit4 zoom in (tele), bit5 zoom out
 *              (wide); data 1 = pan speed, data 2 = tilt speed, data 3 = zoom speed (0–15).
 *              All bits clear = stop.
 *   0x40–0x4F  FI: bit0 focus far, bit1 focus near, bit2 iris open, bit3 iris close; data 1 =
 *              focus speed, data 2 = iris speed. All bits clear = stop.
 *   0x81/0x82/0x83  set / call / delete preset; data 2 = preset number (1–255).
 *   Other values (cruise 0x84–0x88, scan 0x89–0x8A, auxiliary 0x8C–0x8D) are kept raw.
 */

export const PTZ_HEADER = 0xa5;

/** Address 1, as wvp sends and the public samples show (`A50F01…`); cameras mostly ignore it. */
export const DEFAULT_PTZ_ADDRESS = 1;

export interface PtzCmdBytes {
  /** 0–15; 0 for GB/T 28181-2016 devices. */
  version: number;
  /** 0–4095 (12 bits): byte 3 low, byte 7 low nibble high. Usually 0 or 1. */
  address: number;
  instruction: number;
  data1: number;
  data2: number;
  /** 0–15: the high nibble of byte 7. */
  data3: number;
}

export interface PtzMotion {
  kind: 'ptz';
  /** -1 left, 0 none, 1 right. */
  pan: -1 | 0 | 1;
  /** -1 down, 0 none, 1 up. */
  tilt: -1 | 0 | 1;
  /** -1 zoom out (wide), 0 none, 1 zoom in (tele). */
  zoom: -1 | 0 | 1;
  /** 0–255 */
  panSpeed: number;
  /** 0–255 */
  tiltSpeed: number;
  /** 0–15 */
  zoomSpeed: number;
}

export interface PtzFocusIris {
  kind: 'fi';
  /** -1 near, 0 none, 1 far. */
  focus: -1 | 0 | 1;
  /** -1 close (shrink), 0 none, 1 open (enlarge). */
  iris: -1 | 0 | 1;
  /** 0–255 */
  focusSpeed: number;
  /** 0–255 */
  irisSpeed: number;
}

export interface PtzPreset {
  kind: 'preset';
  action: 'set' | 'call' | 'delete';
  /** 1–255 */
  preset: number;
}

export interface PtzRaw {
  kind: 'raw';
  instruction: number;
  data1: number;
  data2: number;
  data3: number;
}

export type PtzCommand = PtzMotion | PtzFocusIris | PtzPreset | PtzRaw;

export type PtzDecodeResult = { ok: true; bytes: PtzCmdBytes; command: PtzCommand } | { ok: false; reason: string };

const PRESET_INSTRUCTION = { set: 0x81, call: 0x82, delete: 0x83 } as const;

function checkRange(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${name} must be an integer 0–${max}, got ${value}`);
}

const sign = (n: number): -1 | 0 | 1 => (n > 0 ? 1 : n < 0 ? -1 : 0);

/** Byte 2: version in the high nibble, (0xA + 0x5 + version) mod 16 in the low one. */
export function ptzVersionByte(version: number): number {
  return ((version & 0x0f) << 4) | ((0xa + 0x5 + version) & 0x0f);
}

/** The 8 bytes, checksum included. Throws RangeError on out-of-range fields (our caller's bug). */
export function encodePtzBytes(b: PtzCmdBytes): Uint8Array {
  checkRange('version', b.version, 15);
  checkRange('address', b.address, 0xfff);
  checkRange('instruction', b.instruction, 255);
  checkRange('data1', b.data1, 255);
  checkRange('data2', b.data2, 255);
  checkRange('data3', b.data3, 15);
  const out = new Uint8Array(8);
  out[0] = PTZ_HEADER;
  out[1] = ptzVersionByte(b.version);
  out[2] = b.address & 0xff;
  out[3] = b.instruction;
  out[4] = b.data1;
  out[5] = b.data2;
  out[6] = (b.data3 << 4) | ((b.address >> 8) & 0x0f);
  let sum = 0;
  for (let i = 0; i < 7; i++) sum += out[i]!;
  out[7] = sum & 0xff;
  return out;
}

/** The instruction and data bytes of a command. */
export function ptzCommandBytes(command: PtzCommand, address = DEFAULT_PTZ_ADDRESS, version = 0): PtzCmdBytes {
  switch (command.kind) {
    case 'ptz': {
      let instruction = 0;
      if (command.pan > 0) instruction |= 0x01;
      if (command.pan < 0) instruction |= 0x02;
      if (command.tilt < 0) instruction |= 0x04;
      if (command.tilt > 0) instruction |= 0x08;
      if (command.zoom > 0) instruction |= 0x10;
      if (command.zoom < 0) instruction |= 0x20;
      return { version, address, instruction, data1: command.panSpeed, data2: command.tiltSpeed, data3: command.zoomSpeed };
    }
    case 'fi': {
      let instruction = 0x40;
      if (command.focus > 0) instruction |= 0x01;
      if (command.focus < 0) instruction |= 0x02;
      if (command.iris > 0) instruction |= 0x04;
      if (command.iris < 0) instruction |= 0x08;
      return { version, address, instruction, data1: command.focusSpeed, data2: command.irisSpeed, data3: 0 };
    }
    case 'preset':
      if (command.preset < 1) throw new RangeError(`preset must be 1–255, got ${command.preset}`);
      return { version, address, instruction: PRESET_INSTRUCTION[command.action], data1: 0, data2: command.preset, data3: 0 };
    case 'raw':
      return { version, address, instruction: command.instruction, data1: command.data1, data2: command.data2, data3: command.data3 };
  }
}

/** `<PTZCmd>` text: 16 upper-case hex characters. */
export function encodePtzCmd(command: PtzCommand, address = DEFAULT_PTZ_ADDRESS, version = 0): string {
  return Buffer.from(encodePtzBytes(ptzCommandBytes(command, address, version))).toString('hex').toUpperCase();
}

/** A stop command: PTZ instruction 0 with zero speeds. */
export const PTZ_STOP: PtzMotion = { kind: 'ptz', pan: 0, tilt: 0, zoom: 0, panSpeed: 0, tiltSpeed: 0, zoomSpeed: 0 };

function interpret(b: PtzCmdBytes): PtzCommand {
  const i = b.instruction;
  // Contradictory direction bits (left+right) are not a motion we can name: keep them raw.
  if (i < 0x40 && (i & 0x03) !== 0x03 && (i & 0x0c) !== 0x0c && (i & 0x30) !== 0x30) {
    return {
      kind: 'ptz',
      pan: i & 0x01 ? 1 : i & 0x02 ? -1 : 0,
      tilt: i & 0x08 ? 1 : i & 0x04 ? -1 : 0,
      zoom: i & 0x10 ? 1 : i & 0x20 ? -1 : 0,
      panSpeed: b.data1,
      tiltSpeed: b.data2,
      zoomSpeed: b.data3,
    };
  }
  if ((i & 0xf0) === 0x40 && (i & 0x03) !== 0x03 && (i & 0x0c) !== 0x0c && b.data3 === 0) {
    return { kind: 'fi', focus: sign((i & 0x01) - ((i >> 1) & 0x01)), iris: sign(((i >> 2) & 0x01) - ((i >> 3) & 0x01)), focusSpeed: b.data1, irisSpeed: b.data2 };
  }
  const action = i === 0x81 ? 'set' : i === 0x82 ? 'call' : i === 0x83 ? 'delete' : undefined;
  if (action !== undefined && b.data2 >= 1 && b.data1 === 0 && b.data3 === 0) return { kind: 'preset', action, preset: b.data2 };
  return { kind: 'raw', instruction: i, data1: b.data1, data2: b.data2, data3: b.data3 };
}

/** Parses `<PTZCmd>` text (whitespace and case tolerated). Never throws. */
export function decodePtzCmd(hex: string): PtzDecodeResult {
  const t = typeof hex === 'string' ? hex.replace(/\s+/g, '') : '';
  if (!/^[0-9a-fA-F]{16}$/.test(t)) return { ok: false, reason: 'PTZCmd must be 16 hex characters' };
  const bytes = Buffer.from(t, 'hex');
  if (bytes[0] !== PTZ_HEADER) return { ok: false, reason: `PTZCmd header is 0x${bytes[0]!.toString(16)}, not 0xA5` };
  const version = bytes[1]! >> 4;
  if ((bytes[1]! & 0x0f) !== ((0xa + 0x5 + version) & 0x0f)) return { ok: false, reason: 'PTZCmd version check nibble is wrong' };
  let sum = 0;
  for (let i = 0; i < 7; i++) sum += bytes[i]!;
  if ((sum & 0xff) !== bytes[7]) return { ok: false, reason: `PTZCmd checksum is 0x${bytes[7]!.toString(16)}, expected 0x${(sum & 0xff).toString(16)}` };
  const b: PtzCmdBytes = {
    version,
    address: bytes[2]! | ((bytes[6]! & 0x0f) << 8),
    instruction: bytes[3]!,
    data1: bytes[4]!,
    data2: bytes[5]!,
    data3: bytes[6]! >> 4,
  };
  return { ok: true, bytes: b, command: interpret(b) };
}
