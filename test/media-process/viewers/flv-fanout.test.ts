import t from 'tap';
import type { AvFrame } from '../../../src/protocol/av/frame.js';
import { FlvFanout } from '../../../src/media-process/viewers/flv-fanout.js';
import type { FlvFanoutOptions, FlvViewerSink } from '../../../src/media-process/viewers/flv-fanout.js';
import { FlvMuxer } from '../../../src/protocol/flv/index.js';
import { parseVideoBody, readFlvHeader, readFlvTags, type FlvTagView } from '../../protocol/flv/fixtures/flv-reader.js';
import { alawFrames, concat, ffprobe, H264, interleave, needFfprobe, videoFrames } from '../../protocol/flv/fixtures/helpers.js';
import { muxInto } from './fixtures/mux-into.js';

/** A transport double: records writes, models a send buffer that the test drains by hand. */
class FakeSink implements FlvViewerSink {
  writes: Uint8Array[] = [];
  buffered = 0;
  /** Writes add to the buffer (false: the transport sends at once). */
  grow = false;
  peak = 0;
  closed: string | undefined;
  closeCalls = 0;
  accept: (bytes: Uint8Array, n: number) => boolean = () => true;
  onWrite: ((n: number) => void) | undefined;

  write(bytes: Uint8Array): boolean {
    this.writes.push(bytes);
    if (this.grow) this.buffered += bytes.length;
    this.peak = Math.max(this.peak, this.buffered);
    this.onWrite?.(this.writes.length);
    return this.accept(bytes, this.writes.length);
  }
  bufferedAmount(): number {
    return this.buffered;
  }
  close(reason: string): void {
    this.closed = reason;
    this.closeCalls++;
  }
  drain(n: number): void {
    this.buffered = Math.max(0, this.buffered - n);
  }
  bytes(): Buffer {
    return concat(this.writes);
  }
  /** Tags received after the 13-byte header. */
  tags(): FlvTagView[] {
    const b = this.bytes();
    return readFlvTags(b, 13).tags;
  }
}

type Kind = 'meta' | 'vcfg' | 'acfg' | 'key' | 'inter' | 'audio';
function kindOf(tag: FlvTagView): Kind {
  if (tag.type === 18) return 'meta';
  if (tag.type === 8) return tag.body[0]! >> 4 === 10 && tag.body[1] === 0 ? 'acfg' : 'audio';
  const v = parseVideoBody(tag.body)!;
  if (v.packetType === 0) return 'vcfg';
  return v.frameType === 1 ? 'key' : 'inter';
}

const AV = (): AvFrame[] => interleave(videoFrames(H264, 'h264'), alawFrames());

/** A fan-out fed by its own muxer (in production the muxer sits in a worker, across a ring). */
const muxers = new WeakMap<FlvFanout, FlvMuxer>();

function fanout(options: FlvFanoutOptions = {}): { f: FlvFanout; clock: { now: number }; muxer: FlvMuxer } {
  const clock = { now: 1000 };
  const f = new FlvFanout({ clock: () => clock.now, ...options });
  const muxer = new FlvMuxer();
  muxers.set(f, muxer);
  return { f, clock, muxer };
}

/** Mux and push frames, moving the clock to each frame's dts (ms). */
function play(f: FlvFanout, clock: { now: number }, frames: AvFrame[], each?: (frame: AvFrame) => void): void {
  const muxer = muxers.get(f)!;
  for (const fr of frames) {
    clock.now = 1000 + Math.round(fr.dts / 90);
    muxInto(f, muxer, fr);
    each?.(fr);
  }
}

