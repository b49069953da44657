import type { Registry } from 'prom-client';
import { registerCounterFamilies, type CounterFamily } from './counter-families.js';
import type { SharedCounters } from '../shared/counters.js';

/**
 * The SIP thread's shared counters (src/shared/contracts/sip-counters.ts) as Prometheus
 * counters.
 */
const FAMILIES: Record<string, CounterFamily> = {
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
  registerCounterFamilies(registry, counters.names, FAMILIES, () => (slot) => counters.get(slot));
}
