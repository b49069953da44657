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
];

export function methodLabel(method: string): (typeof SIP_METHODS)[number] {
  return (SIP_METHODS as readonly string[]).includes(method) ? (method as (typeof SIP_METHODS)[number]) : 'other';
}

export function statusClass(status: number): string {
  const c = Math.floor(status / 100);
  return c >= 1 && c <= 6 ? `${c}xx` : '6xx';
}
