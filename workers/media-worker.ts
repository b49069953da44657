/**
 * A long-lived media worker thread (DESIGN.md §1): depacketizes, muxes and sends the
 * streams pinned to it. Streams arrive through the media process's rings.
 */
import { runChild } from '../src/shared/child-runtime.js';

let slot = -1;

runChild<{ slot: number }>({
  init(data) {
    slot = data.slot;
  },
  ping: () => ({ role: 'media-worker', slot, streams: 0 }),
});
