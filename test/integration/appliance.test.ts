import t from 'tap';
import { alive, getJson, startAppliance, waitFor } from '../helpers/appliance.js';

t.test('the compiled appliance starts healthy, survives a killed media process, stops in order', async (t) => {
  const app = await startAppliance({ log: { level: 'info' } });
  t.teardown(() => {
    if (app.process.exitCode === null) app.process.kill('SIGKILL');
  });
  const started = app.startedAt;
  const health = await waitFor(async () => {
    const h = await getJson(`${app.api}/healthz`);
    return h.status === 200 && h.body;
  }, 15_000, 'healthy /healthz').catch((e) => {
    t.fail(`${e.message}\n${app.output()}`);
    throw e;
  });
  t.ok(Date.now() - started < 15_000, `healthy after ${Date.now() - started} ms`);
  t.equal(health.status, 'ok');
  for (const part of ['api', 'store', 'sip', 'media']) t.equal(health.parts[part]?.ok, true, `${part} healthy`);
  t.equal(health.parts.store.dialect, 'sqlite');
  t.equal(health.parts.media.detail.workers.length, 1, 'one media worker as configured');

  const create = await fetch(`${app.api}/devices`, { method: 'POST', body: new URLSearchParams({ name: 'it' }) });
  t.equal(create.status, 200);

  // kill -9 the media process; the API must keep answering while it is restarted.
  const mediaPid = health.parts.media.pid as number;
  process.kill(mediaPid, 'SIGKILL');
  const statuses: number[] = [];
  const restarted = await waitFor(async () => {
    const list = await getJson(`${app.api}/devices`);
    statuses.push(list.status);
    const h = await getJson(`${app.api}/healthz`);
    return h.status === 200 && h.body.parts.media.restarts === 1 && h.body;
  }, 15_000, 'media restarted');
  t.not(restarted.parts.media.pid, mediaPid, 'a new media process');
  t.ok(statuses.length > 0 && statuses.every((s) => s === 200), `GET /devices answered ${statuses.length} times during the restart`);
  t.notOk(alive(mediaPid), 'the old media process is gone');
  const metrics = await (await fetch(`${app.api}/metrics`)).text();
  t.match(metrics, /camgate_child_restarts_total\{child="media"\} 1/);

  // SIGTERM: ordered shutdown, clean exit, no child left behind.
  const newMedia = restarted.parts.media.pid as number;
  const stopAt = Date.now();
  app.process.kill('SIGTERM');
  t.equal(await app.exited, 0, 'exit code 0');
  t.ok(Date.now() - stopAt < 10_000, `stopped in ${Date.now() - stopAt} ms`);
  await waitFor(async () => !alive(newMedia), 3000, 'media process gone');
  const order = [...app.output().matchAll(/"part":"(\w+)","msg":"stopped"/g)].map((m) => m[1]);
  t.same(order, ['simulations', 'api', 'streams', 'sip', 'jt808', 'media', 'writes', 'notify', 'store'], 'stopped in order: simulations, api, streams (BYEs), sip, jt808, media, writes (queue flushed), notify, store');
});

t.test('a kill -9 of the supervisor takes the media process with it', async (t) => {
  const app = await startAppliance();
  const health = await waitFor(async () => {
    const h = await getJson(`${app.api}/healthz`);
    return h.status === 200 && h.body;
  }, 15_000, 'healthy /healthz');
  const mediaPid = health.parts.media.pid as number;
  app.process.kill('SIGKILL');
  await app.exited;
  await waitFor(async () => !alive(mediaPid), 5000, 'orphaned media process to exit');
  t.pass('no orphaned media process');
});
