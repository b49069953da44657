/** Entry of the media process (forked by the supervisor): builds the MediaProcess (src/media-process/media-process.ts). */
import { runChild } from '../src/shared/child-runtime.js';
import type { MediaContract } from '../src/shared/contracts/media.js';
import { MediaProcess } from '../src/media-process/media-process.js';

// Only the supervisor decides when the data plane stops; a terminal's Ctrl-C or a
// stray SIGTERM to the group must not beat the ordered shutdown.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);

let media: MediaProcess | null = null;

runChild<MediaContract>({
  async init({ config }, channel) {
    media = new MediaProcess(config, channel);
    await media.start();
  },
  ping: () => media!.ping(),
  shutdown: () => media?.close(),
});
