import t from 'tap';
import fc from 'fast-check';
import type { AvFrame, Codec } from '../../../src/protocol/av/frame.js';
import { FlvFanout } from '../../../src/media-process/viewers/flv-fanout.js';
import type { FlvViewer } from '../../../src/media-process/viewers/flv-fanout.js';
import { FlvMuxer } from '../../../src/protocol/flv/index.js';
import { muxInto } from '../../media-process/viewers/fixtures/mux-into.js';
import {
  parseAudioBody,
  parseAvcConfig,
  parseHevcConfig,
  parseVideoBody,
  readFlvHeader,
  readFlvTags,
  splitLengthPrefixed,
} from './fixtures/flv-reader.js';
import type { FlvTag } from '../../../src/protocol/flv/index.js';
import { H264, H265, concat, videoFrames } from './fixtures/helpers.js';

const realAus = [...videoFrames(H264, 'h264').slice(0, 3), ...videoFrames(H265, 'h265').slice(0, 3)].map((f) => f.data);

const nalHeaders = [0x67, 0x68, 0x65, 0x41, 0x09, 0x06, 0x40, 0x42, 0x44, 0x26, 0x02, 0x46, 0x4e];
/** Annex-B-looking bytes: start codes followed by plausible (and parameter-set) NAL headers. */
const annexB = fc
  .array(fc.tuple(fc.boolean(), fc.constantFrom(...nalHeaders), fc.uint8Array({ maxLength: 60 })), { maxLength: 8 })
  .map((nals) => concat(nals.map(([long, h, body]) => concat([Uint8Array.from(long ? [0, 0, 0, 1, h] : [0, 0, 1, h]), body]))));
const mutatedReal = fc
  .tuple(fc.integer({ min: 0, max: realAus.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }), fc.nat())
  .map(([i, muts, cut]) => {
    const b = Buffer.from(realAus[i]!);
    for (const [at, v] of muts) b[at % b.length] = v;
    return b.subarray(0, Math.max(1, b.length - (cut % 64)));
  });
const adtsLike = fc.uint8Array({ maxLength: 300 }).map((body) => concat([Uint8Array.of(0xff, 0xf1), body]));
const payload = fc.oneof(fc.uint8Array({ maxLength: 400 }), annexB, mutatedReal, adtsLike);

const codecs: Array<['video' | 'audio', Codec]> = [
  ['video', 'h264'],
  ['video', 'h265'],
  ['audio', 'g711a'],
  ['audio', 'g711u'],
  ['audio', 'aac'],
  ['audio', 'g726'],
  ['audio', 'adpcm'],
  ['video', 'g711a'], // nonsense pairings must not throw either
  ['audio', 'h264'],
];
const ts = fc.oneof(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 2 ** 42 }));
const frameArb: fc.Arbitrary<AvFrame> = fc
  .tuple(fc.constantFrom(...codecs), fc.boolean(), ts, fc.integer({ min: -20_000, max: 20_000 }), payload)
  .map(([[kind, codec], key, dts, ctsTicks, data]) => ({ kind, codec, key, dts, pts: dts + ctsTicks, data }));

/** Every structural invariant of one tag; a message on failure. */
function checkTag(tag: FlvTag): string | undefined {
  const b = tag.bytes;
  const dataSize = (b[1]! << 16) | (b[2]! << 8) | b[3]!;
  if (b.length !== dataSize + 15) return `length ${b.length} != DataSize ${dataSize} + 15`;
  const prev = ((b[b.length - 4]! << 24) | (b[b.length - 3]! << 16) | (b[b.length - 2]! << 8) | b[b.length - 1]!) >>> 0;
  if (prev !== dataSize + 11) return `PreviousTagSize ${prev} != ${dataSize + 11}`;
  const type = b[0]!;
  if (type !== { video: 9, audio: 8, script: 18 }[tag.kind]) return `type ${type} for ${tag.kind}`;
  const stamp = (((b[7]! << 24) | (b[4]! << 16) | (b[5]! << 8) | b[6]!) >>> 0);
  if (stamp !== tag.timestamp >>> 0) return `timestamp ${stamp} != ${tag.timestamp}`;
  if (b[8] !== 0 || b[9] !== 0 || b[10] !== 0) return 'StreamID';
  const body = b.subarray(11, b.length - 4);
  if (tag.kind === 'script') return body[0] === 0x02 ? undefined : 'script body';
  if (tag.kind === 'audio') return parseAudioBody(body) ? undefined : 'audio body';
  const v = parseVideoBody(body);
  if (!v) return 'video body';
  if (tag.config) {
    const ok = v.enhanced ? parseHevcConfig(v.data) : parseAvcConfig(v.data);
    return ok ? undefined : 'configuration record does not parse';
  }
  const nals = splitLengthPrefixed(v.data, 4);
  if (!nals || nals.length === 0 || nals.some((n) => n.length === 0)) return 'NAL length prefixes inconsistent';
  if (tag.key !== (v.frameType === 1)) return 'FrameType vs key';
  return undefined;
}

