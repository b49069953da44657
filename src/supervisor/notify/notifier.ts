import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { signPayload } from './signature.js';

/**
 * Outgoing webhooks ("asynchronous notifications" in gosip's terms).
 *
 * The body is byte-compatible with gosip: exactly `{"method":"<event>","data":{...}}`,
 * so existing gosip receivers keep working. Everything we add travels in headers:
 *
 *   Content-Type: application/json; charset=utf-8
 *   X-Camgate-Event:     <event name, same as "method">
 *   X-Camgate-Event-Id:  <uuid, identical on every attempt: receivers dedupe on it>
 *   X-Camgate-Attempt:   <1, 2, ...>
 *   X-Camgate-Timestamp: <unix seconds of this attempt>
 *   X-Camgate-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>  (only with a secret)
 *
 * Unlike gosip (fire-and-forget, no retry, no order), delivery here is at-least-once:
 * any non-2xx answer, network error or timeout is retried with capped exponential
 * backoff and jitter, and events sharing an order key (a device ID, say) are delivered
 * strictly in emit order: the next waits until the previous one got a 2xx. Different
 * keys are independent, so one failing device never holds up another.
 */

/** Events the gateway emits; used as the bounded `event` label set of the metrics. */
export const NOTIFY_EVENTS = [
  'devices.registered',
  'devices.active',
  'devices.offline',
  'channels.active',
  'channels.added',
  'channels.removed',
  'channels.alarm',
  'streams.started',
  'streams.stopped',
  'vehicles.online',
  'vehicles.offline',
  'vehicles.position',
  'vehicles.alarm',
  'platforms.online',
  'platforms.offline',
  'intercom.started',
  'intercom.stopped',
  'downloads.done',
  'downloads.failed',
] as const;

export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** Receives every emitted event (`GET /events`); `data` must not be changed. */
export type EventListener = (event: string, data: object) => void;

export interface RetryPolicy {
  /** First retry delay, ms. */
  minDelay: number;
  /** Ceiling of the exponential backoff, ms. */
  maxDelay: number;
  /** Attempts per event before it is dropped; Infinity retries until delivered. */
  maxAttempts: number;
}

export interface QueueLimits {
  /** Events waiting per order key, the one being sent included. */
  perKey: number;
  /** Events waiting over all keys. */
  total: number;
}

/** The subset of a pino logger the notifier uses. */
export interface NotifierLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface NotifierOptions {
  /** Event name → URL; events without a URL are not sent (config `notify.urls`). */
  urls: Readonly<Record<string, string>>;
  /** HMAC secret; empty or absent sends unsigned requests (config `notify.secret`). */
  secret?: string;
  /** Per-attempt timeout, ms (config `notify.timeout`); default 5000. */
  timeout?: number;
  retry?: Partial<RetryPolicy>;
  queue?: Partial<QueueLimits>;
  /** Requests in flight at once over all keys; default 16. */
  concurrency?: number;
  /** Injected for tests; defaults to Node's global fetch (undici). */
  fetch?: typeof fetch;
  /** Wall clock in ms since the epoch, for timestamps and log throttling. */
  now?: () => number;
  logger?: NotifierLogger;
  /** When given, the `camgate_webhook_*` metrics are registered there. */
  registry?: Registry;
  /** Extra event names allowed as metric labels (beyond NOTIFY_EVENTS); others become `other`. */
  metricEvents?: readonly string[];
}

export interface NotifierStats {
  /** Events waiting, including those being sent. */
  queued: number;
  inFlight: number;
  /** Order keys currently waiting out a backoff. */
  backingOff: number;
  delivered: number;
  failedAttempts: number;
  dropped: number;
}

export interface CloseResult {
  /** True when everything queued was delivered before the drain timeout. */
  drained: boolean;
  /** Events given up at close (also counted in stats().dropped). */
  dropped: number;
}

export const DEFAULT_RETRY: RetryPolicy = { minDelay: 500, maxDelay: 60_000, maxAttempts: Infinity };
export const DEFAULT_QUEUE: QueueLimits = { perKey: 1000, total: 10_000 };
const DEFAULT_TIMEOUT = 5000;
const DEFAULT_CONCURRENCY = 16;
const DEFAULT_DRAIN_TIMEOUT = 5000;
/** At most one warning line per kind per interval; the rest are counted into the next. */
const LOG_INTERVAL_MS = 10_000;

