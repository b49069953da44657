import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { getJson, startAppliance, waitFor, type Appliance } from '../helpers/appliance.js';
import { needPeer } from '../helpers/peers.js';
import { byesIn, sharedSipp, startSipp } from '../helpers/sipp.js';
import { freePort } from '../helpers/ports.js';
import { webhookReceiver, type ReceivedEvent } from '../helpers/webhook-receiver.js';

/**
 * Stopping a GB28181 stream ends its dialog once (issue 11 items 1 and 2): one BYE
 * transaction per dialog whatever asks for the stop (API, the media plane's own
 * "stream stopped" note, a device's BYE, shutdown), one `streams.stopped` webhook per
 * stream, and a SIGTERM ends every live dialog with BYE before the SIP thread stops.
 */

const SERVER = { id: '34020000002000000001', domain: '3402000000' };
const CAMERA = '34020000001310000001';

if (!needPeer(t, 'sipp', 'sip-tester')) process.exit(0);

async function appliance(t: Test, extra: Record<string, unknown>): Promise<Appliance> {
  const app = await startAppliance({ sip: SERVER, gb28181: { registration: 'open' }, ...extra });
  t.teardown(async () => {
    if (app.process.exitCode === null && app.process.signalCode === null) {
      app.process.kill('SIGTERM');
      await app.exited;
    }
  });
  await waitFor(async () => (await getJson(`${app.api}/healthz`)).status === 200, 15_000, 'healthy').catch((e) => {
    throw new Error(`${e.message}\n${app.output()}`);
  });
  return app;
}

/**
 * The shared media device, but answering a BYE for a dialog it no longer knows with
 * 481 as a real camera does (sipp would otherwise absorb it in its dead call), so a
 * second stop of the same stream completes at once and shows in the webhooks too.
 */
function staleByeScenario(): string {
  const shared = readFileSync(join(sharedSipp, 'gb_device_ooc_media.xml'), 'latin1');
  const answer481 = `
  <label id="stale_bye"/>
  <send>
    <![CDATA[
      SIP/2.0 481 Call/Transaction Does Not Exist
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <nop next="end"/>
`;
  const scenario = shared
    .replace('<recv request="INVITE" next="invite">', '<recv request="BYE" optional="true" next="stale_bye"/>\n  <recv request="INVITE" next="invite">')
    .replace('<label id="end"/>', `${answer481}\n  <label id="end"/>`);
  if (scenario === shared || !scenario.includes('stale_bye"/>')) throw new Error('gb_device_ooc_media.xml changed: the 481 branch could not be added');
  const file = join(mkdtempSync(join(tmpdir(), 'camgate-sipp-481-')), 'gb_device_ooc_media_481.xml');
  writeFileSync(file, scenario, 'latin1');
  return file;
}

/** A sipp device (register, keepalives, catalog, answers INVITE and BYE, sends media), traced. */
async function device(app: Appliance, keepalives: number) {
  const scenario = staleByeScenario();
  return startSipp(
    [
      `127.0.0.1:${app.sipPort}`, '-i', '127.0.0.1', '-p', String(await freePort()), '-mp', String(await freePort()),
      '-sf', 'gb_device.xml', '-oocsf', 'gb_device_ooc_media_481.xml', '-inf', 'device1.csv', '-m', '1', '-d', '1000',
      '-set', 'KA_COUNT', String(keepalives), '-deadcall_wait', '0', '-trace_msg',
    ],
    120_000,
    [scenario],
  );
}

/** Starts a live stream of the camera and waits for its media; returns the stream row. */
async function liveStream(t: Test, app: Appliance): Promise<{ streamid: string; callid: string }> {
  await waitFor(async () => (await getJson(`${app.api}/channels`)).body.data.List.some((c: { channelid: string }) => c.channelid === CAMERA), 8000, 'camera channel from the catalog');
  const res = await fetch(`${app.api}/channels/${CAMERA}/streams`, { method: 'POST', body: new URLSearchParams({}) });
  const body = (await res.json()) as { data: { streamid: string; callid: string } };
  t.equal(res.status, 200, JSON.stringify(body));
  await waitFor(async () => (await streamRow(app, body.data.streamid))?.stream === true, 8000, 'media from the device');
  return body.data;
}

