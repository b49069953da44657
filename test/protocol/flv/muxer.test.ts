import t from 'tap';
import type { AvFrame } from '../../../src/protocol/av/frame.js';
import { splitNalUnits } from '../../../src/protocol/mpeg-ps/index.js';
import { FlvMuxer, FOURCC_HVC1 } from '../../../src/protocol/flv/index.js';
import { parseAudioBody, parseAvcConfig, parseHevcConfig, parseVideoBody, readFlvTags, splitLengthPrefixed } from './fixtures/flv-reader.js';
import {
  alawFrames,
  codedVideo,
  concat,
  ffmpeg,
  ffprobe,
  ffprobeVersion,
  findBox,
  H264,
  H265,
  interleave,
  media,
  muxFile,
  needFfprobe,
  readAmf0,
  videoFrames,
  walkFile,
} from './fixtures/helpers.js';

const nalType264 = (n: Uint8Array): number => n[0]! & 0x1f;
const nalType265 = (n: Uint8Array): number => (n[0]! >> 1) & 0x3f;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

t.test('header: 9 bytes + PreviousTagSize0, flags', async (t) => {
  const m = new FlvMuxer();
  t.same([...m.header({ hasVideo: true, hasAudio: true })], [0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]);
  t.equal(m.header({ hasVideo: true, hasAudio: false })[4], 1);
  t.equal(m.header({ hasVideo: false, hasAudio: true })[4], 4);
});

t.test('H.264: sequence header first, one tag per access unit, key frames at 0 and 50', async (t) => {
  const frames = videoFrames(H264, 'h264');
  t.equal(frames.length, 100, 'sample has 100 access units');
  const { file, muxer } = muxFile(frames, { hasVideo: true, hasAudio: false });
  const tags = walkFile(t, file);
  t.equal(tags[0]!.type, 18, 'onMetaData first');
  const first = parseVideoBody(tags[1]!.body)!;
  t.match(first, { enhanced: false, frameType: 1, codecId: 7, packetType: 0, cts: 0 }, 'AVC sequence header');
  const cfg = parseAvcConfig(first.data)!;
  t.match(cfg, { version: 1, profile: 0x42, compatibility: 0xc0, level: 30, lengthSize: 4 });
  t.equal(cfg.sps.length, 1);
  t.equal(cfg.pps.length, 1);
  const coded = codedVideo(tags);
  t.equal(coded.length, 100);
  t.same(
    coded.flatMap((v, i) => (v.frameType === 1 ? [i] : [])),
    [0, 50],
    'FrameType 1 exactly on the IDR access units',
  );
  t.ok(coded.every((v) => v.codecId === 7 && v.frameType >= 1 && v.frameType <= 2));
  t.same(muxer.info, { videoCodec: 'h264', width: 640, height: 480 }, 'SPS parsed: 640x480');
  t.equal(muxer.stats.configTags, 1, 'unchanged SPS/PPS repeated before each IDR: no second sequence header');
});

t.test('AVCDecoderConfigurationRecord is byte-identical to the avcC ffmpeg writes into MP4', { skip: needFfprobe }, async (t) => {
  const { tags } = muxFile(videoFrames(H264, 'h264'), { hasVideo: true, hasAudio: false });
  const ours = parseVideoBody(tags[0]!.bytes.subarray(11, tags[0]!.bytes.length - 4))!.data;
  const mp4 = ffmpeg(media(H264), ['-c', 'copy', '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov'], 'in.h264', ['-f', 'h264', '-framerate', '25']);
  t.equal(mp4.status, 0, mp4.stderr);
  const avcC = findBox(mp4.out, 'avcC');
  t.ok(avcC, 'ffmpeg wrote an avcC box');
  t.equal(hex(ours), hex(avcC!));
});

