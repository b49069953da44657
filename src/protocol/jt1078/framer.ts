/**
 * Cuts a JT1078 TCP byte stream (back-to-back packets, no length prefix) into packets.
 *
 * Why a framer of its own rather than "append and parse": devices send bursts of 30 KB+,
 * reads split packets anywhere, some devices emit garbage, and m7s-jt1078 closes the
 * connection on the first bad byte. Here:
 *  - packets lying wholly inside a pushed chunk are parsed in place (body = view into the
 *    chunk, no copy); only a packet straddling two chunks is copied, once, into a fresh
 *    carry buffer, so every body view handed out stays valid (memory handed out is never
 *    rewritten; callers must not rewrite pushed chunks either — Node socket chunks are
 *    fresh buffers);
 *  - after garbage the stream resynchronises on the `30 31 63 64` magic (Buffer.indexOf,
 *    no per-byte loop), counting the skipped bytes;
 *  - the header form (2016 / 2019) is detected once per connection from the first packet
 *    (a candidate is confirmed when the next packet's magic follows it) and re-checked
 *    whenever a packet fails to parse with the current form;
 *  - a packet that is not followed by a magic but hides a valid packet inside its claimed
 *    length (a corrupt length field) is dropped and the inner packet used instead; a packet
 *    ending exactly at the end of the data is returned at once (no added latency) unless
 *    it hides a magic, in which case the 4 bytes after it are awaited first;
 *  - the carry never exceeds one maximal packet plus 4 bytes of look-ahead.
 *
 * Pull API: `push(chunk)`, then call `next()` until it returns null, then push again.
 */
import {
  isMagicAt,
  JT1078_MAGIC,
  JT1078_MAX_BODY_LENGTH,
  JT1078_MAX_HEADER_LENGTH,
  parseJt1078Packet,
  type HeaderVariant,
  type Jt1078Packet,
  type Jt1078ParseResult,
} from './packet.js';

export interface Jt1078FramerOptions {
  /** Header form; 'auto' (default) detects it from the first packet. */
  variant?: HeaderVariant | 'auto';
  /** Packets with a longer body are malformed. Default 65535 (the field width). */
  maxBodyLength?: number;
}

export interface Jt1078FramerCounters {
  /** Packets returned by next(). */
  packets: number;
  /** Bytes pushed. */
  bytes: number;
  /** Bytes discarded while looking for a packet start (garbage, rejected packets). */
  resyncBytes: number;
  /** Runs of skipped bytes (one per loss of sync). */
  resyncs: number;
  /** Packets rejected at a magic (bad fields, corrupt length, cut off at end()). */
  malformed: number;
  /** Times the header form changed after the first detection. */
  variantChanges: number;
}

/** What follows a candidate packet in the buffer. */
const enum Trailer {
  Magic,
  /** Buffer ends exactly at the packet end. */
  End,
  /** 1-3 bytes follow and match the start of the magic. */
  Partial,
  Other,
}

const MIN_CARRY_CAPACITY = 256;
const LOOKAHEAD = 4;

function trailerAt(buf: Uint8Array, at: number, end: number): Trailer {
  const n = end - at;
  if (n <= 0) return Trailer.End;
  const m = n < 4 ? n : 4;
  for (let i = 0; i < m; i++) if (buf[at + i] !== JT1078_MAGIC[i]) return Trailer.Other;
  return m === 4 ? Trailer.Magic : Trailer.Partial;
}

/** Length of the longest suffix of buf[from, end) that is a proper prefix of the magic. */
function partialMagicSuffix(buf: Uint8Array, from: number, end: number): number {
  for (let k = Math.min(3, end - from); k > 0; k--) {
    let match = true;
    for (let i = 0; i < k; i++) {
      if (buf[end - k + i] !== JT1078_MAGIC[i]) {
        match = false;
        break;
      }
    }
    if (match) return k;
  }
  return 0;
}

export type Jt1078VariantDetection =
  | { kind: 'found'; variant: HeaderVariant }
  | { kind: 'need'; needed: number }
  | { kind: 'bad' };

function candidateState(r: Jt1078ParseResult, buf: Uint8Array, offset: number, end: number): Trailer | 'need' | 'bad' {
  if (r.ok) return trailerAt(buf, offset + r.consumed, end);
  return r.needMore ? 'need' : 'bad';
}

