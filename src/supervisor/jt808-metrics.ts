import { Gauge, Histogram, type Registry } from 'prom-client';
import { registerCounterFamilies, type CounterFamily } from './counter-families.js';
import type { SharedCounters } from '../shared/counters.js';

/** The JT/T 808 thread's shared counters (src/shared/contracts/jt808-counters.ts) as Prometheus metrics. */
const FAMILIES: Record<string, CounterFamily> = {
  messages: {
    name: 'camgate_jt808_messages_total',
    help: 'JT/T 808 messages: in by kind (register, authenticate, heartbeat, location, logout, other = answers and the rest), out by message ID (hex).',
    labels: ['direction', 'msg'],
  },
  bad_frames: { name: 'camgate_jt808_bad_frames_total', help: 'JT/T 808 frames that failed framing, escaping or the checksum.', labels: ['kind'] },
  refused: {
    name: 'camgate_jt808_refused_total',
    help: 'JT/T 808 connections refused or closed by a limit: connection-cap (jt808.maxConnections), auth-timeout, write-backlog, bad-frames, auth-failures.',
    labels: ['reason'],
  },
  offline: { name: 'camgate_vehicles_offline_total', help: 'Vehicles that went offline, by reason.', labels: ['reason'] },
  commands: { name: 'camgate_jt808_commands_total', help: 'Commands sent to terminals by outcome: ok, refused (0x0001 non-zero), timeout, offline, error.', labels: ['result'] },
  registrations: { name: 'camgate_jt808_registrations_total', help: '0x0100 registrations accepted (ok) and refused.', labels: ['result'] },
};

export function registerJt808Metrics(registry: Registry, counters: SharedCounters): void {
  registerCounterFamilies(registry, counters.names, FAMILIES, () => (slot) => counters.get(slot));
  new Gauge({
    name: 'camgate_jt808_connections',
    help: 'Open JT/T 808 TCP connections.',
    registers: [registry],
    collect() {
      this.set(counters.get('connections'));
    },
  });
  new Gauge({
    name: 'camgate_vehicles_online',
    help: 'Authenticated JT/T 808 terminals.',
    registers: [registry],
    collect() {
      this.set(counters.get('online'));
    },
  });
}

/** Command latency as the API sees it: from the request to the terminal's answer (VehicleControl). */
export function jt808CommandHistogram(registry: Registry): Histogram<'command' | 'result'> {
  return new Histogram({
    name: 'camgate_jt808_command_seconds',
    help: 'Time from sending a command to a terminal (0x9101 stream, 0x9102 streamControl, 0x9201 playback, 0x9202 playbackControl, 0x9205 records, 0x9003 avAttributes, raw) to its answer, by command and result: ok, refused, timeout, error.',
    labelNames: ['command', 'result'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 65],
    registers: [registry],
  });
}
