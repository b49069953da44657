import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { PsRtpFrameGrouper, PsRtpReceiver, Rfc4571Decoder } from '../protocol/rtp/index.js';
import type { DestinationWithSsrc } from '../shared/contracts/destination.js';
import type { RecordProgress, RecordTarget } from '../shared/contracts/media.js';
import type { SharedCounters } from '../shared/counters.js';
import type { AvFrame } from '../protocol/av/frame.js';
import { RtpFanout, type RtpFanoutListen, type RtpSender, type RtpSenderSettings } from './rtp-sender.js';
import { DownloadRecorder } from './download-recorder.js';

/** How often a download reports its progress. */
const PROGRESS_INTERVAL_MS = 1000;

/**
 * GB28181 media in: PS over RTP on a port of `media.rtpPorts`, UDP or TCP passive
 * (RFC 4571), owned by the media worker the stream is pinned to. Frames go to the
 * stream's outputs; a stream that gets no media for `mediaTimeoutMs` ends with a reason.
 *
 * Decoding is lazy: forwards relay the packets as they came, so once the stream has
 * started and shown a key frame, the PS is demuxed into frames only while something
 * uses them (`hooks.framesWanted`: viewers watching, remuxed outputs, a download always).
 * When viewers come back, `resumeFrames` replays the relays' cached GOP through a fresh
 * demuxer first, so they still start on a key frame at once.
 */

export interface RtpIngestOptions {
  name: string;
  port: number;
  host: string;
  transport: 'udp' | 'tcp';
  /** Accept only this SSRC (the INVITE's y=); absent: lock to the first seen. */
  ssrc?: number;
  mediaTimeoutMs: number;
  /** A download: the PS byte stream goes to this file too. */
  record?: RecordTarget;
}

export interface RtpIngestHooks {
  started(ingest: RtpIngest): void;
  frame(ingest: RtpIngest, frame: AvFrame): void;
  stopped(ingest: RtpIngest, reason: string): void;
  /** A download's progress; the last one (`final`) comes before `stopped`. */
  recorded?(ingest: RtpIngest, progress: RecordProgress): void;
  /** Whether frames are used now; absent: always. */
  framesWanted?(ingest: RtpIngest): boolean;
  /** RTP payload bytes that were not demuxed (no frames wanted). */
  skippedBytes?(ingest: RtpIngest, bytes: number): void;
}

export class RtpIngest {
  readonly options: RtpIngestOptions;
  startedAt = 0;
  #hooks: RtpIngestHooks;
  #counters: SharedCounters;
  #receiver: PsRtpReceiver;
  /** Demuxing now; false while nobody uses frames (see the class comment). */
  #demuxing = true;
  /** A video key frame came out of the demuxer: the stream's codec and size are known. */
  #keySeen = false;
  #udp: UdpSocket | null = null;
  #tcp: Server | null = null;
  #lastPacketAt = Date.now();
  #watchdog: NodeJS.Timeout | null = null;
  #closed = false;
  /** Relays: the input's packets grouped into frames (key frames spotted) for the senders. */
  #relays: RtpFanout;
  #grouper: PsRtpFrameGrouper;
  #recorder: DownloadRecorder | null = null;
  #progressTimer: NodeJS.Timeout | null = null;

  constructor(options: RtpIngestOptions, hooks: RtpIngestHooks, counters: SharedCounters, relaySettings: RtpSenderSettings = {}) {
    this.options = options;
    this.#hooks = hooks;
    this.#counters = counters;
    this.#relays = new RtpFanout(counters, relaySettings);
    this.#grouper = new PsRtpFrameGrouper((part) => this.#relays.send(part));
    this.#receiver = this.#newReceiver();
  }

  #newReceiver(): PsRtpReceiver {
    const { options } = this;
    return new PsRtpReceiver((frame) => this.#frame(frame), {
      ssrc: options.ssrc ?? 'first',
      ...(options.record?.format === 'ps' ? { onPayload: (payload: Uint8Array) => this.#recorded(this.#recorder?.write(payload)) } : {}),
    });
  }

  get name(): string {
    return this.options.name;
  }

