/**
 * ZLMediaKit webhook handlers, free of I/O: a hook name and a parsed JSON body go in, the reply body
 * ZLM expects comes out, and the stream owner (camgate's stream table) is told what happened.
 *
 * Why each rule exists (observations from a real ZLM, docs/zlmediakit.md):
 * - ZLM wants HTTP 200 and an integer `code`; anything else is retried, so every handler is
 *   idempotent and never throws.
 * - `on_stream_changed` fires once per muxer schema (rtsp, rtmp, ts, fmp4, then hls ~2 s later),
 *   five times up and five times down per stream. The owner hears one registration and one
 *   unregistration per stream, not ten events (gosip instead keyed on `rtmp`/`hls` and broke when
 *   those muxers were off).
 * - `on_stream_none_reader` also fires ~20 s after registration for streams that never had a
 *   viewer, and its `schema` varies (`rtmp`, `hls`, `muxer`). Answering `close: true` blindly, as
 *   gosip did, tears down a live feed nobody has opened yet; so we close only our own `rtp`
 *   streams, and only once they have been watched unless `closeUnwatched` is set.
 * - `on_publish` replies carry per-stream protocol options; current ZLM reads snake_case keys
 *   (`enable_hls`, `enable_mp4`, …), not the legacy camelCase gosip sends.
 * - `on_stream_not_found` holds the player until `general.maxStreamWaitMS` with `{code:0}` and drops
 *   it at once with `close: true`; it is the place to start an INVITE on demand.
 */
import { CoalescingRunner } from '../../shared/coalescing-runner.js';

/** What the hooks need from the component that owns camgate's streams. */
export interface ZlmStreamOwner {
  /** True for streams camgate created (an openRtpServer stream id or SSRC-derived id it handed out). */
  isOurs(app: string, stream: string): boolean;
  /**
   * True once a viewer played the stream through a path the hooks cannot see (on_play and
   * on_stream_not_found are seen and count already). Handing out a URL is not watching.
   */
  wasWatched?(app: string, stream: string): boolean;
  /** Called once when the first schema of a stream registers. */
  onStreamRegistered(app: string, stream: string, schema: string): void | Promise<void>;
  /**
   * Called once when the last registered schema of a stream goes away; `schema` is that last one.
   * `reason` is set when camgate's own answer made ZLM close it (see {@link NONE_READER_REASONS}).
   */
  onStreamUnregistered(app: string, stream: string, schema: string, reason?: string): void | Promise<void>;
  /** Start the stream (send the INVITE). Resolve true when it is being started, false when it cannot be. */
  startOnDemand(app: string, stream: string): Promise<boolean>;
  /** The RtpServer got no media for `rtp_proxy.timeoutSec`; ZLM has already freed its port. */
  onRtpServerTimeout(streamId: string): void | Promise<void>;
  /** ZLM (re)started: its RtpServers and streams are gone; compare with what we think is running. */
  reconcile(): void | Promise<void>;
  /** A startSendRtp(Passive) sender stopped by itself (the receiver went away). `ssrc` is decimal. */
  onSendRtpStopped?(app: string, stream: string, ssrc: string, reason: string): void | Promise<void>;
}

/**
 * Per-stream protocol options returned in the `on_publish` reply; they override ZLM's `[protocol]`
 * section for that stream. Keys are ZLM's own (snake_case).
 */
export interface ZlmPublishOptions {
  enable_hls?: boolean;
  enable_hls_fmp4?: boolean;
  enable_mp4?: boolean;
  enable_rtsp?: boolean;
  enable_rtmp?: boolean;
  enable_ts?: boolean;
  enable_fmp4?: boolean;
  hls_demand?: boolean;
  rtsp_demand?: boolean;
  rtmp_demand?: boolean;
  ts_demand?: boolean;
  fmp4_demand?: boolean;
  /** ZLM's default injects a silent AAC track into audio-less streams; we turn it off by default. */
  add_mute_audio?: boolean;
  enable_audio?: boolean;
  modify_stamp?: number;
  auto_close?: boolean;
  continue_push_ms?: number;
  paced_sender_ms?: number;
  mp4_as_player?: boolean;
  mp4_max_second?: number;
  mp4_save_path?: string;
  hls_save_path?: string;
  stream_replace?: string;
}

/** Our defaults: no MP4 recording and no injected silent audio. Everything else follows ZLM's config. */
export const DEFAULT_PUBLISH_OPTIONS: Readonly<ZlmPublishOptions> = Object.freeze({
  enable_mp4: false,
  add_mute_audio: false,
});

