/**
 * Intercom end to end on the built appliance, the browser played by a werift
 * PeerConnection in this process and the vehicle by the JT/T 808 terminal simulator:
 * - POST /vehicles/:sim/channels/:channel/intercom: 0x9101 data type 2 with a pool port,
 *   the browser's 1 kHz tone found by the terminal, the terminal's 440 Hz tone found in
 *   what the browser receives, DELETE → 0x9102 command 4 and the port back in the pool,
 *   intercom.started / intercom.stopped webhooks, audio join/leave callbacks, metrics;
 * - the m7s request with the exact body of jt1078.md §3.7 (token required, 400 bad
 *   codec, 400 bad group, 409 port in use), the captured G.711A audio passing through
 *   byte for byte; the terminal disconnecting hangs up.
 */
import t, { type Test } from 'tap';
import { getJson, startAppliance, waitFor } from '../helpers/appliance.js';
import { capturePackets, capturesDir } from '../helpers/jt1078.js';
import { freePort } from '../helpers/ports.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';
import { decodeG711 } from '../../src/protocol/audio/g711.js';
import { startTerminalSimulation, toneRatio, WebrtcPeer, type TalkClient, type TerminalRunnerEvent } from '../../src/tools/sim/index.js';

const TOKEN = 'intercom-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const post = (body: unknown, headers: Record<string, string> = auth) => ({ method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

async function appliance(t: Test, hooks: string) {
  const jt808Port = await freePort();
  const audioBase = await freePort();
  const app = await startAppliance({
    api: { tokens: [TOKEN] },
    jt808: { port: jt808Port, registration: 'open' },
    notify: { urls: { 'intercom.started': hooks, 'intercom.stopped': hooks } },
    jt1078: { intercom: { enabled: true, webrtcPort: await freePort(), audioPorts: `${audioBase}-${audioBase + 1}`, onJoinUrl: hooks, onLeaveUrl: hooks, connectTimeout: 5 } },
  });
  t.teardown(async () => {
    app.process.kill('SIGTERM');
    await app.exited;
  });
  await waitFor(async () => (await fetch(`${app.api}/healthz`)).status === 200, 15_000, `healthy: ${app.output().slice(-500)}`);
  return { app, jt808Port, audioBase };
}

async function online(api: string, sim: string) {
  await waitFor(async () => {
    const res = await fetch(`${api}/vehicles/${sim}`, { headers: auth });
    const body = (await res.json()) as any;
    return body.data?.online === 1 && body.data?.av_attributes;
  }, 10_000, `vehicle ${sim} online with its 0x1003`);
}

