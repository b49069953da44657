import t from 'tap';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseDocument } from 'yaml';
import {
  ConfigError,
  EXIT_CONFIG,
  configPathFrom,
  defaultConfig,
  parseConfig,
} from '../../src/shared/config/config.js';

const root = new URL('../../', import.meta.url);
const shipped = readFileSync(new URL('config/camgate.yaml', root), 'utf8');

function problemsOf(yaml: string) {
  try {
    parseConfig(yaml, 'test.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

function leafPaths(value: unknown, prefix = ''): string[] {
  if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) {
    return Object.entries(value).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
  }
  return [prefix];
}

t.test('the shipped config/camgate.yaml holds every key with its default', async (t) => {
  const parsed = parseConfig(shipped, 'config/camgate.yaml');
  t.same(parsed, defaultConfig(), 'shipped file equals the schema defaults');
  const written = parseDocument(shipped).toJS();
  t.same(leafPaths(written).sort(), leafPaths(defaultConfig()).sort(), 'every key is written out');
});

t.test('defaults', async (t) => {
  const c = defaultConfig();
  t.equal(c.api.port, 8090);
  t.same(c.api.tokens, []);
  t.equal(c.sip.port, 5060);
  t.equal(c.store.url, 'sqlite:./data/camgate.db');
  t.equal(c.gb28181.did.length, 14);
  t.equal(c.gb28181.registration, 'provisioned');
});

t.test('partial files keep the other defaults', async (t) => {
  const c = parseConfig('api:\n  port: 9000\n');
  t.equal(c.api.port, 9000);
  t.equal(c.api.host, '0.0.0.0');
  t.equal(c.sip.port, 5060);
  t.same(parseConfig(''), defaultConfig(), 'an empty file is all defaults');
});

t.test('errors name the key path and the reason', async (t) => {
  t.same(problemsOf('api:\n  prot: 1\n'), [{ path: 'api.prot', reason: 'unknown key' }]);
  t.same(problemsOf('bogus: true\n'), [{ path: 'bogus', reason: 'unknown key' }]);
  t.same(problemsOf('api:\n  port: eighty\n'), [{ path: 'api.port', reason: 'must be integer' }]);
  t.same(problemsOf('api:\n  port: 70000\n'), [{ path: 'api.port', reason: 'must be <= 65535' }]);
  t.same(problemsOf('sip:\n  id: "123"\n'), [{ path: 'sip.id', reason: 'must match pattern "^[0-9]{20}$"' }]);
  t.same(problemsOf('store:\n  url: "postgres://x"\n'), [
    { path: 'store.url', reason: 'must match pattern "^(sqlite:|mysql://)"' },
  ]);
  t.match(problemsOf('log:\n  level: loud\n'), [{ path: 'log.level', reason: /must be one of/ }]);
  t.same(problemsOf('media:\n  rtpPorts: "5000-4000"\n'), [
    { path: 'media.rtpPorts', reason: 'must be a range LOW-HIGH within 1024-65535' },
  ]);
  t.same(problemsOf('api:\n  tokens: [short]\n'), [
    { path: 'api.tokens.0', reason: 'must NOT have fewer than 16 characters' },
  ]);
  t.same(problemsOf('- a\n- b\n'), [{ path: '', reason: 'must be a mapping of keys' }]);
  const several = problemsOf('api:\n  port: x\nsip:\n  port: -1\n');
  t.same(several.map((p) => p.path).sort(), ['api.port', 'sip.port'], 'all problems at once');
  t.match(problemsOf('api: [\n'), [{ path: '', reason: /^YAML: / }]);
  t.match(problemsOf('api:\n  port: 1\n  port: 2\n'), [{ path: '', reason: /YAML: .*unique|duplicate/i }]);
});

t.test('config path: --config, then CAMGATE_CONFIG, then config/camgate.yaml', async (t) => {
  t.equal(configPathFrom(['--config', '/etc/x.yaml'], { CAMGATE_CONFIG: '/y' }), '/etc/x.yaml');
  t.equal(configPathFrom(['--config=/etc/z.yaml'], {}), '/etc/z.yaml');
  t.equal(configPathFrom([], { CAMGATE_CONFIG: '/y' }), '/y');
  t.equal(configPathFrom([], {}), 'config/camgate.yaml');
});

t.test('a bad config stops the real entry point with exit code 78', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'camgate-config-'));
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'api:\n  port: 99999\nsip:\n  colour: blue\n');
  const entry = new URL('dist/workers/supervisor.js', root).pathname;
  const run = spawnSync(process.execPath, [entry, '--config', file], { encoding: 'utf8', timeout: 20_000 });
  t.equal(run.status, EXIT_CONFIG);
  t.match(run.stderr, /api\.port: must be <= 65535/);
  t.match(run.stderr, /sip\.colour: unknown key/);
  const missing = spawnSync(process.execPath, [entry], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, CAMGATE_CONFIG: join(dir, 'nope.yaml') },
  });
  t.equal(missing.status, EXIT_CONFIG, 'an explicit file that does not exist is a config error');
  t.match(missing.stderr, /cannot read file/);
});