interface Job {
  readonly seq: number;
  readonly id: string;
  readonly event: string;
  readonly url: string;
  readonly body: string;
  readonly lane: Lane;
  attempts: number;
  sending: boolean;
  /** Set when close() gave up on the job, so a late fetch result is ignored. */
  abandoned: boolean;
}

/** The FIFO of one order key (or of a single unordered event). */
interface Lane {
  readonly key: string | undefined;
  readonly jobs: Job[];
  /** ready: waiting for a free slot; sending: head in flight; backoff: head waits to retry. */
  state: 'ready' | 'sending' | 'backoff';
  timer: NodeJS.Timeout | undefined;
}

type AttemptOutcome = { ok: true } | { ok: false; reason: string; retryAfterMs?: number };

interface WebhookMetrics {
  deliveries: Counter<'event' | 'result'>;
  queueDepth: Gauge;
  duration: Histogram<'result'>;
}

export class Notifier {
  readonly #urls: Map<string, string>;
  readonly #secret: string;
  readonly #timeout: number;
  readonly #retry: RetryPolicy;
  readonly #limits: QueueLimits;
  readonly #concurrency: number;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #logger: NotifierLogger | undefined;
  readonly #metrics: WebhookMetrics | undefined;
  readonly #labelEvents: Set<string>;

  /** Ordered lanes by key; unordered events get a private lane that is not in this map. */
  readonly #lanes = new Map<string, Lane>();
  /** Lanes whose head may be sent now, in the order they became ready (round robin). */
  readonly #ready = new Set<Lane>();
  readonly #backingOff = new Set<Lane>();
  /** Every queued job in emit order, so the globally oldest is found without a scan. */
  readonly #pending = new Map<number, Job>();
  readonly #inFlight = new Map<Job, AbortController>();
  readonly #attempts = new Set<Promise<void>>();
  readonly #listeners = new Set<EventListener>();
  #seq = 0;
  #pumpScheduled = false;
  #closing = false;
  #closed = false;
  #closePromise: Promise<CloseResult> | undefined;
  #drainWaiters: Array<() => void> = [];

  #delivered = 0;
  #failedAttempts = 0;
  #dropped = 0;

  readonly #dropLog: LogThrottle;
  readonly #failLog: LogThrottle;

