/** Entry of the SIP thread: builds the SipThread (src/sip/sip-thread.ts) and serves its channel. */
import { runChild } from '../src/shared/child-runtime.js';
import type { SipContract } from '../src/shared/contracts/sip.js';
import { SipThread } from '../src/sip/sip-thread.js';

let thread: SipThread | null = null;

runChild<SipContract>({
  async init(init, channel) {
    thread = new SipThread(init, channel);
    await thread.start();
  },
  ping: () => thread!.ping(),
  shutdown: () => thread?.close(),
});
