import t from 'tap';
import fc from 'fast-check';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { FlvPublisher } from '../../src/media-worker/flv-publisher.js';
import { WorkerFlvFeed, type FlvFeedTarget } from '../../src/media-process/viewers/worker-feed.js';
import { FlvMuxer } from '../../src/protocol/flv/index.js';
import { RingBuffer, RingReader, RingWriter } from '../../src/shared/ring.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flvHeader } from '../../src/protocol/flv/tag.js';
import type { AvFrame } from '../../src/protocol/av/frame.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { needPeer } from '../helpers/peers.js';
import {
  FLV_RECORD_BYTES,
  FLV_RECORD_RESUME,
  parseNumberRecord,
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
    streamBytes: () => undefined,
    streamResumed: () => undefined,
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

// --- lazy publishing (issue #17): no tags until the viewer server wants the stream -------------

/** A clock that moves 100 ms per reading, so BYTES records come about every 10 frames. */
function steppingClock(): () => number {
  let now = 0;
  return () => (now += 100);
}

t.test('lazy: a stream nobody wants writes no tag; its info and source bytes still reach the reader', async (t) => {
  const ring = RingBuffer.create(1 << 22);
  const reader = new RingReader(ring);
  const publisher = new FlvPublisher(ring, { lazy: true, clock: steppingClock() });
  const a = publisher.open('live/lazy', { hasAudio: true });
  const frames = AV();
  for (const f of frames) a.push(f);
  const records = drain(reader, publisher);
  t.equal(records.filter((r) => isFlvTagRecord(r.type)).length, 0, 'no FLV tag in the ring');
  t.same(JSON.parse(records[0]!.bytes.toString()), { hasAudio: true, name: 'live/lazy', lazy: true }, 'the open record says lazy');
  const infos = records.filter((r) => r.type === FLV_RECORD_INFO).map((r) => JSON.parse(r.bytes.toString()));
  t.match(infos.at(-1), { videoCodec: 'h264', width: 640, height: 480, audioCodec: 'g711a' }, 'info learnt without muxing');
  const totals = records.filter((r) => r.type === FLV_RECORD_BYTES).map((r) => parseNumberRecord(r.type, r.bytes)!);
  const source = frames.reduce((n, f) => n + f.data.length, 0);
  t.ok(totals.length >= 10, `${totals.length} BYTES records`);
  t.ok(totals.every((n, i) => i === 0 || n > totals[i - 1]!), 'totals grow');
  t.ok(totals.at(-1)! <= source && totals.at(-1)! > source * 0.9, `last total ${totals.at(-1)} of ${source} source bytes`);
  t.match(publisher.stats(), { tagsWritten: 0, droppedTags: 0, gaps: 0, wanted: 0, framesNotMuxed: frames.length });
});

t.test('lazy: wanted mid-GOP, the cached GOP comes first from its key frame (decodable), then live; unwanted stops tags', async (t) => {
  const ring = RingBuffer.create(1 << 22);
  const reader = new RingReader(ring);
  const publisher = new FlvPublisher(ring, { lazy: true });
  const a = publisher.open('live/mid');
  const frames = AV();
  // Wanted 25 video frames into the second GOP (key frames at video frames 0 and 50).
  let video = 0;
  const cut = frames.findIndex((f) => f.kind === 'video' && video++ === 75);
  for (const f of frames.slice(0, cut)) a.push(f);
  t.equal(drain(reader, publisher).filter((r) => isFlvTagRecord(r.type)).length, 0, 'nothing muxed before the want');
  a.want(true, 7);
  for (const f of frames.slice(cut)) a.push(f);
  const records = drain(reader, publisher);
  t.equal(records[0]!.type, FLV_RECORD_RESUME, 'RESUME first');
  t.equal(parseNumberRecord(FLV_RECORD_RESUME, records[0]!.bytes), 7, 'with the epoch of the want');
  const tags = records.filter((r) => isFlvTagRecord(r.type));
  t.ok(tags[0]!.type & FLV_TAG_FLAG_CONFIG, 'the sequence header first');
  t.ok(tags[1]!.type & FLV_TAG_FLAG_KEY, 'then the cached key frame');
  t.equal(tags[1]!.bytes.readUIntBE(4, 3), 2000, 'of the current GOP (t = 2000 ms)');
  t.equal(tags.filter((r) => r.type & FLV_TAG_FLAG_AFTER_GAP).length, 0, 'a resume is no gap');
  const videoTags = tags.filter((r) => r.bytes[0] === 9 && !(r.type & FLV_TAG_FLAG_CONFIG));
  t.equal(videoTags.length, 50, 'the 25 cached frames and the 25 live ones');
  t.match(publisher.stats(), { gaps: 0, droppedTags: 0, wanted: 1 });

  if (needPeer(t, 'ffprobe', 'ffmpeg')) {
    const file = join(mkdtempSync(join(tmpdir(), 'camgate-lazyflv-')), 'mid.flv');
    writeFileSync(file, Buffer.concat([flvHeader({ hasVideo: true, hasAudio: true }), ...tags.map((r) => r.bytes)]));
    const { json, stderr } = await ffprobe(['-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,nb_read_frames', file], 60_000);
    t.match(json.streams?.[0], { codec_name: 'h264', width: 640, nb_read_frames: '50' }, `ffprobe decodes all 50 frames ${stderr}`);
  }

  a.want(false, 7);
  const more: AvFrame[] = frames.map((f) => ({ ...f, pts: f.pts + 360_000, dts: f.dts + 360_000 }));
  for (const f of more) a.push(f);
  t.equal(drain(reader, publisher).filter((r) => isFlvTagRecord(r.type)).length, 0, 'no tag after want(false)');
  t.match(publisher.stats(), { wanted: 0 });
  // Wanted again: the cached GOP of the latest frames (key frame at 4000 + 2000 ms).
  a.want(true, 8);
  const again = drain(reader, publisher).filter((r) => isFlvTagRecord(r.type) && !(r.type & FLV_TAG_FLAG_CONFIG));
  t.equal(again[0]!.bytes.readUIntBE(4, 3), 6000, 'resumes at the latest key frame');
  t.equal(again.filter((r) => r.bytes[0] === 9).length, 50, 'its whole GOP');
});

t.test('lazy: the GOP cache is bounded in bytes; past it a want waits for the next key frame', async (t) => {
  const ring = RingBuffer.create(1 << 22);
  const reader = new RingReader(ring);
  const publisher = new FlvPublisher(ring, { lazy: true, gopCacheMaxBytes: 20_000 });
  const a = publisher.open('live/big');
  const frames = videoFrames(H264, 'h264');
  for (const f of frames.slice(0, 75)) a.push(f);
  a.want(true, 1);
  t.equal(drain(reader, publisher).filter((r) => isFlvTagRecord(r.type)).length, 0, 'the cache overflowed: nothing to send yet');
  for (const f of frames.slice(75)) a.push(f);
  for (const f of frames.map((f) => ({ ...f, pts: f.pts + 360_000, dts: f.dts + 360_000 })).slice(0, 2)) a.push(f);
  const tags = drain(reader, publisher).filter((r) => isFlvTagRecord(r.type));
  t.same(
    tags.map((r) => [r.type & (FLV_TAG_FLAG_CONFIG | FLV_TAG_FLAG_KEY), r.bytes.readUIntBE(4, 3)]),
    [
      [FLV_TAG_FLAG_CONFIG, 0],
      [FLV_TAG_FLAG_KEY, 4000],
      [0, 4040],
    ],
    'sequence header, then the next key frame and on',
  );
  t.match(publisher.stats(), { droppedTags: 0, gaps: 0 });
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
