/**
 * Upward media through the whole appliance (built dist/), with sipp as the upper platform and
 * a simulated JT/T 808 vehicle as the source:
 * - TCP passive (test/fixtures/sipp/upper_platform_tcp_passive.xml), from a vehicle (remuxed)
 *   and from a sipp camera (its packets relayed): the platform offers
 *   a=setup:active; camgate answers a=setup:passive with a port of media.rtpPorts; this test's
 *   socket (the platform's media side) connects, reads RFC 4571-framed RTP and ffprobe decodes
 *   the PS in it; a connection from another address is refused; the platform's BYE closes the
 *   connection; a second INVITE nobody connects to is ended with our BYE after tcpAcceptTimeout.
 * - BYE after a media-process restart (upper_platform_media_restart.xml): UDP media reaches
 *   this test's socket, the media process is killed with SIGKILL, sipp gets our BYE.
 */
import t, { type Test } from 'tap';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiCall, getJson, startHealthyAppliance, waitFor, type Appliance } from '../helpers/appliance.js';
import { capturesDir } from '../helpers/jt1078.js';
import { needPeer } from '../helpers/peers.js';
import { freePort } from '../helpers/ports.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { startSipp } from '../helpers/sipp.js';
import { LOWER_SIP, startLowerCamera } from '../helpers/cascade.js';
import { startTerminalSimulation } from '../../src/tools/sim/index.js';

const UPPER = { serverid: '44000000002000000001', domain: '4400000000', deviceid: '44010000002000000077', pwd: 'upper-secret' };
const SIM = '13800000061';
/** The default vehicle ID prefix (sip.domain 3707000008) + 131 + the SIM's last 5 digits + channel 01. */
const VEHICLE_CHANNEL = '37070000081310006101';
const CAMERA = '34020000001310000001';

if (!needPeer(t, 'sipp', 'sip-tester') || !needPeer(t, 'ffprobe', 'ffmpeg')) process.exit(0);

/** A camgate with a connected vehicle (one channel) that streams its capture when asked. */
async function withVehicle(t: Test, extra: Record<string, unknown> = {}): Promise<Appliance> {
  const jt808Port = await freePort();
  const app = await startHealthyAppliance(t, { jt808: { port: jt808Port, registration: 'open' }, ...extra });
  const sim = await startTerminalSimulation({ port: jt808Port, simBase: SIM, capture: `${capturesDir}data.txt`, terminal: { heartbeatMs: 5000, positionMs: 5000 } });
  t.teardown(() => sim.stop());
  await waitFor(async () => (await getJson(`${app.api}/vehicles/${SIM}`)).body.data?.online === 1, 10_000, 'the vehicle online');
  t.equal((await apiCall('PATCH', `${app.api}/vehicles/${SIM}`, { channels: 1 })).status, 200);
  return app;
}

/**
 * The platform, created disabled so that its catalog (which allocates the vehicle channel's
 * stable ID, as a platform's Catalog query would) is read before sipp's INVITE, then enabled.
 */
async function addPlatform(t: { ok(v: unknown, m: string): void }, app: Appliance, port: number, channel = VEHICLE_CHANNEL): Promise<number> {
  const created = await apiCall('POST', `${app.api}/platforms`, { ...UPPER, name: 'sipp', host: '127.0.0.1', port, keepalive_interval: 120, share_vehicles: true, share_cameras: true, enabled: false });
  if (created.status !== 200) throw new Error(JSON.stringify(created.body));
  const id = created.body.data.id as number;
  const catalog = (await getJson(`${app.api}/platforms/${id}/catalog`)).body.data.List as Array<{ channelId: string }>;
  t.ok(catalog.some((c) => c.channelId === channel), `the channel is shared as ${channel}`);
  const enabled = await apiCall('PATCH', `${app.api}/platforms/${id}`, { enabled: true });
  if (enabled.status !== 200) throw new Error(JSON.stringify(enabled.body));
  await waitFor(async () => (await getJson(`${app.api}/platforms/${id}`)).body.data.status.state === 'online', 10_000, 'registered upward');
  return id;
}

