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
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { encodeG711 } from '../src/protocol/audio/g711.js';
import { sineSamples, TalkClient, WebrtcPeer } from '../src/tools/sim/index.js';
import { measureIntercomFloor, type IntercomFloorResult } from './intercom-floor.js';
import { freePort, percentile, quick, startAppliance, table, treeCpuSeconds, writeResult } from './lib.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const sessions = arg('sessions', quick ? 20 : 100);
const windowS = arg('window', quick ? 10 : 30);
/** Sessions per client process. */
const perProcess = arg('per-process', 25);
const SIM_BASE = 13_600_000_000;
const TONE = encodeG711(sineSamples(1000, 8000, 160), 'alaw');

/** A payload: the tone with the send time (performance.now(), ms) in its first 8 bytes and byte 8 set when sent inside the window. */
function stamped(inWindow: boolean): Buffer {
  const body = Buffer.from(TONE);
  body.writeDoubleBE(performance.now(), 0);
  body[8] = inWindow ? 1 : 0;
  return body;
}

async function metric(api: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${api}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(pattern.source, 'gm'))) sum += Number(m[1]);
  return sum;
}

interface ClientResult {
  /** Sessions that did not connect, with the reason. */
  failed: string[];
  sentDown: number;
  sentUp: number;
  gotDown: number;
  gotUp: number;
  down: number[];
  up: number[];
}

type ToClient = { type: 'open'; api: string; audioBase: number; from: number; count: number } | { type: 'start' } | { type: 'stop' };
type FromClient = { type: 'ready'; openMs: number } | { type: 'result'; result: ClientResult } | { type: 'error'; message: string };

/**
 * One client process: `count` sessions, both peers of each in this process (so one clock
 * stamps and reads). Several run side by side so the simulated browsers and terminals
 * are not what limits the figures.
 */
async function client(): Promise<void> {
  process.on('disconnect', () => process.exit(0)); // the bench ended or died: so do we
  const send = (m: FromClient) => {
    if (process.connected) process.send!(m);
  };
  const pairs: Array<{ peer: WebrtcPeer; terminal: TalkClient; timer: NodeJS.Timeout | null }> = [];
  const result: ClientResult = { sentDown: 0, sentUp: 0, gotDown: 0, gotUp: 0, down: [], up: [], failed: [] };
  const failed = result.failed;
  let measuring = false;
  let counting = false;
  process.on('message', async (m: ToClient) => {
    try {
      if (m.type === 'open') {
        const started = performance.now();
        for (let i = m.from; i < m.from + m.count; i++) {
          const sim = String(SIM_BASE + i);
          const terminal = new TalkClient({ host: '127.0.0.1', port: m.audioBase + i, sim, channel: 1, payloadType: 6 });
          await terminal.connect();
          const peer = new WebrtcPeer({ codecs: ['PCMA'] });
          terminal.onPacket = (p) => {
            if (!counting || p.body[8] !== 1) return;
            result.gotDown++;
            result.down.push(performance.now() - Buffer.from(p.body).readDoubleBE(0));
          };
          peer.onRtp = (r) => {
            if (!counting || r.payload[8] !== 1) return;
            result.gotUp++;
            result.up.push(performance.now() - r.payload.readDoubleBE(0));
          };
          const res = await fetch(`${m.api}/jt1078/api/v1/intercom`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ sdp: await peer.offer(), type: 'offer', group: [{ sim, channel: 1, audioPort: m.audioBase + i }], enterAudioEncoding: 6 }),
          });
          const answer = (await res.json()) as { sdp?: string };
          if (res.status !== 200 || !answer.sdp) throw new Error(`session ${i}: ${res.status} ${JSON.stringify(answer)}`);
          await peer.answer(answer.sdp);
          try {
            await peer.connected(60_000);
          } catch (error) {
            // Reported, not fatal: the figures are for the sessions that connected.
            failed.push(`session ${i}: ${(error as Error).message}`);
            await peer.close();
            await terminal.close();
            continue;
          }
          // Audio both ways from the moment it is connected (a session with nothing to say
          // would look gone); counted only inside the window.
          const pair = { peer, terminal, timer: null as NodeJS.Timeout | null };
          pair.timer = setInterval(() => {
            if (measuring) result.sentDown++;
            peer.sendPayload(stamped(measuring));
            if (measuring) result.sentUp++;
            terminal.sendAudio(stamped(measuring));
          }, 20);
          pairs.push(pair);
          await new Promise((r) => setTimeout(r, (i * 7) % 20)); // spread the sessions over the 20 ms period
        }
        send({ type: 'ready', openMs: performance.now() - started });
      } else if (m.type === 'start') {
        measuring = counting = true;
      } else if (m.type === 'stop') {
        measuring = false;
        await new Promise((r) => setTimeout(r, 500)); // packets in flight
        counting = false;
        for (const pair of pairs) if (pair.timer) clearInterval(pair.timer);
        send({ type: 'result', result });
        // The bench kills this process once it has the result (a large message may still be in flight now).
      }
    } catch (error) {
      send({ type: 'error', message: (error as Error).message });
    }
  });
}

