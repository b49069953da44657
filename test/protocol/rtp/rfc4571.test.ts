import t from 'tap';
import fc from 'fast-check';
import { encodeRfc4571, Rfc4571Decoder, serializeRtpPacket } from '../../../src/protocol/rtp/index.js';

function rtp(seq: number, size: number): Uint8Array {
  const payload = Buffer.alloc(size, seq & 0xff);
  return serializeRtpPacket({ marker: false, payloadType: 96, sequenceNumber: seq, timestamp: seq * 10, ssrc: 9, csrcs: [], extension: null }, payload);
}

function decodeAll(stream: Uint8Array, cuts: number[]): { packets: Buffer[]; decoder: Rfc4571Decoder } {
  const packets: Buffer[] = [];
  const decoder = new Rfc4571Decoder((p) => packets.push(Buffer.from(p)));
  let prev = 0;
  for (const cut of [...cuts, stream.length]) {
    decoder.push(stream.subarray(prev, cut));
    prev = cut;
  }
  return { packets, decoder };
}

const sizes = [0, 1, 100, 1388, 65535 - 12, 5, 1400];
const packets = sizes.map((s, i) => rtp(i, s));
const stream = Buffer.concat(packets.map((p) => encodeRfc4571(p)));

t.test('whole stream, then every single cut point', async (t) => {
  const whole = decodeAll(stream, []);
  t.equal(whole.packets.length, packets.length);
  t.ok(whole.packets.every((p, i) => p.equals(packets[i]!)));
  let bad = 0;
  for (let cut = 1; cut < stream.length; cut += cut < 2000 ? 1 : 997) {
    const r = decodeAll(stream, [cut]);
    if (r.packets.length !== packets.length || r.packets.some((p, i) => !p.equals(packets[i]!))) bad++;
  }
  t.equal(bad, 0, 'two chunks, any split');
  const bytewise = decodeAll(
    stream,
    Array.from({ length: stream.length - 1 }, (_, i) => i + 1),
  );
  t.equal(bytewise.packets.length, packets.length, 'one byte at a time');
  t.equal(bytewise.decoder.bufferedBytes, 0);
});

t.test('property: arbitrary chunking gives the same packets', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 40 }), (raw) => {
      const cuts = [...new Set(raw)].sort((a, b) => a - b);
      const r = decodeAll(stream, cuts);
      return r.packets.length === packets.length && r.packets.every((p, i) => p.equals(packets[i]!));
    }),
    { numRuns: 300 },
  );
  t.pass('300 runs');
});

t.test('delivered packets stay valid after more input (no reused memory)', async (t) => {
  const kept: Uint8Array[] = [];
  const decoder = new Rfc4571Decoder((p) => kept.push(p));
  for (let i = 0; i < stream.length; i += 333) decoder.push(Buffer.from(stream.subarray(i, i + 333)));
  t.ok(kept.every((p, i) => Buffer.from(p).equals(packets[i]!)));
});

t.test('zero-length frames are skipped; garbage resyncs on the next RTP-looking frame', async (t) => {
  // Junk with a fake length + RTP v2 byte at '5678 9a': the SSRC check rejects it.
  const junk = Buffer.from('ffff00ff123456789abcdef0', 'hex');
  const input = Buffer.concat([encodeRfc4571(packets[2]!), Buffer.from([0, 0]), junk, encodeRfc4571(packets[3]!), encodeRfc4571(packets[6]!)]);
  const r = decodeAll(input, [3, 120]);
  t.equal(r.decoder.stats.emptyFrames, 1);
  t.ok(r.decoder.stats.resyncs >= 1, 'framing loss noticed');
  t.ok(r.packets[0]!.equals(packets[2]!));
  t.ok(r.packets.at(-1)!.equals(packets[6]!), 'back in step after the junk');
  t.ok(r.packets.some((p) => p.equals(packets[3]!)));
});

t.test('fuzz: random and mutated streams never throw, memory stays bounded', async (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 3000 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 10 }),
      fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 10 }),
      (random, mutations, chunkSizes) => {
        for (const input of [random, mutate(stream.subarray(0, 3000), mutations)]) {
          const decoder = new Rfc4571Decoder(() => {});
          let at = 0;
          let k = 0;
          while (at < input.length) {
            const n = chunkSizes.length ? chunkSizes[k++ % chunkSizes.length]! : input.length;
            decoder.push(input.subarray(at, at + n));
            at += n;
            if (decoder.bufferedBytes > 65537) return false;
          }
        }
        return true;
      },
    ),
    { numRuns: 1000 },
  );
  t.pass('1000 runs');
});

function mutate(bytes: Uint8Array, mutations: Array<[number, number]>): Uint8Array {
  const m = Buffer.from(bytes);
  for (const [at, v] of mutations) m[at % m.length] = v;
  return m;
}
