/**
 * Main-thread reader of one media worker's FLV ring (src/shared/contracts/flv-records.ts):
 * decodes its records into stream events for the viewer server. Sleeps with
 * Atomics.waitAsync (RingReader), so it shares the thread with the sockets.
 */
import { RingReader } from '../../shared/ring.js';
import type { FlvStreamInfo, FlvTag } from '../../protocol/flv/muxer.js';
import {
  FLV_RECORD_BYTES,
  FLV_RECORD_CLOSE,
  FLV_RECORD_INFO,
  FLV_RECORD_OPEN,
  FLV_RECORD_RESUME,
  FLV_TAG_FLAG_AFTER_GAP,
  flvRecordStream,
  flvRecordType,
  flvTagFromRecord,
  isFlvTagRecord,
  parseInfoRecord,
  parseNumberRecord,
  parseOpenRecord,
  type FlvOpenRecord,
} from '../../shared/contracts/flv-records.js';

/** Where a feed's stream events go; `slot` tells the worker, `index` the stream within it. */
export interface FlvFeedTarget {
  streamOpened(slot: number, index: number, open: FlvOpenRecord): void;
  streamInfo(slot: number, index: number, info: FlvStreamInfo): void;
  streamTag(slot: number, index: number, tag: FlvTag, afterGap: boolean): void;
  streamClosed(slot: number, index: number, reason: string): void;
  /** A lazy stream's source bytes so far (BYTES record). */
  streamBytes(slot: number, index: number, total: number): void;
  /** A lazy stream starts writing tags for the want of this epoch (RESUME record). */
  streamResumed(slot: number, index: number, epoch: number): void;
}

export interface WorkerFeedStats {
  records: number;
  bytes: number;
  /** Records that did not decode (counted and skipped). */
  malformed: number;
}

const decoder = new TextDecoder();

export class WorkerFlvFeed {
  readonly #reader: RingReader;
  readonly #target: FlvFeedTarget;
  readonly #stats: WorkerFeedStats = { records: 0, bytes: 0, malformed: 0 };

  constructor(
    readonly slot: number,
    readonly ring: SharedArrayBuffer,
    target: FlvFeedTarget,
    options: { byteOffset?: number } = {},
  ) {
    this.#reader = new RingReader(ring, options.byteOffset === undefined ? {} : { byteOffset: options.byteOffset });
    this.#target = target;
  }

  /** Reads until close() or until the worker closed the ring and it is drained. */
  run(): Promise<void> {
    return this.#reader.run((view, recordTag) => this.#record(view, recordTag));
  }

  close(): void {
    this.#reader.close();
  }

  get stats(): WorkerFeedStats {
    return { ...this.#stats };
  }

  #record(view: Uint8Array, recordTag: number): void {
    this.#stats.records++;
    this.#stats.bytes += view.length;
    const type = flvRecordType(recordTag);
    const index = flvRecordStream(recordTag);
    const target = this.#target;
    if (isFlvTagRecord(type)) {
      // The view dies with this callback; viewers keep the tag until sent.
      const tag = flvTagFromRecord(type, view.slice());
      if (tag) target.streamTag(this.slot, index, tag, (type & FLV_TAG_FLAG_AFTER_GAP) !== 0);
      else this.#stats.malformed++;
    } else if (type === FLV_RECORD_OPEN) {
      const open = parseOpenRecord(decoder.decode(view));
      if (open) target.streamOpened(this.slot, index, open);
      else this.#stats.malformed++;
    } else if (type === FLV_RECORD_INFO) {
      const info = parseInfoRecord(decoder.decode(view));
      if (info) target.streamInfo(this.slot, index, info);
      else this.#stats.malformed++;
    } else if (type === FLV_RECORD_BYTES || type === FLV_RECORD_RESUME) {
      const n = parseNumberRecord(type, view);
      if (n === undefined) this.#stats.malformed++;
      else if (type === FLV_RECORD_BYTES) target.streamBytes(this.slot, index, n);
      else target.streamResumed(this.slot, index, n);
    } else if (type === FLV_RECORD_CLOSE) {
      target.streamClosed(this.slot, index, decoder.decode(view) || 'stream closed');
    } else {
      this.#stats.malformed++;
    }
  }
}
