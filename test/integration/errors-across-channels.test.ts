/**
 * An error raised in the media process keeps its HTTP status and envelope code on its
 * way through the channel to the API client (docs/architecture.md, "errors").
 */
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { getJson, startAppliance, waitFor } from '../helpers/appliance.js';

t.test('"no free RTP port" from the media process answers 503/1001, not 500', async (t) => {
  // The one RTP port of the range is held by us, so the media process cannot bind it.
  const holder = createSocket('udp4');
  await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
  const held = holder.address().port;
  t.teardown(() => holder.close());

  const app = await startAppliance({ media: { host: '127.0.0.1', rtpPorts: `${held}-${held}` }, gb28181: { registration: 'open' } });
  t.teardown(() => {
    app.process.kill('SIGKILL');
  });
  await waitFor(async () => (await getJson(`${app.api}/healthz`)).body?.status === 'ok', 30_000, 'healthy');

  const post = (path: string, body: Record<string, string> = {}) =>
    fetch(`${app.api}${path}`, { method: 'POST', body: new URLSearchParams(body) }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
  const device = await post('/devices', { name: 'cam' });
  t.equal(device.status, 200, 'device provisioned');
  const deviceId: string = device.body.data.deviceid;
  const channel = await post(`/devices/${deviceId}/channels`, {});
  t.equal(channel.status, 200, 'channel provisioned');
  const channelId: string = channel.body.data.channelid;
  // The device is "online" as a REGISTER would have made it; no INVITE goes out before the port.
  const db = new Database(join(app.dir, 'camgate.db'));
  db.prepare('UPDATE devices SET online = 1 WHERE deviceid = ?').run(deviceId);
  db.close();

  const started = await post(`/channels/${channelId}/streams`);
  t.equal(started.status, 503, 'the media process status reaches the client');
  t.equal(started.body.code, '1001');
  t.match(started.body.data, new RegExp(`no free RTP port in media.rtpPorts ${held}-${held}`));
});
