/**
 * JT1078 packets → whole audio/video frames (`AvFrame`) and transparent-data events.
 *
 * Why more than "append until last" (what m7s-jt1078 / go-jt808 do, keyed by data type
 * only): a lost or reordered sub-package there yields a corrupt frame, a "middle" after a
 * lost "last" lands in a stale buffer and an unfinished I-frame stays in memory. Here:
 *  - partial frames are keyed by (logical channel, media kind: video / audio /
 *    transparent), so several channels and interleaved audio share one connection;
 *  - sequence numbers are checked (16-bit wrap). Devices use one counter per connection
 *    (all captures: audio and video share it), so a packet is "in sequence" if it follows
 *    the connection's, its channel's or its (channel, kind) slot's previous packet — which
 *    also accepts per-channel or per-kind counters (the first packet of a slot is never a
 *    gap, as its counter is not known yet). On a gap the lost packet cannot be
 *    attributed, so every partial frame of that channel is dropped and its video waits
 *    for the next I-frame (a lost P-frame would corrupt decoding until then);
 *  - a frame cut short (new first/atomic before last, continuation without first, data
 *    type changing inside a frame, too large, pending cap) is dropped, never emitted, and
 *    video waits for the next I-frame; video also waits for an I-frame at start;
 *  - every drop is counted by reason.
 *
 * Timestamps (90 kHz, one timeline per channel shared by its audio and video, so A/V stay
 * in sync). The device clock in ms has an arbitrary origin and may wrap, jump or freeze:
 *  1. the channel's first frame gets `ptsBase` (default 0);
 *  2. each next frame: pts = previous frame's (unadjusted) pts + Δdevice × 90, Δ taken as
 *     an exact signed 64-bit difference of the two 32-bit halves (so a 64-bit wrap is a
 *     small Δ), and a Δ of about −2^32 is read as a 32-bit counter wrap;
 *  3. a jump forward beyond `maxForwardJumpMs` or backward beyond `maxBackwardJumpMs`
 *     (small backward steps are normal when audio runs ahead of video) re-bases the channel:
 *     pts = highest pts so far + one frame interval;
 *  4. per (channel, kind) pts must grow: if not (frozen clock, backward step), pts = the
 *     kind's previous pts + one frame interval. Frame interval: video — the packet's
 *     Last-Frame-Interval when within 1..1000 ms, else `nominalVideoFrameMs`; audio —
 *     bytes / 8 ms for G.711 (8 kHz, 1 byte per sample), else `nominalAudioFrameMs`.
 * dts = pts (the packet carries no decode order information).
 */
import type { AvFrame, Codec } from '../av/frame.js';
import { DataType, PayloadType, SubPackage, type Jt1078Packet } from './packet.js';

export type Jt1078DropReason =
  | 'sequence-gap'
  | 'incomplete'
  | 'orphan'
  | 'mixed-frame'
  | 'frame-too-large'
  | 'pending-cap'
  | 'await-keyframe'
  | 'unsupported-payload';

export interface Jt1078ReassemblerOptions {
  /** Largest reassembled frame in bytes; larger ones are dropped. Default 2 MiB. */
  maxFrameBytes?: number;
  /** Cap on bytes held in unfinished frames across all channels. Default 8 MiB. */
  maxPendingBytes?: number;
  /** pts of each channel's first frame, 90 kHz. Default 0. */
  ptsBase?: number;
  /** Video frame interval used when the clock does not advance. Default 40 ms. */
  nominalVideoFrameMs?: number;
  /** Audio frame interval used when the clock does not advance (non-G.711). Default 20 ms. */
  nominalAudioFrameMs?: number;
  /** A larger forward step of the device clock re-bases the timeline. Default 10 000 ms. */
  maxForwardJumpMs?: number;
  /** A larger backward step of the device clock re-bases the timeline. Default 1 000 ms. */
  maxBackwardJumpMs?: number;
}

export interface Jt1078FrameEvent {
  type: 'frame';
  sim: string;
  channel: number;
  payloadType: number;
  /** 0 I, 1 P, 2 B, 3 audio. */
  dataType: number;
  frame: AvFrame;
  /** The device timestamp (ms) carried by the frame's packets, unmodified. */
  deviceTimestamp: number;
  /** Sequence number of the frame's last packet. */
  sequence: number;
  /** Packets the frame was made of. */
  packets: number;
}

export interface Jt1078TransparentEvent {
  type: 'transparent';
  sim: string;
  channel: number;
  payloadType: number;
  data: Uint8Array;
  sequence: number;
}

export type Jt1078Event = Jt1078FrameEvent | Jt1078TransparentEvent;