export interface ZlmHooksOptions {
  /** The app ZLM registers RTP streams under; ZLM's default is `rtp`. */
  rtpApp?: string;
  /** Refuse `on_publish` for streams the owner does not know (a non-zero code denies the publish). */
  denyUnknownPublish?: boolean;
  /** Let `on_stream_none_reader` close our streams even if nobody ever watched them (default false: keep them). */
  closeUnwatched?: boolean;
  /** Merged over {@link DEFAULT_PUBLISH_OPTIONS}. */
  publishOptions?: ZlmPublishOptions;
  /**
   * How long `on_stream_not_found` waits for `startOnDemand` before answering anyway (keep it under
   * ZLM's `hook.timeoutSec`, 5 s by default, or ZLM retries the hook). Default 3000 ms.
   */
  notFoundAnswerWithinMs?: number;
  /** How long a stream is remembered as unregistered, to swallow its remaining per-schema events. Default 60 s. */
  rememberUnregisteredMs?: number;
  now?: () => number;
  /** Called when an owner callback throws or rejects; the hook still answers. */
  onError?: (hook: string, error: unknown) => void;
}

/** A reply body for ZLM: always an integer `code`. */
export interface ZlmHookReply {
  code: number;
  msg?: string;
  [field: string]: unknown;
}

/** `status` is the HTTP status to send: 200 for every answer ZLM should act on, 400 for bodies we could not read. */
export interface ZlmHookOutcome {
  status: 200 | 400;
  reply: ZlmHookReply;
}

export interface ZlmHookStats {
  received: number;
  malformed: number;
  /** Requests refused before reaching a handler (wrong mediaServerId or source address). */
  refused: number;
  /** Per hook name; names we do not handle are counted under `other`. */
  byHook: Record<string, number>;
}

export interface ZlmHooks {
  handle(hook: string, body: unknown): Promise<ZlmHookOutcome>;
  /** Counts a body the transport could not parse, and returns the 400 answer for it. */
  malformed(hook: string, reason: string): ZlmHookOutcome;
  /** Counts a refused request and returns the answer for it. */
  refused(hook: string, reason: string): ZlmHookReply;
  /** Drops what is remembered about a stream (e.g. after the owner closed it and will not wait for events). */
  forgetStream(app: string, stream: string): void;
  readonly stats: ZlmHookStats;
}

export const HANDLED_HOOKS = [
  'on_publish',
  'on_play',
  'on_stream_changed',
  'on_stream_none_reader',
  'on_stream_not_found',
  'on_rtp_server_timeout',
  'on_server_started',
  'on_server_keepalive',
  'on_send_rtp_stopped',
  'on_shell_login',
] as const;

const MAX_PLAYED_REMEMBERED = 100_000;
const SUCCESS: Readonly<ZlmHookReply> = Object.freeze({ code: 0, msg: 'success' });

/** The reasons recorded when camgate's none_reader answer made ZLM close a stream. */
export const NONE_READER_REASONS = Object.freeze({
  lastViewerLeft: 'no viewer left (ZLMediaKit on_stream_none_reader)',
  neverWatched: 'never watched (zlm.closeUnwatched, ZLMediaKit on_stream_none_reader)',
});

interface StreamState {
  /** Schemas currently registered. */
  schemas: Set<string>;
  /** Set when the unregistration was reported: the time, so the marker can be dropped later. */
  unregisteredAt?: number;
  /** Why ZLM is about to drop the stream, when camgate's own answer asked it to. */
  closeReason?: string;
}

type Body = Record<string, unknown>;
type Handler = (body: Body) => ZlmHookOutcome | Promise<ZlmHookOutcome>;

/**
 * What camgate knows about ZLM's streams: one registration and one unregistration per stream out
 * of ZLM's five per-schema events, which of our streams a player asked for, and why a stream is
 * being closed. All of it describes one ZLM run and is dropped when ZLM restarts.
 */
class StreamRegistry {
  readonly #streams = new Map<string, StreamState>();
  /** Our streams that a player asked for (on_play, on_stream_not_found), until they unregister. */
  readonly #played = new Set<string>();
  readonly #rememberMs: number;
  readonly #now: () => number;
  #lastPrune: number;

  constructor(rememberMs: number, now: () => number) {
    this.#rememberMs = rememberMs;
    this.#now = now;
    this.#lastPrune = now();
  }

