/** Entry of a media worker thread: builds the MediaWorker (src/media-worker/media-worker.ts). */
import { runChild } from '../src/shared/child-runtime.js';
import type { MediaWorkerContract } from '../src/shared/contracts/media.js';
import { MediaWorker } from '../src/media-worker/media-worker.js';

let worker: MediaWorker | null = null;

runChild<MediaWorkerContract>({
  async init(init, channel) {
    worker = new MediaWorker(init, channel);
    await worker.start();
  },
  ping: () => worker!.ping(),
  shutdown: () => worker?.close(),
});
