/**
 * A long-lived media worker thread (docs/threads.md). Bytes of the JT/T 1078
 * connections pinned to it arrive through its SharedArrayBuffer ring (never
 * per-packet postMessage); GB28181 inputs arrive on RTP ports it owns. Every input
 * becomes a MediaStream that owns its outputs and viewers. Control (stream events,
 * forwards) goes over the channel typed by src/shared/contracts/media.ts.
 *
 * Owns: the ring reader, the FLV viewer server, JT/T 1078 connections, RTP inputs,
 * and the MediaStreams. close() closes streams (reason `shutdown`), then inputs,
 * then the viewer server and the socket.
 */
import type { Jt1078FrameEvent } from '../protocol/jt1078/index.js';
import type { ChildChannel } from '../shared/contracts/lifecycle.js';
import type { MediaWorkerContract, MediaWorkerInit, MediaWorkerPing, StreamInfo, WorkerRtpOpenRequest } from '../shared/contracts/media.js';
import { MEDIA_COUNTER_NAMES } from '../shared/contracts/media-counters.js';
import { SharedCounters } from '../shared/counters.js';
import { conflict, missing } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { RingReader } from '../shared/ring.js';
import { parseIngestTag } from '../shared/contracts/ingest-ring.js';
import { FlvPublisher } from './flv-publisher.js';
import { Jt1078Connection, watchStalls, type IngestHooks, type IngestStream } from './jt1078-ingest.js';
import { MediaStream, type ViewerPort } from './media-stream.js';
import { RtpIngest } from './rtp-ingest.js';
import { StreamOutputs } from './rtp-output.js';
import type { RtpSenderSettings } from './rtp-sender.js';
import { ssrcForName, type Destination } from '../shared/contracts/destination.js';
import { createServer, type Server } from 'node:net';

type WorkerChannel = ChildChannel<MediaWorkerContract>;

export class MediaWorker {
  readonly slot: number;
  #init: MediaWorkerInit;
  #channel: WorkerChannel;
  #log: Logger;
  #counters: SharedCounters;
  #streams = new Map<string, MediaStream>();
  #connections = new Map<number, Jt1078Connection>();
  #rtpInputs = new Map<string, RtpIngest>();
  #reader: RingReader | null = null;
  #senderSettings: RtpSenderSettings;
  #flv: FlvPublisher | null = null;
  #stallTimer: NodeJS.Timeout | null = null;

  constructor(init: MediaWorkerInit, channel: WorkerChannel) {
    this.slot = init.slot;
    this.#init = init;
    this.#channel = channel;
    this.#log = createLogger(init.logLevel, { process: 'media', worker: init.slot });
    this.#counters = SharedCounters.attach(init.counters, MEDIA_COUNTER_NAMES);
    this.#senderSettings = { highWaterBytes: init.forwardHighWater };
    this.#serve();
  }

