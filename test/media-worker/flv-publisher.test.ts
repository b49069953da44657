import t from 'tap';
import fc from 'fast-check';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { FlvPublisher } from '../../src/media-worker/flv-publisher.js';
import { WorkerFlvFeed, type FlvFeedTarget } from '../../src/media-process/viewers/worker-feed.js';
import { FlvMuxer } from '../../src/protocol/flv/index.js';
import { RingBuffer, RingReader, RingWriter } from '../../src/shared/ring.js';
import {
  FLV_RECORD_CLOSE,
  FLV_RECORD_INFO,
  FLV_RECORD_OPEN,
  FLV_TAG_FLAG_AFTER_GAP,
  FLV_TAG_FLAG_CONFIG,
  FLV_TAG_FLAG_KEY,
  flvRecordStream,
  flvRecordTag,
  flvRecordType,
  isFlvTagRecord,
} from '../../src/shared/contracts/flv-records.js';
import { alawFrames, H264, interleave, videoFrames } from '../protocol/flv/fixtures/helpers.js';

interface Rec {
  type: number;
  stream: number;
  bytes: Buffer;
}

/** What the reader sees once the publisher has published (it does at the end of each turn). */
function drain(reader: RingReader, publisher: FlvPublisher): Rec[] {
  publisher.flush();
  const out: Rec[] = [];
  reader.read((view, tag) => out.push({ type: flvRecordType(tag), stream: flvRecordStream(tag), bytes: Buffer.from(view) }));
  return out;
}

const AV = () => interleave(videoFrames(H264, 'h264'), alawFrames());
const label = (r: Rec): string =>
  r.type === FLV_RECORD_OPEN ? 'open' : r.type === FLV_RECORD_CLOSE ? 'close' : r.type === FLV_RECORD_INFO ? 'info' : isFlvTagRecord(r.type) ? 'tag' : `?${r.type}`;

t.test('record format: open, info, the muxer’s tags byte for byte with key/config flags, close', async (t) => {
  const ring = RingBuffer.create(1 << 22);
  const reader = new RingReader(ring);
  const publisher = new FlvPublisher(ring);
  const a = publisher.open('live/a', { hasAudio: true });
  const b = publisher.open('rtp/0BEBC201');
  t.not(a.index, b.index, 'distinct stream indices');
  const frames = AV();
  for (const f of frames) a.push(f);
  a.close('device offline');
  b.close('no frames');
  const records = drain(reader, publisher);

  t.same(records.slice(0, 3).map(label), ['open', 'open', 'info'], 'both announced, then info before the first tag');
  t.same(JSON.parse(records[0]!.bytes.toString()), { hasAudio: true, name: 'live/a' });
  t.equal(records[0]!.stream, a.index);
  t.same(JSON.parse(records[1]!.bytes.toString()), { name: 'rtp/0BEBC201' });
  t.same(records.slice(-2).map((r) => [label(r), r.stream, r.bytes.toString()]), [
    ['close', a.index, 'device offline'],
    ['close', b.index, 'no frames'],
  ]);

  const reference = new FlvMuxer();
  const expected = frames.flatMap((f) => reference.mux(f));
  const tags = records.filter((r) => isFlvTagRecord(r.type));
  t.equal(tags.length, expected.length, `${expected.length} tags`);
  t.ok(tags.every((r) => r.stream === a.index));
  const mismatched = tags.findIndex((r, i) => !r.bytes.equals(Buffer.from(expected[i]!.bytes)));
  t.equal(mismatched, -1, 'every tag is the muxer output, unchanged');
  const flagsOk = tags.every((r, i) => ((r.type & FLV_TAG_FLAG_KEY) !== 0) === expected[i]!.key && ((r.type & FLV_TAG_FLAG_CONFIG) !== 0) === expected[i]!.config);
  t.ok(flagsOk, 'key and sequence-header flags match');
  t.equal(tags.filter((r) => r.type & FLV_TAG_FLAG_KEY).length, 2, 'two key frames in the sample');
  t.equal(tags.filter((r) => r.type & FLV_TAG_FLAG_AFTER_GAP).length, 0, 'no gap');
  const info = JSON.parse(records.find((r) => r.type === FLV_RECORD_INFO)!.bytes.toString());
  t.match(info, { videoCodec: 'h264', width: 640, height: 480 });
  t.match(publisher.stats(), { streams: 0, tagsWritten: expected.length, droppedTags: 0, gaps: 0, controlBacklog: 0 });
});

