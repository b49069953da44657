import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AvFrame } from '../../../src/protocol/av/frame.js';
import { PsDemuxer, PsMuxer, splitAccessUnits } from '../../../src/protocol/mpeg-ps/index.js';
import { parseRtpPacket, PsRtpPacketizer, Rfc4571Decoder, RtpReorderBuffer } from '../../../src/protocol/rtp/index.js';
import type { RtpPacket } from '../../../src/protocol/rtp/index.js';
import { concat, media, walkUnits } from '../mpeg-ps/fixtures/helpers.js';

function parsed(packets: Uint8Array[]): RtpPacket[] {
  return packets.map((p) => {
    const r = parseRtpPacket(p);
    if (!r.ok) throw new Error(r.error);
    return r.packet;
  });
}

t.test('one frame: payloads <= 1400, marker on the last, same timestamp, sequence +1', async (t) => {
  const ps = Buffer.alloc(5000, 7);
  const pk = new PsRtpPacketizer({ ssrc: 0x12345678, initialSequenceNumber: 65534 });
  const pkts = parsed(pk.packetize(ps, 2 ** 32 + 90));
  t.strictSame(
    pkts.map((p) => p.payload.length),
    [1400, 1400, 1400, 800],
  );
  t.strictSame(
    pkts.map((p) => p.marker),
    [false, false, false, true],
  );
  t.strictSame(
    pkts.map((p) => p.sequenceNumber),
    [65534, 65535, 0, 1],
    'sequence wraps',
  );
  t.ok(pkts.every((p) => p.timestamp === 90 && p.ssrc === 0x12345678 && p.payloadType === 96), 'timestamp wrapped to 32 bits');
  t.ok(concat(pkts.map((p) => p.payload)).equals(ps), 'payloads give the PS back');
  t.equal(pk.sequenceNumber, 2);
  t.equal(pk.packetCount, 4);
  t.equal(pk.octetCount, 5000);
  t.equal(pk.packetize(Buffer.alloc(0), 0).length, 0, 'nothing for an empty frame');
  const small = parsed(new PsRtpPacketizer({ ssrc: 1, maxPayloadBytes: 100, payloadType: 98 }).packetize(Buffer.alloc(250), 0));
  t.strictSame(
    small.map((p) => [p.payload.length, p.payloadType]),
    [
      [100, 98],
      [100, 98],
      [50, 98],
    ],
  );
});

t.test('muxer slices in, identical packets out; RFC 4571 wire is one TCP write', async (t) => {
  const aus = splitAccessUnits(media('h264_640x480_25fps_gop50_baseline_4s.h264'), 'h264');
  const muxA = new PsMuxer();
  const muxB = new PsMuxer();
  const a = new PsRtpPacketizer({ ssrc: 5, initialSequenceNumber: 100 });
  const b = new PsRtpPacketizer({ ssrc: 5, initialSequenceNumber: 100, rfc4571: true, reuseBuffer: true });
  const decoded: Uint8Array[] = [];
  const decoder = new Rfc4571Decoder((p) => decoded.push(p));
  let all = 0;
  for (let i = 0; i < aus.length; i++) {
    const frame: AvFrame = { kind: 'video', codec: 'h264', key: aus[i]!.key, pts: 3600 * i, dts: 3600 * i, data: aus[i]!.data };
    const viaBuffer = a.packetize(muxA.mux(frame), frame.pts);
    const viaSlices = b.packetize(muxB.muxSlices(frame), frame.pts);
    all += viaBuffer.length;
    if (viaBuffer.length !== viaSlices.length || viaBuffer.some((p, k) => !Buffer.from(p).equals(Buffer.from(viaSlices[k]!)))) {
      t.fail(`frame ${i} differs`);
      return;
    }
    decoder.push(b.wire);
  }
  t.pass('same packets for all 100 frames');
  t.equal(decoded.length, all, 'RFC 4571 wire decodes to every packet');
});

