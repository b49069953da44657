/**
 * The intercom in a real browser: Debian's headless Chromium (playwright-core, through its
 * executable path) with a fake microphone playing a generated 1 kHz WAV, host candidates
 * on 127.0.0.1 and no ICE servers, talks to the JT/T 808 terminal simulator through the
 * built appliance. The terminal decodes what it receives and finds the 1 kHz tone; it
 * sends a 440 Hz tone, which the page finds with a WebAudio analyser. PCMA and PCMU
 * (the terminal's 0x1003 names G.711A or G.711U), an ADPCM terminal encoding its tone
 * (transcoded to PCMA), and captured audio: audio_data.txt (G.711A, passed through) and
 * in_32.g726 (transcoded), which the page hears above the noise floor. Then the page closes its
 * PeerConnection: the intercom ends, 0x9102 command 4 reaches the terminal, the port is free.
 */
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startAppliance, waitFor } from '../helpers/appliance.js';
import { capturePackets, capturesDir } from '../helpers/jt1078.js';
import { needPeer } from '../helpers/peers.js';
import { freePort } from '../helpers/ports.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';
import { toneWav } from '../helpers/tone-wav.js';
import { startTerminalSimulation, type TalkClient, type TerminalRunnerEvent } from '../../src/tools/sim/index.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'intercom-browser-test-token-0123';
const auth = { authorization: `Bearer ${TOKEN}` };

if (!needPeer(t, CHROMIUM, 'chromium')) process.exit(0);

/** Runs in the page: microphone → offer → POST → answer; the remote audio into an analyser. */
const PAGE_SCRIPT = `
window.intercom = async (url, token) => {
  const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
  const pc = new RTCPeerConnection({ iceServers: [] });
  window.pc = pc;
  pc.addTrack(mic.getAudioTracks()[0], mic);
  const remote = new Promise((resolve) => (pc.ontrack = (e) => resolve(e.track)));
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
    setTimeout(resolve, 3000);
  });
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body: JSON.stringify({ sdp: pc.localDescription.sdp, type: 'offer' }) });
  const body = await res.json();
  if (res.status !== 200) throw new Error('intercom: ' + res.status + ' ' + JSON.stringify(body));
  await pc.setRemoteDescription({ type: 'answer', sdp: body.data.sdp });
  const track = await remote;
  const stream = new MediaStream([track]);
  // Chromium feeds a remote stream to WebAudio only while a media element plays it.
  const sink = new Audio();
  sink.srcObject = stream;
  sink.muted = true;
  await sink.play().catch(() => {});
  const ctx = new AudioContext();
  await ctx.resume();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 8192;
  ctx.createMediaStreamSource(stream).connect(analyser);
  window.spectrum = () => {
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    let peak = 0;
    for (let i = 1; i < bins.length; i++) if (bins[i] > bins[peak]) peak = i;
    const sorted = [...bins].filter(Number.isFinite).sort((a, b) => a - b);
    return { peakHz: (peak * ctx.sampleRate) / analyser.fftSize, peakDb: bins[peak], medianDb: sorted[sorted.length >> 1] ?? -Infinity, state: pc.connectionState };
  };
  return { codec: body.data.codec, port: body.data.targets[0].port, sdp: body.data.sdp };
};
`;

