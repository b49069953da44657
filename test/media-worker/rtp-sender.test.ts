import t from 'tap';
import type { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AvFrame } from '../../src/protocol/av/frame.js';
import { PsDemuxer, splitAccessUnits, splitNalUnits } from '../../src/protocol/mpeg-ps/index.js';
import { StreamOutputs } from '../../src/media-worker/rtp-output.js';
import { RtpIngest } from '../../src/media-worker/rtp-ingest.js';
import type { RtpSender, RtpSenderSettings } from '../../src/media-worker/rtp-sender.js';
import { MEDIA_COUNTER_NAMES } from '../../src/shared/contracts/media-counters.js';
import { SharedCounters } from '../../src/shared/counters.js';
import { freePort } from '../helpers/ports.js';
import { parseRtp, rtpFromPcap, udpSink, type RtpRecord } from '../helpers/rtp-sink.js';
import { waitFor } from '../helpers/appliance.js';
import { needPeer } from '../helpers/peers.js';

const shared = new URL('../../../shared/', import.meta.url).pathname;
const HIGH_WATER = 64 * 1024;
const FRAME_TICKS = 3600; // 25 fps on the 90 kHz clock
const GOP = 50;

/** The capture's 100 H.264 access units (IDR at 0 and 50) as frames, looped `loops` times. */
function h264Frames(loops: number): AvFrame[] {
  const es = readFileSync(`${shared}media/h264_640x480_25fps_gop50_baseline_4s.h264`);
  const units = splitAccessUnits(es, 'h264');
  const frames: AvFrame[] = [];
  for (let i = 0; i < loops * units.length; i++) {
    const unit = units[i % units.length]!;
    frames.push({ kind: 'video', codec: 'h264', key: unit.key, pts: i * FRAME_TICKS, dts: i * FRAME_TICKS, data: unit.data });
  }
  return frames;
}

/** The capture's RTP packets looped `loops` times, sequence and timestamps continued. */
function loopedRtp(loops: number): Buffer[] {
  const rtp = rtpFromPcap(`${shared}sipp/gb_h264_4s_rtp.pcap`);
  const span = 100 * FRAME_TICKS;
  const out: Buffer[] = [];
  for (let l = 0; l < loops; l++) {
    for (const packet of rtp) {
      const copy = Buffer.from(packet);
      copy.writeUInt16BE(out.length & 0xffff, 2);
      copy.writeUInt32BE((packet.readUInt32BE(4) + l * span) >>> 0, 4);
      out.push(copy);
    }
  }
  return out;
}

/** RFC 4571 decoded by hand (independent of the code under test). */
function unframeRfc4571(chunks: Buffer[]): RtpRecord[] {
  const all = Buffer.concat(chunks);
  const packets: RtpRecord[] = [];
  for (let p = 0; p + 2 <= all.length; ) {
    const length = all.readUInt16BE(p);
    if (p + 2 + length > all.length) break;
    packets.push(parseRtp(all.subarray(p + 2, p + 2 + length)));
    p += 2 + length;
  }
  return packets;
}

/**
 * A passive RTP-over-TCP receiver that stops reading when told (a stalled ZLMediaKit):
 * the sender's socket buffers fill, then its queue.
 */
