/**
 * GB28181 ingest in one object: RTP datagrams (or RFC 4571 payloads) in, AvFrames out.
 * Wires parse → SSRC check and reorder window → PS demuxer, turning a sequence gap into
 * `discontinuity()` (the damaged frame is dropped, the demuxer resyncs) and the marker into
 * `endOfFrame()` (no wait for the next frame). Still sans-I/O: the worker owns the socket.
 */
import type { AvFrame } from '../av/frame.js';
import { PsDemuxer } from '../mpeg-ps/demuxer.js';
import type { PsDemuxerOptions } from '../mpeg-ps/demuxer.js';
import { parseRtpPacket } from './packet.js';
import type { RtpPacket } from './packet.js';
import { RtpReorderBuffer } from './reorder.js';
import type { RtpReorderSink } from './reorder.js';

export interface PsRtpReceiverOptions extends PsDemuxerOptions {
  /** Reorder window in packets. Default 32. */
  reorderWindow?: number;
  /** Accept only this SSRC (from the SDP), or lock to the first one seen. Default: any. */
  ssrc?: number | 'first';
  /** Accept only this payload type. Default: any (devices disagree on 96/98/...). */
  payloadType?: number;
  /** Use the RTP marker as end of frame. Default true (the demuxer stops if it proves wrong). */
  useMarker?: boolean;
  /** Every accepted payload in sequence order (after the SSRC check and the reorder window): the PS byte stream. */
  onPayload?: (payload: Uint8Array) => void;
}

export interface PsRtpReceiverStats {
  datagrams: number;
  /** Datagrams that are not RTP (bad version, truncated). */
  notRtp: number;
  wrongPayloadType: number;
}

export class PsRtpReceiver implements RtpReorderSink<RtpPacket> {
  readonly stats: PsRtpReceiverStats = { datagrams: 0, notRtp: 0, wrongPayloadType: 0 };
  readonly demuxer: PsDemuxer;
  readonly reorder: RtpReorderBuffer<RtpPacket>;
  private readonly payloadType: number | undefined;
  private readonly useMarker: boolean;
  private readonly onPayload: ((payload: Uint8Array) => void) | undefined;

  constructor(onFrame: (frame: AvFrame) => void, options: PsRtpReceiverOptions = {}) {
    this.demuxer = new PsDemuxer(onFrame, options);
    this.reorder = new RtpReorderBuffer<RtpPacket>(this, {
      window: options.reorderWindow ?? 32,
      ...(options.ssrc !== undefined ? { ssrc: options.ssrc } : {}),
    });
    this.payloadType = options.payloadType;
    this.useMarker = options.useMarker ?? true;
    this.onPayload = options.onPayload;
  }

  /** One RTP packet (a UDP datagram, or a packet out of `Rfc4571Decoder`). */
  pushRtp(datagram: Uint8Array): void {
    this.stats.datagrams++;
    const r = parseRtpPacket(datagram);
    if (!r.ok) {
      this.stats.notRtp++;
      return;
    }
    if (this.payloadType !== undefined && r.packet.payloadType !== this.payloadType) {
      this.stats.wrongPayloadType++;
      return;
    }
    this.reorder.push(r.packet);
  }

  /** End of stream: release what the window holds and the last frame. */
  flush(): void {
    this.reorder.flush();
    this.demuxer.flush();
  }

  /** @internal reorder sink */
  onPacket(packet: RtpPacket): void {
    this.onPayload?.(packet.payload);
    this.demuxer.push(packet.payload);
    if (packet.marker && this.useMarker) this.demuxer.endOfFrame();
  }

  /** @internal reorder sink */
  onLoss(): void {
    this.demuxer.discontinuity();
  }
}
