/**
 * JT/T 808 counters shared between the JT/T 808 thread (writer) and the supervisor
 * (reader) through a SharedArrayBuffer, so they stay monotonic across a thread restart.
 * Slot names encode the labels: `<family>|<label>|<label>`.
 */

/** Platform messages counted by ID when sent (hex, as in the standard); the rest are `other`. */
export const JT808_OUT_IDS = ['8001', '8003', '8100', '9003', '9101', '9102', '9201', '9202', '9205', 'other'] as const;
/** Terminal messages counted by kind when received (`other`: answers to commands and the rest). */
export const JT808_IN_KINDS = ['register', 'authenticate', 'heartbeat', 'location', 'logout', 'other'] as const;
/** Why a connection was refused or closed by a limit. */
export const JT808_REFUSALS = ['connection-cap', 'auth-timeout', 'write-backlog', 'bad-frames', 'auth-failures'] as const;
export const JT808_OFFLINE_REASONS = ['silence', 'logout', 'closed', 'replaced', 'bad-frames'] as const;
export const JT808_COMMAND_RESULTS = ['ok', 'refused', 'timeout', 'offline', 'error'] as const;

export const JT808_COUNTER_NAMES = [
  ...JT808_IN_KINDS.map((k) => `messages|in|${k}` as const),
  ...JT808_OUT_IDS.map((id) => `messages|out|${id}` as const),
  'bad_frames|all',
  ...JT808_REFUSALS.map((r) => `refused|${r}` as const),
  ...JT808_OFFLINE_REASONS.map((r) => `offline|${r}` as const),
  ...JT808_COMMAND_RESULTS.map((r) => `commands|${r}` as const),
  'registrations|ok',
  'registrations|refused',
  /** Gauges (set, not added). */
  'connections',
  'online',
] as const;

export type Jt808CounterName = (typeof JT808_COUNTER_NAMES)[number];

const OUT_SLOTS = new Map<string, Jt808CounterName>(JT808_OUT_IDS.map((id) => [id, `messages|out|${id}`]));

/**
 * The `messages|out|…` slot of an outgoing frame: the message ID is at bytes 1–2 after
 * the 0x7e flag (none of the counted IDs holds a byte that escaping would change).
 */
export function outSlotOf(frame: Uint8Array): Jt808CounterName {
  const id = frame.length > 3 ? ((frame[1]! << 8) | frame[2]!).toString(16).padStart(4, '0') : 'other';
  return OUT_SLOTS.get(id) ?? 'messages|out|other';
}
