/**
 * PS-over-RTP packets grouped into frames, each frame flagged key or not, for senders that
 * drop whole frames when a destination falls behind (and a cache of the last GOP). A frame
 * is the run of packets with one RTP timestamp, ended early by the marker bit. Packets are
 * handed on as they come: only while the first bytes of a frame do not yet tell whether it
 * starts a key frame (rare: a PSM or SEI split over packets) are they held, up to
 * `maxProbeBytes`. Sans-I/O; packets are passed by reference, never copied or changed.
 */
import type { VideoCodec } from '../av/frame.js';
import { probePsFrameStart } from '../mpeg-ps/key-frame-probe.js';

/** Packets of one frame: the first part of a frame has `start`; all parts carry its `key`. */
export interface RtpFramePart {
  start: boolean;
  key: boolean;
  packets: Uint8Array[];
}

export interface PsRtpFrameGrouperOptions {
  /** Bytes of a frame looked at before it is taken as not a key frame. Default 16 KiB. */
  maxProbeBytes?: number;
}

/** Offset of the RTP payload (after CSRCs and extension), or -1 when not RTP v2. */
function payloadOffset(packet: Uint8Array): number {
  if (packet.length < 12 || packet[0]! >> 6 !== 2) return -1;
  let offset = 12 + 4 * (packet[0]! & 0x0f);
  if (packet[0]! & 0x10) {
    if (packet.length < offset + 4) return -1;
    offset += 4 + 4 * ((packet[offset + 2]! << 8) | packet[offset + 3]!);
  }
  return offset <= packet.length ? offset : -1;
}

function payloadEnd(packet: Uint8Array): number {
  // Padding: the last byte counts the padding bytes (itself included).
  return packet[0]! & 0x20 ? packet.length - packet[packet.length - 1]! : packet.length;
}

export class PsRtpFrameGrouper {
  /** Packets that were not RTP v2 (not passed on). */
  notRtp = 0;
  private readonly maxProbeBytes: number;
  private timestamp = -1;
  private ended = true;
  private key = false;
  /** Packets of the current frame held until its verdict. */
  private held: Uint8Array[] = [];
  /** Payloads looked at so far; null once the current frame has its verdict. */
  private probe: Uint8Array[] | null = null;
  private probeBytes = 0;
  private videoCodec: VideoCodec | undefined;

  constructor(
    private readonly onPart: (part: RtpFramePart) => void,
    options: PsRtpFrameGrouperOptions = {},
  ) {
    this.maxProbeBytes = options.maxProbeBytes ?? 16 * 1024;
  }

  push(packet: Uint8Array): void {
    const offset = payloadOffset(packet);
    if (offset < 0) {
      this.notRtp++;
      return;
    }
    const timestamp = ((packet[4]! << 24) | (packet[5]! << 16) | (packet[6]! << 8) | packet[7]!) >>> 0;
    const marker = (packet[1]! & 0x80) !== 0;
    if (this.ended || timestamp !== this.timestamp) {
      this.release(false);
      this.timestamp = timestamp;
      this.probe = [];
      this.probeBytes = 0;
    }
    this.ended = marker;
    if (this.probe === null) {
      this.onPart({ start: false, key: this.key, packets: [packet] });
    } else {
      this.held.push(packet);
      this.judge(this.probe, packet.subarray(offset, payloadEnd(packet)));
    }
    if (marker) this.release(false);
  }

  /** End of input: hand on what is held. */
  flush(): void {
    this.release(false);
  }

  private judge(probe: Uint8Array[], payload: Uint8Array): void {
    probe.push(payload);
    this.probeBytes += payload.length;
    const bytes = probe.length === 1 ? payload : Buffer.concat(probe);
    const result = probePsFrameStart(bytes, this.videoCodec);
    if (result.videoCodec) this.videoCodec = result.videoCodec;
    if (result.verdict !== 'more') this.release(result.verdict === 'key');
    else if (this.probeBytes >= this.maxProbeBytes) this.release(false);
  }

  /** Hand on the held packets as the frame's first part, with its verdict. */
  private release(key: boolean): void {
    if (this.probe !== null) {
      this.probe = null;
      this.key = key;
      if (this.held.length > 0) this.onPart({ start: true, key, packets: this.held });
      this.held = [];
    }
  }
}