t.test('byte-exact with gbps.py RTP (sipp pcap): PT 96, SSRC 200000001, 1400-byte chunks', async (t) => {
  const pcap = readFileSync(fileURLToPath(new URL('../../../../shared/sipp/gb_h264_4s_rtp.pcap', import.meta.url)));
  const reference: Buffer[] = [];
  for (let p = 24; p + 16 <= pcap.length; ) {
    const caplen = pcap.readUInt32LE(p + 8);
    reference.push(pcap.subarray(p + 16 + 14 + 20 + 8, p + 16 + caplen));
    p += 16 + caplen;
  }
  // gbps.py frames: each starts with a pack header; PTS 3600 + 3600 i.
  const ps = media('gb_h264_4s.ps');
  const packs = walkUnits(ps).filter((u) => u[0] === 0xba);
  const pk = new PsRtpPacketizer({ ssrc: 200000001, initialSequenceNumber: 0 });
  const ours: Uint8Array[] = [];
  packs.forEach(([, at], i) => {
    const end = i + 1 < packs.length ? packs[i + 1]![1] : ps.length;
    ours.push(...pk.packetize(ps.subarray(at, end), 3600 + 3600 * i));
  });
  t.equal(ours.length, reference.length, `${reference.length} packets`);
  t.ok(
    ours.every((p, i) => Buffer.from(p).equals(reference[i]!)),
    'every packet byte-exact',
  );
});

/**
 * Deterministic disturbance: each item moves at most `swapDistance` places (the first stays
 * first, so the window starts at the right sequence number), some are sent twice, some dropped.
 */
function disturb<T>(items: T[], seed: number, opts: { swapDistance: number; dupEvery: number; dropEvery: number }): { out: T[]; dropped: Set<number> } {
  let x = seed;
  const rnd = () => (x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const keyed = items.map((item, i) => ({ item, i, key: i === 0 ? -1 : i + rnd() * opts.swapDistance }));
  keyed.sort((a, b) => a.key - b.key);
  const dropped = new Set<number>();
  const result: T[] = [];
  for (const { item, i } of keyed) {
    if (opts.dropEvery && i % opts.dropEvery === opts.dropEvery - 1) {
      dropped.add(i);
      continue;
    }
    result.push(item);
    if (opts.dupEvery && i % opts.dupEvery === 0) result.push(item);
  }
  return { out: result, dropped };
}

t.test('PS → RTP → shuffle/duplicate/lose → reorder → demux', async (t) => {
  const ps = media('gb_h264_g711a_4s.ps');
  const packs = walkUnits(ps).filter((u) => u[0] === 0xba);
  // Frames as gbps.py cut them; timestamp from the pack's position is enough here.
  const pk = new PsRtpPacketizer({ ssrc: 42, initialSequenceNumber: 65000 });
  const packets: Uint8Array[] = [];
  packs.forEach(([, at], i) => {
    const end = i + 1 < packs.length ? packs[i + 1]![1] : ps.length;
    packets.push(...pk.packetize(ps.subarray(at, end), i));
  });

  const run = (input: Uint8Array[]) => {
    const frames: AvFrame[] = [];
    const demuxer = new PsDemuxer((f) => frames.push(f));
    const reorder = new RtpReorderBuffer(
      {
        onPacket(p: RtpPacket) {
          demuxer.push(p.payload);
          if (p.marker) demuxer.endOfFrame();
        },
        onLoss() {
          demuxer.discontinuity();
        },
      },
      { window: 32, ssrc: 42 },
    );
    for (const raw of input) {
      const r = parseRtpPacket(raw);
      if (r.ok) reorder.push(r.packet);
    }
    reorder.flush();
    demuxer.flush();
    return { frames, reorder, demuxer };
  };

  const clean = run(packets);
  t.equal(clean.frames.filter((f) => f.kind === 'video').length, 100, 'clean: 100 video frames');
  t.equal(clean.frames.filter((f) => f.kind === 'audio').length, 200, 'clean: 200 audio frames');
  t.equal(clean.reorder.stats.released, packets.length, 'every packet released');

  const shuffled = disturb(packets, 7, { swapDistance: 8, dupEvery: 10, dropEvery: 0 });
  const s = run(shuffled.out);
  t.equal(s.reorder.stats.lost, 0, 'reordered: nothing lost');
  t.ok(s.reorder.stats.duplicates > 0, `duplicates counted (${s.reorder.stats.duplicates})`);
  t.ok(s.reorder.stats.outOfOrder > 0, `out-of-order counted (${s.reorder.stats.outOfOrder})`);
  t.equal(s.frames.length, clean.frames.length, 'same frames as clean');
  t.ok(
    s.frames.every((f, i) => Buffer.from(f.data).equals(Buffer.from(clean.frames[i]!.data))),
    'identical frames',
  );

  const lossy = disturb(packets, 11, { swapDistance: 4, dupEvery: 0, dropEvery: 97 });
  const l = run(lossy.out);
  t.equal(l.reorder.stats.lost, lossy.dropped.size, `lost counted (${lossy.dropped.size})`);
  const byPts = new Map(clean.frames.map((f) => [`${f.kind}${f.pts}`, f]));
  t.ok(
    l.frames.every((f) => Buffer.from(f.data).equals(Buffer.from(byPts.get(`${f.kind}${f.pts}`)!.data))),
    `frames handed out after loss are intact (${l.frames.length} of ${clean.frames.length})`,
  );
  t.ok(l.frames.length > clean.frames.length * 0.8, 'most frames survive');

  // A foreign SSRC is dropped.
  const foreign = new PsRtpPacketizer({ ssrc: 43 }).packetize(Buffer.alloc(3000), 0);
  const f = run([...foreign, ...packets]);
  t.equal(f.reorder.stats.ssrcMismatch, foreign.length);
  t.equal(f.frames.length, clean.frames.length);
});

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return Math.max(1e-6, (d.user + d.system) / 1e6);
}

