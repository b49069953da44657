/**
 * bench:flood — a REGISTER flood against the compiled appliance (issue 11, items 4/5/9).
 *
 * Legitimate load: `--rate` REGISTERs/s (default 50) from devices with the right
 * password on 127.0.0.1, each a full challenge + digest exchange, timed. Flood: 10× that
 * from 127.0.0.2–127.0.0.254 (a distributed attacker): half are REGISTERs without
 * credentials for made-up IDs (each would cost a nonce), half carry a digest with a
 * wrong password. Runs `--seconds` (default 60; the issue's full run is 600).
 *
 * Prints the supervisor process's RSS and the SIP thread's heap before, at the peak
 * and after, the legitimate devices' registration times and how the flood was answered.
 * `--gc` collects garbage before every heap figure (node --expose-gc), to tell a leak from
 * garbage V8 has not collected yet.
 */
import { readFileSync } from 'node:fs';
import { createSocket, type Socket } from 'node:dgram';
import { buildAuthorization, parseChallenge, parseMessage } from '../src/protocol/sip/index.js';
import { percentile, startAppliance, table, writeResult } from './lib.js';

const DOMAIN = '3402000000';
const SERVER = '34020000002000000001';
const PASSWORD = '12345678';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const seconds = arg('seconds', 60);
// --gc: each heap figure is taken right after a full collection (live memory, not garbage);
// the collections cost the SIP thread CPU, so leave it off when timing matters.
if (process.argv.includes('--gc')) process.env.CAMGATE_GC_BEFORE_PING = '1';
const legitRate = arg('rate', 50);
const floodRate = legitRate * 10;

function rssBytes(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096;
}

/** The SIP thread's V8 heap in use, from /healthz (its ping answer). */
async function sipHeap(api: string): Promise<number> {
  const body = (await (await fetch(`${api}/healthz`)).json()) as { parts?: Record<string, any> };
  const sip = body.parts?.sip;
  return Number(sip?.heapUsed ?? sip?.detail?.heapUsed ?? NaN);
}