t.test('a viewer joining mid-GOP gets header, onMetaData, sequence header, the cached key frame and GOP', async (t) => {
  const { f, clock } = fanout({ hasVideo: true, hasAudio: true });
  const frames = AV();
  const at = frames.findIndex((x) => x.kind === 'video' && x.dts === 3600 + 3600 * 60); // video frame 60
  play(f, clock, frames.slice(0, at));
  t.match(f.stats(), { gopTags: 10 + 20, viewers: 0 }, 'GOP since frame 50: 10 video + 20 audio tags');
  const early = new FakeSink();
  const sink = new FakeSink();
  f.addViewer(sink);
  const head = readFlvHeader(sink.writes[0]!)!;
  t.match(head, { hasVideo: true, hasAudio: true });
  t.equal(sink.writes[0]!.length, 13);
  const kinds = sink.tags().map(kindOf);
  t.same(kinds.slice(0, 3), ['meta', 'vcfg', 'key'], 'first bytes: header, metadata, sequence header, key frame');
  t.equal(kinds.length, 3 + 29);
  t.equal(sink.tags()[2]!.timestamp, 2000, 'the key frame is frame 50 (2 s)');
  f.addViewer(early);
  play(f, clock, frames.slice(at));
  const all = sink.tags();
  t.equal(all.filter((x) => x.type === 9).length, 1 + 50, 'video frames 50..99 + sequence header');
  t.equal(all.filter((x) => x.type === 8).length, 100, 'audio from 2 s on');
  t.equal(sink.writes.at(-1), early.writes.at(-1), 'mux once: viewers get the very same bytes object');
  t.equal(f.viewerStats()[0]!.droppedTags, 0);
  if (!needFfprobe) {
    const r = ffprobe(sink.bytes(), ['-count_frames', '-show_entries', 'stream=codec_name,width,height,nb_read_frames']);
    t.equal(r.stderr, '', 'ffprobe: no errors on the joined stream');
    t.same(r.json.streams, [
      { codec_name: 'h264', width: 640, height: 480, nb_read_frames: '50' },
      { codec_name: 'pcm_alaw', nb_read_frames: '100' },
    ]);
  }
});

t.test('a viewer that joins before any frame waits for the first key frame, then gets it all', async (t) => {
  const { f, clock } = fanout({ hasVideo: true, hasAudio: false });
  const sink = new FakeSink();
  const v = f.addViewer(sink);
  t.equal(v.state, 'waiting');
  t.equal(sink.writes.length, 0, 'nothing before a start point (the header would have to guess)');
  // The stream starts on P frames (the muxer drops them: no SPS yet), then the IDR at 50.
  play(f, clock, videoFrames(H264, 'h264').slice(20, 60));
  t.equal(sink.writes[0]!.length, 13, 'FLV header first');
  const kinds = sink.tags().map(kindOf);
  t.same(kinds.slice(0, 3), ['meta', 'vcfg', 'key']);
  t.equal(kinds.length, 2 + 10);
  t.equal(v.state, 'live');
  t.equal(v.stats().droppedTags, 0, 'waiting for the first key frame is not a drop');
  const meta = sink.tags()[0]!;
  t.ok(Buffer.from(meta.body).includes(Buffer.from('width')), 'onMetaData knows the picture size by then');
});

t.test('a viewer with no key frame within startTimeoutMs is closed with a reason', async (t) => {
  const { f, clock } = fanout({ hasVideo: true, startTimeoutMs: 3000 });
  const sink = new FakeSink();
  const v = f.addViewer(sink);
  play(f, clock, videoFrames(H264, 'h264').slice(1, 40)); // P frames only: never a start point
  f.checkViewers(1000 + 2999);
  t.equal(sink.closed, undefined);
  f.checkViewers(1000 + 3000);
  t.equal(sink.closed, 'no key frame within 3 s');
  t.equal(v.state, 'closed');
  t.equal(sink.writes.length, 0);
  t.match(f.stats(), { viewersClosedNoStart: 1, viewersClosedSlow: 0, viewers: 0 });
});

