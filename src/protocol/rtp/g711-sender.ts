/**
 * G.711A towards a GB28181 device (voice broadcast, GB/T 28181-2016 §9.12), sans-I/O: one
 * 20 ms payload from the browser in, the RTP bytes for the device out. The device's SDP
 * decides the form: `raw` is RTP/AVP 8 (PCMA, 8 kHz clock), `ps` is G.711A in an MPEG-PS
 * (stream type 0x90, PES 0xC0) on payload type 96 with the 90 kHz clock. Over TCP each
 * packet carries its RFC 4571 length, so one chunk is one write.
 */
import { PsMuxer } from '../mpeg-ps/muxer.js';
import { PsRtpPacketizer } from './packetizer.js';

export type G711Carriage = 'raw' | 'ps';

export interface G711SenderOptions {
  carriage: G711Carriage;
  /** The device's `y=` SSRC (or ours when it gave none). */
  ssrc: number;
  /** The payload type the device offered (raw: normally 8; ps: normally 96). */
  payloadType?: number;
  rfc4571: boolean;
}

export class G711RtpSender {
  readonly carriage: G711Carriage;
  #packetizer: PsRtpPacketizer;
  #muxer: PsMuxer | null;
  /** Samples sent so far (8 kHz): the timeline of both clocks. */
  #samples = 0;
  #first = true;
  #rfc4571: boolean;

  constructor(o: G711SenderOptions) {
    this.carriage = o.carriage;
    this.#rfc4571 = o.rfc4571;
    this.#packetizer = new PsRtpPacketizer({ ssrc: o.ssrc, payloadType: o.payloadType ?? (o.carriage === 'raw' ? 8 : 96), rfc4571: o.rfc4571 });
    // The PSM announces G.711A from the first pack, so a device can set its decoder before audio.
    this.#muxer = o.carriage === 'ps' ? new PsMuxer({ audioCodec: 'g711a', audioOnlyPsmInterval: 25 }) : null;
  }

  get ssrc(): number {
    return this.#packetizer.ssrc;
  }

  /**
   * What to send for one G.711A payload (one byte per sample): with RFC 4571 one chunk for one
   * TCP write, else one datagram per RTP packet. Copies the caller may keep.
   */
  packetize(payload: Uint8Array): Uint8Array[] {
    if (payload.length === 0) return [];
    let packets: Uint8Array[];
    if (this.#muxer) {
      const pts = (this.#samples * 90_000) / 8000;
      const slices = this.#muxer.muxSlices({ kind: 'audio', codec: 'g711a', key: true, pts, dts: pts, data: payload });
      packets = this.#packetizer.packetize(slices, pts);
    } else {
      packets = this.#packetizer.packetize(payload, this.#samples);
      // RFC 3551 §4.1: audio sets the marker only on the first packet of a talkspurt.
      if (!this.#first) for (const p of packets) p[1]! &= 0x7f;
    }
    this.#first = false;
    this.#samples += payload.length;
    return this.#rfc4571 ? [Buffer.from(this.#packetizer.wire)] : packets.map((p) => Buffer.from(p));
  }
}
