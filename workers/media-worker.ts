/**
 * A long-lived media worker thread (DESIGN.md §1). Bytes of the connections pinned
 * to it arrive through its SharedArrayBuffer ring (never per-packet postMessage);
 * it depacketizes, muxes PS and sends RTP from its own UDP socket. Control (stream
 * events, forwards) goes over the channel.
 */
import { createSocket } from 'node:dgram';
import { runChild } from '../src/shared/child-runtime.js';
import type { Channel } from '../src/shared/channel.js';
import { SharedCounters } from '../src/shared/counters.js';
import { RingReader } from '../src/shared/ring.js';
import { Jt1078Connection, watchStalls, type IngestStream } from '../src/media-worker/jt1078-ingest.js';
import { parseIngestTag } from '../src/media-process/ingest-tags.js';
import { MEDIA_COUNTER_NAMES } from '../src/shared/contracts/media-counters.js';
import { StreamOutputs, ssrcForName, type Destination } from '../src/media-worker/rtp-output.js';
import { RtpIngest, type RtpIngestOptions } from '../src/media-worker/rtp-ingest.js';
import { FlvServer } from '../src/media-worker/flv-server.js';

interface WorkerInit {
  slot: number;
  ring: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  prefixes: { realtime: string; playback: string };
  forward: Destination[];
  /** Built-in FLV viewers on this port (0: off) and the no-viewer timeout (ms, 0: off). */
  flv: { host: string; port: number; noViewerCloseMs: number };
  /** Close JT/T 1078 connections without a complete packet for this long (ms); siphard. */
  packetTimeoutMs?: number;
}

const connections = new Map<number, Jt1078Connection>();
const outputs = new Map<string, StreamOutputs>();
const rtpIngests = new Map<string, RtpIngest>();
let reader: RingReader | null = null;
let flv: FlvServer | null = null;
let idleTimer: NodeJS.Timeout | null = null;
let stallTimer: NodeJS.Timeout | null = null; // siphard
const udp = createSocket('udp4');
udp.on('error', () => undefined);
udp.unref();

function describe(stream: IngestStream) {
  return { name: stream.name, sim: stream.sim, channel: stream.channel, kind: stream.kind, connId: stream.connId, startedAt: stream.startedAt };
}