t.test('write() === false: no frames until the next key frame, then resume exactly there', async (t) => {
  const { f, clock } = fanout({ hasVideo: true, hasAudio: true });
  const ref = new FakeSink();
  const slow = new FakeSink();
  f.addViewer(ref);
  const v = f.addViewer(slow);
  const frames = AV();
  let refused = false;
  slow.accept = (bytes) => {
    // Refuse (backpressure) on video frame 10.
    const tag = readFlvTags(bytes).tags[0];
    if (!refused && tag?.type === 9 && tag.timestamp === 400) {
      refused = true;
      return false;
    }
    return true;
  };
  play(f, clock, frames);
  const order = new Map(ref.writes.map((w, i) => [w, i]));
  const got = slow.writes.slice(2).map((w) => order.get(w)!);
  const gaps = got.flatMap((idx, i) => (i > 0 && idx !== got[i - 1]! + 1 ? [i] : []));
  t.equal(gaps.length, 1, 'one gap');
  const resumed = readFlvTags(slow.writes[2 + gaps[0]!]!).tags[0]!;
  t.equal(kindOf(resumed), 'key', 'resumes on a key frame');
  t.equal(resumed.timestamp, 2000, 'the next one: frame 50');
  const before = readFlvTags(slow.writes[2 + gaps[0]! - 1]!).tags[0]!;
  t.equal(before.timestamp, 400, 'the refused write was the last before the gap');
  // Dropped: video 11..49 (39) and audio from 400 ms (it follows video 10) to 2 s: 20..99 = 80.
  t.match(v.stats(), { state: 'live', dropEpisodes: 1, droppedTags: 39 + 80 });
  t.equal(f.stats().droppedTags, 39 + 80);
  if (!needFfprobe) {
    const r = ffprobe(slow.bytes(), ['-select_streams', 'v:0', '-count_frames', '-show_entries', 'stream=nb_read_frames']);
    t.equal(r.stderr, '', 'the cut stream decodes without errors');
    t.equal(r.json.streams[0].nb_read_frames, '61', 'frames 0..10 and 50..99');
  }
});

t.test('buffered amount over the limit: dropped to key frames, the buffer never passes the limit', async (t) => {
  const limit = 64 * 1024;
  const { f, clock } = fanout({ hasVideo: true, hasAudio: true, viewer: { maxBufferedBytes: limit, stuckTimeoutMs: 60_000 } });
  const ref = new FakeSink();
  const slow = new FakeSink();
  slow.grow = true;
  f.addViewer(ref);
  const v = f.addViewer(slow);
  // Three rounds of the 4 s sample (~370 kbit/s with audio); the viewer drains 200 kbit/s.
  const base = AV();
  const rounds = [0, 1, 2].flatMap((r) => base.map((fr) => ({ ...fr, pts: fr.pts + r * 360_000, dts: fr.dts + r * 360_000 })));
  let lastMs = 0;
  play(f, clock, rounds, () => {
    slow.drain(((clock.now - lastMs) * 25_000) / 1000);
    lastMs = clock.now;
  });
  t.ok(slow.peak <= limit, `peak buffered ${slow.peak} <= ${limit}`);
  const st = v.stats();
  t.ok(st.dropEpisodes >= 2, `fell behind ${st.dropEpisodes} times`);
  t.ok(st.droppedTags > 0);
  t.equal(muxers.get(f)!.stats.videoTags, 300, 'muxed once for both viewers');
  // Every resume after a gap starts with a key frame.
  const order = new Map(ref.writes.map((w, i) => [w, i]));
  const got = slow.writes.slice(2).map((w) => order.get(w)!);
  let resumes = 0;
  for (let i = 1; i < got.length; i++) {
    if (got[i] !== got[i - 1]! + 1) {
      resumes++;
      t.equal(kindOf(readFlvTags(slow.writes[2 + i]!).tags[0]!), 'key', `resume ${resumes} at a key frame`);
    }
  }
  t.ok(resumes >= 1);
  t.equal(ref.writes.length, 2 + 1 + 300 + 600, 'the fast viewer got every tag');
});