/** RTP packets out of an RFC 4571 byte stream (2-byte length, then the packet). */
function unframe(bytes: Buffer): Buffer[] {
  const packets: Buffer[] = [];
  for (let p = 0; p + 2 <= bytes.length; ) {
    const n = bytes.readUInt16BE(p);
    if (p + 2 + n > bytes.length) break;
    packets.push(bytes.subarray(p + 2, p + 2 + n));
    p += 2 + n;
  }
  return packets;
}

/** The payload of an RTP packet (fixed header, CSRCs, extension). */
function payload(packet: Buffer): Buffer {
  const cc = packet[0]! & 0x0f;
  let p = 12 + cc * 4;
  if (packet[0]! & 0x10) p += 4 + packet.readUInt16BE(p + 2) * 4;
  return packet.subarray(p);
}

async function decodedFrames(ps: Buffer): Promise<{ frames: number; codec: string }> {
  const file = join(mkdtempSync(join(tmpdir(), 'camgate-upward-')), 'upward.ps');
  writeFileSync(file, ps);
  const probed = await ffprobe(['-f', 'mpeg', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,nb_read_frames', file]);
  return { frames: Number(probed.json.streams?.[0]?.nb_read_frames ?? 0), codec: String(probed.json.streams?.[0]?.codec_name ?? '') };
}

/** A camgate with device1.csv's sipp camera (PS over RTP from the shared 4 s pcap when INVITEd), registered openly. */
async function withCamera(t: Test, extra: Record<string, unknown> = {}): Promise<Appliance> {
  const app = await startHealthyAppliance(t, { sip: LOWER_SIP, gb28181: { registration: 'open', cascade: { tcpAcceptTimeout: 2 } }, ...extra });
  await startLowerCamera(t, app, 'gb_device_ooc_media.xml', 90);
  await waitFor(async () => (await getJson(`${app.api}/channels?limit=-1`)).body.data.List.some((c: { channelid: string }) => c.channelid === CAMERA), 15_000, 'the camera\'s channel');
  return app;
}

for (const source of ['vehicle (remuxed)', 'camera (relayed)'] as const) t.test(`TCP passive upward, ${source}: a=setup:passive with our port, the platform connects, RFC 4571 PS decodes; BYE closes; nobody connecting ends in our BYE`, async (t) => {
  const vehicle = source.startsWith('vehicle');
  const app = vehicle ? await withVehicle(t, { gb28181: { cascade: { tcpAcceptTimeout: 2 } } }) : await withCamera(t);
  const channel = vehicle ? VEHICLE_CHANNEL : CAMERA;
  const dir = mkdtempSync(join(tmpdir(), 'camgate-portfile-'));
  const portfile = join(dir, 'port');
  const sipPort = await freePort();
  const sipp = startSipp(['-sf', 'upper_platform_tcp_passive.xml', '-i', '127.0.0.1', '-p', String(sipPort), '-m', '1', '-key', 'channel', channel, '-key', 'portfile', portfile, '-trace_msg'], 60_000);
  t.teardown(() => sipp.stop());
  await addPlatform(t, app, sipPort, channel);

  const port = await waitFor(async () => existsSync(portfile) && Number(readFileSync(portfile, 'utf8').trim()), 20_000, 'the answer with our port').catch((e: Error) => {
    throw new Error(`${e.message}\n${app.output().slice(-3000)}`);
  });
  t.ok(port >= 30000 && port <= 30999, `listening on ${port}, from media.rtpPorts`);

  // Someone else (another address) is refused; the platform's address gets the stream.
  const intruder = await new Promise<{ bytes: number }>((resolve) => {
    let bytes = 0;
    const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
    s.on('data', (d) => (bytes += d.length));
    s.on('error', () => undefined);
    s.on('close', () => resolve({ bytes }));
  });
  t.equal(intruder.bytes, 0, 'a connection from 127.0.0.2 is closed without media');

  const connectedAt = Date.now();
  const chunks: Buffer[] = [];
  let firstByteMs = -1;
  const socket: Socket = connect({ host: '127.0.0.1', port });
  socket.on('data', (d) => {
    if (firstByteMs < 0) firstByteMs = Date.now() - connectedAt;
    chunks.push(d);
  });
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
  socket.on('error', () => undefined);
  const closedAt = await closed;
  const stream = Buffer.concat(chunks);
  const packets = unframe(stream);
  t.ok(packets.length > 50, `${packets.length} RTP packets in ${stream.length} bytes over ${closedAt - connectedAt} ms (first byte after ${firstByteMs} ms)`);
  t.ok(packets.every((p) => p[0]! >> 6 === 2 && (p[1]! & 0x7f) === 96), 'RTP version 2, payload type 96 in every packet');
  t.ok(packets.every((p) => p.readUInt32BE(8) === 100000061), 'sent with the SSRC the platform asked for (y=0100000061)');
  const ps = Buffer.concat(packets.map(payload));
  t.same([...ps.subarray(0, 4)], [0, 0, 1, 0xba], 'the PS starts with a pack header (started on the cached GOP)');
  const decoded = await decodedFrames(ps);
  t.ok(decoded.frames >= 10, `ffprobe decodes ${decoded.frames} ${decoded.codec} frames from what arrived`);

  // The second INVITE: nobody connects; camgate ends it with a BYE after 2 s (sipp's scenario waits for it).
  const port2 = await waitFor(async () => existsSync(`${portfile}2`) && Number(readFileSync(`${portfile}2`, 'utf8').trim()), 20_000, 'the second answer');
  const answeredAt = Date.now();
  const run = await sipp.done;
  t.equal(run.code, 0, `sipp got our BYE for the INVITE nobody connected to (${Date.now() - answeredAt} ms after the answer)${run.code === 0 ? '' : `\n${run.output.slice(-1500)}${run.errors}`}`);
  t.ok(Date.now() - answeredAt >= 1000, 'not before the accept time-out');
  // The port is closed and given back.
  const refused = await new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port: port2 });
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
  t.ok(refused, `port ${port2} no longer listens`);
  const metrics = await (await fetch(`${app.api}/metrics`)).text();
  t.match(metrics, /camgate_platform_sessions 0/, 'no upward session left');
  await waitFor(async () => !(await getJson(`${app.api}/streams?limit=-1`)).body.data.List.some((s: { status: number }) => s.status === 0), 10_000, 'the source started for the platform is stopped').catch(async (e: Error) => {
    const rows = (await getJson(`${app.api}/streams?limit=-1`)).body.data.List;
    throw new Error(`${e.message}: ${JSON.stringify(rows.map((r: Record<string, unknown>) => [r.streamid, r.status, r.reason, r.created_at ?? r.start]))}`);
  });
});

