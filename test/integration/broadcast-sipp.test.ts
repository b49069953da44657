/**
 * GB28181 voice broadcast end to end on the built appliance (GB/T 28181-2016 §9.12): the
 * browser is a werift PeerConnection in this process (src/tools/sim WebrtcPeer) sending a
 * 1 kHz tone in PCMA; the camera is sipp (test/fixtures/sipp/gb_camera_broadcast_ooc.xml with
 * the shared gb_device.xml) that checks the exact Broadcast XML, answers 200 + Response and
 * INVITEs with an audio SDP whose port is a socket this test opened. What that socket
 * receives is decoded by ffmpeg (raw A-law, or the PS with ffprobe naming pcm_alaw) and must
 * be the tone (raw PCMA and PS, UDP and TCP both ways). Also: DELETE sends BYE, the camera's
 * BYE ends the broadcast, an INVITE before the Response, a camera that never INVITEs fails
 * 504 no-invite, an INVITE from another address 403, one nobody waits for 481, metrics.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson, startHealthyAppliance, waitFor, type Appliance } from '../helpers/appliance.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { needPeer } from '../helpers/peers.js';
import { freePort } from '../helpers/ports.js';
import { parseRtp, tcpSink, udpSink, type RtpRecord } from '../helpers/rtp-sink.js';
import { byesIn, startSipp } from '../helpers/sipp.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';
import { toneRatio, WebrtcPeer } from '../../src/tools/sim/index.js';

const SERVER = { id: '34020000002000000001', domain: '3402000000' };
const DEVICE = '34020000001320000001';
const CAMERA = '34020000001310000001';
/** The camera's `y=`. */
const CAMERA_SSRC = 100000099;

if (!needPeer(t, 'sipp', 'sip-tester') || !needPeer(t, 'ffmpeg', 'ffmpeg')) process.exit(0);

const post = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) });

/** A sipp camera for one case; resolves once the appliance has its new registration. */
async function camera(t: Test, app: Appliance, vars: Record<string, string>) {
  const port = await freePort();
  const set = Object.entries({ AUDIO_SETUP: 'passive', ...vars }).flatMap(([k, v]) => ['-set', k, v]);
  const sipp = startSipp(
    [`127.0.0.1:${app.sipPort}`, '-i', '127.0.0.1', '-p', String(port), '-mp', String(await freePort()),
      '-sf', 'gb_device.xml', '-oocsf', 'gb_camera_broadcast_ooc.xml', '-inf', 'device1.csv', '-m', '1', '-d', '1000', '-set', 'KA_COUNT', '40', ...set, '-trace_msg'],
    90_000,
  );
  t.teardown(() => sipp.stop());
  await waitFor(async () => {
    const row = (await getJson(`${app.api}/devices?filters=${encodeURIComponent(JSON.stringify([{ field_name: 'deviceid', operator: '=', value: DEVICE }]))}`)).body.data.List[0];
    return row?.online === 1 && row.port === port;
  }, 8000, `camera registered from port ${port}`);
  return sipp;
}

/** ffmpeg's decoding of what the camera's socket got, as 8 kHz 16-bit samples. */
function decode(packets: RtpRecord[], carriage: 'raw' | 'ps'): { pcm: Int16Array; probe: string } {
  const sorted = [...packets].sort((a, b) => ((a.seq - packets[0]!.seq) & 0xffff) - ((b.seq - packets[0]!.seq) & 0xffff));
  const body = Buffer.concat(sorted.map((p) => p.payload));
  const dir = mkdtempSync(join(tmpdir(), 'camgate-broadcast-'));
  // ffmpeg reads stream id 0xC0 as pcm_alaw in a PS behind Hikvision's 40-byte IMKH header (peers.md §2).
  const file = join(dir, carriage === 'raw' ? 'camera.alaw' : 'camera.ps');
  writeFileSync(file, carriage === 'raw' ? body : Buffer.concat([Buffer.concat([Buffer.from('IMKH'), Buffer.alloc(36)]), body]));
  const input = carriage === 'raw' ? ['-f', 'alaw', '-ar', '8000', '-ac', '1', '-i', file] : ['-i', file];
  const out = spawnSync('ffmpeg', ['-v', 'error', ...input, '-map', '0:a', '-f', 's16le', '-ar', '8000', '-ac', '1', '-'], { maxBuffer: 64 * 1024 * 1024 });
  const pcm = new Int16Array(out.stdout.buffer, out.stdout.byteOffset, Math.floor(out.stdout.length / 2));
  return { pcm, probe: file };
}

