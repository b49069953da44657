/**
 * `npm run profile -- <bench> [--quick]`: runs a benchmark with the appliance (or the
 * media process) it starts under `--cpu-prof` — every thread writes its own profile —
 * then lists the hottest functions of each profile. Open the
 * `.cpuprofile` files in Chrome DevTools (Performance → Load profile) or speedscope.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './lib.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [name, ...rest] = process.argv.slice(2);
if (!name || !['sip', 'media', 'play', 'forward', 'jt808', 'intercom'].includes(name)) {
  process.stderr.write('usage: npm run profile -- sip|media|play|forward|jt808|intercom [--quick]\n');
  process.exit(2);
}
const dir = join(repoRoot, 'profiles', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
mkdirSync(dir, { recursive: true });
// Node 20 refuses --cpu-prof in NODE_OPTIONS: the benchmark runs with the flag (and a
// forked media process inherits it), and bench/lib passes it to the appliance it
// spawns when CAMGATE_PROFILE_DIR is set. Worker threads write their own profiles.
const run = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, join(repoRoot, 'dist/bench', `${name}.js`), ...rest], {
  stdio: 'inherit',
  env: { ...process.env, CAMGATE_PROFILE_DIR: dir },
});

/** Self time per function, busiest first. */
function hottest(profile: Profile, count: number): Array<[string, number]> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)!.callFrame;
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return [...self.entries()].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, count);
}

for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()) {
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
  const busy = hottest(profile, 8);
  const total = busy.reduce((n, [, us]) => n + us, 0);
  if (total < 50_000) continue; // under 50 ms of work: a load generator or an idle thread
  console.log(`\n${file}`);
  for (const [fn, us] of busy) console.log(`  ${(us / 1000).toFixed(0).padStart(7)} ms  ${fn}`);
}
console.log(`\nprofiles: ${dir}`);
process.exit(run.status ?? 1);