t.test('HEVCDecoderConfigurationRecord matches the hvcC ffmpeg writes into MP4', { skip: needFfprobe }, async (t) => {
  const { tags } = muxFile(videoFrames(H265, 'h265'), { hasVideo: true, hasAudio: false });
  const ours = parseHevcConfig(parseVideoBody(tags[0]!.bytes.subarray(11, tags[0]!.bytes.length - 4))!.data)!;
  const mp4 = ffmpeg(media(H265), ['-c', 'copy', '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov'], 'in.h265', ['-f', 'hevc', '-framerate', '25']);
  t.equal(mp4.status, 0, mp4.stderr);
  const theirs = parseHevcConfig(findBox(mp4.out, 'hvcC')!)!;
  t.ok(theirs, 'ffmpeg wrote an hvcC box');
  // Everything but array_completeness (ffmpeg writes 0, as do we while parameter sets stay in band).
  t.same(ours, theirs);
});

t.test('ffprobe: H.264 FLV -> h264 640x480, 100 frames, 40 ms steps, key frames', { skip: needFfprobe }, async (t) => {
  const { file } = muxFile(videoFrames(H264, 'h264'), { hasVideo: true, hasAudio: false });
  const r = ffprobe(file, ['-count_frames', '-show_entries', 'stream=codec_name,width,height,nb_read_frames']);
  t.equal(r.status, 0);
  t.equal(r.stderr, '', 'no ffprobe errors');
  t.same(r.json.streams, [{ codec_name: 'h264', width: 640, height: 480, nb_read_frames: '100' }]);
  const p = ffprobe(file, ['-select_streams', 'v:0', '-show_entries', 'packet=pts,dts,flags']);
  const pkts = p.json.packets as Array<{ pts: number; dts: number; flags: string }>;
  t.equal(pkts.length, 100);
  t.same(pkts.map((x) => x.pts), pkts.map((_, i) => 40 * i), 'pts 0, 40, 80 ... ms');
  t.same(pkts.flatMap((x, i) => (x.flags.startsWith('K') ? [i] : [])), [0, 50]);
  const f = ffprobe(file, ['-show_entries', 'format_tags']);
  t.equal(f.json.format.tags.encoder, 'camgate', 'ffmpeg reads our onMetaData');
});

t.test('ffprobe: H.264 + G.711A FLV -> pcm_alaw 8 kHz mono, 200 packets, bytes round-trip', { skip: needFfprobe }, async (t) => {
  const { file } = muxFile(interleave(videoFrames(H264, 'h264'), alawFrames()), { hasVideo: true, hasAudio: true });
  const v = ffprobe(file, ['-count_frames', '-show_entries', 'stream=codec_name,width,height,nb_read_frames']);
  t.equal(v.status, 0);
  t.equal(v.stderr, '', 'no ffprobe errors');
  t.same(v.json.streams, [
    { codec_name: 'h264', width: 640, height: 480, nb_read_frames: '100' },
    { codec_name: 'pcm_alaw', nb_read_frames: '200' },
  ]);
  const a = ffprobe(file, ['-select_streams', 'a:0', '-count_packets', '-show_entries', 'stream=codec_name,sample_rate,channels,nb_read_packets:packet=pts,size']);
  t.match(a.json.streams[0], { codec_name: 'pcm_alaw', sample_rate: '8000', channels: 1, nb_read_packets: '200' });
  const pk = a.json.packets as Array<{ pts: number; size: string }>;
  t.same(pk.map((x) => x.pts), pk.map((_, i) => 20 * i), 'audio pts every 20 ms');
  t.ok(pk.every((x) => x.size === '160'));
  const raw = ffmpeg(file, ['-map', '0:a', '-c', 'copy', '-f', 'alaw']);
  t.equal(raw.status, 0, raw.stderr);
  t.ok(raw.out.equals(media('g711a_8k_mono_4s.alaw')), 'extracted A-law is byte-identical to the source');
});

