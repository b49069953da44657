/**
 * The two-appliance cascade rig: an upper camgate, a lower one (SIP ID 34020000002000000001,
 * open registration for its camera and its JT/T 808 terminal) and a sipp camera on the lower
 * (shared gb_device.xml with the out-of-call scenario given).
 */
import type { Appliance } from './appliance.js';
import { startHealthyAppliance } from './appliance.js';
import { freePort } from './ports.js';
import { startSipp, type SippRun } from './sipp.js';

export const LOWER_SIP = { id: '34020000002000000001', domain: '3402000000' };

export async function startCascadePair(
  t: { teardown(fn: () => unknown): void },
  upperGb28181: Record<string, unknown>,
): Promise<{ upper: Appliance; lower: Appliance; jt808Port: number }> {
  const upper = await startHealthyAppliance(t, { gb28181: upperGb28181, streams: { noViewerClose: 0 } });
  const jt808Port = await freePort();
  const lower = await startHealthyAppliance(t, { sip: LOWER_SIP, gb28181: { registration: 'open' }, jt808: { port: jt808Port, registration: 'open' } });
  return { upper, lower, jt808Port };
}

/** device1.csv's camera registered to the lower, keeping alive `keepalives` seconds; stopped at teardown. */
export async function startLowerCamera(
  t: { teardown(fn: () => unknown): void },
  lower: Appliance,
  ooc: string,
  keepalives: number,
  extraFiles: string[] = [],
): Promise<{ done: Promise<SippRun>; stop: () => void }> {
  const camera = startSipp(
    [
      `127.0.0.1:${lower.sipPort}`, '-i', '127.0.0.1', '-p', String(await freePort()), '-mp', String(await freePort()),
      '-sf', 'gb_device.xml', '-oocsf', ooc, '-inf', 'device1.csv', '-m', '1', '-d', '1000', '-set', 'KA_COUNT', String(keepalives), '-trace_msg',
    ],
    (keepalives + 60) * 1000,
    extraFiles,
  );
  t.teardown(() => camera.stop());
  return camera;
}