export interface Jt1078ReassemblerCounters {
  packets: number;
  frames: number;
  videoFrames: number;
  audioFrames: number;
  keyFrames: number;
  transparent: number;
  /** Frames dropped, all reasons. */
  droppedFrames: number;
  drops: Record<Jt1078DropReason, number>;
  sequenceGaps: number;
  /** Audio frames whose HiSilicon `00 01 xx 00` prefix was removed. */
  hisiliconPrefixes: number;
  /** Device clock read as a 32-bit wrap. */
  clockWraps: number;
  /** Timeline re-based after a jump. */
  clockResets: number;
  /** pts forced forward (frozen or backward clock). */
  clockAdjustments: number;
}

const VIDEO = 0;
const AUDIO = 1;
const TRANSPARENT = 2;
const TWO_POW_32 = 0x1_0000_0000;

class Slot {
  /** Body views of the frame being assembled (views stay valid: see framer). */
  parts: Uint8Array[] = [];
  bytes = 0;
  active = false;
  /** Continuation packets are ignored until the next first/atomic (frame already counted). */
  discarding = false;
  dataType = 0;
  payloadType = 0;
  packets = 0;
  lastSequence = -1;
  lastPts = -Infinity;
}

class ChannelState {
  readonly slots: [Slot, Slot, Slot] = [new Slot(), new Slot(), new Slot()];
  lastSequence = -1;
  awaitKeyframe = true;
  hasClock = false;
  refHigh = 0;
  refLow = 0;
  refPts = 0;
  maxPts = -Infinity;
}

function videoCodec(payloadType: number): Codec | null {
  if (payloadType === PayloadType.H264) return 'h264';
  if (payloadType === PayloadType.H265) return 'h265';
  return null;
}

function audioCodec(payloadType: number): Codec | null {
  switch (payloadType) {
    case PayloadType.G711A:
      return 'g711a';
    case PayloadType.G711U:
      return 'g711u';
    case PayloadType.AAC:
      return 'aac';
    case PayloadType.G726:
      return 'g726';
    case PayloadType.ADPCMA:
      return 'adpcm';
    default:
      return null;
  }
}

/** Length of the HiSilicon prefix at the start of an audio payload: 4 or 0. */
export function hisiliconPrefixLength(data: Uint8Array): number {
  const n = data.length;
  // 00 01 LL 00 with LL = payload length in 16-bit words (glaciall's rule).
  if (n >= 4 && data[0] === 0 && data[1] === 1 && data[3] === 0 && data[2]! * 2 === n - 4) return 4;
  return 0;
}

export class Jt1078Reassembler {
  readonly counters: Jt1078ReassemblerCounters = {
    packets: 0,
    frames: 0,
    videoFrames: 0,
    audioFrames: 0,
    keyFrames: 0,
    transparent: 0,
    droppedFrames: 0,
    drops: {
      'sequence-gap': 0,
      incomplete: 0,
      orphan: 0,
      'mixed-frame': 0,
      'frame-too-large': 0,
      'pending-cap': 0,
      'await-keyframe': 0,
      'unsupported-payload': 0,
    },
    sequenceGaps: 0,
    hisiliconPrefixes: 0,
    clockWraps: 0,
    clockResets: 0,
    clockAdjustments: 0,
  };

  private readonly maxFrameBytes: number;
  private readonly maxPendingBytes: number;
  private readonly ptsBase: number;
  private readonly nominalVideoTicks: number;
  private readonly nominalAudioTicks: number;
  private readonly maxForwardJumpMs: number;
  private readonly maxBackwardJumpMs: number;
  /** Indexed by logical channel (one byte). */
  private readonly channels: Array<ChannelState | undefined> = [];
  private lastSequence = -1;
  private pending = 0;

  constructor(options: Jt1078ReassemblerOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? 2 * 1024 * 1024;
    this.maxPendingBytes = options.maxPendingBytes ?? 8 * 1024 * 1024;
    this.ptsBase = options.ptsBase ?? 0;
    this.nominalVideoTicks = (options.nominalVideoFrameMs ?? 40) * 90;
    this.nominalAudioTicks = (options.nominalAudioFrameMs ?? 20) * 90;
    this.maxForwardJumpMs = options.maxForwardJumpMs ?? 10_000;
    this.maxBackwardJumpMs = options.maxBackwardJumpMs ?? 1_000;
    if (!(this.nominalVideoTicks > 0 && this.nominalAudioTicks > 0)) throw new RangeError('nominal frame intervals must be > 0');
  }

  /** Bytes held in unfinished frames (bounded by `maxPendingBytes`). */
  get pendingBytes(): number {
    return this.pending;
  }

