import t, { type Test } from 'tap';
import { MessageChannel } from 'node:worker_threads';
import pino from 'pino';
import { Channel, portEndpoint } from '../../src/shared/channel.js';
import type { ChildChannel, ParentChannel } from '../../src/shared/contracts/lifecycle.js';
import type { MediaContract, StreamInfo } from '../../src/shared/contracts/media.js';
import type { ByeRequest, SipContract } from '../../src/shared/contracts/sip.js';
import { rtpStreamName } from '../../src/shared/contracts/stream-name.js';
import { validateConfig } from '../../src/shared/config/config.js';
import { openStore } from '../../src/supervisor/store/index.js';
import { StoreError, type Store } from '../../src/supervisor/store/types.js';
import type { MediaBackend } from '../../src/supervisor/media-backends.js';
import { StreamManager } from '../../src/supervisor/streams.js';
import { WriteBehind } from '../../src/supervisor/write-behind.js';

/*
 * Streams through a store outage (issue 11 item 3), with a real SQLite store whose stream
 * table can be made "unavailable" and real channels to a SIP side and a media side:
 * - a GB28181 dialog the device ends, or whose media times out, while the store is down
 *   still gets its BYE and `streams.stopped` at once; the row's close is written behind;
 * - JT/T 1078 streams that start and end while the store is down are announced at once and
 *   their rows are right once it is back;
 * - reconcileLive closes rows of streams the media plane no longer holds (BYE for GB28181)
 *   and writes rows for streams that started without one.
 */

const DEVICE = '34020000001320000001';
const CAMERA = '34020000001310000001';

async function rig(t: Test) {
  const real = await openStore('sqlite::memory:');
  let down = false;
  const streamsTable = new Proxy(real.streams, {
    get(target, key) {
      const value = Reflect.get(target, key) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => (down ? Promise.reject(new StoreError('store unavailable: timed out after 1500 ms')) : (value as (...a: unknown[]) => unknown).apply(target, args));
    },
  });
  const store: Store = { ...real, streams: streamsTable, devices: real.devices, close: () => real.close() };
  const config = validateConfig({});
  const sipPorts = new MessageChannel();
  const sipSide: ChildChannel<SipContract> = new Channel(portEndpoint(sipPorts.port1));
  const sip: ParentChannel<SipContract> = new Channel(portEndpoint(sipPorts.port2));
  const byes: ByeRequest[] = [];
  sipSide.handle('bye', async (request) => {
    byes.push(request);
    return 200;
  });
  const mediaPorts = new MessageChannel();
  const mediaSide: ChildChannel<MediaContract> = new Channel(portEndpoint(mediaPorts.port1));
  const media: ParentChannel<MediaContract> = new Channel(portEndpoint(mediaPorts.port2));
  const live: { streams: StreamInfo[]; inputs: string[] } = { streams: [], inputs: [] };
  mediaSide.handle('streams', () => live.streams).handle('rtp.inputs', () => live.inputs);
  const backend: MediaBackend = { name: 'camgate', open: async () => ({ host: '127.0.0.1', port: 30000, slot: 0 }), close: async () => undefined, urls: (name) => ({ flv: `http://x/${name}.flv` }) };
  const events: Array<{ event: string; data: Record<string, unknown> }> = [];
  const writes = new WriteBehind({ capacity: 100, retryMinMs: 20, retryMaxMs: 50 });
  const streams = new StreamManager({ store, config, logger: pino({ level: 'silent' }), sip: () => sip, media: () => media, backend, emit: (event, data) => events.push({ event, data }), mediaHost: '127.0.0.1', writes });
  t.teardown(async () => {
    for (const p of [sipPorts.port1, sipPorts.port2, mediaPorts.port1, mediaPorts.port2]) p.close();
    await real.close();
  });
  const gbRow = (streamid: string, callid: string) =>
    real.streams.insert({ streamid, ssrc: '0200000001', t: 0, kind: 'gb28181', deviceid: DEVICE, channelid: CAMERA, callid, from_tag: 'ours', to_tag: 'theirs', cseq: 1, remote_target: `sip:${CAMERA}@192.0.2.10:5070` });
  const jt = (sim: string): StreamInfo => ({ name: `live/jt1078-${sim}-1`, kind: 'realtime', slot: 0, connId: 1, startedAt: Date.now(), sim, channel: 1 });
  const settle = () => new Promise((r) => setTimeout(r, 60));
  return { real, streams, writes, byes, events, live, gbRow, jt, settle, setDown: (v: boolean) => (down = v) };
}

