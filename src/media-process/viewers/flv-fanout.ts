/**
 * FLV fan-out for one stream: the tags a worker muxed once (they arrive through its FLV ring)
 * go as the same bytes to every viewer (HTTP-FLV response, WS-FLV socket: the transport is an
 * injected sink, so this is sans-I/O).
 *
 * Why it looks like this:
 * - GOP cache: a viewer that joins gets header, onMetaData, the sequence headers and the
 *   tags since the last key frame at once, so playback starts without waiting a GOP.
 *   The cache is bounded by bytes and duration; past either bound it is dropped until the
 *   next key frame (trimming its head would leave undecodable frames).
 * - Per-viewer backpressure (the Node-Media-Server failure: slow viewers buffering without
 *   bound until OOM): before each write the viewer's buffered amount is checked; above the
 *   limit, or when `write` returns false, the viewer stops receiving tags and resumes only
 *   at the next key frame (audio is held back too, so A/V stays in step). A viewer that
 *   does not drain within a time limit, or passes a hard byte limit, is closed.
 * - A viewer with no start point yet (the stream is announced but has no key frame, or the
 *   cache was dropped) gets nothing until its first key frame: header and onMetaData then
 *   describe what the stream really carries. It waits at most `startTimeoutMs`.
 * - No viewers: `idleSince` (and `onIdle`) let the owner close streams nobody watches; the
 *   owner owns the timer.
 */
import { onMetaDataTag } from '../../protocol/flv/muxer.js';
import type { FlvStreamInfo, FlvTag } from '../../protocol/flv/muxer.js';
import { flvHeader } from '../../protocol/flv/tag.js';

/** Transport of one viewer (uWS WebSocket, HTTP response, ...). */
export interface FlvViewerSink {
  /** Queue bytes for sending. false = backpressure: the bytes were taken but stop sending. */
  write(bytes: Uint8Array): boolean;
  /** Bytes queued in the transport and not yet sent. */
  bufferedAmount(): number;
  /** Close the transport; called once, when the fan-out drops the viewer. */
  close(reason: string): void;
}

export interface FlvViewerOptions {
  /** Above this many buffered bytes the viewer drops tags until the next key frame. Default 2 MiB. */
  maxBufferedBytes?: number;
  /** At a key frame, resume only when buffered <= this. Default maxBufferedBytes / 2. */
  resumeBufferedBytes?: number;
  /** Close the viewer at once when its buffer reaches this. Default 4 x maxBufferedBytes. */
  hardMaxBufferedBytes?: number;
  /** Close a dropping viewer whose buffer stays above the resume level this long. Default 10 000 ms. */
  stuckTimeoutMs?: number;
  /**
   * Send this viewer the audio track. Default true. false: header says no audio and audio
   * tags are skipped (same bytes for the rest) - e.g. for mpegts.js, which plays only AAC/MP3
   * audio from FLV and errors on G.711.
   */
  audio?: boolean;
  /** Label for stats; default a counter. */
  id?: string;
}

export interface FlvFanoutOptions {
  /** FLV header / onMetaData track flags. Default: what has been seen (video assumed before anything). */
  hasVideo?: boolean;
  hasAudio?: boolean;
  /** GOP cache bound in bytes. Default 4 MiB. */
  gopCacheMaxBytes?: number;
  /** GOP cache bound in tag-timestamp ms. Default 10 000. */
  gopCacheMaxMs?: number;
  /** Defaults for every viewer (each addViewer may override). */
  viewer?: FlvViewerOptions;
  /**
   * A viewer that has had no start point (key frame) this long after joining is closed.
   * Default 15 000 ms; checked by checkViewers().
   */
  startTimeoutMs?: number;
  /** Clock in ms. Default Date.now. */
  clock?: () => number;
  /** Called when the last viewer leaves (also not at construction). */
  onIdle?: (since: number) => void;
}

export type FlvViewerState = 'live' | 'waiting' | 'closed';