/** Frequency with the most energy between 100 and 3900 Hz (10 Hz steps). */
function dominant(pcm: Int16Array): number {
  let best = 0;
  let bestRatio = -1;
  for (let f = 100; f <= 3900; f += 10) {
    const r = toneRatio(pcm, f, 8000);
    if (r > bestRatio) [best, bestRatio] = [f, r];
  }
  return best;
}

/** Offer, POST, answer, connected, tone on; the answer's body. */
async function broadcast(t: Test, app: Appliance, peer: WebrtcPeer) {
  const res = await fetch(`${app.api}/channels/${CAMERA}/intercom`, post({ sdp: await peer.offer(), type: 'offer' }));
  const body = (await res.json()) as any;
  t.equal(res.status, 200, `POST /channels/:id/intercom: ${JSON.stringify(body).slice(0, 300)}`);
  await peer.answer(body.data.sdp);
  await peer.connected(15_000);
  peer.sendTone(1000, 'alaw');
  return body.data;
}

async function checkTone(t: Test, packets: RtpRecord[], carriage: 'raw' | 'ps') {
  await waitFor(async () => packets.length >= 100, 10_000, `100 packets at the camera's socket (${packets.length})`);
  const window = packets.slice(10, 100);
  t.ok(window.every((p) => p.ssrc === CAMERA_SSRC), 'RTP with the SSRC of the camera\'s y=');
  t.ok(window.every((p) => p.payloadType === (carriage === 'raw' ? 8 : 96)), `payload type ${carriage === 'raw' ? 8 : 96}`);
  const { pcm, probe } = decode(window, carriage);
  const info = await ffprobe([...(carriage === 'raw' ? ['-f', 'alaw', '-ar', '8000', '-ac', '1'] : []), '-show_streams', probe]);
  t.match(info.json.streams?.[0], { codec_name: 'pcm_alaw', sample_rate: '8000', channels: 1 }, `ffprobe: ${info.json.streams?.[0]?.codec_name} ${info.stderr}`);
  const ratio = toneRatio(pcm, 1000, 8000);
  const peak = dominant(pcm);
  t.ok(pcm.length >= 8000, `${pcm.length} samples decoded by ffmpeg`);
  t.ok(ratio > 0.8 && Math.abs(peak - 1000) <= 10, `ffmpeg decodes the browser's tone: dominant ${peak} Hz, 1 kHz ratio ${ratio.toFixed(3)}`);
}

