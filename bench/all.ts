/**
 * `npm run bench [-- NAME...] [-- --quick]`: runs every benchmark (sip, media, play,
 * forward) or the named ones, one after another (they must not share the cores),
 * each in its own process. `--quick` gives the smoke version of each. bench:sip gets
 * `--vs-kamailio` when Kamailio is installed.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './lib.js';

const all = ['sip', 'media', 'play', 'forward'];
const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('--'));
const chosen = args.filter((a) => !a.startsWith('--'));
const unknown = chosen.filter((n) => !all.includes(n));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark: ${unknown.join(', ')} (choose from ${all.join(', ')})\n`);
  process.exit(2);
}
// bench:sip measures Kamailio beside camgate whenever the Debian package is installed.
const kamailio = spawnSync('kamailio', ['-v'], { stdio: 'ignore' }).status === 0;
const extra: Record<string, string[]> = { sip: kamailio ? ['--vs-kamailio'] : [] };
if (!kamailio) process.stdout.write('(no kamailio: bench:sip runs without its reference; apt-get install kamailio kamailio-sqlite-modules)\n');
let failed = 0;
for (const name of chosen.length > 0 ? chosen : all) {
  process.stdout.write(`\n=== bench:${name} ${flags.join(' ')}\n`);
  const t0 = Date.now();
  const run = spawnSync(process.execPath, [join(repoRoot, 'dist/bench', `${name}.js`), ...flags, ...(extra[name] ?? [])], { stdio: 'inherit' });
  process.stdout.write(`=== bench:${name} took ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  if (run.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
