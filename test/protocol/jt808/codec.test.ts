/**
 * Property and unit tests of the JT/T 808 codec: escaping, checksum, framer (round trips,
 * garbage, resync, size cap), headers in both forms, every body codec, sub-packaging.
 */
import t, { type Test } from 'tap';
import fc from 'fast-check';
import {
  decodeAuthenticate,
  decodeAvAttributes,
  decodeAvControl,
  decodeFrame,
  decodeGeneralAnswer,
  decodeLocation,
  decodeMessage,
  decodePlaybackControl,
  decodePlaybackRequest,
  decodeRealtimeAvRequest,
  decodeRecordList,
  decodeRecordQuery,
  decodeRegister,
  decodeRegisterAnswer,
  decodeResendRequest,
  encodeAuthenticate,
  encodeAvAttributes,
  encodeAvControl,
  encodeFrames,
  encodeGeneralAnswer,
  encodeLocation,
  encodeMessage,
  encodePlaybackControl,
  encodePlaybackRequest,
  encodeRealtimeAvRequest,
  encodeRecordList,
  encodeRecordQuery,
  encodeRegister,
  encodeRegisterAnswer,
  encodeResendRequest,
  escapeFrame,
  frameMessage,
  jt808TimeToMs,
  Jt808BodyError,
  Jt808Framer,
  Jt808Reassembler,
  msToJt808Time,
  unescapeFrame,
  xorChecksum,
  type Jt808HeaderFields,
  type Jt808Message,
  type Jt808Version,
} from '../../../src/protocol/jt808/index.js';

