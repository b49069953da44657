import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { FakeClock, NonceStore, parseMessage, systemClock, type Endpoint, type SipMessage, type SipResponse } from '../../src/protocol/sip/index.js';
import { SharedCounters } from '../../src/shared/counters.js';
import { AuthThrottle } from '../../src/sip/auth-throttle.js';
import { GbPlatform } from '../../src/sip/platform.js';
import { platformBasics } from '../helpers/gb-platform.js';
import { SIP_COUNTER_NAMES } from '../../src/shared/contracts/sip-counters.js';
import { SipTransport, type TransportOptions } from '../../src/sip/transport.js';
import { freePort } from '../helpers/ports.js';

const REALM = '3402000000';
const DEVICE = '34020000001320000001';
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

async function transport(t: Test, options: Partial<TransportOptions>) {
  const counters = SharedCounters.create(SIP_COUNTER_NAMES);
  const received: Array<{ message: SipMessage; remote: Endpoint }> = [];
  const port = await freePort();
  const sip = new SipTransport(
    { host: '127.0.0.1', port, transports: ['udp', 'tcp'], counters, ...options },
    { message: (message, remote) => received.push({ message, remote }), malformed: () => undefined },
  );
  await sip.start();
  t.teardown(() => sip.close());
  return { sip, counters, port, received };
}

/** Connects from `localAddress`; resolves with the socket and a promise of its close. */
async function open(port: number, localAddress = '127.0.0.1') {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, closed };
}

const settled = (p: Promise<unknown>, ms: number) => Promise.race([p.then(() => true), new Promise((r) => setTimeout(() => r(false), ms))]);

t.test('TCP: per-address and global connection caps refuse and count', async (t) => {
  const { sip, counters, port } = await transport(t, { tcpConnections: 3, tcpConnectionsPerAddress: 2 });
  const a1 = await open(port, '127.0.0.1');
  const a2 = await open(port, '127.0.0.1');
  const a3 = await open(port, '127.0.0.1');
  t.ok(await settled(a3.closed, 2000), 'third connection from one address is closed');
  t.equal(counters.get('tcp_refused|address-cap'), 1);
  const b1 = await open(port, '127.0.0.2');
  const c1 = await open(port, '127.0.0.3');
  t.ok(await settled(c1.closed, 2000), 'connection above the global cap is closed');
  t.equal(counters.get('tcp_refused|connection-cap'), 1);
  t.equal(sip.connectionCount, 3);
  t.notOk(await settled(Promise.race([a1.closed, a2.closed, b1.closed]), 200), 'connections within the caps stay open');
  for (const s of [a1, a2, b1]) s.socket.destroy();
});

t.test('TCP: a message above maxMessageSize closes the connection', async (t) => {
  const { counters, port, received } = await transport(t, { maxMessageSize: 2048 });
  const c = await open(port);
  // A head that never ends: without the limit it would be buffered for ever.
  c.socket.write(`REGISTER sip:x SIP/2.0\r\nX-Padding: ${'a'.repeat(3000)}`);
  t.ok(await settled(c.closed, 2000), 'closed');
  t.equal(counters.get('tcp_refused|oversize'), 1);
  const d = await open(port);
  d.socket.write(`MESSAGE sip:x SIP/2.0\r\nContent-Length: 5000\r\n\r\n`);
  t.ok(await settled(d.closed, 2000), 'a declared body above the limit closes it too');
  t.equal(counters.get('tcp_refused|oversize'), 2);
  t.equal(received.length, 0);
});

t.test('TCP: a connection nobody registered over is closed after tcpUnregisteredTimeout; a trusted one is not', async (t) => {
  const { sip, counters, port, received } = await transport(t, { tcpUnregisteredTimeout: 400, tcpIdleTimeout: 60_000 });
  const started = Date.now();
  const idle = await open(port);
  const trusted = await open(port);
  trusted.socket.write(
    'OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKa\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@b>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n',
  );
  for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  sip.trust(received[0]!.remote);
  t.ok(await settled(idle.closed, 3000), 'idle unregistered connection closed');
  const after = (await idle.closed) - started;
  t.ok(after >= 350 && after < 2500, `closed after ${after} ms`);
  t.equal(counters.get('tcp_refused|unregistered-idle'), 1);
  t.notOk(await settled(trusted.closed, 800), 'the connection a device registered over stays');
  trusted.socket.destroy();
});