t.test('GB28181: a device BYE and a media time-out during the outage are acted on at once; the closes are written behind', async (t) => {
  const r = await rig(t);
  const a = await r.gbRow('0BEBC201', 'dialog-a@127.0.0.1');
  const b = await r.gbRow('0BEBC202', 'dialog-b@127.0.0.1');
  t.equal((await r.streams.openDialogs()).length, 2, 'the open dialogs (read and remembered, as at SIP thread start)');

  r.setDown(true);
  r.writes.reportFailure(new StoreError('store unavailable: timed out after 1500 ms'));
  const started = performance.now();
  await r.streams.dialogEnded('dialog-a@127.0.0.1');
  await r.streams.mediaStopped(rtpStreamName('0BEBC202'), 'media timeout');
  const ms = performance.now() - started;
  t.ok(ms < 500, `acted on in ${Math.round(ms)} ms, without waiting for the store`);
  t.same(r.byes.map((bye) => bye.dialog.callId), ['dialog-b@127.0.0.1'], 'BYE for the timed-out dialog (the device ended the other)');
  t.same(r.events.filter((e) => e.event === 'streams.stopped').map((e) => e.data.reason), ['device sent BYE', 'media timeout'], 'streams.stopped at once');
  t.equal((await r.real.streams.get(a.id))?.status, 0, 'not written while the store is down');
  await r.streams.mediaStopped(rtpStreamName('0BEBC202'), 'again');
  t.equal(r.byes.length, 1, 'a second stop finds the close queued: no second BYE');

  r.setDown(false);
  await r.settle();
  await r.writes.idle();
  t.match(await r.real.streams.get(a.id), { status: 1, reason: 'device sent BYE' });
  t.match(await r.real.streams.get(b.id), { status: 1, reason: 'media timeout' });
  t.equal(r.events.filter((e) => e.event === 'streams.stopped').length, 2, 'one streams.stopped each');
});

t.test('JT/T 1078: started and stopped during the outage: webhooks at once, rows right after', async (t) => {
  const r = await rig(t);
  await r.streams.jt1078Started(r.jt('13700000001'));
  await r.writes.idle();
  t.equal((await r.real.streams.listOpen({ kind: 'jt1078' })).length, 1, 'the row before the outage');

  r.setDown(true);
  await r.streams.jt1078Stopped('live/jt1078-13700000001-1', 'connection closed');
  await r.streams.jt1078Started(r.jt('13700000002')); // starts, stays
  await r.streams.jt1078Started(r.jt('13700000003')); // starts and ends, all during the outage
  await r.streams.jt1078Stopped('live/jt1078-13700000003-1', 'connection closed');
  await r.settle();
  t.same(
    r.events.map((e) => `${e.event} ${e.data.streamid}`),
    [
      'streams.started live/jt1078-13700000001-1',
      'streams.stopped live/jt1078-13700000001-1',
      'streams.started live/jt1078-13700000002-1',
      'streams.started live/jt1078-13700000003-1',
      'streams.stopped live/jt1078-13700000003-1',
    ],
    'announced while the store is down',
  );
  r.setDown(false);
  await r.settle();
  await r.writes.idle();
  const rows = (await r.real.streams.list({ limit: -1 })).list;
  const state = (sim: string) => rows.filter((row) => row.deviceid === sim).map((row) => `${row.status}:${row.reason}`);
  t.same(state('13700000001'), ['1:connection closed'], 'the ended stream closed');
  t.same(state('13700000002'), ['0:null'], 'the new stream has its row');
  t.same(state('13700000003'), ['1:connection closed'], 'the short one has a closed row');
});

t.test('reconcileLive: rows follow the media plane (rows of gone streams closed, GB28181 with BYE; missing rows written)', async (t) => {
  const r = await rig(t);
  const gone = await r.gbRow('0BEBC203', 'dialog-c@127.0.0.1');
  const kept = await r.gbRow('0BEBC204', 'dialog-d@127.0.0.1');
  await r.real.streams.insert({ streamid: 'live/jt1078-13700000009-1', ssrc: '0', t: 0, kind: 'jt1078', deviceid: '13700000009', channelid: '1', media_server: 'camgate', urls: {}, stream: true });
  r.live.inputs = [rtpStreamName('0BEBC204')];
  r.live.streams = [r.jt('13700000010'), { name: rtpStreamName('0BEBC204'), kind: 'gb28181', slot: 0, connId: -1, startedAt: Date.now() }];
  t.same(await r.streams.reconcileLive(), { closed: 1, opened: 1, stopped: 1 });
  await r.writes.idle();
  t.match(await r.real.streams.get(gone.id), { status: 1, reason: 'media ended during a store outage' });
  t.equal((await r.real.streams.get(kept.id))?.status, 0, 'a stream the media process holds stays open');
  t.same(r.byes.map((b) => b.dialog.callId), ['dialog-c@127.0.0.1'], 'BYE for the gone GB28181 stream');
  const jt = (await r.real.streams.list({ limit: -1 })).list.filter((row) => row.kind === 'jt1078');
  t.same(jt.map((row) => `${row.deviceid} ${row.status}`).sort(), ['13700000009 1', '13700000010 0']);
});
