import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { AvFrame } from '../../../src/protocol/av/frame.js';
import { PsDemuxer, PsMuxer, splitAccessUnits, splitNalUnits } from '../../../src/protocol/mpeg-ps/index.js';
import { concat, demuxAll, ffprobe, media, mediaDir, needFfprobe, walkUnits } from './fixtures/helpers.js';

const H264 = 'h264_640x480_25fps_gop50_baseline_4s.h264';
const H265 = 'h265_640x480_25fps_gop50_4s.h265';
const ALAW = 'g711a_8k_mono_4s.alaw';

const video = (frames: AvFrame[]) => frames.filter((f) => f.kind === 'video');
const audio = (frames: AvFrame[]) => frames.filter((f) => f.kind === 'audio');
const nalsHex = (es: Uint8Array) => splitNalUnits(es).map((n) => Buffer.from(n).toString('hex'));

// Cut points that split start codes, PES headers and payloads in every possible way.
function randomCuts(length: number, seed: number): number[] {
  const cuts: number[] = [];
  let x = seed;
  let at = 0;
  while (true) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    at += 1 + (x % 3000);
    if (at >= length) return cuts;
    cuts.push(at);
  }
}

interface Sample {
  file: string;
  source?: string;
  codec: 'h264' | 'h265';
  videoFrames: number;
  keyFrames: number;
  audioFrames: number;
  /** The sample holds the source ES byte for byte (gbps.py rewrites start codes to 4 bytes). */
  exactEs: boolean;
}

const samples: Sample[] = [
  { file: 'gb_h264_4s.ps', source: H264, codec: 'h264', videoFrames: 100, keyFrames: 2, audioFrames: 0, exactEs: false },
  { file: 'gb_h265_4s.ps', source: H265, codec: 'h265', videoFrames: 100, keyFrames: 2, audioFrames: 0, exactEs: false },
  { file: 'gb_h264_g711a_4s.ps', source: H264, codec: 'h264', videoFrames: 100, keyFrames: 2, audioFrames: 200, exactEs: false },
  // ffmpeg -f vob: 2 KB packs, PTS only on PES where an access unit starts, so several
  // access units share a frame; the ES itself comes back exactly.
  { file: 'ffmpeg_vob_h264_4s.ps', source: H264, codec: 'h264', videoFrames: 66, keyFrames: 1, audioFrames: 0, exactEs: true },
  { file: 'zlm_sent_ps_h264_g711a_5s.ps', codec: 'h264', videoFrames: 125, keyFrames: 3, audioFrames: 253, exactEs: false },
];

for (const s of samples) {
  t.test(`demux ${s.file}`, async (t) => {
    const ps = media(s.file);
    const whole = demuxAll(ps);
    const v = video(whole.frames);
    const a = audio(whole.frames);
    t.equal(v.length, s.videoFrames, 'video frames');
    t.equal(v.filter((f) => f.key).length, s.keyFrames, 'key frames');
    t.equal(a.length, s.audioFrames, 'audio frames');
    t.ok(v.every((f) => f.codec === s.codec), `codec ${s.codec}`);
    t.ok(v[0]!.key, 'first video frame is a key frame');
    t.equal(whole.demuxer.stats.malformed, 0, 'nothing malformed');
    t.equal(whole.demuxer.stats.droppedFrames, 0, 'nothing dropped');
    t.equal(whole.demuxer.stats.skippedBytes, 0, 'nothing skipped');
    const growing = (fs: AvFrame[]) => fs.every((f, i) => i === 0 || f.pts > fs[i - 1]!.pts);
    t.ok(growing(v), 'video PTS grow');
    t.ok(growing(a), 'audio PTS grow');
    if (s.source) {
      const src = media(s.source);
      const es = concat(v.map((f) => f.data));
      if (s.exactEs) t.ok(es.equals(src), 'video ES byte-exact with the source');
      t.strictSame(nalsHex(es), nalsHex(src), 'NAL units byte-exact with the source');
    }
    if (s.file.startsWith('gb_')) {
      t.strictSame(
        v.map((f) => f.pts),
        v.map((_, i) => 3600 + 3600 * i),
        'PTS 3600 + 3600 i',
      );
      t.ok(v.every((f) => f.dts === f.pts), 'dts = pts without DTS field');
    }
    if (s.audioFrames > 0) {
      t.ok(a.every((f) => f.codec === 'g711a'), 'G.711A from the PSM');
      if (s.file.startsWith('gb_')) {
        t.ok(concat(a.map((f) => f.data)).equals(media(ALAW)), 'G.711A byte-exact with the source');
        t.ok(a.every((f) => f.data.length === 160), '160-byte audio frames');
      }
    }
    // Same result whatever the chunking: RTP-sized, tiny, random.
    for (const chunk of [1400, 7, 1, randomCuts(ps.length, s.file.length)]) {
      const other = demuxAll(ps, chunk);
      const label = Array.isArray(chunk) ? 'random cuts' : `${chunk}-byte chunks`;
      t.equal(other.frames.length, whole.frames.length, `${label}: frame count`);
      t.ok(
        other.frames.every((f, i) => {
          const w = whole.frames[i]!;
          return f.kind === w.kind && f.pts === w.pts && f.key === w.key && Buffer.from(f.data).equals(Buffer.from(w.data));
        }),
        `${label}: same frames`,
      );
    }
  });
}

