import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { defaultConfig } from '../../src/shared/config/config.js';
import { DownloadManager, downloadMetrics, type Download } from '../../src/supervisor/downloads.js';
import type { StreamManager } from '../../src/supervisor/streams.js';

/** What survives a restart, pruning, and the limits checked before any INVITE. */

const record = (id: string, over: Partial<Download>): Download => ({
  id, deviceid: '34020000001320000001', channelid: '34020000001310000001', start: 1, end: 61, speed: 4, format: 'ps',
  state: 'done', reason: 'end of file (MediaStatus 121)', streamid: '1000AAAA', bytes: 4, mediaSeconds: 60, progress: 1,
  createdAt: Math.floor(Date.now() / 1000) - 100, finishedAt: Math.floor(Date.now() / 1000) - 50, ...over,
});

function manager(dir: string, downloads: Partial<ReturnType<typeof defaultConfig>['downloads']> = {}, media: 'builtin' | 'zlm' = 'builtin') {
  const config = defaultConfig();
  config.downloads = { ...config.downloads, dir, ...downloads };
  config.media.server = media;
  const events: Array<[string, Record<string, unknown>]> = [];
  const registry = new Registry();
  const m = new DownloadManager({
    config,
    logger: pino({ level: 'silent' }),
    // The limits are checked before the stream manager is asked for anything.
    streams: () => ({}) as StreamManager,
    emit: (event, data) => void events.push([event, data]),
    metrics: downloadMetrics(registry),
  });
  t.teardown(() => m.close());
  return { m, events, registry };
}

t.test('a restart fails the running download; old finished ones are pruned with their files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'camgate-downloads-'));
  const old = Math.floor(Date.now() / 1000) - 90_000;
  for (const d of [record('aaaaaaaaaaaa', { state: 'running', finishedAt: null, reason: null }), record('bbbbbbbbbbbb', {}), record('cccccccccccc', { finishedAt: old })]) {
    writeFileSync(join(dir, `${d.id}.json`), JSON.stringify(d));
    writeFileSync(join(dir, `${d.id}.ps`), 'data');
  }
  writeFileSync(join(dir, 'notes.txt'), 'not a record');
  writeFileSync(join(dir, 'dddddddddddd.json'), JSON.stringify(record('dddddddddddd', { format: '../../etc/passwd' as 'ps' })));
  const { m, events, registry } = manager(dir);
  m.load();
  t.same(m.list().map((d) => d.id).sort(), ['aaaaaaaaaaaa', 'bbbbbbbbbbbb']);
  t.match(m.get('aaaaaaaaaaaa'), { state: 'failed', reason: 'camgate restarted', bytes: 4 });
  t.match(JSON.parse(readFileSync(join(dir, 'aaaaaaaaaaaa.json'), 'utf8')), { state: 'failed' }, 'the record on disk says so too');
  t.same(events.map((e) => e[0]), ['downloads.failed']);
  t.notOk(existsSync(join(dir, 'cccccccccccc.ps')) || existsSync(join(dir, 'cccccccccccc.json')), 'pruned past downloads.retention');
  t.ok(existsSync(join(dir, 'notes.txt')), 'other files are left alone');
  t.match(await registry.metrics(), /camgate_downloads_finished_total\{result="failed",reason="restart"\} 1/);
  t.equal(m.prune(Date.now() + 86_400_000), 2, 'everything finished goes a retention later');
  t.same(m.list(), []);
});

t.test('limits before any INVITE: disk space 507, zlm 409', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'camgate-downloads-'));
  writeFileSync(join(dir, 'bbbbbbbbbbbb.json'), JSON.stringify(record('bbbbbbbbbbbb', {})));
  writeFileSync(join(dir, 'bbbbbbbbbbbb.ps'), Buffer.alloc(2000));
  const { m } = manager(dir, { maxTotalBytes: 2000 });
  m.load();
  t.equal(m.usedBytes(), 2000);
  await t.rejects(m.start('34020000001310000001', { start: 1, end: 2, speed: 4, format: 'ps' }), { status: 507, message: /maxTotalBytes 2000/ });
  const zlm = manager(mkdtempSync(join(tmpdir(), 'camgate-downloads-')), {}, 'zlm').m;
  await t.rejects(zlm.start('34020000001310000001', { start: 1, end: 2, speed: 4, format: 'ps' }), { status: 409, message: /media.server: builtin/ });
});