/** A platform on a real UDP socket. */
async function platformOnUdp(t: Test) {
  const counters = SharedCounters.create(SIP_COUNTER_NAMES);
  const port = await freePort();
  let sip: SipTransport | null = null;
  const platform = new GbPlatform({
    serverId: '34020000002000000001',
    domain: REALM,
    advertisedHost: '127.0.0.1',
    advertisedPort: port,
    registration: 'provisioned',
    maxExpires: 3600,
    keepaliveInterval: 60,
    keepaliveTimeouts: 3,
    clock: systemClock,
    nonces: new NonceStore(),
    counters,
    lookup: async () => ({ known: true, password: 'pw' }),
    send: (bytes, remote) => sip?.send(bytes, remote) ?? false,
    events: { registered: () => undefined, offline: () => undefined, keepalive: () => undefined, manscdp: () => undefined },
  });
  sip = new SipTransport(
    { host: '127.0.0.1', port, transports: ['udp'], counters },
    { message: (m, r) => platform.receive(m, r), malformed: (failure, r) => platform.malformed(r, failure) },
  );
  await sip.start();
  t.teardown(async () => {
    platform.close();
    await sip!.close();
  });
  const client = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
  t.teardown(() => client.close());
  const replies: SipResponse[] = [];
  client.on('message', (data) => {
    const parsed = parseMessage(data);
    if (parsed.ok && parsed.message.kind === 'response') replies.push(parsed.message);
  });
  const send = (text: string) => client.send(Buffer.from(text), port, '127.0.0.1');
  return { counters, send, replies, clientPort: () => client.address().port };
}

t.test('UDP: malformed requests are answered 400 with the reason when they can be, counted either way', async (t) => {
  const { counters, send, replies, clientPort } = await platformOnUdp(t);
  const head = (cseq: number, extra: string) =>
    `OPTIONS sip:34020000002000000001@${REALM} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${clientPort()};rport;branch=z9hG4bKm${cseq}\r\n` +
    `From: <sip:${DEVICE}@${REALM}>;tag=f${cseq}\r\nTo: <sip:34020000002000000001@${REALM}>\r\nCall-ID: bad-${cseq}\r\nCSeq: ${cseq} OPTIONS\r\n${extra}`;
  send(head(1, 'Max-Forwards: lots\r\nContent-Length: 0\r\n\r\n'));
  send(head(2, 'This line has no colon\r\nContent-Length: 0\r\n\r\n'));
  send(head(3, 'Content-Length: 12x\r\n\r\n'));
  send('OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n'); // no Via, From, To...: cannot be answered
  send('\x00\x01garbage');
  for (let i = 0; i < 100 && (replies.length < 3 || counters.get('malformed|udp') < 5); i++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100));
  t.same(
    replies.map((r) => [r.status, r.headers.get('call-id'), r.reason]).sort(),
    [
      [400, 'bad-1', 'invalid Max-Forwards'],
      [400, 'bad-2', 'header line without colon'],
      [400, 'bad-3', 'invalid Content-Length'],
    ],
  );
  t.equal(counters.get('malformed|udp'), 5, 'all five counted');
});

/** A platform on a fake clock with a throttle, driven directly (the wire is captured). */
function throttledRig(limits: Partial<ConstructorParameters<typeof AuthThrottle>[0]> = {}, maxNonces = 100_000) {
  const clock = new FakeClock(0);
  const counters = SharedCounters.create(SIP_COUNTER_NAMES);
  const responses: SipResponse[] = [];
  const nonces = new NonceStore({ clock, maxEntries: maxNonces });
  const throttle = new AuthThrottle({
    clock,
    challengesPerSecond: 10,
    challengeBurst: 20,
    authFailures: 5,
    authWindow: 60,
    banTime: 60,
    banTimeMax: 3600,
    trackedAddresses: 1000,
    ...limits,
  });
  const platform = new GbPlatform({
    ...platformBasics(clock, '34020000002000000001', REALM),
    nonces,
    throttle,
    counters,
    lookup: async (id) => ({ known: id === DEVICE, password: id === DEVICE ? 'right' : 'default' }),
    send: (bytes) => {
      const parsed = parseMessage(bytes);
      if (parsed.ok && parsed.message.kind === 'response') responses.push(parsed.message);
      return true;
    },
    events: { registered: () => undefined, offline: () => undefined, keepalive: () => undefined, manscdp: () => undefined },
  });
  let seq = 1;
  const flush = () => new Promise((r) => setImmediate(r));
  const register = async (address: string, device: string, authorization?: string) => {
    const n = seq++;
    const text =
      `REGISTER sip:34020000002000000001@${REALM} SIP/2.0\r\nVia: SIP/2.0/UDP ${address}:5070;rport;branch=z9hG4bKr${n}\r\n` +
      `From: <sip:${device}@${REALM}>;tag=f${n}\r\nTo: <sip:${device}@${REALM}>\r\nCall-ID: reg-${n}\r\nCSeq: ${n} REGISTER\r\n` +
      `Contact: <sip:${device}@${address}:5070>\r\nExpires: 3600\r\n${authorization ? `Authorization: ${authorization}\r\n` : ''}Content-Length: 0\r\n\r\n`;
    const parsed = parseMessage(Buffer.from(text));
    if (!parsed.ok) throw new Error(parsed.reason);
    platform.receive(parsed.message, { transport: 'UDP', address, port: 5070 });
    await flush();
    return responses.at(-1)!;
  };
  /** Challenge, then answer with `password`; returns the final response. */
  const attempt = async (address: string, device: string, password: string) => {
    const challenge = await register(address, device);
    if (challenge.status !== 401) return challenge;
    const nonce = /nonce="([^"]+)"/.exec(challenge.headers.get('www-authenticate')!)![1]!;
    const uri = `sip:34020000002000000001@${REALM}`;
    const response = md5(`${md5(`${device}:${REALM}:${password}`)}:${nonce}:${md5(`REGISTER:${uri}`)}`);
    return register(address, device, `Digest username="${device}", realm="${REALM}", nonce="${nonce}", uri="${uri}", response="${response}"`);
  };
  return { clock, counters, platform, throttle, nonces, register, attempt };
}

