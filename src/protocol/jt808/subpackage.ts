/**
 * Sub-packaging of long JT/T 808 messages (jt1078.md §5.3): splitting outgoing bodies and
 * reassembling incoming ones, with the 0x8003 re-send cycle.
 *
 * Why keyed by (phone, message ID, first serial): each sub-package takes its own serial,
 * so serial − (index − 1) names the message; two lists sent back to back never mix, and
 * a re-sent packet (which keeps its original serial) lands in the right set.
 *
 * The reassembler is sans-I/O: the caller passes `now` and asks `nextWakeAt()` when to
 * call `poll(now)` again. Memory is bounded by `maxOpen` sets and `maxBytes` buffered.
 */
import { encodeMessage, JT808_SUBPACKAGE_BODY, type Jt808Header, type Jt808HeaderFields, type Jt808Message, type Jt808Version } from './header.js';
import { frameMessage } from './frame.js';

/**
 * Frames of one outgoing message: one frame, or sub-packages of at most `maxBody` bytes
 * when longer, each taking a serial from `nextSerial` (the first call's serial names the message).
 */
export function encodeFrames(
  fields: Omit<Jt808HeaderFields, 'serial' | 'packet'>,
  body: Uint8Array,
  nextSerial: () => number,
  maxBody = JT808_SUBPACKAGE_BODY,
): Buffer[] {
  if (body.length <= maxBody) return [frameMessage(encodeMessage({ ...fields, serial: nextSerial() }, body))];
  const total = Math.ceil(body.length / maxBody);
  if (total > 0xffff) throw new RangeError(`JT808 body of ${body.length} bytes needs more than 65535 sub-packages`);
  const frames: Buffer[] = [];
  for (let index = 1; index <= total; index++) {
    const part = body.subarray((index - 1) * maxBody, Math.min(body.length, index * maxBody));
    frames.push(frameMessage(encodeMessage({ ...fields, serial: nextSerial(), packet: { total, index } }, part)));
  }
  return frames;
}

/** Serial of the first sub-package of the message this one belongs to. */
export function firstSerialOf(header: Jt808Header): number {
  const index = header.packet?.index ?? 1;
  return (header.serial - (index - 1)) & 0xffff;
}

export interface ReassemblerOptions {
  /** Quiet time after the last packet before missing packets are requested. Default 3000 ms. */
  missingAfterMs?: number;
  /** Give up on a set this long after its first packet. Default 30000 ms. */
  deadlineMs?: number;
  /** Re-send requests per set before waiting only for the deadline. Default 3. */
  maxResendRequests?: number;
  /** Open sets at most; a new set beyond it evicts the oldest. Default 16. */
  maxOpen?: number;
  /** Buffered body bytes at most (all sets); beyond it the oldest sets are evicted. Default 1 MiB. */
  maxBytes?: number;
  /** Sub-packages per message at most (a header claiming more is refused). Default 4096. */
  maxPackets?: number;
}

/** Identifies one message being reassembled. */
export interface ReassemblyKey {
  phone: string;
  msgId: number;
  firstSerial: number;
  version: Jt808Version;
}

export interface ResendNeeded extends ReassemblyKey {
  /** 1-based indexes still missing, ascending. */
  missing: number[];
  /** How many requests were made for this set, this one included. */
  attempt: number;
}

export interface ReassemblyDropped extends ReassemblyKey {
  reason: 'deadline' | 'evicted';
  received: number;
  total: number;
}

export type ReassemblyPush =
  | { kind: 'complete'; message: Jt808Message }
  | { kind: 'pending'; received: number; total: number }
  | { kind: 'duplicate' }
  | { kind: 'refused'; reason: 'bad-index' | 'total-mismatch' | 'too-many-packets' | 'too-large' };

export interface ReassemblerCounters {
  completed: number;
  duplicates: number;
  refused: number;
  resendRequests: number;
  expired: number;
  evicted: number;
}

interface OpenSet {
  key: ReassemblyKey;
  /** Header of packet 1 once it arrived (else of the first arrival), for the completed message. */
  header: Jt808Header;
  total: number;
  parts: (Uint8Array | undefined)[];
  received: number;
  bytes: number;
  createdAt: number;
  lastPacketAt: number;
  /** When the next re-send request falls due (quiet time after the last packet or request). */
  nextRequestAt: number;
  requests: number;
}

export class Jt808Reassembler {
  readonly counters: ReassemblerCounters = { completed: 0, duplicates: 0, refused: 0, resendRequests: 0, expired: 0, evicted: 0 };
  private readonly sets = new Map<string, OpenSet>();
  private bytes = 0;
  private readonly missingAfterMs: number;
  private readonly deadlineMs: number;
  private readonly maxResendRequests: number;
  private readonly maxOpen: number;
  private readonly maxBytes: number;
  private readonly maxPackets: number;
  /** Sets dropped by eviction since the last poll (reported there). */
  private evictedSincePoll: ReassemblyDropped[] = [];