  /** Feed one packet; returns the frame or transparent event it completes, or null. */
  push(packet: Jt1078Packet): Jt1078Event | null {
    this.counters.packets++;
    const kind = packet.dataType <= DataType.VideoB ? VIDEO : packet.dataType === DataType.Audio ? AUDIO : TRANSPARENT;
    let ch = this.channels[packet.channel];
    if (ch === undefined) ch = this.channels[packet.channel] = new ChannelState();
    const slot = ch.slots[kind];

    const seq = packet.sequence;
    const inSequence =
      this.lastSequence < 0 ||
      ch.lastSequence < 0 ||
      slot.lastSequence < 0 || // first packet of this kind: its counter is not known yet
      seq === ((this.lastSequence + 1) & 0xffff) ||
      seq === ((ch.lastSequence + 1) & 0xffff) ||
      seq === ((slot.lastSequence + 1) & 0xffff);
    this.lastSequence = ch.lastSequence = slot.lastSequence = seq;
    if (!inSequence) this.onSequenceGap(ch, slot, packet.subPackage);

    const sub = packet.subPackage;
    if (sub === SubPackage.Atomic || sub === SubPackage.First) {
      if (slot.active) this.dropPartial(ch, slot, kind, 'incomplete');
      slot.discarding = false;
      if (!this.acceptStart(ch, kind, packet)) {
        slot.discarding = sub === SubPackage.First;
        return null;
      }
      if (packet.bodyLength > this.maxFrameBytes) {
        this.countDrop(ch, kind, 'frame-too-large');
        slot.discarding = sub === SubPackage.First;
        return null;
      }
      if (sub === SubPackage.Atomic) return this.complete(ch, slot, kind, packet, packet.body, 1);
      if (this.pending + packet.bodyLength > this.maxPendingBytes) {
        this.countDrop(ch, kind, 'pending-cap');
        slot.discarding = true;
        return null;
      }
      slot.active = true;
      slot.parts.push(packet.body);
      slot.bytes = packet.bodyLength;
      slot.dataType = packet.dataType;
      slot.payloadType = packet.payloadType;
      slot.packets = 1;
      this.pending += packet.bodyLength;
      return null;
    }

    // Middle or last.
    if (slot.discarding) return null;
    if (!slot.active) {
      this.countDrop(ch, kind, 'orphan');
      slot.discarding = true;
      return null;
    }
    if (packet.dataType !== slot.dataType || packet.payloadType !== slot.payloadType) {
      this.dropPartial(ch, slot, kind, 'mixed-frame');
      slot.discarding = true;
      return null;
    }
    if (slot.bytes + packet.bodyLength > this.maxFrameBytes) {
      this.dropPartial(ch, slot, kind, 'frame-too-large');
      slot.discarding = true;
      return null;
    }
    if (this.pending + packet.bodyLength > this.maxPendingBytes) {
      this.dropPartial(ch, slot, kind, 'pending-cap');
      slot.discarding = true;
      return null;
    }
    slot.parts.push(packet.body);
    slot.bytes += packet.bodyLength;
    slot.packets++;
    this.pending += packet.bodyLength;
    if (sub !== SubPackage.Last) return null;

    // One copy: the sub-package bodies into the frame's own buffer.
    const data = Buffer.allocUnsafeSlow(slot.bytes);
    let at = 0;
    for (const part of slot.parts) {
      data.set(part, at);
      at += part.length;
    }
    const packets = slot.packets;
    this.releasePartial(slot);
    return this.complete(ch, slot, kind, packet, data, packets);
  }

  /** Drop every unfinished frame (connection closed); each counts as 'incomplete'. */
  dropPending(): void {
    for (const ch of this.channels) {
      if (ch === undefined) continue;
      for (let kind = VIDEO; kind <= TRANSPARENT; kind++) {
        const slot = ch.slots[kind]!;
        if (slot.active) this.dropPartial(ch, slot, kind, 'incomplete');
      }
    }
  }

  private onSequenceGap(ch: ChannelState, current: Slot, sub: number): void {
    this.counters.sequenceGaps++;
    let counted = false;
    for (let kind = VIDEO; kind <= TRANSPARENT; kind++) {
      const slot = ch.slots[kind]!;
      if (slot.active) {
        this.dropPartial(ch, slot, kind, 'sequence-gap');
        slot.discarding = true;
        if (slot === current) counted = true;
      }
    }
    // A continuation whose start was lost: count that frame once, here.
    if (!counted && (sub === SubPackage.Middle || sub === SubPackage.Last) && !current.discarding) {
      this.counters.drops['sequence-gap']++;
      this.counters.droppedFrames++;
      current.discarding = true;
    }
    ch.awaitKeyframe = true;
  }

