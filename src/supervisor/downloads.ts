import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CamgateConfig } from '../shared/config/config.js';
import type { RecordProgress } from '../shared/contracts/media.js';
import { rtpStreamName } from '../shared/contracts/stream-name.js';
import { ApiError } from './api/envelope.js';
import type { StreamManager } from './streams.js';

/**
 * GB28181 downloads (GB/T 28181-2016 §9.9): a recorded range INVITEd with `s=Download` and
 * `a=downloadspeed`, written by the media worker to `<downloads.dir>/<id>.ps` (the PS as
 * received) or `<id>.mp4` (its video, remuxed without ffmpeg). A
 * download is done when the device says end of file (MediaStatus 121), when the media time
 * received reaches the range's length (then BYE), or when the device ends the dialog; it
 * fails on anything else that ends the stream (media timeout, size limit, worker death).
 * Records are kept as `<id>.json` next to the file, so finished downloads outlive restarts
 * until `downloads.retention` prunes them.
 */

export type DownloadState = 'running' | 'done' | 'failed' | 'cancelled';

export interface Download {
  id: string;
  deviceid: string;
  channelid: string;
  /** The recorded range, unix seconds. */
  start: number;
  end: number;
  /** `a=downloadspeed` asked for. */
  speed: number;
  /** `ps`: the device's program stream as received; `mp4`: its video in a fragmented MP4. */
  format: 'ps' | 'mp4';
  state: DownloadState;
  /** Why it ended. */
  reason: string | null;
  /** The stream carrying it (SSRC in hex). */
  streamid: string;
  bytes: number;
  /** Media time received (seconds, from the frames' timestamps). */
  mediaSeconds: number;
  /** mediaSeconds / (end - start), capped at 1; 1 once done. */
  progress: number;
  createdAt: number;
  finishedAt: number | null;
}

export interface DownloadRequest {
  start: number;
  end: number;
  speed: number;
  format: 'ps' | 'mp4';
}

/** Bounded labels of finished downloads, from the reason they ended. */
export const DOWNLOAD_END_REASONS = ['end_of_file', 'media_end', 'device_bye', 'cancelled', 'media_timeout', 'size_limit', 'no_media', 'invite', 'restart', 'other'] as const;

export interface DownloadMetrics {
  started: Counter;
  finished: Counter<'result' | 'reason'>;
  bytes: Counter;
  running: Gauge;
  duration: Histogram<'result'>;
}

export function downloadMetrics(registry: Registry): DownloadMetrics {
  const started = new Counter({ name: 'camgate_downloads_started_total', help: 'GB28181 downloads requested (INVITE s=Download sent or refused by the device).', registers: [registry] });
  const finished = new Counter({
    name: 'camgate_downloads_finished_total',
    help: 'GB28181 downloads that ended, by result (done, failed, cancelled) and reason.',
    labelNames: ['result', 'reason'] as const,
    registers: [registry],
  });
  const bytes = new Counter({ name: 'camgate_download_bytes_total', help: 'PS bytes written to download files.', registers: [registry] });
  const running = new Gauge({ name: 'camgate_downloads_running', help: 'GB28181 downloads running now.', registers: [registry] });
  const duration = new Histogram({
    name: 'camgate_download_duration_seconds',
    help: 'GB28181 downloads from the request to their end, by result.',
    labelNames: ['result'] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [registry],
  });
  for (const result of ['done', 'failed', 'cancelled']) finished.inc({ result, reason: result === 'done' ? 'end_of_file' : result === 'cancelled' ? 'cancelled' : 'other' }, 0);
  return { started, finished, bytes, running, duration };
}

export interface DownloadManagerDeps {
  config: CamgateConfig;
  logger: Logger;
  streams(): StreamManager | null;
  emit(event: string, data: Record<string, unknown>, key?: string): void;
  metrics?: DownloadMetrics;
}

/** Reasons StreamManager and the media plane give that mean the device sent all it had. */
function endLabel(reason: string): (typeof DOWNLOAD_END_REASONS)[number] {
  if (reason.includes('MediaStatus 121')) return 'end_of_file';
  if (reason === DOWNLOAD_COMPLETE) return 'media_end';
  if (reason === 'device sent BYE') return 'device_bye';
  if (reason === DOWNLOAD_CANCELLED) return 'cancelled';
  if (reason === 'media timeout') return 'media_timeout';
  if (reason === 'file size limit') return 'size_limit';
  if (reason.startsWith('INVITE failed')) return 'invite';
  if (reason.includes('restarted')) return 'restart';
  return 'other';
}

const DOWNLOAD_COMPLETE = 'download complete';
const DOWNLOAD_CANCELLED = 'download cancelled';
const PRUNE_INTERVAL_MS = 60_000;

export class DownloadManager {
  readonly dir: string;
  #d: DownloadManagerDeps;
  #downloads = new Map<string, Download>();
  /** Running downloads by media-plane name (`rtp/<streamid>`). */
  #byName = new Map<string, string>();
  /** Bytes already counted in camgate_download_bytes_total, per running download. */
  #counted = new Map<string, number>();
  #pruneTimer: NodeJS.Timeout | null = null;
  /** Downloads whose whole range arrived and whose stream is being stopped (one BYE). */
  #completing = new Set<string>();
  /** When each download of this run was requested (performance.now()). */
  #startedAt = new Map<string, number>();

