import t from 'tap';
import fc from 'fast-check';
import { DataType, Jt1078StreamFramer, loadCaptureSync } from '../../../src/protocol/jt1078/index.js';
import {
  planStream,
  ReplayOptionError,
  ReplayPlan,
  StreamCursor,
  type PlannedPacket,
  type ReplaySource,
} from '../../../src/tools/sim/index.js';
import { CAPTURES, captureSource, sequenceGaps, TESTDATA } from './fixtures/helpers.js';

const sources = new Map<string, ReplaySource>();
for (const name of CAPTURES) sources.set(name, await captureSource(name));

function all(plan: ReplayPlan, stream: number, loops: number): PlannedPacket[] {
  return [...planStream(plan, stream, loops)];
}

t.test('stream 0 with default options reproduces each capture byte for byte', async (t) => {
  for (const name of CAPTURES) {
    const source = sources.get(name)!;
    const plan = new ReplayPlan(source);
    const bytes = Buffer.concat(all(plan, 0, 1).map((p) => p.bytes));
    t.ok(bytes.equals(loadCaptureSync(new URL(name, TESTDATA)).bytes), `${name}: identical bytes`);
    t.equal(source.skippedBytes, 0, `${name}: no garbage`);
  }
});

t.test('send times come from the packet timestamps', async (t) => {
  const plan = new ReplayPlan(sources.get('data.txt')!);
  const packets = all(plan, 0, 1);
  t.equal(packets[0]!.sendAtMs, 0);
  t.equal(packets.at(-1)!.sendAtMs, 4170, 'last packet at the capture span');
  for (const p of packets) t.equal(p.sendAtMs, p.timestamp, 'timestamp origin 0: send time = timestamp');
  const fast = new ReplayPlan(sources.get('data.txt')!, { speed: 10 });
  t.equal(fast.sendAtMs(0, packets.length - 1), 417, 'speed 10');
  t.ok(plan.loopPeriodMs === 4170 + 41 || plan.loopPeriodMs === 4170 + 42, 'period = span + one video frame interval (41/42 ms)');

  // audio_data: audio is captured up to 80 ms ahead of video; capture order is kept and no
  // packet goes out before one captured ahead of it.
  const av = new ReplayPlan(sources.get('audio_data.txt')!);
  const avPackets = all(av, 0, 1);
  let backwards = 0;
  for (let i = 1; i < avPackets.length; i++) {
    t.ok(avPackets[i]!.sendAtMs >= avPackets[i - 1]!.sendAtMs || t.fail('send time went back'));
    if (avPackets[i]!.timestamp < avPackets[i - 1]!.timestamp) backwards++;
  }
  t.ok(backwards > 0, 'the capture interleaves audio ahead of video (timestamps kept as captured)');
  t.ok(avPackets.some((p) => p.dataType === DataType.Audio) && avPackets.some((p) => p.dataType === DataType.VideoI));
  // Audio ends at 4260 and steps 20 ms: the next loop's audio starts 20 ms after it.
  t.equal(av.loopPeriodMs, 4280);

  const single = new ReplayPlan(sources.get('jt1078_1.txt')!);
  t.equal(single.loopPeriodMs, 40, 'one frame: 25 fps fallback interval');
  t.ok(all(single, 0, 1).every((p) => p.sendAtMs === 0), 'one frame goes out at once');
});

t.test('loops continue sequence numbers and timestamps', async (t) => {
  for (const name of CAPTURES) {
    const plan = new ReplayPlan(sources.get(name)!);
    const packets = all(plan, 0, 3);
    t.equal(packets.length, plan.packetsPerLoop * 3);
    t.equal(sequenceGaps(packets), 0, `${name}: sequence continuous`);
    for (let loop = 1; loop < 3; loop++) {
      const previous = packets.filter((p) => p.loop === loop - 1);
      const current = packets.filter((p) => p.loop === loop);
      const maxPrevious = Math.max(...previous.map((p) => p.timestamp));
      const minCurrent = Math.min(...current.map((p) => p.timestamp));
      t.ok(minCurrent > maxPrevious, `${name}: loop ${loop} starts after loop ${loop - 1} ends`);
      t.ok(current[0]!.sendAtMs > previous.at(-1)!.sendAtMs, `${name}: send time goes on`);
    }
  }
});

