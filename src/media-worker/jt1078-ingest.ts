import {
  Jt1078Reassembler,
  Jt1078StreamFramer,
  jt1078StreamName,
  normalizeSim,
  type Jt1078FrameEvent,
} from '../protocol/jt1078/index.js';
import type { SharedCounters } from '../shared/counters.js';
import { JT1078_DROP_REASONS } from '../shared/contracts/media-counters.js';

/**
 * One JT/T 1078 TCP connection inside a media worker: bytes in, streams and frames
 * out. A connection may carry several logical channels; each (SIM, channel) is one
 * stream, announced after its first complete frame (as m7s does: a connection that
 * only sends garbage never becomes a stream).
 */

import type { IngestKind } from '../shared/contracts/ingest-ring.js';

export type { IngestKind };

export interface IngestStream {
  name: string;
  sim: string;
  channel: number;
  kind: IngestKind;
  connId: number;
  /** Wall clock ms of the first frame. */
  startedAt: number;
}

export interface IngestHooks {
  streamStarted(stream: IngestStream): void;
  frame(stream: IngestStream, event: Jt1078FrameEvent): void;
  streamStopped(stream: IngestStream, reason: string): void;
  transparent?(stream: { sim: string; channel: number; connId: number }, data: Uint8Array): void;
}

export class Jt1078Connection {
  readonly connId: number;
  readonly kind: IngestKind;
  #prefix: string;
  #framer = new Jt1078StreamFramer();
  #reassembler = new Jt1078Reassembler();
  #streams = new Map<string, IngestStream>();
  #hooks: IngestHooks;
  #counters: SharedCounters;
  #seen = { bytes: 0, packets: 0, resync: 0, malformed: 0, drops: new Map<string, number>() };
  #closed = false;
  #now: () => number;
  /** When the last complete packet arrived (or the connection's first bytes), clock ms. */
  #lastPacketAt: number;

  constructor(connId: number, kind: IngestKind, prefix: string, hooks: IngestHooks, counters: SharedCounters, now: () => number = Date.now) {
    this.connId = connId;
    this.kind = kind;
    this.#prefix = prefix;
    this.#hooks = hooks;
    this.#counters = counters;
    this.#now = now;
    this.#lastPacketAt = now();
  }

  /**
   * No complete packet for `timeoutMs` although bytes may still trickle in (a
   * slowloris, or garbage): only this side sees packet boundaries, so the worker
   * asks the acceptor to close such connections.
   */
  stalled(timeoutMs: number): boolean {
    return !this.#closed && this.#now() - this.#lastPacketAt >= timeoutMs;
  }

  get streams(): IterableIterator<IngestStream> {
    return this.#streams.values();
  }

  /** A chunk of the connection's bytes; it must not be modified afterwards (frames may view it). */
  push(chunk: Uint8Array): void {
    if (this.#closed) return;
    const packetsBefore = this.#framer.counters.packets;
    this.#framer.push(chunk);
    for (let packet = this.#framer.next(); packet !== null; packet = this.#framer.next()) {
      const event = this.#reassembler.push(packet);
      if (event === null) continue;
      if (event.type === 'transparent') {
        this.#hooks.transparent?.({ sim: event.sim, channel: event.channel, connId: this.connId }, event.data);
        continue;
      }
      const stream = this.#stream(event.sim, event.channel);
      this.#counters.add(event.frame.kind === 'video' ? 'frames_in|video' : 'frames_in|audio');
      this.#hooks.frame(stream, event);
    }
    if (this.#framer.counters.packets !== packetsBefore) this.#lastPacketAt = this.#now();
    this.#publishCounters();
  }

  #stream(sim: string, channel: number): IngestStream {
    const key = `${sim}:${channel}`;
    let stream = this.#streams.get(key);
    if (!stream) {
      stream = {
        name: jt1078StreamName(sim, channel, this.#prefix),
        sim: normalizeSim(sim),
        channel,
        kind: this.kind,
        connId: this.connId,
        startedAt: Date.now(),
      };
      this.#streams.set(key, stream);
      this.#counters.add('streams_started|jt1078');
      this.#hooks.streamStarted(stream);
    }
    return stream;
  }

  /** Adds what the framer and reassembler counted since the last call to the shared counters. */
  #publishCounters(): void {
    const f = this.#framer.counters;
    const seen = this.#seen;
    this.#counters.add('bytes_in|jt1078', f.bytes - seen.bytes);
    this.#counters.add('packets_in|jt1078', f.packets - seen.packets);
    this.#counters.add('resync_bytes|jt1078', f.resyncBytes - seen.resync);
    this.#counters.add('malformed|jt1078', f.malformed - seen.malformed);
    seen.bytes = f.bytes;
    seen.packets = f.packets;
    seen.resync = f.resyncBytes;
    seen.malformed = f.malformed;
    const drops = this.#reassembler.counters.drops;
    for (const reason of JT1078_DROP_REASONS) {
      const now = drops[reason] ?? 0;
      const before = seen.drops.get(reason) ?? 0;
      if (now !== before) {
        this.#counters.add(`drops|${reason}`, now - before);
        seen.drops.set(reason, now);
      }
    }
  }

  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#framer.end();
    while (this.#framer.next() !== null) {
      // drained: a packet cut by the close cannot complete a frame anyway
    }
    this.#reassembler.dropPending();
    this.#publishCounters();
    for (const stream of this.#streams.values()) {
      this.#counters.add('streams_stopped|jt1078');
      this.#hooks.streamStopped(stream, reason);
    }
    this.#streams.clear();
  }
}

/**
 * Checks the worker's connections for stalls (see {@link Jt1078Connection.stalled})
 * every second, or faster for short time-outs, and reports each stalled connection
 * once; the media process closes it.
 */
export function watchStalls(connections: Map<number, Jt1078Connection>, timeoutMs: number, report: (connId: number) => void): NodeJS.Timeout {
  const reported = new WeakSet<Jt1078Connection>();
  const timer = setInterval(() => {
    for (const conn of connections.values()) {
      if (!reported.has(conn) && conn.stalled(timeoutMs)) {
        reported.add(conn);
        report(conn.connId);
      }
    }
  }, Math.min(1000, Math.max(100, timeoutMs / 4)));
  timer.unref();
  return timer;
}