t.test('fuzz: random frame sequences never throw; every tag has consistent DataSize / PreviousTagSize', async (t) => {
  let tags = 0;
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 40 }), fc.boolean(), (frames, keep) => {
      const m = new FlvMuxer({ keepParameterSets: keep });
      const out: FlvTag[] = [];
      for (const f of frames) out.push(...m.mux(f));
      out.push({ kind: 'script', config: false, key: false, timestamp: 0, bytes: m.onMetaData() });
      for (const tag of out) {
        const err = checkTag(tag);
        if (err) throw new Error(err);
      }
      // Concatenated, the tags walk as one stream.
      const file = concat([m.header({ hasVideo: true, hasAudio: true }), ...out.map((x) => x.bytes)]);
      const walked = readFlvTags(file, 13);
      if (walked.tags.length !== out.length || 13 + walked.used !== file.length) throw new Error('walk');
      tags += out.length;
      return true;
    }),
    { numRuns: 1500 },
  );
  t.ok(tags > 1000, `${tags} tags checked`);
});

t.test('fuzz: fan-out with random viewers, backpressure and removals never throws; viewers get whole tags', async (t) => {
  const op = fc.oneof(
    frameArb.map((f) => ({ op: 'frame' as const, f })),
    fc.constant({ op: 'add' as const }),
    fc.nat().map((n) => ({ op: 'remove' as const, n })),
    fc.nat({ max: 20_000 }).map((ms) => ({ op: 'tick' as const, ms })),
  );
  // Real video keeps key frames flowing so viewers do resume.
  const real = videoFrames(H264, 'h264').slice(0, 60);
  let withMedia = 0;
  let dropped = 0;
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 10 }), fc.nat({ max: 300_000 }), (ops, accepts, cap) => {
      let now = 0;
      const f = new FlvFanout({ clock: () => now, gopCacheMaxBytes: 100_000, viewer: { maxBufferedBytes: 40_000, stuckTimeoutMs: 5000 } });
      const muxer = new FlvMuxer();
      const viewers: Array<{ v: FlvViewer; writes: Uint8Array[]; buffered: number }> = [];
      let k = 0;
      let r = 0;
      const step = (o: (typeof ops)[number]): void => {
        if (o.op === 'frame') muxInto(f, muxer, o.f);
        else if (o.op === 'add') {
          const rec = { v: undefined as unknown as FlvViewer, writes: [] as Uint8Array[], buffered: 0 };
          rec.v = f.addViewer({
            write: (b) => {
              rec.writes.push(b);
              rec.buffered = Math.min(cap, rec.buffered + b.length);
              return accepts[k++ % accepts.length]!;
            },
            bufferedAmount: () => rec.buffered,
            close: () => {},
          });
          viewers.push(rec);
        } else if (o.op === 'remove') {
          if (viewers.length) f.removeViewer(viewers[o.n % viewers.length]!.v);
        } else {
          now += o.ms;
          for (const v of viewers) v.buffered = Math.max(0, v.buffered - o.ms * 10);
          f.checkViewers();
        }
      };
      for (const o of ops) {
        step(o);
        if (r < real.length && o.op !== 'add') {
          now += 40;
          muxInto(f, muxer, real[r++]!);
        }
      }
      f.close();
      for (const v of viewers) {
        const bytes = concat(v.writes);
        if (bytes.length === 0) continue;
        if (!readFlvHeader(bytes)) throw new Error('viewer stream does not start with an FLV header');
        const walked = readFlvTags(bytes, 13);
        if (13 + walked.used !== bytes.length) throw new Error('viewer got a partial tag');
        const firstMedia = walked.tags.find((x) => x.type === 9 && parseVideoBody(x.body)!.packetType !== 0);
        if (firstMedia && parseVideoBody(firstMedia.body)!.frameType !== 1 && muxer.stats.videoTags > 0) {
          // Only real H.264 / fuzz frames flagged key start a viewer.
          throw new Error('viewer started on a non-key frame');
        }
        if (firstMedia) withMedia++;
      }
      dropped += f.stats().droppedTags;
      return f.viewerCount === 0;
    }),
    { numRuns: 400 },
  );
  t.ok(withMedia > 100, `${withMedia} viewers received media`);
  t.ok(dropped > 0, `${dropped} tags dropped for backpressure`);
});
