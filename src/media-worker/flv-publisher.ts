/**
 * Worker side of the FLV viewers: muxes each stream's frames to FLV tags once and writes
 * them into this worker's FLV ring (src/shared/contracts/flv-records.ts), where the media
 * process main thread fans them out to every HTTP-FLV / WS-FLV viewer on one port.
 *
 * Why the viewers are not served here: uWebSockets.js must not be loaded in a worker thread
 * (terminating such a worker aborts the process), and one port for all viewers needs one
 * server anyway.
 *
 * A full ring never blocks the worker: the tag is dropped and counted, and the stream skips
 * to its next key frame (sequence headers lost meanwhile are sent again before it), so the
 * main thread sees a gap only between whole GOP pieces, never a frame that cannot decode.
 * Open and close are never dropped: when they do not fit they wait, in order, in a small
 * backlog that is written as soon as the reader frees space; data waits for nothing.
 */
import type { AvFrame } from '../protocol/av/frame.js';
import { FlvMuxer } from '../protocol/flv/muxer.js';
import type { FlvMuxerOptions, FlvStreamInfo, FlvTag } from '../protocol/flv/muxer.js';
import { RingWriter } from '../shared/ring.js';
import {
  FLV_MAX_STREAM_INDEX,
  FLV_RECORD_CLOSE,
  FLV_RECORD_INFO,
  FLV_RECORD_OPEN,
  flvRecordTag,
  flvTagRecordType,
  type FlvOpenRecord,
} from '../shared/contracts/flv-records.js';

export interface FlvPublisherOptions {
  /** Where the ring starts in its SharedArrayBuffer. Default 0. */
  byteOffset?: number;
  muxer?: FlvMuxerOptions;
}

export interface FlvPublisherStats {
  /** Streams open now. */
  streams: number;
  tagsWritten: number;
  bytesWritten: number;
  /** Tags not written: ring full, too big for the ring, or skipped until the next key frame. */
  droppedTags: number;
  droppedBytes: number;
  /** Times a stream lost a tag and had to skip to its next key frame. */
  gaps: number;
  /** Tags larger than the ring can ever hold (half its capacity). */
  oversizeTags: number;
  /** Open/close records waiting for ring space. */
  controlBacklog: number;
}

/** One stream being published; frames in, FLV tags into the ring. */
export interface FlvPublication {
  readonly index: number;
  readonly name: string;
  readonly closed: boolean;
  push(frame: AvFrame): void;
  /** Ends the stream: the main thread closes its viewers with this reason. Idempotent. */
  close(reason: string): void;
}

const encoder = new TextEncoder();

class Publication implements FlvPublication {
  readonly muxer: FlvMuxer;
  closed = false;
  /** The muxer's info object last written (the muxer replaces it when it changes). */
  infoSent: Readonly<FlvStreamInfo> | undefined;
  /** A tag was lost: skip to the next start point. */
  inGap = false;
  videoConfigLost = false;
  audioConfigLost = false;

  constructor(
    readonly index: number,
    readonly name: string,
    private readonly publisher: FlvPublisher,
    muxerOptions: FlvMuxerOptions | undefined,
  ) {
    this.muxer = new FlvMuxer(muxerOptions);
  }

  push(frame: AvFrame): void {
    if (this.closed) return;
    const tags = this.muxer.mux(frame);
    for (let i = 0; i < tags.length; i++) this.publisher.writeTag(this, tags[i]!);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.publisher.closeStream(this, reason);
  }
}

export class FlvPublisher {
  readonly #writer: RingWriter;
  readonly #muxerOptions: FlvMuxerOptions | undefined;
  readonly #streams = new Map<number, Publication>();
  /** Control records that did not fit yet, in order; data is dropped while any wait. */
  readonly #backlog: Array<{ tag: number; payload: Uint8Array }> = [];
  #waiting = false;
  #nextIndex = 1;
  #ended = false;
  readonly #counters = { tagsWritten: 0, bytesWritten: 0, droppedTags: 0, droppedBytes: 0, gaps: 0, oversizeTags: 0 };

  constructor(ring: SharedArrayBuffer, options: FlvPublisherOptions = {}) {
    this.#writer = new RingWriter(ring, options.byteOffset === undefined ? {} : { byteOffset: options.byteOffset });
    this.#muxerOptions = options.muxer;
  }

