/**
 * Collects the PES payload pieces of one frame into a slab so each byte is copied once,
 * and hands the finished frame out as a view (no second copy). A frame that outgrows the
 * slab moves to a new, bigger one; frames already handed out keep the old slab alive.
 */
export class FrameAssembler {
  private slab: Uint8Array;
  private start = 0;
  private end = 0;

  constructor(private readonly slabBytes: number) {
    this.slab = Buffer.allocUnsafeSlow(slabBytes);
  }

  /** Bytes of the frame being assembled. */
  get length(): number {
    return this.end - this.start;
  }

  append(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (n <= 0) return;
    if (this.end + n > this.slab.length) this.moveToNewSlab(n);
    this.slab.set(src.subarray(from, to), this.end);
    this.end += n;
  }

  /** The finished frame as a view; the next frame starts after it. */
  take(): Uint8Array {
    const frame = this.slab.subarray(this.start, this.end);
    this.start = this.end;
    return frame;
  }

  discard(): void {
    this.end = this.start;
  }

  private moveToNewSlab(extra: number): void {
    const have = this.end - this.start;
    const size = Math.max(this.slabBytes, (have + extra) * 2);
    const next = Buffer.allocUnsafeSlow(size);
    next.set(this.slab.subarray(this.start, this.end), 0);
    this.slab = next;
    this.start = 0;
    this.end = have;
  }
}
