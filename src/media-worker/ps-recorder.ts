import { closeSync, openSync, writeSync } from 'node:fs';
import type { AvFrame } from '../protocol/av/frame.js';
import type { RecordProgress, RecordTarget } from '../shared/contracts/media.js';

/** Payloads are gathered up to this many bytes per write: a few writes a second even at downloadspeed 4. */
const CHUNK_BYTES = 256 * 1024;

/**
 * A download's file: the PS byte stream of one GB28181 input, written as received (RTP
 * payloads in sequence order, so the file is the device's own program stream). Writes are
 * synchronous and batched: the file is complete the moment close() returns, so the final
 * progress note (sent before the input's `stream.stopped`) carries the real size.
 */
export class PsRecorder {
  readonly target: RecordTarget;
  #fd: number | null;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #written = 0;
  #firstPts: number | null = null;
  #lastPts = 0;
  /** Why writing stopped (size limit, I/O error); the input closes with it. */
  failure: string | null = null;

  constructor(target: RecordTarget) {
    this.target = target;
    this.#fd = openSync(target.path, 'w');
  }

  /** Bytes in the file plus those waiting to be written. */
  get bytes(): number {
    return this.#written + this.#pendingBytes;
  }

  /** One PS payload; false once the size limit or an error stopped the file. */
  write(payload: Uint8Array): boolean {
    if (this.#fd === null || this.failure) return false;
    if (this.bytes + payload.length > this.target.maxBytes) {
      this.failure = 'file size limit';
      return false;
    }
    // Copied: the payload is a view of a datagram or of a TCP chunk; the file must not depend on how those are kept.
    this.#pending.push(new Uint8Array(payload));
    this.#pendingBytes += payload.length;
    if (this.#pendingBytes >= CHUNK_BYTES) this.#flush();
    return this.failure === null;
  }

  /** Media time comes from the frames' timestamps (90 kHz, unwrapped by the demuxer). */
  frame(frame: AvFrame): void {
    if (this.#firstPts === null) this.#firstPts = frame.pts;
    if (frame.pts > this.#lastPts) this.#lastPts = frame.pts;
  }

  progress(name: string, final: boolean): RecordProgress {
    const mediaMs = this.#firstPts === null ? 0 : Math.max(0, Math.round((this.#lastPts - this.#firstPts) / 90));
    return { name, bytes: this.bytes, mediaMs, final, ...(this.failure ? { error: this.failure } : {}) };
  }

  #flush(): void {
    if (this.#fd === null || this.#pendingBytes === 0) return;
    const chunk = Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    try {
      writeSync(this.#fd, chunk);
      this.#written += chunk.length;
    } catch (error) {
      this.failure = `file write failed: ${(error as Error).message}`;
    }
  }

  close(): void {
    if (this.#fd === null) return;
    this.#flush();
    closeSync(this.#fd);
    this.#fd = null;
  }
}
