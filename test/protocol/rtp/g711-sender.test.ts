/**
 * G711RtpSender (voice broadcast towards a camera): raw PCMA RTP and G.711A in PS, read back
 * by hand and by camgate's own PS demuxer; RFC 4571 framing for TCP.
 */
import t from 'tap';
import { G711RtpSender } from '../../../src/protocol/rtp/g711-sender.js';
import { PsDemuxer } from '../../../src/protocol/mpeg-ps/index.js';
import type { AvFrame } from '../../../src/protocol/av/frame.js';

const payload = (fill: number) => Buffer.alloc(160, fill);
const header = (p: Uint8Array) => {
  const b = Buffer.from(p);
  return { marker: (b[1]! & 0x80) !== 0, pt: b[1]! & 0x7f, seq: b.readUInt16BE(2), ts: b.readUInt32BE(4), ssrc: b.readUInt32BE(8), body: b.subarray(12) };
};

t.test('raw: PT 8, the camera\'s SSRC, +1 sequence, +160 timestamp, marker on the first packet only', async (t) => {
  const sender = new G711RtpSender({ carriage: 'raw', ssrc: 100000099, rfc4571: false });
  const packets = [1, 2, 3].map((i) => sender.packetize(payload(i)));
  t.same(packets.map((p) => p.length), [1, 1, 1], 'one datagram per payload');
  const h = packets.map((p) => header(p[0]!));
  t.same(h.map((x) => [x.pt, x.ssrc, x.marker]), [[8, 100000099, true], [8, 100000099, false], [8, 100000099, false]]);
  t.same([(h[1]!.seq - h[0]!.seq) & 0xffff, (h[2]!.seq - h[1]!.seq) & 0xffff], [1, 1]);
  t.same([h[0]!.ts, h[1]!.ts, h[2]!.ts], [0, 160, 320]);
  t.ok(h[1]!.body.equals(payload(2)), 'the payload as it came');
  t.same(sender.packetize(new Uint8Array(0)), [], 'nothing for an empty payload');
});

t.test('ps: pack header, PSM naming G.711A (0x90), PES 0xC0, 90 kHz PTS; PT 96; RFC 4571 when framed', async (t) => {
  const sender = new G711RtpSender({ carriage: 'ps', ssrc: 7, rfc4571: true });
  const chunks = [1, 2, 3].map((i) => sender.packetize(payload(i)));
  t.same(chunks.map((c) => c.length), [1, 1, 1], 'one write per payload');
  const frames: Buffer[] = [];
  const timestamps: number[] = [];
  for (const [chunk] of chunks) {
    const b = Buffer.from(chunk!);
    t.equal(b.readUInt16BE(0), b.length - 2, 'RFC 4571 length prefix');
    const h = header(b.subarray(2));
    t.equal(h.pt, 96);
    t.equal(h.ssrc, 7);
    t.ok(h.marker, 'marker: the PS frame ends in this packet');
    timestamps.push(h.ts);
    frames.push(h.body);
  }
  t.same(timestamps, [0, 1800, 3600], '160 samples = 1800 ticks of 90 kHz');
  t.same([...frames[0]!.subarray(0, 4)], [0, 0, 1, 0xba], 'pack header first');
  t.ok(frames[0]!.includes(Buffer.from([0x90, 0xc0])), 'the PSM maps stream type 0x90 (G.711A) to stream id 0xC0');
  const out: AvFrame[] = [];
  const demuxer = new PsDemuxer((frame) => out.push({ ...frame, data: Buffer.from(frame.data) }));
  for (const f of frames) {
    demuxer.push(f);
    demuxer.endOfFrame();
  }
  demuxer.flush();
  t.ok(out.length >= 2, `${out.length} audio frames demuxed`);
  t.equal(out[0]?.codec, 'g711a');
  t.ok(Buffer.from(out[0]!.data).equals(payload(1)), 'the first payload comes back byte for byte');
  t.same(out.map((f) => f.pts), out.map((_, i) => i * 1800), 'PTS 1800 apart');
});
