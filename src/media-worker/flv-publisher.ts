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
 *
 * Lazy publishing (`lazy: true`, what media workers use; issue #17): most streams are only
 * forwarded as PS/RTP and nobody watches them, and muxing plus the ring cost about a quarter
 * of a worker. A lazy stream keeps only what a first viewer needs, its current GOP as
 * AvFrames (references, bounded in bytes), lets the muxer learn the stream info from key
 * frames, and writes no tag until the viewer server wants it (`want(true, epoch)`). Then it
 * writes RESUME(epoch) and muxes the cached GOP from its key frame, so the first picture
 * comes as fast as from a main-thread GOP cache, and goes on live until `want(false)`.
 * Source byte counts go into the ring as BYTES records about once a second, so the stream's
 * bitrate is known without tags.
 */
import type { AvFrame } from '../protocol/av/frame.js';
import { FlvMuxer } from '../protocol/flv/muxer.js';
import type { FlvMuxerOptions, FlvStreamInfo, FlvTag } from '../protocol/flv/muxer.js';
import { RingWriter } from '../shared/ring.js';
import {
  FLV_MAX_STREAM_INDEX,
  FLV_RECORD_BYTES,
  FLV_RECORD_CLOSE,
  FLV_RECORD_INFO,
  FLV_RECORD_OPEN,
  FLV_RECORD_RESUME,
  bytesRecord,
  resumeRecord,
  flvRecordTag,
  flvTagRecordType,
  type FlvOpenRecord,
} from '../shared/contracts/flv-records.js';

export interface FlvPublisherOptions {
  /** Where the ring starts in its SharedArrayBuffer. Default 0. */
  byteOffset?: number;
  muxer?: FlvMuxerOptions;
  /** Mux a stream only while want(true) is in force (see above). Default false: from its start. */
  lazy?: boolean;
  /** Lazy streams: bound of the cached GOP in frame bytes; past it the cache waits for the next key frame. Default 4 MiB. */
  gopCacheMaxBytes?: number;
  /** Lazy streams: a BYTES record at most this often (ms). Default 1000. */
  bytesIntervalMs?: number;
  /** Clock in ms for the BYTES records. Default Date.now. */
  clock?: () => number;
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
  /** Lazy streams being muxed now (wanted by the viewer server). */
  wanted: number;
  /** Frames of lazy streams not muxed because nobody wanted them. */
  framesNotMuxed: number;
}

/** One stream being published; frames in, FLV tags into the ring. */
export interface FlvPublication {
  readonly index: number;
  readonly name: string;
  readonly closed: boolean;
  push(frame: AvFrame): void;
  /**
   * Lazy streams: start (the cached GOP first, after a RESUME record with `epoch`) or stop
   * writing tags. Ignored by a publisher that is not lazy.
   */
  want(wanted: boolean, epoch: number): void;
  /** Whether frames are muxed now (a lazy stream: while wanted; otherwise always). */
  readonly framesWanted: boolean;
  /**
   * Called when a lazy stream becomes wanted, before its cached GOP is written: a source
   * that stopped decoding frames while nobody watched refills the cache here (synchronously).
   */
  onWant: (() => void) | null;
  /** Source bytes that did not come as frames (a source not decoding): the stream's BYTES records still count them. */
  countBytes(bytes: number): void;
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
  /** The gap is a resume (not a loss): its first tag is not flagged after-gap. */
  resuming = false;
  videoConfigLost = false;
  audioConfigLost = false;
  /** Lazy: tags are written only while true. Not lazy: always true. */
  wanted: boolean;
  /** Lazy: the current GOP (a key frame first), or empty until the next key frame. */
  gop: AvFrame[] = [];
  gopBytes = 0;
  /** Source bytes so far, and when the last BYTES record went out. */
  sourceBytes = 0;
  bytesSentAt = 0;

  constructor(
    readonly index: number,
    readonly name: string,
    private readonly publisher: FlvPublisher,
    muxerOptions: FlvMuxerOptions | undefined,
    readonly lazy: boolean,
  ) {
    this.muxer = new FlvMuxer(muxerOptions);
    this.wanted = !lazy;
  }

  push(frame: AvFrame): void {
    if (this.closed) return;
    if (this.lazy) this.publisher.lazyFrame(this, frame);
    if (!this.wanted) return;
    const tags = this.muxer.mux(frame);
    for (let i = 0; i < tags.length; i++) this.publisher.writeTag(this, tags[i]!);
  }

  onWant: (() => void) | null = null;

  get framesWanted(): boolean {
    return this.wanted;
  }

  want(wanted: boolean, epoch: number): void {
    if (this.closed || !this.lazy) return;
    if (wanted && !this.wanted) this.onWant?.();
    this.publisher.setWanted(this, wanted, epoch);
  }

  countBytes(bytes: number): void {
    if (this.closed || !this.lazy) return;
    // The source stopped decoding: the cached GOP is getting old, and the source refills it on want.
    if (this.gop.length > 0) {
      this.gop = [];
      this.gopBytes = 0;
    }
    this.publisher.countBytes(this, bytes);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.gop = [];
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
  readonly #lazy: boolean;
  readonly #gopMaxBytes: number;
  readonly #bytesIntervalMs: number;
  readonly #clock: () => number;
  readonly #counters = { tagsWritten: 0, bytesWritten: 0, droppedTags: 0, droppedBytes: 0, gaps: 0, oversizeTags: 0, framesNotMuxed: 0 };

  constructor(ring: SharedArrayBuffer, options: FlvPublisherOptions = {}) {
    this.#writer = new RingWriter(ring, options.byteOffset === undefined ? {} : { byteOffset: options.byteOffset });
    this.#muxerOptions = options.muxer;
    this.#lazy = options.lazy ?? false;
    this.#gopMaxBytes = options.gopCacheMaxBytes ?? 4 * 1024 * 1024;
    this.#bytesIntervalMs = options.bytesIntervalMs ?? 1000;
    this.#clock = options.clock ?? Date.now;
  }

  /** Announces a stream: viewers may connect (and wait for its first key frame) from now on. */
  open(name: string, hints: Omit<FlvOpenRecord, 'name'> = {}): FlvPublication {
    if (this.#ended) throw new Error('FLV publisher ended');
    const index = this.#nextIndex;
    this.#nextIndex = index >= FLV_MAX_STREAM_INDEX ? 1 : index + 1;
    const publication = new Publication(index, name, this, this.#muxerOptions, this.#lazy);
    this.#streams.set(index, publication);
    const open: FlvOpenRecord = this.#lazy ? { ...hints, name, lazy: true } : { ...hints, name };
    this.#control(flvRecordTag(FLV_RECORD_OPEN, index), encoder.encode(JSON.stringify(open)));
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
    let wanted = 0;
    if (this.#lazy) for (const p of this.#streams.values()) if (p.wanted) wanted++;
    return { streams: this.#streams.size, ...this.#counters, controlBacklog: this.#backlog.length, wanted };
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
      if (tag.config || !this.#isStartPoint(p, tag)) {
        if (!p.resuming) return this.#lose(p, tag);
        // A resume waits for its start point; nothing was lost (the headers go before it).
        if (tag.config && tag.kind === 'video') p.videoConfigLost = true;
        else if (tag.config && tag.kind === 'audio') p.audioConfigLost = true;
        return;
      }
      // Resume: the sequence headers lost in the gap first, then the key frame.
      const video = p.videoConfigLost ? p.muxer.videoConfig : undefined;
      const audio = p.audioConfigLost ? p.muxer.audioConfig : undefined;
      if (video && !this.#data(p, video, false)) return this.#lose(p, tag);
      p.videoConfigLost = false;
      if (audio && !this.#data(p, audio, false)) return this.#lose(p, tag);
      p.audioConfigLost = false;
      if (!this.#data(p, tag, !p.resuming)) return this.#lose(p, tag);
      p.inGap = false;
      p.resuming = false;
      return;
    }
    if (!this.#data(p, tag, false)) this.#lose(p, tag);
  }

  /** @internal Publication.close → here. */
  closeStream(p: Publication, reason: string): void {
    this.#streams.delete(p.index);
    this.#control(flvRecordTag(FLV_RECORD_CLOSE, p.index), encoder.encode(reason.slice(0, 200)));
  }

  /** @internal Every frame of a lazy stream: the byte count, the GOP cache, the info. */
  lazyFrame(p: Publication, frame: AvFrame): void {
    const size = frame.data.length;
    this.countBytes(p, size);
    // References only (the frames are not copied): the current GOP from its key frame.
    if (frame.kind === 'video' && frame.key) {
      p.gop.length = 0;
      p.gop.push(frame);
      p.gopBytes = size;
    } else if (p.gop.length > 0) {
      p.gop.push(frame);
      p.gopBytes += size;
    }
    if (p.gopBytes > this.#gopMaxBytes) {
      p.gop.length = 0;
      p.gopBytes = 0;
    }
    if (p.wanted) return;
    this.#counters.framesNotMuxed++;
    p.muxer.learn(frame);
    if (p.infoSent !== p.muxer.info && this.#backlog.length === 0) {
      const info = p.muxer.info;
      if (this.#record(flvRecordTag(FLV_RECORD_INFO, p.index), encoder.encode(JSON.stringify(info)))) p.infoSent = info;
    }
  }

  /** @internal Source bytes of a lazy stream; a BYTES record at most every bytesIntervalMs. */
  countBytes(p: Publication, bytes: number): void {
    p.sourceBytes += bytes;
    const now = this.#clock();
    if (now - p.bytesSentAt >= this.#bytesIntervalMs && this.#backlog.length === 0) {
      // Lost when the ring is full: the next one carries the total.
      if (this.#record(flvRecordTag(FLV_RECORD_BYTES, p.index), bytesRecord(p.sourceBytes))) p.bytesSentAt = now;
    }
  }

  /** @internal Publication.want → here. */
  setWanted(p: Publication, wanted: boolean, epoch: number): void {
    if (!wanted) {
      p.wanted = false;
      return;
    }
    p.wanted = true;
    // Tags after the RESUME start a fresh GOP: sequence headers, then the cached key frame.
    this.#control(flvRecordTag(FLV_RECORD_RESUME, p.index), resumeRecord(epoch));
    p.inGap = true;
    p.resuming = true;
    p.videoConfigLost = true;
    p.audioConfigLost = true;
    const cached = p.gop.slice();
    for (const frame of cached) {
      const tags = p.muxer.mux(frame);
      for (let i = 0; i < tags.length; i++) this.writeTag(p, tags[i]!);
    }
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
    // Still resuming: the loss makes it a real gap after all.
    p.resuming = false;
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
