import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { EluMeter } from '../shared/child-runtime.js';

/**
 * The supervisor's Prometheus registry. Process and runtime metrics come from
 * prom-client; the `camgate_` families are ours. Labels are bounded sets only
 * (method, route template, child slot); never device IDs, SIMs or SSRCs.
 */

export interface ThreadLoad {
  /** Bounded thread name: supervisor, sip, media, media-worker-<slot>. */
  thread: string;
  elu: number;
}

export interface MetricsSources {
  /** Device counts by presence, read at scrape time. */
  deviceCounts(): Promise<{ online: number; offline: number }>;
  channelCount(): Promise<number>;
  /** Up/down per child and the event-loop utilisation of every thread, once per scrape. */
  threads(): Promise<{ children: Array<{ child: string; up: boolean }>; loads: ThreadLoad[] }>;
}

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status_class'>;
  childRestarts: Counter<'child'>;
  /** INVITEs for live and playback streams by outcome. */
  invites: Counter<'result'>;
  inviteToFirstFrame: Histogram;
  stopMeters(): void;
}

/** Outcomes of an INVITE, each present at 0 from the start. */
export const INVITE_RESULTS = ['ok', '4xx', '5xx', '6xx', 'timeout', 'error'] as const;

export function createMetrics(sources: MetricsSources, version: string): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client names three gauges `…_total`, which Prometheus reserves for counters
  // (promtool rejects them). The per-type gauges without the suffix carry the same data.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }

  const supervisorElu = new EluMeter(5000);

  const httpDuration = new Histogram({
    name: 'camgate_http_request_duration_seconds',
    help: 'REST API request duration by route template.',
    labelNames: ['method', 'route', 'status_class'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

  const childRestarts = new Counter({
    name: 'camgate_child_restarts_total',
    help: 'Restarts of supervised threads and processes after they died.',
    labelNames: ['child'] as const,
    registers: [registry],
  });

  new Gauge({
    name: 'camgate_build_info',
    help: 'Build information; always 1.',
    labelNames: ['version', 'node'] as const,
    registers: [registry],
  }).set({ version, node: process.version }, 1);

  new Gauge({
    name: 'camgate_devices',
    help: 'Provisioned devices by presence (absent while the store is unavailable).',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      // A store outage must not fail the whole scrape: the series goes absent instead
      // of repeating a stale count.
      const counts = await sources.deviceCounts().catch(() => null);
      if (!counts) return this.reset();
      this.set({ state: 'online' }, counts.online);
      this.set({ state: 'offline' }, counts.offline);
    },
  });

  new Gauge({
    name: 'camgate_channels',
    help: 'Provisioned channels (absent while the store is unavailable).',
    registers: [registry],
    async collect() {
      const count = await sources.channelCount().catch(() => null);
      if (count === null) return this.reset();
      this.set(count);
    },
  });

  // One ping round per scrape feeds both gauges below.
  let threadsOnce: ReturnType<MetricsSources['threads']> | null = null;
  const threads = () => {
    threadsOnce ??= sources.threads().finally(() => setTimeout(() => (threadsOnce = null), 200).unref());
    return threadsOnce;
  };

  new Gauge({
    name: 'camgate_child_up',
    help: 'Whether a supervised child answers its health check (1) or not (0).',
    labelNames: ['child'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const { child, up } of (await threads()).children) this.set({ child }, up ? 1 : 0);
    },
  });

  new Gauge({
    name: 'camgate_event_loop_utilization_ratio',
    help: 'Event-loop utilisation per thread over the last 5 s (0..1).',
    labelNames: ['thread'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      this.set({ thread: 'supervisor' }, supervisorElu.value);
      for (const { thread, elu } of (await threads()).loads) this.set({ thread }, elu);
    },
  });

  const invites = new Counter({
    name: 'camgate_gb28181_invites_total',
    help: 'INVITEs for live and playback streams by outcome: ok, 4xx/5xx/6xx, timeout, error.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  for (const result of INVITE_RESULTS) invites.inc({ result }, 0);

  const inviteToFirstFrame = new Histogram({
    name: 'camgate_invite_to_first_frame_seconds',
    help: 'Time from sending an INVITE to the first complete frame of its media.',
    buckets: [0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32],
    registers: [registry],
  });

  return { registry, httpDuration, childRestarts, invites, inviteToFirstFrame, stopMeters: () => supervisorElu.stop() };
}
