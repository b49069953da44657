import { createSocket } from 'node:dgram';
import t from 'tap';
import { RtpPortAllocator } from '../../src/media-process/rtp-port-allocator.js';
import { ServiceError } from '../../src/shared/errors.js';

const bindOk = async () => undefined;

t.test('parses the range and refuses nonsense', async (t) => {
  t.same(RtpPortAllocator.parse('30000-30500'), [30000, 30500]);
  t.same(RtpPortAllocator.parse(' 10 - 10 '), [10, 10]);
  for (const bad of ['', '30000', '30500-30000', '0-10', '1-70000', 'a-b', '1-2-3']) t.throws(() => RtpPortAllocator.parse(bad), RangeError, bad);
});

t.test('hands out each port once until released', async (t) => {
  const ports = new RtpPortAllocator('40000-40003', () => 0.5);
  const got = [];
  for (let i = 0; i < 4; i++) got.push(await ports.allocate(bindOk));
  t.same([...got].sort(), [40000, 40001, 40002, 40003], 'every port once, from a random start');
  t.equal(got[0], 40002, 'starts where the random draw points');
  t.equal(ports.inUse, 4);
  const full = await ports.allocate(bindOk).catch((e: unknown) => e);
  t.ok(full instanceof ServiceError, 'exhaustion is a ServiceError');
  t.equal((full as ServiceError).status, 503);
  t.match((full as ServiceError).message, /no free RTP port in media.rtpPorts 40000-40003/);
  t.ok(ports.release(40001));
  t.notOk(ports.release(40001), 'a port is released once');
  t.equal(await ports.allocate(bindOk), 40001);
});

t.test('a busy port is skipped; another failure is thrown and frees the port', async (t) => {
  const ports = new RtpPortAllocator('41000-41002', () => 0);
  const tried: number[] = [];
  const port = await ports.allocate(async (p) => {
    tried.push(p);
    if (p === 41000) throw new Error('bind EADDRINUSE 0.0.0.0:41000');
  });
  t.same(tried, [41000, 41001]);
  t.equal(port, 41001);
  t.notOk(ports.isInUse(41000), 'the busy port is not held');
  await t.rejects(ports.allocate(async () => { throw new TypeError('worker crashed'); }), TypeError);
  t.equal(ports.inUse, 1, 'a failed bind leaves nothing taken');
});

t.test('gives up after maxBinds busy ports', async (t) => {
  const ports = new RtpPortAllocator('42000-42100');
  let binds = 0;
  const error = await ports.allocate(async () => { binds++; throw new Error('EACCES'); }, 5).catch((e: unknown) => e);
  t.equal(binds, 5);
  t.match((error as ServiceError).message, /5 ports tried were busy/);
});

t.test('against real sockets: a port another program holds is skipped', async (t) => {
  const holder = createSocket('udp4');
  await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
  const held = holder.address().port;
  t.teardown(() => holder.close());
  const ports = new RtpPortAllocator(`${held}-${held + 1}`, () => 0);
  const mine = createSocket('udp4');
  t.teardown(() => mine.close());
  const bound = await ports.allocate(
    (p) =>
      new Promise<void>((resolve, reject) => {
        mine.once('error', reject);
        mine.bind(p, '127.0.0.1', () => {
          mine.off('error', reject);
          resolve();
        });
      }),
  ).catch((e: Error) => e);
  // The next port may be taken by someone else on a busy machine; then exhaustion is the right answer.
  if (bound instanceof Error) t.match(bound.message, /no free RTP port|EADDRINUSE/);
  else t.equal(bound, held + 1, 'the held port was skipped');
});
