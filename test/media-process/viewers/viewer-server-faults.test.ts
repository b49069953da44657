/**
 * The viewer server under faults, with real worker threads: a viewer that stops reading, a
 * worker thread terminated under its viewers.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { RingBuffer } from '../../../src/shared/ring.js';
import { needPeer } from '../../helpers/peers.js';
import { readWebSocket } from '../../helpers/ws-client.js';
import { probeFile, rawGet, SAMPLE_VIDEO_FRAMES, startPublisher, startServer, videoTags, waitFor } from './fixtures/viewers.js';

t.test('a slow viewer is cut back to the next key frame, not buffered without bound', async (t) => {
  if (!needPeer(t, 'ffprobe', 'ffmpeg')) return;
  const limit = 256 * 1024;
  const { server, base } = await startServer(t, { viewer: { maxBufferedBytes: limit, stuckTimeoutMs: 60_000 } });
  const ring = RingBuffer.create(1 << 23);
  server.attachWorker(0, ring);
  // 40 x 4 s of sample (about 7.5 MB of FLV) at 13x real time: more than the kernel buffers hold.
  const loops = 40;
  const p = startPublisher(ring, [{ name: 'live/fast', delayMs: 'on-go', frameIntervalMs: 3, loops, closeAtEnd: true }]);
  t.teardown(() => p.worker.terminate());
  await waitFor('announced', () => server.stats().streams === 1);

  let release!: () => void;
  const paused = new Promise<void>((resolve) => (release = resolve));
  const slow = rawGet(`http://${base}/live/fast.flv`, { paused });
  const fast = readWebSocket(`ws://${base}/live/fast.flv`, 120_000);
  await waitFor('two viewers', () => server.stats().viewers === 2);
  p.worker.postMessage({ go: 'live/fast' });
  let peak = 0;
  let episodes = 0;
  let dropped = 0;
  const watch = setInterval(() => {
    const http = server.streamStats('live/fast')?.viewerList.find((v) => v.id.startsWith('http:'));
    if (!http) return;
    peak = Math.max(peak, http.peakBuffered);
    episodes = Math.max(episodes, http.dropEpisodes);
    dropped = Math.max(dropped, http.droppedTags);
    if (http.droppedTags > 0) release(); // it fell behind: now it reads again, and must resume on a key frame
  }, 20);
  const done = await p.next('done', 'live/fast');
  clearInterval(watch);
  release();
  const [slowGot, fastGot] = await Promise.all([slow.done, fast]);
  t.equal(done.type === 'done' && done.stats.droppedTags, 0, 'the ring kept up: the publisher dropped nothing');

  const fastVideo = videoTags(fastGot.payload).filter((v) => !v.config);
  t.equal(fastVideo.length, loops * SAMPLE_VIDEO_FRAMES, 'the reading viewer got every frame');
  t.ok(episodes >= 1, `the paused viewer fell behind ${episodes} time(s)`);
  t.ok(dropped > 0, `${dropped} tags not sent to it`);
  t.ok(peak <= 4 * limit, `its queue peaked at ${peak} bytes (hard limit ${4 * limit})`);
  t.ok(slowGot.body.length < fastGot.payload.length, `it received ${slowGot.body.length} of ${fastGot.payload.length} bytes`);

  const slowVideo = videoTags(slowGot.body).filter((v) => !v.config);
  let resumes = 0;
  let badResumes = 0;
  for (let i = 1; i < slowVideo.length; i++) {
    if (slowVideo[i]!.timestamp - slowVideo[i - 1]!.timestamp > 40) {
      resumes++;
      if (!slowVideo[i]!.key) badResumes++;
    }
  }
  t.ok(resumes >= 1, `${resumes} gap(s) in what it received`);
  t.equal(badResumes, 0, 'every gap resumes on a key frame');
  const probed = await probeFile(slowGot.body);
  t.equal(probed.stderr, '', 'the cut stream decodes without errors');
  t.equal(Number(probed.json.streams?.[0]?.nb_read_frames), slowVideo.length);
});

t.test("terminating a worker thread ends its streams' viewers with a reason; the server and other streams live on", async (t) => {
  const { server, base } = await startServer(t, { checkIntervalMs: 100 });
  const rings = [RingBuffer.create(1 << 22), RingBuffer.create(1 << 22)];
  rings.forEach((ring, slot) => server.attachWorker(slot, ring));
  const doomed = startPublisher(rings[0]!, [
    { name: 'live/doomed', delayMs: 100, frameIntervalMs: 40, loops: 1000, closeAtEnd: false },
    { name: 'live/doomed-waiting', delayMs: 'on-go', frameIntervalMs: 40, loops: 1, closeAtEnd: false },
  ]);
  const survivor = startPublisher(rings[1]!, [{ name: 'live/survivor', delayMs: 100, frameIntervalMs: 40, loops: 1000, closeAtEnd: false }]);
  t.teardown(() => survivor.worker.terminate());
  await waitFor('three streams', () => server.stats().streams === 3);
  await doomed.next('first-frame', 'live/doomed');

  const http = rawGet(`http://${base}/live/doomed.flv`);
  const waiting = rawGet(`http://${base}/live/doomed-waiting.flv`);
  const ws = readWebSocket(`ws://${base}/live/doomed.flv`);
  const other = readWebSocket(`ws://${base}/live/survivor.flv`);
  await waitFor('viewers playing', () => server.streamStats('live/doomed')?.viewerList.filter((v) => v.bytesSent > 10_000).length === 2);

  await doomed.worker.terminate(); // a uWS socket in a worker would abort the process here
  // What the media process does on the worker's 'exit' / 'died':
  server.detachWorker(0, 'media worker died: terminated');
  const [httpGot, waitingGot, wsGot] = await Promise.all([http.done, waiting.done, ws]);
  t.equal(httpGot.status, 200);
  t.ok(httpGot.body.length > 10_000, 'the HTTP viewer had been playing; its response ended');
  t.equal(waitingGot.status, 502, 'a viewer still waiting for its first frame: 502');
  t.equal(waitingGot.body.toString(), 'media worker died: terminated');
  t.same(wsGot.close, { code: 1011, reason: 'media worker died: terminated' }, 'WS viewer: close frame with the reason');
  t.equal(server.stats().closed.worker_died, 3);
  t.equal((await fetch(`http://${base}/live/doomed.flv`)).status, 404, 'its streams are gone');

  const before = server.streamStats('live/survivor')!.viewerList[0]!.bytesSent;
  await sleep(500);
  t.ok(server.streamStats('live/survivor')!.viewerList[0]!.bytesSent > before, 'the other worker’s viewer still receives');
  server.detachWorker(1, 'shutdown');
  t.same((await other).close, { code: 1001, reason: 'shutdown' });
});