t.test('a viewer that never drains is closed after stuckTimeoutMs; hard limit closes at once', async (t) => {
  const { f, clock } = fanout({ hasVideo: true, hasAudio: false, viewer: { maxBufferedBytes: 50_000, stuckTimeoutMs: 3000 } });
  const stuck = new FakeSink();
  stuck.grow = true;
  const v = f.addViewer(stuck);
  const frames = videoFrames(H264, 'h264');
  let closedAt = -1;
  let stuckSince: number | undefined;
  play(f, clock, [...frames, ...frames.map((x) => ({ ...x, pts: x.pts + 360_000, dts: x.dts + 360_000 }))], () => {
    if (closedAt < 0 && stuck.closed) closedAt = clock.now;
    stuckSince ??= v.stats().stuckSince;
  });
  t.equal(stuck.closed, 'backpressure: stuck');
  t.equal(v.state, 'closed');
  t.equal(f.viewerCount, 0);
  const st = f.stats();
  t.equal(st.viewersClosedSlow, 1);
  t.ok(stuck.peak <= 50_000 + 20_000, 'buffer stayed near the limit (one key frame over at most)');
  t.ok(stuckSince !== undefined, 'stats showed the stuck timer running');
  t.ok(closedAt - stuckSince! >= 3000 && closedAt - stuckSince! <= 3040, `closed ${closedAt - stuckSince!} ms after falling behind (checked per frame)`);

  // Hard limit: the transport reports a huge buffer (e.g. another writer queued a lot).
  const { f: f2, clock: c2 } = fanout({ hasVideo: true, viewer: { maxBufferedBytes: 10_000, hardMaxBufferedBytes: 40_000 } });
  const hog = new FakeSink();
  f2.addViewer(hog);
  play(f2, c2, frames.slice(0, 3));
  hog.buffered = 40_000;
  play(f2, c2, frames.slice(3, 4));
  t.equal(hog.closed, 'backpressure: hard limit');
  t.equal(hog.closeCalls, 1);
});

t.test('checkViewers closes a stuck viewer when no frames arrive', async (t) => {
  const { f, clock } = fanout({ hasVideo: true, viewer: { maxBufferedBytes: 10_000, stuckTimeoutMs: 5000 } });
  const sink = new FakeSink();
  sink.accept = (_b, n) => n < 4; // refuses from its 4th write on
  sink.grow = true;
  f.addViewer(sink);
  play(f, clock, videoFrames(H264, 'h264').slice(0, 5));
  t.equal(f.viewerStats()[0]!.state, 'waiting');
  const t0 = 1040; // it fell behind on frame 0 (dts 3600 = 40 ms): its 4th write
  f.checkViewers(t0 + 4999);
  t.equal(sink.closed, undefined);
  f.checkViewers(t0 + 5000);
  t.equal(sink.closed, 'backpressure: stuck');
  // A waiting viewer that has drained is not stuck, only waiting for the key frame.
  const { f: f2, clock: c2 } = fanout({ hasVideo: true, viewer: { maxBufferedBytes: 10_000, stuckTimeoutMs: 5000 } });
  const ok = new FakeSink();
  ok.accept = (_b, n) => n !== 5;
  f2.addViewer(ok);
  play(f2, c2, videoFrames(H264, 'h264').slice(0, 10));
  t.equal(f2.viewerStats()[0]!.state, 'waiting');
  f2.checkViewers(c2.now + 60_000);
  t.equal(ok.closed, undefined, 'buffer empty: kept');
});

