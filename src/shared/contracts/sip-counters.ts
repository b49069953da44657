/**
 * SIP counters shared between the SIP thread (writer) and the supervisor (reader)
 * through a SharedArrayBuffer, so they stay monotonic across a SIP thread restart.
 * Slot names encode the labels: `<family>|<label>|<label>`.
 */
export const SIP_METHODS = ['REGISTER', 'MESSAGE', 'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'NOTIFY', 'INFO', 'SUBSCRIBE', 'other'] as const;
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', '6xx'] as const;
export const DIRECTIONS = ['in', 'out'] as const;
export const TRANSPORTS = ['udp', 'tcp'] as const;
/** Why the transport refused or closed a TCP connection. */
export const TCP_REFUSALS = ['connection-cap', 'address-cap', 'oversize', 'unregistered-idle', 'idle'] as const;
export type TcpRefusal = (typeof TCP_REFUSALS)[number];

/** GB28181 control commands, as metric labels (one per API action family). */
export const CONTROL_COMMANDS = [
  'ptz',
  'focus-iris',
  'preset',
  'guard',
  'alarm-reset',
  'record',
  'iframe',
  'teleboot',
  'drag-zoom',
  'home-position',
  'device-config',
  'preset-query',
  'device-status',
  'config-download',
  'broadcast',
  'playback',
] as const;
export type ControlCommandLabel = (typeof CONTROL_COMMANDS)[number];

/**
 * Why a command failed: not-registered (device offline), rejected (a SIP error answer),
 * timeout (no SIP answer), no-response (200 but no Response MESSAGE in time), device-error
 * (Response Result ERROR), send-failed, busy (too many waiting), closed, invalid (bad input);
 * broadcast only: no-invite (the camera accepted but never INVITEd), invite-refused (its INVITE
 * could not be answered: unusable SDP, media not attached).
 */
export const CONTROL_FAILURES = ['not-registered', 'rejected', 'timeout', 'no-response', 'device-error', 'send-failed', 'busy', 'closed', 'invalid', 'no-invite', 'invite-refused'] as const;
export type ControlFailure = (typeof CONTROL_FAILURES)[number];

export const SUBSCRIPTION_LABELS = ['catalog', 'alarm', 'mobile-position'] as const;
export const SUBSCRIPTION_OUTCOMES = ['active', 'refreshed', 'rejected', 'failed', 'terminated'] as const;

/** The metric label of a DeviceControl command. */
export function controlCommandLabel(command: { type: string; command?: { kind: string } }): ControlCommandLabel {
  switch (command.type) {
    case 'ptz':
      return command.command?.kind === 'fi' ? 'focus-iris' : command.command?.kind === 'preset' ? 'preset' : 'ptz';
    case 'guard':
      return 'guard';
    case 'alarmReset':
      return 'alarm-reset';
    case 'record':
      return 'record';
    case 'iframe':
      return 'iframe';
    case 'teleboot':
      return 'teleboot';
    case 'dragZoom':
      return 'drag-zoom';
    default:
      return 'home-position';
  }
}

export const SIP_COUNTER_NAMES: string[] = [
  ...DIRECTIONS.flatMap((d) => SIP_METHODS.map((m) => `requests|${d}|${m}`)),
  ...DIRECTIONS.flatMap((d) => STATUS_CLASSES.map((s) => `responses|${d}|${s}`)),
  ...TRANSPORTS.map((t) => `malformed|${t}`),
  'auth|challenge',
  'auth|bad-password',
  'auth|stale',
  'auth|unknown-device',
  'auth|other',
  'auth|throttled',
  // REGISTER answered 503 + Retry-After: the credentials lookup failed (store down or slow).
  'auth|store-unavailable',
  ...TCP_REFUSALS.map((r) => `tcp_refused|${r}`),
  'oversize|udp',
  'queries|sent',
  'queries|dropped-offline',
  'queries|dropped-backlog',
  // A gauge, not a counter family: Catalog/DeviceInfo queries waiting in the queue.
  'query_backlog',
  'registrations|register',
  'registrations|unregister',
  'keepalives|ok',
  'keepalives|untrusted',
  'keepalives|unregistered',
  'offline|expired',
  'offline|keepalive-timeout',
  'offline|unregistered',
  'manscdp|malformed',
  'manscdp|other',
  'transactions|client',
  'transactions|server',
  'transactions|timeout',
  'retransmissions|sent',
  'retransmissions|absorbed',
  // GB28181 control (control-service.ts): commands|<command>|sent|answered,
  // command_failures|<command>|<reason>, command_latency_ms|<command> (sum over answered).
  ...CONTROL_COMMANDS.flatMap((c) => [`commands|${c}|sent`, `commands|${c}|answered`]),
  ...CONTROL_COMMANDS.flatMap((c) => CONTROL_FAILURES.map((f) => `command_failures|${c}|${f}`)),
  ...CONTROL_COMMANDS.map((c) => `command_latency_ms|${c}`),
  ...SUBSCRIPTION_LABELS.flatMap((k) => SUBSCRIPTION_OUTCOMES.map((o) => `subscriptions|${k}|${o}`)),
  // Device events by way in: gb_events|alarm|message|notify, position, catalog changes, and
  // NOTIFYs / Responses that matched nothing.
  'gb_events|alarm|message',
  'gb_events|alarm|notify',
  'gb_events|position|message',
  'gb_events|position|notify',
  'gb_events|catalog|notify',
  'gb_events|unmatched|notify',
  'gb_events|unmatched|response',
  // Voice broadcast INVITEs from cameras: answered (200), refused (bad SDP, media failed), unmatched (no broadcast pending: 481; or from another address than the device's registration: 403).
  'broadcast_invites|answered',
  'broadcast_invites|refused',
  'broadcast_invites|unmatched',
  // Sum of ms from the Broadcast MESSAGE to the camera's INVITE, over answered INVITEs.
  'broadcast_invite_latency_ms',
];

export function methodLabel(method: string): (typeof SIP_METHODS)[number] {
  return (SIP_METHODS as readonly string[]).includes(method) ? (method as (typeof SIP_METHODS)[number]) : 'other';
}

export function statusClass(status: number): string {
  const c = Math.floor(status / 100);
  return c >= 1 && c <= 6 ? `${c}xx` : '6xx';
}
