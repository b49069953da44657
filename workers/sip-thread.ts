/**
 * The SIP thread (DESIGN.md §1): SIP transports, transactions, dialogs and GB28181
 * MANSCDP. The GB28181 signalling issue fills it in; here it owns its lifecycle.
 */
import { runChild } from '../src/shared/child-runtime.js';
import type { CamgateConfig } from '../src/supervisor/config.js';

let config: CamgateConfig | null = null;

runChild<{ config: CamgateConfig }>({
  init(data) {
    config = data.config;
  },
  ping: () => ({ role: 'sip', listening: config ? `${config.sip.host}:${config.sip.port}` : null }),
});