t.test('BYE upward after the media process is killed during an upward stream', async (t) => {
  const app = await withVehicle(t);
  const udp = createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  t.teardown(() => udp.close());
  let packets = 0;
  udp.on('message', () => packets++);
  const sipPort = await freePort();
  const sipp = startSipp(['-sf', 'upper_platform_media_restart.xml', '-i', '127.0.0.1', '-p', String(sipPort), '-m', '1', '-key', 'channel', VEHICLE_CHANNEL, '-key', 'mport', String(udp.address().port), '-trace_msg'], 60_000);
  t.teardown(() => sipp.stop());
  await addPlatform(t, app, sipPort);
  await waitFor(async () => packets > 20, 20_000, 'upward RTP arriving').catch(async (e: Error) => {
    sipp.stop();
    const run = await sipp.done;
    writeFileSync('/tmp/cascade2-debug.log', `${app.output()}\n----\n${run.output}\n${run.messages}`);
    throw e;
  });
  t.pass(`${packets} RTP packets upward before the kill`);

  const health = (await getJson(`${app.api}/healthz`)).body;
  const killedAt = Date.now();
  process.kill(health.parts.media.pid as number, 'SIGKILL');
  const run = await sipp.done;
  t.equal(run.code, 0, `sipp got the BYE ${Date.now() - killedAt} ms after the kill${run.code === 0 ? '' : `\n${run.output.slice(-1500)}${run.errors}`}`);
  t.match(run.messages, /BYE sip:44000000002000000001@127\.0\.0\.1:\d+/, 'the BYE went to the platform\'s Contact');
  await waitFor(async () => (await getJson(`${app.api}/healthz`)).body.parts?.media?.restarts === 1, 15_000, 'the media process restarted');
  const metrics = await (await fetch(`${app.api}/metrics`)).text();
  t.match(metrics, /camgate_platform_sessions 0/, 'the upward session is gone');
});
