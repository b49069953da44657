import { Counter, type Registry } from 'prom-client';
import type { SharedCounters } from '../shared/counters.js';

/**
 * Exposes the SIP thread's shared counters as Prometheus counters. Slot names are
 * `<family>|<label>|<label>` (src/signalling/sip-metrics.ts); each family maps to
 * one metric with fixed label names. Values are read at scrape time.
 */
const FAMILIES: Record<string, { name: string; help: string; labels: string[] }> = {
  requests: { name: 'camgate_sip_requests_total', help: 'SIP requests by direction and method (retransmissions included).', labels: ['direction', 'method'] },
  responses: { name: 'camgate_sip_responses_total', help: 'SIP responses by direction and status class.', labels: ['direction', 'status_class'] },
  malformed: { name: 'camgate_sip_malformed_total', help: 'SIP messages that did not parse, by transport.', labels: ['transport'] },
  auth: { name: 'camgate_sip_auth_total', help: 'REGISTER digest outcomes other than success: challenge, stale, bad-password, unknown-device, other.', labels: ['result'] },
  registrations: { name: 'camgate_sip_registrations_total', help: 'Successful REGISTERs (register) and un-REGISTERs (unregister).', labels: ['kind'] },
  keepalives: { name: 'camgate_gb28181_keepalives_total', help: 'MANSCDP MESSAGEs from devices by trust: ok, untrusted (other address), unregistered.', labels: ['result'] },
  offline: { name: 'camgate_devices_offline_total', help: 'Devices that went offline, by reason.', labels: ['reason'] },
  manscdp: { name: 'camgate_gb28181_manscdp_ignored_total', help: 'MANSCDP bodies that were malformed or of an unhandled CmdType.', labels: ['reason'] },
  transactions: { name: 'camgate_sip_transactions_total', help: 'Client transactions started and transactions that timed out.', labels: ['kind'] },
  retransmissions: { name: 'camgate_sip_retransmissions_total', help: 'Retransmissions sent by us and absorbed from peers.', labels: ['kind'] },
};

export function registerSipMetrics(registry: Registry, counters: SharedCounters): void {
  const byFamily = new Map<string, Array<{ index: number; labels: string[] }>>();
  counters.names.forEach((slot, index) => {
    const [family, ...labels] = slot.split('|');
    if (!family || !FAMILIES[family]) return;
    if (!byFamily.has(family)) byFamily.set(family, []);
    byFamily.get(family)!.push({ index, labels });
  });
  for (const [family, slots] of byFamily) {
    const spec = FAMILIES[family]!;
    new Counter({
      name: spec.name,
      help: spec.help,
      labelNames: spec.labels,
      registers: [registry],
      collect() {
        this.reset();
        for (const { index, labels } of slots) {
          const value = counters.getAt(index);
          const labelSet = Object.fromEntries(spec.labels.map((name, i) => [name, labels[i] ?? '']));
          this.inc(labelSet, value);
        }
      },
    });
  }
}