function register(opts: { id: string; port: number; cseq: number; callId: string; branch: string; authorization?: string }): Buffer {
  return Buffer.from(
    [
      `REGISTER sip:${SERVER}@${DOMAIN} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${opts.port};rport;branch=z9hG4bK${opts.branch}`,
      `From: <sip:${opts.id}@${DOMAIN}>;tag=${opts.branch}`,
      `To: <sip:${opts.id}@${DOMAIN}>`,
      `Call-ID: ${opts.callId}`,
      `CSeq: ${opts.cseq} REGISTER`,
      `Contact: <sip:${opts.id}@127.0.0.1:${opts.port}>`,
      'Max-Forwards: 70',
      'Expires: 3600',
      ...(opts.authorization ? [`Authorization: ${opts.authorization}`] : []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

async function bind(address: string): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.bind(0, address, r));
  return socket;
}

let sequence = 0;

/** One legitimate registration (challenge, then digest); resolves with ms or NaN on failure. */
async function legitRegister(socket: Socket, sipPort: number, id: string): Promise<{ ms: number; status: number }> {
  const port = socket.address().port;
  const callId = `legit-${++sequence}`;
  const t0 = performance.now();
  const exchange = (bytes: Buffer) =>
    new Promise<{ status: number; challenge?: string }>((resolve) => {
      const timer = setTimeout(() => {
        socket.off('message', onMessage);
        resolve({ status: 408 });
      }, 8000);
      const onMessage = (data: Buffer) => {
        const parsed = parseMessage(data);
        if (!parsed.ok || parsed.message.kind !== 'response' || parsed.message.headers.get('call-id') !== callId) return;
        if (parsed.message.status < 200) return;
        clearTimeout(timer);
        socket.off('message', onMessage);
        const challenge = parsed.message.headers.get('www-authenticate');
        resolve({ status: parsed.message.status, ...(challenge ? { challenge } : {}) });
      };
      socket.on('message', onMessage);
      socket.send(bytes, sipPort, '127.0.0.1');
    });
  const first = await exchange(register({ id, port, cseq: 1, callId, branch: `l${sequence}a` }));
  if (first.status !== 401 || !first.challenge) return { ms: NaN, status: first.status };
  const challenge = parseChallenge(first.challenge)!;
  const authorization = buildAuthorization({ challenge, username: id, password: PASSWORD, method: 'REGISTER', uri: `sip:${SERVER}@${DOMAIN}` })!;
  const second = await exchange(register({ id, port, cseq: 2, callId, branch: `l${sequence}b`, authorization }));
  return { ms: second.status === 200 ? performance.now() - t0 : NaN, status: second.status };
}

async function main(): Promise<void> {
  const app = await startAppliance({ sip: { id: SERVER, domain: DOMAIN, password: PASSWORD, transports: ['udp'] }, gb28181: { registration: 'open', catalogInterval: 0 } });
  const pid = app.process.pid!;
  await new Promise((r) => setTimeout(r, 2000));
  const before = { rss: rssBytes(pid), heap: await sipHeap(app.api) };
  let peak = { ...before };

  const attackers = await Promise.all(Array.from({ length: 253 }, (_, i) => bind(`127.0.0.${i + 2}`)));
  const answers = new Map<string, number>();
  for (const s of attackers) {
    s.on('message', (data) => {
      const line = data.toString('latin1', 0, Math.min(data.length, 16));
      const status = line.slice(8, 11);
      answers.set(status, (answers.get(status) ?? 0) + 1);
    });
  }
  const legitSockets = await Promise.all(Array.from({ length: 16 }, () => bind('127.0.0.1')));
  const times: number[] = [];
  const failures = new Map<number, number>();
  const until = Date.now() + seconds * 1000;
  let sent = 0;

  // Flood: in 10 ms slices, floodRate/100 messages per slice, round-robin over the addresses.
  const flood = (async () => {
    let n = 0;
    while (Date.now() < until) {
      const slice = Date.now();
      for (let i = 0; i < floodRate / 100; i++) {
        const socket = attackers[n % attackers.length]!;
        const id = `3402000000132${String(n % 10_000_000).padStart(7, '0')}`;
        const wrongPassword = n % 2 === 1;
        const authorization = wrongPassword
          ? `Digest username="${id}", realm="${DOMAIN}", nonce="${n.toString(16)}", uri="sip:${SERVER}@${DOMAIN}", response="${'0'.repeat(32)}", algorithm=MD5`
          : undefined;
        socket.send(register({ id, port: socket.address().port, cseq: 1, callId: `flood-${n}`, branch: `f${n}`, ...(authorization ? { authorization } : {}) }), app.sipPort, '127.0.0.1');
        n++;
        sent++;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 10 - (Date.now() - slice))));
    }
  })();

  // Legitimate load: legitRate registrations/s, each timed.
  const legit = (async () => {
    const pending: Promise<void>[] = [];
    let n = 0;
    while (Date.now() < until) {
      const socket = legitSockets[n % legitSockets.length]!;
      const id = `3402000000132${String(9_000_000 + (n % 1000)).padStart(7, '0')}`;
      n++;
      pending.push(
        legitRegister(socket, app.sipPort, id).then(({ ms, status }) => {
          if (Number.isFinite(ms)) times.push(ms);
          else failures.set(status, (failures.get(status) ?? 0) + 1);
        }),
      );
      await new Promise((r) => setTimeout(r, 1000 / legitRate));
    }
    await Promise.all(pending);
  })();

  // Every 30 s a point of the series: a plateau is bounded state (transactions live 32 s,
  // nonces and tracked addresses are capped); a line that keeps rising is a leak.
  const series: Array<{ s: number; rss: number; heap: number }> = [];
  const startedAt = Date.now();
  let ticks = 0;
  const sampler = setInterval(async () => {
    const now = { rss: rssBytes(pid), heap: await sipHeap(app.api).catch(() => NaN) };
    peak = { rss: Math.max(peak.rss, now.rss), heap: Math.max(peak.heap, now.heap || 0) };
    if (++ticks % 30 === 0) series.push({ s: Math.round((Date.now() - startedAt) / 1000), ...now });
  }, 1000);
  await Promise.all([flood, legit]);
  clearInterval(sampler);
  await new Promise((r) => setTimeout(r, 5000));
  const after = { rss: rssBytes(pid), heap: await sipHeap(app.api) };
  // Once every transaction of the flood has ended (Timer J, 32 s) the state left is what is kept.
  await new Promise((r) => setTimeout(r, 40_000));
  const settled = { rss: rssBytes(pid), heap: await sipHeap(app.api) };
  const metrics = await (await fetch(`${app.api}/metrics`)).text();
  const auth = Object.fromEntries([...metrics.matchAll(/camgate_sip_auth_total\{result="([^"]+)"\} (\d+)/g)].map((m) => [m[1], Number(m[2])]));
  for (const s of [...attackers, ...legitSockets]) s.close();
  await app.stop();

  const mib = (b: number) => (b / 1048576).toFixed(1);
  console.log(
    table([
      { what: 'supervisor RSS MiB', before: mib(before.rss), peak: mib(peak.rss), after: mib(after.rss), 'after 45 s': mib(settled.rss) },
      { what: 'SIP thread heap MiB', before: mib(before.heap), peak: mib(peak.heap), after: mib(after.heap), 'after 45 s': mib(settled.heap) },
    ]),
  );
  console.log(`\nevery 30 s (s: RSS MiB / SIP heap MiB): ${series.map((p) => `${p.s}: ${mib(p.rss)} / ${mib(p.heap)}`).join(', ')}`);
  console.log(
    `\nlegitimate: ${times.length} registered, ${[...failures].map(([s, n]) => `${n}× ${s}`).join(', ') || 'no failures'}; ` +
      `registration ms p50 ${percentile(times, 50).toFixed(1)}, p99 ${percentile(times, 99).toFixed(1)}, max ${times.reduce((a, b) => (b > a ? b : a), -Infinity).toFixed(1)}`,
  );
  console.log(`flood: ${sent} REGISTERs at ${floodRate}/s over ${seconds} s; answers ${JSON.stringify(Object.fromEntries(answers))}; auth counters ${JSON.stringify(auth)}`);
  const file = writeResult('flood', {
    seconds,
    legitRate,
    floodRate,
    rssBytes: { before: before.rss, peak: peak.rss, after: after.rss, settled: settled.rss },
    sipHeapBytes: { before: before.heap, peak: peak.heap, after: after.heap, settled: settled.heap },
    series,
    legit: { registered: times.length, failures: Object.fromEntries(failures), ms: { p50: percentile(times, 50), p99: percentile(times, 99), max: times.reduce((a, b) => (b > a ? b : a), -Infinity) } },
    flood: { sent, answers: Object.fromEntries(answers), auth },
  });
  console.log(`\nresult: ${file}`);
}

await main();
