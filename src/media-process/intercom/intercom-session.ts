/**
 * One intercom: a browser's PeerConnection (werift) and one or more terminals' talk
 * connections (audio ports of the pool). Runs in the media process main thread, next to
 * the talk sockets and the WebRTC mux, so no audio packet crosses a thread (docs/intercom.md).
 *
 * Downlink: every RTP packet from the browser becomes one JT/T 1078 audio packet per
 * target (PT of the terminal's codec, data type 3 audio, atomic, sequence +1 per RTP
 * packet, timestamp = wall clock ms at receipt, body = the RTP payload), written at once
 * or dropped (no terminal, or the terminal is not reading) — never queued.
 *
 * Uplink: the first target's audio packets (HiSilicon prefix stripped) go to the browser
 * as RTP: G.711A/U pass through (or are re-encoded A↔µ), other codecs are dropped and counted.
 *
 * Ends once (close): browser closed, ICE failed or disconnected for 5 s, not connected
 * within connectTimeout, every terminal gone, a request, or shutdown. Its ports return to
 * the pool before `onEnded` runs.
 */
import { performance } from 'node:perf_hooks';
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket, type RTCRtpTransceiver } from 'werift';
import { decodeG711, encodeG711, transcodeG711, type G711Law } from '../../protocol/audio/g711.js';
import { jt1078AudioCodec, type Jt1078AudioCodec } from '../../protocol/audio/jt1078-audio.js';
import { parseRtpPacket } from '../../protocol/rtp/packet.js';
import { DataType, encodeJt1078Packet, hisiliconPrefixLength, SubPackage, type Jt1078Packet } from '../../protocol/jt1078/index.js';
import type { SharedCounters } from '../../shared/counters.js';
import type { IntercomCamera, IntercomCodec, IntercomEnded, IntercomInfo, IntercomMode, IntercomOpenRequest, IntercomRtpTarget, IntercomTarget } from '../../shared/contracts/media.js';
import { ServiceError } from '../../shared/errors.js';
import { CameraSink } from './camera-sink.js';
import type { TalkPortPool, TalkSink } from './talk-ports.js';
import type { MuxAddress, WebrtcMux } from './webrtc-mux.js';

interface CodecInfo {
  mimeType: string;
  payloadType: number;
  /** JT/T 1078 Table 12 code. */
  jt1078: number;
  law: G711Law | null;
}

export const INTERCOM_CODECS: Record<IntercomCodec, CodecInfo> = {
  PCMA: { mimeType: 'audio/PCMA', payloadType: 8, jt1078: 6, law: 'alaw' },
  PCMU: { mimeType: 'audio/PCMU', payloadType: 0, jt1078: 7, law: 'ulaw' },
  G722: { mimeType: 'audio/G722', payloadType: 9, jt1078: 2, law: null },
};

/** The browser-side codec for a terminal's audio encoding (0x1003 / enterAudioEncoding); 400 for others. */
export function codecForTerminal(audioCodec: number): IntercomCodec {
  if (audioCodec === 6) return 'PCMA';
  if (audioCodec === 7) return 'PCMU';
  if (audioCodec === 2) return 'G722';
  // ADPCM (IMA, HiSilicon) and G.726: PCMA towards the browser, transcoded both ways.
  if (audioCodec === 26 || audioCodec === 8) return 'PCMA';
  throw new ServiceError(400, '1002', `enterAudioEncoding: ${audioCodec} is not supported (6 G.711A, 7 G.711U, 2 G.722, 26 ADPCM, 8 G.726)`);
}

export interface SessionDeps {
  mux: WebrtcMux;
  pool: TalkPortPool;
  counters: SharedCounters;
  /** Address and port of the one host candidate in the answer. */
  publicIp: string;
  connectTimeoutMs: number;
  /** Default BROWSER_SILENCE_MS. */
  silenceMs?: number;
  onConnected: (id: string) => void;
  onEnded: (ended: IntercomEnded) => void;
}

/** werift's ICE internals reached by attachToMux (werift 0.24.4; see docs/intercom.md). */
interface WeriftStunProtocol {
  transport: { close: () => Promise<void> } & Record<string, unknown>;
  datagramReceived(data: Buffer, addr: MuxAddress): void;
}