t.test('H.265 as Enhanced FLV: structure checked against the spec', async (t) => {
  const frames = videoFrames(H265, 'h265');
  t.equal(frames.length, 100);
  const { file, muxer } = muxFile(frames, { hasVideo: true, hasAudio: false });
  const tags = walkFile(t, file);
  const meta = readAmf0(tags[0]!.body);
  t.equal(meta[0], 'onMetaData');
  t.match(meta[1], { videocodecid: FOURCC_HVC1, width: 640, height: 480, hasVideo: true, hasAudio: false });
  const seq = tags[1]!;
  t.equal(seq.body[0], 0x80 | (1 << 4) | 0, 'IsExHeader, FrameType 1, PacketType SequenceStart');
  t.equal(Buffer.from(seq.body.subarray(1, 5)).toString('latin1'), 'hvc1', 'FourCC');
  const hvcc = parseHevcConfig(seq.body.subarray(5))!;
  t.match(hvcc, {
    version: 1,
    generalProfileSpace: 0,
    generalTierFlag: 0,
    generalProfileIdc: 1, // Main
    chromaFormatIdc: 1,
    bitDepthLumaMinus8: 0,
    bitDepthChromaMinus8: 0,
    numTemporalLayers: 1,
    lengthSize: 4,
    reservedBitsOk: true,
  });
  t.ok(hvcc.generalLevelIdc > 0, 'level from the SPS');
  t.same(hvcc.arrays.map((a) => a.nalUnitType), [32, 33, 34], 'VPS, SPS, PPS arrays');
  t.ok(hvcc.arrays.every((a) => a.nalus.length === 1 && a.completeness === 0), 'completeness 0: sets also stay in band');
  const src = splitNalUnits(media(H265));
  for (const a of hvcc.arrays) t.ok(src.some((n) => hex(n) === hex(a.nalus[0]!)), `array ${a.nalUnitType} holds the stream's own NAL`);

  const coded = codedVideo(tags);
  t.equal(coded.length, 100);
  t.ok(coded.every((v) => v.enhanced && v.fourcc === 'hvc1' && v.packetType === 3), 'pts == dts: CodedFramesX (no composition time)');
  t.same(coded.flatMap((v, i) => (v.frameType === 1 ? [i] : [])), [0, 50], 'FrameType 1 on the IRAPs');
  // Re-parsing gives back the original NAL units (AUD removed), frame by frame.
  let mismatches = 0;
  coded.forEach((v, i) => {
    const got = splitLengthPrefixed(v.data, 4)!.map(hex);
    const want = splitNalUnits(frames[i]!.data)
      .filter((n) => nalType265(n) !== 35)
      .map(hex);
    if (got.join() !== want.join()) mismatches++;
  });
  t.equal(mismatches, 0, 'NAL units identical after the round trip');
  t.same(muxer.info, { videoCodec: 'h265', width: 640, height: 480 });
});

t.test('H.265 Enhanced FLV: ffprobe on the .flv, and the re-extracted stream decodes', { skip: needFfprobe }, async (t) => {
  const frames = videoFrames(H265, 'h265');
  const { file } = muxFile(frames, { hasVideo: true, hasAudio: false });
  // Decodability of what we carry: Annex-B rebuilt from hvcC + the tags' NAL units.
  const tags = readFlvTags(file, 13).tags;
  const hvcc = parseHevcConfig(parseVideoBody(tags[1]!.body)!.data)!;
  const sc = Uint8Array.of(0, 0, 0, 1);
  const parts: Uint8Array[] = [];
  for (const a of hvcc.arrays) for (const n of a.nalus) parts.push(sc, n);
  for (const v of codedVideo(tags)) for (const n of splitLengthPrefixed(v.data)!) parts.push(sc, n);
  const r = ffprobe(concat(parts), ['-f', 'hevc', '-count_frames', '-show_entries', 'stream=codec_name,width,height,nb_read_frames'], 'in.h265');
  t.equal(r.stderr, '', 'no decode errors');
  t.same(r.json?.streams, [{ codec_name: 'hevc', width: 640, height: 480, nb_read_frames: '100' }], 'hvcC + NAL units decode: 100 frames');
  // The .flv itself: Debian's ffmpeg 5.1 predates Enhanced FLV (added in ffmpeg 6.1) and
  // reads the ExVideoTagHeader as legacy CodecID 0; -count_frames even crashes it. So only
  // record what it says, and assert the full result once an ffprobe can read Enhanced FLV.
  const p = ffprobe(file, ['-show_entries', 'stream=codec_name,width,height']);
  const codec = p.json?.streams?.[0]?.codec_name as string | undefined;
  if (codec === 'hevc') {
    t.same(p.json.streams, [{ codec_name: 'hevc', width: 640, height: 480 }]);
    const c = ffprobe(file, ['-count_frames', '-show_entries', 'stream=nb_read_frames']);
    t.equal(c.json?.streams?.[0]?.nb_read_frames, '100');
  } else {
    t.comment(`${ffprobeVersion}: Enhanced FLV H.265 not understood (codec_name=${codec}); judged structurally above instead`);
    t.pass('recorded');
  }
});

