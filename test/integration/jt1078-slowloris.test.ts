import t from 'tap';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parse } from 'yaml';
import { getJson, startAppliance, waitFor } from '../helpers/appliance.js';

/**
 * A JT/T 1078 slowloris: a connection that keeps sending a byte at a time and
 * never completes a packet is closed after jt1078.packetTimeout, although it is
 * never silent for the idle time-out.
 */
t.test('a connection that never completes a JT/T 1078 packet is closed after packetTimeout', async (t) => {
  const app = await startAppliance({ jt1078: { packetTimeout: 2, idleTimeout: 60 } });
  t.teardown(async () => {
    app.process.kill('SIGTERM');
    await app.exited;
  });
  await waitFor(async () => (await getJson(`${app.api}/healthz`)).status === 200, 15_000, 'healthy');
  const port = realtimePort(app.dir);
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const opened = Date.now();
  const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
  // The magic and a header that announces a body it never sends, a byte every 200 ms.
  const header = Buffer.from('30316364816200000001391234567801', 'hex');
  let i = 0;
  const dribble = setInterval(() => {
    if (!socket.destroyed) socket.write(header.subarray(i % header.length, (i % header.length) + 1));
    i++;
  }, 200);
  t.teardown(() => clearInterval(dribble));
  const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(0), 10_000))]);
  clearInterval(dribble);
  t.ok(at > 0, 'closed by the appliance');
  const after = at - opened;
  t.ok(after >= 1500 && after < 6000, `closed after ${after} ms (packetTimeout 2 s)`);
  const metrics = () => fetch(`${app.api}/metrics`).then((r) => r.text());
  const counted = await waitFor(async () => /camgate_media_connections_closed_total\{reason="no-packet"\} 1\b/.test(await metrics()), 5000, 'counted').catch(() => false);
  t.ok(counted, `counted in /metrics: ${(await metrics()).match(/.*connections_closed.*/g)}`);
});

function realtimePort(dir: string): number {
  const config = parse(readFileSync(join(dir, 'camgate.yaml'), 'utf8')) as { jt1078: { realtime: { port: number } } };
  return config.jt1078.realtime.port;
}