  async start(): Promise<void> {
    // Lazy: a stream is muxed to FLV only while the viewer server wants it (`flv.want`).
    if (this.#init.flvRing) this.#flv = new FlvPublisher(this.#init.flvRing, { lazy: true });
    this.#stallTimer = watchStalls(this.#connections, this.#init.packetTimeoutMs, (connId) => {
      this.#log.info({ connId }, 'JT/T 1078 connection sent no complete packet in time; closing it');
      this.#channel.notify('connection.stalled', { connId, slot: this.slot });
    });
    this.#reader = new RingReader(this.#init.ring);
    void this.#reader.run((view, tag) => this.#ringRecord(view, tag));
    this.#log.info({ viewers: this.#flv !== null }, 'media worker started');
  }

  ping(): MediaWorkerPing {
    const flv = this.#flv?.stats();
    return {
      role: 'media-worker',
      connections: this.#connections.size,
      streams: this.#streams.size,
      flvDroppedTags: flv?.droppedTags ?? 0,
      flvTags: flv?.tagsWritten ?? 0,
      flvWanted: flv?.wanted ?? 0,
      rtpInputsDecoding: [...this.#rtpInputs.values()].filter((input) => input.demuxing).length,
    };
  }

  close(): void {
    if (this.#stallTimer) clearInterval(this.#stallTimer);
    for (const stream of [...this.#streams.values()]) stream.close('shutdown');
    for (const conn of this.#connections.values()) conn.close('shutdown');
    this.#connections.clear();
    this.#reader?.close();
    this.#flv?.end('media worker stopped');
    this.#log.info('media worker stopped');
  }

  /** The FLV publisher as the viewer port of streams (null: viewers off). */
  #viewers(): ViewerPort | null {
    return this.#flv;
  }

  /** Registers a stream; its `close` reports it stopped, unless a newer stream took its name. */
  #adopt(stream: MediaStream): MediaStream {
    this.#streams.set(stream.name, stream);
    stream.once('close', (reason) => {
      if (this.#streams.get(stream.name) !== stream) return;
      this.#streams.delete(stream.name);
      this.#channel.notify('stream.stopped', { ...stream.info, destinations: stream.outputs.destinations, reason, endedAt: Date.now() });
    });
    return stream;
  }

  #newStream(info: StreamInfo, destinations: Destination[], source: RtpIngest | null): MediaStream {
    return new MediaStream({
      info,
      // A GB28181 input's forwards are relays of its packets (RtpIngest keeps their GOP);
      // its remuxed outputs serve only the destinations it opened with, so they keep none.
      outputs: new StreamOutputs(info.name, destinations, null, this.#counters, source ? { ...this.#senderSettings, gopCacheBytes: 0 } : this.#senderSettings),
      viewers: this.#viewers(),
      source,
      log: this.#log.child({ stream: info.name }),
    });
  }

  // --- JT/T 1078: connections whose bytes come through the ring -------------------

  #ringRecord(view: Uint8Array, tag: number): void {
    const { connId, kind } = parseIngestTag(tag);
    let conn = this.#connections.get(connId);
    if (view.length === 0) {
      conn?.close('connection closed');
      this.#connections.delete(connId);
      return;
    }
    if (!conn) {
      conn = new Jt1078Connection(connId, kind, this.#init.prefixes[kind], this.#jt1078Hooks, this.#counters);
      this.#connections.set(connId, conn);
    }
    // The view lives only during this callback; frames may keep views of the chunk.
    conn.push(view.slice());
  }

  #infoOf(s: IngestStream): StreamInfo {
    return { name: s.name, sim: s.sim, channel: s.channel, kind: s.kind, connId: s.connId, startedAt: s.startedAt, slot: this.slot };
  }

  #jt1078Hooks: IngestHooks = {
    streamStarted: (s) => {
      const previous = this.#streams.get(s.name);
      const stream = this.#adopt(this.#newStream(this.#infoOf(s), this.#init.forward, null));
      // The same terminal channel on a new connection: the newest wins; the media
      // process reports the old one stopped and closes its connection.
      previous?.close('replaced by a new connection');
      stream.started({});
      this.#channel.notify('stream.started', { ...stream.info, destinations: stream.outputs.destinations });
    },
    frame: (s, event: Jt1078FrameEvent) => {
      const stream = this.#streams.get(s.name);
      if (stream?.info.connId === s.connId) stream.write(event.frame);
    },
    streamStopped: (s, reason) => {
      const stream = this.#streams.get(s.name);
      if (stream?.info.connId === s.connId) return stream.sourceClosed(reason);
      // A newer connection owns the name: report this one's end as old news.
      this.#channel.notify('stream.stopped', { ...this.#infoOf(s), reason, endedAt: Date.now() });
    },
  };

  // --- Requests from the media process ------------------------------------------

  #serve(): void {
    this.#channel.onNote('flv.want', ({ index, wanted, epoch }) => this.#flv?.streams.get(index)?.want(wanted, epoch));
    this.#channel
      .handle('rtp.open', (request) => this.#openRtp(request))
      .handle('rtp.close', ({ name, reason }) => {
        const stream = this.#rtpInputs.has(name) ? this.#streams.get(name) : undefined;
        stream?.close(reason ?? 'closed by request');
        return stream !== undefined;
      })
      .handle('forward.add', async ({ name, destination, bind }) => {
        // A GB28181 input is relayed packet by packet (no remux, own SSRC and sequence);
        // a JT/T 1078 stream gets one more PS/RTP output.
        if (!this.#rtpInputs.has(name) && !this.#streams.has(name)) throw missing(`no stream ${name} on media worker ${this.slot}`);
        // A receiver that connects to us: bound first, so a busy port fails this request (the media process tries another).
        const server = destination.listen ? await listenTcp(bind ?? '0.0.0.0', destination.port) : undefined;
        const input = this.#rtpInputs.get(name);
        const stream = this.#streams.get(name);
        if (!input && !stream) {
          server?.close();
          throw missing(`stream ${name} ended on media worker ${this.slot}`);
        }
        const { host, port } = destination;
        const listen = server && {
          server,
          ended: (reason: string) => {
            if (this.#rtpInputs.get(name)?.removeRelay(host, port) || this.#streams.get(name)?.outputs.remove(host, port)) {
              this.#channel.notify('forward.ended', { name, host, port, reason });
            }
          },
        };
        if (input) {
          const ssrc = destination.ssrc ?? ssrcForName(`${name}>${destination.host}:${destination.port}`);
          input.addRelay({ ...destination, ssrc }, listen);
          return { ssrc, mode: 'relay', ...(server ? { port } : {}) };
        }
        return { ssrc: stream!.outputs.add(destination, listen), mode: 'remux', ...(server ? { port } : {}) };
      })
      .handle('forward.remove', ({ name, host, port }) => {
        const input = this.#rtpInputs.get(name);
        if (input) return input.removeRelay(host, port);
        return this.#streams.get(name)?.outputs.remove(host, port) ?? false;
      })
      .handle('forward.list', ({ name }) => this.#rtpInputs.get(name)?.relays ?? this.#streams.get(name)?.outputs.destinations ?? [])
      .handle('streams', () => [...this.#streams.values()].map((s) => ({ ...s.info, destinations: s.outputs.destinations })));
  }

  /** GB28181 PS/RTP in, on the port the media process picked; announced at its first frame. */
  async #openRtp(request: WorkerRtpOpenRequest): Promise<{ port: number }> {
    const { destinations, ...options } = request;
    if (this.#streams.has(options.name)) throw conflict(`stream ${options.name} is already open`);
    let stream: MediaStream | null = null;
    const input = new RtpIngest(
      options,
      {
        started: (i) => {
          stream?.started({ startedAt: i.startedAt });
          this.#channel.notify('stream.started', { ...stream!.info, destinations: stream!.outputs.destinations });
        },
        frame: (_i, frame) => stream?.write(frame),
        stopped: (i, reason) => {
          this.#rtpInputs.delete(i.name);
          stream?.sourceClosed(reason);
        },
        recorded: (_i, progress) => this.#channel.notify('record.progress', progress),
        framesWanted: () => stream?.framesWanted ?? true,
        skippedBytes: (_i, bytes) => stream?.countBytes(bytes),
      },
      this.#counters,
      this.#senderSettings,
    );
    await input.open();
    stream = this.#adopt(this.#newStream({ name: options.name, kind: 'gb28181', slot: this.slot, port: options.port, connId: -1, startedAt: 0 }, destinations, input));
    stream.onFramesWanted(() => input.resumeFrames());
    this.#rtpInputs.set(options.name, input);
    return { port: options.port };
  }
}

/** A TCP server bound to host:port, or the bind error (EADDRINUSE names a busy port). */
function listenTcp(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
