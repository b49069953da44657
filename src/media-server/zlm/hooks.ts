/**
 * ZLMediaKit webhook handlers, free of I/O: a hook name and a parsed JSON body go in, the reply body
 * ZLM expects comes out, and the stream owner (camgate's stream table) is told what happened.
 *
 * Why each rule exists (observations from a real ZLM, docs/zlmediakit.md §4 and §7):
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

/** What the hooks need from the component that owns camgate's streams. */
export interface ZlmStreamOwner {
  /** True for streams camgate created (an openRtpServer stream id or SSRC-derived id it handed out). */
  isOurs(app: string, stream: string): boolean;
  /** True once someone has played the stream (camgate handed out a URL, a viewer connected, …). */
  wasWatched(app: string, stream: string): boolean;
  /** Called once when the first schema of a stream registers. */
  onStreamRegistered(app: string, stream: string, schema: string): void | Promise<void>;
  /** Called once when the last registered schema of a stream goes away; `schema` is that last one. */
  onStreamUnregistered(app: string, stream: string, schema: string): void | Promise<void>;
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
  /** Let `on_stream_none_reader` close our streams even if nobody ever watched them. */
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

interface StreamState {
  /** Schemas currently registered. */
  schemas: Set<string>;
  /** Set when the unregistration was reported: the time, so the marker can be dropped later. */
  unregisteredAt?: number;
}

type Body = Record<string, unknown>;

export function createZlmHooks(owner: ZlmStreamOwner, options: ZlmHooksOptions = {}): ZlmHooks {
  const rtpApp = options.rtpApp ?? 'rtp';
  const now = options.now ?? Date.now;
  const rememberMs = options.rememberUnregisteredMs ?? 60_000;
  const answerWithinMs = options.notFoundAnswerWithinMs ?? 3_000;
  const publishReply: ZlmHookReply = { code: 0, msg: 'success', ...DEFAULT_PUBLISH_OPTIONS, ...options.publishOptions };

  const streams = new Map<string, StreamState>();
  /** Our streams that a player asked for (on_play), until they unregister. */
  const played = new Set<string>();
  const starting = new Map<string, Promise<boolean>>();
  let lastPrune = now();
  let reconciling = false;
  let reconcileAgain = false;

  const stats: ZlmHookStats = { received: 0, malformed: 0, refused: 0, byHook: {} };
  const handled = new Set<string>(HANDLED_HOOKS);

  function count(hook: string): void {
    stats.received += 1;
    const name = handled.has(hook) ? hook : 'other';
    stats.byHook[name] = (stats.byHook[name] ?? 0) + 1;
  }

  function report(hook: string, error: unknown): void {
    try {
      options.onError?.(hook, error);
    } catch {
      // A failing error reporter must not turn into a failed hook.
    }
  }

  /** Runs an owner callback without letting a throw or rejection escape. */
  function notify(hook: string, call: () => void | Promise<void>): void {
    try {
      const result = call();
      if (result && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(undefined, (error: unknown) => report(hook, error));
      }
    } catch (error) {
      report(hook, error);
    }
  }

  function ask(hook: string, question: () => boolean, fallback: boolean): boolean {
    try {
      return question() === true;
    } catch (error) {
      report(hook, error);
      return fallback;
    }
  }

  function malformed(hook: string, reason: string): ZlmHookOutcome {
    stats.malformed += 1;
    return { status: 400, reply: { code: -1, msg: `${hook}: ${reason}` } };
  }

  /** Marks a stream as played. Streams that never register keep their mark, so the set is capped, oldest first. */
  function remember(key: string): void {
    played.delete(key);
    played.add(key);
    if (played.size > MAX_PLAYED_REMEMBERED) played.delete(played.values().next().value as string);
  }

  function pruneForgotten(): void {
    const time = now();
    if (time - lastPrune < rememberMs / 2) return;
    lastPrune = time;
    for (const [key, state] of streams) {
      if (state.unregisteredAt !== undefined && time - state.unregisteredAt >= rememberMs) streams.delete(key);
    }
  }

  function onPublish(body: Body): ZlmHookOutcome {
    const app = text(body.app);
    const stream = text(body.stream);
    if (app === undefined || stream === undefined) return malformed('on_publish', 'app and stream must be strings');
    if (options.denyUnknownPublish && !ask('on_publish', () => owner.isOurs(app, stream), false)) {
      return ok({ code: -1, msg: `stream ${app}/${stream} is not known to camgate` });
    }
    return ok({ ...publishReply });
  }

  function onPlay(body: Body): ZlmHookOutcome {
    const app = text(body.app);
    const stream = text(body.stream);
    if (app === undefined || stream === undefined) return malformed('on_play', 'app and stream must be strings');
    // Remember viewers of our own streams only, so random names cannot grow the set.
    if (app === rtpApp && ask('on_play', () => owner.isOurs(app, stream), false)) remember(keyOf(app, stream));
    return ok({ ...SUCCESS });
  }

  function onStreamChanged(body: Body): ZlmHookOutcome {
    const app = text(body.app);
    const stream = text(body.stream);
    const schema = text(body.schema);
    if (app === undefined || stream === undefined || schema === undefined) {
      return malformed('on_stream_changed', 'app, stream and schema must be strings');
    }
    if (typeof body.regist !== 'boolean') return malformed('on_stream_changed', 'regist must be a boolean');
    pruneForgotten();
    const key = keyOf(app, stream);
    const state = streams.get(key);
    if (body.regist) {
      if (state === undefined || state.unregisteredAt !== undefined) {
        streams.set(key, { schemas: new Set([schema]) });
        notify('on_stream_changed', () => owner.onStreamRegistered(app, stream, schema));
      } else {
        state.schemas.add(schema);
      }
    } else if (state === undefined) {
      // Registered before we were listening (camgate restarted): report the end once.
      streams.set(key, { schemas: new Set(), unregisteredAt: now() });
      played.delete(key);
      notify('on_stream_changed', () => owner.onStreamUnregistered(app, stream, schema));
    } else if (state.unregisteredAt === undefined) {
      state.schemas.delete(schema);
      if (state.schemas.size === 0) {
        state.unregisteredAt = now();
        played.delete(key);
        notify('on_stream_changed', () => owner.onStreamUnregistered(app, stream, schema));
      }
    }
    return ok({ ...SUCCESS });
  }

  function onStreamNoneReader(body: Body): ZlmHookOutcome {
    // `schema` varies across these events (rtmp, hls, muxer); the decision is per app/stream.
    const app = text(body.app);
    const stream = text(body.stream);
    if (app === undefined || stream === undefined) return malformed('on_stream_none_reader', 'app and stream must be strings');
    let close = false;
    if (app === rtpApp && ask('on_stream_none_reader', () => owner.isOurs(app, stream), false)) {
      close =
        options.closeUnwatched === true ||
        played.has(keyOf(app, stream)) ||
        ask('on_stream_none_reader', () => owner.wasWatched(app, stream), false);
    }
    return ok({ code: 0, close });
  }

  async function onStreamNotFound(body: Body): Promise<ZlmHookOutcome> {
    const app = text(body.app);
    const stream = text(body.stream);
    if (app === undefined || stream === undefined) return malformed('on_stream_not_found', 'app and stream must be strings');
    if (app !== rtpApp) {
      // Not an RTP stream of ours (e.g. an RTMP push that may still arrive): let ZLM wait as usual.
      return ok({ ...SUCCESS });
    }
    if (!ask('on_stream_not_found', () => owner.isOurs(app, stream), false)) {
      // Nothing will ever appear under this name: drop the player now instead of holding it 15 s.
      return ok({ code: 0, close: true });
    }
    const key = keyOf(app, stream);
    remember(key);
    let start = starting.get(key);
    if (start === undefined) {
      // Several players asking for the same stream start it once.
      start = callStart(app, stream).finally(() => starting.delete(key));
      starting.set(key, start);
    }
    const decision = await withinDeadline(start, answerWithinMs);
    // true, or still starting: keep the player waiting for the stream (ZLM holds it up to maxStreamWaitMS).
    return ok({ code: 0, close: decision === false });
  }

  async function callStart(app: string, stream: string): Promise<boolean> {
    try {
      return (await owner.startOnDemand(app, stream)) === true;
    } catch (error) {
      report('on_stream_not_found', error);
      return false;
    }
  }

  function onRtpServerTimeout(body: Body): ZlmHookOutcome {
    const streamId = text(body.stream_id);
    if (streamId === undefined) return malformed('on_rtp_server_timeout', 'stream_id must be a string');
    notify('on_rtp_server_timeout', () => owner.onRtpServerTimeout(streamId));
    return ok({ ...SUCCESS });
  }

  function onServerStarted(): ZlmHookOutcome {
    // A fresh ZLM has no streams: what we remember about the old one no longer holds.
    streams.clear();
    played.clear();
    startReconcile();
    return ok({ ...SUCCESS });
  }

  function startReconcile(): void {
    if (reconciling) {
      reconcileAgain = true;
      return;
    }
    reconciling = true;
    void (async () => {
      do {
        reconcileAgain = false;
        try {
          await owner.reconcile();
        } catch (error) {
          report('on_server_started', error);
        }
      } while (reconcileAgain);
      reconciling = false;
    })();
  }

  function onSendRtpStopped(body: Body): ZlmHookOutcome {
    const app = text(body.app);
    const stream = text(body.stream);
    // `ssrc` is a string in this hook (and a number in on_rtp_server_timeout).
    const ssrc = typeof body.ssrc === 'number' ? String(body.ssrc) : text(body.ssrc);
    if (app === undefined || stream === undefined || ssrc === undefined) {
      return malformed('on_send_rtp_stopped', 'app, stream and ssrc are required');
    }
    const reason = typeof body.msg === 'string' ? body.msg : '';
    if (owner.onSendRtpStopped) notify('on_send_rtp_stopped', () => owner.onSendRtpStopped!(app, stream, ssrc, reason));
    return ok({ ...SUCCESS });
  }

  async function handle(hook: string, body: unknown): Promise<ZlmHookOutcome> {
    count(hook);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return malformed(hook, 'body must be a JSON object');
    const fields = body as Body;
    try {
      switch (hook) {
        case 'on_publish':
          return onPublish(fields);
        case 'on_play':
          return onPlay(fields);
        case 'on_stream_changed':
          return onStreamChanged(fields);
        case 'on_stream_none_reader':
          return onStreamNoneReader(fields);
        case 'on_stream_not_found':
          return await onStreamNotFound(fields);
        case 'on_rtp_server_timeout':
          return onRtpServerTimeout(fields);
        case 'on_server_started':
          return onServerStarted();
        case 'on_send_rtp_stopped':
          return onSendRtpStopped(fields);
        case 'on_shell_login':
          // code 0 would let anyone into ZLM's shell; a gateway never wants that.
          return ok({ code: -1, msg: 'shell login is disabled' });
        default:
          // on_server_keepalive, on_flow_report, on_record_mp4, on_rtsp_realm (empty realm: no RTSP auth), …
          return ok({ ...SUCCESS });
      }
    } catch (error) {
      // Not expected; answer anyway so ZLM does not retry a hook that will fail the same way.
      report(hook, error);
      return ok({ code: 0, msg: 'success' });
    }
  }

  return {
    handle,
    malformed: (hook, reason) => malformed(hook, reason),
    refused(hook, reason) {
      count(hook);
      stats.refused += 1;
      return { code: -1, msg: reason };
    },
    forgetStream(app, stream) {
      const key = keyOf(app, stream);
      streams.delete(key);
      played.delete(key);
    },
    stats,
  };
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
