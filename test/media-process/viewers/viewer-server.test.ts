/**
 * The viewer server with real worker threads: each worker publishes sample streams through a
 * real FlvPublisher into its own ring; one ViewerServer (uWebSockets.js, this test's main
 * thread) serves them all on one port. ffprobe and a hand-written WebSocket client judge.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { RingBuffer } from '../../../src/shared/ring.js';
import { readFlvHeader } from '../../protocol/flv/fixtures/flv-reader.js';
import { needPeer } from '../../helpers/peers.js';
import { readWebSocket } from '../../helpers/ws-client.js';
import { ffprobe } from '../../helpers/ffprobe.js';
import { probeFile, rawGet, SAMPLE_VIDEO_FRAMES, startPublisher, startServer, videoTags, waitFor } from './fixtures/viewers.js';

t.test('two workers, one port: HTTP-FLV and WS-FLV of both streams; early viewers wait for the first IDR', async (t) => {
  if (!needPeer(t, 'ffprobe', 'ffmpeg')) return;
  const { server, base } = await startServer(t);
  const rings = [RingBuffer.create(1 << 22), RingBuffer.create(1 << 22)];
  rings.forEach((ring, slot) => server.attachWorker(slot, ring));
  const a = startPublisher(rings[0]!, [{ name: 'live/a', delayMs: 'on-go', frameIntervalMs: 40, loops: 1, closeAtEnd: true }]);
  const b = startPublisher(rings[1]!, [{ name: 'live/b', delayMs: 'on-go', frameIntervalMs: 40, loops: 1, closeAtEnd: true }]);
  t.teardown(() => Promise.all([a.worker.terminate(), b.worker.terminate()]));

  await waitFor('both streams announced', () => server.stats().streams === 2);
  t.equal(server.streamSlot('live/a'), 0);
  t.equal(server.streamSlot('live/b'), 1);

  const missing = await fetch(`http://${base}/live/nope.flv`);
  t.equal(missing.status, 404, 'unknown stream: 404');
  t.equal(missing.headers.get('access-control-allow-origin'), '*');
  t.equal((await readWebSocket(`ws://${base}/live/nope.flv`)).status, 404, 'unknown stream over WebSocket: 404');
  t.equal((await fetch(`http://${base}/live/a.flv`, { method: 'POST' })).status, 405);

  const probe = (name: string, query = '') =>
    ffprobe(['-count_frames', '-show_entries', 'stream=codec_type,codec_name,width,height,nb_read_frames', `http://${base}/${name}.flv${query}`]);
  const viewers = {
    httpA: probe('live/a'),
    httpB: probe('live/b'),
    videoOnlyB: probe('live/b', '?audio=0'),
    wsA: readWebSocket(`ws://${base}/live/a.flv`),
    wsB: readWebSocket(`ws://${base}/live/b.flv?audio=0`),
  };
  await waitFor('five viewers connected', () => server.stats().viewers === 5);
  const early = server.streamStats('live/a')!;
  t.equal(early.tagsIn, 0, 'live/a has no frame yet');
  t.equal(early.viewers, 2, 'its two viewers wait');
  t.ok(early.viewerList.every((v) => v.state === 'waiting' && v.bytesSent === 0), 'and have been sent nothing');
  await sleep(500);
  t.equal(server.stats().viewers, 5, 'nobody gave up meanwhile');
  a.worker.postMessage({ go: 'live/a' });
  b.worker.postMessage({ go: 'live/b' });

  const kinds = (r: { json: any }) => (r.json.streams ?? []).map((s: any) => `${s.codec_type}:${s.codec_name}`).sort();
  for (const [label, pending] of [['live/a', viewers.httpA], ['live/b', viewers.httpB]] as const) {
    const r = await pending;
    t.equal(r.stderr, '', `${label} HTTP-FLV: ffprobe reads it without errors`);
    t.same(kinds(r), ['audio:pcm_alaw', 'video:h264'], `${label}: H.264 and G.711A`);
    const video = r.json.streams.find((s: any) => s.codec_type === 'video');
    t.match(video, { width: 640, height: 480 });
    t.equal(Number(video.nb_read_frames), SAMPLE_VIDEO_FRAMES, `${label} HTTP-FLV: all ${SAMPLE_VIDEO_FRAMES} frames from the first IDR`);
  }
  t.same(kinds(await viewers.videoOnlyB), ['video:h264'], '?audio=0: video only');

  for (const [label, pending] of [['live/a', viewers.wsA], ['live/b', viewers.wsB]] as const) {
    const ws = await pending;
    t.equal(ws.status, 101, `${label}: WebSocket upgrade`);
    t.match(readFlvHeader(ws.payload), { hasVideo: true }, `${label}: FLV header first`);
    const tags = videoTags(ws.payload);
    t.same(tags.slice(0, 2).map((v) => (v.config ? 'config' : v.key ? 'key' : 'inter')), ['config', 'key'], `${label}: sequence header, then an IDR`);
    const probed = await probeFile(ws.payload);
    t.equal(probed.json.streams?.[0]?.codec_name, 'h264');
    t.equal(Number(probed.json.streams?.[0]?.nb_read_frames), SAMPLE_VIDEO_FRAMES, `${label} WS-FLV: all frames`);
    t.same(ws.close, { code: 1000, reason: 'end of sample' }, `${label}: closed with the stream's reason`);
  }
  t.equal(readFlvHeader((await viewers.wsB).payload)?.hasAudio, false, 'WS ?audio=0: header says video only');
  const stats = server.stats();
  t.match(stats, { streams: 0, viewers: 0, viewersAccepted: 5, rejectedNotFound: 2, rejectedMethod: 1, gaps: 0 });
  t.ok(stats.bytesOut > 4 * 140_000, `bytes out counted: ${stats.bytesOut}`);
  t.equal(stats.feeds.length, 2);
});

t.test('a viewer of a stream that never gets a key frame is closed after startTimeoutMs, with a reason', async (t) => {
  const { server, base } = await startServer(t, { startTimeoutMs: 1500, checkIntervalMs: 100 });
  const ring = RingBuffer.create(1 << 20);
  server.attachWorker(0, ring);
  const p = startPublisher(ring, [{ name: 'live/silent', delayMs: 'on-go', frameIntervalMs: 40, loops: 1, closeAtEnd: true }]);
  t.teardown(() => p.worker.terminate());
  await waitFor('announced', () => server.stats().streams === 1);
  const started = Date.now();
  const [http, ws] = await Promise.all([rawGet(`http://${base}/live/silent.flv`).done, readWebSocket(`ws://${base}/live/silent.flv`)]);
  const waited = Date.now() - started;
  t.ok(waited >= 1400 && waited < 4000, `closed after ${waited} ms`);
  t.equal(http.status, 504, 'HTTP: 504, nothing else was sent');
  t.equal(http.body.toString(), 'no key frame within 2 s');
  t.same(ws.close, { code: 1013, reason: 'no key frame within 2 s' });
  t.equal(server.stats().closed.no_start, 2);
});
