import t from 'tap';
import fc from 'fast-check';
import { probePsFrameStart, findStartCode } from '../../../src/protocol/mpeg-ps/index.js';
import { PsRtpFrameGrouper, type RtpFramePart } from '../../../src/protocol/rtp/index.js';
import { udpPayloadsOfPcap } from '../../../src/tools/pcap.js';
import { demuxAll, media } from './fixtures/helpers.js';

const pcap = new URL('../../../../shared/sipp/gb_h264_4s_rtp.pcap', import.meta.url).pathname;

/** The PS split at every pack header: one piece per pack. */
function packs(ps: Buffer): Buffer[] {
  const starts: number[] = [];
  for (let i = findStartCode(ps, 0); i >= 0; i = findStartCode(ps, i + 3)) if (ps[i + 3] === 0xba) starts.push(i);
  return starts.map((s, k) => ps.subarray(s, starts[k + 1] ?? ps.length));
}

for (const file of ['gb_h264_4s.ps', 'gb_h265_4s.ps', 'gb_h264_g711a_4s.ps', 'zlm_sent_ps_h264_g711a_5s.ps']) {
  t.test(`${file}: the packs the probe calls key are the demuxer's key frames`, async (t) => {
    const ps = media(file);
    const keyPts = demuxAll(ps).frames.filter((f) => f.kind === 'video' && f.key).map((f) => f.pts);
    t.ok(keyPts.length >= 2, `${keyPts.length} key frames in the file`);
    let codec: 'h264' | 'h265' | undefined;
    const keyPacks: Buffer[] = [];
    for (const pack of packs(ps)) {
      const r = probePsFrameStart(pack, codec);
      codec = r.videoCodec ?? codec;
      // Only a pack without video (ZLMediaKit's first, audio after the PSM) may end undecided.
      if (r.verdict === 'more') t.notOk(pack.includes(Buffer.from([0, 0, 1, 0xe0])), 'a whole pack with video gets a verdict');
      if (r.verdict === 'key') keyPacks.push(pack);
    }
    t.equal(keyPacks.length, keyPts.length, 'one key start per key frame');
    // Each key pack demuxes (alone) to a key frame: the resume point needs nothing before it.
    for (const pack of keyPacks) {
      const frames = demuxAll(pack).frames.filter((f) => f.kind === 'video');
      t.ok(frames[0]?.key, 'a key pack decodes on its own into a key frame');
    }
    // Any cut of a key pack is either "more" or "key", never a wrong "delta".
    for (const cut of [4, 10, 14, 20, 30, 40, 60, 80, 100, 200]) {
      const v = probePsFrameStart(keyPacks[0]!.subarray(0, cut)).verdict;
      t.ok(v === 'more' || v === 'key', `cut at ${cut}: ${v}`);
    }
  });
}

t.test('grouper on the RTP capture: frames by timestamp/marker, two key frame starts, packets unchanged and in order', async (t) => {
  const rtp = udpPayloadsOfPcap(pcap);
  const parts: RtpFramePart[] = [];
  const grouper = new PsRtpFrameGrouper((p) => parts.push(p));
  for (const packet of rtp) grouper.push(packet);
  grouper.flush();
  const out = parts.flatMap((p) => p.packets);
  t.equal(out.length, rtp.length, 'every packet handed on');
  t.ok(out.every((p, i) => p === rtp[i]), 'by reference, in order');
  const timestamps = new Set(rtp.map((p) => p.readUInt32BE(4)));
  t.equal(parts.filter((p) => p.start).length, timestamps.size, 'one frame per timestamp');
  t.equal(parts.filter((p) => p.start && p.key).length, 2, 'IDR at frame 0 and 50');
  t.ok(parts[0]!.start && parts[0]!.key, 'the capture starts on a key frame');
  let frameKey = false;
  let consistent = true;
  for (const p of parts) {
    if (p.start) frameKey = p.key;
    else consistent &&= p.key === frameKey;
  }
  t.ok(consistent, 'continuations carry their frame verdict');
  t.ok(parts.filter((p) => p.start && p.key).every((p) => p.packets.length === 1), 'decided on the first packet');
});

t.test('probe and grouper survive any bytes', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
      const withPack = Buffer.concat([Buffer.from([0, 0, 1, 0xba]), bytes]);
      for (const b of [bytes, withPack]) ['key', 'delta', 'more'].includes(probePsFrameStart(b).verdict);
      const grouper = new PsRtpFrameGrouper(() => undefined, { maxProbeBytes: 4096 });
      grouper.push(Buffer.concat([Buffer.from([0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9]), withPack]));
      grouper.push(bytes);
      grouper.flush();
    }),
    { seed: 11, numRuns: 500 },
  );
  t.pass('no throw');
});