t.test('throughput: mux + packetize and parse + reorder + demux well above 50,000 packets/s', async (t) => {
  const aus = splitAccessUnits(media('h264_640x480_25fps_gop50_baseline_4s.h264'), 'h264');
  const frames: AvFrame[] = aus.map((au, i) => ({ kind: 'video', codec: 'h264', key: au.key, pts: 3600 * i, dts: 3600 * i, data: au.data }));
  const rounds = 100; // 10,000 frames, about 17,000 packets

  const measure = () => {
    const muxer = new PsMuxer();
    const pk = new PsRtpPacketizer({ ssrc: 1, maxPayloadBytes: 1400 });
    const all: Uint8Array[] = [];
    // CPU time, not wall time: the figure must not depend on what else the machine runs.
    const t0 = process.cpuUsage();
    for (let round = 0; round < rounds; round++) {
      for (const f of frames) {
        const out = pk.packetize(muxer.muxSlices(f), f.pts + round * 360000);
        for (const x of out) all.push(x);
      }
    }
    const sendSeconds = cpuSeconds(t0);

    let received = 0;
    const demuxer = new PsDemuxer(() => received++);
    const reorder = new RtpReorderBuffer({
      onPacket(p: RtpPacket) {
        demuxer.push(p.payload);
        if (p.marker) demuxer.endOfFrame();
      },
    });
    const t1 = process.cpuUsage();
    for (const raw of all) {
      const r = parseRtpPacket(raw);
      if (r.ok) reorder.push(r.packet);
    }
    const recvSeconds = cpuSeconds(t1);
    return { packets: all.length, sendRate: all.length / sendSeconds, recvRate: all.length / recvSeconds, received };
  };

  measure(); // warm the JIT up
  const m = measure();
  t.comment(`${m.packets} packets: send ${Math.round(m.sendRate)} packets/s, receive ${Math.round(m.recvRate)} packets/s (CPU time)`);
  t.equal(m.received, rounds * frames.length, 'every frame demuxed');
  t.ok(m.sendRate > 50_000, 'send side > 50k packets/s on one core');
  t.ok(m.recvRate > 50_000, 'receive side > 50k packets/s on one core');
});
