/**
 * Replay planner for the JT/T 1078 simulator: turns the packets of one capture into the
 * packet schedule of stream i of N, without any I/O.
 *
 * Why a separate, sans-I/O planner: the runner (sockets, timers) stays small, and the
 * rules that make a replay believable to the gateway — distinct SIMs, sequence numbers
 * that never jump, timestamps that never go back when the capture loops, send times taken
 * from the packet timestamps — are tested here without a network.
 *
 * Timing model (all in capture milliseconds unless stated):
 *  - relTs[j] = ts[j] - minTs: the packet's place on the capture clock;
 *  - sendOffset[j] = max(relTs[0..j]): packets go out in capture order (audio and video
 *    interleaved as captured), a packet never before the ones captured ahead of it, and
 *    all packets of one frame (same timestamp) at the same instant;
 *  - loop k shifts both by k * loopPeriod: the smallest period after which every media
 *    kind (video, audio) resumes one of its own frame intervals (median gap) after its
 *    last packet, and every timestamp of loop k+1 exceeds every one of loop k — so each
 *    loop continues where the previous one ended, with no jump back;
 *  - wall-clock send time = (k * loopPeriod + sendOffset[j]) / speed.
 * m7s-jt1078's simulator instead writes fixed 1023-byte chunks every 50 ms and restarts
 * sequence numbers and timestamps at 0 on each loop (jt1078.md §3.8); both confuse a
 * gateway's jitter and frame-rate logic.
 */
import {
  DataType,
  decodeCapture,
  encodeJt1078Packet,
  Jt1078StreamFramer,
  loadCapture,
  SubPackage,
  type Capture,
  type HeaderVariant,
  type Jt1078Packet,
} from '../../protocol/jt1078/index.js';

/** Packets of one capture, ready to be planned. Bodies are views into the capture bytes. */
export interface ReplaySource {
  /** Header form of the capture's first packet. */
  variant: HeaderVariant;
  packets: readonly Jt1078Packet[];
  /** Bytes the framer skipped (garbage between packets, malformed packets). */
  skippedBytes: number;
}

