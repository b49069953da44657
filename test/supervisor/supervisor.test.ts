import t from 'tap';
import { connect } from 'node:net';
import { pino } from 'pino';
import { defaultConfig } from '../../src/shared/config/config.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import { freePort } from '../helpers/ports.js';

t.test('a killed SIP thread is restarted while the API keeps answering', async (t) => {
  const config = defaultConfig();
  config.api.host = '127.0.0.1';
  config.api.port = await freePort();
  config.sip.host = '127.0.0.1';
  config.sip.port = await freePort();
  config.store.url = 'sqlite::memory:';
  config.media.workers = 1;
  config.jt808.host = '127.0.0.1';
  config.jt808.port = await freePort();
  const supervisor = new Supervisor(config, { logger: pino({ level: 'silent' }) });
  t.teardown(() => supervisor.stop());
  await supervisor.start();
  t.equal((await supervisor.health()).status, 'ok');
  t.match((await supervisor.health()).parts.jt808, { ok: true, detail: { role: 'jt808', connections: 0 } }, '/healthz shows the JT/T 808 thread');

  const restarted = new Promise<number>((resolve) => supervisor.sip!.once('restarted', resolve));
  supervisor.sip!.kill();
  const statuses: number[] = [];
  let reportedDown = 0;
  let done = false;
  void restarted.then(() => (done = true));
  while (!done) {
    const res = await fetch(`http://127.0.0.1:${config.api.port}/devices`);
    statuses.push(res.status);
    const health = await supervisor.health();
    if (health.parts.sip?.ok === false) reportedDown++;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(await restarted, 1);
  t.ok(reportedDown > 0, 'health reported the SIP thread down meanwhile');
  t.ok(statuses.every((s) => s === 200), `API answered ${statuses.length} requests during the restart`);
  const health = await supervisor.health();
  t.equal(health.status, 'ok');
  t.match(health.parts.sip, { ok: true, restarts: 1, lastExit: /thread exited/ });
  const metrics = await (await fetch(`http://127.0.0.1:${config.api.port}/metrics`)).text();
  t.match(metrics, /camgate_child_restarts_total\{child="sip"\} 1/);
});

t.test('a killed JT/T 808 thread is restarted on its port; vehicles are offline until they reconnect', async (t) => {
  const config = defaultConfig();
  config.api.host = '127.0.0.1';
  config.api.port = await freePort();
  config.sip.host = '127.0.0.1';
  config.sip.port = await freePort();
  config.store.url = 'sqlite::memory:';
  config.media.workers = 1;
  config.media.httpPort = await freePort();
  config.jt1078.realtime.port = await freePort();
  config.jt1078.playback.port = await freePort();
  config.jt808.host = '127.0.0.1';
  config.jt808.port = await freePort();
  const supervisor = new Supervisor(config, { logger: pino({ level: 'silent' }) });
  t.teardown(() => supervisor.stop());
  await supervisor.start();
  await supervisor.store!.vehicles.upsert('13800000071', { online: 1 });

  const restarted = new Promise<number>((resolve) => supervisor.jt808!.once('restarted', resolve));
  supervisor.jt808!.kill();
  t.equal(await restarted, 1);
  const connected = await new Promise<boolean>((resolve) => {
    const socket = connect(config.jt808.port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
  t.ok(connected, 'the restarted thread listens on jt808.port again');
  t.match((await supervisor.health()).parts.jt808, { ok: true, restarts: 1 });
  t.equal((await supervisor.store!.vehicles.get('13800000071'))?.online, 0, 'vehicles offline after the restart');
  const metrics = await (await fetch(`http://127.0.0.1:${config.api.port}/metrics`)).text();
  t.match(metrics, /camgate_child_restarts_total\{child="jt808"\} 1/);
});
