import { closeSync, openSync, writeSync } from 'node:fs';
import type { AvFrame } from '../protocol/av/frame.js';
import { Fmp4Muxer } from '../protocol/mp4/fmp4-muxer.js';
import type { RecordProgress, RecordTarget } from '../shared/contracts/media.js';

/** Payloads are gathered up to this many bytes per write: a few writes a second even at downloadspeed 4. */
const CHUNK_BYTES = 256 * 1024;

/**
 * A download's file. `ps`: the PS byte stream of one GB28181 input, written as received (RTP
 * payloads in sequence order, so the file is the device's own program stream). `mp4`: the
 * input's video frames in a fragmented MP4 (src/protocol/mp4/fmp4-muxer.ts). Writes are
 * synchronous and batched: the file is complete the moment close() returns, so the final
 * progress note (sent before the input's `stream.stopped`) carries the real size.
 */
export class DownloadRecorder {
  readonly target: RecordTarget;
  #fd: number | null;
  /** Bytes gathered for the next write: each payload is copied once, into this. */
  #buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  #filled = 0;
  #written = 0;
  #firstPts: number | null = null;
  #lastPts = 0;
  #mp4: Fmp4Muxer | null;
  /** Why writing stopped (size limit, I/O error); the input closes with it. */
  failure: string | null = null;

  constructor(target: RecordTarget) {
    this.target = target;
    this.#fd = openSync(target.path, 'w');
    this.#mp4 = target.format === 'mp4' ? new Fmp4Muxer() : null;
  }

  /** Bytes in the file plus those waiting to be written. */
  get bytes(): number {
    return this.#written + this.#filled;
  }

  /** One PS payload; false once the size limit or an error stopped the file. */
  write(payload: Uint8Array): boolean {
    // Copied into the write buffer at once: the file does not depend on how the datagram or TCP chunk is kept.
    return this.#append(payload);
  }

  /** One frame: media time comes from the frames' timestamps (90 kHz, unwrapped by the demuxer); MP4 files get the frame. */
  frame(frame: AvFrame): boolean {
    if (this.#firstPts === null) this.#firstPts = frame.pts;
    if (frame.pts > this.#lastPts) this.#lastPts = frame.pts;
    if (!this.#mp4) return this.failure === null;
    return this.#appendAll(this.#mp4.push(frame));
  }

  /** A fragment whole or not at all: a file cut at the size limit still ends on a complete fragment. */
  #appendAll(chunks: Uint8Array[]): boolean {
    const size = chunks.reduce((n, c) => n + c.length, 0);
    if (this.failure === null && this.bytes + size > this.target.maxBytes) this.failure = 'file size limit';
    for (const chunk of chunks) if (!this.#append(chunk)) return false;
    return this.failure === null;
  }

  #append(chunk: Uint8Array): boolean {
    if (this.#fd === null || this.failure) return false;
    if (this.bytes + chunk.length > this.target.maxBytes) {
      this.failure = 'file size limit';
      return false;
    }
    if (this.#filled + chunk.length > CHUNK_BYTES) {
      this.#flush();
      // Larger than the buffer (an MP4 fragment of a big GOP): written as it is.
      if (chunk.length > CHUNK_BYTES) {
        this.#writeOut(chunk);
        return this.failure === null;
      }
    }
    this.#buffer.set(chunk, this.#filled);
    this.#filled += chunk.length;
    return this.failure === null;
  }

  progress(name: string, final: boolean): RecordProgress {
    const mediaMs = this.#firstPts === null ? 0 : Math.max(0, Math.round((this.#lastPts - this.#firstPts) / 90));
    return { name, bytes: this.bytes, mediaMs, final, ...(this.failure ? { error: this.failure } : {}) };
  }

  #flush(): void {
    if (this.#filled === 0) return;
    const filled = this.#filled;
    this.#filled = 0;
    this.#writeOut(this.#buffer.subarray(0, filled));
  }

  #writeOut(bytes: Uint8Array): void {
    if (this.#fd === null) return;
    try {
      writeSync(this.#fd, bytes);
      this.#written += bytes.length;
    } catch (error) {
      this.failure = `file write failed: ${(error as Error).message}`;
    }
  }

  close(): void {
    if (this.#fd === null) return;
    if (this.#mp4) this.#appendAll(this.#mp4.flush());
    this.#flush();
    closeSync(this.#fd);
    this.#fd = null;
  }
}