t.test('voice broadcast to a sipp camera', async (t) => {
  const hooks = await webhookReceiver(t);
  const audioPort = await freePort();
  const app = await startHealthyAppliance(t, {
    sip: SERVER,
    gb28181: { registration: 'open', broadcastInviteTimeout: 2 },
    notify: { urls: { 'intercom.started': hooks.url, 'intercom.stopped': hooks.url } },
    jt1078: { intercom: { enabled: true, webrtcPort: await freePort(), publicIp: '127.0.0.1', audioPorts: `${audioPort}-${audioPort}`, connectTimeout: 10 } },
  });
  const metrics = async () => (await fetch(`${app.api}/metrics`)).text();
  const stopped = (id: string) => waitFor(async () => hooks.events.find((e) => e.method === 'intercom.stopped' && e.data.id === id), 10_000, `intercom.stopped for ${id}`);
  let provisioned = false;
  const provision = async (t: Test) => {
    if (provisioned) return;
    // This camera refuses the Catalog query (400), so its channel is provisioned.
    const created = await fetch(`${app.api}/devices/${DEVICE}/channels`, post({ channelid: CAMERA }));
    t.equal(created.status, 200, 'channel provisioned');
    provisioned = true;
  };
  /** A sipp camera with these variables, its channel provisioned, and a browser broadcasting to it. */
  const open = async (t: Test, vars: Record<string, string>) => {
    const sipp = await camera(t, app, vars);
    await provision(t);
    const peer = new WebrtcPeer();
    t.teardown(() => peer.close());
    return { sipp, answer: await broadcast(t, app, peer) };
  };
  const hangUp = async (t: Test, id: string) => {
    t.equal((await fetch(`${app.api}/channels/${CAMERA}/intercom`, { method: 'DELETE' })).status, 200, 'DELETE');
    return stopped(id);
  };

  await t.test('raw PCMA over UDP: the tone reaches the port of the camera\'s SDP; DELETE sends BYE', async (t) => {
    const sink = await udpSink();
    t.teardown(() => sink.close());
    const { sipp, answer } = await open(t, { MODE: 'wait', AUDIO_PORT: String(sink.port), AUDIO_PROTO: 'RTP/AVP', AUDIO_PT: '8', AUDIO_MAP: 'PCMA/8000' });
    t.match(answer, { type: 'answer', codec: 'PCMA', targets: [], camera: { deviceId: DEVICE, channelId: CAMERA, transport: 'udp', carriage: 'raw', inviteMs: Number } });
    await checkTone(t, sink.packets, 'raw');
    t.equal(sink.packets[0]?.marker, true, 'marker on the first packet');
    t.notOk(sink.packets.slice(1, 50).some((p) => p.marker), 'and on no other');
    const list = (await getJson(`${app.api}/intercom`)).body.data;
    t.match(list, [{ id: answer.id, origin: 'camera', mode: 'broadcast', camera: { deviceId: DEVICE, channelId: CAMERA } }]);
    const other = new WebrtcPeer();
    t.teardown(() => other.close());
    t.equal((await fetch(`${app.api}/channels/${CAMERA}/intercom`, post({ sdp: await other.offer() }))).status, 409, 'one broadcast per channel');
    const started = await waitFor(async () => hooks.events.find((e) => e.method === 'intercom.started' && e.data.id === answer.id), 5000, 'intercom.started');
    t.match(started.data, { origin: 'camera', mode: 'broadcast', codec: 'PCMA', device: DEVICE, channel: CAMERA });

    const ended = await hangUp(t, answer.id);
    t.match(ended.data, { origin: 'camera', device: DEVICE, channel: CAMERA, reason: 'hung up by request', packetsDown: Number });
    t.ok(ended.data.packetsDown > 50, `${ended.data.packetsDown} packets sent to the camera`);
    t.equal((await fetch(`${app.api}/channels/${CAMERA}/intercom`, { method: 'DELETE' })).status, 404, 'already hung up');
    await new Promise((r) => setTimeout(r, 500));
    sipp.stop();
    const run = await sipp.done;
    t.equal(byesIn(run.messages).length, 1, 'the camera received one BYE');
    t.match(run.messages, /INVITE sip:34020000002000000001@3402000000/, 'the camera found the exact Broadcast XML (it INVITEs only then)');
  });

  await t.test('PS over UDP; the camera hangs up with BYE', async (t) => {
    const sink = await udpSink();
    t.teardown(() => sink.close());
    const { answer } = await open(t, { MODE: 'bye', AUDIO_PORT: String(sink.port), AUDIO_PROTO: 'RTP/AVP', AUDIO_PT: '96', AUDIO_MAP: 'PS/90000' });
    t.match(answer.camera, { transport: 'udp', carriage: 'ps' });
    await checkTone(t, sink.packets, 'ps').catch((e) => {
      t.comment(JSON.stringify(hooks.events.filter((h) => h.data?.id === answer.id)));
      throw e;
    });
    const first = sink.packets[0]!.payload;
    t.same([...first.subarray(0, 4)], [0, 0, 1, 0xba], 'each payload starts with a pack header');
    const ended = await stopped(answer.id);
    t.match(ended.data, { reason: 'the camera hung up (BYE)', channel: CAMERA });
  });

  await t.test('PS over TCP: the camera offered setup:passive, camgate connects (RFC 4571)', async (t) => {
    const sink = await tcpSink();
    t.teardown(() => sink.close());
    const { answer } = await open(t, { MODE: 'wait', AUDIO_PORT: String(sink.port), AUDIO_PROTO: 'TCP/RTP/AVP', AUDIO_PT: '96', AUDIO_MAP: 'PS/90000' });
    t.match(answer.camera, { transport: 'tcp-active', carriage: 'ps' });
    await checkTone(t, sink.packets, 'ps');
    t.equal(sink.connections(), 1, 'one TCP connection');
    await hangUp(t, answer.id);
  });

  await t.test('raw PCMA over TCP, the camera connects (it offered setup:active) to the port of our answer, late', async (t) => {
    const { answer } = await open(t, { MODE: 'wait', AUDIO_PORT: '9', AUDIO_PROTO: 'TCP/RTP/AVP', AUDIO_SETUP: 'active', AUDIO_PT: '8', AUDIO_MAP: 'PCMA/8000' });
    t.match(answer.camera, { transport: 'tcp-passive', carriage: 'raw', mediaPort: Number });
    // As cameras in the field do (gb28181.md §16 item 9), it connects a while after the ACK: what came before is dropped.
    await new Promise((r) => setTimeout(r, 500));
    const packets: RtpRecord[] = [];
    const socket = connect({ host: '127.0.0.1', port: answer.camera.mediaPort });
    t.teardown(() => socket.destroy());
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 2 && buffer.length >= 2 + buffer.readUInt16BE(0)) {
        packets.push(parseRtp(Buffer.from(buffer.subarray(2, 2 + buffer.readUInt16BE(0)))));
        buffer = buffer.subarray(2 + buffer.readUInt16BE(0));
      }
    });
    await checkTone(t, packets, 'raw');
    // The camera closing its media connection ends the broadcast (and camgate says BYE).
    socket.destroy();
    const ended = await stopped(answer.id);
    t.match(ended.data, { reason: 'the camera closed the media connection' });
  });

  await t.test('a camera that INVITEs before its Response (then sends it): the broadcast starts once both came', async (t) => {
    const sink = await udpSink();
    t.teardown(() => sink.close());
    const { answer } = await open(t, { MODE: 'early', AUDIO_PORT: String(sink.port), AUDIO_PROTO: 'RTP/AVP', AUDIO_PT: '8', AUDIO_MAP: 'PCMA/8000' });
    t.match(answer.camera, { transport: 'udp', carriage: 'raw' });
    await checkTone(t, sink.packets, 'raw');
    await hangUp(t, answer.id);
  });

  await t.test('a camera that accepts but never INVITEs: 504 no-invite, the session closed; an INVITE from another address meanwhile: 403', async (t) => {
    await camera(t, app, { MODE: 'silent', AUDIO_PORT: '9', AUDIO_PROTO: 'RTP/AVP', AUDIO_PT: '8', AUDIO_MAP: 'PCMA/8000' });
    await provision(t);
    const peer = new WebrtcPeer();
    t.teardown(() => peer.close());
    const began = Date.now();
    const pending = fetch(`${app.api}/channels/${CAMERA}/intercom`, post({ sdp: await peer.offer() }));
    // While it waits: the channel's INVITE, but from 127.0.0.2 (not where the device registered).
    await new Promise((r) => setTimeout(r, 700));
    const spoofed = await sendInvite(t, '127.0.0.2', 'spoofed-invite@127.0.0.2');
    t.match(spoofed, /^SIP\/2\.0 403 /, `another address: ${spoofed.split('\r\n')[0]}`);
    const res = await pending;
    const body = (await res.json()) as any;
    t.equal(res.status, 504, JSON.stringify(body));
    t.match(body.data, /^no-invite: the camera accepted the broadcast but sent no INVITE within 2 s/);
    t.ok(Date.now() - began < 8000, `failed after ${Date.now() - began} ms`);
    t.same((await getJson(`${app.api}/intercom`)).body.data, [], 'no session left');
    const text = await metrics();
    t.match(text, /camgate_gb28181_command_failures_total\{command="broadcast",reason="no-invite"\} 1/);
  });

  await t.test('an INVITE no broadcast waits for is refused 481', async (t) => {
    const final = await sendInvite(t, '127.0.0.1', 'stray-invite@127.0.0.1');
    t.match(final, /^SIP\/2\.0 481 /, final.split('\r\n')[0]);
    t.match(final, /Warning: 399 camgate "no voice broadcast is waiting/);
  });

  await t.test('the camera\'s device goes away (deleted through the API): its broadcast ends with it', async (t) => {
    const sink = await udpSink();
    t.teardown(() => sink.close());
    const { sipp, answer } = await open(t, { MODE: 'wait', AUDIO_PORT: String(sink.port), AUDIO_PROTO: 'RTP/AVP', AUDIO_PT: '8', AUDIO_MAP: 'PCMA/8000' });
    await waitFor(async () => sink.packets.length > 10 || undefined, 10_000, 'audio at the camera');
    t.equal((await fetch(`${app.api}/devices/${DEVICE}`, { method: 'DELETE' })).status, 200, 'device deleted');
    provisioned = false;
    const ended = await stopped(answer.id);
    t.match(ended.data, { origin: 'camera', channel: CAMERA, reason: 'the camera went offline (removed)' });
    t.same((await getJson(`${app.api}/intercom`)).body.data, [], 'no session left');
    await new Promise((r) => setTimeout(r, 500));
    sipp.stop();
    const run = await sipp.done;
    t.equal(byesIn(run.messages).length, 1, 'a BYE was still tried');
  });

  /** A camera-like INVITE for the channel from `host`; resolves with the final answer. */
  async function sendInvite(t: Test, host: string, callId: string): Promise<string> {
    const socket = createSocket('udp4');
    t.teardown(() => socket.close());
    await new Promise<void>((r) => socket.bind(0, host, r));
    const port = socket.address().port;
    const sdp = `v=0\r\no=${CAMERA} 0 0 IN IP4 ${host}\r\ns=Play\r\nc=IN IP4 ${host}\r\nt=0 0\r\nm=audio 9 RTP/AVP 8\r\na=recvonly\r\ny=0100000001\r\n`;
    const invite = [
      `INVITE sip:${SERVER.id}@${SERVER.domain} SIP/2.0`,
      `Via: SIP/2.0/UDP ${host}:${port};rport;branch=z9hG4bK-${callId.slice(0, 8)}`,
      `From: <sip:${CAMERA}@${SERVER.domain}>;tag=t${port}`,
      `To: <sip:${SERVER.id}@${SERVER.domain}>`,
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:${CAMERA}@${host}:${port}>`,
      'Max-Forwards: 70',
      'Content-Type: APPLICATION/SDP',
      `Content-Length: ${Buffer.byteLength(sdp)}`,
      '',
      sdp,
    ].join('\r\n');
    const answers: string[] = [];
    socket.on('message', (m) => answers.push(m.toString()));
    socket.send(invite, app.sipPort, '127.0.0.1');
    return waitFor(async () => answers.find((a) => /^SIP\/2\.0 [2-6]\d\d/.test(a)), 5000, `a final answer to ${callId}`);
  }

  const text = await metrics();
  t.match(text, /camgate_gb28181_commands_total\{command="broadcast",result="sent"\} 7/, 'seven Broadcast MESSAGEs sent');
  t.match(text, /camgate_gb28181_commands_total\{command="broadcast",result="answered"\} 7/, 'seven answered with a Response');
  t.match(text, /camgate_gb28181_broadcast_invites_total\{result="answered"\} 6/, 'six INVITEs answered');
  t.match(text, /camgate_gb28181_broadcast_invites_total\{result="unmatched"\} 2/, 'two INVITEs unmatched (403, 481)');
  t.match(text, /camgate_gb28181_broadcast_invite_latency_seconds_total [0-9.]+/);
});
