/**
 * bench:sip — sipp devices register (with digest) and keep alive against the
 * compiled appliance at rising rates. Prints REGISTER transactions/s, keepalives/s,
 * the appliance's CPU seconds per 1,000 transactions, failed calls, and GET /devices
 * p99 latency measured during the storm. `--quick` runs smaller steps.
 *
 * `--vs-kamailio` runs the same sipp scenario at the same rates against Kamailio (the
 * Debian `kamailio` and `kamailio-sqlite-modules` packages; nothing is installed at run
 * time) configured by bench/kamailio/registrar.cfg: stateful, MD5 digest against a
 * SQLite `subscriber` table of the same 10,000 devices. Both get a fresh instance per
 * step, and the table prints transactions per CPU-second of each and their ratio.
 *
 * `--rates 6000,8000,10000` runs those rates (10,000 devices each) instead of the steps.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { percentile, quick, repoRoot, scalingLine, startAppliance, table, treeCpuSeconds, treeRssBytes, writeResult, freePort } from './lib.js';

interface Step {
  devices: number;
  rate: number;
}

const vsKamailio = process.argv.includes('--vs-kamailio');

/** `--rates 6000,8000,10000`: these rates instead of the default steps, 10,000 devices each (the highest rate with 0 failures). */
const ratesArg = process.argv.indexOf('--rates');
const chosenRates = ratesArg >= 0 ? (process.argv[ratesArg + 1] ?? '').split(',').map(Number).filter((r) => r > 0) : [];

const steps: Step[] = chosenRates.length > 0
  ? chosenRates.map((rate) => ({ devices: 10000, rate }))
  : quick
  ? [
      { devices: 1000, rate: 250 },
      { devices: 2000, rate: 500 },
    ]
  : vsKamailio
    ? [
        { devices: 10000, rate: 1000 },
        { devices: 10000, rate: 2000 },
        { devices: 10000, rate: 4000 },
      ]
    : [
        { devices: 2000, rate: 250 },
        { devices: 5000, rate: 500 },
        { devices: 10000, rate: 1000 },
      ];

const KEEPALIVES_PER_DEVICE = 1;
const DEVICE_PASSWORD = '12345678';