t.test('GOP cache is bounded by bytes and by duration', async (t) => {
  const frames = videoFrames(H264, 'h264');
  const { f, clock } = fanout({ hasVideo: true, gopCacheMaxBytes: 30_000 });
  play(f, clock, frames.slice(0, 30));
  const st = f.stats();
  t.equal(st.gopTags, 0, 'dropped once past 30 kB');
  t.equal(st.gopOverflows, 1);
  const late = new FakeSink();
  const v = f.addViewer(late);
  t.equal(v.state, 'waiting', 'no cache: waits for the next key frame');
  play(f, clock, frames.slice(30, 52));
  t.same(late.tags().map(kindOf), ['meta', 'vcfg', 'key', 'inter']);
  t.ok(f.stats().gopBytes <= 30_000);

  const { f: g, clock: gc } = fanout({ hasVideo: true, gopCacheMaxMs: 500 });
  play(g, gc, frames.slice(0, 12));
  t.equal(g.stats().gopTags, 12, '440 ms: kept');
  t.equal(g.stats().gopDurationMs, 440);
  play(g, gc, frames.slice(12, 14));
  t.equal(g.stats().gopTags, 0, '520 ms: dropped');
  play(g, gc, frames.slice(14, 60));
  t.equal(g.stats().gopTags, 10, 'refilled from the next key frame');
});

t.test('idleSince and onIdle: when the last viewer left', async (t) => {
  const idles: number[] = [];
  const { f, clock } = fanout({ onIdle: (s) => idles.push(s) });
  t.equal(f.idleSince, 1000, 'idle since creation');
  const a = f.addViewer(new FakeSink());
  const b = f.addViewer(new FakeSink());
  t.equal(f.idleSince, undefined);
  t.equal(f.viewerCount, 2);
  clock.now = 5000;
  t.equal(f.removeViewer(a), true);
  t.equal(f.idleSince, undefined, 'one still watching');
  clock.now = 7000;
  f.removeViewer(b);
  t.equal(f.removeViewer(b), false, 'idempotent');
  t.equal(f.idleSince, 7000);
  t.same(idles, [7000]);
  t.equal(b.state, 'closed');
  f.addViewer(new FakeSink());
  t.equal(f.idleSince, undefined);
});

t.test('close() closes every viewer; later frames and viewers are refused', async (t) => {
  const { f, clock } = fanout({ hasVideo: true });
  const sinks = [new FakeSink(), new FakeSink(), new FakeSink()];
  const views = sinks.map((s) => f.addViewer(s));
  play(f, clock, videoFrames(H264, 'h264').slice(0, 5));
  f.close('device offline');
  t.same(sinks.map((s) => s.closed), ['device offline', 'device offline', 'device offline']);
  t.ok(views.every((v) => v.state === 'closed'));
  t.equal(f.viewerCount, 0);
  t.equal(f.isClosed, true);
  t.equal(f.stats().viewersClosedSlow, 0, 'not counted as slow');
  const n = sinks[0]!.writes.length;
  play(f, clock, videoFrames(H264, 'h264').slice(5, 10));
  t.equal(sinks[0]!.writes.length, n);
  const late = new FakeSink();
  t.equal(f.addViewer(late).state, 'closed');
  t.equal(late.closed, 'stream closed');
  t.equal(late.writes.length, 0);
  f.close();
  t.equal(sinks[0]!.closeCalls, 1, 'close is idempotent');
});

t.test('a sink that removes itself while being written to', async (t) => {
  const { f, clock } = fanout({ hasVideo: true });
  const a = new FakeSink();
  const b = new FakeSink();
  const va = f.addViewer(a);
  f.addViewer(b);
  a.onWrite = (n) => {
    if (n === 5) f.removeViewer(va); // e.g. the socket errored inside send()
  };
  play(f, clock, videoFrames(H264, 'h264').slice(0, 20));
  t.equal(a.writes.length, 5);
  t.equal(b.writes.length, 2 + 1 + 20);
  t.equal(f.viewerCount, 1);
  t.equal(a.closeCalls, 0, 'removeViewer does not close the sink');
});

