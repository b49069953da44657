/**
 * What would piscina buy the SIP thread on catalogs? (issue 10 item 6, docs/threads.md)
 *
 * Builds GB2312 Catalog Response bodies of 10, 100, 1,000 and 10,000 items and times, on
 * one thread, what the SIP thread does with each today (charset decoding and MANSCDP
 * parsing: `parseManscdp` on the bytes), then the same work handed to a piscina pool:
 * the round trip of a trivial task, and of the decode task with the body cloned in and
 * the parsed message cloned back. For the pool it also measures how long the calling
 * thread's event loop was busy per job (event-loop utilisation), which is what moving the
 * work would save the SIP thread.
 *
 *   npm run bench:catalog            (builds, then node dist/bench/catalog-decode.js)
 *   npm run bench:catalog -- --quick (fewer runs)
 *
 * The file is also the pool's task file: piscina loads it in its threads, where
 * isMainThread is false and only the default export runs. A benchmark, not a test: it
 * prints figures and writes bench/results/catalog-decode-*.json, and asserts nothing.
 */
import { isMainThread } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { buildCatalogResponse, encodeXmlBody, parseManscdp, type CatalogItem } from '../src/protocol/gb28181/index.js';

/** Jobs of the pool: a no-op (the round trip alone) and the SIP thread's decode. */
export type CatalogJob = { kind: 'noop' } | { kind: 'decode'; body: Uint8Array };

/** Larger than any body built here: the bench measures the parser, not its size guard. */
const MAX_BYTES = 64 * 1024 * 1024;

function decode(body: Uint8Array): { items: number; message: unknown } {
  const parsed = parseManscdp(body, undefined, { maxBytes: MAX_BYTES });
  if (!parsed.ok || parsed.message.kind !== 'catalog') throw new Error(`not a catalog: ${parsed.ok ? parsed.message.kind : parsed.reason}`);
  return { items: parsed.message.items.length, message: parsed.message };
}

export default function run(job: CatalogJob): unknown {
  if (job.kind === 'noop') return { ok: true };
  // The whole parsed message goes back, as the SIP thread would need it.
  return decode(job.body).message;
}

// --- Bodies -------------------------------------------------------------------------

const DEVICE_ID = '34020000001320000001';

/** A camera channel as an NVR reports it: Chinese name, owner and address, position. */
function item(n: number): CatalogItem {
  return {
    deviceId: `3402000000131${String(n).padStart(7, '0')}`,
    name: `东门入口摄像机${n}号`,
    manufacturer: '海康威视',
    model: 'DS-2CD3T46WD',
    owner: '公安局',
    civilCode: '340200',
    address: `芜湖市镜湖区中山路${n}号`,
    parental: 0,
    parentId: DEVICE_ID,
    safetyWay: 0,
    registerWay: 1,
    secrecy: 0,
    ipAddress: `10.0.${(n >> 8) & 255}.${n & 255}`,
    port: 8000,
    status: 'ON',
    statusRaw: 'ON',
    longitude: 118.38 + n / 1e6,
    latitude: 31.33 + n / 1e6,
    ptzType: 1,
  };
}

/** One Catalog Response MESSAGE body with `count` items, GB2312 as devices send it. */
export function catalogBody(count: number): Uint8Array {
  const items = Array.from({ length: count }, (_, i) => item(i + 1));
  return encodeXmlBody(buildCatalogResponse({ sn: 17, deviceId: DEVICE_ID, sumNum: count, items }), 'GB2312');
}

// --- Measurement ----------------------------------------------------------------------

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const ms = (n: number) => Math.round(n * 1000) / 1000;

/** Median wall time of `fn` on this thread, after `warmup` untimed calls. */
function timeInline(fn: () => void, runs: number, warmup: number): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  return median(times);
}

interface PoolTiming {
  /** Median wall time from run() to the answer, ms. */
  roundTripMs: number;
  /** This thread's event loop busy time per job (cloning out and in, callbacks), ms. */
  callerBusyMs: number;
}

/**
 * Sequential jobs on a warm pool: the median round trip, and the calling thread's busy
 * time per job from event-loop utilisation over the whole batch.
 */
async function timePool(pool: { run(job: CatalogJob): Promise<unknown> }, job: () => CatalogJob, runs: number, warmup: number): Promise<PoolTiming> {
  for (let i = 0; i < warmup; i++) await pool.run(job());
  const times: number[] = [];
  const elu = performance.eventLoopUtilization();
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await pool.run(job());
    times.push(performance.now() - start);
  }
  const used = performance.eventLoopUtilization(elu);
  return { roundTripMs: median(times), callerBusyMs: used.active / runs };
}

async function main(): Promise<void> {
  const [{ Piscina }, { quick, table, writeResult }] = await Promise.all([import('piscina'), import('./lib.js')]);
  const sizes = [10, 100, 1_000, 10_000];
  const runsFor = (items: number) => (quick ? 3 : items >= 10_000 ? 9 : items >= 1_000 ? 21 : 101);

  // One warm thread, as a pool serving the SIP thread would keep.
  const pool = new Piscina({ filename: fileURLToPath(import.meta.url), minThreads: 1, maxThreads: 1, idleTimeout: 60_000 });
  const noop = await timePool(pool, () => ({ kind: 'noop' }), quick ? 50 : 1000, 50);

  const rows: Array<Record<string, string | number>> = [];
  const results: Array<Record<string, number>> = [];
  for (const items of sizes) {
    const body = catalogBody(items);
    if (decode(body).items !== items) throw new Error(`decoded item count differs for ${items}`);
    const runs = runsFor(items);
    const inlineMs = timeInline(() => void decode(body), runs, Math.min(5, runs));
    // Each job clones its own copy of the body, as a received datagram would be handed over.
    const pooled = await timePool(pool, () => ({ kind: 'decode', body }), runs, Math.min(5, runs));
    const result = {
      items,
      bodyBytes: body.length,
      inlineMs: ms(inlineMs),
      poolRoundTripMs: ms(pooled.roundTripMs),
      poolCallerBusyMs: ms(pooled.callerBusyMs),
      savedPerJobMs: ms(inlineMs - pooled.callerBusyMs),
    };
    results.push(result);
    rows.push({
      items,
      'body KiB': (body.length / 1024).toFixed(1),
      'inline ms': result.inlineMs,
      'pool round trip ms': result.poolRoundTripMs,
      'caller busy ms': result.poolCallerBusyMs,
      'saved ms': result.savedPerJobMs,
    });
  }
  await pool.destroy();

  console.log(`piscina no-op round trip: median ${ms(noop.roundTripMs)} ms, caller busy ${ms(noop.callerBusyMs)} ms per job`);
  console.log(table(rows));
  const file = writeResult('catalog-decode', { node: process.version, quick, noop: { roundTripMs: ms(noop.roundTripMs), callerBusyMs: ms(noop.callerBusyMs) }, sizes: results });
  console.log(`written ${file}`);
}

if (isMainThread) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
