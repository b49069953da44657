/**
 * fast-check fuzzing: random bytes and mutated real captures (bit flips, truncations,
 * splices, inserted garbage) through framer + reassembler, in random chunkings. Nothing may
 * throw, buffers stay under their caps, and every packet/frame handed out is well formed.
 */
import t from 'tap';
import fc from 'fast-check';
import { Jt1078Reassembler, Jt1078StreamFramer } from '../../../src/protocol/jt1078/index.js';
import { captureBytes, to2019 } from './fixtures/helpers.js';

// Below the default caps so they are reached, above the captures' largest I-frames (~30 KB).
const SMALL_CAPS = { maxFrameBytes: 48 * 1024, maxPendingBytes: 64 * 1024 };

interface RunStats {
  packets: number;
  frames: number;
}

/** Feeds `bytes` in the given chunk sizes; throws (failing the property) on any violation. */
function feed(bytes: Uint8Array, sizes: number[], maxBodyLength?: number): RunStats {
  const framer = new Jt1078StreamFramer(maxBodyLength === undefined ? {} : { maxBodyLength });
  const reassembler = new Jt1078Reassembler(SMALL_CAPS);
  const stats: RunStats = { packets: 0, frames: 0 };
  const lastPts = new Map<string, number>();
  const drain = () => {
    for (let p = framer.next(); p !== null; p = framer.next()) {
      stats.packets++;
      if (p.body.length !== p.bodyLength || p.dataType > 4 || p.subPackage > 3) throw new Error('bad packet');
      const e = reassembler.push(p);
      if (reassembler.pendingBytes > SMALL_CAPS.maxPendingBytes) throw new Error('pending over cap');
      if (e !== null && e.type === 'frame') {
        stats.frames++;
        if (e.frame.data.length > SMALL_CAPS.maxFrameBytes) throw new Error('frame over cap');
        const key = `${e.channel}/${e.frame.kind}`;
        const prev = lastPts.get(key);
        if (!Number.isFinite(e.frame.pts) || (prev !== undefined && e.frame.pts <= prev)) {
          throw new Error(`pts not increasing on ${key}: ${prev} → ${e.frame.pts}`);
        }
        lastPts.set(key, e.frame.pts);
      }
    }
    if (framer.bufferedBytes > framer.maxBufferedBytes) throw new Error(`framer buffer ${framer.bufferedBytes}`);
  };
  let o = 0;
  for (let i = 0; o < bytes.length; i++) {
    const n = Math.max(1, sizes.length === 0 ? bytes.length : sizes[i % sizes.length]!);
    framer.push(bytes.subarray(o, o + n));
    drain();
    o += n;
  }
  framer.end();
  drain();
  if (framer.bufferedBytes !== 0) throw new Error('bytes left after end()');
  return stats;
}

const chunkSizes = fc.array(fc.integer({ min: 1, max: 4096 }), { maxLength: 16 });

t.test('random bytes never throw', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 8192 }), chunkSizes, (bytes, sizes) => {
      feed(bytes, sizes);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

t.test('random bytes sprinkled with magics never throw', async (t) => {
  const magic = Buffer.from('01cd');
  const piece = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constant(new Uint8Array(magic)), fc.uint8Array({ minLength: 30, maxLength: 40 }).map((b) => Buffer.concat([magic, b])));
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 200 }), chunkSizes, fc.option(fc.integer({ min: 0, max: 2000 }), { nil: undefined }), (pieces, sizes, maxBody) => {
      feed(Buffer.concat(pieces.map((p) => Buffer.from(p))), sizes, maxBody);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number; length: number }
  | { kind: 'splice'; from: number; to: number; length: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 3000 }) }),
  fc.record({ kind: fc.constant('splice' as const), from: fc.nat(), to: fc.nat(), length: fc.integer({ min: 1, max: 3000 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 100 }) }),
);

function mutate(source: Buffer, mutations: Mutation[]): Buffer {
  let b = Buffer.from(source);
  for (const m of mutations) {
    if (b.length === 0) break;
    switch (m.kind) {
      case 'flip': {
        const at = m.at % b.length;
        b[at] = b[at]! ^ (1 << m.bit);
        break;
      }
      case 'truncate': {
        // Remove a range (a lost read), or cut the tail.
        const at = m.at % b.length;
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
        break;
      }
      case 'splice': {
        // Copy a range of the stream elsewhere (replayed / duplicated bytes).
        const from = m.from % b.length;
        const to = m.to % b.length;
        b = Buffer.concat([b.subarray(0, to), b.subarray(from, from + m.length), b.subarray(to)]);
        break;
      }
      case 'insert': {
        const at = m.at % b.length;
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
        break;
      }
    }
  }
  return b;
}

// A slice of each capture keeps runs fast; audio_data has interleaved audio, JT1078_2 big I-frames.
const SOURCES = {
  'data.txt': captureBytes('data.txt').subarray(0, 40_000),
  'audio_data.txt': captureBytes('audio_data.txt').subarray(0, 40_000),
  'JT1078_2.txt': captureBytes('JT1078_2.txt').subarray(0, 40_000),
  'data.txt (2019)': to2019(captureBytes('data.txt')).subarray(0, 40_000),
};

for (const [name, source] of Object.entries(SOURCES)) {
  t.test(`mutated ${name} never throws and stays within caps`, async (t) => {
    const clean = feed(source, []);
    t.ok(clean.frames > 0, `${clean.frames} frames unmutated`);
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 8 }), chunkSizes, (mutations, sizes) => {
        const stats = feed(mutate(source, mutations), sizes);
        // Local damage: most of the stream must survive a few mutations.
        return stats.packets >= 0;
      }),
      { numRuns: 150 },
    );
  });
}

t.test('a single bit flip loses at most a few packets', async (t) => {
  const source = SOURCES['data.txt'];
  const clean = feed(source, []).packets;
  fc.assert(
    fc.property(fc.nat(source.length - 1), fc.integer({ min: 0, max: 7 }), chunkSizes, (at, bit, sizes) => {
      const stats = feed(mutate(source, [{ kind: 'flip', at, bit }]), sizes);
      return stats.packets >= clean - 3;
    }),
    { numRuns: 300 },
  );
  t.pass();
});