/**
 * Decide the header form of the packet at `offset` (JT1078 magic there). A form whose
 * packet is followed by another magic wins (2016 first); otherwise, unless `final`, wait
 * for more bytes while either form could still be confirmed; when `final` (end of stream,
 * or one UDP datagram) accept a form whose packet ends exactly at `end`. Anything else is
 * 'bad' (the caller skips this magic). Exported for UDP ingest (final = true per datagram).
 */
export function detectJt1078Variant(
  buf: Uint8Array,
  offset: number,
  end: number = buf.length,
  final = false,
  maxBodyLength: number = JT1078_MAX_BODY_LENGTH,
): Jt1078VariantDetection {
  const r16 = parseJt1078Packet(buf, offset, '2016', end, maxBodyLength);
  const r19 = parseJt1078Packet(buf, offset, '2019', end, maxBodyLength);
  const s16 = candidateState(r16, buf, offset, end);
  const s19 = candidateState(r19, buf, offset, end);
  if (s16 === Trailer.Magic) return { kind: 'found', variant: '2016' };
  if (s19 === Trailer.Magic) return { kind: 'found', variant: '2019' };
  if (!final) {
    let needed = 0;
    for (const [r, s] of [
      [r16, s16],
      [r19, s19],
    ] as const) {
      if (s === 'need' && !r.ok && r.needMore) needed = Math.max(needed, r.needed);
      else if ((s === Trailer.End || s === Trailer.Partial) && r.ok) needed = Math.max(needed, r.consumed + LOOKAHEAD);
    }
    if (needed > 0) return { kind: 'need', needed };
  }
  // Unconfirmed: only a packet filling the data exactly is believed (a datagram, the end of
  // a stream). One followed by other bytes is more likely a damaged packet misread in the
  // other form, so the stream resynchronises and tries the next magic instead.
  if (final) {
    if (s16 === Trailer.End) return { kind: 'found', variant: '2016' };
    if (s19 === Trailer.End) return { kind: 'found', variant: '2019' };
  }
  return { kind: 'bad' };
}

/** Outcome of one framing step; the packet itself is left in `stepPacket`. */
const enum Step {
  Packet,
  Skip,
  Need,
}

export class Jt1078StreamFramer {
  readonly counters: Jt1078FramerCounters = {
    packets: 0,
    bytes: 0,
    resyncBytes: 0,
    resyncs: 0,
    malformed: 0,
    variantChanges: 0,
  };

  private currentVariant: HeaderVariant | null;
  private readonly autoVariant: boolean;
  private readonly maxBodyLength: number;

  private src: Buffer = Buffer.alloc(0);
  private srcPos = 0;
  /** Bytes before `src` that start an unfinished packet (or a partial magic). */
  private carry: Buffer | null = null;
  private carryStart = 0;
  private carryEnd = 0;
  /** How many of the carry's last bytes were copied from the current `src` (can be given back). */
  private carryFromSrc = 0;
  /** A packet view into `carry` was handed out: never rewind it to reuse the space. */
  private carryShared = false;
  /** Bytes the packet at the parse position needs before it can be decided. */
  private needed = 0;
  private ended = false;
  /** Inside a run of skipped bytes (one resync counted per run). */
  private resyncing = false;

  // Results of the last step (fields, not objects: no allocation per step).
  private stepPacket: Jt1078Packet | null = null;
  private stepAmount = 0;

  constructor(options: Jt1078FramerOptions = {}) {
    const variant = options.variant ?? 'auto';
    this.autoVariant = variant === 'auto';
    this.currentVariant = variant === 'auto' ? null : variant;
    this.maxBodyLength = options.maxBodyLength ?? JT1078_MAX_BODY_LENGTH;
    if (!(this.maxBodyLength >= 0 && this.maxBodyLength <= JT1078_MAX_BODY_LENGTH)) {
      throw new RangeError('maxBodyLength must be within 0..65535');
    }
  }

  /** Detected (or configured) header form; null until the first packet decided it. */
  get variant(): HeaderVariant | null {
    return this.currentVariant;
  }

  /** Bytes held back waiting for the rest of a packet (bounded by one packet + 4). */
  get bufferedBytes(): number {
    return this.carryEnd - this.carryStart;
  }

