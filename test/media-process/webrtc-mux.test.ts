/**
 * The intercom's UDP mux: the STUN USERNAME reader takes any bytes without throwing
 * (fast-check), a Binding request names its session by ufrag, the sender's address is then
 * learnt, strangers are dropped and counted, and ufrags handed out are unique.
 */
import t from 'tap';
import fc from 'fast-check';
import { createSocket } from 'node:dgram';
import { stunUsername, WebrtcMux, type MuxAddress } from '../../src/media-process/intercom/webrtc-mux.js';
import { freePort } from '../helpers/ports.js';

function bindingRequest(username: string): Buffer {
  const value = Buffer.from(username, 'utf8');
  const padded = (value.length + 3) & ~3;
  const out = Buffer.alloc(20 + 4 + padded);
  out.writeUInt16BE(0x0001, 0);
  out.writeUInt16BE(4 + padded, 2);
  out.writeUInt32BE(0x2112a442, 4);
  out.fill(7, 8, 20);
  out.writeUInt16BE(0x0006, 20);
  out.writeUInt16BE(value.length, 22);
  value.copy(out, 24);
  return out;
}

t.test('stunUsername: any bytes, never a throw; a Binding request gives its USERNAME', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const u = stunUsername(bytes);
      return u === null || typeof u === 'string';
    }),
  );
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z0-9]{4,32}:[a-z0-9]{4,32}$/), (username) => stunUsername(bindingRequest(username)) === username),
  );
  t.equal(stunUsername(bindingRequest('abcd:efgh')), 'abcd:efgh');
  const response = bindingRequest('abcd:efgh');
  response.writeUInt16BE(0x0101, 0);
  t.equal(stunUsername(response), null, 'a Binding response is not a session opener');
  t.equal(stunUsername(Buffer.from([0x80, 0x08, 0, 1])), null, 'RTP is not STUN');
  t.equal(stunUsername(Buffer.from([22, 0xfe, 0xfd])), null, 'DTLS is not STUN');
});

t.test('routing: by ufrag first, then by the learnt address; strangers dropped', async (t) => {
  const mux = new WebrtcMux('127.0.0.1', await freePort());
  await mux.listen();
  t.teardown(() => mux.close());
  const ufrags = new Set(Array.from({ length: 1000 }, () => mux.reserveUfrag()));
  t.equal(ufrags.size, 1000, 'reserved ufrags are unique');
  const a = mux.reserveUfrag();
  const b = mux.reserveUfrag();
  const got: Array<[string, Buffer, MuxAddress]> = [];
  mux.register(a, { deliver: (data, from) => got.push(['a', data, from]) });
  mux.register(b, { deliver: (data, from) => got.push(['b', data, from]) });
  t.throws(() => mux.register(a, { deliver: () => {} }), /already registered/);
  const browser = createSocket('udp4');
  await new Promise<void>((r) => browser.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => browser.close());
  const send = (data: Buffer) => new Promise<void>((r) => browser.send(data, mux.port, '127.0.0.1', () => r()));
  const settle = () => new Promise((r) => setTimeout(r, 100));
  await send(Buffer.from([0x80, 8, 0, 1]));
  await settle();
  t.equal(got.length, 0, 'RTP from an unknown address goes nowhere');
  t.equal(mux.stats.unrouted, 1);
  await send(bindingRequest(`${b}:remote`));
  await send(Buffer.from([0x80, 8, 0, 2]));
  await settle();
  t.same(got.map((g) => g[0]), ['b', 'b'], 'the request names session b, and the address stays b\'s');
  t.equal(got[1]![2][1], (browser.address() as { port: number }).port);
  // The same address now checks for session a (a gone browser's port reused): it moves to a.
  await send(bindingRequest(`${a}:other`));
  await send(Buffer.from([0x80, 8, 0, 4]));
  await settle();
  t.same(got.map((g) => g[0]), ['b', 'b', 'a', 'a'], 'a request naming another session moves the address');
  got.length = 2;
  mux.unregister(a);
  await send(Buffer.from([0x80, 8, 0, 3]));
  await settle();
  t.equal(got.length, 2, 'after unregister the address is forgotten');
  t.equal(mux.stats.unrouted, 2);
});
