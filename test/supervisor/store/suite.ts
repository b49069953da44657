/**
 * The Store contract, run unchanged against every backend (sqlite.test.ts, mysql.test.ts).
 * Each subtest gets a fresh, empty store from the backend's factory.
 */
import type { Test } from 'tap';
import {
  DuplicateError,
  MIGRATIONS,
  NotFoundError,
  QueryError,
  openDriver,
  openStore,
  type Device,
  type ListQuery,
  type Store,
  type StoreOptions,
} from '../../../src/supervisor/store/index.js';
import { migrate, appliedVersions } from '../../../src/supervisor/store/migrations.js';

export interface Fresh {
  /** URL of a fresh, empty database. */
  url: string;
  /** Removes whatever the URL points to. */
  cleanup(): Promise<void>;
}

export interface Backend {
  name: string;
  /** A new empty database. */
  fresh(): Promise<Fresh>;
  /** Two openers of the same URL see the same data (false for sqlite::memory:). */
  shared: boolean;
}

/** A clock the tests move by hand. */
export class TestClock {
  constructor(public value = 1_700_000_000) {}
  now = (): number => this.value;
  tick(seconds = 1): number {
    this.value += seconds;
    return this.value;
  }
}

async function expectError<E extends Error>(
  t: Test,
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
  message: string,
): Promise<E | undefined> {
  try {
    await promise;
  } catch (err) {
    t.ok(err instanceof type, `${message}: throws ${type.name} (got ${(err as Error)?.name}: ${(err as Error)?.message})`);
    return err as E;
  }
  t.fail(`${message}: expected ${type.name}, resolved instead`);
  return undefined;
}

async function queryError(t: Test, store: Store, query: ListQuery, param: string, field?: string) {
  const err = await expectError(t, store.devices.list(query), QueryError, `${JSON.stringify(query)}`);
  if (err) {
    t.equal(err.param, param, `param of ${JSON.stringify(query)}`);
    if (field !== undefined) t.equal(err.field, field, `field of ${JSON.stringify(query)}`);
    t.ok(err.message.length > 0 && !/SQLITE|ER_|syntax/i.test(err.message), 'human message, not SQL');
  }
}

function ids(rows: { deviceid?: string; channelid?: string }[]): string[] {
  return rows.map((r) => r.channelid ?? r.deviceid ?? '');
}

