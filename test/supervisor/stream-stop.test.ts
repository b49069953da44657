import t, { type Test } from 'tap';
import { MessageChannel } from 'node:worker_threads';
import pino from 'pino';
import { Channel, portEndpoint } from '../../src/shared/channel.js';
import type { ChildChannel, ParentChannel } from '../../src/shared/contracts/lifecycle.js';
import type { ByeRequest, SipContract } from '../../src/shared/contracts/sip.js';
import { rtpStreamName } from '../../src/shared/contracts/stream-name.js';
import { validateConfig } from '../../src/shared/config/config.js';
import { openStore } from '../../src/supervisor/store/index.js';
import type { MediaBackend } from '../../src/supervisor/media-backends.js';
import { StreamManager } from '../../src/supervisor/streams.js';

/**
 * StreamManager.stop() is idempotent (issue 11 item 1): the API's stop, the media
 * plane's "stream stopped" note that our own media close provokes, a ZLMediaKit hook
 * and the device's BYE may all arrive while a stop is in flight; the dialog gets one
 * BYE and the stream one `streams.stopped`. A real SQLite store and a real channel to
 * a SIP side that answers BYEs when the test says so.
 */

const DEVICE = '34020000001320000001';
const CAMERA = '34020000001310000001';
const STREAM = '0BEBC201';

async function rig(t: Test) {
  const store = await openStore('sqlite::memory:');
  const config = validateConfig({});
  const { port1, port2 } = new MessageChannel();
  const sipSide: ChildChannel<SipContract> = new Channel(portEndpoint(port1));
  const supervisorSide: ParentChannel<SipContract> = new Channel(portEndpoint(port2));
  const byes: ByeRequest[] = [];
  const answers: Array<() => void> = [];
  sipSide.handle('bye', (request) => {
    byes.push(request);
    return new Promise<number>((resolve) => answers.push(() => resolve(200)));
  });
  const events: Array<{ event: string; data: Record<string, unknown> }> = [];
  const mediaCloses: string[] = [];
  // Like the built-in media plane: closing an input makes the media process report it stopped.
  const backend: MediaBackend = {
    name: 'camgate',
    open: async () => ({ host: '127.0.0.1', port: 30000, slot: 0 }),
    close: async (streamid, reason) => {
      mediaCloses.push(reason);
      await streams.mediaStopped(rtpStreamName(streamid), reason);
    },
    urls: () => ({}),
  };
  const streams: StreamManager = new StreamManager({
    store,
    config,
    logger: pino({ level: 'silent' }),
    sip: () => supervisorSide,
    backend,
    emit: (event, data) => events.push({ event, data }),
    mediaHost: '127.0.0.1',
  });
  const row = await store.streams.insert({
    streamid: STREAM,
    ssrc: '0200000001',
    t: 0,
    kind: 'gb28181',
    deviceid: DEVICE,
    channelid: CAMERA,
    callid: 'dialog-1@127.0.0.1',
    from_tag: 'ours',
    to_tag: 'theirs',
    cseq: 1,
    remote_target: `sip:${CAMERA}@192.0.2.10:5070`,
  });
  t.teardown(async () => {
    port1.close();
    port2.close();
    await store.close();
  });
  const settle = () => new Promise((r) => setTimeout(r, 30));
  return { store, streams, row, byes, answers, events, mediaCloses, settle };
}

t.test('while the API stop waits for the BYE answer, the media note, a ZLMediaKit hook and the device BYE change nothing', async (t) => {
  const r = await rig(t);
  const apiStop = r.streams.stopById(STREAM, 'stopped by API');
  await r.settle();
  t.equal(r.byes.length, 1, 'the BYE went out');
  t.match(await r.store.streams.get(r.row.id), { status: 1, reason: 'stopped by API' }, 'the row is closed before the BYE is answered');
  // Everything else that can end the stream, at once.
  const others = Promise.all([
    r.streams.mediaStopped(rtpStreamName(STREAM), 'media timeout'),
    r.streams.mediaGone(STREAM, 'no media (ZLMediaKit rtp server timeout)'),
    r.streams.dialogEnded('dialog-1@127.0.0.1'),
    r.streams.stopById(STREAM, 'stopped by API'),
  ]);
  await r.settle();
  for (const answer of r.answers) answer();
  await Promise.all([apiStop, others]);
  await r.settle();
  t.equal(r.byes.length, 1, 'one BYE for the dialog');
  t.equal(r.byes[0]?.dialog.localSeq, 1, 'built from the stored dialog (its BYE gets CSeq 2)');
  t.same(r.mediaCloses, ['stopped by API'], 'the media closed once');
  t.same(
    r.events.filter((e) => e.event === 'streams.stopped').map((e) => e.data.reason),
    ['stopped by API'],
    'one streams.stopped',
  );
  t.match(await r.store.streams.get(r.row.id), { status: 1, reason: 'stopped by API' });
  t.equal(await r.streams.stopById(STREAM, 'again'), false, 'a later stop finds it closed');
  t.equal(r.byes.length, 1);
});

t.test('shutdown: BYE for every open dialog, rows closed with reason shutdown, bounded wait', async (t) => {
  const r = await rig(t);
  const startedAt = performance.now();
  // The device never answers: the wait ends at its bound.
  const ended = await r.streams.shutdown(300);
  const took = performance.now() - startedAt;
  t.ok(took >= 290 && took < 1500, `returned after ${Math.round(took)} ms`);
  t.same(ended, { open: 1, stopped: 0 });
  t.equal(r.byes.length, 1, 'BYE sent');
  t.match(await r.store.streams.get(r.row.id), { status: 1, reason: 'shutdown' });
  t.same(r.mediaCloses, [], 'the media process closes the media itself');
  // The device answers late (the SIP thread would reject it when it stops): still one webhook.
  for (const answer of r.answers) answer();
  await r.settle();
  t.same(r.events.filter((e) => e.event === 'streams.stopped').map((e) => e.data.reason), ['shutdown']);
});