t.test('a browser talks with the simulated vehicle (PCMA, PCMU, ADPCM, G.726, captured G.711A), and hangs up by closing', async (t) => {
  const hooks = await webhookReceiver(t);
  const jt808Port = await freePort();
  const audioBase = await freePort();
  const app = await startAppliance({
    api: { tokens: [TOKEN] },
    jt808: { port: jt808Port, registration: 'open' },
    notify: { urls: { 'intercom.stopped': hooks.url } },
    jt1078: { intercom: { enabled: true, webrtcPort: await freePort(), publicIp: '127.0.0.1', audioPorts: `${audioBase}-${audioBase + 1}`, connectTimeout: 10 } },
  });
  t.teardown(async () => {
    app.process.kill('SIGTERM');
    await app.exited;
  });
  await waitFor(async () => (await fetch(`${app.api}/healthz`)).status === 200, 15_000, 'healthy');

  const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'camgate-chromium-')), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-audio-capture=${toneWav(10)}`,
      '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  t.teardown(() => context.close());

  const captured = capturePackets('audio_data.txt').packets.filter((p) => p.dataType === 3).map((p) => ({ payloadType: p.payloadType, body: Buffer.from(p.body) }));
  const g726 = readFileSync(`${capturesDir}in_32.g726`);
  const g726Frames = Array.from({ length: 500 }, (_, i) => ({ payloadType: 8, body: g726.subarray(i * 160, (i + 1) * 160) }));
  const cases: Array<{ name: string; codec: 'PCMA' | 'PCMU'; audioCodec: number; sim: string; capture?: Array<{ payloadType: number; body: Uint8Array }>; packetMs?: number }> = [
    { name: 'PCMA', codec: 'PCMA', audioCodec: 6, sim: '13800000081' },
    { name: 'PCMU', codec: 'PCMU', audioCodec: 7, sim: '13800000082' },
    { name: 'PCMA, the terminal sends the captured G.711A of audio_data.txt', codec: 'PCMA', audioCodec: 6, sim: '13800000083', capture: captured },
    { name: 'ADPCM terminal (IMA, HiSilicon prefix), PCMA in the browser', codec: 'PCMA', audioCodec: 26, sim: '13800000084' },
    { name: 'G.726 terminal sending in_32.g726, PCMA in the browser', codec: 'PCMA', audioCodec: 8, sim: '13800000085', capture: g726Frames, packetMs: 40 },
  ];
  for (const { name, codec, audioCodec, sim, capture, packetMs } of cases) {
    await t.test(name, async (t) => {
      const events: TerminalRunnerEvent[] = [];
      const terminals = await startTerminalSimulation({
        port: jt808Port,
        simBase: sim,
        capture: `${capturesDir}audio_data.txt`,
        terminal: { avAttributes: { audioCodec, audioChannels: 1, sampleRate: 0, sampleBits: 1, audioFrameLength: 320, audioOutput: 1, videoCodec: 98, maxAudioChannels: 1, maxVideoChannels: 1 } },
        talk: capture ? { packets: capture, packetMs: packetMs ?? 20, detect: 1000 } : { tone: 440, detect: 1000 },
        onEvent: (e) => events.push(e),
      });
      t.teardown(() => terminals.stop());
      await waitFor(async () => {
        const body = (await (await fetch(`${app.api}/vehicles/${sim}`, { headers: auth })).json()) as any;
        return body.data?.online === 1 && body.data?.av_attributes?.audioCodec === audioCodec;
      }, 10_000, 'vehicle online with its 0x1003');

      const page = await context.newPage();
      t.teardown(() => page.close());
      const logs: string[] = [];
      page.on('console', (m) => logs.push(m.text()));
      page.on('pageerror', (e) => logs.push(e.message));
      await page.goto(`${app.api}/healthz`); // same origin as the API: no CORS
      await page.addScriptTag({ content: PAGE_SCRIPT });
      const opened = (await page.evaluate(`window.intercom(${JSON.stringify(`${app.api}/vehicles/${sim}/channels/1/intercom`)}, ${JSON.stringify(TOKEN)})`)) as { codec: string; port: number; sdp: string };
      t.equal(opened.codec, codec, `negotiated ${codec}`);
      t.match(opened.sdp, new RegExp(`a=rtpmap:${codec === 'PCMA' ? 8 : 0} ${codec}/8000`));

      const talk = (await waitFor(async () => events.find((e) => e.type === 'talk-started'), 5000, 'the terminal\'s talk connection')) as { client: TalkClient };
      // Downlink: the fake microphone's 1 kHz, decoded by the terminal.
      const heard = await waitFor(async () => (talk.client.detector.ratio() > 0.6 ? talk.client.detector.ratio() : false), 15_000, `1 kHz at the terminal (ratio ${talk.client.detector.ratio().toFixed(3)}, ${talk.client.stats.packetsIn} packets; page: ${logs.join(' | ')})`);
      t.ok(heard > 0.6, `the terminal finds 1 kHz in what the browser sent (tone ratio ${heard.toFixed(3)}, ${talk.client.stats.packetsIn} packets, PT ${talk.client.received[0]?.payloadType})`);
      t.equal(talk.client.received[0]?.payloadType, audioCodec, 'JT/T 1078 packets in the terminal\'s codec');
      if (capture) {
        // A capture is not a tone: the page hears sound well above the noise floor.
        const sound = await waitFor(async () => {
          const s = (await page.evaluate('window.spectrum()')) as { peakHz: number; peakDb: number; medianDb: number; state: string };
          return s.peakDb > -80 && s.peakDb - s.medianDb > 30 ? s : false;
        }, 15_000, 'the page hears the captured audio');
        t.pass(`the page hears the captured audio: peak ${sound.peakHz.toFixed(0)} Hz at ${sound.peakDb.toFixed(1)} dB, median ${sound.medianDb.toFixed(1)} dB`);
        await page.evaluate('window.pc.close()');
        return;
      }
      // Uplink: the terminal's 440 Hz, found by the page's analyser.
      const spectrum = await waitFor(async () => {
        const s = (await page.evaluate('window.spectrum()')) as { peakHz: number; peakDb: number; medianDb: number; state: string };
        return Math.abs(s.peakHz - 440) < 12 && s.peakDb - s.medianDb > 20 ? s : false;
      }, 15_000, 'the page hears 440 Hz');
      t.pass(`the page finds 440 Hz: peak ${spectrum.peakHz.toFixed(1)} Hz at ${spectrum.peakDb.toFixed(1)} dB, median ${spectrum.medianDb.toFixed(1)} dB`);

      // Hang-up by the browser: the page closes its PeerConnection.
      const closedAt = Date.now();
      await page.evaluate('window.pc.close()');
      const stopped = await waitFor(async () => hooks.events.find((e) => e.method === 'intercom.stopped' && e.data.vehicle === sim), 15_000, 'intercom.stopped after the browser closed');
      t.match(stopped.data, { codec, channel: 1, reason: /browser/ }, `ended ${Date.now() - closedAt} ms after close: ${stopped.data.reason}`);
      const close = await waitFor(async () => events.find((e) => e.type === 'action' && e.action.type === 'close-stream'), 5000, '0x9102 at the terminal');
      t.match(close, { action: { command: 4, channel: 1 } }, '0x9102 command 4');
      await waitFor(async () => /camgate_intercom_ports\{state="in_use"\} 0/.test(await (await fetch(`${app.api}/metrics`, { headers: auth })).text()), 5000, 'port back in the pool');
    });
  }
});
