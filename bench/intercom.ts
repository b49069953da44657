/**
 * Intercom at scale (issue 13): N simultaneous two-way sessions through the built
 * appliance. The browser side is simulated with werift in this process (one
 * PeerConnection per session, sending 20 ms PCMA packets); the terminal side is N talk
 * connections (TalkClient) to the audio ports, each sending 20 ms PCMA packets back. The
 * sessions are opened with the m7s request (the terminals are already on their ports, as
 * after the application's 0x9101).
 *
 * Figures:
 * - the appliance's CPU per two-way session (whole process tree, its idle CPU with the
 *   intercom enabled and no session subtracted), in % of one core;
 * - latency each way, measured from this process: a send time stamped into each payload,
 *   read where it arrives (browser → terminal: werift SRTP out, camgate, JT/T 1078 in;
 *   terminal → browser: JT/T 1078 out, camgate, SRTP in). It includes werift's and the
 *   talk client's own work in this process, so it bounds what camgate adds from above;
 * - packets sent and received each way, and camgate's drop counters.
 *
 *   npm run bench:intercom                        (100 sessions, 30 s window)
 *   npm run bench:intercom -- --sessions 20 --window 10
 *   npm run bench:intercom -- --quick             (20 sessions, 10 s)
 *
 * A benchmark, not a test: it prints figures, writes bench/results/intercom-*.json, and asserts nothing.
 */
import { performance } from 'node:perf_hooks';
import { encodeG711 } from '../src/protocol/audio/g711.js';
import { sineSamples, TalkClient, WebrtcPeer } from '../src/tools/sim/index.js';
import { freePort, percentile, quick, startAppliance, table, treeCpuSeconds, writeResult } from './lib.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const sessions = arg('sessions', quick ? 20 : 100);
const windowS = arg('window', quick ? 10 : 30);
const SIM_BASE = 13_600_000_000;
const TONE = encodeG711(sineSamples(1000, 8000, 160), 'alaw');

/** A payload: the tone with the send time (performance.now(), ms) in its first 8 bytes. */
function stamped(): Buffer {
  const body = Buffer.from(TONE);
  body.writeDoubleBE(performance.now(), 0);
  return body;
}

async function metric(api: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${api}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(pattern.source, 'gm'))) sum += Number(m[1]);
  return sum;
}

