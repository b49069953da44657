import t from 'tap';
import type { Jt1078FrameEvent } from '../../../src/protocol/jt1078/index.js';
import {
  CAPTURES,
  captureBytes,
  chunked,
  h264NalTypes,
  ingest,
  scanPackets,
  seeded,
  to2019,
  type IngestResult,
} from './fixtures/helpers.js';

/** Figures from SOURCES.md (measured there with ffprobe), cross-checked by the scan below. */
const EXPECTED: Record<string, { packets: number; videoFrames: number; audioFrames: number; keyFrames: number; sim: string }> = {
  'data.txt': { packets: 324, videoFrames: 101, audioFrames: 0, keyFrames: 2, sim: '295696659617' },
  'audio_data.txt': { packets: 540, videoFrames: 102, audioFrames: 214, keyFrames: 2, sim: '156987000796' },
  'jt1078_1.txt': { packets: 8, videoFrames: 1, audioFrames: 0, keyFrames: 1, sim: '012345678999' },
  'JT1078_2.txt': { packets: 314, videoFrames: 270, audioFrames: 0, keyFrames: 6, sim: '012345678999' },
};

function frames(result: IngestResult): Jt1078FrameEvent[] {
  return result.events.filter((e): e is Jt1078FrameEvent => e.type === 'frame');
}

/** Comparable summary of a run (data as hex so chunkings can be compared deeply). */
function summary(result: IngestResult) {
  return frames(result).map((e) => ({
    kind: e.frame.kind,
    key: e.frame.key,
    pts: e.frame.pts,
    ts: e.deviceTimestamp,
    data: Buffer.from(e.frame.data).toString('hex'),
  }));
}

