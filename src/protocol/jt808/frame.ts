/**
 * JT/T 808 framing (jt1078.md §5.1): `7E | header | body | checksum | 7E`, checksum = XOR
 * of header and body, then 0x7E → 7D 02 and 0x7D → 7D 01 over everything between the
 * delimiters.
 *
 * Why every 0x7E is treated as a delimiter: a frame never contains an unescaped 0x7E, so
 * the bytes between two of them are either a frame, nothing (the `7E 7E` between frames)
 * or garbage. Garbage is counted as one bad frame and the stream is back in sync at the
 * next 0x7E, without scanning heuristics. A run without any 0x7E grows to at most
 * `maxFrameBytes` before it is dropped (and counted), so a terminal sending junk costs
 * bounded memory.
 */
import { decodeMessage, type Jt808Message } from './header.js';

export const JT808_DELIMITER = 0x7e;
const ESCAPE = 0x7d;

export function xorChecksum(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum ^= bytes[i]!;
  return sum;
}

/** Escape `content` (header + body + checksum) and wrap it in delimiters. */
export function escapeFrame(content: Uint8Array): Buffer {
  let extra = 0;
  for (const b of content) if (b === JT808_DELIMITER || b === ESCAPE) extra++;
  const out = Buffer.allocUnsafe(content.length + extra + 2);
  let o = 0;
  out[o++] = JT808_DELIMITER;
  for (const b of content) {
    if (b === JT808_DELIMITER) {
      out[o++] = ESCAPE;
      out[o++] = 0x02;
    } else if (b === ESCAPE) {
      out[o++] = ESCAPE;
      out[o++] = 0x01;
    } else out[o++] = b;
  }
  out[o] = JT808_DELIMITER;
  return out;
}

/** Frame an unescaped message (header + body): checksum appended, escaped, delimited. */
export function frameMessage(message: Uint8Array): Buffer {
  const content = Buffer.allocUnsafe(message.length + 1);
  content.set(message);
  content[message.length] = xorChecksum(message);
  return escapeFrame(content);
}

/**
 * Undo the escaping of the bytes between two delimiters. A lone 0x7D as the very last byte
 * (the checksum position) is kept as is: some devices send it unescaped (go-jt808 tolerates it).
 */
export function unescapeFrame(escaped: Uint8Array): Buffer | null {
  const out = Buffer.allocUnsafe(escaped.length);
  let o = 0;
  for (let i = 0; i < escaped.length; i++) {
    const b = escaped[i]!;
    if (b !== ESCAPE) {
      out[o++] = b;
      continue;
    }
    if (i === escaped.length - 1) {
      out[o++] = b;
      continue;
    }
    const next = escaped[++i]!;
    if (next === 0x01) out[o++] = ESCAPE;
    else if (next === 0x02) out[o++] = JT808_DELIMITER;
    else return null;
  }
  return out.subarray(0, o);
}

export type BadFrameReason = 'escape' | 'checksum' | 'short' | 'length' | 'too-long';

export type FrameResult =
  | { kind: 'message'; message: Jt808Message; /** Escaped bytes between the delimiters. */ size: number }
  | { kind: 'bad'; reason: BadFrameReason; size: number };

/** Decode the bytes between two delimiters. */
export function decodeFrameContent(escaped: Uint8Array): FrameResult {
  const size = escaped.length;
  const content = unescapeFrame(escaped);
  if (content === null) return { kind: 'bad', reason: 'escape', size };
  if (content.length < 13) return { kind: 'bad', reason: 'short', size };
  const end = content.length - 1;
  if (xorChecksum(content, 0, end) !== content[end]) return { kind: 'bad', reason: 'checksum', size };
  const message = decodeMessage(content.subarray(0, end));
  if (typeof message === 'string') return { kind: 'bad', reason: message, size };
  return { kind: 'message', message, size };
}

/** Decode one complete `7E … 7E` frame (tests, captures). */
export function decodeFrame(frame: Uint8Array): FrameResult {
  if (frame.length < 2 || frame[0] !== JT808_DELIMITER || frame[frame.length - 1] !== JT808_DELIMITER) {
    return { kind: 'bad', reason: 'short', size: frame.length };
  }
  return decodeFrameContent(frame.subarray(1, frame.length - 1));
}

export interface Jt808FramerOptions {
  /** Escaped bytes between delimiters above which a frame is dropped. Default 4096 (a full 2019 frame escapes to < 2,100). */
  maxFrameBytes?: number;
}

export interface Jt808FramerCounters {
  bytes: number;
  frames: number;
  badFrames: number;
  /** Bad frames by reason. */
  bad: Record<BadFrameReason, number>;
}

/**
 * Streaming framer for one TCP connection: push chunks, get decoded messages and bad-frame
 * reports in order. Never throws on input.
 */
export class Jt808Framer {
  readonly counters: Jt808FramerCounters = {
    bytes: 0,
    frames: 0,
    badFrames: 0,
    bad: { escape: 0, checksum: 0, short: 0, length: 0, 'too-long': 0 },
  };
  private readonly maxFrameBytes: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Dropping an over-long run until the next delimiter. */
  private discarding = false;
  /** Bytes dropped in the current run beyond the last one counted as a bad frame. */
  private discarded = 0;

  constructor(options: Jt808FramerOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? 4096;
  }

  /** Bytes buffered while waiting for a closing delimiter. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  push(chunk: Uint8Array): FrameResult[] {
    const results: FrameResult[] = [];
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    this.counters.bytes += buf.length;
    let start = 0;
    for (;;) {
      const at = buf.indexOf(JT808_DELIMITER, start);
      if (at < 0) {
        this.hold(buf.subarray(start), results);
        return results;
      }
      this.hold(buf.subarray(start, at), results);
      if (this.discarding) this.discarding = false;
      else if (this.pendingBytes > 0) this.emit(results);
      start = at + 1;
    }
  }

  private hold(part: Buffer, results: FrameResult[]): void {
    if (part.length === 0) return;
    if (this.discarding) {
      // Every further maxFrameBytes of the run counts as another bad frame, so endless junk
      // without a delimiter keeps adding to the count a session disconnects on.
      this.discarded += part.length;
      while (this.discarded > this.maxFrameBytes) {
        this.discarded -= this.maxFrameBytes;
        this.bad(results, { kind: 'bad', reason: 'too-long', size: this.maxFrameBytes });
      }
      return;
    }
    if (this.pendingBytes + part.length > this.maxFrameBytes) {
      const size = this.pendingBytes + part.length;
      this.pending = [];
      this.pendingBytes = 0;
      this.discarding = true;
      this.discarded = 0;
      this.bad(results, { kind: 'bad', reason: 'too-long', size });
      return;
    }
    // Copy: the caller may reuse its chunk, and bodies handed out must stay valid.
    this.pending.push(Buffer.from(part));
    this.pendingBytes += part.length;
  }

  private emit(results: FrameResult[]): void {
    const content = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    const result = decodeFrameContent(content);
    if (result.kind === 'message') {
      this.counters.frames++;
      results.push(result);
    } else this.bad(results, result);
  }

  private bad(results: FrameResult[], result: FrameResult & { kind: 'bad' }): void {
    this.counters.badFrames++;
    this.counters.bad[result.reason]++;
    results.push(result);
  }
}