  constructor(options: ReassemblerOptions = {}) {
    this.missingAfterMs = options.missingAfterMs ?? 3000;
    this.deadlineMs = options.deadlineMs ?? 30_000;
    this.maxResendRequests = options.maxResendRequests ?? 3;
    this.maxOpen = options.maxOpen ?? 16;
    this.maxBytes = options.maxBytes ?? 1 << 20;
    this.maxPackets = options.maxPackets ?? 4096;
  }

  get open(): number {
    return this.sets.size;
  }

  get bufferedBytes(): number {
    return this.bytes;
  }

  /** Add one sub-package (a message with `header.packet`). */
  push(message: Jt808Message, now: number): ReassemblyPush {
    const { header, body } = message;
    const packet = header.packet;
    if (packet === undefined) return { kind: 'complete', message };
    if (packet.index < 1 || packet.index > packet.total) return this.refuse('bad-index');
    if (packet.total > this.maxPackets) return this.refuse('too-many-packets');
    if (body.length > this.maxBytes) return this.refuse('too-large');
    const key: ReassemblyKey = { phone: header.phone, msgId: header.msgId, firstSerial: firstSerialOf(header), version: header.version };
    const id = `${key.phone}/${key.msgId}/${key.firstSerial}`;
    let set = this.sets.get(id);
    if (set === undefined) {
      if (packet.total === 1) {
        this.counters.completed++;
        return { kind: 'complete', message: { header: withoutPacket(header), body } };
      }
      set = {
        key,
        header,
        total: packet.total,
        parts: new Array(packet.total),
        received: 0,
        bytes: 0,
        createdAt: now,
        lastPacketAt: now,
        nextRequestAt: now + this.missingAfterMs,
        requests: 0,
      };
      this.sets.set(id, set);
      while (this.sets.size > this.maxOpen) this.evictOldest();
    } else if (set.total !== packet.total) return this.refuse('total-mismatch');
    if (set.parts[packet.index - 1] !== undefined) {
      this.counters.duplicates++;
      return { kind: 'duplicate' };
    }
    // Own the bytes: the body may be a view into a buffer the caller reuses.
    set.parts[packet.index - 1] = Uint8Array.from(body);
    set.received++;
    set.bytes += body.length;
    this.bytes += body.length;
    if (packet.index === 1) set.header = header;
    set.lastPacketAt = now;
    set.nextRequestAt = now + this.missingAfterMs;
    if (set.received === set.total) {
      this.remove(id, set);
      this.counters.completed++;
      const joined = Buffer.concat(set.parts as Uint8Array[], set.bytes);
      return { kind: 'complete', message: { header: { ...withoutPacket(set.header), serial: set.key.firstSerial }, body: joined } };
    }
    while (this.bytes > this.maxBytes && this.sets.size > 0) this.evictOldest();
    if (!this.sets.has(id)) return { kind: 'pending', received: 0, total: packet.total };
    return { kind: 'pending', received: set.received, total: set.total };
  }

  /** Earliest time `poll` has something to do, or Infinity. */
  nextWakeAt(): number {
    let at = this.evictedSincePoll.length > 0 ? -Infinity : Infinity;
    for (const set of this.sets.values()) {
      const due = set.requests < this.maxResendRequests ? Math.min(set.nextRequestAt, set.createdAt + this.deadlineMs) : set.createdAt + this.deadlineMs;
      if (due < at) at = due;
    }
    return at;
  }

  /** Sets that need a 0x8003 now, and sets given up (deadline or eviction). */
  poll(now: number): { resend: ResendNeeded[]; dropped: ReassemblyDropped[] } {
    const resend: ResendNeeded[] = [];
    const dropped = this.evictedSincePoll;
    this.evictedSincePoll = [];
    for (const [id, set] of this.sets) {
      if (now >= set.createdAt + this.deadlineMs) {
        this.remove(id, set);
        this.counters.expired++;
        dropped.push({ ...set.key, reason: 'deadline', received: set.received, total: set.total });
        continue;
      }
      if (set.requests < this.maxResendRequests && now >= set.nextRequestAt) {
        set.requests++;
        set.nextRequestAt = now + this.missingAfterMs;
        this.counters.resendRequests++;
        const missing: number[] = [];
        for (let i = 0; i < set.total; i++) if (set.parts[i] === undefined) missing.push(i + 1);
        resend.push({ ...set.key, missing, attempt: set.requests });
      }
    }
    return { resend, dropped };
  }

  /** Forget everything (connection closed). */
  clear(): void {
    this.sets.clear();
    this.bytes = 0;
    this.evictedSincePoll = [];
  }

  private refuse(reason: 'bad-index' | 'total-mismatch' | 'too-many-packets' | 'too-large'): ReassemblyPush {
    this.counters.refused++;
    return { kind: 'refused', reason };
  }

  private remove(id: string, set: OpenSet): void {
    this.sets.delete(id);
    this.bytes -= set.bytes;
  }

  private evictOldest(): void {
    const [id, set] = this.sets.entries().next().value as [string, OpenSet];
    this.remove(id, set);
    this.counters.evicted++;
    this.evictedSincePoll.push({ ...set.key, reason: 'evicted', received: set.received, total: set.total });
  }
}

function withoutPacket(header: Jt808Header): Jt808Header {
  const { packet: _packet, ...rest } = header;
  return rest;
}