export interface FlvViewerStats {
  id: string;
  state: FlvViewerState;
  joinedAt: number;
  bytesSent: number;
  tagsSent: number;
  /** Tags not sent because of backpressure (after the viewer had started). */
  droppedTags: number;
  droppedBytes: number;
  /** Times the viewer fell behind and was cut back to the next key frame. */
  dropEpisodes: number;
  /** Largest send buffer seen before a write. */
  peakBuffered: number;
  /** While dropping: since when its buffer has stayed above the resume level (the stuck timer). */
  stuckSince?: number;
  closeReason?: string;
}

/** Handle returned by addViewer. */
export interface FlvViewer {
  readonly id: string;
  readonly state: FlvViewerState;
  stats(): FlvViewerStats;
}

export interface FlvFanoutStats {
  viewers: number;
  closed: boolean;
  idleSince: number | undefined;
  gopTags: number;
  gopBytes: number;
  gopDurationMs: number;
  /** Times the GOP cache passed its bounds and was dropped until the next key frame. */
  gopOverflows: number;
  tagsIn: number;
  bytesIn: number;
  viewersAdded: number;
  /** Viewers closed by the fan-out for being too slow. */
  viewersClosedSlow: number;
  /** Viewers closed because no key frame came within startTimeoutMs. */
  viewersClosedNoStart: number;
  droppedTags: number;
  /** Tags that arrived after the producer had to skip tags (its ring was full). */
  gaps: number;
}

const MiB = 1024 * 1024;

class Viewer implements FlvViewer {
  state: FlvViewerState = 'waiting';
  /** Has been sent a start point (key frame); drops only count after that. */
  started = false;
  stuckSince: number | undefined;
  videoConfigSent = 0;
  audioConfigSent = 0;
  bytesSent = 0;
  tagsSent = 0;
  droppedTags = 0;
  droppedBytes = 0;
  dropEpisodes = 0;
  peakBuffered = 0;
  closeReason: string | undefined;
  /** tagsIn when it joined: tags up to this one came from the GOP cache. */
  joinSeq = 0;

  constructor(
    readonly id: string,
    readonly sink: FlvViewerSink,
    readonly max: number,
    readonly resumeAt: number,
    readonly hard: number,
    readonly stuckMs: number,
    readonly joinedAt: number,
    readonly audio: boolean,
  ) {}

  stats(): FlvViewerStats {
    const s: FlvViewerStats = {
      id: this.id,
      state: this.state,
      joinedAt: this.joinedAt,
      bytesSent: this.bytesSent,
      tagsSent: this.tagsSent,
      droppedTags: this.droppedTags,
      droppedBytes: this.droppedBytes,
      dropEpisodes: this.dropEpisodes,
      peakBuffered: this.peakBuffered,
    };
    if (this.stuckSince !== undefined && this.state === 'waiting') s.stuckSince = this.stuckSince;
    if (this.closeReason !== undefined) s.closeReason = this.closeReason;
    return s;
  }
}

export class FlvFanout {
  private readonly clock: () => number;
  private readonly viewers = new Set<Viewer>();
  private readonly gopMaxBytes: number;
  private readonly gopMaxMs: number;
  private readonly viewerDefaults: FlvViewerOptions;
  private readonly onIdle: ((since: number) => void) | undefined;
  private readonly flagVideo: boolean | undefined;
  private readonly flagAudio: boolean | undefined;
  private readonly startTimeoutMs: number;
  private info: Readonly<FlvStreamInfo> = {};

  private gop: FlvTag[] = [];
  private gopBytes = 0;
  private videoConfig: FlvTag | undefined;
  private audioConfig: FlvTag | undefined;
  private videoConfigVersion = 0;
  private audioConfigVersion = 0;
  private seenVideo = false;
  private seenAudio = false;
  private closed = false;
  private idle: number | undefined;
  private metaInfo: Readonly<FlvStreamInfo> | undefined;
  private readonly metaCache = new Map<string, Uint8Array>();
  private nextId = 1;
  private counters = { gopOverflows: 0, tagsIn: 0, bytesIn: 0, viewersAdded: 0, viewersClosedSlow: 0, viewersClosedNoStart: 0, droppedTags: 0, gaps: 0 };

  constructor(options: FlvFanoutOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.gopMaxBytes = options.gopCacheMaxBytes ?? 4 * MiB;
    this.gopMaxMs = options.gopCacheMaxMs ?? 10_000;
    this.viewerDefaults = options.viewer ?? {};
    this.onIdle = options.onIdle;
    this.flagVideo = options.hasVideo;
    this.flagAudio = options.hasAudio;
    this.startTimeoutMs = options.startTimeoutMs ?? 15_000;
    this.idle = this.clock();
  }