async function main(): Promise<void> {
  // Below the ephemeral range (where freePort finds the API port) and below media.rtpPorts.
  const audioBase = 22_000 + Math.floor(Math.random() * 7_000);
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

  const processes = Math.max(1, Math.ceil(sessions / perProcess));
  const children = Array.from({ length: processes }, () => fork(fileURLToPath(import.meta.url), ['--client'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  let measured: Measured;
  try {
    measured = await run(app, pid, idleCpuPerS, children, processes, audioBase);
  } finally {
    // Never leave an appliance or a client behind, whatever failed.
    for (const child of children) if (child.exitCode === null) child.kill();
    await app.stop();
  }
  // The same load on a bare Node relay, after the appliance and the browsers are gone (they would compete for the cores).
  const floor = await measureIntercomFloor(sessions, windowS);
  report(measured, floor);
}

async function run(app: Awaited<ReturnType<typeof startAppliance>>, pid: number, idleCpuPerS: number, children: ChildProcess[], processes: number, audioBase: number): Promise<Measured> {
  const next = (child: ChildProcess, type: FromClient['type']) =>
    new Promise<FromClient>((resolve, reject) => {
      const on = (m: FromClient) => {
        if (m.type === 'error') reject(new Error(m.message));
        else if (m.type === type) {
          child.off('message', on);
          resolve(m);
        }
      };
      child.on('message', on);
      child.once('exit', (code) => reject(new Error(`client process exited (${code}) while waiting for ${type}`)));
    });
  const openStart = performance.now();
  await Promise.all(children.map((child, k) => {
    const from = Math.floor((k * sessions) / processes);
    const to = Math.floor(((k + 1) * sessions) / processes);
    const ready = next(child, 'ready');
    child.send({ type: 'open', api: app.api, audioBase, from, count: to - from } satisfies ToClient);
    return ready;
  }));
  const openMs = performance.now() - openStart;
  await new Promise((r) => setTimeout(r, 1000));
  const drops0 = await metric(app.api, /^camgate_intercom_dropped_packets_total\{[^}]*\} (\d+)/);
  const inside = async () => ({
    downS: await metric(app.api, /^camgate_intercom_processing_seconds_total\{direction="down"\} ([0-9.e+-]+)/),
    upS: await metric(app.api, /^camgate_intercom_processing_seconds_total\{direction="up"\} ([0-9.e+-]+)/),
    down: await metric(app.api, /^camgate_intercom_packets_total\{direction="down"\} (\d+)/),
    up: await metric(app.api, /^camgate_intercom_packets_total\{direction="up"\} (\d+)/),
  });
  const inside0 = await inside();
  const cpu0 = treeCpuSeconds(pid);
  for (const child of children) child.send({ type: 'start' } satisfies ToClient);
  await new Promise((r) => setTimeout(r, windowS * 1000));
  const cpuS = treeCpuSeconds(pid) - cpu0;
  const results = await Promise.all(children.map((child) => {
    const done = next(child, 'result');
    child.send({ type: 'stop' } satisfies ToClient);
    return done;
  }));
  const drops = (await metric(app.api, /^camgate_intercom_dropped_packets_total\{[^}]*\} (\d+)/)) - drops0;
  const inside1 = await inside();
  // camgate's own share: arrival of a packet to its write the other way, from its counters.
  const insideDownUs = ((inside1.downS - inside0.downS) / Math.max(1, inside1.down - inside0.down)) * 1e6;
  const insideUpUs = ((inside1.upS - inside0.upS) / Math.max(1, inside1.up - inside0.up)) * 1e6;
  const all = results.map((r) => (r as Extract<FromClient, { type: 'result' }>).result);
  const sum = (key: 'sentDown' | 'sentUp' | 'gotDown' | 'gotUp') => all.reduce((n, r) => n + r[key], 0);
  const failedSessions = all.flatMap((r) => r.failed);
  const down = all.flatMap((r) => r.down);
  const up = all.flatMap((r) => r.up);
  const packetsPerS = (sum('gotDown') + sum('gotUp')) / windowS;
  const cpuPerPacketUs = ((cpuS / windowS - idleCpuPerS) / packetsPerS) * 1e6;
  const connected = sessions - failedSessions.length;
  const corePerSession = ((cpuS / windowS - idleCpuPerS) / connected) * 100;
  // What one session would cost at its full rate (50 packets a second each way), from the cost per packet.
  const corePerFullSession = (cpuPerPacketUs * 100) / 1e6 * 100;
  const row = (direction: string, sent: number, got: number, lat: number[]) => ({
    direction,
    sent,
    received: got,
    lost: sent - got,
    'p50 ms': lat.length ? percentile(lat, 50).toFixed(2) : '-',
    'p99 ms': lat.length ? percentile(lat, 99).toFixed(2) : '-',
    'max ms': lat.length ? lat.reduce((a, b) => (b > a ? b : a), -Infinity).toFixed(2) : '-',
  });
  const rows = [row('browser → terminal', sum('sentDown'), sum('gotDown'), down), row('terminal → browser', sum('sentUp'), sum('gotUp'), up)];
  return {
    processes, openMs, rows, connected, failedSessions, nominal: connected * 50 * windowS, sentDown: sum('sentDown'),
    camgateDown: inside1.down - inside0.down, camgateUp: inside1.up - inside0.up, insideDownUs, insideUpUs,
    cpuS, idleCpuPerS, cpuPerPacketUs, corePerSession, corePerFullSession, drops,
  };
}

interface Measured {
  processes: number;
  openMs: number;
  rows: Array<Record<string, string | number>>;
  connected: number;
  failedSessions: string[];
  /** Packets each way at 50 a second per connected session. */
  nominal: number;
  sentDown: number;
  camgateDown: number;
  camgateUp: number;
  insideDownUs: number;
  insideUpUs: number;
  cpuS: number;
  idleCpuPerS: number;
  cpuPerPacketUs: number;
  corePerSession: number;
  corePerFullSession: number;
  drops: number;
}

function report(m: Measured, floor: IntercomFloorResult): void {
  console.log(`\nintercom: ${sessions} two-way PCMA sessions in ${m.processes} client processes, ${windowS} s window, opened and connected in ${(m.openMs / 1000).toFixed(1)} s`);
  console.log(table(m.rows));
  if (m.failedSessions.length) console.log(`${m.failedSessions.length} of ${sessions} sessions did not connect: ${m.failedSessions.slice(0, 5).join('; ')}`);
  console.log(`packets sent each way: ${((m.sentDown / m.nominal) * 100).toFixed(0)} % of the nominal ${m.nominal} (50 a second per session); latency = send stamp → arrival, both ends in the client process`);
  console.log(`camgate's own packet counters over the window: ${m.camgateDown} written to terminals, ${m.camgateUp} sent to browsers (localises a loss: before or after camgate)`);
  console.log(`inside camgate (arrival → write the other way, its own counters): ${m.insideDownUs.toFixed(0)} µs browser → terminal, ${m.insideUpUs.toFixed(0)} µs terminal → browser, mean`);
  console.log(`appliance CPU: ${((m.cpuS / windowS) * 100).toFixed(1)} % of a core in all, idle ${(m.idleCpuPerS * 100).toFixed(1)} %; ${m.cpuPerPacketUs.toFixed(1)} µs per packet`);
  console.log(`per two-way session: ${m.corePerSession.toFixed(3)} % of a core as measured, ${m.corePerFullSession.toFixed(3)} % at the full 50 + 50 packets a second (target ≤ 0.3 %)`);
  console.log(`bare Node relay, same load (UDP in → TCP out and back, nothing else): ${floor.cpuPerPacketUs.toFixed(1)} µs per packet (${floor.packets} in ${windowS} s), ${floor.corePerFullSession.toFixed(3)} % of a core per full session; camgate / bare = ${floor.cpuPerPacketUs > 0 ? (m.cpuPerPacketUs / floor.cpuPerPacketUs).toFixed(2) : 'n/a'}× the CPU per packet`);
  console.log(`camgate drop counters over the window: ${m.drops}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const file = writeResult('intercom', { sessions, windowS, ...m, floor, loadavg: os.loadavg() });
  console.log(`written ${file}`);
}

(process.argv.includes('--client') ? client() : main()).then(
  () => {
    if (!process.argv.includes('--client')) process.exit(0);
  },
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
