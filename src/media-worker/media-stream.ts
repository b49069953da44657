import { EventEmitter } from 'node:events';
import type { AvFrame } from '../protocol/av/frame.js';
import type { StreamInfo } from '../shared/contracts/media.js';
import type { Logger } from '../shared/logger.js';
import type { StreamOutputs } from './rtp-output.js';

/** Where a stream's viewers are served (the FLV fan-out); keyed by stream name. */
export interface ViewerPort {
  open(name: string): void;
  push(name: string, frame: AvFrame): void;
  close(name: string, reason: string): void;
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
  #viewers: ViewerPort | null;
  #viewing = false;
  #source: StreamSource | null;
  #closed = false;
  #log: Logger;

  constructor(options: { info: StreamInfo; outputs: StreamOutputs; viewers: ViewerPort | null; source: StreamSource | null; log: Logger }) {
    super();
    this.name = options.info.name;
    this.info = options.info;
    this.outputs = options.outputs;
    this.#viewers = options.viewers;
    this.#source = options.source;
    this.#log = options.log;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The first frame arrived: the stream is announced and viewers may join. */
  started(info: Partial<StreamInfo>): void {
    this.info = { ...this.info, ...info };
    if (this.#viewers && !this.#viewing) {
      this.#viewers.open(this.name);
      this.#viewing = true;
    }
    this.#log.info({ kind: this.info.kind }, 'stream started');
  }

  write(frame: AvFrame): void {
    if (this.#closed) return;
    this.outputs.write(frame);
    if (this.#viewing) this.#viewers!.push(this.name, frame);
  }

  /** Closes outputs, viewers and the source, in that order; emits `close` once. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.outputs.close();
    if (this.#viewing) this.#viewers!.close(this.name, reason);
    this.#viewing = false;
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
