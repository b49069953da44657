import t from 'tap';
import fc from 'fast-check';
import { parseRtpPacket, rtpHeaderLength, serializeRtpPacket, writeRtpHeader } from '../../../src/protocol/rtp/index.js';
import type { RtpHeader } from '../../../src/protocol/rtp/index.js';

t.test('parse a plain packet', async (t) => {
  const buf = Buffer.from('80e0 0102 00000e10 0bebc201 aabbcc'.replace(/ /g, ''), 'hex');
  const r = parseRtpPacket(buf);
  if (!r.ok) throw new Error(r.error);
  t.match(r.packet, { marker: true, payloadType: 96, sequenceNumber: 0x0102, timestamp: 3600, ssrc: 200000001, paddingLength: 0, extension: null });
  t.strictSame(r.packet.csrcs, []);
  t.strictSame([...r.packet.payload], [0xaa, 0xbb, 0xcc]);
  t.equal(r.packet.payload.buffer, buf.buffer, 'payload is a view');
});

t.test('CSRCs, extension, padding', async (t) => {
  const header: RtpHeader = {
    marker: false,
    payloadType: 8,
    sequenceNumber: 65535,
    timestamp: 0xffffffff,
    ssrc: 0x80000001,
    csrcs: [1, 0xfffffffe],
    extension: { profile: 0xbede, data: Buffer.from([0x10, 0xff, 0, 0]) },
  };
  const pkt = serializeRtpPacket(header, Buffer.from('payload'), 4);
  t.equal(pkt.length, rtpHeaderLength(header) + 7 + 4);
  const r = parseRtpPacket(pkt);
  if (!r.ok) throw new Error(r.error);
  t.match(r.packet, { marker: false, payloadType: 8, sequenceNumber: 65535, timestamp: 0xffffffff, ssrc: 0x80000001, paddingLength: 4 });
  t.strictSame(r.packet.csrcs, [1, 0xfffffffe]);
  t.equal(r.packet.extension!.profile, 0xbede);
  t.strictSame([...r.packet.extension!.data], [0x10, 0xff, 0, 0]);
  t.equal(Buffer.from(r.packet.payload).toString(), 'payload');
});

t.test('typed errors, never throws', async (t) => {
  const cases: Array<[string, string]> = [
    ['8060', 'too-short'],
    ['406000010000000000000001', 'bad-version'],
    ['836000010000000000000001aaaaaaaa', 'truncated-csrc'],
    ['906000010000000000000001bede0002aaaa', 'truncated-extension'],
    ['a06000010000000000000001aa00', 'bad-padding'],
    ['a06000010000000000000001aa05', 'bad-padding'],
  ];
  for (const [hex, error] of cases) t.strictSame(parseRtpPacket(Buffer.from(hex, 'hex')), { ok: false, error }, error);
  t.throws(() => writeRtpHeader({ marker: false, payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0, csrcs: [], extension: null }, Buffer.alloc(4)), RangeError);
});

const headerArb = fc.record({
  marker: fc.boolean(),
  payloadType: fc.integer({ min: 0, max: 127 }),
  sequenceNumber: fc.integer({ min: 0, max: 0xffff }),
  timestamp: fc.integer({ min: 0, max: 0xffffffff }),
  ssrc: fc.integer({ min: 0, max: 0xffffffff }),
  csrcs: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 15 }),
  extension: fc.option(
    fc.record({
      profile: fc.integer({ min: 0, max: 0xffff }),
      data: fc.integer({ min: 0, max: 8 }).chain((words) => fc.uint8Array({ minLength: words * 4, maxLength: words * 4 })),
    }),
    { nil: null },
  ),
});

t.test('property: serialize then parse gives the header, payload and padding back', async (t) => {
  fc.assert(
    fc.property(headerArb, fc.uint8Array({ maxLength: 1500 }), fc.integer({ min: 0, max: 255 }), (header, payload, padding) => {
      const r = parseRtpPacket(serializeRtpPacket(header, payload, padding));
      if (!r.ok) return false;
      const p = r.packet;
      return (
        p.marker === header.marker &&
        p.payloadType === header.payloadType &&
        p.sequenceNumber === header.sequenceNumber &&
        p.timestamp === header.timestamp &&
        p.ssrc === header.ssrc &&
        JSON.stringify(p.csrcs) === JSON.stringify(header.csrcs) &&
        (header.extension === null
          ? p.extension === null
          : p.extension !== null && p.extension.profile === header.extension.profile && Buffer.from(p.extension.data).equals(Buffer.from(header.extension.data))) &&
        p.paddingLength === padding &&
        Buffer.from(p.payload).equals(Buffer.from(payload))
      );
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 runs');
});

t.test('property: parse then serialize is the identity on valid packets', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 12, maxLength: 300 }), (bytes) => {
      const r = parseRtpPacket(bytes);
      if (!r.ok) return true;
      const again = serializeRtpPacket(r.packet, r.packet.payload, r.packet.paddingLength);
      // Padding bytes other than the count byte are not kept; compare everything else.
      const n = bytes.length - r.packet.paddingLength;
      return Buffer.from(again.subarray(0, n)).equals(Buffer.from(bytes.subarray(0, n))) && again.length === bytes.length;
    }),
    { numRuns: 5000 },
  );
  t.pass('5000 runs');
});

t.test('fuzz: random and mutated bytes never throw', async (t) => {
  const valid = serializeRtpPacket({ marker: true, payloadType: 96, sequenceNumber: 1, timestamp: 2, ssrc: 3, csrcs: [4], extension: { profile: 1, data: Buffer.alloc(8) } }, Buffer.alloc(40), 3);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), (random, mutations) => {
      parseRtpPacket(random);
      const m = Buffer.from(valid);
      for (const [at, v] of mutations) m[at % m.length] = v;
      const r = parseRtpPacket(m.subarray(0, mutations.length ? mutations[0]![0] % (m.length + 1) : m.length));
      return r.ok ? r.packet.payload.length >= 0 : typeof r.error === 'string';
    }),
    { numRuns: 5000 },
  );
  t.pass('5000 runs');
});
