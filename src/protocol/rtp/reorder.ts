/**
 * Small RTP reorder window for UDP ingest: packets come out in sequence-number order (16-bit
 * wrap handled); a gap is waited for until the window is full, then counted as lost and
 * reported so the PS demuxer can drop the damaged frame. Duplicates and late packets are
 * dropped and counted. Optionally only one SSRC is accepted (GB28181 puts the SSRC in the SDP;
 * ZLMediaKit drops the others too).
 */
import type { RtpPacket } from './packet.js';

/** What the window needs from a packet; `RtpPacket` from `parseRtpPacket` fits. */
export type SequencedPacket = Pick<RtpPacket, 'sequenceNumber' | 'ssrc'>;

export interface RtpReorderSink<P extends SequencedPacket = RtpPacket> {
  onPacket(packet: P): void;
  /** `count` packets were given up as lost; called before the packet after the gap. */
  onLoss?(count: number): void;
}

export interface RtpReorderOptions {
  /** Packets held while waiting for a gap to fill; rounded up to a power of two. Default 32. */
  window?: number;
  /** Accept only this SSRC, or the SSRC of the first packet ('first'). Default: any. */
  ssrc?: number | 'first';
  /** A jump of at least this many sequence numbers is a sender restart, not loss. Default 3000. */
  restartGap?: number;
}

export interface RtpReorderStats {
  received: number;
  released: number;
  lost: number;
  duplicates: number;
  /** Arrived after their slot had been given up as lost. */
  late: number;
  /** Arrived ahead of a missing packet and were held. */
  outOfOrder: number;
  ssrcMismatch: number;
  restarts: number;
}

const HISTORY = 1024;

export class RtpReorderBuffer<P extends SequencedPacket = RtpPacket> {
  readonly stats: RtpReorderStats = {
    received: 0,
    released: 0,
    lost: 0,
    duplicates: 0,
    late: 0,
    outOfOrder: 0,
    ssrcMismatch: 0,
    restarts: 0,
  };

  private readonly size: number;
  private readonly mask: number;
  private readonly slots: (P | undefined)[];
  /** Sequence numbers recently released, to tell duplicates from late packets. */
  private readonly history = new Int32Array(HISTORY).fill(-1);
  private readonly restartGap: number;
  private ssrc: number | undefined;
  private readonly lockFirstSsrc: boolean;
  private nextSeq = -1;
  private held = 0;
  private pendingLoss = 0;

  constructor(
    private readonly sink: RtpReorderSink<P>,
    options: RtpReorderOptions = {},
  ) {
    let size = 1;
    while (size < Math.max(1, Math.min(HISTORY / 2, options.window ?? 32))) size <<= 1;
    this.size = size;
    this.mask = size - 1;
    this.slots = new Array<P | undefined>(size).fill(undefined);
    this.restartGap = Math.max(size, options.restartGap ?? 3000);
    this.lockFirstSsrc = options.ssrc === 'first';
    this.ssrc = typeof options.ssrc === 'number' ? options.ssrc >>> 0 : undefined;
  }

  /** Packets held waiting for a gap. */
  get buffered(): number {
    return this.held;
  }

  /** Sequence number the window releases next (undefined before the first packet). */
  get expectedSequence(): number | undefined {
    return this.nextSeq < 0 ? undefined : this.nextSeq;
  }

  push(packet: P): void {
    this.stats.received++;
    if (this.ssrc !== undefined) {
      if (packet.ssrc >>> 0 !== this.ssrc) {
        this.stats.ssrcMismatch++;
        return;
      }
    } else if (this.lockFirstSsrc) {
      this.ssrc = packet.ssrc >>> 0;
    }
    const seq = packet.sequenceNumber & 0xffff;
    if (this.nextSeq < 0) this.nextSeq = seq;
    let d = (seq - this.nextSeq) & 0xffff;
    if (d >= 0x8000) d -= 0x10000;
    if (d <= -this.restartGap || d >= this.restartGap) {
      this.stats.restarts++;
      this.flush();
      this.nextSeq = seq;
      d = 0;
    } else if (d < 0) {
      if (this.history[seq & (HISTORY - 1)] === seq) this.stats.duplicates++;
      else this.stats.late++;
      return;
    }
    // Too far ahead: give up the oldest slots until this packet fits the window.
    if (d >= this.size && this.held === 0) {
      // Nothing held: jump straight to the oldest sequence number the window can keep.
      const skip = d - this.size + 1;
      this.stats.lost += skip;
      this.pendingLoss += skip;
      this.nextSeq = (this.nextSeq + skip) & 0xffff;
      d -= skip;
    }
    while (d >= this.size) {
      this.step();
      d--;
    }
    const slot = seq & this.mask;
    if (this.slots[slot] !== undefined) {
      this.stats.duplicates++;
      return;
    }
    this.slots[slot] = packet;
    this.held++;
    if (d > 0) this.stats.outOfOrder++;
    this.drain();
  }

  /**
   * Stop waiting for the first missing packet: count it (and the rest of that gap) lost and
   * release what follows in order. For a jitter deadline on a timer, where waiting for the
   * window to fill would take too long at low packet rates.
   */
  skipGap(): void {
    if (this.held === 0) return;
    while (this.slots[this.nextSeq & this.mask] === undefined) this.step();
    this.drain();
  }

  /** Release everything held, in order, counting the gaps as lost (e.g. at the end). */
  flush(): void {
    while (this.held > 0) this.step();
    this.reportLoss();
  }

  /** Release the packets that are now in order. */
  private drain(): void {
    let packet = this.slots[this.nextSeq & this.mask];
    while (packet !== undefined) {
      this.release(packet);
      packet = this.slots[this.nextSeq & this.mask];
    }
  }

  /** Move past `nextSeq`: release it if present, else count it lost. */
  private step(): void {
    const packet = this.slots[this.nextSeq & this.mask];
    if (packet !== undefined) {
      this.release(packet);
    } else {
      this.stats.lost++;
      this.pendingLoss++;
      this.nextSeq = (this.nextSeq + 1) & 0xffff;
    }
  }

  private release(packet: P): void {
    this.reportLoss();
    this.slots[this.nextSeq & this.mask] = undefined;
    this.held--;
    this.history[this.nextSeq & (HISTORY - 1)] = this.nextSeq;
    this.nextSeq = (this.nextSeq + 1) & 0xffff;
    this.stats.released++;
    this.sink.onPacket(packet);
  }

  private reportLoss(): void {
    if (this.pendingLoss === 0) return;
    const count = this.pendingLoss;
    this.pendingLoss = 0;
    this.sink.onLoss?.(count);
  }
}