  constructor(deps: DownloadManagerDeps) {
    this.#d = deps;
    this.dir = resolve(deps.config.downloads.dir);
  }

  /** Loads the records a previous run left; one still running then failed (its stream ended with that run). */
  load(): void {
    let files: string[] = [];
    try {
      // Created by the first download, not at start-up.
      files = existsSync(this.dir) ? readdirSync(this.dir) : [];
    } catch (error) {
      // Not fatal: the rest of the gateway runs; POST /channels/:id/downloads reports the same error.
      this.#d.logger.error({ dir: this.dir, err: (error as Error).message }, 'downloads.dir cannot be used');
    }
    for (const file of files) {
      if (!/^[0-9a-f]{12}\.json$/.test(file)) continue;
      try {
        const record = JSON.parse(readFileSync(join(this.dir, file), 'utf8')) as Download;
        // The id and format name the file: only what this code writes is taken back.
        if (`${record.id}.json` !== file || (record.format !== 'ps' && record.format !== 'mp4')) throw new Error('not a download record');
        this.#downloads.set(record.id, record);
        if (record.state === 'running') this.#finish(record, 'failed', 'camgate restarted');
      } catch (error) {
        this.#d.logger.warn({ file, err: (error as Error).message }, 'unreadable download record skipped');
      }
    }
    this.prune();
    this.#pruneTimer = setInterval(() => this.prune(), PRUNE_INTERVAL_MS);
    this.#pruneTimer.unref();
  }