t.test('a waiting viewer gets the new sequence header when it resumes', async (t) => {
  const frames = videoFrames(H264, 'h264').map((fr, i) => {
    if (i !== 50) return fr;
    const data = Buffer.from(fr.data);
    data[data.indexOf(Buffer.from([0, 0, 1, 0x67])) + 6] = 31;
    return { ...fr, data };
  });
  const { f, clock } = fanout({ hasVideo: true });
  const s = new FakeSink();
  s.accept = (_b, n) => n !== 6;
  f.addViewer(s);
  play(f, clock, frames);
  const kinds = s.tags().map(kindOf);
  t.same(kinds.slice(0, 6), ['meta', 'vcfg', 'key', 'inter', 'inter', 'vcfg']);
  t.equal(kinds[6], 'key');
  t.equal(s.tags()[5]!.body[5 + 3], 31, 'the new level, before the resumed key frame');
  t.equal(kinds.filter((k) => k === 'vcfg').length, 2);
});

t.test('audio-only stream: viewers start on any audio frame', async (t) => {
  const { f, clock } = fanout({ hasVideo: false, hasAudio: true });
  play(f, clock, alawFrames().slice(0, 10));
  const s = new FakeSink();
  const v = f.addViewer(s);
  t.equal(v.state, 'live');
  t.match(readFlvHeader(s.writes[0]!), { hasVideo: false, hasAudio: true });
  play(f, clock, alawFrames().slice(10, 20));
  t.same(s.tags().map(kindOf), ['meta', ...Array(10).fill('audio')]);
});

t.test('hundreds of viewers: one mux, shared bytes', async (t) => {
  const { f, clock } = fanout({ hasVideo: true, hasAudio: true });
  const sinks = Array.from({ length: 300 }, () => new FakeSink());
  for (const s of sinks) f.addViewer(s);
  const start = process.hrtime.bigint();
  play(f, clock, AV());
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  t.comment(`300 frames of A/V to 300 viewers: ${ms.toFixed(1)} ms`);
  const first = sinks[0]!.writes;
  t.ok(sinks.every((s) => s.writes.length === first.length && s.writes.every((w, i) => i < 2 || w === first[i])), 'identical tag objects');
  t.equal(muxers.get(f)!.stats.videoTags, 100);
  t.equal(f.stats().tagsIn, 301);
});

t.test('per-viewer audio: false (mpegts.js cannot play G.711): no audio tags, header says video only', async (t) => {
  const { f, clock } = fanout({ hasVideo: true, hasAudio: true });
  const frames = AV();
  play(f, clock, frames.slice(0, 150));
  const both = new FakeSink();
  const videoOnly = new FakeSink();
  f.addViewer(both);
  f.addViewer(videoOnly, { audio: false });
  play(f, clock, frames.slice(150));
  t.match(readFlvHeader(videoOnly.writes[0]!), { hasVideo: true, hasAudio: false });
  t.equal(videoOnly.tags().filter((x) => x.type === 8).length, 0);
  t.equal(videoOnly.tags().filter((x) => x.type === 9).length, both.tags().filter((x) => x.type === 9).length, 'same video');
  t.ok(both.tags().some((x) => x.type === 8));
  t.equal(f.viewerStats()[1]!.droppedTags, 0, 'skipped audio is not a drop');
});

t.test('a viewer added from inside a sink callback does not get the current tag twice', async (t) => {
  const { f, clock } = fanout({ hasVideo: true });
  const first = new FakeSink();
  const second = new FakeSink();
  f.addViewer(first);
  first.onWrite = (n) => {
    if (n === 6) f.addViewer(second);
  };
  play(f, clock, videoFrames(H264, 'h264').slice(0, 10));
  const stamps = second.tags().filter((x) => x.type === 9).map((x) => x.timestamp);
  t.same(stamps, [0, 0, 40, 80, 120, 160, 200, 240, 280, 320, 360], 'sequence header, then each frame once');
});
