import t from 'tap';
import fc from 'fast-check';
import { RtpReorderBuffer } from '../../../src/protocol/rtp/index.js';
import type { SequencedPacket } from '../../../src/protocol/rtp/index.js';

type P = SequencedPacket;
const pkt = (seq: number, ssrc = 1): P => ({ sequenceNumber: seq & 0xffff, ssrc });

function collect(options = {}) {
  const out: number[] = [];
  const losses: number[] = [];
  const buf = new RtpReorderBuffer<P>(
    {
      onPacket: (p) => out.push(p.sequenceNumber),
      onLoss: (n) => losses.push(n),
    },
    options,
  );
  return { out, losses, buf };
}

t.test('in order passes straight through, across the 16-bit wrap', async (t) => {
  const { out, buf } = collect();
  for (let s = 65530; s < 65540; s++) buf.push(pkt(s));
  t.strictSame(out, [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3]);
  t.equal(buf.buffered, 0);
  t.equal(buf.expectedSequence, 4);
});

t.test('swapped packets are put back in order', async (t) => {
  const { out, buf } = collect();
  for (const s of [65534, 0, 65535, 2, 1, 3]) buf.push(pkt(s));
  t.strictSame(out, [65534, 65535, 0, 1, 2, 3]);
  t.equal(buf.stats.outOfOrder, 2);
  t.equal(buf.stats.lost, 0);
});

t.test('duplicates and late packets are dropped and counted', async (t) => {
  const { out, buf } = collect({ window: 4 });
  for (const s of [10, 11, 11, 13, 13]) buf.push(pkt(s));
  t.equal(buf.stats.duplicates, 2, 'duplicate released and duplicate held');
  // Gap at 12: window 4 gives up once 16 arrives.
  buf.push(pkt(16));
  t.strictSame(out, [10, 11, 13]);
  t.equal(buf.stats.lost, 1);
  buf.push(pkt(12));
  t.equal(buf.stats.late, 1, 'given-up packet arriving is late');
  buf.push(pkt(11));
  t.equal(buf.stats.duplicates, 3, 'old released packet is a duplicate');
  buf.flush();
  t.strictSame(out, [10, 11, 13, 16]);
  t.equal(buf.stats.lost, 3, '14 and 15 lost at flush');
});

t.test('loss is reported before the packet after the gap', async (t) => {
  const { out, losses, buf } = collect({ window: 8 });
  buf.push(pkt(1));
  buf.push(pkt(5));
  t.strictSame(out, [1]);
  buf.push(pkt(20)); // forces 2..12 out: 2,3,4 lost, 5 released, 6..12 lost
  t.strictSame(out, [1, 5]);
  t.strictSame(losses, [3]);
  buf.flush();
  t.strictSame(out, [1, 5, 20]);
  t.strictSame(losses, [3, 14]);
  t.equal(buf.stats.lost, 17);
});

t.test('a big jump is a sender restart, not 30000 losses', async (t) => {
  const { out, buf } = collect();
  buf.push(pkt(100));
  buf.push(pkt(30100));
  buf.push(pkt(30101));
  t.strictSame(out, [100, 30100, 30101]);
  t.equal(buf.stats.restarts, 1);
  t.equal(buf.stats.lost, 0);
});

t.test('SSRC check: fixed or first seen', async (t) => {
  const fixed = collect({ ssrc: 7 });
  fixed.buf.push(pkt(1, 8));
  fixed.buf.push(pkt(2, 7));
  t.strictSame(fixed.out, [2]);
  t.equal(fixed.buf.stats.ssrcMismatch, 1);
  const first = collect({ ssrc: 'first' });
  first.buf.push(pkt(1, 0xffffffff));
  first.buf.push(pkt(2, 5));
  first.buf.push(pkt(2, 0xffffffff));
  t.strictSame(first.out, [1, 2]);
  t.equal(first.buf.stats.ssrcMismatch, 1);
});

t.test('property: any permutation within the window comes out sorted, no loss', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffff }),
      fc.array(fc.double({ min: 0, max: 31, noNaN: true }), { minLength: 1, maxLength: 400 }),
      (start, jitter) => {
        const order = jitter.map((j, i) => ({ seq: (start + i) & 0xffff, key: i === 0 ? -1 : i + j })).sort((a, b) => a.key - b.key);
        const { out, buf } = collect({ window: 32 });
        for (const o of order) buf.push(pkt(o.seq));
        buf.flush();
        return buf.stats.lost === 0 && out.length === jitter.length && out.every((s, i) => s === ((start + i) & 0xffff));
      },
    ),
    { numRuns: 500 },
  );
  t.pass('500 runs');
});

t.test('property: random sequence numbers never throw, output strictly advances, memory bounded', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 300 }), (seqs) => {
      const { out, buf } = collect({ window: 16 });
      for (const s of seqs) {
        buf.push(pkt(s));
        if (buf.buffered > 16) return false;
      }
      buf.flush();
      const st = buf.stats;
      return out.length === st.released && st.received === st.released + st.duplicates + st.late + st.ssrcMismatch;
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 runs');
});

t.test('skipGap gives up only the first gap', async (t) => {
  const { out, losses, buf } = collect();
  for (const s of [1, 3, 4, 7]) buf.push(pkt(s));
  t.strictSame(out, [1]);
  buf.skipGap();
  t.strictSame(out, [1, 3, 4], '2 given up, 3 and 4 out, 7 still waits for 5 and 6');
  t.strictSame(losses, [1]);
  t.equal(buf.buffered, 1);
  buf.push(pkt(5));
  buf.push(pkt(6));
  t.strictSame(out, [1, 3, 4, 5, 6, 7]);
  buf.skipGap();
  t.equal(buf.stats.lost, 1, 'nothing held: no-op');
});
