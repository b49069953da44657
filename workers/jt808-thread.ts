/** Entry of the JT/T 808 thread: builds the Jt808Thread (src/jt808/jt808-thread.ts) and serves its channel. */
import { runChild } from '../src/shared/child-runtime.js';
import type { Jt808Contract } from '../src/shared/contracts/jt808.js';
import { Jt808Thread } from '../src/jt808/jt808-thread.js';

let thread: Jt808Thread | null = null;

runChild<Jt808Contract>({
  async init(init, channel) {
    thread = new Jt808Thread(init, channel);
    await thread.start();
  },
  ping: () => thread!.ping(),
  shutdown: () => thread?.close(),
});