  /** Announces a stream: viewers may connect (and wait for its first key frame) from now on. */
  open(name: string, hints: Omit<FlvOpenRecord, 'name'> = {}): FlvPublication {
    if (this.#ended) throw new Error('FLV publisher ended');
    const index = this.#nextIndex;
    this.#nextIndex = index >= FLV_MAX_STREAM_INDEX ? 1 : index + 1;
    const publication = new Publication(index, name, this, this.#muxerOptions);
    this.#streams.set(index, publication);
    this.#control(flvRecordTag(FLV_RECORD_OPEN, index), encoder.encode(JSON.stringify({ ...hints, name })));
    return publication;
  }

  /** Open publications by index. */
  get streams(): ReadonlyMap<number, FlvPublication> {
    return this.#streams;
  }

  /** Makes every record written so far visible to the reader now (otherwise: at the end of this turn). */
  flush(): void {
    this.#writer.flush();
  }

  stats(): FlvPublisherStats {
    return { streams: this.#streams.size, ...this.#counters, controlBacklog: this.#backlog.length };
  }

  /**
   * Closes every stream and marks the ring finished (the main thread then closes what is
   * left). Worker shutdown.
   */
  end(reason = 'media worker stopped'): void {
    if (this.#ended) return;
    for (const publication of [...this.#streams.values()]) publication.close(reason);
    this.#ended = true;
    if (this.#backlog.length === 0) this.#writer.close();
  }

  /** @internal Publication.push → here. */
  writeTag(p: Publication, tag: FlvTag): void {
    if (this.#backlog.length > 0) return this.#lose(p, tag);
    if (p.infoSent !== p.muxer.info) {
      const info = p.muxer.info;
      if (!this.#record(flvRecordTag(FLV_RECORD_INFO, p.index), encoder.encode(JSON.stringify(info)))) return this.#lose(p, tag);
      p.infoSent = info;
    }
    if (p.inGap) {
      if (tag.config || !this.#isStartPoint(p, tag)) return this.#lose(p, tag);
      // Resume: the sequence headers lost in the gap first, then the key frame.
      const video = p.videoConfigLost ? p.muxer.videoConfig : undefined;
      const audio = p.audioConfigLost ? p.muxer.audioConfig : undefined;
      if (video && !this.#data(p, video, false)) return this.#lose(p, tag);
      p.videoConfigLost = false;
      if (audio && !this.#data(p, audio, false)) return this.#lose(p, tag);
      p.audioConfigLost = false;
      if (!this.#data(p, tag, true)) return this.#lose(p, tag);
      p.inGap = false;
      return;
    }
    if (!this.#data(p, tag, false)) this.#lose(p, tag);
  }

  /** @internal Publication.close → here. */
  closeStream(p: Publication, reason: string): void {
    this.#streams.delete(p.index);
    this.#control(flvRecordTag(FLV_RECORD_CLOSE, p.index), encoder.encode(reason.slice(0, 200)));
  }

  #isStartPoint(p: Publication, tag: FlvTag): boolean {
    if (tag.kind === 'video') return tag.key;
    return tag.kind === 'audio' && p.muxer.info.videoCodec === undefined;
  }

  #data(p: Publication, tag: FlvTag, afterGap: boolean): boolean {
    const bytes = tag.bytes;
    if (bytes.length > this.#writer.maxRecordBytes) {
      this.#counters.oversizeTags++;
      return false;
    }
    if (!this.#writer.tryWrite(bytes, flvRecordTag(flvTagRecordType(tag, afterGap), p.index))) return false;
    this.#counters.tagsWritten++;
    this.#counters.bytesWritten += bytes.length;
    return true;
  }

  #lose(p: Publication, tag: FlvTag): void {
    this.#counters.droppedTags++;
    this.#counters.droppedBytes += tag.bytes.length;
    if (tag.config) {
      if (tag.kind === 'video') p.videoConfigLost = true;
      else if (tag.kind === 'audio') p.audioConfigLost = true;
    }
    if (!p.inGap) {
      p.inGap = true;
      this.#counters.gaps++;
    }
  }

  #record(tag: number, payload: Uint8Array): boolean {
    return payload.length <= this.#writer.maxRecordBytes && this.#writer.tryWrite(payload, tag);
  }

  #control(tag: number, payload: Uint8Array): void {
    if (this.#backlog.length === 0 && this.#record(tag, payload)) return;
    this.#backlog.push({ tag, payload });
    void this.#drainBacklog();
  }

  async #drainBacklog(): Promise<void> {
    if (this.#waiting) return;
    this.#waiting = true;
    try {
      while (this.#backlog.length > 0) {
        const next = this.#backlog[0]!;
        if (this.#writer.tryWrite(next.payload, next.tag)) {
          this.#backlog.shift();
          continue;
        }
        // Ring closed by the reader (main thread gone): nothing will read these.
        if (!(await this.#writer.waitForSpace(next.payload.length, 1000)) && this.#writer.closed) {
          this.#backlog.length = 0;
        }
      }
      if (this.#ended) this.#writer.close();
    } finally {
      this.#waiting = false;
    }
  }
}
