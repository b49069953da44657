import { Gauge, type Registry } from 'prom-client';
import type { MediaPing } from '../shared/contracts/media.js';
import { registerCounterFamilies, type CounterFamily } from './counter-families.js';

/** Media counters (shared memory) and media process gauges as Prometheus metrics. */
const FAMILIES: Record<string, CounterFamily> = {
  connections: { name: 'camgate_media_connections_total', help: 'Ingest connections accepted, by protocol.', labels: ['protocol'] },
  closed: {
    name: 'camgate_media_connections_closed_total',
    help: 'Ingest connections closed by a limit: no-packet (no complete JT/T 1078 packet for jt1078.packetTimeout).',
    labels: ['reason'],
  },
  bytes_in: { name: 'camgate_media_received_bytes_total', help: 'Ingest bytes received, by protocol.', labels: ['protocol'] },
  packets_in: { name: 'camgate_media_received_packets_total', help: 'Ingest packets parsed, by protocol.', labels: ['protocol'] },
  resync_bytes: { name: 'camgate_media_resync_bytes_total', help: 'Bytes skipped to find the next packet (garbage), by protocol.', labels: ['protocol'] },
  malformed: { name: 'camgate_media_malformed_packets_total', help: 'Malformed ingest packets, by protocol.', labels: ['protocol'] },
  frames_in: { name: 'camgate_media_frames_total', help: 'Complete AV frames from ingest, by kind. A GB28181 input that is only relayed (no viewer, no remuxed output, no download) is not demuxed, and its frames are not counted.', labels: ['kind'] },
  drops: { name: 'camgate_media_dropped_frames_total', help: 'Frames dropped, by reason: during reassembly, or dropped_to_keyframe (an RTP destination fell behind).', labels: ['reason'] },
  packets_out: { name: 'camgate_media_sent_packets_total', help: 'Packets sent, by protocol.', labels: ['protocol'] },
  bytes_out: { name: 'camgate_media_sent_bytes_total', help: 'Bytes sent, by protocol.', labels: ['protocol'] },
  socket_errors: { name: 'camgate_media_socket_errors_total', help: 'Socket errors of ingest connections and RTP inputs (reset, refused…), by protocol; the socket is closed.', labels: ['protocol'] },
  send_errors: { name: 'camgate_media_send_errors_total', help: 'Frames or packets that could not be sent, by protocol.', labels: ['protocol'] },
  ring_full: { name: 'camgate_media_ring_full_total', help: 'Times an ingest connection was paused because its worker ring was full.', labels: ['ring'] },
  streams_started: { name: 'camgate_media_streams_started_total', help: 'Streams started, by protocol.', labels: ['protocol'] },
  streams_stopped: { name: 'camgate_media_streams_stopped_total', help: 'Streams stopped, by protocol.', labels: ['protocol'] },
  intercom_packets: { name: 'camgate_intercom_packets_total', help: 'Intercom audio packets delivered, by direction: down (browser → terminal, one per terminal), up (terminal → browser).', labels: ['direction'] },
  intercom_drops: {
    name: 'camgate_intercom_dropped_packets_total',
    help: 'Intercom audio packets not delivered, by reason: no-terminal (nobody on the audio port), slow-terminal (its socket is backed up), codec (a terminal codec not transcoded), not-connected (browser not connected yet), srtp (a browser packet that failed SRTP authentication or is not RTP).',
    labels: ['reason'],
  },
  intercom_transcode_errors: { name: 'camgate_intercom_transcode_errors_total', help: 'Intercom audio packets that failed to transcode, by direction.', labels: ['direction'] },
  intercom_latency_us: {
    name: 'camgate_intercom_processing_seconds_total',
    help: 'Intercom: time from a packet\'s arrival to its write the other way (decrypt, transcode, packetise), summed; divided by camgate_intercom_packets_total it is the mean added latency, by direction.',
    labels: ['direction'],
    scale: 1e-6,
  },
  intercom_sessions: { name: 'camgate_intercom_sessions_total', help: 'Intercom sessions started and ended.', labels: ['event'] },
};

/** What the media process's ping reports (src/shared/contracts/media.ts), as far as it answered. */
export type MediaSnapshot = Partial<MediaPing>;

/**
 * Counter totals that survive media process restarts: a new process starts from
 * zero, so what the previous one had reported is kept as a base. Increments made
 * after a dead process's last report are lost; the totals never go backwards.
 */
export class CounterTotals {
  #base: Record<string, number> = {};
  #last: Record<string, number> = {};
  #pid: number | undefined;

  update(pid: number | undefined, values: Record<string, number>): void {
    if (pid !== this.#pid && this.#pid !== undefined) {
      for (const [k, v] of Object.entries(this.#last)) this.#base[k] = (this.#base[k] ?? 0) + v;
      this.#last = {};
    }
    this.#pid = pid;
    for (const [k, v] of Object.entries(values)) if (v >= (this.#last[k] ?? 0)) this.#last[k] = v;
  }

  get(name: string): number {
    return (this.#base[name] ?? 0) + (this.#last[name] ?? 0);
  }
}

export function registerMediaMetrics(
  registry: Registry,
  names: readonly string[],
  totals: CounterTotals,
  snapshot: () => Promise<MediaSnapshot | null>,
): void {
  registerCounterFamilies(registry, names, FAMILIES, async () => {
    await snapshot(); // refreshes the totals
    return (slot) => totals.get(slot);
  });
  new Gauge({
    name: 'camgate_streams_active',
    help: 'Media streams live in camgate\'s media plane, by protocol.',
    labelNames: ['protocol'] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.set({ protocol: 'jt1078' }, s?.streamsByProtocol?.jt1078 ?? 0);
      this.set({ protocol: 'gb28181' }, s?.streamsByProtocol?.gb28181 ?? 0);
    },
  });
  new Gauge({
    name: 'camgate_viewers',
    help: 'HTTP-FLV and WS-FLV viewers connected to the built-in media server.',
    registers: [registry],
    async collect() {
      this.set((await snapshot())?.viewers ?? 0);
    },
  });
  new Gauge({
    name: 'camgate_intercom_sessions_active',
    help: 'Intercom sessions open in the media process.',
    registers: [registry],
    async collect() {
      this.set((await snapshot())?.intercom?.sessions ?? 0);
    },
  });
  new Gauge({
    name: 'camgate_intercom_ports',
    help: 'Audio ports of jt1078.intercom.audioPorts, by state: in_use (taken by an intercom), total.',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const intercom = (await snapshot())?.intercom;
      this.set({ state: 'in_use' }, intercom?.portsInUse ?? 0);
      this.set({ state: 'total' }, intercom?.portsTotal ?? 0);
    },
  });
  new Gauge({
    name: 'camgate_media_ring_occupancy_ratio',
    help: 'Fill level of each media worker ring (0..1).',
    labelNames: ['worker'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of (await snapshot())?.rings ?? []) this.set({ worker: String(r.slot) }, r.capacity ? r.usedBytes / r.capacity : 0);
    },
  });
}
