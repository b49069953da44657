import t from 'tap';
import fc from 'fast-check';
import {
  encodeJt1078Packet,
  headerLengthFor,
  parseJt1078Packet,
  type HeaderVariant,
  type Jt1078Packet,
} from '../../../src/protocol/jt1078/packet.js';
import { captureBytes } from './fixtures/helpers.js';

function parseOk(buf: Uint8Array, variant: HeaderVariant = '2016', offset = 0): { packet: Jt1078Packet; consumed: number } {
  const r = parseJt1078Packet(buf, offset, variant);
  if (!r.ok) throw new Error(`expected a packet: ${JSON.stringify(r)}`);
  return r;
}

t.test('annotated real headers (jt1078.md §1.1)', async (t) => {
  const real = captureBytes('JT1078_2.txt');
  const first = parseOk(real);
  t.match(first.packet, {
    variant: '2016',
    version: 2,
    padding: false,
    extension: false,
    csrcCount: 1,
    marker: false,
    payloadType: 98,
    sequence: 0,
    sim: '012345678999',
    channel: 1,
    dataType: 0,
    subPackage: 1,
    timestamp: 1566919211506,
    lastIFrameInterval: 0,
    lastFrameInterval: 0,
    headerLength: 30,
    bodyLength: 950,
  });
  t.equal(first.consumed, 980);
  t.equal(first.packet.body.length, 950);
  t.equal(first.packet.body.buffer, real.buffer, 'body is a view, not a copy');
  // The last sub-packet of that frame (8th packet).
  let offset = 0;
  let last: Jt1078Packet | undefined;
  for (let i = 0; i < 8; i++) {
    const r = parseOk(real, '2016', offset);
    offset += r.consumed;
    last = r.packet;
  }
  t.match(last, { marker: true, subPackage: 2, dataType: 0, bodyLength: 932, sequence: 7 });

  const audioCapture = captureBytes('audio_data.txt');
  const video = parseOk(audioCapture);
  const audio = parseOk(audioCapture, '2016', video.consumed);
  t.match(audio.packet, {
    marker: true,
    payloadType: 6,
    sequence: 1,
    sim: '156987000796',
    channel: 1,
    dataType: 3,
    subPackage: 0,
    timestamp: 0,
    lastIFrameInterval: -1,
    lastFrameInterval: -1,
    headerLength: 26,
    bodyLength: 160,
  });
  t.same([...audio.packet.body.subarray(0, 4)], [0x54, 0x55, 0x54, 0xd5]);
});

t.test('header lengths', async (t) => {
  t.same(
    [0, 1, 2, 3, 4].map((d) => headerLengthFor(d, '2016')),
    [30, 30, 30, 26, 18],
  );
  t.same(
    [0, 1, 2, 3, 4].map((d) => headerLengthFor(d, '2019')),
    [34, 34, 34, 30, 22],
  );
});

t.test('2019 header (10-byte SIM)', async (t) => {
  const body = Buffer.from('00000001674d', 'hex');
  const buf = encodeJt1078Packet(
    { payloadType: 99, sequence: 65535, sim: '00000000017299841738', channel: 3, dataType: 1, subPackage: 3, timestamp: 123456789, lastIFrameInterval: 500, lastFrameInterval: 40, body },
    '2019',
  );
  t.equal(buf.length, 34 + body.length);
  t.same([...buf.subarray(8, 18)], [0, 0, 0, 0, 0x01, 0x72, 0x99, 0x84, 0x17, 0x38]);
  const { packet, consumed } = parseOk(buf, '2019');
  t.equal(consumed, buf.length);
  t.match(packet, {
    variant: '2019',
    sim: '00000000017299841738',
    channel: 3,
    dataType: 1,
    subPackage: 3,
    marker: false,
    payloadType: 99,
    sequence: 65535,
    timestamp: 123456789,
    lastIFrameInterval: 500,
    lastFrameInterval: 40,
  });
  t.ok(Buffer.from(packet.body).equals(body));
  // The same bytes read as 2016 give something else (byte 15 is a SIM digit pair).
  const as2016 = parseJt1078Packet(buf, 0, '2016');
  t.notOk(as2016.ok && as2016.consumed === buf.length);
});

t.test('transparent data has no timestamp', async (t) => {
  const body = Buffer.from('hello');
  for (const variant of ['2016', '2019'] as const) {
    const buf = encodeJt1078Packet({ payloadType: 91, sequence: 9, sim: '13800138000', channel: 1, dataType: 4, subPackage: 0, body }, variant);
    t.equal(buf.length, headerLengthFor(4, variant) + 5);
    const { packet } = parseOk(buf, variant);
    t.match(packet, { dataType: 4, timestamp: -1, lastIFrameInterval: -1, lastFrameInterval: -1, payloadType: 91 });
    t.equal(packet.sim, variant === '2016' ? '013800138000' : '00000000013800138000');
    t.equal(Buffer.from(packet.body).toString(), 'hello');
  }
});

t.test('64-bit timestamps: exact halves, double value', async (t) => {
  const buf = encodeJt1078Packet({ payloadType: 6, sequence: 1, sim: '1', channel: 1, dataType: 3, subPackage: 0, timestampHigh: 0xffffffff, timestampLow: 0xfffffff0, body: Buffer.alloc(1) });
  const { packet } = parseOk(buf);
  t.equal(packet.timestampHigh, 0xffffffff);
  t.equal(packet.timestampLow, 0xfffffff0);
  t.equal(packet.timestamp, 0xffffffff * 2 ** 32 + 0xfffffff0);
  const epoch = parseOk(encodeJt1078Packet({ payloadType: 98, sequence: 1, sim: '1', channel: 1, dataType: 0, subPackage: 0, timestamp: 2 ** 40 + 12345, body: Buffer.alloc(1) })).packet;
  t.equal(epoch.timestamp, 2 ** 40 + 12345);
  t.equal(epoch.timestampHigh, 256);
});