  /** Start-of-frame checks: known codec, and video waits for an I-frame. */
  private acceptStart(ch: ChannelState, kind: number, packet: Jt1078Packet): boolean {
    if (kind === VIDEO) {
      if (videoCodec(packet.payloadType) === null) {
        this.countDrop(ch, kind, 'unsupported-payload');
        return false;
      }
      if (ch.awaitKeyframe && packet.dataType !== DataType.VideoI) {
        this.countDrop(ch, kind, 'await-keyframe');
        return false;
      }
    } else if (kind === AUDIO && audioCodec(packet.payloadType) === null) {
      this.countDrop(ch, kind, 'unsupported-payload');
      return false;
    }
    return true;
  }

  private countDrop(ch: ChannelState, kind: number, reason: Jt1078DropReason): void {
    this.counters.drops[reason]++;
    this.counters.droppedFrames++;
    // A lost video frame of any kind breaks the reference chain; unsupported codecs do not.
    if (kind === VIDEO && reason !== 'unsupported-payload') ch.awaitKeyframe = true;
  }

  private dropPartial(ch: ChannelState, slot: Slot, kind: number, reason: Jt1078DropReason): void {
    this.releasePartial(slot);
    this.countDrop(ch, kind, reason);
  }

  private releasePartial(slot: Slot): void {
    this.pending -= slot.bytes;
    slot.parts.length = 0;
    slot.bytes = 0;
    slot.packets = 0;
    slot.active = false;
  }

  private complete(
    ch: ChannelState,
    slot: Slot,
    kind: number,
    packet: Jt1078Packet,
    body: Uint8Array,
    packets: number,
  ): Jt1078Event {
    if (kind === TRANSPARENT) {
      this.counters.transparent++;
      return {
        type: 'transparent',
        sim: packet.sim,
        channel: packet.channel,
        payloadType: packet.payloadType,
        data: body,
        sequence: packet.sequence,
      };
    }
    let data = body;
    let codec: Codec;
    let key: boolean;
    let intervalTicks: number;
    if (kind === VIDEO) {
      codec = videoCodec(packet.payloadType)!;
      key = packet.dataType === DataType.VideoI;
      if (key) ch.awaitKeyframe = false;
      const lfi = packet.lastFrameInterval;
      intervalTicks = lfi >= 1 && lfi <= 1000 ? lfi * 90 : this.nominalVideoTicks;
      this.counters.videoFrames++;
      if (key) this.counters.keyFrames++;
    } else {
      codec = audioCodec(packet.payloadType)!;
      key = true;
      const prefix = hisiliconPrefixLength(data);
      if (prefix > 0) {
        data = data.subarray(prefix);
        this.counters.hisiliconPrefixes++;
      }
      intervalTicks =
        (codec === 'g711a' || codec === 'g711u') && data.length > 0
          ? Math.round((data.length * 90) / 8)
          : this.nominalAudioTicks;
      this.counters.audioFrames++;
    }
    const pts = this.ptsFor(ch, slot, packet.timestampHigh, packet.timestampLow, intervalTicks);
    this.counters.frames++;
    return {
      type: 'frame',
      sim: packet.sim,
      channel: packet.channel,
      payloadType: packet.payloadType,
      dataType: packet.dataType,
      frame: { kind: kind === VIDEO ? 'video' : 'audio', codec, key, pts, dts: pts, data },
      deviceTimestamp: packet.timestamp,
      sequence: packet.sequence,
      packets,
    };
  }

  /** The timestamp rule of the module comment. */
  private ptsFor(ch: ChannelState, slot: Slot, high: number, low: number, intervalTicks: number): number {
    let pts: number;
    if (!ch.hasClock) {
      ch.hasClock = true;
      pts = this.ptsBase;
    } else {
      let delta = ((high - ch.refHigh) | 0) * TWO_POW_32 + (low - ch.refLow);
      if (delta < 0 && delta + TWO_POW_32 >= 0 && delta + TWO_POW_32 <= this.maxForwardJumpMs) {
        delta += TWO_POW_32;
        this.counters.clockWraps++;
      }
      if (delta > this.maxForwardJumpMs || delta < -this.maxBackwardJumpMs) {
        pts = Math.max(ch.maxPts, slot.lastPts) + intervalTicks;
        this.counters.clockResets++;
      } else {
        pts = ch.refPts + delta * 90;
      }
    }
    ch.refHigh = high;
    ch.refLow = low;
    ch.refPts = pts;
    if (pts <= slot.lastPts) {
      pts = slot.lastPts + intervalTicks;
      this.counters.clockAdjustments++;
    }
    slot.lastPts = pts;
    if (pts > ch.maxPts) ch.maxPts = pts;
    return pts;
  }
}
