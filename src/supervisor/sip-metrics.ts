import { Counter, Gauge, type Registry } from 'prom-client';
import { CONTROL_COMMANDS } from '../shared/contracts/sip-counters.js';
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
  auth: {
    name: 'camgate_sip_auth_total',
    help: 'REGISTER digest outcomes other than success: challenge, stale, bad-password, unknown-device, throttled (403/503 with Retry-After from sip.limits), store-unavailable (503 with Retry-After: the credentials could not be read), other.',
    labels: ['result'],
  },
  tcp_refused: {
    name: 'camgate_sip_tcp_refused_total',
    help: 'SIP TCP connections refused or closed by a limit: connection-cap, address-cap, oversize (message above sip.limits.maxMessageSize), unregistered-idle, idle.',
    labels: ['reason'],
  },
  oversize: { name: 'camgate_sip_oversize_total', help: 'SIP datagrams dropped for exceeding sip.limits.maxMessageSize.', labels: ['transport'] },
  queries: {
    name: 'camgate_gb28181_queries_total',
    help: 'Catalog/DeviceInfo queries: sent, dropped-offline (device went away while queued), dropped-backlog (queue full).',
    labels: ['result'],
  },
  registrations: { name: 'camgate_sip_registrations_total', help: 'Successful REGISTERs (register) and un-REGISTERs (unregister).', labels: ['kind'] },
  keepalives: { name: 'camgate_gb28181_keepalives_total', help: 'MANSCDP MESSAGEs from devices by trust: ok, untrusted (other address), unregistered.', labels: ['result'] },
  offline: { name: 'camgate_devices_offline_total', help: 'Devices that went offline, by reason.', labels: ['reason'] },
  manscdp: { name: 'camgate_gb28181_manscdp_ignored_total', help: 'MANSCDP bodies that were malformed or of an unhandled CmdType.', labels: ['reason'] },
  transactions: { name: 'camgate_sip_transactions_total', help: 'Client transactions started and transactions that timed out.', labels: ['kind'] },
  retransmissions: { name: 'camgate_sip_retransmissions_total', help: 'Retransmissions sent by us and absorbed from peers.', labels: ['kind'] },
  commands: {
    name: 'camgate_gb28181_commands_total',
    help: 'GB28181 control commands (DeviceControl, DeviceConfig, queries, Broadcast, playback INFO) sent and answered, by command.',
    labels: ['command', 'result'],
  },
  command_failures: {
    name: 'camgate_gb28181_command_failures_total',
    help: 'GB28181 control commands that failed, by command and reason: not-registered, rejected, timeout, no-response, device-error, send-failed, busy, closed, invalid; broadcast also no-invite (the camera never INVITEd) and invite-refused.',
    labels: ['command', 'reason'],
  },
  broadcast_invites: {
    name: 'camgate_gb28181_broadcast_invites_total',
    help: 'Voice-broadcast INVITEs from cameras: answered (200 with our SDP), refused (unusable SDP, media not attached), unmatched (no broadcast waiting: 481, or not from the address the device registered from: 403).',
    labels: ['result'],
  },
  broadcast_invite_latency_ms: {
    name: 'camgate_gb28181_broadcast_invite_latency_seconds_total',
    help: 'Sum of the time from the Broadcast MESSAGE to the camera\'s INVITE, over answered INVITEs (divide by camgate_gb28181_broadcast_invites_total{result="answered"} for the mean).',
    labels: [],
    scale: 1e-3,
  },
  subscriptions: {
    name: 'camgate_gb28181_subscriptions_total',
    help: 'Catalog, alarm and mobile-position subscriptions by outcome: active, refreshed, rejected, failed, terminated.',
    labels: ['kind', 'outcome'],
  },
  gb_events: {
    name: 'camgate_gb28181_events_total',
    help: 'Device events by kind and way in (alarm, position, catalog by message or notify), and NOTIFYs or Responses that matched nothing (unmatched).',
    labels: ['event', 'via'],
  },
};

export function registerSipMetrics(registry: Registry, counters: SharedCounters): void {
  registerCounterFamilies(registry, counters.names, FAMILIES, () => (slot) => counters.get(slot));
  // The slots hold milliseconds; Prometheus wants seconds.
  new Counter({
    name: 'camgate_gb28181_command_latency_seconds_total',
    help: 'Sum of the time answered GB28181 control commands took, by command (divide by camgate_gb28181_commands_total{result="answered"} for the mean).',
    labelNames: ['command'],
    registers: [registry],
    collect() {
      this.reset();
      for (const command of CONTROL_COMMANDS) this.inc({ command }, counters.get(`command_latency_ms|${command}`) / 1000);
    },
  });
  new Gauge({
    name: 'camgate_gb28181_query_backlog',
    help: 'Catalog/DeviceInfo queries waiting in the paced queue (gb28181.queries).',
    registers: [registry],
    collect() {
      this.set(counters.get('query_backlog'));
    },
  });
}