t.test("m7s-jt1078's spellings of the stream keys are accepted (jt1078.md §3.2)", async (t) => {
  const config = parseConfig(
    [
      'jt1078:',
      '  realtime:',
      '    addr: 0.0.0.0:1078',
      '    on_join_url: http://127.0.0.1:10011/api/v1/join',
      '    onleaveurl: http://127.0.0.1:10011/api/v1/leave',
      '    prefix: live/jt1078',
      '  playback:',
      '    addr: 0.0.0.0:1079',
      '    On_Join_Url: http://127.0.0.1:10011/api/v1/join',
      '    prefix: live/jt1079',
    ].join('\n'),
  );
  t.equal(config.jt1078.realtime.port, 1078);
  t.equal(config.jt1078.realtime.onJoinUrl, 'http://127.0.0.1:10011/api/v1/join');
  t.equal(config.jt1078.realtime.onLeaveUrl, 'http://127.0.0.1:10011/api/v1/leave');
  t.equal(config.jt1078.playback.port, 1079);
  t.equal(config.jt1078.playback.onJoinUrl, 'http://127.0.0.1:10011/api/v1/join');
  t.throws(() => parseConfig('jt1078:\n  realtime:\n    on_join_url: http://a/\n    onJoinUrl: http://b/\n'), /jt1078\.realtime\.on_join_url: names the same setting as jt1078\.realtime\.onJoinUrl/);
  t.throws(() => parseConfig('jt1078:\n  realtime:\n    addr: nowhere\n'), /jt1078\.realtime\.addr: must be host:port/);
  t.throws(() => parseConfig('jt1078:\n  realtime:\n    on_join: http://a/\n'), /jt1078\.realtime/, 'an unknown key is still an error');
});

t.test('jt1078.intercom: defaults, m7s spellings, and the checks', async (t) => {
  t.same(defaultConfig().jt1078.intercom, {
    enabled: false,
    webrtcPort: 12020,
    publicIp: '',
    audioPorts: '12021-12050',
    onJoinUrl: '',
    onLeaveUrl: '',
    connectTimeout: 20,
    overtime: 600,
  });
  const m7s = parseConfig(
    [
      'jt1078:',
      '  intercom:',
      '    enable: true',
      '    jt1078webrtc: {ip: 203.0.113.7, port: 8443}',
      '    audio_ports: [10000, 10010]',
      '    on_join_url: http://127.0.0.1:10011/api/v1/join-audio',
      '    onleaveurl: http://127.0.0.1:10011/api/v1/leave-audio',
      '    overtime_second: 60',
    ].join('\n'),
  ).jt1078.intercom;
  t.same(m7s, {
    enabled: true,
    webrtcPort: 8443,
    publicIp: '203.0.113.7',
    audioPorts: '10000-10010',
    onJoinUrl: 'http://127.0.0.1:10011/api/v1/join-audio',
    onLeaveUrl: 'http://127.0.0.1:10011/api/v1/leave-audio',
    connectTimeout: 20,
    overtime: 60,
  });
  t.match(problemsOf('jt1078:\n  intercom:\n    audioPorts: "12050-12021"\n'), [{ path: 'jt1078.intercom.audioPorts', reason: /range/ }]);
  t.match(problemsOf('jt1078:\n  intercom:\n    audio_ports: [1, 2, 3]\n'), [{ path: 'jt1078.intercom.audio_ports' }]);
  t.match(problemsOf('jt1078:\n  intercom:\n    on_join_url: http://a/\n    onJoinUrl: http://b/\n'), [{ path: 'jt1078.intercom.on_join_url', reason: /same setting/ }]);
  t.match(problemsOf('jt1078:\n  intercom:\n    enabled: true\n    audioPorts: "12040-12060"\n'), [{ path: 'jt1078.intercom.audioPorts', reason: /jt1078.realtime.port/ }]);
  t.same(problemsOf('jt1078:\n  intercom:\n    audioPorts: "12040-12060"\n'), [], 'an overlap matters only when the intercom is on');
  t.match(problemsOf('jt1078:\n  intercom:\n    webrtcPort: 0\n'), [{ path: 'jt1078.intercom.webrtcPort' }]);
  t.match(problemsOf('jt1078:\n  intercom:\n    bogus: 1\n'), [{ path: 'jt1078.intercom.bogus', reason: 'unknown key' }]);
});