t.test('a full ring never blocks: tags dropped and counted, the stream resumes at the next key frame', async (t) => {
  const ring = RingBuffer.create(1 << 15); // 32 KiB: a few frames
  const reader = new RingReader(ring);
  const publisher = new FlvPublisher(ring);
  const p = publisher.open('live/full');
  const frames = videoFrames(H264, 'h264');
  // Nobody reads while frames 0..44 are pushed (~47 kB): the ring fills.
  for (const f of frames.slice(0, 45)) p.push(f);
  const first = drain(reader, publisher);
  const s1 = publisher.stats();
  t.ok(s1.droppedTags > 0, `${s1.droppedTags} tags dropped while full`);
  t.equal(s1.gaps, 1);
  // Now the reader keeps up; frames 45..49 are still skipped (no key frame), 50 resumes.
  const later: Rec[] = [];
  for (const f of frames.slice(45)) {
    p.push(f);
    later.push(...drain(reader, publisher));
  }
  const tags = later.filter((r) => isFlvTagRecord(r.type));
  t.equal(tags[0]!.type & (FLV_TAG_FLAG_KEY | FLV_TAG_FLAG_AFTER_GAP), FLV_TAG_FLAG_KEY | FLV_TAG_FLAG_AFTER_GAP, 'first tag after the gap: the key frame, marked');
  t.equal(tags.length, 50, 'frames 50..99');
  t.equal(tags[0]!.bytes.readUIntBE(4, 3), 2000, 'frame 50 (2 s)');
  t.equal(publisher.stats().droppedTags, s1.droppedTags + 5, 'frames 45..49 skipped too');
  t.same(first.slice(0, 2).map(label), ['open', 'info']);
});

t.test('a sequence header lost in the gap is sent again before the resuming key frame', async (t) => {
  const ring = RingBuffer.create(1 << 15);
  const reader = new RingReader(ring);
  const publisher = new FlvPublisher(ring);
  const frames = videoFrames(H264, 'h264');
  // Another stream fills the ring, and opens wait for space: while they do, every tag is
  // dropped, so this stream's sequence header and IDR are lost.
  const filler = publisher.open('live/filler');
  for (const f of frames.slice(0, 45)) filler.push(f);
  for (let i = 0; publisher.stats().controlBacklog === 0; i++) publisher.open(`live/more-${i}`);
  const late = publisher.open('live/late');
  for (const f of frames.slice(0, 10)) late.push(f);
  const records: Rec[] = [];
  for (let i = 0; i < 20 && publisher.stats().controlBacklog > 0; i++) {
    records.push(...drain(reader, publisher));
    await new Promise((r) => setTimeout(r, 5));
  }
  t.equal(publisher.stats().controlBacklog, 0, 'the waiting opens went out once the reader made room');
  for (const f of frames.slice(10)) {
    late.push(f);
    records.push(...drain(reader, publisher));
  }
  const mine = records.filter((r) => r.stream === late.index && isFlvTagRecord(r.type));
  t.ok(mine[0]!.type & FLV_TAG_FLAG_CONFIG, 'the lost sequence header first');
  t.equal(mine[1]!.type & (FLV_TAG_FLAG_KEY | FLV_TAG_FLAG_AFTER_GAP), FLV_TAG_FLAG_KEY | FLV_TAG_FLAG_AFTER_GAP, 'then the key frame, marked');
  t.equal(mine.length, 1 + 50);
});

