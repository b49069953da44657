/**
 * Builds the web console (console/) into dist/console: one HTML page, scripts and
 * styles under dist/console/ui with content hashes in their names, plus .br and .gz
 * copies served as they are (@fastify/static preCompressed). mpegts.js is bundled
 * from node_modules (appliances are often offline: no CDN) into its own chunk,
 * loaded when a video first plays. Prints the compressed sizes.
 */
import { build } from 'esbuild';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const out = join(root, 'dist/console');
const ui = join(out, 'ui');

rmSync(out, { recursive: true, force: true });
mkdirSync(ui, { recursive: true });

const result = await build({
  entryPoints: { main: join(root, 'console/main.ts'), style: join(root, 'console/style.css') },
  bundle: true,
  splitting: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: 'linked',
  outdir: ui,
  entryNames: '[name]-[hash]',
  chunkNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});

const outputs = Object.keys(result.metafile.outputs).map((p) => p.slice(p.lastIndexOf('/') + 1));
const main = outputs.find((f) => /^main-.*\.js$/.test(f));
const style = outputs.find((f) => /^style-.*\.css$/.test(f));
if (!main || !style) throw new Error(`console build: main or style missing in ${outputs.join(', ')}`);
const page = readFileSync(join(root, 'console/index.html'), 'utf8').replace('%MAIN%', `/ui/${main}`).replace('%STYLE%', `/ui/${style}`);
writeFileSync(join(out, 'index.html'), page);

let scripts = { raw: 0, br: 0, gz: 0 };
for (const file of readdirSync(ui)) {
  if (!/\.(js|css|txt)$/.test(file)) continue;
  const bytes = readFileSync(join(ui, file));
  const br = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
  const gz = gzipSync(bytes, { level: 9 });
  writeFileSync(join(ui, `${file}.br`), br);
  writeFileSync(join(ui, `${file}.gz`), gz);
  if (file.endsWith('.js')) scripts = { raw: scripts.raw + statSync(join(ui, file)).size, br: scripts.br + br.length, gz: scripts.gz + gz.length };
}
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
process.stdout.write(`console: scripts ${kib(scripts.raw)} (${kib(scripts.gz)} gzip, ${kib(scripts.br)} brotli) in dist/console\n`);
