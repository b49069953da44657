import t from 'tap';
import fc from 'fast-check';
import type { AvFrame } from '../../../src/protocol/av/frame.js';
import { isKeyAccessUnit, PsDemuxer, PsMuxer } from '../../../src/protocol/mpeg-ps/index.js';
import { parseRtpPacket, PsRtpPacketizer } from '../../../src/protocol/rtp/index.js';
import { media } from './fixtures/helpers.js';

const MAX_FRAME = 256 * 1024;

/** Push `input` in the given chunk sizes; false if memory went past the caps. */
function feed(input: Uint8Array, chunkSizes: number[]): boolean {
  // Odd number of chunk sizes: also run the access-unit aligner.
  const d = new PsDemuxer(() => {}, { maxFrameBytes: MAX_FRAME, alignAccessUnits: chunkSizes.length % 2 === 1 });
  let at = 0;
  let k = 0;
  while (at < input.length) {
    const n = chunkSizes.length ? chunkSizes[k++ % chunkSizes.length]! : input.length;
    d.push(input.subarray(at, at + n));
    at += n;
    // Frames being built (audio, video, aligner) plus at most one header carried.
    if (d.bufferedBytes > 3 * MAX_FRAME + 70_000) return false;
  }
  d.endOfFrame();
  d.discontinuity();
  d.flush();
  return true;
}

function mutate(bytes: Uint8Array, mutations: Array<[number, number]>): Uint8Array {
  const m = Buffer.from(bytes);
  for (const [at, v] of mutations) m[at % m.length] = v;
  return m;
}

const samples = ['gb_h264_g711a_4s.ps', 'zlm_sent_ps_h264_g711a_5s.ps', 'ffmpeg_vob_h264_4s.ps', 'gb_h265_4s.ps'].map((f) => media(f).subarray(0, 40_000));
const chunking = fc.array(fc.integer({ min: 1, max: 4000 }), { maxLength: 8 });

t.test('fuzz: random bytes into the demuxer', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 5000 }), chunking, (bytes, chunks) => feed(bytes, chunks)), { numRuns: 1000 });
  t.pass('1000 runs, no exception, bounded memory');
});

t.test('fuzz: start-code-rich random bytes (all structures, bogus lengths)', async (t) => {
  const unit = fc.tuple(fc.constantFrom(0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xe0, 0xc0, 0xb9, 0x01), fc.uint8Array({ maxLength: 40 }));
  fc.assert(
    fc.property(fc.array(unit, { maxLength: 60 }), chunking, (units, chunks) => {
      const bytes = Buffer.concat(units.map(([id, body]) => Buffer.concat([Buffer.from([0, 0, 1, id]), body])));
      return feed(bytes, chunks);
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 runs');
});

t.test('fuzz: mutated real PS (ours, ZLMediaKit, ffmpeg)', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: samples.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 20 }),
      fc.nat(),
      chunking,
      (which, mutations, cutAt, chunks) => {
        const m = mutate(samples[which]!, mutations);
        // Also drop a slice, as a lost RTP packet would.
        const at = cutAt % m.length;
        return feed(Buffer.concat([m.subarray(0, at), m.subarray(Math.min(m.length, at + 1400))]), chunks);
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 runs');
});

t.test('fuzz: mutated RTP packets of a PS stream, parsed then demuxed', async (t) => {
  const pk = new PsRtpPacketizer({ ssrc: 1 });
  const packets = pk.packetize(samples[0]!, 0);
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 30 }), (mutations) => {
      const copy = packets.map((p) => Buffer.from(p));
      for (const [which, at, v] of mutations) {
        const p = copy[which % copy.length]!;
        p[at % p.length] = v;
      }
      const d = new PsDemuxer(() => {}, { maxFrameBytes: MAX_FRAME });
      for (const p of copy) {
        const r = parseRtpPacket(p);
        if (!r.ok) continue;
        d.push(r.packet.payload);
        if (r.packet.marker) d.endOfFrame();
      }
      d.flush();
      return d.bufferedBytes === 0;
    }),
    { numRuns: 300 },
  );
  t.pass('300 runs');
});

/** Random frames: video access units (with start codes) and audio, strictly growing PTS. */
const framesArb = fc
  .array(
    fc.record({
      video: fc.boolean(),
      step: fc.integer({ min: 1, max: 10_000 }),
      bFrameDelay: fc.constantFrom(0, 0, 3600, 7200),
      nal: fc.constantFrom(0x65, 0x41, 0x67, 0x06),
      size: fc.oneof(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 60_000, max: 140_000 })),
      seed: fc.integer({ min: 0, max: 255 }),
    }),
    { minLength: 1, maxLength: 12 },
  )
  .map((specs) => {
    let pts = 2 ** 33 - 50_000; // cross the 33-bit wrap now and then
    return specs.map((s): AvFrame => {
      pts += s.step;
      if (s.video) {
        const data = Buffer.alloc(5 + s.size);
        for (let i = 5; i < data.length; i++) data[i] = (i * 31 + s.seed) & 0xff;
        data.set([0, 0, 0, 1, s.nal], 0);
        return { kind: 'video', codec: 'h264', key: isKeyAccessUnit(data, 'h264'), pts: pts + s.bFrameDelay, dts: pts, data };
      }
      // Audio frames fit one PES (a PES without PTS is taken as the next audio frame).
      const data = Buffer.alloc(Math.min(s.size, 180), s.seed);
      return { kind: 'audio', codec: 'g711a', key: true, pts, dts: pts, data };
    });
  });

t.test('property: mux → demux round trip for random frames, any PES size limit and chunking', async (t) => {
  fc.assert(
    fc.property(framesArb, fc.integer({ min: 200, max: 65535 }), fc.integer({ min: 1, max: 5000 }), (frames, maxPes, chunk) => {
      const muxer = new PsMuxer({ maxPesPacketLength: maxPes });
      const got: AvFrame[] = [];
      const d = new PsDemuxer((f) => got.push(f));
      for (const f of frames) {
        const ps = muxer.mux(f);
        for (let i = 0; i < ps.length; i += chunk) d.push(ps.subarray(i, i + chunk));
        if (f.kind === 'video') d.endOfFrame();
      }
      d.flush();
      if (got.length !== frames.length) return false;
      // Video comes out at endOfFrame, audio when its PES ends: same order as muxed here.
      const shift = got[0]!.pts - frames[0]!.pts; // the demuxer's clock starts at the first raw PTS
      return got.every((g, i) => {
        const f = frames[i]!;
        return (
          g.kind === f.kind &&
          g.codec === f.codec &&
          g.key === f.key &&
          g.pts - f.pts === shift &&
          g.dts - f.dts === shift &&
          Buffer.from(g.data).equals(Buffer.from(f.data))
        );
      });
    }),
    { numRuns: 200 },
  );
  t.pass('200 runs');
});
