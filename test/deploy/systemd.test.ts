import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { needPeer } from '../helpers/peers.js';

const dir = new URL('../../systemd/', import.meta.url).pathname;
const unit = readFileSync(`${dir}camgate.service`, 'utf8');

function setting(name: string): string[] {
  return unit
    .split('\n')
    .filter((line) => line.startsWith(`${name}=`))
    .map((line) => line.slice(name.length + 1));
}

t.test('the unit is hardened as the appliance needs', async (t) => {
  t.same(setting('User'), ['camgate'], 'dedicated user');
  t.same(setting('ProtectSystem'), ['strict']);
  t.same(setting('StateDirectory'), ['camgate'], 'explicit writable directory');
  t.same(setting('NoNewPrivileges'), ['yes']);
  t.ok(Number(setting('LimitNOFILE')[0]) >= 65536, 'LimitNOFILE raised');
  t.same(setting('Restart'), ['on-failure']);
  t.same(setting('MemoryDenyWriteExecute'), [], 'no MemoryDenyWriteExecute: it kills V8');
  t.same(setting('KillMode'), ['mixed'], 'SIGTERM to the supervisor only, for an ordered stop');
  t.same(setting('RestartPreventExitStatus'), ['78'], 'no restart loop on a config error');
});

t.test('systemd-analyze verify accepts the unit', async (t) => {
  if (!needPeer(t, 'systemd-analyze', 'systemd')) return;
  const run = spawnSync('systemd-analyze', ['verify', `${dir}camgate.service`], { encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr);
  t.equal(run.stderr.trim(), '', 'no warnings');
});

t.test('systemd-analyze security rates the unit OK or better', async (t) => {
  if (!needPeer(t, 'systemd-analyze', 'systemd')) return;
  const run = spawnSync('systemd-analyze', ['security', '--offline=true', `${dir}camgate.service`], {
    encoding: 'utf8',
  });
  const match = /Overall exposure level for camgate\.service: ([0-9.]+) (\w+)/.exec(run.stdout);
  t.ok(match, 'score printed');
  const score = Number(match![1]);
  t.ok(score <= 2.0, `exposure ${score} ${match![2]}`);
});

t.test('sysctl drop-in and tmpfiles entry are well-formed', async (t) => {
  const sysctl = readFileSync(`${dir}camgate-sysctl.conf`, 'utf8');
  t.match(sysctl, /^net\.core\.rmem_max = \d+$/m);
  t.match(sysctl, /^net\.core\.wmem_max = \d+$/m);
  const tmpfiles = readFileSync(`${dir}camgate-tmpfiles.conf`, 'utf8');
  t.match(tmpfiles, /^d \/var\/lib\/camgate 0750 camgate camgate -$/m);
  if (!needPeer(t, 'systemd-tmpfiles', 'systemd')) return;
  // --dry-run needs systemd 256; parsing with a bogus root exercises the syntax instead.
  const run = spawnSync('systemd-tmpfiles', ['--root=/nonexistent-camgate', '--create', `${dir}camgate-tmpfiles.conf`], {
    encoding: 'utf8',
  });
  t.notMatch(run.stderr, /Failed to parse|Unknown|syntax/i, run.stderr);
});