t.test('incomplete input asks for more, with a growing need', async (t) => {
  const full = encodeJt1078Packet({ payloadType: 98, sequence: 1, sim: '295696659617', channel: 1, dataType: 0, subPackage: 0, timestamp: 5, body: Buffer.alloc(100, 7) });
  for (let k = 0; k < full.length; k++) {
    const r = parseJt1078Packet(full.subarray(0, k), 0, '2016');
    if (r.ok || !r.needMore || r.needed <= k || r.needed > full.length) {
      t.fail(`length ${k}: ${JSON.stringify(r)}`);
      return;
    }
  }
  t.ok(parseJt1078Packet(full, 0, '2016').ok);
  // Bounded by `end`, not the buffer length.
  const r = parseJt1078Packet(Buffer.concat([full, Buffer.alloc(10)]), 0, '2016', 50);
  t.match(r, { ok: false, needMore: true, needed: full.length });
});

t.test('malformed headers are values, not exceptions', async (t) => {
  const good = encodeJt1078Packet({ payloadType: 98, sequence: 1, sim: '1', channel: 1, dataType: 1, subPackage: 0, timestamp: 5, body: Buffer.alloc(20) });
  const mutate = (at: number, value: number) => {
    const b = Buffer.from(good);
    b[at] = value;
    return parseJt1078Packet(b, 0, '2016');
  };
  t.match(mutate(0, 0x31), { ok: false, needMore: false, reason: 'bad magic' });
  t.match(mutate(4, 0x41), { ok: false, needMore: false, reason: 'bad version' });
  t.match(mutate(15, 0x50), { ok: false, needMore: false, reason: 'bad data type' });
  t.match(mutate(15, 0x14), { ok: false, needMore: false, reason: 'bad sub-package flag' });
  t.match(parseJt1078Packet(good, 0, '2016', good.length, 19), { ok: false, needMore: false, reason: 'body too long' });
  t.match(parseJt1078Packet(Buffer.from('0132'), 0, '2016'), { ok: false, needMore: false, reason: 'bad magic' });
  t.match(parseJt1078Packet(Buffer.from('01c'), 0, '2016'), { ok: false, needMore: true });
  t.match(parseJt1078Packet(good, 5, '2016'), { ok: false, needMore: false });
});

t.test('bodies above 950 bytes are accepted (field width 65535)', async (t) => {
  const body = Buffer.alloc(65535, 1);
  const { packet } = parseOk(encodeJt1078Packet({ payloadType: 98, sequence: 1, sim: '1', channel: 1, dataType: 1, subPackage: 0, timestamp: 5, body }));
  t.equal(packet.bodyLength, 65535);
});

t.test('property: encode → parse round-trips every field', async (t) => {
  const fields = fc.record({
    variant: fc.constantFrom<HeaderVariant>('2016', '2019'),
    payloadType: fc.integer({ min: 0, max: 127 }),
    sequence: fc.integer({ min: 0, max: 0xffff }),
    simDigits: fc.stringMatching(/^[0-9]{1,12}$/),
    channel: fc.integer({ min: 0, max: 255 }),
    dataType: fc.integer({ min: 0, max: 4 }),
    subPackage: fc.integer({ min: 0, max: 3 }),
    timestampHigh: fc.integer({ min: 0, max: 0x1fffff }),
    timestampLow: fc.integer({ min: 0, max: 0xffffffff }),
    lastIFrameInterval: fc.integer({ min: 0, max: 0xffff }),
    lastFrameInterval: fc.integer({ min: 0, max: 0xffff }),
    body: fc.uint8Array({ maxLength: 2000 }),
    prefix: fc.uint8Array({ maxLength: 8 }),
  });
  fc.assert(
    fc.property(fields, (f) => {
      const encoded = encodeJt1078Packet({ ...f, sim: f.simDigits }, f.variant);
      const buf = Buffer.concat([Buffer.from(f.prefix), encoded]);
      const r = parseJt1078Packet(buf, f.prefix.length, f.variant);
      if (!r.ok) return false;
      const p = r.packet;
      const simLength = f.variant === '2016' ? 12 : 20;
      const video = f.dataType <= 2;
      return (
        r.consumed === encoded.length &&
        p.payloadType === f.payloadType &&
        p.sequence === f.sequence &&
        p.sim === f.simDigits.padStart(simLength, '0') &&
        p.channel === f.channel &&
        p.dataType === f.dataType &&
        p.subPackage === f.subPackage &&
        p.marker === (f.subPackage === 0 || f.subPackage === 2) &&
        p.timestamp === (f.dataType === 4 ? -1 : f.timestampHigh * 2 ** 32 + f.timestampLow) &&
        p.lastIFrameInterval === (video ? f.lastIFrameInterval : -1) &&
        p.lastFrameInterval === (video ? f.lastFrameInterval : -1) &&
        Buffer.from(p.body).equals(Buffer.from(f.body))
      );
    }),
    { numRuns: 500 },
  );
});

t.test('property: any bytes, offset and form: a result, never a throw', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.boolean(), (bytes, at, v2019) => {
      // Give random bytes a fair chance of reaching the field checks.
      const buf = Buffer.concat([Buffer.from('01cd'), Buffer.from(bytes)]);
      const offset = at % (buf.length + 1);
      const r = parseJt1078Packet(buf, offset, v2019 ? '2019' : '2016');
      return r.ok ? r.consumed <= buf.length - offset : r.needMore ? r.needed > buf.length - offset : typeof r.reason === 'string';
    }),
    { numRuns: 2000 },
  );
});