  close(): void {
    if (this.#pruneTimer) clearInterval(this.#pruneTimer);
  }

  list(): Download[] {
    return [...this.#downloads.values()].sort((a, b) => b.createdAt - a.createdAt);
  }

  get(id: string): Download | undefined {
    return this.#downloads.get(id);
  }

  filePath(download: Download): string {
    return join(this.dir, `${download.id}.${download.format}`);
  }

  /** True while a download is fed from stream `name`: no viewer does not make it idle. */
  feeds(name: string): boolean {
    return this.#byName.has(name);
  }

  /** Bytes the kept files hold. */
  usedBytes(): number {
    let total = 0;
    for (const download of this.#downloads.values()) {
      try {
        total += statSync(this.filePath(download)).size;
      } catch {
        // no file (yet, or deleted)
      }
    }
    return total;
  }

  /** Starts a download; resolves once the device accepted the INVITE. */
  async start(channelId: string, request: DownloadRequest): Promise<Download> {
    const { config } = this.#d;
    if (config.media.server !== 'builtin') throw new ApiError(409, '1002', 'downloads need media.server: builtin');
    const streams = this.#d.streams();
    if (!streams) throw new ApiError(503, '1001', 'streams unavailable');
    const running = [...this.#downloads.values()].filter((d) => d.state === 'running').length;
    if (running >= config.downloads.maxConcurrent) {
      throw new ApiError(429, '1002', `${running} downloads are running (downloads.maxConcurrent ${config.downloads.maxConcurrent}); retry when one ends`);
    }
    const used = this.usedBytes();
    if (used >= config.downloads.maxTotalBytes) {
      throw new ApiError(507, '1002', `download files hold ${used} bytes (downloads.maxTotalBytes ${config.downloads.maxTotalBytes}); delete some`);
    }
    mkdirSync(this.dir, { recursive: true });
    const id = randomBytes(6).toString('hex');
    const download: Download = {
      id,
      deviceid: '',
      channelid: channelId,
      start: request.start,
      end: request.end,
      speed: request.speed,
      format: request.format,
      state: 'running',
      reason: null,
      streamid: '',
      bytes: 0,
      mediaSeconds: 0,
      progress: 0,
      createdAt: Math.floor(Date.now() / 1000),
      finishedAt: null,
    };
    const path = this.filePath(download);
    // A file may fill what is left of the space, but no more than maxFileBytes.
    const maxBytes = Math.max(1, Math.min(config.downloads.maxFileBytes, config.downloads.maxTotalBytes - used));
    // Listed (and counted against maxConcurrent) from now on; the stream is known once its row exists.
    this.#downloads.set(id, download);
    this.#startedAt.set(id, performance.now());
    this.#setRunning();
    const onStream = (streamid: string, deviceid: string) => {
      download.streamid = streamid;
      download.deviceid = deviceid;
      this.#byName.set(rtpStreamName(streamid), id);
      this.#d.metrics?.started.inc();
    };
    try {
      await streams.start(channelId, { playback: { start: request.start, end: request.end }, download: { speed: request.speed, record: { path, maxBytes, format: request.format }, onStream } });
      this.#save(download);
      return download;
    } catch (error) {
      if (!download.streamid) {
        // Refused before any INVITE (unknown channel, device offline, no port): nothing to keep.
        this.#delete(download);
        this.#setRunning();
      } else if (download.state === 'running') {
        // Kept as failed (GET /downloads shows why); the caller gets the error too.
        this.#finish(download, 'failed', error instanceof Error ? error.message : String(error));
      }
      throw error;
    }
  }

  /** A worker's note on a download's file. */
  progress(note: RecordProgress): void {
    const download = this.#running(note.name);
    if (!download) return;
    this.#count(download, note.bytes);
    download.bytes = note.bytes;
    download.mediaSeconds = note.mediaMs / 1000;
    const span = download.end - download.start;
    download.progress = Math.min(1, Math.floor((download.mediaSeconds / span) * 1e6) / 1e6);
    if (!note.final && download.mediaSeconds >= span && !this.#completing.has(download.id)) {
      this.#completing.add(download.id);
      // The whole range arrived: BYE now rather than wait for a device that keeps sending.
      void this.#d
        .streams()
        ?.stopById(download.streamid, DOWNLOAD_COMPLETE)
        .catch((error: Error) => this.#d.logger.warn({ download: download.id, err: error.message }, 'download stream stop failed'));
    }
  }

  /** The stream of a running download ended (media plane's `stream.stopped`, or the row closed without media). */
  streamStopped(name: string, reason: string): void {
    const download = this.#running(name);
    if (!download) return;
    if (reason === DOWNLOAD_CANCELLED) return this.#finish(download, 'cancelled', reason);
    const label = endLabel(reason);
    const complete = label === 'end_of_file' || label === 'media_end' || label === 'device_bye';
    if (complete && download.bytes > 0) {
      download.progress = 1;
      this.#finish(download, 'done', reason);
    } else this.#finish(download, 'failed', complete ? 'no media received' : reason);
  }

  /** DELETE: a running download is cancelled (BYE); its file and record are deleted. */
  async remove(id: string): Promise<boolean> {
    const download = this.#downloads.get(id);
    if (!download) return false;
    if (download.state === 'running') {
      this.#finish(download, 'cancelled', DOWNLOAD_CANCELLED);
      // The stop closes the file (after the BYE); a failed stop still lets the record and file go.
      await this.#d
        .streams()
        ?.stopById(download.streamid, DOWNLOAD_CANCELLED)
        .catch((error: Error) => this.#d.logger.warn({ download: id, err: error.message }, 'cancelled download stream stop failed'));
    }
    this.#delete(download);
    return true;
  }

  /** Deletes finished downloads older than `downloads.retention`. */
  prune(now = Date.now()): number {
    const before = Math.floor(now / 1000) - this.#d.config.downloads.retention;
    let pruned = 0;
    for (const download of [...this.#downloads.values()]) {
      if (download.finishedAt !== null && download.finishedAt <= before) {
        this.#delete(download);
        pruned++;
      }
    }
    if (pruned > 0) this.#d.logger.info({ pruned }, 'old downloads deleted (downloads.retention)');
    return pruned;
  }

  #running(name: string): Download | undefined {
    const id = this.#byName.get(name);
    const download = id === undefined ? undefined : this.#downloads.get(id);
    return download?.state === 'running' ? download : undefined;
  }

  #count(download: Download, bytes: number): void {
    const counted = this.#counted.get(download.id) ?? 0;
    if (bytes > counted) {
      this.#d.metrics?.bytes.inc(bytes - counted);
      this.#counted.set(download.id, bytes);
    }
  }

  #finish(download: Download, state: Exclude<DownloadState, 'running'>, reason: string): void {
    download.state = state;
    download.reason = reason;
    download.finishedAt = Math.floor(Date.now() / 1000);
    try {
      download.bytes = statSync(this.filePath(download)).size;
    } catch {
      // no file
    }
    this.#counted.delete(download.id);
    this.#completing.delete(download.id);
    const startedAt = this.#startedAt.get(download.id);
    this.#startedAt.delete(download.id);
    if (startedAt !== undefined) this.#d.metrics?.duration.observe({ result: state }, (performance.now() - startedAt) / 1000);
    if (download.streamid) this.#byName.delete(rtpStreamName(download.streamid));
    this.#setRunning();
    this.#d.metrics?.finished.inc({ result: state, reason: endLabel(reason) });
    this.#save(download);
    this.#d.logger.info({ download: download.id, state, reason, bytes: download.bytes, mediaSeconds: download.mediaSeconds }, 'download ended');
    if (state !== 'cancelled') this.#d.emit(`downloads.${state}`, { ...download }, download.deviceid);
  }

  #setRunning(): void {
    this.#d.metrics?.running.set([...this.#downloads.values()].filter((d) => d.state === 'running').length);
  }

  #save(download: Download): void {
    const file = join(this.dir, `${download.id}.json`);
    try {
      // Written aside and renamed: a crash never leaves half a record.
      writeFileSync(`${file}.tmp`, JSON.stringify(download));
      renameSync(`${file}.tmp`, file);
    } catch (error) {
      this.#d.logger.warn({ download: download.id, err: (error as Error).message }, 'download record not written');
    }
  }

  #delete(download: Download): void {
    this.#downloads.delete(download.id);
    this.#startedAt.delete(download.id);
    rmSync(this.filePath(download), { force: true });
    rmSync(join(this.dir, `${download.id}.json`), { force: true });
  }
}
