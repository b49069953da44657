import t, { type Test } from 'tap';
import type { AvFrame, VideoCodec } from '../../../src/protocol/av/frame.js';
import { crc32Mpeg2, PsMuxer, splitAccessUnits } from '../../../src/protocol/mpeg-ps/index.js';
import { concat, demuxAll, ffmpegExtract, ffprobe, media, needFfprobe, walkUnits, withImkh } from './fixtures/helpers.js';

const H264 = 'h264_640x480_25fps_gop50_baseline_4s.h264';
const H265 = 'h265_640x480_25fps_gop50_4s.h265';
const ALAW = 'g711a_8k_mono_4s.alaw';

/** Frames of a source ES at 25 fps starting at PTS 3600, as gbps.py numbers them. */
function videoFrames(file: string, codec: VideoCodec): AvFrame[] {
  return splitAccessUnits(media(file), codec).map((au, i) => ({
    kind: 'video',
    codec,
    key: au.key,
    pts: 3600 + 3600 * i,
    dts: 3600 + 3600 * i,
    data: au.data,
  }));
}

/** 160-byte G.711A frames every 20 ms, interleaved after the video of the same time. */
function withAudio(video: AvFrame[]): AvFrame[] {
  const alaw = media(ALAW);
  const audio: AvFrame[] = [];
  for (let j = 0; j * 160 < alaw.length; j++) {
    const pts = 3600 + 1800 * j;
    audio.push({ kind: 'audio', codec: 'g711a', key: true, pts, dts: pts, data: alaw.subarray(j * 160, j * 160 + 160) });
  }
  return [...video, ...audio].sort((a, b) => a.pts - b.pts || (a.kind === 'audio' ? 1 : 0) - (b.kind === 'audio' ? 1 : 0));
}

function muxAll(frames: AvFrame[], muxer = new PsMuxer()): Buffer {
  return concat(frames.map((f) => muxer.mux(f)));
}

/** Same frames: kind, codec, key, timestamps, bytes. */
function sameFrames(t: Test, got: AvFrame[], want: AvFrame[], label: string): void {
  t.equal(got.length, want.length, `${label}: frame count`);
  const bad = got.findIndex((f, i) => {
    const w = want[i]!;
    return f.kind !== w.kind || f.codec !== w.codec || f.key !== w.key || f.pts !== w.pts || f.dts !== w.dts || !Buffer.from(f.data).equals(Buffer.from(w.data));
  });
  t.equal(bad, -1, `${label}: frames equal (first difference at ${bad})`);
}

t.test('Annex-B splitter: the samples are 100 access units, 2 key, covering the file exactly', async (t) => {
  for (const [file, codec] of [
    [H264, 'h264'],
    [H265, 'h265'],
  ] as const) {
    const es = media(file);
    const aus = splitAccessUnits(es, codec);
    t.equal(aus.length, 100, `${file}: access units`);
    t.strictSame(
      aus.flatMap((a, i) => (a.key ? [i] : [])),
      [0, 50],
      `${file}: key frames at 0 and 50`,
    );
    t.ok(concat(aus.map((a) => a.data)).equals(es), `${file}: concatenation is the file`);
  }
});

for (const [file, codec] of [
  [H264, 'h264'],
  [H265, 'h265'],
] as const) {
  t.test(`mux → demux round trip, ${codec}`, async (t) => {
    const frames = videoFrames(file, codec);
    const ps = muxAll(frames);
    const units = walkUnits(ps);
    t.equal(units.filter((u) => u[0] === 0xba).length, 100, 'a pack header per frame');
    t.equal(units.filter((u) => u[0] === 0xbc).length, 2, 'a PSM per key frame');
    t.equal(units.filter((u) => u[0] === 0xbb).length, 2, 'a system header per key frame');
    for (const chunk of [ps.length, 1400, 5]) sameFrames(t, demuxAll(ps, chunk).frames, frames, `${chunk}-byte chunks`);
  });
}

