import t from 'tap';
import type { AvFrame } from '../../../src/protocol/av/frame.js';
import { PsMuxer, splitAccessUnits } from '../../../src/protocol/mpeg-ps/index.js';
import { PsRtpPacketizer, PsRtpReceiver, Rfc4571Decoder } from '../../../src/protocol/rtp/index.js';
import { media } from '../mpeg-ps/fixtures/helpers.js';

/** H.264 + G.711A frames as a camera would send them, muxed and packetized. */
function cameraStream(ssrc: number, rfc4571 = false) {
  const aus = splitAccessUnits(media('h264_640x480_25fps_gop50_baseline_4s.h264'), 'h264');
  const alaw = media('g711a_8k_mono_4s.alaw');
  const frames: AvFrame[] = [];
  aus.forEach((au, i) => {
    const pts = 3600 + 3600 * i;
    frames.push({ kind: 'video', codec: 'h264', key: au.key, pts, dts: pts, data: au.data });
    for (const j of [2 * i, 2 * i + 1]) {
      const apts = 3600 + 1800 * j;
      frames.push({ kind: 'audio', codec: 'g711a', key: true, pts: apts, dts: apts, data: alaw.subarray(160 * j, 160 * j + 160) });
    }
  });
  const muxer = new PsMuxer({ videoCodec: 'h264', audioCodec: 'g711a' });
  const pk = new PsRtpPacketizer({ ssrc, initialSequenceNumber: 65500, rfc4571 });
  const packets: Uint8Array[] = [];
  const wire: Uint8Array[] = [];
  for (const f of frames) {
    for (const p of pk.packetize(muxer.muxSlices(f), f.pts)) packets.push(p);
    wire.push(Buffer.from(pk.wire));
  }
  return { frames, packets, wire: Buffer.concat(wire) };
}

const same = (a: AvFrame, b: AvFrame) => a.kind === b.kind && a.pts === b.pts && a.key === b.key && Buffer.from(a.data).equals(Buffer.from(b.data));

t.test('UDP: every frame back, in order, at its marker', async (t) => {
  const { frames, packets } = cameraStream(7);
  const got: AvFrame[] = [];
  const rx = new PsRtpReceiver((f) => got.push(f), { ssrc: 7, payloadType: 96 });
  for (const p of packets) rx.pushRtp(p);
  t.equal(got.length, frames.length, 'all frames out before flush (markers)');
  t.ok(got.every((f, i) => same(f, frames[i]!)), 'identical frames, same order');
  rx.flush();
  t.equal(got.length, frames.length);
  t.equal(rx.demuxer.stats.misplacedMarkers, 0);
});

t.test('TCP: RFC 4571 wire in odd chunks', async (t) => {
  const { frames, wire } = cameraStream(8, true);
  const got: AvFrame[] = [];
  const rx = new PsRtpReceiver((f) => got.push(f));
  const tcp = new Rfc4571Decoder((p) => rx.pushRtp(p));
  for (let i = 0; i < wire.length; i += 1000 + (i % 7)) tcp.push(wire.subarray(i, i + 1000 + (i % 7)));
  rx.flush();
  t.equal(got.length, frames.length);
  t.ok(got.every((f, i) => same(f, frames[i]!)));
});

t.test('loss: damaged frames dropped, the rest intact; junk and foreign packets counted', async (t) => {
  const { frames, packets } = cameraStream(9);
  const byKey = new Map(frames.map((f) => [`${f.kind}${f.pts}`, f]));
  const got: AvFrame[] = [];
  const rx = new PsRtpReceiver((f) => got.push(f), { ssrc: 9, payloadType: 96 });
  const foreign = new PsRtpPacketizer({ ssrc: 10 }).packetize(Buffer.alloc(2000), 0);
  const wrongPt = new PsRtpPacketizer({ ssrc: 9, payloadType: 8 }).packetize(Buffer.alloc(100), 0);
  let dropped = 0;
  packets.forEach((p, i) => {
    if (i % 50 === 25) {
      dropped++;
      return;
    }
    rx.pushRtp(p);
    if (i === 100) {
      rx.pushRtp(Buffer.from('not rtp at all'));
      for (const f of foreign) rx.pushRtp(f);
      for (const w of wrongPt) rx.pushRtp(w);
    }
  });
  rx.flush();
  t.equal(rx.reorder.stats.lost, dropped, `${dropped} packets lost`);
  t.equal(rx.stats.notRtp, 1);
  t.equal(rx.stats.wrongPayloadType, wrongPt.length);
  t.equal(rx.reorder.stats.ssrcMismatch, foreign.length);
  t.ok(got.every((f) => same(f, byKey.get(`${f.kind}${f.pts}`)!)), 'every frame handed out is intact');
  t.ok(got.length >= frames.length - 3 * dropped, `${got.length} of ${frames.length} frames`);
});