  /** Marks a stream as played. Streams that never register keep their mark, so the set is capped, oldest first. */
  markPlayed(key: string): void {
    this.#played.delete(key);
    this.#played.add(key);
    if (this.#played.size > MAX_PLAYED_REMEMBERED) this.#played.delete(this.#played.values().next().value as string);
  }

  wasPlayed(key: string): boolean {
    return this.#played.has(key);
  }

  /** True when this is the stream's first registered schema (the owner is told once). */
  register(key: string, schema: string): boolean {
    this.#prune();
    const state = this.#streams.get(key);
    if (state === undefined || state.unregisteredAt !== undefined) {
      this.#streams.set(key, { schemas: new Set([schema]) });
      return true;
    }
    state.schemas.add(schema);
    return false;
  }

  /**
   * Removes one schema. Returns the stream's end (with the close reason camgate caused, if any) when
   * it was the last one, or when the stream registered before camgate listened (reported once).
   */
  unregister(key: string, schema: string): { reason?: string } | undefined {
    this.#prune();
    const state = this.#streams.get(key) ?? { schemas: new Set([schema]) };
    this.#streams.set(key, state);
    if (state.unregisteredAt !== undefined) return undefined;
    state.schemas.delete(schema);
    if (state.schemas.size > 0) return undefined;
    state.unregisteredAt = this.#now();
    this.#played.delete(key);
    const reason = state.closeReason;
    state.closeReason = undefined;
    return reason === undefined ? {} : { reason };
  }

  /** Remembers why ZLM will drop the stream (camgate answered close:true), for its unregistration. */
  closing(key: string, reason: string): void {
    const state = this.#streams.get(key);
    if (state === undefined || state.unregisteredAt !== undefined) {
      // none_reader without a registration seen (camgate restarted meanwhile): the stream still ends once.
      this.#streams.set(key, { schemas: new Set(), closeReason: reason });
    } else {
      state.closeReason = reason;
    }
  }

  forget(key: string): void {
    this.#streams.delete(key);
    this.#played.delete(key);
  }

  clear(): void {
    this.#streams.clear();
    this.#played.clear();
  }

  #prune(): void {
    const time = this.#now();
    if (time - this.#lastPrune < this.#rememberMs / 2) return;
    this.#lastPrune = time;
    for (const [key, state] of this.#streams) {
      if (state.unregisteredAt !== undefined && time - state.unregisteredAt >= this.#rememberMs) this.#streams.delete(key);
    }
  }
}

/** The webhook handlers, one method per hook ZLM sends (see the module comment for why each rule exists). */
export class ZlmHookHandlers implements ZlmHooks {
  readonly stats: ZlmHookStats = { received: 0, malformed: 0, refused: 0, byHook: {} };
  readonly #owner: ZlmStreamOwner;
  readonly #options: ZlmHooksOptions;
  readonly #rtpApp: string;
  readonly #answerWithinMs: number;
  readonly #publishReply: ZlmHookReply;
  readonly #registry: StreamRegistry;
  /** On-demand starts in flight, so several players asking for one stream start it once. */
  readonly #starting = new Map<string, Promise<boolean>>();
  readonly #reconcile: CoalescingRunner;
  readonly #handled = new Set<string>(HANDLED_HOOKS);
  readonly #handlers: Record<string, Handler> = {
    on_publish: (body) => this.#onPublish(body),
    on_play: (body) => this.#onPlay(body),
    on_stream_changed: (body) => this.#onStreamChanged(body),
    on_stream_none_reader: (body) => this.#onStreamNoneReader(body),
    on_stream_not_found: (body) => this.#onStreamNotFound(body),
    on_rtp_server_timeout: (body) => this.#onRtpServerTimeout(body),
    on_server_started: () => this.#onServerStarted(),
    on_send_rtp_stopped: (body) => this.#onSendRtpStopped(body),
    // code 0 would let anyone into ZLM's shell; a gateway never wants that.
    on_shell_login: () => ok({ code: -1, msg: 'shell login is disabled' }),
  };

  constructor(owner: ZlmStreamOwner, options: ZlmHooksOptions = {}) {
    this.#owner = owner;
    this.#options = options;
    this.#rtpApp = options.rtpApp ?? 'rtp';
    this.#answerWithinMs = options.notFoundAnswerWithinMs ?? 3_000;
    this.#publishReply = { code: 0, msg: 'success', ...DEFAULT_PUBLISH_OPTIONS, ...options.publishOptions };
    this.#registry = new StreamRegistry(options.rememberUnregisteredMs ?? 60_000, options.now ?? Date.now);
    this.#reconcile = new CoalescingRunner(
      () => owner.reconcile(),
      (error) => this.#report('on_server_started', error),
    );
  }