t.test('byte layout equals gbps.py output (the reference the README validated with ffprobe)', async (t) => {
  for (const [file, audio] of [
    ['gb_h264_4s.ps', false],
    ['gb_h265_4s.ps', false],
    ['gb_h264_g711a_4s.ps', true],
  ] as const) {
    const ref = media(file);
    const frames = demuxAll(ref).frames.sort((a, b) => a.pts - b.pts || (a.kind === 'audio' ? 1 : 0) - (b.kind === 'audio' ? 1 : 0));
    const muxer = new PsMuxer({ videoCodec: frames[0]!.codec as VideoCodec, ...(audio ? { audioCodec: 'g711a' as const } : {}) });
    const ours = muxAll(frames, muxer);
    t.equal(ours.length, ref.length, `${file}: same length`);
    // Allowed differences: packet_rate_restriction_flag in the system header (ours 0) and the
    // PES data_alignment_indicator (ours set on the PES that starts a frame).
    const refUnits = walkUnits(ref);
    const ourUnits = walkUnits(ours);
    t.strictSame(
      ourUnits.map((u) => [u[0], u[2]]),
      refUnits.map((u) => [u[0], u[2]]),
      `${file}: same units, same lengths`,
    );
    let unexplained = 0;
    ourUnits.forEach(([id, at, n]) => {
      for (let i = 0; i < n; i++) {
        if (ours[at + i] === ref[at + i]) continue;
        const explained = (id === 0xbb && i === 11) || ((id === 0xe0 || id === 0xc0) && i === 6 && (ours[at + i]! & ~0x04) === ref[at + i]);
        if (!explained) unexplained++;
      }
    });
    t.equal(unexplained, 0, `${file}: no other byte differs`);
  }
});

t.test('PSM: CRC-32/MPEG-2 matches gbps.py, stream types per codec', async (t) => {
  const ref = media('gb_h264_g711a_4s.ps');
  const [, at, n] = walkUnits(ref).find((u) => u[0] === 0xbc)!;
  t.equal(crc32Mpeg2(ref, at, at + n - 4), ref.readUInt32BE(at + n - 4), 'same CRC as gbps.py for its PSM');
  t.equal(crc32Mpeg2(ref, at, at + n), 0, 'CRC residue over the PSM is 0');

  const cases: Array<[AvFrame['codec'], number, number]> = [
    ['h264', 0x1b, 0xe0],
    ['h265', 0x24, 0xe0],
    ['g711a', 0x90, 0xc0],
    ['g711u', 0x91, 0xc0],
    ['aac', 0x0f, 0xc0],
  ];
  for (const [codec, streamType, streamId] of cases) {
    const kind = codec === 'h264' || codec === 'h265' ? 'video' : 'audio';
    const ps = new PsMuxer().mux({ kind, codec, key: true, pts: 0, dts: 0, data: Buffer.from([0, 0, 0, 1, 0x65, 0x80]) });
    const [, p, len] = walkUnits(ps).find((u) => u[0] === 0xbc)!;
    const es = p + 12;
    t.strictSame([ps[es], ps[es + 1]], [streamType, streamId], `${codec}: stream_type 0x${streamType.toString(16)} on 0x${streamId.toString(16)}`);
    t.equal(crc32Mpeg2(ps, p, p + len), 0, `${codec}: PSM CRC`);
    t.ok(walkUnits(ps).some((u) => u[0] === streamId), `${codec}: PES on 0x${streamId.toString(16)}`);
  }
  const muxer = new PsMuxer();
  t.equal(muxer.muxSlices({ kind: 'audio', codec: 'g726', key: true, pts: 0, dts: 0, data: Buffer.alloc(80) }).length, 0, 'G.726 has no PS stream type: nothing muxed');
  t.equal(muxer.unsupportedFrames, 1);
});

t.test('DTS written when it differs from PTS; 33-bit wrap of PTS and SCR', async (t) => {
  const base = 2 ** 33 - 3600;
  const frames: AvFrame[] = [0, 1, 2, 3].map((i) => ({
    kind: 'video',
    codec: 'h264',
    key: i === 0,
    pts: base + 3600 * i + 7200,
    dts: base + 3600 * i,
    data: Buffer.from([0, 0, 0, 1, i === 0 ? 0x65 : 0x41, 0x80, i]),
  }));
  const ps = muxAll(frames);
  const pes = walkUnits(ps).filter((u) => u[0] === 0xe0);
  t.ok(pes.every(([, at]) => ps[at + 7] === 0xc0 && ps[at + 8] === 10), 'PTS_DTS_flags 11, 10 header bytes');
  t.equal(ps[pes[0]![1] + 9]! >> 4, 0x3, 'PTS prefix 0011');
  t.equal(ps[pes[0]![1] + 14]! >> 4, 0x1, 'DTS prefix 0001');
  // The demuxer starts its clock at the first raw value, so times come back shifted by 2^33.
  const got = demuxAll(ps).frames;
  t.strictSame(
    got.map((f) => [f.pts + 2 ** 33, f.dts + 2 ** 33]),
    frames.map((f) => [f.pts, f.dts]),
    'PTS and DTS recovered modulo 2^33, still growing',
  );
});