t.test('Annex-B -> 4-byte length prefixes: AUD dropped, SEI kept, 3/4-byte start codes, trailing zeros', async (t) => {
  const sps = splitNalUnits(media(H264)).find((n) => nalType264(n) === 7)!;
  const pps = splitNalUnits(media(H264)).find((n) => nalType264(n) === 8)!;
  const aud = Uint8Array.of(0x09, 0xf0);
  const sei = Uint8Array.of(0x06, 0x05, 0x01, 0xaa, 0x80);
  const idr = Uint8Array.of(0x65, 0x88, 0x84, 0x00, 0x03, 0x01, 0x7f);
  const au = concat([
    Uint8Array.of(0, 0, 0, 1), aud,
    Uint8Array.of(0, 0, 0, 1), sps,
    Uint8Array.of(0, 0, 1), pps,
    Uint8Array.of(0, 0, 1), sei, Uint8Array.of(0, 0), // trailing_zero_8bits
    Uint8Array.of(0, 0, 0, 1), idr,
  ]);
  const m = new FlvMuxer();
  const tags = m.mux({ kind: 'video', codec: 'h264', key: true, pts: 0, dts: 0, data: au });
  t.equal(tags.length, 2, 'sequence header + frame');
  const body = parseVideoBody(tags[1]!.bytes.subarray(11, -4))!;
  t.same(splitLengthPrefixed(body.data)!.map(hex), [sps, pps, sei, idr].map(hex));
  t.same([...body.data.subarray(0, 4)], [0, 0, 0, sps.length], 'big-endian 32-bit lengths');

  const strip = new FlvMuxer({ keepParameterSets: false });
  const s = strip.mux({ kind: 'video', codec: 'h264', key: true, pts: 0, dts: 0, data: au });
  t.same(splitLengthPrefixed(parseVideoBody(s[1]!.bytes.subarray(11, -4))!.data)!.map(hex), [sei, idr].map(hex), 'keepParameterSets: false');
  t.same(parseAvcConfig(parseVideoBody(s[0]!.bytes.subarray(11, -4))!.data)!.sps.map(hex), [hex(sps)]);
});

t.test('Annex-B -> AVCC round trip over the whole H.264 sample', async (t) => {
  const frames = videoFrames(H264, 'h264');
  const { tags } = muxFile(frames, { hasVideo: true, hasAudio: false });
  const coded = tags.filter((x) => !x.config);
  let bad = 0;
  coded.forEach((tag, i) => {
    const got = splitLengthPrefixed(parseVideoBody(tag.bytes.subarray(11, -4))!.data)!.map(hex);
    const want = splitNalUnits(frames[i]!.data)
      .filter((n) => nalType264(n) !== 9)
      .map(hex);
    if (got.join() !== want.join()) bad++;
  });
  t.equal(bad, 0);
  const payload = frames.reduce((s, f) => s + f.data.length, 0);
  const out = coded.reduce((s, x) => s + x.bytes.length, 0);
  t.ok(out < payload + 100 * 40, 'no hidden growth: about 1 byte per start code + 20 bytes of tag framing per frame');
});