  async handle(hook: string, body: unknown): Promise<ZlmHookOutcome> {
    this.#count(hook);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return this.malformed(hook, 'body must be a JSON object');
    // on_server_keepalive, on_flow_report, on_record_mp4, on_rtsp_realm (empty realm: no RTSP auth), …
    const handler = Object.hasOwn(this.#handlers, hook) ? this.#handlers[hook] : undefined;
    if (handler === undefined) return ok({ ...SUCCESS });
    try {
      return await handler(body as Body);
    } catch (error) {
      // Not expected; answer anyway so ZLM does not retry a hook that will fail the same way.
      this.#report(hook, error);
      return ok({ ...SUCCESS });
    }
  }

  malformed(hook: string, reason: string): ZlmHookOutcome {
    this.stats.malformed += 1;
    return { status: 400, reply: { code: -1, msg: `${hook}: ${reason}` } };
  }

  refused(hook: string, reason: string): ZlmHookReply {
    this.#count(hook);
    this.stats.refused += 1;
    return { code: -1, msg: reason };
  }

  forgetStream(app: string, stream: string): void {
    this.#registry.forget(keyOf(app, stream));
  }

  #onPublish(body: Body): ZlmHookOutcome {
    const app = text(body.app);
    const stream = text(body.stream);
    if (app === undefined || stream === undefined) return this.malformed('on_publish', 'app and stream must be strings');
    if (this.#options.denyUnknownPublish && !this.#ask('on_publish', () => this.#owner.isOurs(app, stream))) {
      return ok({ code: -1, msg: `stream ${app}/${stream} is not known to camgate` });
    }
    return ok({ ...this.#publishReply });
  }

  #onPlay(body: Body): ZlmHookOutcome {
    const app = text(body.app);
    const stream = text(body.stream);
    if (app === undefined || stream === undefined) return this.malformed('on_play', 'app and stream must be strings');
    // Remember viewers of our own streams only, so random names cannot grow the set.
    if (this.#isOurRtpStream('on_play', app, stream)) this.#registry.markPlayed(keyOf(app, stream));
    return ok({ ...SUCCESS });
  }

  #onStreamChanged(body: Body): ZlmHookOutcome {
    const app = text(body.app);
    const stream = text(body.stream);
    const schema = text(body.schema);
    if (app === undefined || stream === undefined || schema === undefined) {
      return this.malformed('on_stream_changed', 'app, stream and schema must be strings');
    }
    if (typeof body.regist !== 'boolean') return this.malformed('on_stream_changed', 'regist must be a boolean');
    const key = keyOf(app, stream);
    if (body.regist) {
      if (this.#registry.register(key, schema)) {
        this.#notify('on_stream_changed', () => this.#owner.onStreamRegistered(app, stream, schema));
      }
    } else {
      const ended = this.#registry.unregister(key, schema);
      if (ended !== undefined) {
        this.#notify('on_stream_changed', () =>
          ended.reason === undefined
            ? this.#owner.onStreamUnregistered(app, stream, schema)
            : this.#owner.onStreamUnregistered(app, stream, schema, ended.reason),
        );
      }
    }
    return ok({ ...SUCCESS });
  }