t.test('SIM, channel, sequence start and header variant rewriting', async (t) => {
  const source = sources.get('audio_data.txt')!;
  const plan = new ReplayPlan(source, { streams: 3, simBase: '13800000000', channel: 7, sequenceStart: 65530 });
  t.equal(plan.simFor(0), '013800000000');
  t.equal(plan.simFor(2), '013800000002');
  t.throws(() => plan.simFor(3), RangeError, 'stream index outside the planned count');
  const packets = all(plan, 2, 1);
  t.equal(packets[0]!.sequence, 65530);
  t.equal(packets[6]!.sequence, 0, 'wraps at 2^16');
  const framer = new Jt1078StreamFramer();
  framer.push(Buffer.concat(packets.map((p) => p.bytes)));
  framer.end();
  let count = 0;
  for (let p = framer.next(); p !== null; p = framer.next(), count++) {
    const original = source.packets[count]!;
    if (p.sim !== '013800000002' || p.channel !== 7 || !Buffer.from(p.body).equals(Buffer.from(original.body))) {
      t.fail(`packet ${count} differs`);
      break;
    }
  }
  t.equal(count, source.packets.length);

  const wide = new ReplayPlan(source, { variant: '2019', streams: 2 });
  const framer19 = new Jt1078StreamFramer({ variant: '2019' });
  framer19.push(Buffer.concat(all(wide, 1, 1).map((p) => p.bytes)));
  framer19.end();
  const first = framer19.next()!;
  t.equal(first.variant, '2019');
  t.equal(first.sim, '00000000156987000797', '20-digit SIM, capture SIM + 1');
  t.equal(first.timestamp, source.packets[0]!.timestamp);

  t.throws(() => new ReplayPlan(source, { simBase: '999999999999', streams: 2 }), ReplayOptionError, '12 digits overflow');
  const optionOf = (make: () => unknown) => {
    try {
      make();
    } catch (error) {
      return error instanceof ReplayOptionError ? error.option : 'not a ReplayOptionError';
    }
    return 'no error';
  };
  t.equal(optionOf(() => new ReplayPlan(source, { simBase: '12a' })), 'simBase');
  t.equal(optionOf(() => new ReplayPlan(source, { channel: 256 })), 'channel');
  t.equal(optionOf(() => new ReplayPlan(source, { speed: 0 })), 'speed');
  t.doesNotThrow(() => new ReplayPlan(source, { simBase: '999999999999', variant: '2019', streams: 2 }), 'fits in 20 digits');
});

t.test('timestampOrigin moves the clock, not the pacing', async (t) => {
  const source = sources.get('JT1078_2.txt')!;
  const plan = new ReplayPlan(source, { timestampOrigin: 0 });
  const packets = all(plan, 0, 1);
  t.equal(packets[0]!.timestamp, 0);
  t.equal(packets.at(-1)!.timestamp, source.packets.at(-1)!.timestamp - source.packets[0]!.timestamp);
  t.equal(packets.at(-1)!.sendAtMs, packets.at(-1)!.timestamp);
});

t.test('the cursor writes the same bytes as the reference encoder, whatever the tick', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...CAPTURES),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 200 }),
      fc.integer({ min: 200, max: 70_000 }),
      fc.double({ min: 0.5, max: 50, noNaN: true }),
      async (name, loops, tickMs, maxBytes, speed) => {
        const plan = new ReplayPlan(sources.get(name)!, { streams: 5, speed, simBase: '1' });
        const expected = Buffer.concat(all(plan, 4, loops).map((p) => p.bytes));
        const cursor = new StreamCursor(plan, 4, loops);
        const parts: Buffer[] = [];
        let packets = 0;
        for (let now = 0; !cursor.done; now += tickMs) {
          for (let batch = cursor.take(now, maxBytes); batch !== null; batch = cursor.take(now, maxBytes)) {
            if (batch.packets > 1 && batch.bytes.length > maxBytes) return false;
            if (batch.firstSendAtMs > now) return false;
            packets += batch.packets;
            parts.push(batch.bytes);
          }
        }
        return packets === plan.packetsPerLoop * loops && Buffer.concat(parts).equals(expected);
      },
    ),
    { numRuns: 40 },
  );
});

t.test('property: any capture slice and loop count gives continuous sequences and a clock that never goes back', async (t) => {
  await fc.assert(
    fc.property(
      fc.constantFrom(...CAPTURES),
      fc.nat(),
      fc.integer({ min: 1, max: 400 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 0, max: 0xffff }),
      (name, startSeed, length, loops, sequenceStart) => {
        const source = sources.get(name)!;
        const start = startSeed % source.packets.length;
        const slice: ReplaySource = { ...source, packets: source.packets.slice(start, start + length) };
        const plan = new ReplayPlan(slice, { sequenceStart });
        const packets = all(plan, 0, loops);
        if (packets.length !== slice.packets.length * loops) return false;
        if (packets[0]!.sequence !== sequenceStart || sequenceGaps(packets) !== 0) return false;
        // Per media kind (the capture itself interleaves audio ahead of video), timestamps
        // never decrease, including across loop boundaries; send times never decrease at all.
        const lastByKind = new Map<string, number>();
        const minOfLoop = new Array<number>(loops).fill(Infinity);
        const maxOfLoop = new Array<number>(loops).fill(-Infinity);
        let previousSendAt = 0;
        for (const p of packets) {
          if (p.sendAtMs < previousSendAt) return false;
          previousSendAt = p.sendAtMs;
          const kind = p.dataType === DataType.Audio ? 'audio' : 'video';
          if (p.timestamp < (lastByKind.get(kind) ?? -Infinity)) return false;
          lastByKind.set(kind, p.timestamp);
          minOfLoop[p.loop] = Math.min(minOfLoop[p.loop]!, p.timestamp);
          maxOfLoop[p.loop] = Math.max(maxOfLoop[p.loop]!, p.timestamp);
        }
        for (let k = 1; k < loops; k++) if (!(minOfLoop[k]! > maxOfLoop[k - 1]!)) return false;
        return true;
      },
    ),
    { numRuns: 300 },
  );
});