t.test('ZLMediaKit PS: PSM with program_stream_info, streams from it', async (t) => {
  const { frames, demuxer } = demuxAll(media('zlm_sent_ps_h264_g711a_5s.ps'));
  t.equal(demuxer.streamTypeMap.get(0xe0), 0x1b);
  t.equal(demuxer.streamTypeMap.get(0xc0), 0x90);
  const v = video(frames);
  t.ok(v.every((f, i) => i === 0 || f.pts - v[i - 1]!.pts === 3600), 'video every 40 ms');
  t.ok(audio(frames).every((f) => f.data.length === 160), 'G.711A 20 ms frames');
});

t.test('endOfFrame hands out the frame at the RTP marker', async (t) => {
  const frames: AvFrame[] = [];
  const d = new PsDemuxer((f) => frames.push(f));
  const muxer = new PsMuxer();
  const au = Buffer.from([0, 0, 0, 1, 0x65, 0x88, 1, 2, 3]);
  d.push(muxer.mux({ kind: 'video', codec: 'h264', key: true, pts: 1000, dts: 1000, data: au }));
  t.equal(frames.length, 0, 'held until the frame is known complete');
  d.endOfFrame();
  t.equal(frames.length, 1);
  t.ok(frames[0]!.key);
  t.ok(Buffer.from(frames[0]!.data).equals(au));
});

t.test('a frame split over several PES with the same PTS (Hikvision style) and PES_packet_length 0', async (t) => {
  const pack = Buffer.from('000001ba44000400040101 89c3f8'.replace(/ /g, ''), 'hex');
  const pts = Buffer.from([0x21, 0x00, 0x01, 0x00, 0x01]); // PTS 0
  const pes = (body: number[], length0 = false) => {
    const hdr = Buffer.from([0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5, ...pts]);
    const len = length0 ? 0 : 8 + body.length;
    hdr[4] = len >> 8;
    hdr[5] = len & 0xff;
    return Buffer.concat([hdr, Buffer.from(body)]);
  };
  const sps = [0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e];
  const idr = [0, 0, 0, 1, 0x65, 0x88, 0x84];
  const nextPts = Buffer.from([0, 0, 1, 0xe0, 0, 13, 0x80, 0x80, 5, 0x21, 0, 1, 0x1c, 0x21, 0, 0, 0, 1, 0x41]);
  const ps = Buffer.concat([pack, pes(sps), pes(idr, true), pack, nextPts]);
  const { frames, demuxer } = demuxAll(ps, 3);
  t.equal(frames.length, 2);
  t.strictSame([...frames[0]!.data], [...sps, ...idr], 'one access unit from two PES');
  t.ok(frames[0]!.key);
  t.equal(frames[1]!.pts, 3600);
  t.notOk(frames[1]!.key);
  t.equal(demuxer.stats.malformed, 0);
});

t.test('PTS wraps at 2^33 into growing numbers; DTS kept', async (t) => {
  const muxer = new PsMuxer();
  const start = 2 ** 33 - 3 * 3600;
  const input: AvFrame[] = [];
  for (let i = 0; i < 8; i++) {
    const pts = start + i * 3600 + 7200;
    input.push({ kind: 'video', codec: 'h264', key: i === 0, pts, dts: pts - 7200, data: Buffer.from([0, 0, 0, 1, i === 0 ? 0x65 : 0x41, 0x80 | i]) });
  }
  const ps = concat(input.map((f) => muxer.mux(f)));
  const { frames } = demuxAll(ps, 100);
  t.strictSame(
    frames.map((f) => [f.pts, f.dts]),
    input.map((f) => [f.pts, f.dts]),
  );
});

