/**
 * Hashed timing wheel: one periodic tick serves every stream of a simulation.
 *
 * Why: a timer per packet (or per stream) means tens of thousands of libuv timers per
 * second at 500+ streams; a wheel costs one interval timer, O(1) insert/remove, and per
 * tick only the streams whose slot comes up. Entries never fire early: an entry due at
 * `dueMs` fires on the first tick at or after it (so at most one tick late plus timer
 * latency, the same for every packet, which keeps the pacing).
 */

/** State the wheel keeps on each entry (so removal needs no search or allocation). */
export interface WheelEntry {
  /** Slot the entry sits in, or -1 when not scheduled. */
  wheelSlot: number;
  /** Position inside that slot's array. */
  wheelIndex: number;
  /** Absolute tick number at which it is due. */
  wheelTick: number;
}

export class TimerWheel<T extends WheelEntry> {
  private readonly slots: T[][];
  private readonly mask: number;
  /** Last tick whose slot was processed. */
  private currentTick: number;
  private scheduledCount = 0;

  /**
   * @param tickMs   resolution
   * @param slotBits 2^slotBits slots; entries further ahead than one turn just wait in their
   *                 slot for a later turn.
   * @param originMs time of tick 0 (a monotonic clock such as performance.now()).
   */
  constructor(
    readonly tickMs: number,
    readonly originMs: number,
    slotBits = 9,
  ) {
    if (!(tickMs > 0)) throw new RangeError('tickMs must be positive');
    const count = 1 << slotBits;
    this.mask = count - 1;
    this.slots = Array.from({ length: count }, () => []);
    this.currentTick = 0;
  }

  get size(): number {
    return this.scheduledCount;
  }

  /** Schedule (or move) `entry` to fire at `dueMs`; never on a tick already processed. */
  schedule(entry: T, dueMs: number): void {
    if (entry.wheelSlot >= 0) this.remove(entry);
    const tick = Math.max(this.currentTick + 1, Math.ceil((dueMs - this.originMs) / this.tickMs));
    const slot = tick & this.mask;
    const list = this.slots[slot]!;
    entry.wheelSlot = slot;
    entry.wheelIndex = list.length;
    entry.wheelTick = tick;
    list.push(entry);
    this.scheduledCount++;
  }

  remove(entry: T): void {
    if (entry.wheelSlot < 0) return;
    const list = this.slots[entry.wheelSlot]!;
    const last = list.pop()!;
    if (last !== entry) {
      list[entry.wheelIndex] = last;
      last.wheelIndex = entry.wheelIndex;
    }
    entry.wheelSlot = -1;
    this.scheduledCount--;
  }

  /**
   * Process every tick up to `nowMs`, calling `fire` for each due entry (removed first, so
   * `fire` may schedule it again). After a long event-loop stall each slot is visited once.
   */
  advance(nowMs: number, fire: (entry: T) => void): void {
    const nowTick = Math.floor((nowMs - this.originMs) / this.tickMs);
    if (nowTick <= this.currentTick) return;
    let tick = Math.max(this.currentTick + 1, nowTick - this.mask);
    for (; tick <= nowTick; tick++) {
      this.currentTick = tick;
      const list = this.slots[tick & this.mask]!;
      let i = 0;
      while (i < list.length) {
        const entry = list[i]!;
        if (entry.wheelTick <= nowTick) {
          this.remove(entry); // swaps the last entry into i: do not advance i
          fire(entry);
        } else {
          i++;
        }
      }
    }
    this.currentTick = nowTick;
  }
}
