/**
 * Cross-thread throughput of the SharedArrayBuffer ring (src/shared/ring.ts):
 * a worker produces fixed-size records, the main thread consumes them with
 * RingReader.run() (Atomics.waitAsync when empty). For contrast, the same records
 * sent one postMessage each, which ../shared/DESIGN.md §1 rules out for per-packet traffic.
 *
 *   npm run build && node dist/bench/ring.js
 *
 * The file is its own worker (isMainThread decides the role), so it runs the same
 * way from dist/ and, under a TS loader, from the sources.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { once } from 'node:events';
import os from 'node:os';
import { RingBuffer, RingReader, RingWriter } from '../src/shared/ring.js';

type Mode = 'ring-copy' | 'ring-reserve' | 'postMessage';

interface ProducerData {
  mode: Mode;
  sab: SharedArrayBuffer | null;
  recordBytes: number;
  records: number;
}

const RING_CAPACITY = 1 << 20;

async function producer(data: ProducerData): Promise<void> {
  const port = parentPort!;
  // Wait for 'go' to keep thread start-up out of the measurement. port.once, not
  // events.once: the latter uses addEventListener, which does not ref the port.
  await new Promise((resolve) => port.once('message', resolve));
  const payload = new Uint8Array(data.recordBytes).fill(0x47);
  if (data.mode === 'postMessage') {
    for (let i = 0; i < data.records; i++) port.postMessage(payload);
    port.postMessage(null);
    return;
  }
  const writer = new RingWriter(data.sab!);
  for (let i = 0; i < data.records; i++) {
    const tag = i & 0xffff;
    if (data.mode === 'ring-copy') {
      while (!writer.tryWrite(payload, tag)) await writer.waitForSpace(payload.length);
    } else {
      let slot = writer.tryReserve(payload.length, tag);
      while (slot === null) {
        await writer.waitForSpace(payload.length);
        slot = writer.tryReserve(payload.length, tag);
      }
      slot[0] = 0x47; // a depacketizer would write its output here
      slot[payload.length - 1] = 0x47;
      writer.commit();
    }
  }
  writer.close();
  port.postMessage(writer.stats.fullEvents);
}

interface Result {
  mode: Mode;
  recordBytes: number;
  records: number;
  seconds: number;
  fullEvents: number;
}

async function measure(mode: Mode, recordBytes: number, records: number): Promise<Result> {
  const sab = mode === 'postMessage' ? null : RingBuffer.create(RING_CAPACITY);
  const data: ProducerData = { mode, sab, recordBytes, records };
  const worker = new Worker(new URL(import.meta.url), { workerData: data });
  await once(worker, 'online');
  let received = 0;
  let checksum = 0;
  let fullEvents = 0;
  const started = process.hrtime.bigint();
  if (sab) {
    const reader = new RingReader(sab);
    const producerReport = once(worker, 'message'); // listen before it can be sent
    const done = reader.run((view) => {
      checksum += view[0]! + view[view.length - 1]!;
      received++;
    });
    worker.postMessage('go');
    await done;
    [fullEvents] = (await producerReport) as [number];
  } else {
    await new Promise<void>((resolve) => {
      worker.on('message', (message: Uint8Array | null) => {
        if (message === null) return resolve();
        checksum += message[0]! + message[message.length - 1]!;
        received++;
      });
      worker.postMessage('go');
    });
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await worker.terminate();
  if (received !== records || checksum !== records * 2 * 0x47) throw new Error(`${mode}: received ${received}/${records}, checksum ${checksum}`);
  return { mode, recordBytes, records, seconds, fullEvents };
}

function report(r: Result): void {
  const perSecond = r.records / r.seconds;
  const megabytes = (perSecond * r.recordBytes) / 1e6;
  console.log(
    `${r.mode.padEnd(12)} ${String(r.recordBytes).padStart(5)} B  ` +
      `${(perSecond / 1e6).toFixed(2).padStart(6)} M records/s  ${megabytes.toFixed(0).padStart(6)} MB/s  ` +
      `(${r.records} records in ${r.seconds.toFixed(3)} s, ring full ${r.fullEvents}x)`,
  );
}

async function main(): Promise<void> {
  console.log(`camgate ring bench, node ${process.version}, ${os.availableParallelism()} CPUs, ring ${RING_CAPACITY / 1024} KiB, worker → main thread`);
  console.log('ring-copy: tryWrite copies the payload; ring-reserve: tryReserve/commit, producer fills 2 bytes (MB/s is nominal)');
  for (const recordBytes of [200, 1400]) {
    const records = recordBytes === 200 ? 4_000_000 : 1_500_000;
    await measure('ring-copy', recordBytes, 50_000); // warm-up
    report(await measure('ring-copy', recordBytes, records));
    report(await measure('ring-reserve', recordBytes, records));
    report(await measure('postMessage', recordBytes, 200_000));
  }
}

if (isMainThread) {
  await main();
} else {
  await producer(workerData as ProducerData);
}