/** A real key frame made larger than 64 KB with a filler-data NAL (type 12), still decodable. */
function bigKeyFrame(size: number): AvFrame {
  const first = splitAccessUnits(media(H264), 'h264')[0]!;
  const filler = Buffer.alloc(size - first.data.length, 0xff);
  filler.set([0, 0, 0, 1, 0x0c], 0);
  filler[filler.length - 1] = 0x80;
  return { kind: 'video', codec: 'h264', key: true, pts: 3600, dts: 3600, data: concat([first.data, filler]) };
}

t.test('frames above 64 KB: several PES, each <= 65535, PTS only on the first', async (t) => {
  const big = bigKeyFrame(200_000);
  for (const maxPesPacketLength of [65535, 4000]) {
    const muxer = new PsMuxer({ maxPesPacketLength });
    const frames = [big, ...videoFrames(H264, 'h264').slice(1, 10)];
    const ps = muxAll(frames, muxer);
    // The big frame comes first, so its PES are the first video units of the stream.
    const bigPs = new PsMuxer({ maxPesPacketLength }).mux(big);
    t.ok(bigPs.length <= muxer.maxMuxedLength(big), 'maxMuxedLength bounds it');
    const pes = walkUnits(ps.subarray(0, bigPs.length)).filter((u) => u[0] === 0xe0);
    t.equal(pes.length, Math.ceil((big.data.length + 5) / (maxPesPacketLength - 3)), `${maxPesPacketLength}: PES count`);
    t.ok(pes.every(([, , n]) => n - 6 <= maxPesPacketLength), 'PES_packet_length within the limit');
    t.strictSame(
      pes.map(([, at]) => ps[at + 7]),
      pes.map((_, i) => (i === 0 ? 0x80 : 0x00)),
      'PTS on the first PES only',
    );
    sameFrames(t, demuxAll(ps, 1400).frames, frames, `${maxPesPacketLength}: demuxed`);
  }
});

t.test('muxSlices, muxInto and mux agree; maxMuxedLength bounds them', async (t) => {
  const frames = withAudio(videoFrames(H264, 'h264')).slice(0, 30);
  frames.unshift(bigKeyFrame(150_000));
  const a = new PsMuxer();
  const b = new PsMuxer();
  const c = new PsMuxer();
  const out = Buffer.alloc(400_000);
  for (const f of frames) {
    const bound = b.maxMuxedLength(f);
    const n = b.muxInto(f, out, 7);
    const viaSlices = concat(c.muxSlices(f).slice());
    const whole = Buffer.from(a.mux(f));
    if (!whole.equals(out.subarray(7, 7 + n)) || !whole.equals(viaSlices) || n > bound) {
      t.fail(`frame at ${f.pts} differs`);
      return;
    }
  }
  t.pass('identical for 31 frames');
  t.throws(() => new PsMuxer().muxInto(frames[0]!, Buffer.alloc(100)), RangeError, 'too small a buffer is a programmer error');
});

t.test('audio-only stream repeats system header + PSM', async (t) => {
  const muxer = new PsMuxer({ audioOnlyPsmInterval: 10 });
  const frames: AvFrame[] = Array.from({ length: 35 }, (_, i) => ({ kind: 'audio', codec: 'g711u', key: true, pts: 1800 * i, dts: 1800 * i, data: Buffer.alloc(160, 0xff) }));
  const ps = muxAll(frames, muxer);
  t.equal(walkUnits(ps).filter((u) => u[0] === 0xbc).length, 4, 'frames 0, 10, 20, 30');
  const got = demuxAll(ps).frames;
  t.equal(got.length, 35);
  t.ok(got.every((f) => f.codec === 'g711u'));
});