async function stallingTcpSink(reading: boolean) {
  const chunks: Buffer[] = [];
  const sockets: Socket[] = [];
  let lastDataAt = 0;
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      lastDataAt = Date.now();
    });
    socket.on('error', () => undefined);
    if (!reading) socket.pause();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    get reading() {
      return reading;
    },
    pause() {
      reading = false;
      for (const s of sockets) s.pause();
    },
    resume() {
      reading = true;
      for (const s of sockets) s.resume();
    },
    /** Resolves once nothing arrived for `quietMs`. */
    async drained(quietMs = 400): Promise<void> {
      lastDataAt = Date.now();
      while (Date.now() - lastDataAt < quietMs) await new Promise((r) => setTimeout(r, 50));
    },
    packets(): RtpRecord[] {
      return unframeRfc4571(chunks);
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The video frames of what a destination received (its PS demuxed by camgate's demuxer). */
function demux(packets: RtpRecord[]): AvFrame[] {
  const frames: AvFrame[] = [];
  const demuxer = new PsDemuxer((f) => frames.push(f));
  for (const p of packets) {
    demuxer.push(p.payload);
    if (p.marker) demuxer.endOfFrame();
  }
  demuxer.flush();
  return frames.filter((f) => f.kind === 'video');
}

const nalTypes = (frame: AvFrame) => splitNalUnits(frame.data).map((n) => n[0]! & 0x1f);
const hasPsm = (payload: Buffer) => payload.subarray(0, 200).includes(Buffer.from([0, 0, 1, 0xbc]));
const continuous = (packets: RtpRecord[]) => packets.every((p, i) => i === 0 || ((packets[i - 1]!.seq + 1) & 0xffff) === p.seq);

function ffprobeVideo(ps: Buffer): { frames: number; firstKey: boolean; stderr: string } {
  const file = join(mkdtempSync(join(tmpdir(), 'camgate-sender-')), 'in.ps');
  writeFileSync(file, ps);
  const run = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=key_frame', '-of', 'json', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const frames = (JSON.parse(run.stdout || '{}').frames ?? []) as Array<{ key_frame: number }>;
  return { frames: frames.length, firstKey: frames[0]?.key_frame === 1, stderr: run.stderr };
}

/** Received packets grouped into frames by RTP timestamp. */
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);

function framesOf(packets: RtpRecord[]): RtpRecord[][] {
  const frames: RtpRecord[][] = [];
  for (const [i, p] of packets.entries()) {
    if (i === 0 || p.timestamp !== packets[i - 1]!.timestamp) frames.push([]);
    frames.at(-1)!.push(p);
  }
  return frames;
}

/**
 * What a destination that fell behind received: it must resume only at key frames (PSM,
 * SPS, PPS and IDR in the first frame of every run), have its own continuous sequence, and
 * the drops must be counted.
 */
function checkResumesOnKeyFrames(t: Test, packets: RtpRecord[], sent: number, sender: RtpSender, counters: SharedCounters) {
  const frames = framesOf(packets);
  t.ok(frames.length > 0 && frames.length < sent, `${frames.length} of ${sent} frames received: the destination fell behind`);
  t.ok(continuous(packets), 'own sequence continuous (dropped frames never got numbers)');
  const runStarts = frames.filter((f, i) => i === 0 || ((f[0]!.timestamp - frames[i - 1]![0]!.timestamp) >>> 0) !== FRAME_TICKS);
  t.ok(runStarts.length >= 3, `${runStarts.length - 1} gaps after the start`);
  const keyStarts = runStarts.filter((f) => {
    const video = demux(f);
    const types = video[0] ? nalTypes(video[0]) : [];
    return hasPsm(f[0]!.payload) && video.length === 1 && video[0]!.key && [5, 7, 8].every((n) => types.includes(n));
  });
  t.equal(keyStarts.length, runStarts.length, 'every run starts with a PSM and an IDR with its SPS and PPS');
  t.ok(sender.stats.droppedToKeyframe > 0, `${sender.stats.droppedToKeyframe} frames dropped to the key frame`);
  t.equal(counters.get('drops|dropped_to_keyframe'), sender.stats.droppedToKeyframe, 'counted as drops|dropped_to_keyframe');
  t.equal(frames.length + sender.stats.droppedToKeyframe, sent, 'every frame either delivered or counted');
  if (needPeer(t, 'ffprobe', 'ffmpeg')) {
    // ffprobe decodes each run from its first packet (50 frames of it: the check is the start).
    let decoded = true;
    for (const start of runStarts) {
      const run = frames.slice(frames.indexOf(start), frames.indexOf(start) + GOP);
      const probe = ffprobeVideo(Buffer.concat(run.flat().map((p) => p.payload)));
      decoded &&= probe.frames === run.length && probe.firstKey && !/error while decoding|non-existing PPS|co located/i.test(probe.stderr);
    }
    t.ok(decoded, 'ffprobe decodes every run from its first frame, a key frame, without errors');
  }
}

/** A GB28181 input in TCP passive mode (RFC 4571), as a device connecting to camgate sees it. */
/** A TCP RTP input fed the capture up to 60 packets past its second IDR; `send` feeds more (RFC 4571). */
async function tcpIngestPastSecondIdr(name: string, counters: SharedCounters) {
  const { ingest, port } = await openTcpIngest(name, counters);
  const input = loopedRtp(1);
  const secondIdr = input.findIndex((p) => p.readUInt32BE(4) === input[0]!.readUInt32BE(4) + GOP * FRAME_TICKS);
  const device = connect(port, '127.0.0.1');
  await new Promise((r) => device.once('connect', r));
  const send = (packets: Buffer[]) => {
    for (const packet of packets) {
      const framed = Buffer.allocUnsafe(2 + packet.length);
      framed.writeUInt16BE(packet.length, 0);
      packet.copy(framed, 2);
      device.write(framed);
    }
  };
  send(input.slice(0, secondIdr + 60));
  await waitFor(async () => counters.get('packets_in|rtp') === secondIdr + 60, 5000, 'first part in');
  return { ingest, input, secondIdr, device, send };
}

async function openTcpIngest(name: string, counters: SharedCounters, settings: RtpSenderSettings = {}) {
  const port = await freePort();
  const hooks = { started: () => undefined, frame: () => undefined, stopped: () => undefined };
  const ingest = new RtpIngest({ name, host: '127.0.0.1', port, transport: 'tcp', mediaTimeoutMs: 30_000 }, hooks, counters, settings);
  await ingest.open();
  return { ingest, port };
}

const tick = () => new Promise((r) => setImmediate(r));

type Sink = Awaited<ReturnType<typeof stallingTcpSink>>;

/**
 * Stalls and un-stalls the reader as the sender goes: stalled until 100 frames were
 * dropped, then reading until 100 frames went out again, and so on.
 */
function stallCycles(sink: Sink, sender: RtpSender): () => void {
  let mark = 0;
  return () => {
    if (!sink.reading && sender.stats.droppedToKeyframe >= mark + 100) {
      sink.resume();
      mark = sender.stats.framesSent;
    } else if (sink.reading && sender.stats.framesSent >= mark + 100) {
      sink.pause();
      mark = sender.stats.droppedToKeyframe;
    }
  };
}

t.test('muxing output: an unpaced burst to a stalled TCP destination resumes exactly at IDRs, memory bounded', async (t) => {
  const counters = SharedCounters.create(MEDIA_COUNTER_NAMES);
  const sink = await stallingTcpSink(false);
  const outputs = new StreamOutputs('live/burst', [], null, counters, { highWaterBytes: HIGH_WATER });
  t.teardown(async () => {
    outputs.close();
    await sink.close();
  });
  outputs.add({ host: '127.0.0.1', port: sink.port, transport: 'tcp', ssrc: 1234 });
  const sender = outputs.senders[0]!;
  const frames = h264Frames(200); // 20,000 frames, about 30 MB: far past the socket buffers
  const largest = Math.max(...frames.map((f) => f.data.length));
  let maxBacklog = 0;
  const stall = stallCycles(sink, sender);
  for (const frame of frames) {
    outputs.write(frame);
    maxBacklog = Math.max(maxBacklog, sender.backlogBytes);
    stall();
    await tick(); // let the socket flush what the kernel takes
  }
  t.ok(maxBacklog <= 2 * HIGH_WATER + 2 * largest, `queued at most ${maxBacklog} bytes (high water ${HIGH_WATER}, largest frame ${largest})`);
  sink.resume();
  await sink.drained();
  const packets = sink.packets();
  t.ok(packets.every((p) => p.ssrc === 1234), 'the destination\'s SSRC');
  checkResumesOnKeyFrames(t, packets, frames.length, sender, counters);
});

t.test('relay of an RTP input: an unpaced burst to a stalled TCP destination resumes exactly at IDRs, payloads unchanged', async (t) => {
  const counters = SharedCounters.create(MEDIA_COUNTER_NAMES);
  const sink = await stallingTcpSink(false);
  const { ingest, port } = await openTcpIngest('rtp/BURST', counters, { highWaterBytes: HIGH_WATER });
  t.teardown(async () => {
    ingest.close('test over');
    await sink.close();
  });
  ingest.addRelay({ host: '127.0.0.1', port: sink.port, transport: 'tcp', ssrc: 4321 });
  const sender = ingest.relaySenders[0]!;
  const input = loopedRtp(200);
  const payloadOf = new Map(input.map((p) => [`${p.readUInt32BE(4)}/${p.readUInt16BE(2)}`, p.subarray(12)]));
  const device = connect(port, '127.0.0.1');
  await new Promise((r) => device.once('connect', r));
  let maxBacklog = 0;
  const stall = stallCycles(sink, sender);
  for (let i = 0; i < input.length; i += 100) {
    // As fast as the ingest takes it; the reader is stalled and released as the relay goes.
    device.write(Buffer.concat(input.slice(i, i + 100).flatMap((packet) => [u16(packet.length), packet])));
    while (counters.get('packets_in|rtp') < Math.min(i + 100, input.length)) await tick();
    maxBacklog = Math.max(maxBacklog, sender.backlogBytes);
    stall();
  }
  device.destroy();
  t.ok(maxBacklog <= 3 * HIGH_WATER, `queued at most ${maxBacklog} bytes (high water ${HIGH_WATER})`);
  sink.resume();
  await sink.drained();
  const packets = sink.packets();
  t.ok(packets.every((p) => p.ssrc === 4321), 'the relay\'s SSRC');
  // Relayed, not remuxed: each payload is an input packet's, byte for byte (found by timestamp).
  const inputByTimestamp = new Map<number, Buffer[]>();
  for (const p of input) inputByTimestamp.set(p.readUInt32BE(4), [...(inputByTimestamp.get(p.readUInt32BE(4)) ?? []), p.subarray(12)]);
  let unchanged = true;
  let k = 0;
  for (let i = 0; i < packets.length; i++) {
    k = i > 0 && packets[i]!.timestamp === packets[i - 1]!.timestamp ? k + 1 : 0;
    unchanged &&= inputByTimestamp.get(packets[i]!.timestamp)?.[k]?.equals(packets[i]!.payload) ?? false;
  }
  t.ok(unchanged && payloadOf.size === input.length, 'payloads relayed unchanged');
  checkResumesOnKeyFrames(t, packets, input.length === 0 ? 0 : new Set(input.map((p) => p.readUInt32BE(4))).size, sender, counters);
});

t.test('a destination added mid-stream starts with the last GOP: PSM and IDR first, within 0.5 s', async (t) => {
  await t.test('muxing output, UDP', async (t) => {
    const counters = SharedCounters.create(MEDIA_COUNTER_NAMES);
    const sink = await udpSink();
    const outputs = new StreamOutputs('live/late', [], null, counters);
    t.teardown(() => {
      outputs.close();
      sink.close();
    });
    const frames = h264Frames(1);
    for (const frame of frames.slice(0, GOP + 10)) outputs.write(frame);
    const addedAt = Date.now();
    outputs.add({ host: '127.0.0.1', port: sink.port, transport: 'udp', ssrc: 99 });
    await waitFor(async () => sink.packets.length > 0, 2000, 'first packet');
    const firstAfter = Date.now() - addedAt;
    for (const frame of frames.slice(GOP + 10)) {
      outputs.write(frame);
      await tick();
    }
    await waitFor(async () => demux(sink.packets).length >= GOP, 3000, 'the second GOP');
    t.ok(firstAfter < 500, `first packet ${firstAfter} ms after the destination was added`);
    t.ok(hasPsm(sink.packets[0]!.payload), 'the first packet carries the PSM');
    const received = demux(sink.packets);
    t.equal(received[0]!.pts, GOP * FRAME_TICKS, 'starts at the last IDR (frame 50), not at the next one');
    t.ok(received[0]!.key && nalTypes(received[0]!).includes(7), 'IDR with its SPS');
    t.equal(received.length, GOP, 'the cached 10 frames, then the live ones');
    t.ok(continuous(sink.packets), 'sequence continuous from the cached GOP into live frames');
    if (needPeer(t, 'ffprobe', 'ffmpeg')) {
      const probe = ffprobeVideo(Buffer.concat(sink.packets.map((p) => p.payload)));
      t.equal(probe.frames, GOP, 'ffprobe decodes every frame from the first packet on');
      t.ok(probe.firstKey, 'ffprobe: the first frame is a key frame');
    }
  });

  await t.test('relay of an RTP input, TCP', async (t) => {
    const counters = SharedCounters.create(MEDIA_COUNTER_NAMES);
    const sink = await stallingTcpSink(true);
    const { ingest, input, secondIdr, device, send } = await tcpIngestPastSecondIdr('rtp/LATE', counters);
    t.teardown(async () => {
      ingest.close('test over');
      await sink.close();
    });
    const addedAt = Date.now();
    ingest.addRelay({ host: '127.0.0.1', port: sink.port, transport: 'tcp', ssrc: 77 });
    await waitFor(async () => sink.packets().length > 0, 2000, 'first packet');
    const firstAfter = Date.now() - addedAt;
    send(input.slice(secondIdr + 60));
    await waitFor(async () => sink.packets().length === input.length - secondIdr, 5000, 'the rest of the stream');
    device.destroy();
    const packets = sink.packets();
    t.ok(firstAfter < 500, `first packet ${firstAfter} ms after the relay was added`);
    t.ok(hasPsm(packets[0]!.payload), 'the first packet carries the PSM');
    t.ok(packets.every((p, i) => p.payload.equals(input[secondIdr + i]!.subarray(12))), 'from the last IDR on, payloads unchanged');
    t.ok(continuous(packets) && packets.every((p) => p.ssrc === 77), 'own SSRC, continuous sequence');
    if (needPeer(t, 'ffprobe', 'ffmpeg')) {
      const probe = ffprobeVideo(Buffer.concat(packets.map((p) => p.payload)));
      t.equal(probe.frames, GOP, 'ffprobe decodes every frame from the first packet on');
      t.ok(probe.firstKey, 'ffprobe: the first frame is a key frame');
    }
  });
});

t.test('a stream that ends while its UDP destination connects still delivers its frames (as TCP does)', async (t) => {
  const counters = SharedCounters.create(MEDIA_COUNTER_NAMES);
  const sink = await udpSink();
  t.teardown(() => sink.close());
  const outputs = new StreamOutputs('live/short', [{ host: '127.0.0.1', port: sink.port, transport: 'udp', ssrc: 5 }], null, counters);
  const frames = h264Frames(1).slice(0, 3);
  for (const frame of frames) outputs.write(frame);
  outputs.close(); // same tick: the socket has not connected yet
  await waitFor(async () => demux(sink.packets).length === frames.length, 2000, 'the three frames');
  t.ok(continuous(sink.packets) && sink.packets.every((p) => p.ssrc === 5), 'all packets, in order');
});

t.test('listening TCP destination (an upper platform that connects to us): other addresses refused, the GOP first, the accept time-out', async (t) => {
  const counters = SharedCounters.create(MEDIA_COUNTER_NAMES);
  const { ingest, input, secondIdr, device, send } = await tcpIngestPastSecondIdr('rtp/PASSIVE', counters);
  t.teardown(() => ingest.close('test over'));
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const ended: Array<{ reason: string; at: number }> = [];
  ingest.addRelay({ host: '127.0.0.1', port, transport: 'tcp', ssrc: 55, listen: { acceptTimeoutMs: 400 } }, { server, ended: (reason) => ended.push({ reason, at: Date.now() }) });

  // A receiver from another address is closed at once, without media.
  const intruder = await new Promise<number>((resolve) => {
    let bytes = 0;
    const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
    s.on('data', (d) => (bytes += d.length));
    s.on('error', () => undefined);
    s.on('close', () => resolve(bytes));
  });
  t.equal(intruder, 0, 'a connection from 127.0.0.2 gets nothing');

  const chunks: Buffer[] = [];
  const receiver = connect(port, '127.0.0.1');
  receiver.on('data', (d) => chunks.push(d));
  await new Promise((r) => receiver.once('connect', r));
  await waitFor(async () => chunks.length > 0, 2000, 'the cached GOP');
  send(input.slice(secondIdr + 60));
  const packets = () => unframeRfc4571(chunks);
  await waitFor(async () => packets().length === input.length - secondIdr, 5000, 'the rest of the stream');
  const got = packets();
  t.ok(hasPsm(got[0]!.payload), 'the connection starts with the PSM of the cached GOP');
  t.ok(got.every((p, i) => p.payload.equals(input[secondIdr + i]!.subarray(12))), 'from the last IDR on, payloads unchanged');
  t.ok(continuous(got) && got.every((p) => p.ssrc === 55), 'own SSRC, continuous sequence');
  t.equal(ended.length, 0, 'connected: no time-out');

  // The receiver leaves and does not come back: the forward ends after the accept time-out.
  const leftAt = Date.now();
  receiver.destroy();
  await waitFor(async () => ended.length > 0, 3000, 'the accept time-out');
  t.ok(ended[0]!.at - leftAt >= 350, `ended ${ended[0]!.at - leftAt} ms after the receiver left (time-out 400 ms)`);
  t.match(ended[0]!.reason, /nobody connected .* within 400 ms/);
  t.ok(ingest.removeRelay('127.0.0.1', port), 'removed as the worker does on ended');
  const refused = await new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
  t.ok(refused, 'removing it closed the listening socket');
  device.destroy();
});