t.test('open and close are never dropped: they wait for space, in order, while data is dropped', async (t) => {
  const ring = RingBuffer.create(1 << 12);
  const reader = new RingReader(ring);
  const publisher = new FlvPublisher(ring);
  const filler = publisher.open('live/filler');
  for (const f of alawFrames().slice(0, 40)) filler.push(f); // fills 4 KiB
  const name = `live/${'x'.repeat(300)}`; // an open record bigger than what is left
  const late = publisher.open(name);
  late.push(alawFrames()[40]!);
  late.close('gone');
  t.equal(publisher.stats().controlBacklog, 2, 'open and close wait');
  const seen: Rec[] = [];
  for (let i = 0; i < 10 && publisher.stats().controlBacklog > 0; i++) {
    seen.push(...drain(reader, publisher));
    await new Promise((r) => setTimeout(r, 10));
  }
  seen.push(...drain(reader, publisher));
  const mine = seen.filter((r) => r.stream === late.index);
  t.same(mine.map(label), ['open', 'close'], 'both arrive, in order; the frame pushed meanwhile was dropped');
  t.equal(JSON.parse(mine[0]!.bytes.toString()).name, name);
});

t.test('a tag larger than the ring can hold is counted, never thrown', async (t) => {
  const ring = RingBuffer.create(1 << 12); // 4 KiB: key frames do not fit
  const reader = new RingReader(ring);
  const publisher = new FlvPublisher(ring);
  const p = publisher.open('live/huge');
  for (const f of videoFrames(H264, 'h264').slice(0, 5)) {
    p.push(f);
    drain(reader, publisher);
  }
  const s = publisher.stats();
  t.ok(s.oversizeTags >= 1, `${s.oversizeTags} oversize`);
  t.equal(s.gaps, 1);
});

t.test('WorkerFlvFeed decodes what the publisher wrote; foreign records are counted', async (t) => {
  const ring = RingBuffer.create(1 << 22);
  const events: string[] = [];
  let tags = 0;
  const target: FlvFeedTarget = {
    streamOpened: (slot, index, open) => events.push(`open ${slot}/${index} ${open.name}`),
    streamInfo: (_slot, _index, info) => events.push(`info ${info.videoCodec ?? '-'}`),
    streamTag: (_slot, _index, tag) => {
      tags++;
      if (tag.key) events.push(`key ${tag.timestamp}`);
    },
    streamClosed: (slot, index, reason) => events.push(`close ${slot}/${index} ${reason}`),
  };
  const feed = new WorkerFlvFeed(3, ring, target);
  const running = feed.run();
  const publisher = new FlvPublisher(ring);
  const p = publisher.open('live/x');
  for (const f of videoFrames(H264, 'h264')) p.push(f);
  p.close('bye');
  publisher.end();
  await running;
  t.same(events, ['open 3/1 live/x', 'info h264', 'key 0', 'key 2000', 'close 3/1 bye']);
  t.equal(tags, 101, 'sequence header + 100 frames');
  t.match(feed.stats, { malformed: 0 });

  const ring2 = RingBuffer.create(1 << 16);
  const writer = new RingWriter(ring2);
  writer.tryWrite(new TextEncoder().encode('not json'), flvRecordTag(FLV_RECORD_OPEN, 1));
  writer.tryWrite(new Uint8Array(3), flvRecordTag(0x10, 1)); // a "tag" too short
  writer.tryWrite(new Uint8Array(1), flvRecordTag(0x55, 1)); // unknown type
  writer.close();
  const feed2 = new WorkerFlvFeed(0, ring2, target);
  await feed2.run();
  t.match(feed2.stats, { records: 3, malformed: 3 });
});

t.test('record tag: type and stream index round-trip', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0x7fffff }), (type, index) => {
      const tag = flvRecordTag(type, index);
      return flvRecordType(tag) === type && flvRecordStream(tag) === index && (tag | 0) === tag;
    }),
  );
  t.pass('round-trips');
});