t.test('garbage is counted and skipped: resync on the next pack header', async (t) => {
  const ps = media('gb_h264_g711a_4s.ps');
  const clean = demuxAll(ps).frames;
  const junk = Buffer.from('deadbeef000001e0ffff00000001c0'.repeat(20), 'hex');
  const withJunk = Buffer.concat([junk, ps.subarray(0, 50000), junk, ps.subarray(50000)]);
  const { frames, demuxer } = demuxAll(withJunk, 1400);
  t.ok(demuxer.stats.malformed >= 1, 'malformed counted');
  t.ok(demuxer.stats.skippedBytes >= junk.length, 'junk skipped');
  t.ok(frames.length >= clean.length - 4, `lost only the frames around the junk (${frames.length}/${clean.length})`);
  const byPts = new Map(clean.map((f) => [`${f.kind}${f.pts}`, f]));
  t.ok(
    frames.every((f) => Buffer.from(f.data).equals(Buffer.from(byPts.get(`${f.kind}${f.pts}`)!.data))),
    'every frame handed out is intact',
  );
});

t.test('lost bytes inside a PES: the damaged frame is dropped, later frames come through', async (t) => {
  const ps = media('gb_h264_4s.ps');
  const clean = demuxAll(ps).frames;
  // Cut 1000 bytes out of the first (key) frame's PES.
  const cut = Buffer.concat([ps.subarray(0, 3000), ps.subarray(4000)]);
  const { frames, demuxer } = demuxAll(cut, 1400);
  t.ok(demuxer.stats.malformed >= 1 || demuxer.stats.droppedFrames >= 1, 'damage noticed');
  t.notOk(frames.some((f) => f.pts === clean[0]!.pts), 'damaged frame not handed out');
  // The PES length swallows the next few small frames too (no RTP loss signal here).
  t.ok(frames.length >= clean.length - 8, `${frames.length} of ${clean.length} frames`);
  t.equal(frames.at(-1)!.pts, clean.at(-1)!.pts);
});

t.test('discontinuity() drops the half-built frame', async (t) => {
  const ps = media('gb_h264_4s.ps');
  const frames: AvFrame[] = [];
  const d = new PsDemuxer((f) => frames.push(f));
  d.push(ps.subarray(0, 3000));
  d.discontinuity();
  d.push(ps.subarray(4000));
  d.flush();
  t.equal(frames.length, 99);
  t.equal(frames[0]!.pts, 7200);
  t.equal(d.stats.discontinuities, 1);
});

t.test('oversize frames are dropped at maxFrameBytes', async (t) => {
  const { frames, demuxer } = demuxAll(media('gb_h264_4s.ps'), 1400, { maxFrameBytes: 5000 });
  t.ok(demuxer.stats.oversizeFrames >= 1);
  t.ok(frames.every((f) => f.data.length <= 5000));
  t.ok(frames.length > 50);
});

t.test('without a PSM: H.265 is probed from the NAL header, audio falls back to the option', async (t) => {
  const muxer = new PsMuxer();
  const f: AvFrame = { kind: 'video', codec: 'h265', key: true, pts: 0, dts: 0, data: Buffer.from([0, 0, 0, 1, 0x40, 0x01, 0x0c, 0, 0, 0, 1, 0x26, 0x01, 0xaf]) };
  const ps = Buffer.from(muxer.mux(f));
  // Blank the PSM out into a padding stream (same length).
  const at = ps.indexOf(Buffer.from([0, 0, 1, 0xbc]));
  ps[at + 3] = 0xbe;
  const { frames } = demuxAll(ps);
  t.equal(frames.length, 1);
  t.equal(frames[0]!.codec, 'h265');
  t.ok(frames[0]!.key);
});