  constructor(options: NotifierOptions) {
    this.#urls = new Map(Object.entries(options.urls).filter(([, url]) => typeof url === 'string' && url !== ''));
    this.#secret = options.secret ?? '';
    this.#timeout = positive(options.timeout, DEFAULT_TIMEOUT);
    const minDelay = positive(options.retry?.minDelay, DEFAULT_RETRY.minDelay);
    this.#retry = {
      minDelay,
      maxDelay: Math.max(minDelay, positive(options.retry?.maxDelay, DEFAULT_RETRY.maxDelay)),
      maxAttempts: Math.max(1, options.retry?.maxAttempts ?? DEFAULT_RETRY.maxAttempts),
    };
    this.#limits = {
      perKey: Math.max(1, Math.floor(options.queue?.perKey ?? DEFAULT_QUEUE.perKey)),
      total: Math.max(1, Math.floor(options.queue?.total ?? DEFAULT_QUEUE.total)),
    };
    this.#concurrency = Math.max(1, Math.floor(options.concurrency ?? DEFAULT_CONCURRENCY));
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
    this.#labelEvents = new Set<string>([...NOTIFY_EVENTS, ...(options.metricEvents ?? [])]);
    this.#metrics = options.registry ? webhookMetrics(options.registry) : undefined;
    this.#dropLog = new LogThrottle(this.#now);
    this.#failLog = new LogThrottle(this.#now);
  }

  /**
   * Calls `listener` with every emitted event, whether or not a webhook URL is set for
   * it (the API's `GET /events` feed). A throwing listener is logged and ignored.
   * Returns the unsubscribe function.
   */
  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  #publish(event: string, data: object): void {
    for (const listener of this.#listeners) {
      try {
        listener(event, data);
      } catch (error) {
        this.#logger?.warn({ event, err: describe(error) }, 'event listener failed');
      }
    }
  }

  /** True when a URL is configured for the event, i.e. emit() would send it. */
  wants(event: string): boolean {
    return this.#urls.has(event);
  }

  /**
   * Queues `{"method": event, "data": data}` for delivery and returns at once; never
   * throws. `data` is serialised now, so later changes to the object are not sent.
   * Events with the same `orderKey` are delivered in emit order; without a key the
   * event is ordered against nothing. Returns false when the event is not queued
   * (no URL configured, notifier closing, or data not serialisable).
   */
  emit(event: string, data: object, orderKey?: string): boolean {
    try {
      if (!this.#closing) this.#publish(event, data);
      const url = this.#urls.get(event);
      if (url === undefined) return false;
      if (this.#closing) {
        this.#countDropped(event, 1, 'closing');
        return false;
      }
      let body: string;
      try {
        body = JSON.stringify({ method: event, data });
      } catch (error) {
        this.#countDropped(event, 1, 'unserialisable');
        this.#logger?.warn({ event, err: describe(error) }, 'webhook event data cannot be serialised; dropped');
        return false;
      }

      let lane = orderKey === undefined ? undefined : this.#lanes.get(orderKey);
      if (!lane) {
        lane = { key: orderKey, jobs: [], state: 'ready', timer: undefined };
        if (orderKey !== undefined) this.#lanes.set(orderKey, lane);
      }
      const job: Job = {
        seq: this.#seq++,
        id: randomUUID(),
        event,
        url,
        body,
        lane,
        attempts: 0,
        sending: false,
        abandoned: false,
      };
      lane.jobs.push(job);
      this.#pending.set(job.seq, job);
      if (lane.state === 'ready') this.#ready.add(lane);

      // Drop the oldest event that is not on the wire. The new one always survives (the
      // latest state matters most), even if that leaves one over the cap for a while.
      if (lane.jobs.length > this.#limits.perKey) {
        const victim = lane.jobs.find((queued) => queued !== job && !queued.sending);
        if (victim) this.#drop(victim, 'key queue full');
      }
      if (this.#pending.size > this.#limits.total) {
        for (const queued of this.#pending.values()) {
          if (queued !== job && !queued.sending) {
            this.#drop(queued, 'queue full');
            break;
          }
        }
      }
      this.#updateDepth();
      this.#schedulePump();
      return true;
    } catch (error) {
      // Defensive: a bug here must never reach the SIP/API code that emitted.
      this.#logger?.warn({ event, err: describe(error) }, 'webhook emit failed');
      return false;
    }
  }

  stats(): NotifierStats {
    return {
      queued: this.#pending.size,
      inFlight: this.#inFlight.size,
      backingOff: this.#backingOff.size,
      delivered: this.#delivered,
      failedAttempts: this.#failedAttempts,
      dropped: this.#dropped,
    };
  }

  /**
   * Stops accepting events, retries anything waiting out a backoff right away, and
   * waits up to `drainTimeout` ms (default 5000) for the queue to empty. Whatever is
   * left then is aborted and counted as dropped. Never rejects; calling it again
   * returns the same promise.
   */
  close(options: { drainTimeout?: number } = {}): Promise<CloseResult> {
    if (this.#closePromise) return this.#closePromise;
    this.#closing = true;
    // Shutdown is the last chance: do not sit out a long backoff.
    for (const lane of [...this.#backingOff]) this.#wake(lane);
    this.#schedulePump();
    const drainTimeout = Math.max(0, options.drainTimeout ?? DEFAULT_DRAIN_TIMEOUT);
    this.#closePromise = this.#waitDrained(drainTimeout).then(async (drained) => {
      const dropped = drained ? 0 : this.#abandonAll();
      this.#closed = true;
      await Promise.allSettled([...this.#attempts]);
      return { drained, dropped };
    });
    return this.#closePromise;
  }

  #schedulePump(): void {
    if (this.#pumpScheduled || this.#closed) return;
    this.#pumpScheduled = true;
    // Deferred so emit() only ever queues: no fetch setup on the caller's stack.
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (!this.#closed && this.#inFlight.size < this.#concurrency && this.#ready.size > 0) {
      const lane = this.#ready.values().next().value as Lane;
      this.#ready.delete(lane);
      const job = lane.jobs[0];
      if (!job) continue;
      lane.state = 'sending';
      const attempt = this.#attempt(job).catch((error: unknown) => {
        this.#logger?.warn({ event: job.event, err: describe(error) }, 'webhook delivery bookkeeping failed');
      });
      this.#attempts.add(attempt);
      void attempt.finally(() => this.#attempts.delete(attempt));
    }
  }

  async #attempt(job: Job): Promise<void> {
    const controller = new AbortController();
    job.sending = true;
    job.attempts += 1;
    this.#inFlight.set(job, controller);
    const started = performance.now();
    const outcome = await this.#send(job, controller.signal);
    this.#inFlight.delete(job);
    job.sending = false;
    if (job.abandoned) return;
    const seconds = (performance.now() - started) / 1000;
    const lane = job.lane;

    if (outcome.ok) {
      this.#delivered += 1;
      this.#metrics?.deliveries.inc({ event: this.#label(job.event), result: 'delivered' });
      this.#metrics?.duration.observe({ result: 'delivered' }, seconds);
      this.#forget(job);
      this.#advance(lane);
      return;
    }

    this.#failedAttempts += 1;
    this.#metrics?.deliveries.inc({ event: this.#label(job.event), result: 'retry' });
    this.#metrics?.duration.observe({ result: 'retry' }, seconds);
    const failure = { event: job.event, target: origin(job.url), reason: outcome.reason, attempt: job.attempts };
    this.#logger?.debug(failure, 'webhook attempt failed');
    const suppressed = this.#failLog.take();
    if (suppressed !== undefined) {
      this.#logger?.warn({ ...failure, suppressed }, 'webhook delivery failing; retrying with backoff');
    }

    if (job.attempts >= this.#retry.maxAttempts) {
      this.#drop(job, 'attempts exhausted');
      this.#advance(lane);
      return;
    }
    const delay = Math.max(this.#backoff(job.attempts), outcome.retryAfterMs ?? 0);
    lane.state = 'backoff';
    this.#backingOff.add(lane);
    lane.timer = setTimeout(() => this.#wake(lane), Math.min(delay, this.#retry.maxDelay));
    // A pending retry must not keep the process alive; close() holds it up while draining.
    lane.timer.unref();
    // The slot is free now: other keys must not wait out this key's backoff.
    this.#pump();
  }

  async #send(job: Job, abort: AbortSignal): Promise<AttemptOutcome> {
    try {
      const timestamp = String(Math.floor(this.#now() / 1000));
      const headers: Record<string, string> = {
        'content-type': 'application/json; charset=utf-8',
        'user-agent': 'camgate-notifier',
        'x-camgate-event': job.event,
        'x-camgate-event-id': job.id,
        'x-camgate-attempt': String(job.attempts),
        'x-camgate-timestamp': timestamp,
      };
      if (this.#secret !== '') headers['x-camgate-signature'] = signPayload(this.#secret, timestamp, job.body);
      const signal = AbortSignal.any([abort, AbortSignal.timeout(this.#timeout)]);
      // redirect: manual, because a followed 301/302 turns the POST into a GET and loses the event.
      const response = await this.#fetch(job.url, { method: 'POST', headers, body: job.body, signal, redirect: 'manual' });
      const ok = response.status >= 200 && response.status < 300;
      const retryAfterMs = ok ? undefined : parseRetryAfter(response.headers.get('retry-after'), this.#now());
      // Read the (normally tiny) answer so the connection can be reused; its content does not matter.
      await response.arrayBuffer().catch(() => undefined);
      if (ok) return { ok: true };
      return retryAfterMs === undefined
        ? { ok: false, reason: `HTTP ${response.status}` }
        : { ok: false, reason: `HTTP ${response.status}`, retryAfterMs };
    } catch (error) {
      return { ok: false, reason: describe(error) };
    }
  }

  /** Exponential from minDelay, capped at maxDelay, with ±25 % jitter so keys spread out. */
  #backoff(attempts: number): number {
    const { minDelay, maxDelay } = this.#retry;
    const base = Math.min(maxDelay, minDelay * 2 ** Math.min(attempts - 1, 40));
    const jittered = base * (0.75 + Math.random() * 0.5);
    return Math.round(Math.min(maxDelay, Math.max(minDelay, jittered)));
  }

  #wake(lane: Lane): void {
    if (lane.timer) clearTimeout(lane.timer);
    lane.timer = undefined;
    this.#backingOff.delete(lane);
    if (lane.jobs.length === 0) {
      this.#retire(lane);
      return;
    }
    lane.state = 'ready';
    this.#ready.add(lane);
    this.#pump();
  }

  /** After the head of a lane left (delivered or dropped): go on with the next one. */
  #advance(lane: Lane): void {
    if (lane.jobs.length === 0) {
      this.#retire(lane);
    } else {
      lane.state = 'ready';
      this.#ready.add(lane);
    }
    this.#pump();
    this.#checkDrained();
  }

  #retire(lane: Lane): void {
    lane.state = 'ready';
    this.#ready.delete(lane);
    this.#backingOff.delete(lane);
    if (lane.timer) clearTimeout(lane.timer);
    lane.timer = undefined;
    if (lane.key !== undefined && this.#lanes.get(lane.key) === lane) this.#lanes.delete(lane.key);
  }

  /** Removes a job that is not on the wire and counts it as dropped. */
  #drop(job: Job, reason: string): void {
    this.#forget(job);
    this.#countDropped(job.event, 1, reason);
    const lane = job.lane;
    if (lane.jobs.length === 0 && lane.state !== 'sending') this.#retire(lane);
    this.#checkDrained();
  }

  #forget(job: Job): void {
    const lane = job.lane;
    const index = lane.jobs.indexOf(job);
    if (index >= 0) lane.jobs.splice(index, 1);
    this.#pending.delete(job.seq);
    this.#updateDepth();
  }

  #countDropped(event: string, count: number, reason: string): void {
    this.#dropped += count;
    this.#metrics?.deliveries.inc({ event: this.#label(event), result: 'dropped' }, count);
    const suppressed = this.#dropLog.take();
    if (suppressed !== undefined) {
      this.#logger?.warn(
        { event, reason, suppressed, droppedTotal: this.#dropped },
        'webhook event dropped',
      );
    }
  }

  /** Gives up on everything still queued (close() past its drain timeout). */
  #abandonAll(): number {
    this.#closed = true;
    const jobs = [...this.#pending.values()];
    for (const job of jobs) {
      job.abandoned = true;
      this.#inFlight.get(job)?.abort(new Error('notifier closed'));
      this.#countDropped(job.event, 1, 'closed before delivery');
    }
    for (const lane of this.#backingOff) if (lane.timer) clearTimeout(lane.timer);
    this.#backingOff.clear();
    this.#ready.clear();
    this.#lanes.clear();
    this.#pending.clear();
    this.#updateDepth();
    return jobs.length;
  }

  #waitDrained(timeout: number): Promise<boolean> {
    if (this.#pending.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeout);
      this.#drainWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  #checkDrained(): void {
    if (this.#pending.size !== 0 || this.#drainWaiters.length === 0) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #updateDepth(): void {
    this.#metrics?.queueDepth.set(this.#pending.size);
  }

  #label(event: string): string {
    return this.#labelEvents.has(event) ? event : 'other';
  }
}

/** Emits one line now and then; counts what it held back in between. */
class LogThrottle {
  #last = -Infinity;
  #suppressed = 0;
  constructor(private readonly now: () => number) {}

  /** The number of suppressed lines since the last one when a line may be logged now, else undefined. */
  take(): number | undefined {
    const now = this.now();
    if (now - this.#last < LOG_INTERVAL_MS) {
      this.#suppressed += 1;
      return undefined;
    }
    this.#last = now;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return suppressed;
  }
}

function webhookMetrics(registry: Registry): WebhookMetrics {
  // Reuse families already registered (a second notifier on the same registry, tests).
  const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
  const deliveries =
    existing<Counter<'event' | 'result'>>('camgate_webhook_deliveries_total') ??
    new Counter({
      name: 'camgate_webhook_deliveries_total',
      help: 'Webhook outcomes: delivered events, failed attempts to be retried, dropped events.',
      labelNames: ['event', 'result'] as const,
      registers: [registry],
    });
  const queueDepth =
    existing<Gauge>('camgate_webhook_queue_depth') ??
    new Gauge({
      name: 'camgate_webhook_queue_depth',
      help: 'Webhook events waiting for delivery, including those being sent.',
      registers: [registry],
    });
  const duration =
    existing<Histogram<'result'>>('camgate_webhook_delivery_duration_seconds') ??
    new Histogram({
      name: 'camgate_webhook_delivery_duration_seconds',
      help: 'Duration of one webhook POST attempt, by result.',
      labelNames: ['result'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  return { deliveries, queueDepth, duration };
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

/** Retry-After in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Scheme, host and port only: webhook URLs may carry tokens in the path or query. */
function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'invalid-url';
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return 'timeout';
    const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
    if (cause && typeof cause.code === 'string') return cause.code;
    if (cause && typeof cause.message === 'string') return `${error.message}: ${cause.message}`;
    return error.message;
  }
  return String(error);
}