  /** Number of attached viewers. */
  get viewerCount(): number {
    return this.viewers.size;
  }

  /** FLV bytes pushed in so far (the stream's muxed bitrate, sampled by the viewer server). */
  get bytesIn(): number {
    return this.counters.bytesIn;
  }

  /** When the last viewer left (or the fan-out was created); undefined while anyone watches. */
  get idleSince(): number | undefined {
    return this.idle;
  }

  /** What the producer's muxer learnt about the stream (codecs, picture size). */
  get streamInfo(): Readonly<FlvStreamInfo> {
    return this.info;
  }

  /** New stream info from the producer: used by the onMetaData of viewers that start later. */
  setStreamInfo(info: Readonly<FlvStreamInfo>): void {
    this.info = info;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Fan out a muxed tag. `afterGap`: the producer skipped tags before this one (it is a key
   * frame or sequence header by construction). Ignored after close().
   */
  pushTag(tag: FlvTag, afterGap = false): void {
    if (this.closed) return;
    if (afterGap) this.counters.gaps++;
    this.counters.tagsIn++;
    this.counters.bytesIn += tag.bytes.length;
    this.cache(tag);
    if (this.viewers.size === 0) return;
    const now = this.clock();
    const seq = this.counters.tagsIn;
    for (const v of this.viewers) {
      // A viewer added from inside a sink callback already had this tag from the GOP cache.
      if (v.joinSeq < seq) this.deliver(v, tag, now);
    }
  }

  /**
   * Attach a viewer: header, onMetaData, sequence headers and the GOP cache are written at
   * once (within the viewer's byte limit); live tags follow. Without a cached GOP the viewer
   * gets nothing until the next key frame, then all of that at once.
   */
  addViewer(sink: FlvViewerSink, options: FlvViewerOptions = {}): FlvViewer {
    const o = { ...this.viewerDefaults, ...options };
    const max = o.maxBufferedBytes ?? 2 * MiB;
    const now = this.clock();
    const v = new Viewer(
      o.id ?? `v${this.nextId++}`,
      sink,
      max,
      o.resumeBufferedBytes ?? Math.floor(max / 2),
      o.hardMaxBufferedBytes ?? 4 * max,
      o.stuckTimeoutMs ?? 10_000,
      now,
      o.audio ?? true,
    );
    v.joinSeq = this.counters.tagsIn;
    if (this.closed) {
      v.state = 'closed';
      v.closeReason = 'stream closed';
      sink.close(v.closeReason);
      return v;
    }
    this.viewers.add(v);
    this.idle = undefined;
    this.counters.viewersAdded++;
    if (this.gop.length > 0) {
      // Start on the cached key frame. Sequence headers first, then the GOP so far.
      if (!this.start(v, now)) return v;
      for (let i = 0; i < this.gop.length && v.state === 'live'; i++) {
        const tag = this.gop[i]!;
        if (tag.kind !== 'audio' || v.audio) this.send(v, tag, now);
      }
    } else if (!this.expectVideo() && this.seenAudio) {
      // Audio only: every audio frame is a start point; send the config now.
      this.start(v, now);
    }
    return v;
  }

  /** Detach a viewer whose transport is gone (does not call sink.close). Idempotent. */
  removeViewer(viewer: FlvViewer): boolean {
    const v = viewer as Viewer;
    if (!this.viewers.delete(v)) return false;
    if (v.state !== 'closed') {
      v.state = 'closed';
      v.closeReason ??= 'removed';
    }
    this.noteLeft();
    return true;
  }

  /**
   * Enforce the stuck/hard limits now (the owner may call this from a timer: without new
   * frames nothing else would notice a viewer that never drains).
   */
  checkViewers(now = this.clock()): void {
    for (const v of this.viewers) {
      if (!v.started) {
        if (now - v.joinedAt >= this.startTimeoutMs) {
          this.counters.viewersClosedNoStart++;
          this.closeViewer(v, `no key frame within ${Math.round(this.startTimeoutMs / 1000)} s`, false);
        }
      } else if (v.state === 'waiting') this.checkStuck(v, now);
      else if (v.sink.bufferedAmount() >= v.hard) this.closeViewer(v, 'backpressure: hard limit');
    }
  }

  /**
   * Forget the GOP cache (not counted as an overflow): the producer stops, or starts again
   * with a fresh GOP (a lazy publisher's RESUME), so what is cached would not continue.
   */
  resetCache(): void {
    this.gop = [];
    this.gopBytes = 0;
  }

  /** Close every viewer and stop; further frames are ignored. */
  close(reason = 'stream closed'): void {
    if (this.closed) return;
    this.closed = true;
    for (const v of [...this.viewers]) this.closeViewer(v, reason, false);
    this.gop = [];
    this.gopBytes = 0;
  }

  viewerStats(): FlvViewerStats[] {
    return [...this.viewers].map((v) => v.stats());
  }

  stats(): FlvFanoutStats {
    const first = this.gop[0];
    const last = this.gop[this.gop.length - 1];
    return {
      viewers: this.viewers.size,
      closed: this.closed,
      idleSince: this.idle,
      gopTags: this.gop.length,
      gopBytes: this.gopBytes,
      gopDurationMs: first && last ? elapsedMs(first, last) : 0,
      ...this.counters,
    };
  }

  // --- internals -------------------------------------------------------------------------

  private expectVideo(): boolean {
    return this.flagVideo ?? (this.seenVideo || !this.seenAudio);
  }

  private flags(): { hasVideo: boolean; hasAudio: boolean } {
    return { hasVideo: this.expectVideo(), hasAudio: this.flagAudio ?? this.seenAudio };
  }

  /** A tag a viewer may start (or restart) on. */
  private isStartPoint(tag: FlvTag): boolean {
    if (tag.config) return false;
    if (tag.kind === 'video') return tag.key;
    return tag.kind === 'audio' && !this.expectVideo();
  }

  private cache(tag: FlvTag): void {
    if (tag.kind === 'video') this.seenVideo = true;
    else if (tag.kind === 'audio') this.seenAudio = true;
    if (tag.config) {
      if (tag.kind === 'video') {
        this.videoConfig = tag;
        this.videoConfigVersion++;
      } else if (tag.kind === 'audio') {
        this.audioConfig = tag;
        this.audioConfigVersion++;
      }
      return;
    }
    if (tag.kind === 'video' && tag.key) {
      this.gop = [tag];
      this.gopBytes = tag.bytes.length;
      if (this.gopBytes > this.gopMaxBytes) this.dropGop();
      return;
    }
    if (this.gop.length === 0 || !this.expectVideo()) return;
    this.gop.push(tag);
    this.gopBytes += tag.bytes.length;
    if (this.gopBytes > this.gopMaxBytes || elapsedMs(this.gop[0]!, tag) > this.gopMaxMs) this.dropGop();
  }

  private dropGop(): void {
    this.gop = [];
    this.gopBytes = 0;
    this.counters.gopOverflows++;
  }

  private deliver(v: Viewer, tag: FlvTag, now: number): void {
    if (tag.kind === 'audio' && !v.audio) return;
    if (tag.config) {
      // Live viewers get a new sequence header in stream order; waiting ones get the
      // latest one when they resume.
      if (v.state === 'live') this.send(v, tag, now);
      return;
    }
    if (v.state === 'waiting') {
      if (!v.started) {
        if (this.isStartPoint(tag)) this.start(v, now);
      } else {
        if (!this.isStartPoint(tag) || v.sink.bufferedAmount() > v.resumeAt) {
          this.drop(v, tag);
          this.checkStuck(v, now);
          return;
        }
        v.state = 'live';
        v.stuckSince = undefined;
        if (!this.sendConfigs(v, now)) return;
      }
    }
    if (v.state === 'live') this.send(v, tag, now);
  }

  /**
   * First start point of a viewer: FLV header and onMetaData (what is known now), then the
   * sequence headers. False when the viewer could not take them.
   */
  private start(v: Viewer, now: number): boolean {
    v.state = 'live';
    v.started = true;
    const flags = this.flags();
    if (!v.audio) flags.hasAudio = false;
    if (!this.writeRaw(v, flvHeader(flags)) || !this.writeRaw(v, this.metaData(flags))) return false;
    return this.sendConfigs(v, now);
  }

  private metaData(flags: { hasVideo: boolean; hasAudio: boolean }): Uint8Array {
    const key = `${flags.hasVideo}${flags.hasAudio}`;
    if (this.metaInfo !== this.info) {
      this.metaCache.clear();
      this.metaInfo = this.info;
    }
    let tag = this.metaCache.get(key);
    if (!tag) {
      tag = onMetaDataTag(this.info, flags);
      this.metaCache.set(key, tag);
    }
    return tag;
  }

  /** Sequence headers the viewer has not had yet. False when it could not take them. */
  private sendConfigs(v: Viewer, now: number): boolean {
    if (this.videoConfig && v.videoConfigSent !== this.videoConfigVersion) {
      if (!this.send(v, this.videoConfig, now)) return false;
    }
    if (this.audioConfig && v.audio && v.audioConfigSent !== this.audioConfigVersion) {
      if (!this.send(v, this.audioConfig, now)) return false;
    }
    return v.state === 'live';
  }

  /**
   * Write a tag to a live viewer within its byte limit. Returns whether it was written; on
   * backpressure the viewer switches to waiting for the next key frame.
   */
  private send(v: Viewer, tag: FlvTag, now: number): boolean {
    const buffered = v.sink.bufferedAmount();
    if (buffered > v.peakBuffered) v.peakBuffered = buffered;
    if (buffered >= v.hard) {
      this.closeViewer(v, 'backpressure: hard limit');
      return false;
    }
    const len = tag.bytes.length;
    // An empty buffer always takes the tag, so a key frame larger than the limit still goes.
    if (buffered > 0 && buffered + len > v.max) {
      this.fallBehind(v, now);
      this.drop(v, tag);
      return false;
    }
    const ok = v.sink.write(tag.bytes);
    if (v.state === 'closed') return false; // the sink closed itself during write
    v.bytesSent += len;
    v.tagsSent++;
    if (tag.config) {
      if (tag.kind === 'video') v.videoConfigSent = this.videoConfigVersion;
      else v.audioConfigSent = this.audioConfigVersion;
    }
    if (!ok) this.fallBehind(v, now);
    return true;
  }

  /** Header and onMetaData: written regardless of limits (a few hundred bytes). */
  private writeRaw(v: Viewer, bytes: Uint8Array): boolean {
    v.sink.write(bytes);
    if (v.state === 'closed') return false;
    v.bytesSent += bytes.length;
    return true;
  }

  private fallBehind(v: Viewer, now: number): void {
    if (v.state !== 'live') return;
    v.state = 'waiting';
    v.dropEpisodes++;
    v.stuckSince = now;
  }

  private drop(v: Viewer, tag: FlvTag): void {
    v.droppedTags++;
    v.droppedBytes += tag.bytes.length;
    this.counters.droppedTags++;
  }

  private checkStuck(v: Viewer, now: number): void {
    const buffered = v.sink.bufferedAmount();
    if (buffered >= v.hard) {
      this.closeViewer(v, 'backpressure: hard limit');
    } else if (buffered <= v.resumeAt) {
      v.stuckSince = undefined; // drained: only waiting for a key frame now
    } else {
      v.stuckSince ??= now;
      if (now - v.stuckSince >= v.stuckMs) this.closeViewer(v, 'backpressure: stuck');
    }
  }

  private closeViewer(v: Viewer, reason: string, slow = true): void {
    if (!this.viewers.delete(v)) return;
    v.state = 'closed';
    v.closeReason = reason;
    if (slow) this.counters.viewersClosedSlow++;
    this.noteLeft();
    v.sink.close(reason);
  }

  private noteLeft(): void {
    if (this.viewers.size > 0 || this.idle !== undefined) return;
    this.idle = this.clock();
    if (!this.closed) this.onIdle?.(this.idle);
  }
}

/** Tag-time between two tags in ms; the header timestamp wraps at 2^32. */
function elapsedMs(from: FlvTag, to: FlvTag): number {
  return (to.timestamp - from.timestamp) >>> 0;
}
