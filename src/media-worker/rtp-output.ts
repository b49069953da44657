import type { Socket as UdpSocket } from 'node:dgram';
import type { AvFrame } from '../protocol/av/frame.js';
import { PsMuxer } from '../protocol/mpeg-ps/index.js';
import { PsRtpFrameGrouper, PsRtpPacketizer } from '../protocol/rtp/index.js';
import { ssrcForName, type Destination, type DestinationWithSsrc } from '../shared/contracts/destination.js';
import type { SharedCounters } from '../shared/counters.js';
import { RtpFanout, type RtpFanoutListen, type RtpSender, type RtpSenderSettings } from './rtp-sender.js';

/**
 * A stream's GB28181 PS-over-RTP outputs: one PS muxer and one RTP packetizer per stream;
 * the packets of each frame go through an `RtpFanout` to one `RtpSender` per destination
 * (own SSRC and sequence, frame-aware backpressure) and into the stream's last-GOP cache,
 * which starts every destination added later.
 */

export type { Destination } from '../shared/contracts/destination.js';
export { ssrcForName } from '../shared/contracts/destination.js';

export class StreamOutputs {
  readonly name: string;
  #muxer = new PsMuxer();
  // The senders restamp SSRC and sequence; this one only cuts frames into packets.
  #packetizer = new PsRtpPacketizer({ ssrc: 0 });
  #fanout: RtpFanout;
  #grouper: PsRtpFrameGrouper;

  /**
   * `_udp` is no longer used (each UDP destination has a connected socket of its own);
   * it stays until the worker bootstrap stops passing it.
   */
  constructor(name: string, destinations: Destination[], _udp: UdpSocket | null, counters: SharedCounters, settings: RtpSenderSettings = {}) {
    this.name = name;
    this.#fanout = new RtpFanout(counters, settings);
    this.#grouper = new PsRtpFrameGrouper((part) => this.#fanout.send(part));
    for (const d of destinations) this.add(d);
  }

  get destinations(): DestinationWithSsrc[] {
    return this.#fanout.senders.map((s) => ({ ...s.destination, ssrc: s.ssrc }));
  }

  /** The senders, for their stats. */
  get senders(): readonly RtpSender[] {
    return this.#fanout.senders;
  }

  /** Adds a destination, started with the stream's last GOP; returns its SSRC. */
  add(destination: Destination, listen?: RtpFanoutListen): number {
    const ssrc = destination.ssrc ?? ssrcForName(this.name);
    this.#fanout.add(destination, ssrc, listen);
    return ssrc;
  }

  remove(host: string, port: number): boolean {
    return this.#fanout.remove(host, port);
  }

  write(frame: AvFrame): void {
    if (this.#fanout.senders.length === 0 && !this.#fanout.caching) return;
    const slices = this.#muxer.muxSlices(frame);
    if (slices.length === 0) return;
    for (const packet of this.#packetizer.packetize(slices, frame.pts)) this.#grouper.push(packet);
  }

  close(): void {
    this.#fanout.close();
  }
}
