/**
 * The terminal's side of a talk connection (0x9101 data type 2/3/4): connects to the
 * platform's audio port, decodes the G.711 audio it receives (downlink) and feeds a tone
 * detector, and sends audio (uplink) as JT/T 1078 audio packets paced every 20 ms: a tone
 * encoded in the terminal's codec, or the packets of a capture (e.g. audio_data.txt) as they are.
 */
import { createConnection, type Socket } from 'node:net';
import { jt1078AudioCodec, withHisiliconPrefix, type Jt1078AudioCodec } from '../../protocol/audio/jt1078-audio.js';
import { DataType, encodeJt1078Packet, Jt1078StreamFramer, SubPackage, type Jt1078Packet } from '../../protocol/jt1078/index.js';
import { sineSamples, ToneDetector } from './tone.js';

export interface TalkClientOptions {
  host: string;
  port: number;
  sim: string;
  channel: number;
  /** JT/T 1078 payload type the terminal speaks: 6 G.711A, 7 G.711U, 26 ADPCM (IMA), 8 G.726 (40 ms frames, 32 kbit/s). */
  payloadType: number;
  /** Frequency to look for in the downlink. Default 1000. */
  detect?: number;
  /** Put a HiSilicon prefix (00 01 LL 00) in front of uplink audio (ADPCM: default on, as terminals do). */
  hisilicon?: boolean;
}

export interface TalkClientStats {
  packetsIn: number;
  packetsOut: number;
  /** Downlink packets whose PT was not the terminal's codec. */
  wrongCodec: number;
  /** Downlink bodies that did not decode. */
  decodeErrors: number;
  lastSequence: number;
}

export class TalkClient {
  readonly stats: TalkClientStats = { packetsIn: 0, packetsOut: 0, wrongCodec: 0, decodeErrors: 0, lastSequence: -1 };
  readonly detector: ToneDetector;
  readonly received: Jt1078Packet[] = [];
  onPacket: (packet: Jt1078Packet) => void = () => {};
  #socket: Socket | null = null;
  #framer = new Jt1078StreamFramer();
  #timer: NodeJS.Timeout | null = null;
  #seq = 0;
  #sample = 0;
  #closed: Promise<void> | null = null;
  /** Encodes what it sends (the terminal's codec). */
  #encoder: Jt1078AudioCodec;
  /** Decoders of what it receives, by payload type. */
  #decoders = new Map<number, Jt1078AudioCodec | null>();

  constructor(readonly options: TalkClientOptions) {
    this.detector = new ToneDetector(options.detect ?? 1000);
    const encoder = jt1078AudioCodec(options.payloadType, { hisilicon: options.hisilicon ?? true });
    if (!encoder) throw new RangeError(`payloadType: ${options.payloadType} is not a codec the simulator speaks (6, 7, 26, 8)`);
    this.#encoder = encoder;
  }

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: this.options.host, port: this.options.port, noDelay: true });
      this.#socket = socket;
      socket.once('connect', () => resolve());
      socket.once('error', reject);
      socket.on('error', () => {});
      socket.on('data', (chunk) => this.#read(chunk));
      this.#closed = new Promise((r) => socket.once('close', () => r()));
    });
  }

  get closed(): Promise<void> {
    return this.#closed ?? Promise.resolve();
  }

  get connected(): boolean {
    return this.#socket !== null && !this.#socket.destroyed;
  }

  #read(chunk: Buffer): void {
    this.#framer.push(chunk);
    for (let p = this.#framer.next(); p !== null; p = this.#framer.next()) {
      if (p.dataType !== DataType.Audio) continue;
      this.stats.packetsIn++;
      this.stats.lastSequence = p.sequence;
      const packet = { ...p, body: Buffer.from(p.body) };
      this.received.push(packet);
      if (this.received.length > 2000) this.received.shift();
      if (p.payloadType !== this.options.payloadType) this.stats.wrongCodec++;
      let decoder = this.#decoders.get(p.payloadType);
      if (decoder === undefined) this.#decoders.set(p.payloadType, (decoder = jt1078AudioCodec(p.payloadType)));
      try {
        if (decoder) this.detector.push(decoder.decode(packet.body));
      } catch {
        this.stats.decodeErrors++;
      }
      this.onPacket(packet);
    }
  }

  /** Writes one audio packet with this body as it is (the terminal's SIM, channel and codec). */
  sendAudio(framed: Uint8Array, payloadType = this.options.payloadType): void {
    const packet = encodeJt1078Packet({
      payloadType,
      sequence: this.#seq,
      sim: this.options.sim,
      channel: this.options.channel,
      dataType: DataType.Audio,
      subPackage: SubPackage.Atomic,
      timestamp: this.#seq * 20,
      body: framed,
    });
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#socket?.write(packet);
    this.stats.packetsOut++;
  }

  /** Sends a tone in the terminal's codec, 160 samples (20 ms) per packet, until stopSending(). */
  sendTone(frequency: number): void {
    this.stopSending();
    this.#timer = setInterval(() => {
      const g711 = this.options.payloadType === 6 || this.options.payloadType === 7;
      for (const body of this.#encoder.encode(sineSamples(frequency, 8000, 160, 8000, this.#sample))) {
        this.sendAudio(g711 && this.options.hisilicon ? withHisiliconPrefix(body) : body);
      }
      this.#sample += 160;
    }, 20);
  }

  /** Sends the audio packets of a capture (their bodies and PTs) paced every `intervalMs` (20), looping. */
  sendPackets(packets: ReadonlyArray<{ payloadType: number; body: Uint8Array }>, intervalMs = 20): void {
    this.stopSending();
    let i = 0;
    this.#timer = setInterval(() => {
      const p = packets[i++ % packets.length]!;
      this.sendAudio(p.body, p.payloadType);
    }, intervalMs);
  }

  stopSending(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  close(): Promise<void> {
    this.stopSending();
    this.#socket?.end();
    this.#socket?.destroy();
    return this.closed;
  }
}