t.test('a PSM claiming 64 KB is rejected, not buffered', async (t) => {
  const ps = media('gb_h264_4s.ps');
  const bogus = Buffer.concat([Buffer.from('000001ba4400040004010189c3f8000001bcffff', 'hex'), Buffer.alloc(3000, 0x11), ps]);
  const frames: AvFrame[] = [];
  const d = new PsDemuxer((f) => frames.push(f));
  let maxBuffered = 0;
  for (let i = 0; i < bogus.length; i++) {
    d.push(bogus.subarray(i, i + 1));
    if (i < 3100) maxBuffered = Math.max(maxBuffered, d.bufferedBytes);
  }
  d.flush();
  t.ok(maxBuffered < 64, `held at most ${maxBuffered} bytes of the bogus PSM`);
  t.equal(d.stats.malformed, 1);
  t.equal(frames.length, 100, 'then the real stream demuxes');
});

t.test('a device that sets the marker mid-frame: endOfFrame() is ignored once it proves wrong', async (t) => {
  // Each NAL in its own PES, all with the frame's PTS (as some cameras send), marker after each PES.
  const muxer = new PsMuxer();
  const frames: AvFrame[] = [];
  const d = new PsDemuxer((f) => frames.push(f));
  const sps = Buffer.from([0, 0, 0, 1, 0x67, 0x42]);
  const idr = Buffer.from([0, 0, 0, 1, 0x65, 0x88]);
  for (let i = 0; i < 4; i++) {
    const pts = 3600 * (i + 1);
    d.push(muxer.mux({ kind: 'video', codec: 'h264', key: true, pts, dts: pts, data: sps }));
    d.endOfFrame();
    // Same PTS again: the frame goes on in a second PES (own pack, as a muxer per NAL would write).
    d.push(muxer.mux({ kind: 'video', codec: 'h264', key: true, pts, dts: pts, data: idr }));
    d.endOfFrame();
  }
  d.flush();
  t.equal(d.stats.misplacedMarkers, 1);
  t.equal(frames.length, 5, 'only the first frame is split in two');
  t.strictSame(
    frames.slice(2).map((f) => Buffer.from(f.data).toString('hex')),
    Array(3).fill('00000001674200000001658' + '8'),
    'later frames whole: SPS + IDR',
  );
});

t.test('per-frame PTS and key flags agree with ffprobe (frame-aligned samples)', { skip: needFfprobe }, async (t) => {
  for (const file of ['gb_h264_4s.ps', 'gb_h265_4s.ps', 'gb_h264_g711a_4s.ps', 'zlm_sent_ps_h264_g711a_5s.ps']) {
    const ps = media(file);
    const r = ffprobe(ps, ['-select_streams', 'v:0', '-show_entries', 'packet=pts,size,flags']);
    // ffmpeg's HEVC parser moves a start-code zero byte between packets: compare sizes for H.264 only.
    const sizes = !file.includes('h265');
    const theirs = (r.json.packets as Array<{ pts: number; size: string; flags: string }>).map((p) => [p.pts, sizes ? Number(p.size) : 0, p.flags.startsWith('K')]);
    const ours = video(demuxAll(ps).frames).map((f) => [f.pts, sizes ? f.data.length : 0, f.key]);
    t.strictSame(ours, theirs, `${file}: ${ours.length} frames, same PTS${sizes ? ', sizes' : ''} and key flags`);
  }
});

t.test('alignAccessUnits: ffmpeg -f vob comes out as the 100 source access units', async (t) => {
  const src = splitAccessUnits(media(H264), 'h264');
  for (const chunk of [1_000_000, 1400, 7]) {
    const { frames } = demuxAll(media('ffmpeg_vob_h264_4s.ps'), chunk, { alignAccessUnits: true });
    t.equal(frames.length, 100, `${chunk}: 100 access units`);
    t.ok(
      frames.every((f, i) => Buffer.from(f.data).equals(Buffer.from(src[i]!.data))),
      `${chunk}: each byte-exact with the source access unit`,
    );
    t.strictSame(
      frames.flatMap((f, i) => (f.key ? [i] : [])),
      [0, 50],
      `${chunk}: key frames`,
    );
    t.strictSame(
      frames.map((f) => f.pts),
      frames.map((_, i) => 45000 + 3600 * i),
      `${chunk}: PTS from the PES where given, interpolated between`,
    );
  }
});

t.test('alignAccessUnits leaves frame-aligned streams as they are (one frame later)', async (t) => {
  for (const file of ['gb_h264_g711a_4s.ps', 'gb_h265_4s.ps', 'zlm_sent_ps_h264_g711a_5s.ps']) {
    const plain = video(demuxAll(media(file), 1400).frames);
    const aligned = video(demuxAll(media(file), 1400, { alignAccessUnits: true }).frames);
    t.equal(aligned.length, plain.length, `${file}: frame count`);
    t.ok(
      aligned.every((f, i) => f.pts === plain[i]!.pts && f.key === plain[i]!.key && Buffer.from(f.data).equals(Buffer.from(plain[i]!.data))),
      `${file}: same frames`,
    );
  }
});