async function streamRow(app: Appliance, streamid: string) {
  const r = await getJson(`${app.api}/streams?filters=${encodeURIComponent(JSON.stringify([{ field_name: 'streamid', operator: '=', value: streamid }]))}`);
  return r.body.data.List[0];
}

const stoppedEvents = (events: ReceivedEvent[], streamid: string) => events.filter((e) => e.method === 'streams.stopped' && e.data.streamid === streamid);

t.test('DELETE /streams/:id: the device gets exactly one BYE (CSeq 2), one streams.stopped webhook', async (t) => {
  const hooks = await webhookReceiver(t);
  const app = await appliance(t, { notify: { urls: { 'streams.started': hooks.url, 'streams.stopped': hooks.url } } });
  const sipp = await device(app, 12);
  const stream = await liveStream(t, app);

  const del = await fetch(`${app.api}/streams/${stream.streamid}`, { method: 'DELETE' });
  t.equal(del.status, 200);
  const closed = await waitFor(async () => {
    const row = await streamRow(app, stream.streamid);
    return row?.status === 1 && row;
  }, 5000, 'row closed');
  t.equal(closed.reason, 'stopped by API', 'the API reason is kept (the media note that follows does not replace it)');
  // The second BYE came 3 ms after the first, its retransmissions over 32 s, and the second
  // webhook right after: sipp's remaining keepalives (≥ 5 s) leave time for all of them to show.
  const run = await sipp.done;
  const byes = byesIn(run.messages);
  t.equal(byes.length, 1, `one BYE received: ${JSON.stringify(byes)}`);
  t.match(byes[0], { callId: stream.callid, cseq: '2 BYE' }, 'in the INVITE dialog, CSeq one above the INVITE (RFC 3261 §12.2.1.1)');
  t.equal(run.code, 0, `sipp exit 0\n${run.output.slice(-500)}\n${run.errors}`);
  t.equal(stoppedEvents(hooks.events, stream.streamid).length, 1, `one streams.stopped: ${JSON.stringify(stoppedEvents(hooks.events, stream.streamid))}`);
  t.match(stoppedEvents(hooks.events, stream.streamid)[0]?.data, { streamid: stream.streamid, channelid: CAMERA, reason: 'stopped by API' });
  t.equal((await fetch(`${app.api}/streams/${stream.streamid}`, { method: 'DELETE' })).status, 404, 'a second DELETE finds nothing to stop');
});

t.test('SIGTERM with a live stream: the device gets BYE before the SIP thread stops, the row closes with reason shutdown, exit 0', async (t) => {
  const hooks = await webhookReceiver(t);
  const app = await appliance(t, { notify: { urls: { 'streams.stopped': hooks.url } } });
  const sipp = await device(app, 30);
  const stream = await liveStream(t, app);

  const signalledAt = Date.now();
  app.process.kill('SIGTERM');
  const code = await app.exited;
  const took = Date.now() - signalledAt;
  t.equal(code, 0, `exit code 0\n${app.output().slice(-1500)}`);
  t.ok(took < 8000, `stopped in ${took} ms`);
  // The appliance is gone: the device's next keepalives would only time out.
  sipp.stop();
  const run = await sipp.done;
  const byes = byesIn(run.messages);
  t.equal(byes.length, 1, `one BYE received: ${JSON.stringify(byes)}`);
  t.match(byes[0], { callId: stream.callid, cseq: '2 BYE' });
  t.match(run.messages, /SIP\/2\.0 200 OK[^]*?CSeq: 2 BYE/, 'the device answered it');

  const db = new Database(join(app.dir, 'camgate.db'), { readonly: true });
  t.teardown(() => db.close());
  const row = db.prepare('SELECT status, reason FROM streams WHERE streamid = ?').get(stream.streamid);
  t.same(row, { status: 1, reason: 'shutdown' }, 'row closed with reason shutdown');
  t.same(stoppedEvents(hooks.events, stream.streamid).map((e) => e.data.reason), ['shutdown'], 'one streams.stopped, reason shutdown');
});
