/**
 * Stream names for JT1078 publishers, compatible with m7s-jt1078 (jt1078.md §3.3) so
 * players, callbacks and applications written against it keep working:
 * `<prefix>-<sim>-<channel>`, e.g. `live/jt1078-295696659617-1`.
 *
 * Why the SIM loses its leading zeros: go-jt808's BCD decoder trims them, and the same
 * trimmed digits are the terminal key of the JT808 side (`013800138000` → `13800138000`,
 * `000000010088` → `10088`). Packets keep the digits as sent (`Jt1078Packet.sim`).
 */

/** m7s-jt1078 realtime prefix (0x9101 streams). */
export const JT1078_REALTIME_PREFIX = 'live/jt1078';
/** m7s-jt1078 example playback prefix (0x9201 streams). */
export const JT1078_PLAYBACK_PREFIX = 'live/jt1079';

/**
 * Leading zeros removed. An all-zero SIM gives '0' (the reference does not say; an empty
 * name part would make `live/jt1078--1`).
 */
export function normalizeSim(sim: string): string {
  let i = 0;
  while (i < sim.length - 1 && sim.charCodeAt(i) === 48) i++;
  return sim.slice(i);
}

/** `<prefix>-<sim without leading zeros>-<channel in decimal>`. */
export function jt1078StreamName(sim: string, channel: number, prefix: string = JT1078_REALTIME_PREFIX): string {
  return `${prefix}-${normalizeSim(sim)}-${channel}`;
}

/**
 * The name m7s-jt1078 retries with when the realtime name is already published:
 * `<name>-<unix ms>`.
 */
export function jt1078RetryStreamName(name: string, nowMs: number): string {
  return `${name}-${Math.trunc(nowMs)}`;
}