t.test('alignAccessUnits: PTS agree with ffprobe on ffmpeg -f vob', { skip: needFfprobe }, async (t) => {
  const ps = media('ffmpeg_vob_h264_4s.ps');
  const r = ffprobe(ps, ['-select_streams', 'v:0', '-show_entries', 'frame=pts,key_frame']);
  const theirs = r.json.frames as Array<{ pts?: number; key_frame: number }>;
  const ours = demuxAll(ps, 1400, { alignAccessUnits: true }).frames;
  t.equal(ours.length, theirs.length, `${theirs.length} frames`);
  t.strictSame(
    ours.map((f) => f.key),
    theirs.map((f) => f.key_frame === 1),
    'key flags',
  );
  // ffprobe leaves frames without a PES PTS unset; where it has one, ours is the same.
  const withPts = theirs.flatMap((f, i) => (f.pts === undefined ? [] : [[i, f.pts]]));
  t.ok(withPts.length >= 60, `${withPts.length} frames with a PTS`);
  t.strictSame(
    withPts.map(([i]) => [i, ours[i!]!.pts]),
    withPts,
    'same PTS',
  );
});

t.test('pack headers with pack_stuffing_length (MPEG-2)', async (t) => {
  const ps = media('gb_h264_g711a_4s.ps');
  const parts: Buffer[] = [];
  for (const [id, at, n] of walkUnits(ps)) {
    const unit = Buffer.from(ps.subarray(at, at + n));
    if (id === 0xba) {
      unit[13] = (unit[13]! & 0xf8) | 5;
      parts.push(unit, Buffer.alloc(5, 0xff));
    } else {
      parts.push(unit);
    }
  }
  const stuffed = Buffer.concat(parts);
  const plain = demuxAll(ps).frames;
  const { frames, demuxer } = demuxAll(stuffed, 7);
  t.equal(demuxer.stats.malformed, 0);
  t.equal(frames.length, plain.length);
  t.ok(frames.every((f, i) => f.pts === plain[i]!.pts && Buffer.from(f.data).equals(Buffer.from(plain[i]!.data))));
});

t.test('MPEG-1 system stream (ffmpeg -f mpeg, made at test time): 12-byte packs, MPEG-1 PES headers', { skip: needFfprobe }, async (t) => {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-f', 'h264', '-framerate', '25', '-i', join(mediaDir, H264), '-c', 'copy', '-f', 'mpeg', 'pipe:1'], { maxBuffer: 16 * 1024 * 1024 });
  t.equal(r.status, 0, 'ffmpeg wrote it');
  const ps = r.stdout;
  t.equal(ps[4]! & 0xf0, 0x20, 'MPEG-1 pack header');
  const { frames, demuxer } = demuxAll(ps, 1400, { alignAccessUnits: true });
  t.equal(demuxer.stats.malformed, 0);
  t.equal(frames.length, 100, '100 access units');
  t.ok(concat(frames.map((f) => f.data)).equals(media(H264)), 'ES byte-exact');
  t.strictSame(
    frames.map((f) => f.pts),
    frames.map((_, i) => 45000 + 3600 * i),
    'PTS',
  );
});

t.test('H.265 in ffmpeg -f vob (no PSM): codec probed from the NAL header', { skip: needFfprobe }, async (t) => {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-f', 'hevc', '-framerate', '25', '-i', join(mediaDir, H265), '-c', 'copy', '-f', 'vob', 'pipe:1'], { maxBuffer: 16 * 1024 * 1024 });
  t.equal(r.status, 0, 'ffmpeg wrote it');
  const { frames, demuxer } = demuxAll(r.stdout, 1400, { alignAccessUnits: true });
  t.equal(demuxer.stats.psms, 0, 'no PSM in it');
  t.equal(frames.length, 100);
  t.ok(frames.every((f) => f.codec === 'h265'), 'h265');
  t.equal(frames.filter((f) => f.key).length, 2);
  t.ok(concat(frames.map((f) => f.data)).equals(media(H265)), 'ES byte-exact');
});