function runSipp(args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('sipp', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

function count(output: string, label: string): number {
  const m = new RegExp(`${label}\\s+\\|\\s+\\d+\\s+\\|\\s+(\\d+)`).exec(output);
  return m ? Number(m[1]) : NaN;
}

/** A registrar under test: where sipp sends, whose process tree is measured. */
interface Target {
  name: string;
  sipPort: number;
  pid: number;
  /** Polled during the storm (camgate's GET /devices); none for Kamailio. */
  probe?: () => Promise<void>;
  stop(): Promise<void>;
}

async function startCamgate(): Promise<Target> {
  const app = await startAppliance({
    // sipp sends every device from one address: lift the per-address challenge bucket
    // (flood protection, issue 11) that would otherwise answer 503 past 1,000 devices.
    sip: { id: '34020000002000000001', domain: '3402000000', limits: { challengesPerSecond: 1_000_000, challengeBurst: 1_000_000 } },
    gb28181: { registration: 'open', catalogInterval: 0 },
  });
  return {
    name: 'camgate',
    sipPort: app.sipPort,
    pid: app.process.pid!,
    probe: () => fetch(`${app.api}/devices?limit=20`).then((r) => void r.arrayBuffer()),
    stop: () => app.stop(),
  };
}

function kamailioPresent(): boolean {
  return spawnSync('kamailio', ['-v'], { stdio: 'ignore' }).status === 0;
}

/** The credentials table Kamailio's auth_db reads: the devices of devices_printf.csv. */
function kamailioDatabase(dir: string, devices: number): string {
  const file = join(dir, 'kamailio.db');
  const db = new Database(file);
  db.exec(`CREATE TABLE version (table_name VARCHAR(32) PRIMARY KEY, table_version INTEGER);
    INSERT INTO version VALUES ('subscriber', 7);
    CREATE TABLE subscriber (id INTEGER PRIMARY KEY, username VARCHAR(64), domain VARCHAR(64),
      password VARCHAR(64), ha1 VARCHAR(128), ha1b VARCHAR(128));
    CREATE UNIQUE INDEX account_idx ON subscriber (username, domain);
    CREATE INDEX username_idx ON subscriber (username);`);
  const insert = db.prepare("INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES (?, '3402000000', ?, '', '')");
  db.transaction(() => {
    for (let n = 1; n <= devices; n++) insert.run(`3402000000132${String(n).padStart(7, '0')}`, DEVICE_PASSWORD);
  })();
  db.close();
  return file;
}

async function startKamailio(dir: string): Promise<Target> {
  const sipPort = await freePort();
  const cfg = join(dir, 'registrar.cfg');
  const db = kamailioDatabase(mkdtempSync(join(dir, 'kdb-')), 10000);
  writeFileSync(cfg, readFileSync(join(repoRoot, 'bench/kamailio/registrar.cfg'), 'utf8').replaceAll('@DB_URL@', `sqlite:///${db}`));
  const child: ChildProcess = spawn(
    'kamailio',
    ['-f', cfg, '-DD', '-E', '-l', `udp:127.0.0.1:${sipPort}`, '-m', '1024', '-M', '16', '-Y', dir, '-w', dir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (d) => (log = (log + d).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Ready when it answers an OPTIONS (405 from our route is an answer).
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`kamailio exited: ${log}`);
    if (await answersOptions(sipPort)) break;
    if (Date.now() > deadline) throw new Error(`kamailio did not answer within 10 s: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name: 'kamailio',
    sipPort,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

async function answersOptions(port: number): Promise<boolean> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(false), 300);
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    socket.once('message', () => finish(true));
    socket.bind(0, '127.0.0.1', () => {
      const local = socket.address().port;
      const request = [
        'OPTIONS sip:ping@127.0.0.1 SIP/2.0',
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-ping${Date.now()}`,
        'From: <sip:bench@127.0.0.1>;tag=1',
        'To: <sip:ping@127.0.0.1>',
        `Call-ID: ping-${Date.now()}@bench`,
        'CSeq: 1 OPTIONS',
        'Max-Forwards: 70',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      socket.send(request, port, '127.0.0.1');
    });
  });
}

interface StepResult {
  target: string;
  ok: number;
  failed: number;
  seconds: number;
  cpuSeconds: number;
  transactions: number;
  rssMiB: number;
  whyFailed?: string[];
  latenciesMs?: { p50: number; p99: number; samples: number };
}

async function runStep(target: Target, step: Step, scratch: string): Promise<StepResult> {
  const latencies: number[] = [];
  let storming = true;
  const probe = target.probe;
  const prober = (async () => {
    while (storming && probe) {
      const t0 = performance.now();
      await probe();
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const cpu0 = treeCpuSeconds(target.pid);
  const t0 = performance.now();
  const sipp = await runSipp(
    [
      `127.0.0.1:${target.sipPort}`,
      '-i', '127.0.0.1',
      '-p', String(await freePort()),
      '-sf', 'gb_keepalive.xml',
      '-inf', 'devices_printf.csv',
      '-m', String(step.devices),
      '-r', String(step.rate),
      '-l', String(step.devices),
      '-d', '1000',
      '-set', 'KA_COUNT', String(KEEPALIVES_PER_DEVICE),
      '-buff_size', '4194304',
      '-timeout', '120s',
      '-nostdin',
    ],
    scratch,
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = treeCpuSeconds(target.pid) - cpu0;
  const rssMiB = treeRssBytes(target.pid) / 1048576;
  storming = false;
  await prober;
  const ok = count(sipp.output, 'Successful call');
  const failed = count(sipp.output, 'Failed call');
  // sipp's own breakdown (timeouts, unexpected messages…) says why calls failed.
  const whyFailed = sipp.output.split('\n').filter((l) => /Failed|Unexpected|timeout/i.test(l) && !/\|\s+0\s*$/.test(l)).slice(0, 12);
  // Transactions: 2 REGISTER (challenge + digest) and KA MESSAGEs per device.
  const transactions = ok * (2 + KEEPALIVES_PER_DEVICE);
  return {
    target: target.name,
    ok,
    failed,
    seconds,
    cpuSeconds,
    transactions,
    rssMiB,
    ...(failed > 0 ? { whyFailed } : {}),
    ...(probe ? { latenciesMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), samples: latencies.length } } : {}),
  };
}

function row(step: Step, r: StepResult): Record<string, string | number> {
  return {
    target: r.target,
    devices: step.devices,
    'rate/s': step.rate,
    ok: r.ok,
    failed: r.failed,
    'REGISTER tx/s': Math.round((r.ok * 2) / r.seconds),
    'CPU s/1000 tx': (r.cpuSeconds / (r.transactions / 1000)).toFixed(3),
    'tx per CPU-s': Math.round(r.transactions / Math.max(r.cpuSeconds, 0.01)),
    'RSS MiB': r.rssMiB.toFixed(0),
    'GET /devices p99 ms': r.latenciesMs ? r.latenciesMs.p99.toFixed(1) : '-',
    'wall s': r.seconds.toFixed(1),
  };
}

async function main(): Promise<void> {
  const scratch = mkdtempSync(join(os.tmpdir(), 'camgate-bench-sipp-'));
  cpSync(join(repoRoot, '../shared/sipp'), scratch, { recursive: true });
  if (vsKamailio && !kamailioPresent()) {
    console.error('--vs-kamailio needs Kamailio: apt-get install kamailio kamailio-sqlite-modules');
    process.exit(2);
  }
  const rows: Array<Record<string, string | number>> = [];
  const results: unknown[] = [];
  const ratios: Array<Record<string, string | number>> = [];
  const curve: Record<string, Array<{ load: number; cost: number }>> = { camgate: [], kamailio: [] };
  const onCurve = (who: string, step: Step, r: StepResult) => {
    if (r.failed === 0 && r.transactions > 0) curve[who]!.push({ load: step.rate, cost: (r.cpuSeconds / r.transactions) * 1e6 });
  };
  for (const step of steps) {
    // A fresh instance per step: every device registers for the first time.
    const camgate = await startCamgate();
    const ours = await runStep(camgate, step, scratch).finally(() => camgate.stop());
    rows.push(row(step, ours));
    onCurve('camgate', step, ours);
    const entry: Record<string, unknown> = { ...step, camgate: ours };
    if (vsKamailio) {
      const kamailio = await startKamailio(mkdtempSync(join(os.tmpdir(), 'camgate-bench-kamailio-')));
      const theirs = await runStep(kamailio, step, scratch).finally(() => kamailio.stop());
      rows.push(row(step, theirs));
      onCurve('kamailio', step, theirs);
      entry.kamailio = theirs;
      const perCpu = (r: StepResult) => r.transactions / Math.max(r.cpuSeconds, 0.01);
      ratios.push({
        'rate/s': step.rate,
        'camgate tx/CPU-s': Math.round(perCpu(ours)),
        'kamailio tx/CPU-s': Math.round(perCpu(theirs)),
        'ratio (camgate/kamailio)': (perCpu(ours) / perCpu(theirs)).toFixed(2),
        'failed camgate/kamailio': `${ours.failed}/${theirs.failed}`,
        'RSS MiB camgate/kamailio': `${ours.rssMiB.toFixed(0)}/${theirs.rssMiB.toFixed(0)}`,
      });
    }
    results.push(entry);
  }
  console.log(table(rows));
  if (ratios.length > 0) console.log(`\n${table(ratios)}`);
  console.log('');
  for (const who of vsKamailio ? ['camgate', 'kamailio'] : ['camgate']) console.log(scalingLine(`${who} CPU per transaction (steps without failures)`, curve[who]!, 'µs of CPU per transaction, load = calls/s'));
  const file = writeResult(vsKamailio ? 'sip-vs-kamailio' : 'sip', {
    quick,
    steps: results,
    target: vsKamailio
      ? '>= 15,000 tx per CPU-second with store writes; ratio to Kamailio in the same run'
      : '10,000 devices at 1,000/s, 0 failures, GET /devices p99 < 50 ms',
  });
  console.log(`\nresult: ${file}`);
}

await main();
