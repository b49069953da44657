import t from 'tap';
import {
  detectJt1078Variant,
  encodeJt1078Packet,
  Jt1078StreamFramer,
  type HeaderVariant,
} from '../../../src/protocol/jt1078/index.js';
import { captureBytes, chunked, ingest, scanPackets } from './fixtures/helpers.js';

function packet(seq: number, body = Buffer.alloc(50, seq & 0xff), variant: HeaderVariant = '2016') {
  return encodeJt1078Packet({ payloadType: 98, sequence: seq, sim: '13800138000', channel: 1, dataType: seq === 0 ? 0 : 1, subPackage: 0, timestamp: seq * 40, body }, variant);
}

t.test('push before draining is a caller bug', async (t) => {
  const f = new Jt1078StreamFramer();
  f.push(Buffer.concat([packet(0), packet(1)]));
  t.throws(() => f.push(packet(2)));
  t.ok(f.next());
  t.ok(f.next());
  t.equal(f.next(), null);
  f.push(packet(2));
  f.end();
  t.throws(() => f.push(packet(3)));
});

t.test('a corrupt length does not swallow the following packets', async (t) => {
  const packets = [0, 1, 2, 3, 4].map((i) => packet(i));
  const broken = Buffer.from(packets[1]!);
  broken.writeUInt16BE(1000, 28); // claims 1000 bytes: runs over packets 2..4
  const stream = Buffer.concat([packets[0]!, broken, packets[2]!, packets[3]!, packets[4]!, Buffer.alloc(2000, 0x11)]);
  for (const chunks of [[stream], chunked(stream, [1]), chunked(stream, [64])]) {
    const r = ingest(chunks);
    t.same(
      r.packets.map((p) => p.sequence),
      [0, 2, 3, 4],
    );
    t.equal(r.framer.counters.malformed, 1);
  }
});

t.test('a packet cut short by a splice is dropped, the next one is found', async (t) => {
  const a = packet(0);
  const b = packet(1);
  const c = packet(2);
  const stream = Buffer.concat([a, b.subarray(0, 40), c]);
  const r = ingest([stream]);
  t.same(
    r.packets.map((p) => p.sequence),
    [0, 2],
  );
  t.equal(r.framer.counters.resyncBytes, 40);
});

t.test('end() flushes: a trailing partial packet is counted, a last whole packet is returned', async (t) => {
  const whole = ingest([Buffer.concat([packet(0), packet(1)])]);
  t.equal(whole.packets.length, 2);
  const cut = ingest([Buffer.concat([packet(0), packet(1).subarray(0, 20)])]);
  t.equal(cut.packets.length, 1);
  t.equal(cut.framer.counters.malformed, 1);
  t.equal(cut.framer.counters.resyncBytes, 20);
  t.equal(cut.framer.bufferedBytes, 0);
  // A partial magic at the very end is held back, then discarded at end().
  const f = new Jt1078StreamFramer({ variant: '2016' }); // auto would wait to confirm the form
  f.push(Buffer.concat([packet(0), Buffer.from('01c')]));
  t.ok(f.next());
  t.equal(f.next(), null);
  t.equal(f.bufferedBytes, 3);
  f.end();
  t.equal(f.next(), null);
  t.equal(f.bufferedBytes, 0);
  t.equal(f.counters.resyncBytes, 3);
});

t.test('partial magic split across chunks is found', async (t) => {
  const stream = Buffer.concat([Buffer.from('garbage-01'), packet(0), packet(1), Buffer.from('xx0'), packet(2)]);
  for (let cut = 1; cut < stream.length; cut += 3) {
    const r = ingest([stream.subarray(0, cut), stream.subarray(cut)]);
    if (r.packets.length !== 3 || r.framer.counters.resyncBytes !== 13) {
      t.fail(`cut at ${cut}: ${r.packets.length} packets, ${r.framer.counters.resyncBytes} skipped`);
      return;
    }
  }
  t.pass('every cut position');
});

t.test('maxBodyLength rejects longer packets; the buffer stays bounded', async (t) => {
  const big = packet(1, Buffer.alloc(3000));
  const stream = Buffer.concat([packet(0), big, packet(2)]);
  const r = ingest(chunked(stream, [100]), { maxBodyLength: 1000 });
  t.same(
    r.packets.map((p) => p.sequence),
    [0, 2],
  );
  t.ok(r.maxBuffered <= r.framer.maxBufferedBytes);
  t.equal(r.framer.maxBufferedBytes, 34 + 1000 + 4);
  t.throws(() => new Jt1078StreamFramer({ maxBodyLength: 70000 }));
});

t.test('bodies are views that stay valid after later pushes', async (t) => {
  const bytes = captureBytes('audio_data.txt');
  const scanned = scanPackets(bytes);
  const f = new Jt1078StreamFramer();
  const bodies: Uint8Array[] = [];
  for (const chunk of chunked(bytes, [777])) {
    f.push(Buffer.from(chunk)); // a fresh buffer per read, like a socket
    for (let p = f.next(); p !== null; p = f.next()) bodies.push(p.body);
  }
  t.equal(bodies.length, scanned.length);
  t.ok(bodies.every((b, i) => Buffer.from(b).equals(scanned[i]!.body)));
});

t.test('forced variant', async (t) => {
  const s2019 = Buffer.concat([packet(0, undefined, '2019'), packet(1, undefined, '2019')]);
  const r = ingest([s2019], { variant: '2019' });
  t.equal(r.packets.length, 2);
  t.equal(r.framer.variant, '2019');
  t.equal(new Jt1078StreamFramer({ variant: '2016' }).variant, '2016');
  t.equal(new Jt1078StreamFramer().variant, null);
});

t.test('the first packet must be confirmed by the next magic', async (t) => {
  // Followed by garbage: the form cannot be confirmed, so it is skipped (a damaged first
  // packet misread in the other form would otherwise fix the wrong form for good).
  const r = ingest([Buffer.concat([packet(0), Buffer.from('zz'), packet(1), packet(2)])]);
  t.same(
    r.packets.map((p) => p.sequence),
    [1, 2],
  );
  t.equal(r.framer.counters.malformed, 1);
  t.equal(r.framer.variant, '2016');
});

t.test('detectJt1078Variant for single datagrams', async (t) => {
  for (const variant of ['2016', '2019'] as const) {
    const p = packet(5, Buffer.alloc(200, 0x31), variant);
    t.same(detectJt1078Variant(p, 0, p.length, true), { kind: 'found', variant }, `${variant}, final`);
    const d = detectJt1078Variant(p, 0, p.length, false);
    t.equal(d.kind, 'need', `${variant}: waits for the next magic when not final`);
  }
  t.same(detectJt1078Variant(Buffer.from('01cdxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'), 0, 40, true), { kind: 'bad' });
});
