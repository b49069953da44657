import type { Logger } from 'pino';
import type { ParentChannel } from '../shared/contracts/lifecycle.js';
import type { MediaContract } from '../shared/contracts/media.js';
import { rtpStreamId } from '../shared/contracts/stream-name.js';
import type { CamgateConfig } from '../shared/config/config.js';
import type { StreamCallbacks } from './stream-callbacks.js';
import type { StreamManager } from './streams.js';

/**
 * The supervisor's half of the media process's notes (src/shared/contracts/media.ts):
 * stream starts and stops become rows, webhooks and m7s join/leave callbacks; idle
 * GB28181 streams are ended; worker deaths are logged and counted.
 */
export class MediaBridge {
  #streams: StreamManager;
  #callbacks: StreamCallbacks;
  #config: CamgateConfig;
  #log: Logger;
  #workerRestarted: (slot: number) => void;
  #storeFailed: (error: unknown) => void;
  #feeds: (name: string) => boolean;
  #stopped: (name: string, reason: string) => void;

  constructor(options: {
    streams: StreamManager;
    callbacks: StreamCallbacks;
    config: CamgateConfig;
    logger: Logger;
    workerRestarted(slot: number): void;
    /** A stream path failed (a store outage is then watched, and reconciled when it ends). */
    storeFailed?(error: unknown): void;
    /** True while an upper platform is fed from the stream: no viewers does not make it idle then. */
    feeds?(name: string): boolean;
    /** A stream stopped (for the upper platforms it fed). */
    stopped?(name: string, reason: string): void;
  }) {
    this.#stopped = options.stopped ?? (() => undefined);
    this.#feeds = options.feeds ?? (() => false);
    this.#streams = options.streams;
    this.#callbacks = options.callbacks;
    this.#config = options.config;
    this.#log = options.logger;
    this.#workerRestarted = options.workerRestarted;
    this.#storeFailed = options.storeFailed ?? (() => undefined);
  }

  /** Wires the notes of a (new) media process channel. */
  attach(channel: ParentChannel<MediaContract>): void {
    const streams = this.#streams;
    const failed = (what: string) => (err: unknown) => {
      this.#log.error({ err }, what);
      this.#storeFailed(err);
    };
    channel.onNote('stream.started', (stream) => {
      this.#log.info({ stream: stream.name, kind: stream.kind, worker: stream.slot }, 'stream started');
      this.#callbacks.joined(stream);
      if (stream.kind === 'gb28181') void streams.mediaStarted(stream.name).catch(failed('stream start failed'));
      else void streams.jt1078Started(stream).catch(failed('stream row failed'));
    });
    channel.onNote('stream.stopped', (stream) => {
      this.#log.info({ stream: stream.name, reason: stream.reason }, 'stream stopped');
      this.#callbacks.left(stream);
      this.#stopped(stream.name, stream.reason);
      if (stream.kind === 'gb28181') void streams.mediaStopped(stream.name, stream.reason).catch(failed('stream stop failed'));
      else void streams.jt1078Stopped(stream.name, stream.reason).catch(failed('stream row failed'));
    });
    channel.onNote('stream.idle', ({ name }) => {
      // A terminal's stream ends when the terminal stops it; a camera's is ours to end.
      const streamid = rtpStreamId(name);
      if (streamid === null || this.#feeds(name)) return;
      void streams.stopById(streamid, `no viewer for ${this.#config.streams.noViewerClose} s`).catch(failed('idle stream stop failed'));
    });
    channel.onNote('worker.died', (died) => this.#log.warn(died, 'media worker died'));
    channel.onNote('worker.restarted', ({ slot }) => this.#workerRestarted(slot));
  }
}