/** werift 0.24 RTCRtpSender's sender-report counters (private there; see #uplink). */
interface SenderReportCounts {
  packetCount: number;
  octetCount: number;
}

/** One uplink packet in this many goes through werift's RtpSender (once a second at 20 ms). */
const SENDER_REPORT_EVERY = 50;
const DISCONNECTED_GRACE_MS = 5000;
/**
 * A connected browser sends ICE consent checks every few seconds (RFC 7675) and audio
 * every 20 ms; nothing for 30 s (the RFC's consent timeout) means it is gone (with ICE
 * lite camgate sends no checks of its own, so a browser that vanished without a DTLS
 * close is noticed this way).
 */
export const BROWSER_SILENCE_MS = 30_000;
const DTLS_ALERT = 21;

export class IntercomSession {
  readonly id: string;
  readonly mode: IntercomMode;
  readonly codec: IntercomCodec;
  readonly targets: IntercomTarget[] = [];
  /** A voice broadcast's camera (targets empty); its sink exists once the camera INVITEd. */
  readonly camera: IntercomCamera | undefined;
  #cameraSink: CameraSink | null = null;
  readonly startedAt = Date.now();
  state: 'new' | 'connected' | 'closed' = 'new';
  packetsDown = 0;
  packetsUp = 0;
  drops = 0;
  answer = '';

  #deps: SessionDeps;
  /** The terminal's payload type (Table 12). */
  #terminalPt: number;
  /** Downlink encoder when the terminal is not spoken to in the browser's codec (ADPCM, G.726). */
  #downCodec: Jt1078AudioCodec | null;
  /** Uplink decoders by the payload type the terminal actually sends. */
  #upCodecs = new Map<number, Jt1078AudioCodec | null>();
  #pc: RTCPeerConnection;
  #transceiver: RTCRtpTransceiver | null = null;
  #ufrag = '';
  #sequence = 0;
  #rtpSequence = Math.floor(Math.random() * 0x10000);
  #rtpTimestamp = Math.floor(Math.random() * 0x1_0000_0000);
  #connectTimer: NodeJS.Timeout | null = null;
  #disconnectTimer: NodeJS.Timeout | null = null;
  /** Ports whose terminal has connected at least once. */
  #heard = new Set<number>();
  #lastDatagram = Date.now();
  /** performance.now() when the datagram being handled arrived (downlink processing time). */
  #arrivedAt = 0;
  #silenceTimer: NodeJS.Timeout | null = null;