export function storeSuite(t: Test, backend: Backend): void {
  const opened: Array<{ store: Store; fresh: Fresh }> = [];

  async function open(clock = new TestClock(), options: StoreOptions = {}) {
    const fresh = await backend.fresh();
    const store = await openStore(fresh.url, { now: clock.now, ...options });
    opened.push({ store, fresh });
    return { store, clock, url: fresh.url };
  }

  t.teardown(async () => {
    for (const { store, fresh } of opened) {
      await store.close().catch(() => undefined);
      await fresh.cleanup();
    }
  });

  t.test('migrations: from empty, re-run is a no-op, versions recorded', async (t) => {
    const fresh = await backend.fresh();
    const driver = openDriver(fresh.url);
    try {
      const clock = new TestClock();
      t.same(await migrate(driver, clock.now), [1], 'applies version 1 on an empty database');
      t.same(await migrate(driver, clock.now), [], 'second run applies nothing');
      t.same(await appliedVersions(driver), [1]);
      const rows = await driver.all('SELECT version, name, applied_at FROM schema_migrations');
      t.equal(Number(rows[0]!.applied_at), clock.value, 'applied_at from the injected clock');
      t.equal(rows[0]!.name, MIGRATIONS[0]!.name);

      const extra = {
        version: 2,
        name: 'test: kv table',
        sqlite: ['CREATE TABLE kv_test (k TEXT PRIMARY KEY, v TEXT)'],
        mysql: ['CREATE TABLE IF NOT EXISTS kv_test (k VARCHAR(64) PRIMARY KEY, v TEXT)'],
      };
      t.same(await migrate(driver, clock.now, [...MIGRATIONS, extra]), [2], 'applies only the new one');
      t.same(await migrate(driver, clock.now, [...MIGRATIONS, extra]), []);
      t.same(await appliedVersions(driver), [1, 2]);
      await driver.run("INSERT INTO kv_test (k, v) VALUES ('a', 'b')");
      t.equal((await driver.all('SELECT v FROM kv_test'))[0]!.v, 'b');

      const broken = {
        version: 3,
        name: 'test: broken',
        sqlite: ['CREATE TABLE broken_one (a INTEGER)', 'THIS IS NOT SQL'],
        mysql: ['THIS IS NOT SQL'],
      };
      await t.rejects(migrate(driver, clock.now, [...MIGRATIONS, extra, broken]), 'a failing migration throws');
      t.same(await appliedVersions(driver), [1, 2], 'the failed migration is not recorded');
      if (driver.dialect === 'sqlite') {
        const tables = await driver.all("SELECT name FROM sqlite_master WHERE name = 'broken_one'");
        t.equal(tables.length, 0, 'SQLite rolled the whole failed migration back');
      }
    } finally {
      await driver.close();
      await fresh.cleanup();
    }
  });

  if (backend.shared) {
    t.test('two processes opening the same database at once both succeed', async (t) => {
      const fresh = await backend.fresh();
      const clock = new TestClock();
      const [a, b] = await Promise.all([
        openStore(fresh.url, { now: clock.now }),
        openStore(fresh.url, { now: clock.now }),
      ]);
      try {
        t.same(await a.migrations(), [1]);
        t.same(await b.migrations(), [1]);
        const created = await a.devices.create({ pwd: 'x' });
        t.same((await b.devices.get(created.deviceid))?.id, created.id, 'same data');
        // Both allocate from one counter.
        const more = await Promise.all([
          ...Array.from({ length: 10 }, () => a.devices.create({ pwd: 'a' })),
          ...Array.from({ length: 10 }, () => b.devices.create({ pwd: 'b' })),
        ]);
        t.equal(new Set(more.map((d) => d.deviceid)).size, 20, 'no duplicates across two connections');
      } finally {
        await a.close();
        await b.close();
        await fresh.cleanup();
      }
    });
  }

  t.test('sys_info seeded on first run; the stored row wins afterwards', async (t) => {
    const { store } = await open(new TestClock(), {
      seed: { lid: '11111111112001000001', region: '1111111111', did: '11111111111181', cid: '11111111111381' },
    });
    const info = await store.sysInfo.get();
    t.match(info, {
      lid: '11111111112001000001',
      region: '1111111111',
      did: '11111111111181',
      cid: '11111111111381',
      dnum: 0,
      cnum: 0,
    });
    const again = await store.sysInfo.seed({
      lid: '22222222222001000001',
      region: '2222222222',
      did: '22222222221118',
      cid: '22222222221318',
      dnum: 7,
    });
    t.equal(again.did, '11111111111181', 'second seed does not override');
    t.equal(again.dnum, 0);
    const device = await store.devices.create({ pwd: 'p' });
    t.equal(device.deviceid, '11111111111181000001', 'allocation uses the seeded prefix');
    t.equal(device.region, '1111111111', 'region defaults to the server region');
  });

  t.test('devices: CRUD, secrets never in rows', async (t) => {
    const { store, clock } = await open();
    const a = await store.devices.create({ pwd: 'secret-a' });
    t.equal(a.deviceid, '37070000081118000001', 'did + 000001');
    t.equal(a.name, a.deviceid, 'name defaults to the ID');
    t.equal(a.addtime, clock.value);
    t.equal(a.uptime, clock.value);
    t.notOk('pwd' in a, 'create result has no pwd');
    t.notOk('deltime' in a);
    t.equal(a.online, 0);
    t.equal(a.regist, false);
    t.equal(a.expires_at, null);

    const b = await store.devices.create({ pwd: 'secret-b', name: 'NVR lobby' });
    t.equal(b.deviceid, '37070000081118000002');
    t.equal(b.name, 'NVR lobby');
    t.equal((await store.sysInfo.get())?.dnum, 2, 'dnum advanced');

    t.same(await store.devices.get(a.deviceid), a);
    t.equal(await store.devices.get('nope'), null);
    t.equal(await store.devices.getSecret(a.deviceid), 'secret-a');
    t.equal(await store.devices.getSecret('nope'), null);

    clock.tick(10);
    const updated = await store.devices.update(a.deviceid, {
      name: 'renamed',
      pwd: 'new-secret',
      host: '192.168.1.64',
      port: 5060,
      transport: 'UDP',
      rport: 5061,
      raddr: '10.0.0.2',
      source: '10.0.0.2:5061',
      manufacturer: 'Hikvision',
      devicetype: 'NVR',
      firmware: 'V4.1',
      model: 'DS-7608',
      uri: 'sip:37070000081118000001@3707000008',
      online: true,
      active: clock.value,
      regist: true,
      expires_at: clock.value + 3600,
    });
    t.match(updated, {
      name: 'renamed',
      host: '192.168.1.64',
      port: 5060,
      transport: 'UDP',
      rport: 5061,
      raddr: '10.0.0.2',
      source: '10.0.0.2:5061',
      manufacturer: 'Hikvision',
      devicetype: 'NVR',
      firmware: 'V4.1',
      model: 'DS-7608',
      online: 1,
      active: clock.value,
      regist: true,
      expires_at: clock.value + 3600,
      addtime: a.addtime,
      uptime: clock.value,
    });
    t.notOk(updated && 'pwd' in updated);
    t.equal(await store.devices.getSecret(a.deviceid), 'new-secret');

    const partial = await store.devices.update(a.deviceid, { online: 0, expires_at: null, active: -1 });
    t.equal(partial?.online, 0);
    t.equal(partial?.expires_at, null);
    t.equal(partial?.active, -1, 'negative keepalive marker kept');
    t.equal(partial?.name, 'renamed', 'untouched fields kept');
    t.equal(await store.devices.update('nope', { name: 'x' }), null, 'unknown device → null');

    const listed = await store.devices.list();
    t.equal(listed.total, 2);
    for (const row of listed.list) t.notOk('pwd' in row, 'list rows have no pwd');

    t.equal(await store.devices.softDelete(b.deviceid), true);
    t.equal(await store.devices.softDelete(b.deviceid), false, 'second delete finds nothing');
    t.equal(await store.devices.get(b.deviceid), null);
    t.equal(await store.devices.getSecret(b.deviceid), null);
    t.equal(await store.devices.update(b.deviceid, { name: 'ghost' }), null, 'deleted rows are not updated');
    t.same(ids((await store.devices.list()).list), [a.deviceid]);

    const again = await store.devices.create({ deviceid: b.deviceid, pwd: 'back' });
    t.equal(again.deviceid, b.deviceid, 'a soft-deleted ID can be provisioned again');
    t.not(again.id, b.id);
  });

  t.test('devices: explicit ID, duplicate rejected, counter moves past it', async (t) => {
    const { store } = await open();
    const given = await store.devices.create({ deviceid: '34020000001320000001', pwd: 'x' });
    t.equal(given.deviceid, '34020000001320000001');
    const err = await expectError(
      t,
      store.devices.create({ deviceid: '34020000001320000001', pwd: 'y' }),
      DuplicateError,
      'same explicit ID',
    );
    t.equal(err?.entity, 'device');
    t.equal(err?.key, '34020000001320000001');
    t.equal(await store.devices.getSecret('34020000001320000001'), 'x', 'the original row untouched');
    t.equal((await store.devices.list()).total, 1);

    await store.devices.create({ deviceid: '37070000081118000010', pwd: 'x' });
    const next = await store.devices.create({ pwd: 'x' });
    t.equal(next.deviceid, '37070000081118000011', 'allocation skips past an explicit ID in its range');
    t.equal((await store.sysInfo.get())?.dnum, 11);

    await expectError(t, store.devices.create({ deviceid: '', pwd: 'x' }), Error, 'empty explicit ID');
  });

  t.test('devices: 200 concurrent creates get unique, sequential IDs', async (t) => {
    const { store } = await open();
    const created = await Promise.all(
      Array.from({ length: 200 }, (_, i) => store.devices.create({ pwd: `p${i}` })),
    );
    const got = created.map((d) => d.deviceid).sort();
    const expected = Array.from({ length: 200 }, (_, i) => `37070000081118${String(i + 1).padStart(6, '0')}`);
    t.same(got, expected, '000001 … 000200, no gaps, no duplicates');
    t.equal((await store.sysInfo.get())?.dnum, 200);
    t.equal((await store.devices.list({ limit: -1 })).total, 200);

    const parent = created[0]!.deviceid;
    const channels = await Promise.all(
      Array.from({ length: 50 }, () => store.channels.create(parent, { memo: 'c' })),
    );
    t.equal(new Set(channels.map((c) => c.channelid)).size, 50, 'channel IDs unique too');
    t.equal((await store.sysInfo.get())?.cnum, 50);
  });

  t.test('channels: CRUD, parent checks, duplicates', async (t) => {
    const { store, clock } = await open();
    const device = await store.devices.create({ pwd: 'x' });
    await expectError(t, store.channels.create('nope', { memo: 'm' }), NotFoundError, 'unknown parent');
    t.equal((await store.sysInfo.get())?.cnum, 0, 'no counter consumed by a failed create');

    const c1 = await store.channels.create(device.deviceid, { memo: 'gate', streamtype: 'push' });
    t.equal(c1.channelid, '37070000081318000001', 'cid + 000001');
    t.match(c1, { deviceid: device.deviceid, memo: 'gate', streamtype: 'push', url: '', status: '' });
    const c2 = await store.channels.create(device.deviceid, {
      memo: 'pull cam',
      streamtype: 'pull',
      url: 'rtsp://10.0.0.9/live',
    });
    t.equal(c2.channelid, '37070000081318000002');
    t.equal(c2.url, 'rtsp://10.0.0.9/live');
    t.equal((await store.channels.create(device.deviceid, {})).streamtype, 'push', 'default push');

    const explicit = await store.channels.create(device.deviceid, { channelid: '34020000001310000001' });
    t.equal(explicit.channelid, '34020000001310000001');
    const dup = await expectError(
      t,
      store.channels.create(device.deviceid, { channelid: '34020000001310000001' }),
      DuplicateError,
      'duplicate channel',
    );
    t.equal(dup?.entity, 'channel');

    clock.tick(5);
    const updated = await store.channels.update(c2.channelid, {
      memo: 'renamed',
      streamtype: 'push',
      url: '',
      vf: 'H264',
      width: 1920,
      height: 1080,
      fps: 25,
      longitude: 117.25,
      latitude: 36.5,
    });
    t.match(updated, {
      memo: 'renamed',
      streamtype: 'push',
      url: '',
      vf: 'H264',
      width: 1920,
      height: 1080,
      fps: 25,
      longitude: 117.25,
      latitude: 36.5,
      uptime: clock.value,
    });
    t.equal(await store.channels.update('nope', { memo: 'x' }), null);
    t.same(ids(await store.channels.listByDevice(device.deviceid)), [
      '34020000001310000001',
      '37070000081318000001',
      '37070000081318000002',
      '37070000081318000003',
    ]);

    t.equal(await store.channels.softDelete(c1.channelid), true);
    t.equal(await store.channels.softDelete(c1.channelid), false);
    t.equal(await store.channels.get(c1.channelid), null);
    t.equal((await store.channels.list()).total, 3);
    t.ok(await store.devices.get(device.deviceid), 'deleting a channel leaves the device');
  });

  t.test('soft delete of a device cascades to its channels only', async (t) => {
    const { store, clock } = await open();
    const a = await store.devices.create({ pwd: 'x' });
    const b = await store.devices.create({ pwd: 'x' });
    const a1 = await store.channels.create(a.deviceid, {});
    const a2 = await store.channels.create(a.deviceid, {});
    const b1 = await store.channels.create(b.deviceid, {});
    clock.tick(60);
    t.equal(await store.devices.softDelete(a.deviceid), true);
    t.equal(await store.channels.get(a1.channelid), null);
    t.equal(await store.channels.get(a2.channelid), null);
    t.ok(await store.channels.get(b1.channelid), "the other device's channel survives");
    t.same(ids((await store.channels.list()).list), [b1.channelid]);
    t.same(await store.channels.listByDevice(a.deviceid), []);
    await expectError(t, store.channels.create(a.deviceid, {}), NotFoundError, 'no channels under a deleted device');
    // The same channel ID may come back after the cascade.
    const back = await store.channels.create(b.deviceid, { channelid: a1.channelid });
    t.equal(back.deviceid, b.deviceid);
  });

  t.test('upsertFromCatalog: update known, add or ignore unknown', async (t) => {
    const { store, clock } = await open();
    const device = await store.devices.create({ pwd: 'x' });
    const other = await store.devices.create({ pwd: 'x' });
    const known = await store.channels.create(device.deviceid, { memo: 'keep me' });
    const foreign = await store.channels.create(other.deviceid, { memo: 'not yours' });
    clock.tick(100);

    const items = [
      {
        channelid: known.channelid,
        name: 'Gate',
        manufacturer: 'Dahua',
        model: 'IPC-HFW',
        owner: 'Owner',
        civilcode: '370700',
        address: 'Gate 1',
        parental: 0,
        parentid: device.deviceid,
        safetyway: 0,
        registerway: 1,
        secrecy: 0,
        status: 'ON',
        ptztype: 1,
        longitude: 120.5,
        latitude: 30.25,
        uri: `sip:${known.channelid}@3707000008`,
      },
      { channelid: '34020000001310000077', name: 'Unknown cam', status: 'OFF' },
      { channelid: foreign.channelid, name: 'steal attempt', status: 'ON' },
    ];

    const first = await store.channels.upsertFromCatalog(device.deviceid, items, { addUnknown: false });
    t.same(first, { updated: [known.channelid], added: [], ignored: ['34020000001310000077', foreign.channelid] });
    const after = await store.channels.get(known.channelid);
    t.match(after, { ...items[0], memo: 'keep me', active: clock.value, uptime: clock.value });
    t.equal(await store.channels.get('34020000001310000077'), null, 'unknown not added');
    t.equal((await store.channels.get(foreign.channelid))?.name, '', 'foreign channel untouched');
    t.equal((await store.channels.get(foreign.channelid))?.deviceid, other.deviceid);

    clock.tick(100);
    const second = await store.channels.upsertFromCatalog(
      device.deviceid,
      [{ channelid: known.channelid, status: 'OFF' }, ...items.slice(1)],
      { addUnknown: true },
    );
    t.same(second, { updated: [known.channelid], added: ['34020000001310000077'], ignored: [foreign.channelid] });
    t.match(await store.channels.get(known.channelid), { status: 'OFF', name: 'Gate', active: clock.value });
    t.match(await store.channels.get('34020000001310000077'), {
      deviceid: device.deviceid,
      name: 'Unknown cam',
      status: 'OFF',
      streamtype: 'push',
      active: clock.value,
      addtime: clock.value,
    });
    t.equal((await store.sysInfo.get())?.cnum, 2, 'catalog IDs do not consume the counter');

    await expectError(
      t,
      store.channels.upsertFromCatalog('nope', items, { addUnknown: true }),
      NotFoundError,
      'unknown device',
    );
  });

  t.test('streams: dialog state round-trips; close keeps the first reason', async (t) => {
    const { store, clock } = await open();
    const inserted = await store.streams.insert({
      streamid: '0C8A3B01',
      ssrc: '0370700001',
      t: 1,
      kind: 'gb28181',
      deviceid: '37070000081118000001',
      channelid: '37070000081318000001',
      start: 1_699_990_000,
      end: 1_699_993_600,
      callid: 'a84b4c76e66710@pc33.example',
      from_tag: '1928301774',
      to_tag: '',
      cseq: 20,
      route: ['<sip:10.0.0.1;lr>', '<sip:10.0.0.2;lr>'],
      remote_target: 'sip:37070000081318000001@192.168.1.64:5060',
      media_host: '10.0.0.5',
      media_port: 30000,
      media_transport: 'tcp',
      media_server: 'local',
      worker: 2,
      urls: { flv: 'http://h/live/0C8A3B01.flv', ws: 'ws://h/live/0C8A3B01.flv' },
      stream: false,
    });
    t.match(inserted, {
      streamid: '0C8A3B01',
      ssrc: '0370700001',
      t: 1,
      kind: 'gb28181',
      status: 0,
      start: 1_699_990_000,
      end: 1_699_993_600,
      callid: 'a84b4c76e66710@pc33.example',
      from_tag: '1928301774',
      to_tag: '',
      cseq: 20,
      remote_target: 'sip:37070000081318000001@192.168.1.64:5060',
      media_host: '10.0.0.5',
      media_port: 30000,
      media_transport: 'tcp',
      media_server: 'local',
      worker: 2,
      stream: false,
      reason: null,
      closed_at: null,
      addtime: clock.value,
    });
    t.same(inserted.route, ['<sip:10.0.0.1;lr>', '<sip:10.0.0.2;lr>']);
    t.same(inserted.urls, { flv: 'http://h/live/0C8A3B01.flv', ws: 'ws://h/live/0C8A3B01.flv' });
    t.same(await store.streams.get(inserted.id), inserted);

    clock.tick(3);
    const acked = await store.streams.update(inserted.id, { to_tag: 'as8f7a6', cseq: 21, stream: true });
    t.match(acked, { to_tag: 'as8f7a6', cseq: 21, stream: true, uptime: clock.value });
    t.same(acked?.route, inserted.route, 'untouched JSON fields kept');

    const live = await store.streams.insert({
      streamid: '0C8A3B02',
      ssrc: '0370700002',
      t: 0,
      kind: 'gb28181',
      deviceid: '37070000081118000001',
      channelid: '37070000081318000002',
    });
    t.same(live.route, [], 'route defaults to []');
    t.same(live.urls, {}, 'urls default to {}');
    t.equal(live.worker, null);
    const jt = await store.streams.insert({
      streamid: '013800138000-1',
      ssrc: '',
      t: 0,
      kind: 'jt1078',
      deviceid: '013800138000',
      channelid: '1',
    });

    t.same((await store.streams.listOpen()).map((s) => s.id), [inserted.id, live.id, jt.id], 'oldest first');
    t.same((await store.streams.listOpen({ kind: 'jt1078' })).map((s) => s.id), [jt.id]);
    t.same((await store.streams.listOpen({ channelid: live.channelid, t: 0 })).map((s) => s.id), [live.id]);

    clock.tick(10);
    const closed = await store.streams.close(inserted.id, 'bye from api');
    t.match(closed, { status: 1, reason: 'bye from api', closed_at: clock.value });
    clock.tick(10);
    const closedAgain = await store.streams.close(inserted.id, 'cron');
    t.match(closedAgain, { status: 1, reason: 'bye from api', closed_at: clock.value - 10 }, 'first reason kept');
    t.equal(await store.streams.close(999_999, 'x'), null);

    const viaUpdate = await store.streams.update(live.id, { status: 1, reason: 'device bye' });
    t.match(viaUpdate, { status: 1, reason: 'device bye', closed_at: clock.value }, 'closed_at set by update too');
    t.same((await store.streams.listOpen()).map((s) => s.id), [jt.id]);

    // A new session with the same streamid after a restart: the open one is found first.
    const reopened = await store.streams.insert({ ...live, status: undefined } as never);
    t.equal((await store.streams.getByStreamId('0C8A3B02'))?.id, reopened.id);
    await store.streams.close(reopened.id, 'x');
    t.equal((await store.streams.getByStreamId('0C8A3B02'))?.id, reopened.id, 'newest when all closed');
    t.equal(await store.streams.getByStreamId('none'), null);
    t.equal(await store.streams.get(123456), null);

    const closedList = await store.streams.list({
      filters: [{ field_name: 'status', operator: '=', value: 1 }],
      sort: 'id',
    });
    t.same(closedList.list.map((s) => s.id), [inserted.id, live.id, reopened.id], 'list includes closed rows');
    const byCseq = await store.streams.list({ filters: '[{"field_name":"cseqno","opertator":">=","value":"21"}]' });
    t.same(byCseq.list.map((s) => s.id), [inserted.id], 'gosip alias cseqno');
    await expectError(
      t,
      store.streams.list({ filters: [{ field_name: 'route', operator: 'like', value: 'sip' }] }),
      QueryError,
      'JSON columns are not filterable',
    );
  });

  t.test('filters: every operator, both spellings, nested or groups', async (t) => {
    const { store, clock } = await open();
    const names = ['alpha', 'beta', 'gamma', '100% real', 'under_score', "O'Brien"];
    const made: Device[] = [];
    for (const [i, name] of names.entries()) {
      clock.tick(10);
      const d = await store.devices.create({ pwd: 'x', name });
      made.push((await store.devices.update(d.deviceid, { port: 5060 + i, online: i % 2 === 0 ? 1 : 0 }))!);
    }
    const byName = (list: Device[]) => list.map((d) => d.name).sort();
    const run = async (filters: unknown) => byName((await store.devices.list({ filters, limit: -1 })).list);

    t.same(await run([{ field_name: 'name', opertator: '=', value: 'beta' }]), ['beta'], '= (opertator)');
    t.same(await run([{ field_name: 'name', operator: '=', value: 'beta' }]), ['beta'], '= (operator)');
    t.same(await run([{ field_name: 'port', operator: '>', value: 5063 }]), ['under_score', "O'Brien"].sort(), '>');
    t.same(await run([{ field_name: 'port', operator: '<', value: '5061' }]), ['alpha'], '< with numeric string');
    t.same(await run([{ field_name: 'port', operator: '>=', value: 5064 }]), ['under_score', "O'Brien"].sort(), '>=');
    t.same(await run([{ field_name: 'port', operator: '<=', value: 5061 }]), ['alpha', 'beta'], '<=');
    t.equal((await run([{ field_name: 'port', operator: '<>', value: 5060 }])).length, 5, '<>');
    t.same(await run([{ field_name: 'name', operator: 'in', value: 'alpha,gamma,' }]), ['alpha', 'gamma'], 'in, comma string');
    t.same(await run([{ field_name: 'name', operator: 'in', value: ['beta', 'nope'] }]), ['beta'], 'in, array');
    t.same(await run([{ field_name: 'name', operator: 'in', value: [] }]), [], 'in, empty');
    t.equal((await run([{ field_name: 'port', operator: 'notin', value: [5060, 5061] }])).length, 4, 'notin array');
    t.equal((await run([{ field_name: 'name', operator: 'notin', value: 'alpha,beta' }])).length, 4, 'notin string');
    t.same(await run([{ field_name: 'name', operator: 'like', value: 'amm' }]), ['gamma'], 'like = contains');
    t.same(await run([{ field_name: 'name', operator: 'like', value: '%' }]), ['100% real'], 'like: % is literal');
    t.same(await run([{ field_name: 'name', operator: 'like', value: 'a_p' }]), [], 'like: _ is not a wildcard');
    t.same(await run([{ field_name: 'name', operator: 'like', value: 'r_sc' }]), ['under_score'], 'like: _ literal');
    t.same(await run([{ field_name: 'name', operator: 'like', value: '!' }]), [], 'like: escape char literal');
    t.same(await run([{ field_name: 'name', operator: '=', value: "O'Brien" }]), ["O'Brien"], 'quotes are data');
    t.same(await run([{ field_name: 'online', operator: '=', value: 1 }]), ['alpha', 'gamma', 'under_score'].sort());
    t.same(await run([{ field_name: 'regist', operator: '=', value: false }]).then((r) => r.length), 6, 'bool field');
    t.same(await run([{ field_name: 'expires_at', operator: '=', value: null }]).then((r) => r.length), 6, 'IS NULL');
    t.same(await run([{ field_name: 'expires_at', operator: '<>', value: null }]), [], 'IS NOT NULL');
    t.same(await run([{ field_name: 'name', operator: 'LIKE', value: 'lph' }]), ['alpha'], 'operator case-insensitive');

    t.same(
      await run([
        { field_name: 'online', operator: '=', value: 1 },
        { or: [[{ field_name: 'name', operator: '=', value: 'alpha' }], [{ field_name: 'port', operator: '>', value: 5063 }]] },
      ]),
      ['alpha', 'under_score'],
      'top-level AND with an or group',
    );
    t.same(
      await run([
        {
          or: [
            [
              { field_name: 'port', opertator: '>=', value: 5061 },
              {
                or: [
                  [{ field_name: 'name', operator: 'like', value: 'et' }],
                  [{ field_name: 'name', operator: 'in', value: 'gamma' }],
                ],
              },
            ],
            [{ field_name: 'name', operator: '=', value: "O'Brien" }],
          ],
        },
      ]),
      ['beta', 'gamma', "O'Brien"].sort(),
      'nested or groups',
    );
    t.same(
      await run(JSON.stringify([{ field_name: 'addtime', operator: '>', value: made[3]!.addtime }])),
      ['under_score', "O'Brien"].sort(),
      'filters as JSON text',
    );
  });

  t.test('paging and sort', async (t) => {
    const { store, clock } = await open();
    const created: Device[] = [];
    for (let i = 0; i < 25; i++) {
      clock.tick(1);
      created.push(await store.devices.create({ pwd: 'x', name: `dev-${String(24 - i).padStart(2, '0')}` }));
    }
    const first = await store.devices.list();
    t.equal(first.total, 25, 'total ignores the page');
    t.equal(first.list.length, 20, 'default limit 20');
    t.same(ids(first.list), ids(created.slice(5).reverse()), 'default sort -addtime');

    const second = await store.devices.list({ skip: 20 });
    t.same(ids(second.list), ids(created.slice(0, 5).reverse()), 'skip');
    t.equal(second.total, 25);

    t.equal((await store.devices.list({ limit: -1 })).list.length, 25, 'negative limit = all');
    t.equal((await store.devices.list({ limit: '5', skip: '3' })).list.length, 5, 'string paging');
    t.same((await store.devices.list({ limit: 0 })), { total: 25, list: [] }, 'limit 0 = count only');
    t.equal((await store.devices.list({ limit: 100000 })).list.length, 25, 'large limit capped, still all 25');
    t.equal((await store.devices.list({ limit: -1, skip: 24 })).list.length, 1, 'no limit with skip');

    const byName = await store.devices.list({ sort: 'name', limit: 3 });
    t.same(byName.list.map((d) => d.name), ['dev-00', 'dev-01', 'dev-02'], 'ASC by name');
    const byNameDesc = await store.devices.list({ sort: '-name', limit: 2 });
    t.same(byNameDesc.list.map((d) => d.name), ['dev-24', 'dev-23']);

    for (const d of created.slice(0, 3)) await store.devices.update(d.deviceid, { port: 1 });
    const multi = await store.devices.list({ sort: '-port, addtime', limit: 4 });
    t.same(ids(multi.list), [...ids(created.slice(0, 3)), created[3]!.deviceid], 'multi-key sort');

    const page = await store.devices.list({
      filters: [{ field_name: 'port', operator: '=', value: 0 }],
      sort: 'id',
      limit: 5,
      skip: 5,
    });
    t.equal(page.total, 22, 'total counts the filtered set');
    t.same(ids(page.list), ids(created.slice(8, 13)));

    // Identical addtime everywhere: the id tie-breaker keeps pages disjoint.
    const { store: flat } = await open(new TestClock(5));
    for (let i = 0; i < 7; i++) await flat.devices.create({ pwd: 'x' });
    const pages = [0, 3, 6].map((skip) => flat.devices.list({ limit: 3, skip }));
    const seen = (await Promise.all(pages)).flatMap((p) => ids(p.list));
    t.equal(new Set(seen).size, 7, 'stable paging on equal sort keys');
  });

  t.test('injection attempts are rejected or bound; the table stays intact', async (t) => {
    const { store } = await open();
    for (let i = 0; i < 3; i++) await store.devices.create({ pwd: `p${i}`, name: `n${i}` });

    await queryError(t, store, { sort: 'addtime;drop table devices' }, 'sort');
    await queryError(t, store, { sort: 'addtime desc' }, 'sort');
    await queryError(t, store, { sort: '(select 1)' }, 'sort');
    await queryError(t, store, { sort: 'pwd' }, 'sort', 'pwd');
    await queryError(t, store, { sort: '-deltime' }, 'sort', 'deltime');
    await queryError(t, store, { filters: [{ field_name: 'pwd', operator: '=', value: 'p0' }] }, 'filters', 'pwd');
    await queryError(t, store, { filters: [{ field_name: 'pwd', operator: 'like', value: '' }] }, 'filters', 'pwd');
    await queryError(t, store, { filters: [{ field_name: "name' OR '1'='1", operator: '=', value: 1 }] }, 'filters');
    await queryError(t, store, { filters: [{ field_name: 'name`', operator: '=', value: 1 }] }, 'filters');
    await queryError(t, store, { filters: [{ field_name: '`name`', operator: '=', value: 1 }] }, 'filters');
    await queryError(t, store, { filters: [{ field_name: '"name"', operator: '=', value: 1 }] }, 'filters');
    await queryError(t, store, { filters: [{ field_name: 'devices.name', operator: '=', value: 1 }] }, 'filters');
    await queryError(t, store, { filters: [{ field_name: 'name', operator: '= 1 OR 1 =', value: 1 }] }, 'filters', 'name');
    await queryError(t, store, { filters: [{ field_name: '__proto__', operator: '=', value: 1 }] }, 'filters');
    await queryError(t, store, { filters: '[{"field_name":"name","opertator":"=","value":"x"}' }, 'filters', 'filters');
    await queryError(t, store, { filters: '{"field_name":"name"}' }, 'filters', 'filters');
    await queryError(t, store, { filters: 'not json' }, 'filters', 'filters');
    await queryError(t, store, { filters: [{ field_name: 'name', operator: 'regexp', value: '.*' }] }, 'filters');
    await queryError(t, store, { filters: [{ field_name: 'port', operator: '=', value: '1 OR 1=1' }] }, 'filters', 'port');
    await queryError(t, store, { limit: '10; DROP TABLE devices' }, 'limit', 'limit');
    await queryError(t, store, { limit: 1.5 }, 'limit');
    await queryError(t, store, { skip: 'abc' }, 'skip', 'skip');
    await queryError(t, store, { skip: -1 }, 'skip');

    const quoted = await store.devices.list({
      filters: [
        {
          or: [
            [{ field_name: 'name', operator: '=', value: "' OR '1'='1" }],
            [{ field_name: 'name', operator: 'in', value: ["x') OR ('1'='1", "'; DROP TABLE devices; --"] }],
            [{ field_name: 'name', operator: 'like', value: "%' OR 1=1 -- " }],
          ],
        },
      ],
    });
    t.same(quoted, { total: 0, list: [] }, 'quotes inside or values are data, not SQL');

    const listed = await store.devices.list({ limit: -1, sort: 'id' });
    t.same(listed.list.map((d) => d.name), ['n0', 'n1', 'n2'], 'devices table intact with the right rows');
    t.equal(await store.devices.getSecret(listed.list[0]!.deviceid), 'p0');
  });
}