t.test('sequence header re-sent when the SPS changes, not when it repeats', async (t) => {
  const frames = videoFrames(H264, 'h264');
  // Second GOP: same SPS with another level_idc (byte 3 of the NAL), as after a camera re-config.
  const changed = frames.map((f, i) => {
    if (i !== 50) return f;
    const data = Buffer.from(f.data);
    const sc = data.indexOf(Buffer.from([0, 0, 1, 0x67]));
    data[sc + 3 + 3] = 31; // level 3.1
    return { ...f, data };
  });
  const m = new FlvMuxer();
  const all = changed.flatMap((f) => m.mux(f));
  const cfg = all.flatMap((x, i) => (x.config ? [i] : []));
  t.same(cfg, [0, 51], 'config before frame 0 and again right before frame 50');
  t.equal(parseAvcConfig(parseVideoBody(all[51]!.bytes.subarray(11, -4))!.data)!.level, 31);
  t.ok(all[52]!.key, 'the key frame follows its new sequence header');
  t.equal(all[51]!.timestamp, all[52]!.timestamp, 'same timestamp as its key frame');
  t.equal(m.videoConfig, all[51], 'videoConfig is the latest header');
  // And a PPS-only change (new PPS content) also re-sends.
  const m2 = new FlvMuxer();
  const f0 = frames[0]!;
  m2.mux(f0);
  const pps2 = concat([f0.data, Uint8Array.of(0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x81)]);
  const again = m2.mux({ ...f0, dts: 7200, pts: 7200, data: pps2 });
  t.ok(again[0]!.config, 'new PPS -> new sequence header');
});

t.test('timestamps: ms from the first dts, 90 kHz rounding, composition time', async (t) => {
  const frames = videoFrames(H264, 'h264', 900_000).slice(0, 5);
  // Reorder-like timing: pts ahead of dts by 2 frames (80 ms), and -1 frame on one.
  const timed = frames.map((f, i) => ({ ...f, pts: f.dts + (i === 3 ? -3600 : 7200) }));
  const m = new FlvMuxer();
  const tags = timed.flatMap((f) => m.mux(f)).filter((x) => !x.config);
  t.same(tags.map((x) => x.timestamp), [0, 40, 80, 120, 160]);
  t.same(tags.map((x) => readFlvTags(x.bytes).tags[0]!.timestamp), [0, 40, 80, 120, 160], 'written timestamp fields');
  t.same(tags.map((x) => parseVideoBody(x.bytes.subarray(11, -4))!.cts), [80, 80, 80, -40, 80], 'SI24 CompositionTime = pts - dts in ms');
  // Rounding: 1 ms = 90 ticks; 44 ticks rounds down, 45 up.
  const a = new FlvMuxer();
  const alaw = (dts: number): AvFrame => ({ kind: 'audio', codec: 'g711a', key: true, pts: dts, dts, data: new Uint8Array(160) });
  t.same([0, 44, 45, 1800, 1799].map((d) => a.mux(alaw(10 + d))[0]!.timestamp), [0, 0, 1, 20, 20]);
  t.equal(a.mux(alaw(0))[0]!.timestamp, 0, 'before the start: clamped to 0');

  // H.265 with a composition offset uses CodedFrames (packet type 1) and carries SI24 cts.
  const h = new FlvMuxer();
  const hv = videoFrames(H265, 'h265').slice(0, 2).map((f) => ({ ...f, pts: f.dts + 7200 }));
  const ht = hv.flatMap((f) => h.mux(f)).filter((x) => !x.config);
  const b = parseVideoBody(ht[1]!.bytes.subarray(11, -4))!;
  t.match(b, { enhanced: true, packetType: 1, cts: 80, frameType: 2 });
  t.same(splitLengthPrefixed(b.data)!.map(hex), splitNalUnits(hv[1]!.data).map(hex));
});

t.test('extended timestamp byte beyond 2^24 ms, wrap at 2^32', async (t) => {
  const m = new FlvMuxer();
  const alaw = (ms: number): AvFrame => ({ kind: 'audio', codec: 'g711a', key: true, pts: ms * 90, dts: ms * 90, data: new Uint8Array(8) });
  m.mux(alaw(0));
  const big = 2 ** 24 + 0x123456; // > 4.6 hours
  const tag = m.mux(alaw(big))[0]!;
  t.equal(tag.timestamp, big);
  t.same([...tag.bytes.subarray(4, 8)], [0x12, 0x34, 0x56, 0x01], 'low 24 bits, then TimestampExtended');
  t.equal(readFlvTags(tag.bytes).tags[0]!.timestamp, big);
  const wrapped = m.mux(alaw(2 ** 32 + 7))[0]!;
  t.same([...wrapped.bytes.subarray(4, 8)], [0, 0, 7, 0], '2^32 + 7 ms wraps to 7');
});