async function main(): Promise<void> {
  const audioBase = 20_000 + Math.floor(Math.random() * 20_000);
  const app = await startAppliance({
    jt1078: { intercom: { enabled: true, webrtcPort: await freePort(), audioPorts: `${audioBase}-${audioBase + sessions - 1}`, connectTimeout: 60 } },
    media: { workers: 1 },
  });
  const pid = app.process.pid!;
  const idleWindow = Math.min(windowS, 10);
  await new Promise((r) => setTimeout(r, 2000));
  const idle0 = treeCpuSeconds(pid);
  await new Promise((r) => setTimeout(r, idleWindow * 1000));
  const idleCpuPerS = (treeCpuSeconds(pid) - idle0) / idleWindow;

  const down: number[] = [];
  const up: number[] = [];
  let measuring = false;
  /** Arrivals are counted a little past the window, so packets in flight are not called lost. */
  let counting = false;
  const pairs: Array<{ peer: WebrtcPeer; terminal: TalkClient; timer: NodeJS.Timeout | null; sentDown: number; sentUp: number; gotDown: number; gotUp: number }> = [];
  const openStart = performance.now();
  for (let i = 0; i < sessions; i++) {
    const sim = String(SIM_BASE + i);
    const terminal = new TalkClient({ host: '127.0.0.1', port: audioBase + i, sim, channel: 1, payloadType: 6 });
    await terminal.connect();
    const peer = new WebrtcPeer({ codecs: ['PCMA'] });
    const pair = { peer, terminal, timer: null as NodeJS.Timeout | null, sentDown: 0, sentUp: 0, gotDown: 0, gotUp: 0 };
    terminal.onPacket = (p) => {
      if (!counting) return;
      pair.gotDown++;
      down.push(performance.now() - Buffer.from(p.body).readDoubleBE(0));
    };
    peer.onRtp = (r) => {
      if (!counting) return;
      pair.gotUp++;
      up.push(performance.now() - r.payload.readDoubleBE(0));
    };
    const res = await fetch(`${app.api}/jt1078/api/v1/intercom`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sdp: await peer.offer(), type: 'offer', group: [{ sim, channel: 1, audioPort: audioBase + i }], enterAudioEncoding: 6 }),
    });
    const answer = (await res.json()) as { sdp?: string };
    if (res.status !== 200 || !answer.sdp) throw new Error(`session ${i}: ${res.status} ${JSON.stringify(answer)}`);
    await peer.answer(answer.sdp);
    pairs.push(pair);
  }
  await Promise.all(pairs.map((p) => p.peer.connected(60_000)));
  const openMs = performance.now() - openStart;

  // Both ways, every 20 ms per session, the sessions spread over the 20 ms period.
  pairs.forEach((pair, i) => {
    setTimeout(() => {
      pair.timer = setInterval(() => {
        if (!measuring) return;
        pair.sentDown++;
        pair.peer.sendPayload(stamped());
        pair.sentUp++;
        pair.terminal.sendAudio(stamped());
      }, 20);
    }, (i * 20) / sessions);
  });
  await new Promise((r) => setTimeout(r, 1000));
  const drops0 = await metric(app.api, /^camgate_intercom_dropped_packets_total\{[^}]*\} (\d+)/);
  const cpu0 = treeCpuSeconds(pid);
  measuring = counting = true;
  await new Promise((r) => setTimeout(r, windowS * 1000));
  measuring = false;
  const cpuS = treeCpuSeconds(pid) - cpu0;
  await new Promise((r) => setTimeout(r, 500)); // packets in flight
  counting = false;
  const drops = (await metric(app.api, /^camgate_intercom_dropped_packets_total\{[^}]*\} (\d+)/)) - drops0;
  for (const pair of pairs) if (pair.timer) clearInterval(pair.timer);

  const sentDown = pairs.reduce((n, p) => n + p.sentDown, 0);
  const sentUp = pairs.reduce((n, p) => n + p.sentUp, 0);
  const gotDown = pairs.reduce((n, p) => n + p.gotDown, 0);
  const gotUp = pairs.reduce((n, p) => n + p.gotUp, 0);
  const corePerSession = ((cpuS / windowS - idleCpuPerS) / sessions) * 100;
  const rows = [
    { direction: 'browser → terminal', sent: sentDown, received: gotDown, lost: sentDown - gotDown, p50: down.length ? percentile(down, 50).toFixed(2) : '-', p99: down.length ? percentile(down, 99).toFixed(2) : '-', max: down.length ? Math.max(...down).toFixed(2) : '-' },
    { direction: 'terminal → browser', sent: sentUp, received: gotUp, lost: sentUp - gotUp, p50: up.length ? percentile(up, 50).toFixed(2) : '-', p99: up.length ? percentile(up, 99).toFixed(2) : '-', max: up.length ? Math.max(...up).toFixed(2) : '-' },
  ];
  console.log(`\nintercom: ${sessions} two-way PCMA sessions, ${windowS} s window, opened and connected in ${(openMs / 1000).toFixed(1)} s`);
  console.log(table(rows));
  console.log(`latency in ms (send stamp → arrival, both peers in this process)`);
  console.log(`appliance CPU: ${((cpuS / windowS) * 100).toFixed(1)} % of a core in all, idle ${(idleCpuPerS * 100).toFixed(1)} %; per two-way session ${corePerSession.toFixed(3)} % of a core`);
  console.log(`camgate drop counters over the window: ${drops}`);
  const file = writeResult('intercom', { sessions, windowS, openMs, idleCpuPerS, cpuS, corePerSession, drops, rows });
  console.log(`written ${file}`);
  await Promise.all(pairs.map(async (p) => {
    await p.peer.close();
    await p.terminal.close();
  }));
  await app.stop();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