  /** Upper bound of `bufferedBytes` with these options. */
  get maxBufferedBytes(): number {
    return JT1078_MAX_HEADER_LENGTH + this.maxBodyLength + LOOKAHEAD;
  }

  /** Add bytes. Call only after `next()` returned null (throws otherwise: a caller bug). */
  push(chunk: Uint8Array): void {
    if (this.ended) throw new Error('Jt1078StreamFramer: push() after end()');
    if (this.srcPos < this.src.length) throw new Error('Jt1078StreamFramer: push() before next() returned null');
    this.counters.bytes += chunk.length;
    this.src = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.srcPos = 0;
    this.carryFromSrc = 0;
  }

  /** No more bytes will come: the next `next()` calls flush what can still be decided. */
  end(): void {
    this.ended = true;
  }

  /** The next complete packet, or null when more bytes are needed. */
  next(): Jt1078Packet | null {
    for (;;) {
      if (this.carry !== null && this.carryEnd > this.carryStart) {
        const have = this.carryEnd - this.carryStart;
        const want = Math.min(Math.max(this.needed, 4) + LOOKAHEAD, this.maxBufferedBytes);
        if (have < want && this.srcPos < this.src.length) {
          const take = Math.min(want - have, this.src.length - this.srcPos);
          this.appendToCarry(this.src, this.srcPos, this.srcPos + take);
          this.srcPos += take;
          this.carryFromSrc += take;
        }
        const final = this.ended && this.srcPos >= this.src.length;
        const step = this.step(this.carry, this.carryStart, this.carryEnd, final);
        if (step === Step.Need) {
          this.needed = this.stepAmount;
          if (this.srcPos < this.src.length) continue;
          return null;
        }
        this.carryStart += this.stepAmount;
        this.needed = 0;
        if (step === Step.Packet) this.carryShared = true;
        this.afterCarryConsumed();
        if (step === Step.Packet) return this.emit();
        continue;
      }
      if (this.srcPos >= this.src.length) return null;
      const step = this.step(this.src, this.srcPos, this.src.length, this.ended);
      if (step === Step.Need) {
        this.needed = this.stepAmount;
        this.appendToCarry(this.src, this.srcPos, this.src.length);
        this.srcPos = this.src.length;
        this.carryFromSrc = 0;
        return null;
      }
      this.srcPos += this.stepAmount;
      this.needed = 0;
      if (step === Step.Packet) return this.emit();
    }
  }

  private emit(): Jt1078Packet {
    const packet = this.stepPacket!;
    this.stepPacket = null;
    this.resyncing = false;
    this.counters.packets++;
    return packet;
  }

  /** After carry bytes were consumed: give back to `src` whatever came from it. */
  private afterCarryConsumed(): void {
    const remaining = this.carryEnd - this.carryStart;
    if (remaining > this.carryFromSrc) return;
    this.srcPos -= remaining;
    this.carryFromSrc = 0;
    if (this.carryShared) {
      this.carry = null;
      this.carryShared = false;
    }
    this.carryStart = this.carryEnd = 0;
  }

  private appendToCarry(from: Buffer, start: number, end: number): void {
    const n = end - start;
    const cap = Math.max(MIN_CARRY_CAPACITY, this.needed + LOOKAHEAD);
    if (this.carry === null) {
      this.carry = Buffer.allocUnsafeSlow(Math.max(cap, n));
      this.carryStart = this.carryEnd = 0;
      this.carryShared = false;
    } else if (this.carryEnd + n > this.carry.length) {
      const kept = this.carryEnd - this.carryStart;
      const next = Buffer.allocUnsafeSlow(Math.max(cap, kept + n));
      this.carry.copy(next, 0, this.carryStart, this.carryEnd);
      this.carry = next;
      this.carryStart = 0;
      this.carryEnd = kept;
      this.carryShared = false;
    }
    from.copy(this.carry, this.carryEnd, start, end);
    this.carryEnd += n;
  }