  #onStreamNoneReader(body: Body): ZlmHookOutcome {
    // `schema` varies across these events (rtmp, hls, muxer); the decision is per app/stream.
    const app = text(body.app);
    const stream = text(body.stream);
    if (app === undefined || stream === undefined) return this.malformed('on_stream_none_reader', 'app and stream must be strings');
    const reason = this.#noneReaderCloseReason(app, stream);
    if (reason === undefined) return ok({ code: 0, close: false });
    this.#registry.closing(keyOf(app, stream), reason);
    return ok({ code: 0, close: true });
  }

  /**
   * Why our answer closes the stream, or undefined to keep it: only our own rtp streams close, and
   * a stream nobody ever watched stays unless `closeUnwatched` is set (ZLM asks ~20 s after
   * registration even then, which would end a live feed before anyone opened its URL).
   */
  #noneReaderCloseReason(app: string, stream: string): string | undefined {
    if (!this.#isOurRtpStream('on_stream_none_reader', app, stream)) return undefined;
    const watched =
      this.#registry.wasPlayed(keyOf(app, stream)) ||
      (this.#owner.wasWatched !== undefined && this.#ask('on_stream_none_reader', () => this.#owner.wasWatched!(app, stream)));
    if (watched) return NONE_READER_REASONS.lastViewerLeft;
    return this.#options.closeUnwatched === true ? NONE_READER_REASONS.neverWatched : undefined;
  }

  async #onStreamNotFound(body: Body): Promise<ZlmHookOutcome> {
    const app = text(body.app);
    const stream = text(body.stream);
    if (app === undefined || stream === undefined) return this.malformed('on_stream_not_found', 'app and stream must be strings');
    if (app !== this.#rtpApp) {
      // Not an RTP stream of ours (e.g. an RTMP push that may still arrive): let ZLM wait as usual.
      return ok({ ...SUCCESS });
    }
    if (!this.#ask('on_stream_not_found', () => this.#owner.isOurs(app, stream))) {
      // Nothing will ever appear under this name: drop the player now instead of holding it 15 s.
      return ok({ code: 0, close: true });
    }
    const key = keyOf(app, stream);
    this.#registry.markPlayed(key);
    let start = this.#starting.get(key);
    if (start === undefined) {
      start = this.#callStart(app, stream).finally(() => this.#starting.delete(key));
      this.#starting.set(key, start);
    }
    const decision = await withinDeadline(start, this.#answerWithinMs);
    // true, or still starting: keep the player waiting for the stream (ZLM holds it up to maxStreamWaitMS).
    return ok({ code: 0, close: decision === false });
  }

  async #callStart(app: string, stream: string): Promise<boolean> {
    try {
      return (await this.#owner.startOnDemand(app, stream)) === true;
    } catch (error) {
      this.#report('on_stream_not_found', error);
      return false;
    }
  }

  #onRtpServerTimeout(body: Body): ZlmHookOutcome {
    const streamId = text(body.stream_id);
    if (streamId === undefined) return this.malformed('on_rtp_server_timeout', 'stream_id must be a string');
    this.#notify('on_rtp_server_timeout', () => this.#owner.onRtpServerTimeout(streamId));
    return ok({ ...SUCCESS });
  }

  #onServerStarted(): ZlmHookOutcome {
    // A fresh ZLM has no streams: what we remember about the old one no longer holds.
    this.#registry.clear();
    void this.#reconcile.request();
    return ok({ ...SUCCESS });
  }

  #onSendRtpStopped(body: Body): ZlmHookOutcome {
    const app = text(body.app);
    const stream = text(body.stream);
    // `ssrc` is a string in this hook (and a number in on_rtp_server_timeout).
    const ssrc = typeof body.ssrc === 'number' ? String(body.ssrc) : text(body.ssrc);
    if (app === undefined || stream === undefined || ssrc === undefined) {
      return this.malformed('on_send_rtp_stopped', 'app, stream and ssrc are required');
    }
    const reason = typeof body.msg === 'string' ? body.msg : '';
    const stopped = this.#owner.onSendRtpStopped?.bind(this.#owner);
    if (stopped) this.#notify('on_send_rtp_stopped', () => stopped(app, stream, ssrc, reason));
    return ok({ ...SUCCESS });
  }

  #isOurRtpStream(hook: string, app: string, stream: string): boolean {
    return app === this.#rtpApp && this.#ask(hook, () => this.#owner.isOurs(app, stream));
  }

  #count(hook: string): void {
    this.stats.received += 1;
    const name = this.#handled.has(hook) ? hook : 'other';
    this.stats.byHook[name] = (this.stats.byHook[name] ?? 0) + 1;
  }

  #report(hook: string, error: unknown): void {
    try {
      this.#options.onError?.(hook, error);
    } catch {
      // A failing error reporter must not turn into a failed hook.
    }
  }

  /** Runs an owner callback without letting a throw or rejection escape. */
  #notify(hook: string, call: () => void | Promise<void>): void {
    try {
      const result = call();
      if (result instanceof Promise) result.then(undefined, (error: unknown) => this.#report(hook, error));
    } catch (error) {
      this.#report(hook, error);
    }
  }

  /** Asks the owner a yes/no question; a throw counts as no. */
  #ask(hook: string, question: () => boolean): boolean {
    try {
      return question() === true;
    } catch (error) {
      this.#report(hook, error);
      return false;
    }
  }
}

export function createZlmHooks(owner: ZlmStreamOwner, options: ZlmHooksOptions = {}): ZlmHooks {
  return new ZlmHookHandlers(owner, options);
}

function ok(reply: ZlmHookReply): ZlmHookOutcome {
  return { status: 200, reply };
}

function keyOf(app: string, stream: string): string {
  return `${app}\u0000${stream}`;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** The promise's value if it settles in time, otherwise 'pending'. */
function withinDeadline(promise: Promise<boolean>, ms: number): Promise<boolean | 'pending'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('pending'), ms);
    timer.unref?.();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      () => {
        clearTimeout(timer);
        resolve(false);
      },
    );
  });
}