t.test('vehicle intercom: both directions, DELETE sends 0x9102 command 4 and frees the port', async (t) => {
  const hooks = await webhookReceiver(t);
  const { app, jt808Port, audioBase } = await appliance(t, hooks.url);
  const events: TerminalRunnerEvent[] = [];
  const sim = await startTerminalSimulation({ port: jt808Port, simBase: '13800000071', capture: `${capturesDir}audio_data.txt`, terminal: { heartbeatMs: 5000 }, onEvent: (e) => events.push(e) });
  t.teardown(() => sim.stop());
  await online(app.api, '13800000071');

  const peer = new WebrtcPeer();
  t.teardown(() => peer.close());
  const offer = await peer.offer();
  t.equal((await fetch(`${app.api}/vehicles/13800000071/channels/1/intercom`, post({ sdp: offer }, {}))).status, 401, 'token required');
  t.equal((await fetch(`${app.api}/vehicles/13800000071/channels/1/intercom`, post({}))).status, 400, 'sdp required');
  const res = await fetch(`${app.api}/vehicles/13800000071/channels/1/intercom`, post({ sdp: offer, type: 'offer' }));
  const body = (await res.json()) as any;
  t.equal(res.status, 200, JSON.stringify(body).slice(0, 300));
  t.match(body.data, { type: 'answer', codec: 'PCMA', targets: [{ sim: '13800000071', channel: 1, port: audioBase }] });
  const open = events.find((e) => e.type === 'action' && e.action.type === 'open-stream');
  t.match(open, { action: { mode: 'realtime', channel: 1, dataType: 2, port: audioBase, host: '127.0.0.1' } }, '0x9101 data type 2 towards the pool port');
  await peer.answer(body.data.sdp);
  await peer.connected(15_000);
  const talk = (await waitFor(async () => events.find((e) => e.type === 'talk-started'), 5000, 'talk connection')) as { client: TalkClient };
  peer.sendTone(1000, 'alaw');
  await waitFor(async () => talk.client.detector.ratio() > 0.8, 10_000, 'the terminal hears 1 kHz');
  t.pass(`terminal: 1 kHz ratio ${talk.client.detector.ratio().toFixed(3)}`);
  await waitFor(async () => peer.received.length > 60, 10_000, 'the browser receives the terminal');
  const ratio = toneRatio(decodeG711(Buffer.concat(peer.received.slice(-50).map((r) => r.payload)), 'alaw'), 440, 8000);
  t.ok(ratio > 0.8, `browser: 440 Hz ratio ${ratio.toFixed(3)}`);

  const other = new WebrtcPeer();
  t.teardown(() => other.close());
  const busy = await fetch(`${app.api}/vehicles/13800000071/channels/1/intercom`, post({ sdp: await other.offer() }));
  t.equal(busy.status, 409, 'one intercom per channel');
  const list = (await (await fetch(`${app.api}/intercom`, { headers: auth })).json()) as any;
  t.equal(list.data.length, 1);
  const metrics = await (await fetch(`${app.api}/metrics`, { headers: auth })).text();
  t.match(metrics, /camgate_intercom_sessions_active 1/);
  t.match(metrics, /camgate_intercom_ports\{state="in_use"\} 1/);
  t.match(metrics, /camgate_intercom_packets_total\{direction="down"\} [1-9]/);
  t.match(metrics, /camgate_intercom_packets_total\{direction="up"\} [1-9]/);

  const del = await fetch(`${app.api}/vehicles/13800000071/channels/1/intercom`, { method: 'DELETE', headers: auth });
  t.equal(del.status, 200);
  const close = await waitFor(async () => events.find((e) => e.type === 'action' && e.action.type === 'close-stream'), 5000, '0x9102');
  t.match(close, { action: { channel: 1, command: 4 } }, '0x9102 command 4 (close two-way talk)');
  await waitFor(async () => events.some((e) => e.type === 'talk-ended'), 5000, 'the terminal closed its talk connection');
  t.equal((await fetch(`${app.api}/vehicles/13800000071/channels/1/intercom`, { method: 'DELETE', headers: auth })).status, 404, 'already hung up');
  await waitFor(async () => /camgate_intercom_ports\{state="in_use"\} 0/.test(await (await fetch(`${app.api}/metrics`, { headers: auth })).text()), 5000, 'the port back in the pool');
  t.pass('the port is back in the pool');

  const started = await waitFor(async () => hooks.events.find((e) => e.method === 'intercom.started'), 5000, 'intercom.started');
  t.match(started.data, { vehicle: '13800000071', channel: 1, codec: 'PCMA', port: audioBase, origin: 'vehicle' });
  const stopped = await waitFor(async () => hooks.events.find((e) => e.method === 'intercom.stopped'), 5000, 'intercom.stopped');
  t.match(stopped.data, { vehicle: '13800000071', channel: 1, codec: 'PCMA', reason: 'hung up by request', duration: Number, packetsDown: Number, packetsUp: Number });
  t.ok(stopped.data.packetsDown > 10 && stopped.data.packetsUp > 10, `packets ${stopped.data.packetsDown} down, ${stopped.data.packetsUp} up`);
  const join = await waitFor(async () => hooks.events.find((e: any) => e.port === audioBase && e.address && !e.endTime), 5000, 'audio join callback');
  t.match(join, { port: audioBase, address: /^127\.0\.0\.1:\d+$/, startTime: /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/ });
  const leave = await waitFor(async () => hooks.events.find((e: any) => e.port === audioBase && e.endTime), 5000, 'audio leave callback');
  t.match(leave, { port: audioBase, endTime: /^\d{4}-/ });
});