t.test('video before parameter sets / first key frame is dropped and counted', async (t) => {
  const frames = videoFrames(H264, 'h264');
  const m = new FlvMuxer();
  const out = [...frames.slice(10, 50), ...frames.slice(50, 53)].flatMap((f) => m.mux(f));
  t.equal(m.stats.droppedVideo, 40, 'P frames before the first IDR (and its SPS)');
  t.equal(out.length, 4);
  t.ok(out[0]!.config && out[1]!.key);
  // AUD-only access unit: nothing to send.
  t.same(m.mux({ ...frames[60]!, data: Uint8Array.of(0, 0, 0, 1, 0x09, 0xf0) }), []);
  // Garbage without a start code.
  t.same(m.mux({ ...frames[60]!, data: Uint8Array.of(1, 2, 3, 4, 5) }), []);
});

t.test('codec switch H.264 -> H.265 mid-stream: new (enhanced) sequence header, waits for its key frame', async (t) => {
  const m = new FlvMuxer();
  const a = videoFrames(H264, 'h264').slice(0, 3).flatMap((f) => m.mux(f));
  t.equal(a.length, 4);
  const h = videoFrames(H265, 'h265', 3600 * 4);
  const b = h.slice(0, 3).flatMap((f) => m.mux(f));
  t.same(b.map((x) => [x.config, x.key]), [[true, false], [false, true], [false, false], [false, false]]);
  t.equal(parseVideoBody(b[0]!.bytes.subarray(11, -4))!.fourcc, 'hvc1');
  t.equal(m.videoConfig, b[0]);
  t.equal(m.info.videoCodec, 'h265');
  // Back to H.264 on a P frame: dropped until its SPS + IDR come.
  const c = videoFrames(H264, 'h264', 3600 * 10);
  t.same(m.mux(c[5]!), []);
  t.equal(m.videoConfig, undefined, 'old configuration forgotten');
  t.equal(m.mux(c[50]!).length, 2);
});

t.test('G.711A/U audio tag flags; G.726 dropped', async (t) => {
  const m = new FlvMuxer();
  const a = m.mux({ kind: 'audio', codec: 'g711a', key: true, pts: 0, dts: 0, data: new Uint8Array(160).fill(0xd5) })[0]!;
  const body = parseAudioBody(a.bytes.subarray(11, -4))!;
  t.match(body, { soundFormat: 7, soundRate: 0, soundSize: 1, soundType: 0 });
  t.equal(hex(body.data), 'd5'.repeat(160), 'payload as is');
  t.equal(a.bytes[11], 0x72);
  const u = m.mux({ kind: 'audio', codec: 'g711u', key: true, pts: 0, dts: 0, data: new Uint8Array(160) })[0]!;
  t.equal(u.bytes[11], 0x82);
  t.same(m.mux({ kind: 'audio', codec: 'g726', key: true, pts: 0, dts: 0, data: new Uint8Array(80) }), []);
  t.equal(m.stats.droppedAudio, 1);
});

/** ADTS frame: LC, `sfi`, `channels`, payload bytes, optional CRC. */
function adts(payload: Uint8Array, sfi = 4, channels = 2, crc = false): Uint8Array {
  const h = crc ? 9 : 7;
  const len = h + payload.length;
  const out = new Uint8Array(len);
  out[0] = 0xff;
  out[1] = 0xf0 | (crc ? 0 : 1);
  out[2] = (1 << 6) | (sfi << 2) | (channels >> 2); // profile LC (object type 2 - 1)
  out[3] = ((channels & 3) << 6) | (len >> 11);
  out[4] = (len >> 3) & 0xff;
  out[5] = ((len & 7) << 5) | 0x1f;
  out[6] = 0xfc;
  out.set(payload, h);
  return out;
}

