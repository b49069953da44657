/**
 * Viewers for bench:play: opens HTTP-FLV URLs and reads them for SECONDS, counting
 * bytes and early disconnects. Prints a JSON line.
 *   node dist/bench/flv-viewers.js SECONDS URL [URL...]
 */
import { get } from 'node:http';

const [secondsArg, ...urls] = process.argv.slice(2);
let bytes = 0;
let ended = 0;
let failed = 0;
const requests = urls.map((url) =>
  get(url, (res) => {
    if (res.statusCode !== 200) failed++;
    res.on('data', (d: Buffer) => (bytes += d.length));
    res.on('end', () => ended++);
  }).on('error', () => failed++),
);
setTimeout(() => {
  for (const r of requests) r.destroy();
  process.stdout.write(JSON.stringify({ viewers: urls.length, bytes, ended, failed }) + '\n');
  process.exit(0);
}, Number(secondsArg) * 1000);
