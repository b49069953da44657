/**
 * The vehicle routes on a real store, through fastify's inject: envelope, validation,
 * CRUD, the notes the JT/T 808 thread gets (over a real MessageChannel), the errors of a
 * vehicle that is unknown or offline, and DELETE /streams/:id with a JT/T 1078 stream id.
 */
import t from 'tap';
import { MessageChannel } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import SwaggerParser from '@apidevtools/swagger-parser';
import { pino } from 'pino';
import { injectApi } from '../helpers/api.js';
import { defaultConfig } from '../../src/shared/config/config.js';
import { Channel, portEndpoint } from '../../src/shared/channel.js';
import type { ChildChannel, ParentChannel } from '../../src/shared/contracts/lifecycle.js';
import type { Jt808Contract } from '../../src/shared/contracts/jt808.js';
import { openStore } from '../../src/supervisor/store/index.js';
import { VehicleControl } from '../../src/supervisor/vehicle-streams.js';

t.test('vehicle routes', async (t) => {
  const config = defaultConfig();
  const store = await openStore('sqlite::memory:');
  t.teardown(() => store.close());
  const { port1, port2 } = new MessageChannel();
  const parent: ParentChannel<Jt808Contract> = new Channel(portEndpoint(port2));
  const thread: ChildChannel<Jt808Contract> = new Channel(portEndpoint(port1));
  const notes: string[] = [];
  thread.onNote('vehicle.known', ({ sim }) => notes.push(`known ${sim}`));
  thread.onNote('vehicle.forget', ({ sim }) => notes.push(`forget ${sim}`));
  t.teardown(() => {
    port1.close();
    port2.close();
  });
  const control = new VehicleControl({ config, store, streams: () => null, jt808: () => parent, mediaHost: '203.0.113.5', logger: pino({ level: 'silent' }) });
  const { app, call } = await injectApi({ config, store, vehicles: () => control });
  t.teardown(() => app.close());

  t.match(await call('POST', '/vehicles', { sim: '013800138000', plate: '粤B12345', plate_color: 2 }), {
    status: 200,
    body: { code: '0', data: { sim: '13800138000', plate: '粤B12345', plate_color: 2, online: 0, jt808: { host: '203.0.113.5', port: 12001 } } },
  });
  t.match(await call('POST', '/vehicles', { sim: '13800138000' }), { status: 409, body: { code: '1002' } }, 'duplicate');
  t.match(await call('POST', '/vehicles', { sim: '13a' }), { status: 400, body: { code: '1002', data: /sim/ } });
  t.match(await call('POST', '/vehicles', {}), { status: 400, body: { data: /sim/ } });
  t.match(await call('GET', '/vehicles'), { status: 200, body: { data: { Total: 1, List: [{ sim: '13800138000' }] } } });
  t.notOk('auth_code' in (await call('GET', '/vehicles/13800138000')).body.data, 'no auth code in answers');
  t.match(await call('PATCH', '/vehicles/013800138000', { plate: 'B-1', channels: 4 }), { status: 200, body: { data: { plate: 'B-1', channels: 4, plate_color: 2 } } });
  t.match(await call('POST', '/vehicles/13800138000', { plate_color: 1 }), { status: 200, body: { data: { plate: 'B-1', plate_color: 1 } } }, 'POST edits too');
  t.match(await call('GET', '/vehicles/13900000000'), { status: 404, body: { code: '1002' } });

  t.match(await call('POST', '/vehicles/13800138000/channels/1/streams', {}), { status: 409, body: { data: /offline/ } }, 'an offline vehicle cannot stream');
  t.match(await call('POST', '/vehicles/13800138000/channels/0/streams', {}), { status: 400 }, 'channels start at 1');
  t.match(await call('POST', '/vehicles/13900000000/channels/1/streams', {}), { status: 404 });
  t.match(await call('GET', '/vehicles/13800138000/records'), { status: 409 });
  t.match(await call('POST', '/vehicles/13800138000/messages', { msgId: 0x9003, body: 'zz' }), { status: 400 });

  t.match(await call('DELETE', `/streams/${encodeURIComponent('live/jt1078-13800138000-1')}`), { status: 404 }, 'no such vehicle stream');
  t.match(await call('DELETE', `/streams/${encodeURIComponent('../etc')}`), { status: 400 }, 'neither a camera nor a vehicle stream id');
  t.match(await call('DELETE', '/vehicles/013800138000'), { status: 200 });
  t.match(await call('DELETE', '/vehicles/13800138000'), { status: 404 });
  await sleep(50);
  t.same(notes, ['known 13800138000', 'forget 13800138000'], 'the JT/T 808 thread was told');

  const spec = (await call('GET', '/swagger/json')).body;
  await SwaggerParser.validate(structuredClone(spec));
  t.ok(spec.paths['/vehicles/{sim}/channels/{channel}/streams']?.post, 'OpenAPI documents the stream route');
});
