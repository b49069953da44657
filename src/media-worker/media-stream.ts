import { EventEmitter } from 'node:events';
import type { AvFrame } from '../protocol/av/frame.js';
import type { StreamInfo } from '../shared/contracts/media.js';
import type { Logger } from '../shared/logger.js';
import type { StreamOutputs } from './rtp-output.js';

/** Where a stream's frames go to reach its viewers (the FLV publisher towards the viewer server). */
export interface ViewerPort {
  open(name: string): ViewerFeed;
}

export interface ViewerFeed {
  push(frame: AvFrame): void;
  /** Whether frames are used now (false: a lazy feed nobody watches, which needs only byte counts). */
  readonly framesWanted: boolean;
  /** Set by the stream: called, before the feed needs frames again, so the source can refill it. */
  onWant: (() => void) | null;
  countBytes(bytes: number): void;
  close(reason: string): void;
}

/** What feeds a stream: an RTP input it owns, or nothing it can close (a JT/T 1078 channel of a connection). */
export interface StreamSource {
  close(reason: string): void;
}

export interface MediaStreamEvents {
  close: [reason: string];
}

/**
 * One live stream inside a media worker, the owner of everything that hangs off it
 * (docs/closures.md): its RTP outputs and forwards, its viewers, and — for a GB28181
 * input — the input itself. close() closes them in that order and emits one `close`
 * with the reason; a source that ended by itself calls sourceClosed(), which does the
 * same without closing the source again.
 */
export class MediaStream extends EventEmitter<MediaStreamEvents> {
  readonly name: string;
  readonly outputs: StreamOutputs;
  info: StreamInfo;
  #viewers: ViewerFeed | null;
  #source: StreamSource | null;
  #closed = false;
  #log: Logger;

  constructor(options: { info: StreamInfo; outputs: StreamOutputs; viewers: ViewerPort | null; source: StreamSource | null; log: Logger }) {
    super();
    this.name = options.info.name;
    this.info = options.info;
    this.outputs = options.outputs;
    // Viewers may connect as soon as the stream exists; they wait for its first key frame.
    this.#viewers = options.viewers?.open(this.name) ?? null;
    this.#source = options.source;
    this.#log = options.log;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The first frame arrived: the stream is announced. */
  started(info: Partial<StreamInfo>): void {
    this.info = { ...this.info, ...info };
    this.#log.info({ kind: this.info.kind }, 'stream started');
  }

  write(frame: AvFrame): void {
    if (this.#closed) return;
    this.outputs.write(frame);
    this.#viewers?.push(frame);
  }

  /**
   * Whether anything needs the stream's frames now: remuxed outputs, or viewers being
   * served. A GB28181 input that is only relayed stops decoding while this is false.
   */
  get framesWanted(): boolean {
    return this.outputs.senders.length > 0 || (this.#viewers?.framesWanted ?? false);
  }

  /** The source's way back in: `refill` runs when viewers want frames again, before they are served. */
  onFramesWanted(refill: () => void): void {
    if (this.#viewers) this.#viewers.onWant = refill;
  }

  /** Source bytes that were not decoded into frames (still counted for the stream's bitrate). */
  countBytes(bytes: number): void {
    this.#viewers?.countBytes(bytes);
  }

  /** Closes outputs, viewers and the source, in that order; emits `close` once. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.outputs.close();
    this.#viewers?.close(reason);
    this.#viewers = null;
    const source = this.#source;
    this.#source = null;
    source?.close(reason);
    this.#log.info({ reason }, 'stream closed');
    this.emit('close', reason);
  }

  /** The source ended by itself (media timeout, connection closed): close the rest. */
  sourceClosed(reason: string): void {
    this.#source = null;
    this.close(reason);
  }
}