/** A bad planning option; `option` is the property name so a CLI can name its flag. */
export class ReplayOptionError extends RangeError {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`);
    this.name = 'ReplayOptionError';
  }
}

/** Split raw JT1078 stream bytes (the decoded capture) into packets. */
export function replaySourceFromBytes(bytes: Uint8Array): ReplaySource {
  const framer = new Jt1078StreamFramer();
  framer.push(bytes);
  framer.end();
  const packets: Jt1078Packet[] = [];
  for (let p = framer.next(); p !== null; p = framer.next()) packets.push(p);
  if (packets.length === 0) throw new Error('capture contains no JT1078 packets');
  return { variant: packets[0]!.variant, packets, skippedBytes: framer.counters.resyncBytes };
}

export function replaySourceFromCapture(capture: Capture): ReplaySource {
  return replaySourceFromBytes(capture.bytes);
}

/**
 * Load a capture: a path/URL, or the file content (hex text, SmallChi CSV or raw bytes —
 * detected by `decodeCapture`).
 */
export async function loadReplaySource(capture: string | URL | Uint8Array): Promise<ReplaySource> {
  const decoded = capture instanceof Uint8Array ? decodeCapture(capture) : await loadCapture(capture);
  return replaySourceFromCapture(decoded);
}

export interface ReplayOptions {
  /** Streams that will be planned (only used to check that every SIM fits). Default 1. */
  streams?: number;
  /** Decimal SIM of stream 0; stream i gets simBase + i. Default: the capture's SIM. */
  simBase?: string;
  /** Logical channel written into every packet. Default: each packet's own. */
  channel?: number;
  /** Header form to send. Default: the capture's (2016 → 12-digit SIM, 2019 → 20). */
  variant?: HeaderVariant;
  /** Playback speed factor (> 0). Default 1. */
  speed?: number;
  /** Sequence number of the first packet sent. Default: the capture's first one. */
  sequenceStart?: number;
  /** Timestamp given to the capture's earliest timestamp. Default: keep the capture's clock. */
  timestampOrigin?: number;
  /** Gap between one loop's last frame and the next loop's first (every kind); default: measured median gap per kind, 40 ms if unmeasurable. */
  frameIntervalMs?: number;
}

/** Used when a capture has too few distinct timestamps to measure a frame interval (25 fps). */
export const DEFAULT_FRAME_INTERVAL_MS = 40;

/** One packet of a stream's schedule, as produced by `planStream`. */
export interface PlannedPacket {
  loop: number;
  /** Index of the packet in the capture. */
  index: number;
  /** Wall-clock ms after the stream's start when the packet is due (speed applied). */
  sendAtMs: number;
  sequence: number;
  /** Rewritten timestamp; -1 for transparent data (no field). */
  timestamp: number;
  sim: string;
  channel: number;
  dataType: number;
  /** Atomic or last sub-package: the packet completes a frame. */
  endsFrame: boolean;
  bytes: Buffer;
}

/** Median of the positive gaps between consecutive distinct timestamps, or NaN. */
function medianGap(timestamps: number[]): number {
  const gaps: number[] = [];
  for (let i = 1; i < timestamps.length; i++) {
    const gap = timestamps[i]! - timestamps[i - 1]!;
    if (gap > 0) gaps.push(gap);
  }
  if (gaps.length === 0) return NaN;
  gaps.sort((a, b) => a - b);
  return gaps[gaps.length >> 1]!;
}

function isDecimal(text: string): boolean {
  return /^[0-9]+$/.test(text);
}

/**
 * The schedule shared by every stream of one replay: per-packet templates and offsets,
 * computed once, plus the arithmetic that gives each stream/loop/packet its sequence
 * number, timestamp and send time.
 */
export class ReplayPlan {
  readonly variant: HeaderVariant;
  readonly packetsPerLoop: number;
  readonly speed: number;
  /** Capture ms from one loop's start to the next's. */
  readonly loopPeriodMs: number;
  /** Wall-clock ms per loop (speed applied). */
  readonly loopDurationMs: number;
  readonly simBase: string;
  readonly simDigits: number;
  readonly sequenceStart: number;
  /** Timestamp written for relTs = 0 on loop 0. */
  readonly timestampOrigin: number;
  /** Bytes of one loop (all packets, rewritten). */
  readonly bytesPerLoop: number;
  /** Packets completing a frame per loop. */
  readonly framesPerLoop: number;

  /** relTs per packet; NaN for transparent data. */
  private readonly relTimestamps: Float64Array;
  /** Capture-ms send offset per packet within a loop (non-decreasing). */
  private readonly sendOffsets: Float64Array;
  private readonly templates: Buffer[];
  private readonly endsFrame: Uint8Array;
  private readonly packets: readonly Jt1078Packet[];
  private readonly channelOverride: number | undefined;
  private readonly simLength: number;
  private readonly timestampOffset: number;
  private readonly maxStreams: number;

  constructor(source: ReplaySource, options: ReplayOptions = {}) {
    const packets = source.packets;
    if (packets.length === 0) throw new Error('capture contains no JT1078 packets');
    this.packets = packets;
    this.packetsPerLoop = packets.length;
    this.variant = options.variant ?? source.variant;
    if (this.variant !== '2016' && this.variant !== '2019') {
      throw new ReplayOptionError('variant', `must be '2016' or '2019' (got ${String(this.variant)})`);
    }
    this.simLength = this.variant === '2016' ? 6 : 10;
    this.simDigits = this.simLength * 2;
    this.timestampOffset = 8 + this.simLength + 2;

    this.speed = options.speed ?? 1;
    if (!(Number.isFinite(this.speed) && this.speed > 0)) {
      throw new ReplayOptionError('speed', `must be a positive number (got ${this.speed})`);
    }
    this.maxStreams = options.streams ?? 1;
    if (!(Number.isInteger(this.maxStreams) && this.maxStreams >= 1)) {
      throw new ReplayOptionError('streams', `must be a positive integer (got ${this.maxStreams})`);
    }
    const channel = options.channel;
    if (channel !== undefined && !(Number.isInteger(channel) && channel >= 0 && channel <= 255)) {
      throw new ReplayOptionError('channel', `must be an integer 0..255 (got ${channel})`);
    }
    this.channelOverride = channel;

    const sequenceStart = options.sequenceStart ?? packets[0]!.sequence;
    if (!(Number.isInteger(sequenceStart) && sequenceStart >= 0 && sequenceStart <= 0xffff)) {
      throw new ReplayOptionError('sequenceStart', `must be an integer 0..65535 (got ${sequenceStart})`);
    }
    this.sequenceStart = sequenceStart;

    // SIM: the capture's own (leading zeros dropped, re-padded to the target width).
    const simBase = options.simBase ?? packets[0]!.sim.replace(/^0+(?=.)/, '');
    if (!isDecimal(simBase)) {
      throw new ReplayOptionError('simBase', `must be decimal digits (got ${JSON.stringify(simBase)})`);
    }
    const lastSim = (BigInt(simBase) + BigInt(this.maxStreams - 1)).toString();
    if (lastSim.length > this.simDigits) {
      throw new ReplayOptionError(
        'simBase',
        `${simBase} + ${this.maxStreams - 1} streams does not fit in ${this.simDigits} digits (${this.variant} header)`,
      );
    }
    this.simBase = BigInt(simBase).toString().padStart(this.simDigits, '0');

    // Clock: timed packets only; transparent ones ride on the previous packet's time.
    let minTs = Infinity;
    let maxTs = -Infinity;
    for (const p of packets) {
      if (p.dataType === DataType.Transparent) continue;
      if (p.timestamp < minTs) minTs = p.timestamp;
      if (p.timestamp > maxTs) maxTs = p.timestamp;
    }
    const timed = Number.isFinite(minTs);
    if (!timed) minTs = maxTs = 0;
    this.timestampOrigin = options.timestampOrigin ?? minTs;
    if (!(Number.isSafeInteger(this.timestampOrigin) && this.timestampOrigin >= 0)) {
      throw new ReplayOptionError('timestampOrigin', `must be a non-negative integer (got ${this.timestampOrigin})`);
    }

    this.relTimestamps = new Float64Array(packets.length);
    this.sendOffsets = new Float64Array(packets.length);
    this.endsFrame = new Uint8Array(packets.length);
    this.templates = [];
    // Per media kind (video / audio): first, last and the distinct-timestamp sequence.
    const kinds = [
      { first: NaN, last: NaN, stamps: [] as number[] },
      { first: NaN, last: NaN, stamps: [] as number[] },
    ];
    let running = 0;
    let frames = 0;
    let bytes = 0;
    for (let j = 0; j < packets.length; j++) {
      const p = packets[j]!;
      const transparent = p.dataType === DataType.Transparent;
      const rel = transparent ? NaN : p.timestamp - minTs;
      this.relTimestamps[j] = rel;
      if (!transparent) {
        if (rel > running) running = rel;
        const kind = kinds[p.dataType === DataType.Audio ? 1 : 0]!;
        if (Number.isNaN(kind.first)) kind.first = rel;
        kind.last = rel;
        if (kind.stamps.length === 0 || kind.stamps[kind.stamps.length - 1] !== rel) kind.stamps.push(rel);
      }
      this.sendOffsets[j] = running;
      const ends = p.subPackage === SubPackage.Atomic || p.subPackage === SubPackage.Last;
      this.endsFrame[j] = ends ? 1 : 0;
      if (ends) frames++;
      // Template: everything but SIM, sequence and timestamp, which are patched per send.
      const template = encodeJt1078Packet(
        {
          marker: p.marker,
          payloadType: p.payloadType,
          sequence: 0,
          sim: '0',
          channel: channel ?? p.channel,
          dataType: p.dataType,
          subPackage: p.subPackage,
          timestamp: 0,
          lastIFrameInterval: p.lastIFrameInterval,
          lastFrameInterval: p.lastFrameInterval,
          body: p.body,
        },
        this.variant,
      );
      this.templates.push(template);
      bytes += template.length;
    }
    this.framesPerLoop = frames;
    this.bytesPerLoop = bytes;

    // Loop period: every media kind must resume at least one of its own frame intervals
    // after its last packet, and every timestamp of loop k+1 must exceed every one of loop k.
    const measured = [medianGap(kinds[0]!.stamps), medianGap(kinds[1]!.stamps)];
    const fallback = Number.isNaN(measured[0]!) ? (Number.isNaN(measured[1]!) ? DEFAULT_FRAME_INTERVAL_MS : measured[1]!) : measured[0]!;
    const override = options.frameIntervalMs;
    if (override !== undefined && !(Number.isFinite(override) && override > 0)) {
      throw new ReplayOptionError('frameIntervalMs', `must be a positive number (got ${override})`);
    }
    // Strictly after the span (so loop k+1 starts after every timestamp of loop k), then
    // stretched so each kind resumes one of its own intervals after its last packet.
    const span = maxTs - minTs;
    let period = span + (kinds.some((kind) => !Number.isNaN(kind.first)) ? 1 : (override ?? fallback));
    for (let k = 0; k < kinds.length; k++) {
      const kind = kinds[k]!;
      if (Number.isNaN(kind.first)) continue;
      const interval = override ?? (Number.isNaN(measured[k]!) ? fallback : measured[k]!);
      period = Math.max(period, kind.last - kind.first + interval);
    }
    this.loopPeriodMs = period;
    this.loopDurationMs = period / this.speed;
  }

  /** Decimal SIM of stream `streamIndex`, padded to the header's width. */
  simFor(streamIndex: number): string {
    this.checkStream(streamIndex);
    return (BigInt(this.simBase) + BigInt(streamIndex)).toString().padStart(this.simDigits, '0');
  }

  /** BCD bytes of that SIM, as written at offset 8. */
  simBytesFor(streamIndex: number): Buffer {
    return Buffer.from(this.simFor(streamIndex), 'hex');
  }

  sequenceOf(loop: number, index: number): number {
    return (this.sequenceStart + ((loop * this.packetsPerLoop) % 0x10000) + index) & 0xffff;
  }

  /** Rewritten timestamp, or -1 for transparent data. */
  timestampOf(loop: number, index: number): number {
    const rel = this.relTimestamps[index]!;
    return Number.isNaN(rel) ? -1 : this.timestampOrigin + loop * this.loopPeriodMs + rel;
  }

  /** Wall-clock ms after the stream's start at which the packet is due. */
  sendAtMs(loop: number, index: number): number {
    return (loop * this.loopPeriodMs + this.sendOffsets[index]!) / this.speed;
  }

  packetLength(index: number): number {
    return this.templates[index]!.length;
  }

  endsFrameAt(index: number): boolean {
    return this.endsFrame[index] === 1;
  }

  channelAt(index: number): number {
    return this.channelOverride ?? this.packets[index]!.channel;
  }

  /**
   * Reference encoding of one rewritten packet through `encodeJt1078Packet` (allocates;
   * `writePacket` is the fast equivalent the runner uses).
   */
  encode(streamIndex: number, loop: number, index: number): Buffer {
    const p = this.packets[index]!;
    return encodeJt1078Packet(
      {
        marker: p.marker,
        payloadType: p.payloadType,
        sequence: this.sequenceOf(loop, index),
        sim: this.simFor(streamIndex),
        channel: this.channelAt(index),
        dataType: p.dataType,
        subPackage: p.subPackage,
        timestamp: Math.max(0, this.timestampOf(loop, index)),
        lastIFrameInterval: p.lastIFrameInterval,
        lastFrameInterval: p.lastFrameInterval,
        body: p.body,
      },
      this.variant,
    );
  }

  /**
   * Write the rewritten packet into `target` at `offset` (template copy + three patches, no
   * allocation) and return the bytes written. `simBytes` from `simBytesFor`.
   */
  writePacket(target: Buffer, offset: number, simBytes: Buffer, loop: number, index: number): number {
    const template = this.templates[index]!;
    template.copy(target, offset);
    target.writeUInt16BE(this.sequenceOf(loop, index), offset + 6);
    simBytes.copy(target, offset + 8);
    const ts = this.timestampOf(loop, index);
    if (ts >= 0) {
      const at = offset + this.timestampOffset;
      target.writeUInt32BE(Math.floor(ts / 0x1_0000_0000), at);
      target.writeUInt32BE(ts % 0x1_0000_0000, at + 4);
    }
    return template.length;
  }

  private checkStream(streamIndex: number): void {
    if (!(Number.isInteger(streamIndex) && streamIndex >= 0 && streamIndex < this.maxStreams)) {
      throw new RangeError(`stream index ${streamIndex} outside 0..${this.maxStreams - 1}`);
    }
  }
}

/**
 * The schedule of stream `streamIndex`: every packet of `loops` loops (Infinity: endless)
 * with its send time. Reference form of what the runner sends, for tests and tools.
 */
export function* planStream(plan: ReplayPlan, streamIndex: number, loops: number): Generator<PlannedPacket> {
  const sim = plan.simFor(streamIndex);
  for (let loop = 0; loop < loops; loop++) {
    for (let index = 0; index < plan.packetsPerLoop; index++) {
      const bytes = plan.encode(streamIndex, loop, index);
      yield {
        loop,
        index,
        sendAtMs: plan.sendAtMs(loop, index),
        sequence: plan.sequenceOf(loop, index),
        timestamp: plan.timestampOf(loop, index),
        sim,
        channel: plan.channelAt(index),
        dataType: bytes[15 + (plan.variant === '2016' ? 0 : 4)]! >> 4,
        endsFrame: plan.endsFrameAt(index),
        bytes,
      };
    }
  }
}

/** What `StreamCursor.take` produced: the bytes of every packet now due, back to back. */
export interface ReplayBatch {
  bytes: Buffer;
  packets: number;
  frames: number;
  /** Due time of the batch's first packet (wall ms after the stream's start). */
  firstSendAtMs: number;
}

/**
 * Position of one stream in its schedule. `take(nowMs)` returns the bytes of every packet
 * due by then (at most `maxBytes`, at least one packet), so the runner writes one buffer
 * per stream per tick however many packets a frame has.
 */
export class StreamCursor {
  loop = 0;
  index = 0;
  private readonly simBytes: Buffer;

  constructor(
    readonly plan: ReplayPlan,
    readonly streamIndex: number,
    readonly loops: number,
  ) {
    this.simBytes = plan.simBytesFor(streamIndex);
    if (!(loops >= 1)) throw new ReplayOptionError('loops', `must be at least 1 (got ${loops})`);
  }

  get done(): boolean {
    return this.loop >= this.loops;
  }

  /** Due time of the next packet (wall ms after the stream's start); Infinity when done. */
  get nextSendAtMs(): number {
    return this.done ? Infinity : this.plan.sendAtMs(this.loop, this.index);
  }

  take(nowMs: number, maxBytes: number): ReplayBatch | null {
    const plan = this.plan;
    if (this.done || plan.sendAtMs(this.loop, this.index) > nowMs) return null;
    const firstSendAtMs = plan.sendAtMs(this.loop, this.index);
    // First pass: how many packets are due and fit.
    let loop = this.loop;
    let index = this.index;
    let total = 0;
    let count = 0;
    while (loop < this.loops && plan.sendAtMs(loop, index) <= nowMs) {
      const length = plan.packetLength(index);
      if (count > 0 && total + length > maxBytes) break;
      total += length;
      count++;
      if (++index === plan.packetsPerLoop) {
        index = 0;
        loop++;
      }
    }
    const bytes = Buffer.allocUnsafe(total);
    let offset = 0;
    let frames = 0;
    for (let i = 0; i < count; i++) {
      offset += plan.writePacket(bytes, offset, this.simBytes, this.loop, this.index);
      if (plan.endsFrameAt(this.index)) frames++;
      if (++this.index === plan.packetsPerLoop) {
        this.index = 0;
        this.loop++;
      }
    }
    return { bytes, packets: count, frames, firstSendAtMs };
  }
}