t.test('a password guesser is throttled (403 + Retry-After) while the device registers from another address', async (t) => {
  const r = throttledRig();
  t.teardown(() => r.platform.close());
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push((await r.attempt('198.51.100.7', DEVICE, `guess${i}`)).status);
  t.same(statuses, [403, 403, 403, 403, 403, 403, 403, 403]);
  const banned = await r.attempt('198.51.100.7', DEVICE, 'right');
  t.equal(banned.status, 403, 'banned: even the right password is refused from that address');
  t.equal(banned.headers.get('retry-after'), '60');
  t.equal(r.counters.get('auth|bad-password'), 5, 'five guesses were verified, then the address was banned');
  t.ok(r.counters.get('auth|throttled') >= 3);

  // A distributed guesser: one failure per new address, then the device ID is guarded.
  for (let i = 0; i < 3; i++) await r.attempt(`203.0.113.${i}`, DEVICE, 'nope');
  const guarded = await r.attempt('203.0.113.0', DEVICE, 'nope-again');
  t.equal(guarded.status, 403);
  t.ok(Number(guarded.headers.get('retry-after')) > 0, 'Retry-After on the guarded device');

  const legit = await r.attempt('192.0.2.10', DEVICE, 'right');
  t.equal(legit.status, 200, 'the device itself, from a clean address, registers');

  r.clock.advance(61_000);
  t.equal((await r.attempt('198.51.100.7', DEVICE, 'right')).status, 200, 'the ban ends after banTime');
});

t.test('challenges per address are rate limited with 503 + Retry-After; nonce storage stays bounded under a flood of unknown IDs', async (t) => {
  const r = throttledRig({ challengesPerSecond: 10, challengeBurst: 20, trackedAddresses: 500 }, 1000);
  t.teardown(() => r.platform.close());
  const burst: number[] = [];
  for (let i = 0; i < 25; i++) burst.push((await r.register('198.51.100.9', `3402000000132${String(i).padStart(7, '0')}`)).status);
  t.equal(burst.filter((s) => s === 401).length, 20, 'the burst gets challenges');
  const refused = await r.register('198.51.100.9', '34020000001329999999');
  t.equal(refused.status, 503);
  t.equal(refused.headers.get('retry-after'), '1');
  r.clock.advance(1000);
  t.equal((await r.register('198.51.100.9', '34020000001329999998')).status, 401, 'refilled after a second');

  // 5,000 unknown IDs from 5,000 addresses (spoofed UDP sources).
  for (let i = 0; i < 5000; i++) await r.register(`10.${i >> 8}.${i & 255}.1`, `3402000000133${String(i).padStart(7, '0')}`);
  t.ok(r.nonces.size <= 1000, `nonces held: ${r.nonces.size}`);
  t.ok(r.throttle.tracked.addresses <= 500, `addresses tracked: ${r.throttle.tracked.addresses}`);
  t.equal(r.throttle.tracked.devices, 0, 'nothing kept per unknown device ID');
  t.equal((await r.attempt('192.0.2.10', DEVICE, 'right')).status, 200, 'the device still registers');
});