  /** One decision at `pos`: a packet, bytes to skip, or the total bytes needed. */
  private step(buf: Buffer, pos: number, end: number, final: boolean): Step {
    const available = end - pos;
    if (available >= 4 && isMagicAt(buf, pos)) return this.stepAtMagic(buf, pos, end, final);
    if (available < 4 && trailerAt(buf, pos, end) === Trailer.Partial) {
      if (!final) return this.need(4);
      return this.skip(available);
    }
    // Garbage: jump to the next magic inside [pos+1, end), keeping a possible partial magic.
    const found = buf.indexOf(JT1078_MAGIC, pos + 1);
    if (found >= 0 && found + 4 <= end) return this.skip(found - pos);
    const keep = final ? 0 : partialMagicSuffix(buf, pos + 1, end);
    return this.skip(available - keep);
  }

  private stepAtMagic(buf: Buffer, pos: number, end: number, final: boolean): Step {
    let variant = this.currentVariant;
    if (variant === null) {
      const detection = detectJt1078Variant(buf, pos, end, final, this.maxBodyLength);
      if (detection.kind === 'need') return this.need(detection.needed);
      if (detection.kind === 'bad') return this.rejectAt();
      variant = this.currentVariant = detection.variant;
    }
    const r = parseJt1078Packet(buf, pos, variant, end, this.maxBodyLength);
    if (r.ok) {
      const trailer = trailerAt(buf, pos + r.consumed, end);
      if (trailer === Trailer.Other || (final && trailer === Trailer.Partial)) {
        const inner = this.innerPacketStart(buf, pos, r.consumed, end, variant);
        if (inner > 0) {
          this.counters.malformed++;
          return this.skip(inner - pos);
        }
      } else if (trailer !== Trailer.Magic && !final && this.hasInnerMagic(buf, pos, r.consumed)) {
        // Ends at the end of the data and hides a magic: its length may be corrupt. Decide
        // once the bytes after it are known (same result whatever the chunking).
        return this.need(r.consumed + LOOKAHEAD);
      }
      this.stepPacket = r.packet;
      this.stepAmount = r.consumed;
      return Step.Packet;
    }
    if (r.needMore) {
      if (!final) return this.need(r.needed);
      return this.rejectAt(); // cut off by the end of the stream
    }
    if (this.autoVariant) {
      // Re-check the form: switch only if the other one is confirmed by a following magic.
      const other: HeaderVariant = variant === '2016' ? '2019' : '2016';
      const r2 = parseJt1078Packet(buf, pos, other, end, this.maxBodyLength);
      if (r2.ok) {
        const trailer = trailerAt(buf, pos + r2.consumed, end);
        if (trailer === Trailer.Magic) {
          this.currentVariant = other;
          this.counters.variantChanges++;
          this.stepPacket = r2.packet;
          this.stepAmount = r2.consumed;
          return Step.Packet;
        }
        // Not decidable yet: wait for the next packet's magic.
        if (!final && trailer !== Trailer.Other) return this.need(r2.consumed + LOOKAHEAD);
      } else if (r2.needMore && !final) {
        return this.need(r2.needed);
      }
    }
    return this.rejectAt();
  }

  /**
   * The packet at `pos` claims `consumed` bytes but no magic follows: if a magic inside it
   * starts a plausible packet (followed by a magic, the buffer end, or still incomplete),
   * the outer length is corrupt. Returns that inner start, or -1.
   */
  private innerPacketStart(buf: Buffer, pos: number, consumed: number, end: number, variant: HeaderVariant): number {
    const q = buf.indexOf(JT1078_MAGIC, pos + 4);
    if (q < 0 || q >= pos + consumed || q + 4 > end) return -1;
    const r = parseJt1078Packet(buf, q, variant, end, this.maxBodyLength);
    if (r.ok) return trailerAt(buf, q + r.consumed, end) === Trailer.Other ? -1 : q;
    return r.needMore ? q : -1;
  }

  private hasInnerMagic(buf: Buffer, pos: number, consumed: number): boolean {
    const q = buf.indexOf(JT1078_MAGIC, pos + 4);
    return q >= 0 && q < pos + consumed;
  }

  /** A magic that does not start a usable packet: drop its first byte and resync. */
  private rejectAt(): Step {
    this.counters.malformed++;
    return this.skip(1);
  }

  private skip(n: number): Step {
    this.counters.resyncBytes += n;
    if (!this.resyncing) {
      this.resyncing = true;
      this.counters.resyncs++;
    }
    this.stepAmount = n;
    return Step.Skip;
  }

  private need(n: number): Step {
    this.stepAmount = n;
    return Step.Need;
  }
}
