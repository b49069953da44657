/**
 * Field codecs shared by every JT/T 808 message: BCD digits, BCD[6] times (GMT+8), GBK
 * strings, and a bounds-checked reader/writer for big-endian bodies.
 *
 * Why a reader that throws: a body decoder is a straight list of fields, and a short or
 * corrupt body from a device must end as one value (`Jt808BodyError`) the session turns
 * into a "message error" answer, never as a RangeError from deep inside Buffer.
 */
import iconv from 'iconv-lite';

/** A body that does not match its message's layout. */
export class Jt808BodyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Jt808BodyError';
  }
}

/** Hex digits of BCD bytes (a nibble above 9 comes out as a-f, so nothing is lost). */
export function decodeBcd(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

/** Decimal digits as BCD[size], left-padded with zeros; throws if they do not fit. */
export function encodeBcd(digits: string, size: number): Buffer {
  if (!/^[0-9]*$/.test(digits)) throw new RangeError(`BCD: not decimal digits: ${JSON.stringify(digits)}`);
  if (digits.length > size * 2) throw new RangeError(`BCD: ${digits.length} digits do not fit in ${size} bytes`);
  return Buffer.from(digits.padStart(size * 2, '0'), 'hex');
}

/** Phone/SIM key: digits without leading zeros ("0" if all zero), the same for BCD[6] and BCD[10]. */
export function normalizePhone(digits: string): string {
  const stripped = digits.replace(/^0+/, '');
  return stripped === '' ? '0' : stripped;
}

/** Wire form of a BCD[6] time: 12 digits YYMMDDhhmmss, GMT+8 ("000000000000" = not set). */
export type Jt808Time = string;
export const JT808_TIME_UNSET: Jt808Time = '000000000000';

const GMT8_MS = 8 * 3600_000;

/** Epoch ms of a BCD time (years 2000-2099), or null when unset or not a valid date. */
export function jt808TimeToMs(time: Jt808Time): number | null {
  const m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)$/.exec(time);
  if (m === null || time === JT808_TIME_UNSET) return null;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return null;
  const utc = Date.UTC(2000 + year, month - 1, day, hour, minute, second);
  // Reject 31 February and the like (Date.UTC rolls them over).
  if (new Date(utc).getUTCDate() !== day) return null;
  return utc - GMT8_MS;
}

/** BCD time of an epoch ms (seconds truncated), GMT+8; null → unset. */
export function msToJt808Time(ms: number | null): Jt808Time {
  if (ms === null) return JT808_TIME_UNSET;
  const d = new Date(Math.floor(ms / 1000) * 1000 + GMT8_MS);
  const year = d.getUTCFullYear();
  if (year < 2000 || year > 2099) throw new RangeError(`JT808 time: year ${year} outside 2000..2099`);
  const two = (n: number) => String(n).padStart(2, '0');
  return two(year - 2000) + two(d.getUTCMonth() + 1) + two(d.getUTCDate()) + two(d.getUTCHours()) + two(d.getUTCMinutes()) + two(d.getUTCSeconds());
}

export function decodeGbk(bytes: Uint8Array): string {
  return iconv.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), 'gbk');
}

export function encodeGbk(text: string): Buffer {
  return iconv.encode(text, 'gbk');
}

/** Big-endian field reader over one body; every overrun throws Jt808BodyError. */
export class BodyReader {
  private offset = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {}

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  get position(): number {
    return this.offset;
  }

  private take(n: number, field: string): number {
    if (n < 0 || this.offset + n > this.bytes.length) {
      throw new Jt808BodyError(`${this.what}: body too short for ${field} (need ${n} at ${this.offset}, have ${this.bytes.length})`);
    }
    const at = this.offset;
    this.offset += n;
    return at;
  }

  u8(field: string): number {
    return this.bytes[this.take(1, field)]!;
  }

  u16(field: string): number {
    const at = this.take(2, field);
    return (this.bytes[at]! << 8) | this.bytes[at + 1]!;
  }

  u32(field: string): number {
    const at = this.take(4, field);
    return ((this.bytes[at]! << 24) | (this.bytes[at + 1]! << 16) | (this.bytes[at + 2]! << 8) | this.bytes[at + 3]!) >>> 0;
  }

  raw(n: number, field: string): Uint8Array {
    const at = this.take(n, field);
    return this.bytes.subarray(at, at + n);
  }

  bcd(n: number, field: string): string {
    return decodeBcd(this.raw(n, field));
  }

  time(field: string): Jt808Time {
    return this.bcd(6, field);
  }

  /** GBK string of a fixed width, trailing 0x00 padding removed. */
  paddedString(n: number, field: string): string {
    const raw = this.raw(n, field);
    let end = raw.length;
    while (end > 0 && raw[end - 1] === 0) end--;
    return decodeGbk(raw.subarray(0, end));
  }

  /** GBK string of n bytes, as is. */
  string(n: number, field: string): string {
    return decodeGbk(this.raw(n, field));
  }

  rest(): Uint8Array {
    return this.raw(this.remaining, 'rest');
  }

  /** Trailing bytes are a layout error for fixed-size bodies. */
  end(): void {
    if (this.remaining !== 0) throw new Jt808BodyError(`${this.what}: ${this.remaining} unexpected trailing bytes`);
  }
}

/** Big-endian body builder; range errors name the field (platform/simulator bugs, not device input). */
export class BodyWriter {
  private readonly parts: Uint8Array[] = [];

  private static check(value: number, max: number, field: string): void {
    if (!(Number.isInteger(value) && value >= 0 && value <= max)) throw new RangeError(`${field}: ${value} outside 0..${max}`);
  }

  u8(value: number, field: string): this {
    BodyWriter.check(value, 0xff, field);
    this.parts.push(Uint8Array.of(value));
    return this;
  }

  u16(value: number, field: string): this {
    BodyWriter.check(value, 0xffff, field);
    this.parts.push(Uint8Array.of(value >>> 8, value & 0xff));
    return this;
  }

  u32(value: number, field: string): this {
    BodyWriter.check(value, 0xffffffff, field);
    this.parts.push(Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff));
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.parts.push(bytes);
    return this;
  }

  bcd(digits: string, size: number): this {
    return this.raw(encodeBcd(digits, size));
  }

  time(time: Jt808Time): this {
    return this.bcd(time, 6);
  }

  /** GBK string in a fixed width, 0x00-padded; throws when too long. */
  paddedString(text: string, size: number, field: string): this {
    const encoded = encodeGbk(text);
    if (encoded.length > size) throw new RangeError(`${field}: ${encoded.length} bytes exceed ${size}`);
    const out = new Uint8Array(size);
    out.set(encoded);
    return this.raw(out);
  }

  string(text: string): this {
    return this.raw(encodeGbk(text));
  }

  /** GBK string preceded by its length as a BYTE. */
  shortString(text: string, field: string): this {
    const encoded = encodeGbk(text);
    this.u8(encoded.length, `${field} length`);
    return this.raw(encoded);
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}