t.test('AAC: ADTS stripped, AudioSpecificConfig sequence header, several frames per AvFrame', async (t) => {
  const m = new FlvMuxer();
  const p1 = Uint8Array.of(0x21, 0x10, 0x04);
  const p2 = Uint8Array.of(0x21, 0x10, 0x05, 0x06);
  const data = concat([adts(p1), adts(p2, 4, 2, true)]);
  const tags = m.mux({ kind: 'audio', codec: 'aac', key: true, pts: 9000, dts: 9000, data });
  t.equal(tags.length, 3);
  const cfg = parseAudioBody(tags[0]!.bytes.subarray(11, -4))!;
  t.match(cfg, { soundFormat: 10, soundRate: 3, soundSize: 1, soundType: 1, aacPacketType: 0 });
  t.same([...cfg.data], [0x12, 0x10], 'AAC LC, 44.1 kHz, stereo');
  t.same([...parseAudioBody(tags[1]!.bytes.subarray(11, -4))!.data], [...p1]);
  t.same([...parseAudioBody(tags[2]!.bytes.subarray(11, -4))!.data], [...p2], 'CRC header (9 bytes) stripped too');
  t.same(tags.map((x) => x.timestamp), [0, 0, 23], 'second frame 1024 samples later');
  t.same(m.info, { audioCodec: 'aac', audioSampleRate: 44100, audioChannels: 2 });
  // Same config again: no new sequence header; a new rate: one.
  t.equal(m.mux({ kind: 'audio', codec: 'aac', key: true, pts: 18000, dts: 18000, data: adts(p1) }).length, 1);
  const re = m.mux({ kind: 'audio', codec: 'aac', key: true, pts: 27000, dts: 27000, data: adts(p1, 3, 1) });
  t.equal(re.length, 2);
  t.same([...parseAudioBody(re[0]!.bytes.subarray(11, -4))!.data], [0x11, 0x88], '48 kHz mono');
  // Raw AAC without a configured ASC: dropped; with one: passed through.
  t.same(new FlvMuxer().mux({ kind: 'audio', codec: 'aac', key: true, pts: 0, dts: 0, data: p1 }), []);
  const raw = new FlvMuxer({ aacConfig: Uint8Array.of(0x15, 0x88) }).mux({ kind: 'audio', codec: 'aac', key: true, pts: 0, dts: 0, data: p1 });
  t.equal(raw.length, 2);
  t.same([...parseAudioBody(raw[1]!.bytes.subarray(11, -4))!.data], [...p1]);
});

t.test('ffprobe reads the AAC FLV: aac 44.1 kHz stereo', { skip: needFfprobe }, async (t) => {
  const m = new FlvMuxer();
  const frames: AvFrame[] = [];
  for (let i = 0; i < 20; i++) frames.push({ kind: 'audio', codec: 'aac', key: true, pts: i * 2090, dts: i * 2090, data: adts(Uint8Array.of(0x21, 0x10, 0x04, i)) });
  const { file } = muxFile(frames, { hasVideo: false, hasAudio: true }, m);
  const r = ffprobe(file, ['-count_packets', '-show_entries', 'stream=codec_name,sample_rate,channels,nb_read_packets']);
  t.match(r.json.streams, [{ codec_name: 'aac', sample_rate: '44100', channels: 2, nb_read_packets: '20' }]);
});

t.test('onMetaData: valid AMF0 with what is known', async (t) => {
  const { muxer } = muxFile(interleave(videoFrames(H264, 'h264').slice(0, 2), alawFrames().slice(0, 2)), { hasVideo: true, hasAudio: true });
  const tag = muxer.onMetaData();
  const { tags } = readFlvTags(tag);
  t.equal(tags.length, 1);
  t.equal(tags[0]!.type, 18);
  t.equal(tags[0]!.timestamp, 0);
  const [name, props] = readAmf0(tags[0]!.body);
  t.equal(name, 'onMetaData');
  t.same(props, {
    duration: 0,
    hasVideo: true,
    hasAudio: true,
    videocodecid: 7,
    width: 640,
    height: 480,
    audiocodecid: 7,
    audiosamplerate: 8000,
    audiosamplesize: 16,
    stereo: false,
    encoder: 'camgate',
  });
  t.equal(muxer.onMetaData(), tag, 'cached while nothing changes');
  t.same(readAmf0(readFlvTags(new FlvMuxer().onMetaData()).tags[0]!.body)[1], { duration: 0, hasVideo: false, hasAudio: false, encoder: 'camgate' }, 'minimal before any frame');
});