t.test('ffprobe judges the muxed PS: H.264 frames, key frames, PTS', { skip: needFfprobe }, async (t) => {
  const ps = muxAll(videoFrames(H264, 'h264'));
  const r = ffprobe(ps, ['-select_streams', 'v:0', '-show_frames', '-show_entries', 'frame=pict_type,pts,key_frame']);
  t.equal(r.stderr, '', 'no complaints with -v error');
  const frames = r.json.frames as Array<{ pts: number; key_frame: number; pict_type: string }>;
  t.equal(frames.length, 100, 'decodes 100 frames');
  t.strictSame(
    frames.flatMap((f, i) => (f.key_frame ? [i] : [])),
    [0, 50],
    'key frames 0 and 50',
  );
  t.strictSame(
    frames.map((f) => f.pts),
    frames.map((_, i) => 3600 + 3600 * i),
    'PTS 3600 + 3600 i',
  );
  t.equal(frames[0]!.pict_type, 'I');
  const p = ffprobe(ps, ['-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height']);
  t.match(p.json.streams[0], { codec_name: 'h264', width: 640, height: 480 });
});

t.test('ffprobe judges the muxed PS: H.265', { skip: needFfprobe }, async (t) => {
  const ps = muxAll(videoFrames(H265, 'h265'));
  const r = ffprobe(ps, ['-select_streams', 'v:0', '-show_frames', '-show_entries', 'frame=pts,key_frame']);
  t.equal(r.stderr, '');
  const frames = r.json.frames as Array<{ pts: number; key_frame: number }>;
  t.equal(frames.length, 100);
  t.equal(frames.filter((f) => f.key_frame).length, 2);
  t.equal(frames[99]!.pts, 3600 * 100);
  const s = ffprobe(ps, ['-select_streams', 'v:0', '-show_entries', 'stream=codec_name']);
  t.equal(s.json.streams[0].codec_name, 'hevc');
});

t.test('ffprobe judges the muxed PS: H.264 + G.711A (IMKH trick for the audio)', { skip: needFfprobe }, async (t) => {
  const ps = muxAll(withAudio(videoFrames(H264, 'h264')));
  const v = ffprobe(ps, ['-select_streams', 'v:0', '-count_frames', '-show_entries', 'stream=nb_read_frames']);
  t.equal(Number(v.json.streams[0].nb_read_frames), 100, '100 video frames with audio interleaved');
  const imkh = withImkh(ps);
  const a = ffprobe(imkh, ['-select_streams', 'a:0', '-show_entries', 'stream=codec_name,sample_rate,channels:packet=pts,size']);
  t.match(a.json.streams[0], { codec_name: 'pcm_alaw', sample_rate: '8000', channels: 1 });
  const packets = a.json.packets as Array<{ pts: number; size: string }>;
  t.equal(packets.length, 200, '200 audio packets');
  t.ok(packets.every((p, i) => Number(p.size) === 160 && p.pts === 3600 + 1800 * i), '160 bytes every 1800 ticks');
  const x = ffmpegExtract(imkh, ['-map', '0:a', '-c', 'copy', '-f', 'alaw']);
  t.equal(x.stderr, '');
  t.ok(x.out.equals(media(ALAW)), 'ffmpeg extracts the source A-law byte for byte');
});

t.test('ffprobe judges the muxed PS: a 200 KB frame split over PES', { skip: needFfprobe }, async (t) => {
  const big = bigKeyFrame(200_000);
  const frames = [big, ...videoFrames(H264, 'h264').slice(1, 50)];
  const ps = muxAll(frames);
  const r = ffprobe(ps, ['-select_streams', 'v:0', '-show_packets', '-show_entries', 'packet=pts,size,flags']);
  t.equal(r.stderr, '');
  const packets = r.json.packets as Array<{ pts: number; size: string; flags: string }>;
  t.equal(packets.length, 50);
  t.equal(Number(packets[0]!.size), big.data.length, 'first packet is the whole big frame');
  t.equal(packets[0]!.pts, 3600);
  t.match(packets[0]!.flags, /^K/);
  const f = ffprobe(ps, ['-select_streams', 'v:0', '-count_frames', '-show_entries', 'stream=nb_read_frames']);
  t.equal(Number(f.json.streams[0].nb_read_frames), 50, 'all frames decode');
});
