/**
 * The console's Talk button on a camera tile, in Debian's headless Chromium with a fake
 * microphone playing a 1 kHz WAV: the Live view plays the sipp camera's channel
 * (test/fixtures/sipp/gb_camera_broadcast_ooc.xml answers the live INVITE without media),
 * Talk sends the page's WebRTC offer to `POST /channels/:id/intercom`, the camera gets the
 * Broadcast and INVITEs with a raw PCMA SDP naming this test's UDP socket, and ffmpeg
 * decodes what the socket receives to the page's 1 kHz. Hang up sends BYE to the camera.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startHealthyAppliance, waitFor } from '../helpers/appliance.js';
import { needPeer } from '../helpers/peers.js';
import { freePort } from '../helpers/ports.js';
import { udpSink } from '../helpers/rtp-sink.js';
import { byesIn, startSipp } from '../helpers/sipp.js';
import { toneWav } from '../helpers/tone-wav.js';
import { toneRatio } from '../../src/tools/sim/index.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'broadcast-browser-test-token-01';
const auth = { authorization: `Bearer ${TOKEN}` };
const SERVER = { id: '34020000002000000001', domain: '3402000000' };
const DEVICE = '34020000001320000001';
const CAMERA = '34020000001310000001';

if (!needPeer(t, CHROMIUM, 'chromium') || !needPeer(t, 'sipp', 'sip-tester') || !needPeer(t, 'ffmpeg', 'ffmpeg')) process.exit(0);

t.test('the console\'s Talk button on a camera tile: the page\'s microphone reaches the camera as PCMA; Hang up sends BYE', async (t) => {
  const audioPort = await freePort();
  const app = await startHealthyAppliance(t, {
    api: { tokens: [TOKEN] },
    sip: SERVER,
    gb28181: { registration: 'open' },
    streams: { noViewerClose: 0 },
    jt1078: { intercom: { enabled: true, webrtcPort: await freePort(), publicIp: '127.0.0.1', audioPorts: `${audioPort}-${audioPort}`, connectTimeout: 10 } },
  });
  const sink = await udpSink();
  t.teardown(() => sink.close());
  const devicePort = await freePort();
  const sipp = startSipp(
    [`127.0.0.1:${app.sipPort}`, '-i', '127.0.0.1', '-p', String(devicePort), '-mp', String(await freePort()),
      '-sf', 'gb_device.xml', '-oocsf', 'gb_camera_broadcast_ooc.xml', '-inf', 'device1.csv', '-m', '1', '-d', '1000', '-set', 'KA_COUNT', '60',
      '-set', 'MODE', 'wait', '-set', 'AUDIO_PORT', String(sink.port), '-set', 'AUDIO_PROTO', 'RTP/AVP', '-set', 'AUDIO_PT', '8', '-set', 'AUDIO_MAP', 'PCMA/8000', '-set', 'AUDIO_SETUP', 'passive', '-trace_msg'],
    120_000,
  );
  t.teardown(() => sipp.stop());
  const api = (path: string, init: RequestInit = {}) => fetch(`${app.api}${path}`, { ...init, headers: { 'content-type': 'application/json', ...auth, ...(init.headers ?? {}) } });
  await waitFor(async () => {
    const body = (await (await api(`/devices?filters=${encodeURIComponent(JSON.stringify([{ field_name: 'deviceid', operator: '=', value: DEVICE }]))}`)).json()) as any;
    return body.data?.List?.[0]?.online === 1;
  }, 8000, 'camera registered');
  t.equal((await api(`/devices/${DEVICE}/channels`, { method: 'POST', body: JSON.stringify({ channelid: CAMERA }) })).status, 200, 'channel provisioned');

  const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'camgate-chromium-')), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-audio-capture=${toneWav(10)}`,
      '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
    ],
  });
  t.teardown(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  await page.goto(`${app.api}/`);
  await page.getByLabel('API token').fill(TOKEN);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  await page.goto(`${app.api}/#/live?channel=${CAMERA}`);
  const talk = page.getByRole('button', { name: `Talk ${CAMERA}` });
  await talk.waitFor({ timeout: 20_000 });
  t.pass('the camera tile has a Talk button');
  await talk.click();
  await page.getByRole('status').filter({ hasText: 'talking (PCMA)' }).waitFor({ timeout: 20_000 });
  t.pass('the page says talking (PCMA)');

  await waitFor(async () => sink.packets.length >= 150, 10_000, 'packets at the camera\'s socket');
  const window = sink.packets.slice(50, 150);
  t.ok(window.every((p) => p.payloadType === 8 && p.ssrc === 100000099), 'PT 8 with the camera\'s SSRC');
  const file = join(mkdtempSync(join(tmpdir(), 'camgate-broadcast-')), 'camera.alaw');
  writeFileSync(file, Buffer.concat(window.map((p) => p.payload)));
  const out = spawnSync('ffmpeg', ['-v', 'error', '-f', 'alaw', '-ar', '8000', '-ac', '1', '-i', file, '-f', 's16le', '-ac', '1', '-ar', '8000', '-'], { maxBuffer: 16 * 1024 * 1024 });
  const pcm = new Int16Array(out.stdout.buffer, out.stdout.byteOffset, Math.floor(out.stdout.length / 2));
  const ratio = toneRatio(pcm, 1000, 8000);
  // Chromium's own path: its fake capture resampled to 8 kHz and A-law encoded (some distortion: > 0.6, as intercom-browser).
  t.ok(ratio > 0.6, `ffmpeg finds the page's 1 kHz in what the camera got: ratio ${ratio.toFixed(3)} over ${pcm.length} samples`);

  await page.getByRole('button', { name: `Hang up ${CAMERA}` }).click();
  await waitFor(async () => {
    const body = (await (await api('/intercom')).json()) as any;
    return body.data?.length === 0;
  }, 10_000, 'the broadcast ended');
  await new Promise((r) => setTimeout(r, 500));
  sipp.stop();
  const run = await sipp.done;
  const byes = byesIn(run.messages);
  t.ok(byes.length >= 1, `the camera received BYE (${byes.length}: the broadcast's, and the live view's if it ended)`);
  t.same(pageErrors, [], 'no page errors');
});
