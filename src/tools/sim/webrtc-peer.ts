/**
 * A browser stand-in for intercom tests and `npm run bench:intercom`: a werift
 * PeerConnection that offers one audio section (PCMA and PCMU), sends 20 ms G.711 packets
 * of a tone and records what it receives.
 */
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket, type RTCRtpTransceiver } from 'werift';
import { encodeG711, type G711Law } from '../../protocol/audio/g711.js';
import { sineSamples } from './tone.js';

export interface PeerOptions {
  /** Offer only this codec (default both, PCMA first). */
  codecs?: Array<'PCMA' | 'PCMU'>;
  direction?: 'sendrecv' | 'sendonly' | 'recvonly';
}

export interface ReceivedRtp {
  payloadType: number;
  payload: Buffer;
  at: number;
}

export class WebrtcPeer {
  readonly pc: RTCPeerConnection;
  readonly transceiver: RTCRtpTransceiver;
  readonly received: ReceivedRtp[] = [];
  /** Called for every RTP packet received. */
  onRtp: (rtp: ReceivedRtp) => void = () => {};
  #timer: NodeJS.Timeout | null = null;
  #seq = 0;
  #ts = 0;
  #sample = 0;
  sent = 0;

  constructor(options: PeerOptions = {}) {
    const all = { PCMA: { mimeType: 'audio/PCMA', payloadType: 8 }, PCMU: { mimeType: 'audio/PCMU', payloadType: 0 } };
    const codecs = (options.codecs ?? ['PCMA', 'PCMU']).map((c) => new RTCRtpCodecParameters({ ...all[c], clockRate: 8000, channels: 1 }));
    this.pc = new RTCPeerConnection({
      codecs: { audio: codecs, video: [] },
      headerExtensions: { audio: [], video: [] },
      iceUseIpv6: false,
      iceInterfaceAddresses: { udp4: '127.0.0.1' },
      iceAdditionalHostAddresses: ['127.0.0.1'],
    });
    this.transceiver = this.pc.addTransceiver('audio', { direction: options.direction ?? 'sendrecv' });
    this.transceiver.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        const got = { payloadType: rtp.header.payloadType, payload: rtp.payload, at: Date.now() };
        this.received.push(got);
        if (this.received.length > 5000) this.received.shift();
        this.onRtp(got);
      });
    });
  }

  /** The offer after full ICE gathering (non-trickle, as the intercom API expects). */
  async offer(): Promise<string> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    if (this.pc.iceGatheringState !== 'complete') {
      await new Promise<void>((resolve) => {
        const sub = this.pc.iceGatheringStateChange.subscribe((s) => {
          if (s === 'complete') {
            sub.unSubscribe();
            resolve();
          }
        });
      });
    }
    return this.pc.localDescription!.sdp;
  }

  async answer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  connected(timeoutMs = 10_000): Promise<void> {
    if (this.pc.connectionState === 'connected') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not connected in ${timeoutMs} ms (${this.pc.connectionState})`)), timeoutMs);
      const sub = this.pc.connectionStateChange.subscribe((s) => {
        if (s === 'connected') {
          clearTimeout(timer);
          sub.unSubscribe();
          resolve();
        }
      });
    });
  }

  /** Sends a `frequency` Hz tone as 20 ms packets in `law` until stop(); `stamp` may write into each payload (bench). */
  sendTone(frequency: number, law: G711Law, stamp?: (payload: Buffer) => void): void {
    const payloadType = law === 'alaw' ? 8 : 0;
    this.#timer = setInterval(() => {
      const payload = Buffer.from(encodeG711(sineSamples(frequency, 8000, 160, 8000, this.#sample), law));
      this.#sample += 160;
      stamp?.(payload);
      this.sendPayload(payload, payloadType);
    }, 20);
  }

  /** Sends one RTP packet with this payload (the next sequence number, +160 timestamp). */
  sendPayload(payload: Buffer, payloadType = 8): void {
    const header = new RtpHeader({ payloadType, sequenceNumber: this.#seq, timestamp: this.#ts, marker: this.sent === 0 });
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#ts = (this.#ts + 160) >>> 0;
    this.sent++;
    void this.transceiver.sender.sendRtp(new RtpPacket(header, payload));
  }

  stopSending(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  async close(): Promise<void> {
    this.stopSending();
    await this.pc.close();
  }
}