async function start(init: WorkerInit, channel: Channel): Promise<void> {
  const counters = SharedCounters.attach(init.counters, MEDIA_COUNTER_NAMES);
  stallTimer = watchStalls(connections, init.packetTimeoutMs ?? 20_000, (connId) => channel.notify('connection.stalled', { connId, slot: init.slot })); // siphard
  if (init.flv.port > 0) {
    flv = new FlvServer(init.flv.host, init.flv.port, (n) => counters.add('bytes_out|flv', n));
    await flv.start();
    if (init.flv.noViewerCloseMs > 0) {
      // Reported once per idle stream; the supervisor decides (BYE for GB28181 streams).
      const reported = new Set<string>();
      idleTimer = setInterval(() => {
        const idle = new Set(flv?.idleStreams(Date.now() - init.flv.noViewerCloseMs) ?? []);
        for (const name of idle) if (!reported.has(name)) channel.notify('stream.idle', { name, slot: init.slot });
        for (const name of [...reported]) if (!idle.has(name)) reported.delete(name);
        for (const name of idle) reported.add(name);
      }, Math.min(5000, init.flv.noViewerCloseMs));
      idleTimer.unref();
    }
  }
  const forward = init.forward;
  const hooks = {
    streamStarted(stream: IngestStream) {
      outputs.get(stream.name)?.close();
      outputs.set(stream.name, new StreamOutputs(stream.name, forward, udp, counters));
      flv?.addStream(stream.name);
      channel.notify('stream.started', { ...describe(stream), slot: init.slot, destinations: outputs.get(stream.name)!.destinations });
    },
    frame(stream: IngestStream, event: { frame: import('../src/protocol/av/frame.js').AvFrame }) {
      outputs.get(stream.name)?.write(event.frame);
      flv?.get(stream.name)?.push(event.frame);
    },
    streamStopped(stream: IngestStream, reason: string) {
      const out = outputs.get(stream.name);
      // A newer connection may own the name by now; only close our own outputs.
      if (out && !isOwnedByOther(stream)) {
        out.close();
        outputs.delete(stream.name);
        flv?.removeStream(stream.name, reason);
      }
      channel.notify('stream.stopped', { ...describe(stream), slot: init.slot, reason, endedAt: Date.now() });
    },
  };
  const isOwnedByOther = (stream: IngestStream) => {
    for (const conn of connections.values()) {
      if (conn.connId === stream.connId) continue;
      for (const s of conn.streams) if (s.name === stream.name) return true;
    }
    return false;
  };

  reader = new RingReader(init.ring);
  void reader.run((view, tag) => {
    const { connId, kind } = parseIngestTag(tag);
    let conn = connections.get(connId);
    if (view.length === 0) {
      conn?.close('connection closed');
      connections.delete(connId);
      return;
    }
    if (!conn) {
      conn = new Jt1078Connection(connId, kind, init.prefixes[kind], hooks, counters);
      connections.set(connId, conn);
    }
    // The view lives only during this callback; frames may keep views of the chunk.
    conn.push(view.slice());
  });

  // Extra destinations at run time: a GB28181 input is relayed packet by packet (no
  // remux, own SSRC and sequence); a JT/T 1078 stream gets one more PS/RTP output.
  channel.handle('forward.add', (data) => {
    const { name, destination } = data as { name: string; destination: Destination };
    const ingest = rtpIngests.get(name);
    if (ingest) {
      const ssrc = destination.ssrc ?? ssrcForName(`${name}>${destination.host}:${destination.port}`);
      ingest.addRelay({ ...destination, ssrc });
      return { ssrc, mode: 'relay' };
    }
    const out = outputs.get(name);
    if (!out) throw new Error(`no stream ${name} on this worker`);
    return { ssrc: out.add(destination), mode: 'remux' };
  });
  channel.handle('forward.remove', (data) => {
    const { name, host, port } = data as { name: string; host: string; port: number };
    const ingest = rtpIngests.get(name);
    if (ingest) return ingest.removeRelay(host, port);
    return outputs.get(name)?.remove(host, port) ?? false;
  });
  channel.handle('forward.list', (data) => {
    const { name } = data as { name: string };
    const ingest = rtpIngests.get(name);
    if (ingest) return ingest.relays;
    return outputs.get(name)?.destinations ?? [];
  });
  // GB28181 PS/RTP in: the media process picked this worker and a port for the stream.
  channel.handle('rtp.open', async (data) => {
    const { destinations, ...options } = data as RtpIngestOptions & { destinations: Destination[] };
    if (rtpIngests.has(options.name)) throw new Error(`stream ${options.name} is already open`);
    const ingest = new RtpIngest(
      options,
      {
        started(i) {
          flv?.addStream(i.name);
          channel.notify('stream.started', { name: i.name, kind: 'gb28181', slot: init.slot, port: i.options.port, startedAt: i.startedAt, connId: -1 });
        },
        frame(i, frame) {
          outputs.get(i.name)?.write(frame);
          flv?.get(i.name)?.push(frame);
        },
        stopped(i, reason) {
          rtpIngests.delete(i.name);
          outputs.get(i.name)?.close();
          outputs.delete(i.name);
          flv?.removeStream(i.name, reason);
          channel.notify('stream.stopped', { name: i.name, kind: 'gb28181', slot: init.slot, port: i.options.port, startedAt: i.startedAt, connId: -1, reason, endedAt: Date.now() });
        },
      },
      counters,
    );
    await ingest.open();
    rtpIngests.set(options.name, ingest);
    outputs.set(options.name, new StreamOutputs(options.name, destinations ?? [], udp, counters));
    return { port: options.port };
  });
  channel.handle('rtp.close', (data) => {
    const { name, reason } = data as { name: string; reason?: string };
    const ingest = rtpIngests.get(name);
    ingest?.close(reason ?? 'closed by request');
    return ingest !== undefined;
  });

  channel.handle('streams', () =>
    [...connections.values()].flatMap((c) => [...c.streams].map((s) => ({ ...describe(s), destinations: outputs.get(s.name)?.destinations ?? [] }))),
  );
}

runChild<WorkerInit>({
  init: (data, channel) => start(data, channel),
  ping: () => ({ role: 'media-worker', connections: connections.size, streams: outputs.size, viewers: flv?.viewers ?? 0, flvPort: flv?.port ?? 0 }),
  shutdown() {
    if (idleTimer) clearInterval(idleTimer);
    if (stallTimer) clearInterval(stallTimer); // siphard
    flv?.close();
    reader?.close();
    for (const ingest of [...rtpIngests.values()]) ingest.close('shutdown');
    for (const conn of connections.values()) conn.close('shutdown');
    connections.clear();
    udp.close();
  },
});
