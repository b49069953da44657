import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AvFrame } from '../../../src/protocol/av/frame.js';
import { PsDemuxer } from '../../../src/protocol/mpeg-ps/demuxer.js';
import { Fmp4Muxer } from '../../../src/protocol/mp4/fmp4-muxer.js';
import { ffprobe } from '../../helpers/ffprobe.js';
import { needPeer } from '../../helpers/peers.js';

const media = new URL('../../../../shared/media/', import.meta.url).pathname;

function framesOf(file: string): AvFrame[] {
  const frames: AvFrame[] = [];
  const demuxer = new PsDemuxer((frame) => frames.push(frame));
  demuxer.push(readFileSync(join(media, file)));
  demuxer.flush();
  return frames;
}

for (const [file, codec, tag] of [['gb_h264_g711a_4s.ps', 'h264', 'avc1'], ['gb_h265_4s.ps', 'hevc', 'hvc1']] as const) {
  t.test(`${file} → fragmented MP4 that ffprobe decodes (${codec})`, async (t) => {
    const frames = framesOf(file);
    const video = frames.filter((f) => f.kind === 'video');
    const muxer = new Fmp4Muxer();
    const chunks = frames.flatMap((f) => muxer.push(f));
    chunks.push(...muxer.flush());
    const bytes = Buffer.concat(chunks);
    t.equal(bytes.toString('latin1', 4, 8), 'ftyp');
    t.ok(bytes.includes(tag), `${tag} sample entry`);
    t.match(muxer.info, { width: 640, height: 480 });
    t.equal(muxer.dropped, 0, 'the capture starts on a key frame: no video frame dropped');
    if (!needPeer(t, 'ffprobe', 'ffmpeg')) return;
    const path = join(mkdtempSync(join(tmpdir(), 'camgate-mp4-')), 'out.mp4');
    writeFileSync(path, bytes);
    const probe = await ffprobe(['-count_frames', '-show_entries', 'stream=codec_name,codec_tag_string,nb_read_frames,width,height,r_frame_rate:format=duration,format_name', path]);
    const stream = probe.json.streams?.[0];
    t.equal(probe.json.streams?.length, 1, 'video only');
    t.match(stream, { codec_name: codec, codec_tag_string: tag, width: 640, height: 480, r_frame_rate: '25/1' }, probe.stderr);
    t.equal(Number(stream?.nb_read_frames), video.length, `${video.length} frames decode`);
    t.ok(Math.abs(Number(probe.json.format?.duration) - video.length / 25) < 0.1, `duration ${probe.json.format?.duration} s`);
    t.equal(probe.stderr, '', 'ffprobe reports no error');
  });
}

t.test('frames before the first key frame are dropped; audio is not written', async (t) => {
  const frames = framesOf('gb_h264_g711a_4s.ps');
  const firstKey = frames.findIndex((f) => f.kind === 'video' && f.key);
  const secondKey = frames.findIndex((f, i) => i > firstKey && f.kind === 'video' && f.key);
  const muxer = new Fmp4Muxer();
  const before = frames.slice(firstKey + 1, secondKey).flatMap((f) => muxer.push(f));
  t.same(before, [], 'nothing until a key frame');
  t.equal(muxer.dropped, frames.slice(firstKey + 1, secondKey).filter((f) => f.kind === 'video').length);
  t.equal(muxer.info, null);
});