  private constructor(request: IntercomOpenRequest, deps: SessionDeps) {
    this.id = request.id;
    this.mode = request.mode;
    this.camera = request.camera;
    this.codec = codecForTerminal(request.audioCodec);
    this.#terminalPt = request.audioCodec;
    this.#downCodec = INTERCOM_CODECS[this.codec].jt1078 === request.audioCodec ? null : jt1078AudioCodec(request.audioCodec);
    this.#deps = deps;
    const codec = INTERCOM_CODECS[this.codec];
    this.#pc = new RTCPeerConnection({
      codecs: { audio: [new RTCRtpCodecParameters({ mimeType: codec.mimeType, clockRate: 8000, channels: 1, payloadType: codec.payloadType })], video: [] },
      headerExtensions: { audio: [], video: [] },
      iceLite: true,
      iceUseIpv6: false,
      // Candidates are gathered on loopback and then re-homed onto the mux socket.
      iceInterfaceAddresses: { udp4: '127.0.0.1' },
      iceAdditionalHostAddresses: ['127.0.0.1'],
    });
  }

  /** Takes the ports, answers the offer; throws ServiceError (400 bad SDP, 409/503 ports) after undoing what it took. */
  static async open(request: IntercomOpenRequest, deps: SessionDeps): Promise<IntercomSession> {
    const session = new IntercomSession(request, deps);
    try {
      await session.#start(request);
      return session;
    } catch (error) {
      session.#teardown();
      throw error;
    }
  }

  async #start(request: IntercomOpenRequest): Promise<void> {
    const { pool } = this.#deps;
    request.targets.forEach((target, index) => {
      const port = pool.take(target.port, this.#sink(index));
      this.targets.push({ sim: target.sim, channel: target.channel, port });
    });
    const pc = this.#pc;
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: request.sdp });
    } catch (error) {
      throw new ServiceError(400, '1002', `sdp: not a usable offer (${(error as Error).message})`);
    }
    const transceiver = pc.getTransceivers().find((t) => t.kind === 'audio');
    if (!transceiver) throw new ServiceError(400, '1002', 'sdp: the offer has no audio section');
    if (transceiver.codecs.length === 0) throw new ServiceError(400, '1002', `sdp: the offer does not include ${this.codec}/8000`);
    transceiver.setDirection(this.mode === 'talk' ? 'sendrecv' : this.mode === 'listen' ? 'sendonly' : 'recvonly');
    // A ufrag unique on the mux (werift's 4-character one may collide); the answer carries it.
    const connection = pc.iceTransports[0]?.connection;
    if (!connection) throw new ServiceError(500, '1003', 'werift: no ICE transport after the offer');
    this.#ufrag = this.#deps.mux.reserveUfrag();
    connection.localUsername = this.#ufrag;
    this.#transceiver = transceiver;
    // The offer's tracks were added by setRemoteDescription; later ones come through onTrack.
    const listen = (track: (typeof transceiver.receiver.tracks)[number]) => track.onReceiveRtp.subscribe((rtp) => this.#downlink(rtp.payload));
    transceiver.receiver.tracks.forEach(listen);
    transceiver.onTrack.subscribe(listen);
    await pc.setLocalDescription(await pc.createAnswer());
    await this.#gathered();
    this.#attachToMux();
    this.answer = rewriteCandidates(pc.localDescription?.sdp ?? '', this.#deps.publicIp, this.#deps.mux.port);
    pc.connectionStateChange.subscribe((state) => this.#stateChanged(state));
    this.#armConnectTimer();
    this.#deps.counters.add('intercom_sessions|started');
  }

  #armConnectTimer(): void {
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    this.#connectTimer = setTimeout(() => this.close('not connected within connectTimeout'), this.#deps.connectTimeoutMs);
  }

  async #gathered(): Promise<void> {
    if (this.#pc.iceGatheringState === 'complete') return;
    await new Promise<void>((resolve) => {
      const sub = this.#pc.iceGatheringStateChange.subscribe((state) => {
        if (state === 'complete') {
          sub.unSubscribe();
          resolve();
        }
      });
    });
  }

  /**
   * Moves every ICE protocol of this PeerConnection from its own loopback socket onto the
   * shared mux socket: sends go out of webrtcPort, and the mux delivers this session's
   * datagrams (routed by ICE ufrag, then by address) to the first protocol.
   */
  #attachToMux(): void {
    const connection = this.#pc.iceTransports[0]?.connection;
    if (!connection) throw new ServiceError(500, '1003', 'werift: no ICE transport after the answer');
    const protocols = (connection as unknown as { protocols: WeriftStunProtocol[] }).protocols;
    if (!protocols?.length) throw new ServiceError(500, '1003', 'werift: no ICE candidate was gathered');
    const { mux } = this.#deps;
    const transport = {
      type: 'udp',
      closed: false,
      address: { address: mux.address.address, family: 'IPv4', port: mux.port },
      onData: (_data: Buffer, _addr: MuxAddress) => {},
      send: (data: Buffer, addr?: MuxAddress) => (addr ? mux.send(data, addr) : Promise.resolve()),
      close: async () => {
        transport.closed = true;
        mux.unregister(this.#ufrag);
      },
    };
    for (const protocol of protocols) {
      const own = protocol.transport;
      protocol.transport = transport;
      void own.close();
    }
    const first = protocols[0]!;
    mux.register(this.#ufrag, {
      deliver: (data, from) => {
        this.#lastDatagram = Date.now();
        this.#arrivedAt = performance.now();
        if (this.#srtpReceived(data)) return;
        first.datagramReceived(data, from);
        // A DTLS alert record (content type 21; its type is readable though its body is
        // encrypted) from a connected browser is its close_notify on pc.close(): werift
        // 0.24 does not surface it, so the session ends here instead of at the silence timeout.
        if (data[0] === DTLS_ALERT && this.state === 'connected') this.close('browser closed the connection');
      },
    });
    this.#silenceTimer = setInterval(() => {
      const silent = Date.now() - this.#lastDatagram;
      if (this.state === 'connected' && silent > (this.#deps.silenceMs ?? BROWSER_SILENCE_MS)) this.close(`browser gone: no packet for ${Math.round(silent / 1000)} s`);
    }, 1000);
    this.#silenceTimer.unref();
  }

  /**
   * The browser's audio, short-cut: once DTLS has set up SRTP, an SRTP packet is decrypted
   * with werift's own session of this PeerConnection and its payload goes straight to the
   * downlink. werift's path for it (ICE → DTLS transport → a second RTP parse → router →
   * receiver statistics → track event) cost more than the decryption itself (docs/intercom.md).
   * STUN, DTLS and SRTCP still go through werift. False: not for this path.
   */
  #srtpReceived(data: Buffer): boolean {
    // RFC 7983: 128–191 is RTP or RTCP; RTCP's packet types 192–223 sit in the second byte.
    if (this.state !== 'connected' || data.length < 12 || data[0]! < 128 || data[0]! > 191 || (data[1]! >= 192 && data[1]! <= 223)) return false;
    const dtls = this.#transceiver?.dtlsTransport;
    if (!dtls || dtls.state !== 'connected' || !dtls.srtp) return false;
    let plain: Buffer;
    try {
      plain = dtls.srtp.decrypt(data);
    } catch {
      this.#deps.counters.add('intercom_drops|srtp');
      return true;
    }
    const parsed = parseRtpPacket(plain);
    if (!parsed.ok) {
      this.#deps.counters.add('intercom_drops|srtp');
      return true;
    }
    // Only the negotiated codec is audio (anything else, such as comfort noise, is not sent on).
    if (parsed.packet.payloadType === INTERCOM_CODECS[this.codec].payloadType) this.#downlink(parsed.packet.payload);
    return true;
  }

  #stateChanged(state: string): void {
    if (this.state === 'closed') return;
    if (state === 'connected') {
      if (this.#disconnectTimer) clearTimeout(this.#disconnectTimer);
      this.#disconnectTimer = null;
      if (this.state === 'new') {
        this.state = 'connected';
        if (this.#connectTimer) clearTimeout(this.#connectTimer);
        this.#connectTimer = null;
        this.#deps.onConnected(this.id);
      }
    } else if (state === 'failed') this.close('ICE failed');
    else if (state === 'closed') this.close('browser closed the connection');
    else if (state === 'disconnected' && !this.#disconnectTimer) {
      this.#disconnectTimer = setTimeout(() => this.close('browser disconnected'), DISCONNECTED_GRACE_MS);
    }
  }

  #sink(index: number): TalkSink {
    return {
      uplink: (packet, arrivedAt) => {
        if (index === 0) this.#uplink(packet, arrivedAt);
      },
      terminalGone: () => this.#terminalGone(),
    };
  }

  /** The broadcast's camera INVITEd: its audio goes there from now on. Resolves with our local media port. */
  async attachCamera(target: IntercomRtpTarget, bindHost: string): Promise<number> {
    if (!this.camera) throw new ServiceError(409, '1002', `intercom ${this.id} is not a broadcast to a camera`);
    if (this.#cameraSink) throw new ServiceError(409, '1002', `intercom ${this.id} already sends to ${this.#cameraSink.target.host}:${this.#cameraSink.target.port}`);
    const sink = new CameraSink(target, { bindHost, onGone: (reason) => this.close(reason) });
    const port = await sink.open();
    if (this.state === 'closed') {
      sink.close();
      throw new ServiceError(404, '1002', `intercom ${this.id} ended`);
    }
    this.#cameraSink = sink;
    // The browser only gets its answer now (after the camera's INVITE): its connectTimeout starts over.
    if (this.state === 'new') this.#armConnectTimer();
    return port;
  }

  /** Downlink to a camera: the browser's G.711A as it came (the session negotiated PCMA). */
  #toCamera(payload: Uint8Array): void {
    const { counters } = this.#deps;
    const result = this.#cameraSink?.write(payload) ?? 'not-connected';
    if (result === 'ok') {
      this.packetsDown++;
      counters.add('intercom_packets|down');
      counters.add('intercom_latency_us|down', Math.round((performance.now() - this.#arrivedAt) * 1000));
      return;
    }
    this.drops++;
    counters.add(result === 'slow' ? 'intercom_drops|slow-terminal' : 'intercom_drops|no-terminal');
  }

  /** Downlink: one RTP packet from the browser to every target's terminal (transcoded first for ADPCM and G.726), or to the camera. */
  #downlink(payload: Uint8Array): void {
    if (this.state === 'closed' || this.mode === 'listen') return;
    if (this.camera) {
      this.#toCamera(payload);
      return;
    }
    if (!this.#downCodec) {
      this.#toTerminals(payload);
      return;
    }
    let bodies: Uint8Array[];
    try {
      bodies = this.#downCodec.encode(decodeG711(payload, INTERCOM_CODECS[this.codec].law ?? 'alaw'));
    } catch {
      this.#deps.counters.add('intercom_transcode_errors|down');
      return;
    }
    for (const body of bodies) this.#toTerminals(body);
  }

  #toTerminals(body: Uint8Array): void {
    const { counters, pool } = this.#deps;
    const now = Date.now();
    const sequence = this.#sequence;
    this.#sequence = (this.#sequence + 1) & 0xffff;
    for (const target of this.targets) {
      if (!pool.terminalConnected(target.port)) {
        counters.add('intercom_drops|no-terminal');
        this.drops++;
        continue;
      }
      const packet = encodeJt1078Packet({
        payloadType: this.#terminalPt,
        sequence,
        sim: target.sim,
        channel: target.channel,
        dataType: DataType.Audio,
        subPackage: SubPackage.Atomic,
        timestamp: now,
        body,
      });
      const result = pool.write(target.port, packet, now);
      if (result === 'ok') {
        this.#heard.add(target.port);
        this.packetsDown++;
        counters.add('intercom_packets|down');
        counters.add('intercom_latency_us|down', Math.round((performance.now() - this.#arrivedAt) * 1000));
      } else {
        this.drops++;
        counters.add(result === 'slow' ? 'intercom_drops|slow-terminal' : 'intercom_drops|no-terminal');
      }
    }
  }

  /** Uplink: the terminal's audio to the browser in the negotiated codec. */
  #uplink(packet: Jt1078Packet, arrivedAt: number): void {
    if (this.state === 'closed' || this.mode === 'broadcast') return;
    const { counters } = this.#deps;
    this.#heard.add(this.targets[0]!.port);
    const codec = INTERCOM_CODECS[this.codec];
    let body: Uint8Array = packet.body.subarray(hisiliconPrefixLength(packet.body));
    if (packet.payloadType !== codec.jt1078) {
      const from: G711Law | null = packet.payloadType === 6 ? 'alaw' : packet.payloadType === 7 ? 'ulaw' : null;
      if (codec.law === null) {
        counters.add('intercom_drops|codec');
        this.drops++;
        return;
      }
      if (from !== null) body = transcodeG711(body, from, codec.law);
      else {
        // ADPCM or G.726: decoded to PCM, encoded in the browser's G.711.
        let decoder = this.#upCodecs.get(packet.payloadType);
        if (decoder === undefined) this.#upCodecs.set(packet.payloadType, (decoder = jt1078AudioCodec(packet.payloadType)));
        if (decoder === null) {
          counters.add('intercom_drops|codec');
          this.drops++;
          return;
        }
        try {
          body = encodeG711(decoder.decode(packet.body), codec.law);
        } catch {
          counters.add('intercom_transcode_errors|up');
          this.drops++;
          return;
        }
      }
    }
    if (this.state !== 'connected' || !this.#transceiver || body.length === 0) {
      counters.add('intercom_drops|not-connected');
      this.drops++;
      return;
    }
    const { sender, dtlsTransport } = this.#transceiver;
    const header = new RtpHeader({ payloadType: codec.payloadType, sequenceNumber: this.#rtpSequence, timestamp: this.#rtpTimestamp, marker: this.packetsUp === 0, ssrc: sender.ssrc });
    this.#rtpSequence = (this.#rtpSequence + 1) & 0xffff;
    // G.711 is one byte per 8 kHz sample; G.722 two 16 kHz samples per byte on an 8 kHz RTP clock.
    this.#rtpTimestamp = (this.#rtpTimestamp + body.length) >>> 0;
    // Copied: the packet body is a view into the framer's buffer.
    const payload = Buffer.from(body);
    // Once a second the packet goes through werift's RtpSender, which keeps its RTCP sender
    // report's NTP/RTP time pair and starts the reports; the others go straight to the DTLS
    // transport's SRTP (the sender's per-packet bookkeeping — header extensions, history,
    // bandwidth estimation — cost more than the encryption), with the report's packet and
    // octet counts kept here.
    const report = sender as unknown as SenderReportCounts;
    if (this.packetsUp % SENDER_REPORT_EVERY === 0 || typeof report.packetCount !== 'number' || dtlsTransport.state !== 'connected') {
      void sender.sendRtp(new RtpPacket(header, payload));
    } else {
      report.packetCount = (report.packetCount + 1) >>> 0;
      report.octetCount += payload.length;
      void dtlsTransport.sendRtp(payload, header);
    }
    this.packetsUp++;
    counters.add('intercom_packets|up');
    counters.add('intercom_latency_us|up', Math.round((performance.now() - arrivedAt) * 1000));
  }

  /** A talk connection closed: the intercom ends once no target that had a terminal has one any more. */
  #terminalGone(): void {
    if (this.state === 'closed') return;
    const anyLeft = this.targets.some((t) => this.#deps.pool.terminalConnected(t.port));
    if (!anyLeft) this.close('terminal closed the talk connection');
  }

  info(): IntercomInfo {
    return {
      id: this.id,
      sdp: this.answer,
      codec: this.codec,
      targets: this.targets,
      ...(this.camera ? { camera: this.camera } : {}),
      mode: this.mode,
      state: this.state === 'connected' ? 'connected' : 'new',
      startedAt: this.startedAt,
      packetsDown: this.packetsDown,
      packetsUp: this.packetsUp,
      drops: this.drops,
    };
  }

  /** Ends the session once: ports back to the pool, the PeerConnection closed, `onEnded`. */
  close(reason: string): void {
    if (this.state === 'closed') return;
    this.#teardown();
    this.#deps.counters.add('intercom_sessions|ended');
    this.#deps.onEnded({
      id: this.id,
      codec: this.codec,
      mode: this.mode,
      targets: this.targets,
      ...(this.camera ? { camera: this.camera } : {}),
      reason,
      startedAt: this.startedAt,
      endedAt: Date.now(),
      packetsDown: this.packetsDown,
      packetsUp: this.packetsUp,
      drops: this.drops,
    });
  }

  #teardown(): void {
    this.state = 'closed';
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    if (this.#disconnectTimer) clearTimeout(this.#disconnectTimer);
    if (this.#silenceTimer) clearInterval(this.#silenceTimer);
    this.#connectTimer = this.#disconnectTimer = this.#silenceTimer = null;
    for (const target of this.targets) this.#deps.pool.release(target.port);
    this.#cameraSink?.close();
    if (this.#ufrag) this.#deps.mux.unregister(this.#ufrag);
    void this.#pc.close().catch(() => {});
  }
}

/** The answer with its candidates replaced by the one host candidate publicIp:port. */
export function rewriteCandidates(sdp: string, ip: string, port: number): string {
  const lines = sdp.split(/\r?\n/).filter((l) => l.length > 0);
  const out: string[] = [];
  const candidate = `a=candidate:1 1 udp 2130706431 ${ip} ${port} typ host`;
  let inMedia = false;
  const endMedia = () => {
    if (inMedia) out.push(candidate, 'a=end-of-candidates');
  };
  for (const line of lines) {
    if (line.startsWith('m=')) {
      endMedia();
      inMedia = true;
      const parts = line.split(' ');
      if (parts[1] !== '0') parts[1] = String(port);
      out.push(parts.join(' '));
      continue;
    }
    if (line.startsWith('a=candidate:') || line === 'a=end-of-candidates') continue;
    if (line.startsWith('c=IN IP4 ')) {
      out.push(`c=IN IP4 ${ip}`);
      continue;
    }
    out.push(line);
  }
  endMedia();
  return out.join('\r\n') + '\r\n';
}