t.test('m7s request with the exact body of §3.7; captured G.711A passes through; terminal disconnect hangs up', async (t) => {
  const hooks = await webhookReceiver(t);
  const { app, jt808Port, audioBase } = await appliance(t, hooks.url);
  const audio = capturePackets('audio_data.txt').packets.filter((p) => p.dataType === 3).map((p) => ({ payloadType: p.payloadType, body: Buffer.from(p.body) }));
  t.ok(audio.length > 100 && audio.every((p) => p.payloadType === 6), `${audio.length} G.711A packets in audio_data.txt`);
  const events: TerminalRunnerEvent[] = [];
  const sim = await startTerminalSimulation({ port: jt808Port, simBase: '295696659617', capture: `${capturesDir}audio_data.txt`, talk: { packets: audio }, reconnectDelayMs: 0, onEvent: (e) => events.push(e) });
  t.teardown(() => sim.stop());
  await online(app.api, '295696659617');
  // The application's own 0x9101 (m7s leaves it to the app): data type 2 towards audioBase + 1.
  const body9101 = Buffer.concat([Buffer.from([9]), Buffer.from('127.0.0.1'), Buffer.from([(audioBase + 1) >> 8, (audioBase + 1) & 0xff, 0, 0, 1, 2, 0])]);
  const raw = await fetch(`${app.api}/vehicles/295696659617/messages`, post({ msgId: 0x9101, body: body9101.toString('hex') }));
  t.equal(raw.status, 200, 'the application sends 0x9101 itself');
  const talk = (await waitFor(async () => events.find((e) => e.type === 'talk-started'), 5000, 'talk connection')) as { client: TalkClient };

  const peer = new WebrtcPeer();
  t.teardown(() => peer.close());
  const offer = await peer.offer();
  const exact = { sdp: offer, type: 'offer', group: [{ sim: '295696659617', channel: 1, audioPort: audioBase + 1 }], enterAudioEncoding: 6 };
  t.equal((await fetch(`${app.api}/jt1078/api/v1/intercom`, post(exact, {}))).status, 401, 'token required');
  const badCodec = await fetch(`${app.api}/jt1078/api/v1/intercom`, post({ ...exact, enterAudioEncoding: 19 }));
  t.equal(badCodec.status, 400, 'bad codec');
  t.match(await badCodec.text(), /enterAudioEncoding/);
  for (const group of [[], [{ sim: '295696659617', channel: 1 }], [{ sim: 'x', channel: 1, audioPort: 1 }], 'nope']) {
    const bad = await fetch(`${app.api}/jt1078/api/v1/intercom`, post({ ...exact, group }));
    t.equal(bad.status, 400, `bad group ${JSON.stringify(group)}: ${await bad.text()}`);
  }
  const res = await fetch(`${app.api}/jt1078/api/v1/intercom`, post(exact));
  const answer = (await res.json()) as any;
  t.equal(res.status, 200, JSON.stringify(answer).slice(0, 200));
  t.same(Object.keys(answer).sort(), ['sdp', 'type'], 'the m7s answer body: {type, sdp}, no envelope');
  t.equal(answer.type, 'answer');
  const other = new WebrtcPeer();
  t.teardown(() => other.close());
  const again = await fetch(`${app.api}/jt1078/api/v1/intercom`, post({ ...exact, sdp: await other.offer() }));
  t.equal(again.status, 409, 'the named port is in use');
  await peer.answer(answer.sdp);
  await peer.connected(15_000);
  peer.sendTone(1000, 'alaw');
  await waitFor(async () => talk.client.detector.ratio() > 0.8, 10_000, 'the terminal hears 1 kHz');
  await waitFor(async () => peer.received.length > 100, 10_000, 'the captured audio at the browser');
  const bodies = new Set(audio.map((p) => p.body.toString('hex')));
  const matched = peer.received.filter((r) => bodies.has(r.payload.toString('hex'))).length;
  t.equal(matched, peer.received.length, `every RTP payload is a captured G.711A body, unchanged (${matched})`);

  // The terminal drops off the network: its talk connection closes, the intercom ends.
  await sim.stop();
  const stopped = await waitFor(async () => hooks.events.find((e) => e.method === 'intercom.stopped'), 10_000, 'intercom.stopped');
  t.match(stopped.data, { origin: 'm7s', reason: 'terminal closed the talk connection', port: audioBase + 1 });
  await waitFor(async () => /camgate_intercom_ports\{state="in_use"\} 0/.test(await (await fetch(`${app.api}/metrics`, { headers: auth })).text()), 5000, 'the port back in the pool');
  t.pass('the port is back in the pool');
});