for (const name of CAPTURES) {
  t.test(name, async (t) => {
    const bytes = captureBytes(name);
    const scanned = scanPackets(bytes);
    const expected = EXPECTED[name]!;
    const whole = ingest([bytes]);
    const fs = frames(whole);

    t.test('packets match the independent scan', async (t) => {
      t.equal(scanned.length, expected.packets, 'scan agrees with SOURCES.md');
      t.equal(whole.packets.length, scanned.length);
      t.equal(whole.framer.counters.resyncBytes, 0);
      t.equal(whole.framer.counters.malformed, 0);
      t.equal(whole.framer.variant, '2016');
      t.equal(whole.framer.bufferedBytes, 0);
      for (let i = 0; i < scanned.length; i++) {
        const s = scanned[i]!;
        const p = whole.packets[i]!;
        if (
          p.sequence !== s.sequence ||
          p.dataType !== s.dataType ||
          p.subPackage !== s.subPackage ||
          p.payloadType !== s.payloadType ||
          p.timestamp !== s.timestamp ||
          !Buffer.from(p.body).equals(s.body)
        ) {
          t.fail(`packet ${i} differs from the scan`);
          return;
        }
      }
      t.ok(whole.packets.every((p) => p.sim === expected.sim && p.channel === 1));
      t.ok(whole.packets.every((p) => p.marker === (p.subPackage === 0 || p.subPackage === 2)), 'M bit on atomic/last');
    });

    t.test('frames: counts and payloads', async (t) => {
      const ends = scanned.filter((p) => p.subPackage === 0 || p.subPackage === 2);
      const video = fs.filter((e) => e.frame.kind === 'video');
      const audio = fs.filter((e) => e.frame.kind === 'audio');
      t.equal(fs.length, ends.length, 'one frame per atomic/last sub-package');
      t.equal(video.length, expected.videoFrames);
      t.equal(audio.length, expected.audioFrames);
      t.equal(video.filter((e) => e.frame.key).length, expected.keyFrames);
      t.equal(whole.reassembler.counters.droppedFrames, 0);
      for (const [kind, isKind] of [
        ['video', (d: number) => d <= 2],
        ['audio', (d: number) => d === 3],
      ] as const) {
        const fromPackets = Buffer.concat(scanned.filter((p) => isKind(p.dataType)).map((p) => p.body));
        const fromFrames = Buffer.concat(fs.filter((e) => e.frame.kind === kind).map((e) => e.frame.data));
        t.ok(fromFrames.equals(fromPackets), `${kind}: frames concatenate to the packet bodies`);
      }
      t.ok(video.every((e) => e.frame.codec === 'h264'));
      t.ok(audio.every((e) => e.frame.codec === 'g711a' && e.frame.data.length === 160));
    });

    t.test('video is Annex-B and starts with an I-frame carrying SPS/PPS', async (t) => {
      const video = fs.filter((e) => e.frame.kind === 'video');
      t.ok(
        video.every((e) => {
          const d = e.frame.data;
          return d[0] === 0 && d[1] === 0 && (d[2] === 1 || (d[2] === 0 && d[3] === 1));
        }),
        'every access unit starts with a start code',
      );
      const first = video[0]!;
      t.equal(first.frame.key, true);
      const nals = h264NalTypes(first.frame.data);
      t.ok(nals.includes(7) && nals.includes(8) && nals.includes(5), `SPS, PPS, IDR in the first frame (${nals})`);
      for (const e of video.filter((e) => e.frame.key)) t.ok(h264NalTypes(e.frame.data).includes(5), 'key frames hold an IDR');
    });

    t.test('timestamps', async (t) => {
      t.equal(fs[0]!.frame.pts, 0, 'first frame at the base');
      for (const kind of ['video', 'audio'] as const) {
        const k = fs.filter((e) => e.frame.kind === kind);
        if (k.length === 0) continue;
        const t0 = k[0]!.deviceTimestamp;
        t.ok(
          k.every((e, i) => (i === 0 || e.frame.pts > k[i - 1]!.frame.pts) && e.frame.dts === e.frame.pts),
          `${kind}: strictly increasing`,
        );
        // Clean captures: pts is exactly (device ms - first ms) x 90 (audio and video share the origin).
        const origin = fs[0]!.deviceTimestamp;
        t.ok(
          k.every((e) => e.frame.pts === (e.deviceTimestamp - origin) * 90),
          `${kind}: pts = (ts - ts0) x 90 (ts0 ${t0})`,
        );
      }
      const c = whole.reassembler.counters;
      t.same([c.clockResets, c.clockAdjustments, c.clockWraps], [0, 0, 0]);
    });

    t.test('chunking does not change the result', async (t) => {
      const reference = summary(whole);
      t.same(summary(ingest(chunked(bytes, [1]))), reference, '1 byte at a time');
      const rnd = seeded(name.length * 7919);
      const sizes = Array.from({ length: 97 }, () => 1 + Math.floor(rnd() * 3000));
      const random = ingest(chunked(bytes, sizes));
      t.same(summary(random), reference, 'random chunk sizes');
      t.ok(random.maxBuffered <= random.framer.maxBufferedBytes);
      t.same(summary(ingest(chunked(bytes, [1023]))), reference, 'simulator-sized chunks');
    });

    t.test('garbage before and between packets is skipped and counted', async (t) => {
      const rnd = seeded(42);
      const garbage = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)).map((b) => (b === 0x30 ? 0x2f : b)));
      const parts: Buffer[] = [garbage(37)];
      let inserted = 37;
      scanned.forEach((p, i) => {
        parts.push(bytes.subarray(p.offset, p.offset + p.length));
        if (i % 5 === 2) {
          const n = 1 + (i % 13);
          parts.push(garbage(n));
          inserted += n;
        }
      });
      const dirty = Buffer.concat(parts);
      for (const [label, chunks] of [
        ['whole', [dirty]],
        ['1-byte chunks', chunked(dirty, [1])],
      ] as const) {
        const r = ingest(chunks);
        t.equal(r.packets.length, scanned.length, `${label}: all packets recovered`);
        t.equal(r.framer.counters.resyncBytes, inserted, `${label}: skipped bytes counted`);
        t.same(summary(r), summary(whole), `${label}: same frames`);
      }
    });

    t.test('synthetic 2019-header version parses to the same frames', async (t) => {
      const v2019 = to2019(bytes);
      t.equal(v2019.length, bytes.length + 4 * scanned.length);
      for (const chunks of [[v2019], chunked(v2019, [1]), chunked(v2019, [333])]) {
        const r = ingest(chunks);
        t.equal(r.framer.variant, '2019');
        t.equal(r.packets.length, scanned.length);
        t.ok(r.packets.every((p) => p.sim === '00000000' + expected.sim && p.variant === '2019'));
        t.same(summary(r), summary(whole));
      }
      // Forced 2019 on a 2016 stream: every packet fails (or is garbage), nothing crashes.
      const forced = ingest([bytes], { variant: '2019' });
      t.ok(forced.packets.length < scanned.length);
    });
  });
}

t.test('header form is re-checked when a packet fails: 2016 then 2019 on one connection', async (t) => {
  const bytes = captureBytes('data.txt');
  const mixed = Buffer.concat([bytes, to2019(bytes)]);
  for (const chunks of [[mixed], chunked(mixed, [1])]) {
    const r = ingest(chunks);
    t.equal(r.framer.counters.variantChanges, 1);
    t.equal(r.framer.variant, '2019');
    t.equal(r.packets.length, 648);
    t.equal(r.framer.counters.resyncBytes, 0);
  }
});

t.test('capture figures (for the report)', async (t) => {
  for (const name of CAPTURES) {
    const r = ingest([captureBytes(name)]);
    const fs = frames(r);
    const first = fs[0]!.deviceTimestamp;
    const last = fs.at(-1)!.deviceTimestamp;
    t.comment(
      `${name}: ${r.packets.length} packets, ${fs.length} frames ` +
        `(${fs.filter((e) => e.frame.kind === 'video').length} video, ${fs.filter((e) => e.frame.kind === 'audio').length} audio), ` +
        `codecs ${[...new Set(fs.map((e) => e.frame.codec))].join('+')}, device ts span ${last - first} ms`,
    );
  }
  t.pass();
});