const RUNS = { numRuns: 300, seed: 808 };
const version = fc.constantFrom<Jt808Version>('2013', '2019');
const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (max: number) => fc.uint8Array({ maxLength: max });
/** Bytes rich in 0x7e / 0x7d so escaping is exercised. */
const escapey = (max: number) => fc.array(fc.oneof(fc.constantFrom(0x7e, 0x7d, 0x01, 0x02), u8), { maxLength: max }).map((a) => Uint8Array.from(a));
const time = fc.date({ min: new Date('2000-01-02T00:00:00Z'), max: new Date('2099-12-30T00:00:00Z'), noInvalidDate: true }).map((d) => msToJt808Time(d.getTime()));
const ascii = (max: number) => fc.string({ maxLength: max, unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-'.split('')) });
const gbkText = (max: number) => fc.string({ maxLength: max, unit: fc.constantFrom(...'京沪粤ABC123黄蓝'.split('')) });
const phone = (v: Jt808Version) => fc.bigInt({ min: 0n, max: v === '2019' ? 10n ** 20n - 1n : 10n ** 12n - 1n }).map((n) => n.toString());

function headerFields(): fc.Arbitrary<Jt808HeaderFields & { version: Jt808Version }> {
  return version.chain((v) =>
    fc.record({
      msgId: u16,
      version: fc.constant(v),
      protocolVersion: v === '2019' ? u8 : fc.constant(0),
      phone: phone(v),
      serial: u16,
      encryption: fc.integer({ min: 0, max: 7 }),
      packet: fc.option(
        fc.integer({ min: 1, max: 0xffff }).chain((total) => fc.record({ total: fc.constant(total), index: fc.integer({ min: 1, max: total }) })),
        { nil: undefined },
      ),
    }),
  );
}

t.test('escaping and checksum', async (t) => {
  t.same(escapeFrame(Uint8Array.of(0x30, 0x7e, 0x08, 0x7d, 0x55)), Buffer.from('7e307d02087d01557e', 'hex'), 'the standard example');
  t.equal(xorChecksum(Uint8Array.of(1, 2, 4, 8)), 15);
  t.same(unescapeFrame(Uint8Array.of(0x7d, 0x03)), null, 'bad escape');
  t.same(unescapeFrame(Uint8Array.of(0x01, 0x7d)), Buffer.from([1, 0x7d]), 'lone 7d in the checksum position tolerated');
  fc.assert(
    fc.property(escapey(300), (content) => {
      const framed = escapeFrame(content);
      const inner = framed.subarray(1, framed.length - 1);
      return !inner.includes(0x7e) && framed[0] === 0x7e && framed[framed.length - 1] === 0x7e && Buffer.from(content).equals(unescapeFrame(inner)!);
    }),
    RUNS,
  );
});

t.test('header: encode → decode in both forms, 2013 and 2019 sizes', async (t) => {
  fc.assert(
    fc.property(headerFields(), escapey(JT808_MAX), (fields, body) => {
      const decoded = decodeFrame(frameMessage(encodeMessage(fields, body)));
      if (decoded.kind !== 'message') return false;
      const h = decoded.message.header;
      const phoneKey = BigInt(fields.phone).toString();
      return (
        h.msgId === fields.msgId &&
        h.version === fields.version &&
        h.protocolVersion === fields.protocolVersion &&
        h.phone === phoneKey &&
        h.serial === fields.serial &&
        h.encryption === fields.encryption &&
        JSON.stringify(h.packet) === JSON.stringify(fields.packet) &&
        Buffer.from(decoded.message.body).equals(body)
      );
    }),
    RUNS,
  );
  const h2013 = encodeMessage({ msgId: 0x0002, phone: '13800000000', serial: 7 }, new Uint8Array(0));
  t.equal(h2013.length, 12);
  t.same(h2013, Buffer.from('00020000013800000000' + '0007', 'hex'));
  const h2019 = encodeMessage({ msgId: 0x0002, version: '2019', phone: '13800000000', serial: 7, packet: { total: 2, index: 1 } }, new Uint8Array(0));
  t.equal(h2019.length, 21);
  t.equal(h2019.readUInt16BE(2), 0x6000, 'version flag and sub-package bit');
  t.equal(decodeMessage(h2019.subarray(0, 16)), 'short');
  const wrongLength = Buffer.from(h2013);
  wrongLength[3] = 5;
  t.equal(decodeMessage(wrongLength), 'length');
  t.throws(() => encodeMessage({ msgId: 1, phone: '1', serial: 1 }, new Uint8Array(1024)), RangeError);
  t.throws(() => encodeMessage({ msgId: 1, phone: '1234567890123', serial: 1 }, new Uint8Array(0)), RangeError, '13 digits in BCD[6]');
});
const JT808_MAX = 1023;

t.test('framer: any chunking of valid frames gives the same messages; garbage never throws and resyncs', async (t) => {
  const frameArb = fc.tuple(headerFields(), escapey(200)).map(([fields, body]) => ({ fields, body, frame: frameMessage(encodeMessage(fields, body)) }));
  fc.assert(
    fc.property(
      fc.array(fc.tuple(frameArb, bytes(40)), { minLength: 1, maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 10 }),
      (items, cuts) => {
        // Frames separated by garbage (garbage without 0x7e so it cannot fake a delimiter pair around a frame).
        const parts: Uint8Array[] = [];
        for (const [{ frame }, garbage] of items) {
          parts.push(garbage.filter((b) => b !== 0x7e), frame);
        }
        const stream = Buffer.concat(parts);
        const framer = new Jt808Framer();
        const got: Jt808Message[] = [];
        let at = 0;
        for (let i = 0; at < stream.length; i++) {
          const n = cuts[i % cuts.length]!;
          for (const r of framer.push(stream.subarray(at, at + n))) if (r.kind === 'message') got.push(r.message);
          at += n;
        }
        return (
          got.length === items.length &&
          got.every((m, i) => m.header.serial === items[i]![0].fields.serial && Buffer.from(m.body).equals(items[i]![0].body))
        );
      },
    ),
    RUNS,
  );
  fc.assert(
    fc.property(fc.array(escapey(500), { maxLength: 10 }), (chunks) => {
      const framer = new Jt808Framer({ maxFrameBytes: 300 });
      for (const c of chunks) framer.push(c);
      return framer.bufferedBytes <= 300;
    }),
    RUNS,
  );
  // Corrupt checksum, then a good frame: one bad frame with its reason, then the message.
  const good = frameMessage(encodeMessage({ msgId: 0x0002, phone: '1', serial: 9 }, new Uint8Array(0)));
  const corrupt = Buffer.from(good);
  corrupt[corrupt.length - 2] ^= 0x55;
  const framer = new Jt808Framer({ maxFrameBytes: 100 });
  const results = framer.push(Buffer.concat([corrupt, Buffer.from('7e7d037e', 'hex'), Buffer.alloc(150, 0x41), good]));
  t.same(
    results.map((r) => (r.kind === 'bad' ? r.reason : r.message.header.serial)),
    ['checksum', 'escape', 'too-long', 9],
  );
  t.same(framer.counters.bad, { escape: 1, checksum: 1, short: 0, length: 0, 'too-long': 1 });
  t.equal(framer.counters.frames, 1);
});

t.test('time helpers', async (t) => {
  t.equal(jt808TimeToMs('241128095901'), Date.UTC(2024, 10, 28, 1, 59, 1));
  t.equal(msToJt808Time(Date.UTC(2024, 10, 28, 1, 59, 1, 999)), '241128095901');
  t.equal(jt808TimeToMs('000000000000'), null);
  t.equal(jt808TimeToMs('240231000000'), null, '31 February');
  t.equal(jt808TimeToMs('2411280959'), null);
  t.equal(msToJt808Time(null), '000000000000');
  fc.assert(fc.property(time, (tm) => msToJt808Time(jt808TimeToMs(tm)!) === tm), RUNS);
});

/** encode → decode → same value, and decode of a truncated body throws Jt808BodyError (never another error). */
function roundTrip<T>(t: Test, name: string, arb: fc.Arbitrary<T>, encode: (v: T) => Uint8Array, decode: (b: Uint8Array) => T): void {
  fc.assert(
    fc.property(arb, (value) => {
      const encoded = encode(value);
      t.same(decode(encoded), value);
      if (encoded.length > 0) {
        try {
          decode(encoded.subarray(0, encoded.length - 1));
        } catch (error) {
          if (!(error instanceof Jt808BodyError)) throw error;
        }
      }
    }),
    { ...RUNS, numRuns: 100 },
  );
  t.pass(`${name} round trip`);
}

t.test('body codecs round trip', async (t) => {
  roundTrip(t, '0x0001/0x8001', fc.record({ answerSerial: u16, answerId: u16, result: u8 }), encodeGeneralAnswer, decodeGeneralAnswer);
  for (const layout of ['2011', '2013', '2019'] as const) {
    const w = layout === '2019' ? { m: 11, model: 30, id: 30 } : layout === '2013' ? { m: 5, model: 20, id: 7 } : { m: 5, model: 8, id: 7 };
    // 2011 is told from 2013 by length: keep the 2011 plate short enough.
    const plate = layout === '2011' ? gbkText(5) : gbkText(8);
    roundTrip(
      t,
      `0x0100 ${layout}`,
      fc.record({
        layout: fc.constant(layout),
        provinceId: u16,
        cityId: u16,
        manufacturerId: ascii(w.m),
        model: ascii(w.model),
        terminalId: ascii(w.id),
        plateColor: u8,
        plate,
      }),
      encodeRegister,
      (b) => decodeRegister(b, layout === '2019' ? '2019' : '2013'),
    );
  }
  roundTrip(
    t,
    '0x8100',
    fc.oneof(
      fc.record({ answerSerial: u16, result: fc.constant(0), authCode: ascii(30) }),
      fc.record({ answerSerial: u16, result: fc.integer({ min: 1, max: 4 }) }),
    ),
    encodeRegisterAnswer,
    decodeRegisterAnswer,
  );
  roundTrip(t, '0x0102 2013', fc.record({ authCode: gbkText(20) }), (m) => encodeAuthenticate(m, '2013'), (b) => decodeAuthenticate(b, '2013'));
  roundTrip(
    t,
    '0x0102 2019',
    fc.record({ authCode: ascii(40), imei: ascii(15), softwareVersion: ascii(20) }),
    (m) => encodeAuthenticate(m, '2019'),
    (b) => decodeAuthenticate(b, '2019') as { authCode: string; imei: string; softwareVersion: string },
  );
  roundTrip(
    t,
    '0x0200',
    fc.record({
      alarm: u32,
      status: u32,
      latitudeE6: fc.integer({ min: 0, max: 90e6 }),
      longitudeE6: fc.integer({ min: 0, max: 180e6 }),
      altitude: u16,
      speed: u16,
      direction: fc.integer({ min: 0, max: 359 }),
      time,
      items: fc.array(fc.record({ id: u8, value: bytes(20) }), { maxLength: 5 }),
    }),
    encodeLocation,
    decodeLocation,
  );
  for (const v of ['2013', '2019'] as const) {
    roundTrip(
      t,
      `0x8003 ${v}`,
      fc.record({ originalSerial: u16, packetIds: fc.array(fc.integer({ min: 1, max: 0xffff }), { maxLength: 40 }) }),
      (m) => encodeResendRequest(m, v),
      (b) => decodeResendRequest(b, v),
    );
  }
  roundTrip(
    t,
    '0x1003',
    fc.record({
      audioCodec: u8,
      audioChannels: u8,
      sampleRate: u8,
      sampleBits: u8,
      audioFrameLength: u16,
      audioOutput: u8,
      videoCodec: u8,
      maxAudioChannels: u8,
      maxVideoChannels: u8,
    }),
    encodeAvAttributes,
    decodeAvAttributes,
  );
  roundTrip(
    t,
    '0x9101',
    fc.record({ host: ascii(60), tcpPort: u16, udpPort: u16, channel: u8, dataType: u8, streamType: u8 }),
    encodeRealtimeAvRequest,
    decodeRealtimeAvRequest,
  );
  roundTrip(t, '0x9102', fc.record({ channel: u8, command: u8, closeType: u8, streamType: u8 }), encodeAvControl, decodeAvControl);
  roundTrip(
    t,
    '0x9201',
    fc.record({
      host: ascii(60),
      tcpPort: u16,
      udpPort: u16,
      channel: u8,
      mediaType: u8,
      streamType: u8,
      storageType: u8,
      mode: u8,
      speed: u8,
      start: time,
      end: fc.oneof(time, fc.constant('000000000000')),
    }),
    encodePlaybackRequest,
    decodePlaybackRequest,
  );
  roundTrip(t, '0x9202', fc.record({ channel: u8, command: u8, speed: u8, seekTime: time }), encodePlaybackControl, decodePlaybackControl);
  const alarmFlags = fc.record({ videoAlarms: u32, alarms: u32 });
  roundTrip(
    t,
    '0x9205',
    fc.record({ channel: u8, start: time, end: time, alarmFlags, mediaType: u8, streamType: u8, storageType: u8 }),
    encodeRecordQuery,
    decodeRecordQuery,
  );
  roundTrip(
    t,
    '0x1205',
    fc.record({
      answerSerial: u16,
      items: fc.array(
        fc.record({ channel: u8, start: time, end: time, alarmFlags, mediaType: u8, streamType: u8, storageType: u8, fileSize: u32 }),
        { maxLength: 60 },
      ),
    }),
    encodeRecordList,
    decodeRecordList,
  );
});

t.test('body decoders never throw anything but Jt808BodyError on random bytes', async (t) => {
  const decoders: Array<(b: Uint8Array) => unknown> = [
    decodeGeneralAnswer,
    (b) => decodeRegister(b, '2013'),
    (b) => decodeRegister(b, '2019'),
    decodeRegisterAnswer,
    (b) => decodeAuthenticate(b, '2019'),
    decodeLocation,
    (b) => decodeResendRequest(b, '2013'),
    decodeAvAttributes,
    decodeRealtimeAvRequest,
    decodePlaybackRequest,
    decodeRecordQuery,
    decodeRecordList,
  ];
  fc.assert(
    fc.property(bytes(120), (body) => {
      for (const decode of decoders) {
        try {
          decode(body);
        } catch (error) {
          if (!(error instanceof Jt808BodyError)) return false;
        }
      }
      return true;
    }),
    RUNS,
  );
  t.pass();
});

t.test('sub-packaging: long bodies split at 1000 bytes, each with its own serial; reassembly in any order', async (t) => {
  fc.assert(
    fc.property(version, fc.integer({ min: 0, max: 6000 }), u16, fc.infiniteStream(fc.nat()), (v, length, firstSerial, order) => {
      const body = Buffer.alloc(length, 0).map((_, i) => (i * 7) & 0xff);
      let serial = firstSerial;
      const frames = encodeFrames({ msgId: 0x1205, version: v, phone: '13800000001' }, body, () => {
        const s = serial;
        serial = (serial + 1) & 0xffff;
        return s;
      });
      const expectedPackets = length <= 1000 ? 1 : Math.ceil(length / 1000);
      if (frames.length !== expectedPackets) return false;
      const messages = frames.map((f) => {
        const r = decodeFrame(f);
        if (r.kind !== 'message') throw new Error('bad frame');
        return r.message;
      });
      if (messages.some((m) => m.body.length > 1000)) return false;
      // Shuffle by the infinite stream.
      const it = order[Symbol.iterator]();
      const shuffled = [...messages];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = it.next().value! % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const reassembler = new Jt808Reassembler();
      let done: Jt808Message | undefined;
      for (const m of shuffled) {
        const r = reassembler.push(m, 0);
        if (r.kind === 'complete') done = r.message;
      }
      return done !== undefined && Buffer.from(done.body).equals(body) && done.header.serial === firstSerial && reassembler.open === 0;
    }),
    { ...RUNS, numRuns: 100 },
  );
  t.pass();
});

t.test('reassembler bounds: open sets and bytes are capped, refusals counted', async (t) => {
  const reassembler = new Jt808Reassembler({ maxOpen: 2, maxBytes: 2500 });
  const packet = (serial: number, index: number, total: number, size = 1000): Jt808Message => ({
    header: { msgId: 0x1205, version: '2013', protocolVersion: 0, phone: '1', serial, encryption: 0, packet: { total, index } },
    body: new Uint8Array(size),
  });
  reassembler.push(packet(100, 1, 3), 0);
  reassembler.push(packet(200, 1, 3), 0);
  reassembler.push(packet(300, 1, 3), 0);
  t.equal(reassembler.open, 2, 'oldest evicted beyond maxOpen');
  reassembler.push(packet(301, 2, 3), 0);
  t.ok(reassembler.bufferedBytes <= 2500, `bytes capped (${reassembler.bufferedBytes})`);
  t.match(reassembler.poll(0).dropped, [{ firstSerial: 100, reason: 'evicted' }, { firstSerial: 200, reason: 'evicted' }]);
  t.equal(reassembler.push(packet(400, 5, 3), 0).kind, 'refused');
  t.equal(reassembler.push(packet(301, 2, 3), 0).kind, 'duplicate');
  t.equal(reassembler.push(packet(302, 3, 4), 0).kind, 'refused', 'total changed within a set');
  t.equal(reassembler.counters.refused, 2);
});
