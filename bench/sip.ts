/**
 * bench:sip — sipp devices register (with digest) and keep alive against the
 * compiled appliance at rising rates. Prints REGISTER transactions/s, keepalives/s,
 * the appliance's CPU seconds per 1,000 transactions, failed calls, and GET /devices
 * p99 latency measured during the storm. `--quick` runs smaller steps.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { percentile, quick, repoRoot, startAppliance, table, treeCpuSeconds, writeResult, freePort } from './lib.js';

interface Step {
  devices: number;
  rate: number;
}

const steps: Step[] = quick
  ? [
      { devices: 1000, rate: 250 },
      { devices: 2000, rate: 500 },
    ]
  : [
      { devices: 2000, rate: 250 },
      { devices: 5000, rate: 500 },
      { devices: 10000, rate: 1000 },
    ];

const KEEPALIVES_PER_DEVICE = 1;

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

async function main(): Promise<void> {
  const scratch = mkdtempSync(join(os.tmpdir(), 'camgate-bench-sipp-'));
  cpSync(join(repoRoot, '../shared/sipp'), scratch, { recursive: true });
  const rows: Array<Record<string, string | number>> = [];
  const results: unknown[] = [];
  for (const step of steps) {
    // A fresh appliance per step: every device registers for the first time.
    const app = await startAppliance({
      sip: { id: '34020000002000000001', domain: '3402000000' },
      gb28181: { registration: 'open', catalogInterval: 0 },
    });
    const latencies: number[] = [];
    let storming = true;
    const prober = (async () => {
      while (storming) {
        const t0 = performance.now();
        await fetch(`${app.api}/devices?limit=20`).then((r) => r.arrayBuffer());
        latencies.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const cpu0 = treeCpuSeconds(app.process.pid!);
    const t0 = performance.now();
    const sipp = await runSipp(
      [
        `127.0.0.1:${app.sipPort}`,
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
    const cpu = treeCpuSeconds(app.process.pid!) - cpu0;
    storming = false;
    await prober;
    await app.stop();
    const ok = count(sipp.output, 'Successful call');
    const failed = count(sipp.output, 'Failed call');
    // Transactions: 2 REGISTER (challenge + digest) and KA MESSAGEs per device, plus our queries.
    const registerTx = ok * 2;
    const keepalives = ok * KEEPALIVES_PER_DEVICE;
    const transactions = registerTx + keepalives;
    const row = {
      devices: step.devices,
      'rate/s': step.rate,
      ok,
      failed,
      'REGISTER tx/s': Math.round(registerTx / seconds),
      'keepalives/s': Math.round(keepalives / seconds),
      'CPU s/1000 tx': (cpu / (transactions / 1000)).toFixed(3),
      'GET /devices p99 ms': percentile(latencies, 99).toFixed(1),
      'wall s': seconds.toFixed(1),
    };
    rows.push(row);
    results.push({ ...step, ok, failed, seconds, cpuSeconds: cpu, transactions, latenciesMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), samples: latencies.length } });
  }
  console.log(table(rows));
  const file = writeResult('sip', { quick, steps: results, target: '10,000 devices at 1,000/s, 0 failures, GET /devices p99 < 50 ms' });
  console.log(`\nresult: ${file}`);
}

await main();