  /** Binds the port; rejects (e.g. EADDRINUSE) so the caller can try another. */
  async open(): Promise<void> {
    const { host, port, transport } = this.options;
    if (transport === 'udp') {
      const socket = createSocket({ type: 'udp4' });
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(port, host, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      try {
        socket.setRecvBufferSize(4 * 1024 * 1024);
      } catch {
        // capped by net.core.rmem_max
      }
      socket.on('message', (datagram) => this.#packet(datagram));
      socket.on('error', () => this.#counters.add('socket_errors|rtp'));
      this.#udp = socket;
    } else {
      const server = createServer((conn) => {
        // One sender per stream (passive mode): a newer connection replaces the old one.
        const decoder = new Rfc4571Decoder((packet) => this.#packet(packet));
        conn.on('data', (chunk) => decoder.push(chunk));
        conn.on('error', () => this.#counters.add('socket_errors|rtp'));
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      this.#tcp = server;
    }
    if (this.options.record) {
      // A file that cannot be written fails the open, before any INVITE goes out.
      try {
        this.#recorder = new DownloadRecorder(this.options.record);
      } catch (error) {
        this.#udp?.close();
        this.#tcp?.close();
        // Lower case: the port allocator takes an upper-case EACCES for a busy port and tries another.
        throw new Error(`cannot write the download file (${String((error as NodeJS.ErrnoException).code ?? 'error').toLowerCase()})`);
      }
    }
    this.#lastPacketAt = Date.now();
    if (this.#recorder) {
      const recorder = this.#recorder;
      this.#progressTimer = setInterval(() => this.#hooks.recorded?.(this, recorder.progress(this.name, false)), PROGRESS_INTERVAL_MS);
    }
    this.#watchdog = setInterval(() => {
      if (Date.now() - this.#lastPacketAt >= this.options.mediaTimeoutMs) this.close('media timeout');
    }, Math.min(1000, this.options.mediaTimeoutMs));
  }

  #packet(datagram: Uint8Array): void {
    this.#lastPacketAt = Date.now();
    this.#counters.add('packets_in|rtp');
    this.#counters.add('bytes_in|rtp', datagram.length);
    if (this.#relays.senders.length > 0 || this.#relays.caching) this.#grouper.push(datagram);
    if (this.#demuxing && this.#keySeen && !this.#recorder && this.#hooks.framesWanted?.(this) === false) this.#demuxing = false;
    if (this.#demuxing) this.#receiver.pushRtp(datagram);
    else this.#hooks.skippedBytes?.(this, Math.max(0, datagram.length - 12));
  }

  /** Whether the PS is being demuxed into frames now. */
  get demuxing(): boolean {
    return this.#demuxing;
  }

  /**
   * Frames are wanted again: a fresh demuxer gets the relays' cached GOP (so the first
   * frames out are its key frame and what followed), then the live packets.
   */
  resumeFrames(): void {
    if (this.#demuxing || this.#closed) return;
    this.#demuxing = true;
    this.#receiver = this.#newReceiver();
    for (const part of this.#relays.gop) for (const packet of part.packets) this.#receiver.pushRtp(packet);
  }

  get relays(): DestinationWithSsrc[] {
    return this.#relays.senders.map((r) => ({ ...r.destination, ssrc: r.ssrc }));
  }

  /** The relay senders, for their stats. */
  get relaySenders(): readonly RtpSender[] {
    return this.#relays.senders;
  }

  /**
   * Relays the input's packets, unchanged but for SSRC and sequence, to one more
   * destination, starting with the last GOP received (PSM and IDR first).
   */
  addRelay(target: DestinationWithSsrc, listen?: RtpFanoutListen): void {
    this.#relays.add(target, target.ssrc, listen);
  }

  removeRelay(host: string, port: number): boolean {
    return this.#relays.remove(host, port);
  }

  /** After a write to the download's file: a file that stopped (size limit, I/O error) closes the input. */
  #recorded(ok: boolean | undefined): void {
    if (ok !== false || !this.#recorder) return;
    // Not from inside the receiver's callback: close() flushes the receiver.
    const reason = this.#recorder.failure ?? 'file write failed';
    setImmediate(() => this.close(reason));
  }

  #frame(frame: AvFrame): void {
    if (this.#closed) return;
    if (this.#recorder) this.#recorded(this.#recorder.frame(frame));
    if (this.startedAt === 0) {
      this.startedAt = Date.now();
      this.#counters.add('streams_started|rtp');
      this.#hooks.started(this);
    }
    if (frame.kind === 'video' && frame.key) this.#keySeen = true;
    this.#counters.add(frame.kind === 'video' ? 'frames_in|video' : 'frames_in|audio');
    this.#hooks.frame(this, frame);
  }

  close(reason: string): void {
    if (this.#closed) return;
    if (this.#watchdog) clearInterval(this.#watchdog);
    if (this.#progressTimer) clearInterval(this.#progressTimer);
    this.#receiver.flush();
    this.#closed = true;
    if (this.#recorder) {
      this.#recorder.close();
      this.#hooks.recorded?.(this, this.#recorder.progress(this.name, true));
    }
    this.#relays.close();
    this.#udp?.close();
    this.#tcp?.close();
    if (this.startedAt !== 0) this.#counters.add('streams_stopped|rtp');
    this.#hooks.stopped(this, reason);
  }
}
