import t from 'tap';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import {
  SnAllocator,
  buildCatalogResponse,
  decodeXmlBody,
  encodeXmlBody,
  formatManscdpTime,
  parseManscdp,
  parseManscdpTime,
  toGosipRecords,
  type CatalogItem,
} from '../../../src/protocol/gb28181/index.js';
import { sippBodies } from './fixtures/sipp-bodies.js';

const CHARSET_LABELS = [undefined, 'GB2312', 'gbk', 'UTF-8', 'ISO-8859-1', 'Application/MANSCDP+xml; charset=GB18030', 'no-such-charset'];
const SEED_BODIES = ['gb_keepalive.xml', 'gb_device_ooc.xml', 'gb_uas_catalog.xml'].flatMap(sippBodies).map((b) => Buffer.from(b.text, 'utf8'));

t.test('arbitrary bytes never throw in decodeXmlBody or parseManscdp', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.constantFrom(...CHARSET_LABELS), (bytes, label) => {
      const d = decodeXmlBody(bytes, label);
      if (typeof d.text !== 'string') return false;
      const r = parseManscdp(bytes, label);
      return r.ok ? typeof r.message.cmdType === 'string' : typeof r.reason === 'string';
    }),
    { numRuns: 2000 },
  );
  t.pass('no throw');
});

t.test('mutated sipp bodies never throw, and parse results stay well-typed', async (t) => {
  const mutation = fc.record({
    seed: fc.constantFrom(...SEED_BODIES),
    edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('replace', 'insert', 'delete')), { minLength: 1, maxLength: 8 }),
  });
  fc.assert(
    fc.property(mutation, ({ seed, edits }) => {
      const bytes = [...seed];
      for (const [at, value, op] of edits) {
        const i = at % (bytes.length + 1);
        if (op === 'insert') bytes.splice(i, 0, value);
        else if (op === 'delete') bytes.splice(i, 1);
        else if (i < bytes.length) bytes[i] = value;
      }
      const r = parseManscdp(new Uint8Array(bytes));
      if (!r.ok) return r.reason.length > 0;
      const m = r.message;
      if (!Number.isSafeInteger(m.sn) || typeof m.deviceId !== 'string') return false;
      if (m.kind === 'catalog') return m.items.every((i) => (i.status === 'ON' || i.status === 'OFF') && typeof i.deviceId === 'string');
      return true;
    }),
    { numRuns: 1500 },
  );
  t.pass('no throw');
});

// Catalog items with Chinese text, XML metacharacters and IDs with leading zeros.
const hanzi = fc.integer({ min: 0x4e00, max: 0x9fa5 }).map((c) => String.fromCodePoint(c));
const textChar = fc.oneof({ weight: 4, arbitrary: hanzi }, { weight: 2, arbitrary: fc.constantFrom(...'abcXYZ019-_. ') }, { weight: 1, arbitrary: fc.constantFrom('&', '<', '>', '"', "'") });
const text = fc
  .array(textChar, { minLength: 1, maxLength: 16 })
  .map((a) => a.join('').trim())
  .filter((s) => s.length > 0);
const gbId = fc.array(fc.constantFrom(...'0123456789'), { minLength: 20, maxLength: 20 }).map((a) => a.join(''));
const coordinate = fc.double({ min: -180, max: 180, noNaN: true }).map((x) => Math.round(x * 1e6) / 1e6 + 0);
const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

const catalogItem: fc.Arbitrary<CatalogItem> = fc
  .record({
    deviceId: gbId,
    name: optional(text),
    manufacturer: optional(text),
    model: optional(text),
    owner: optional(text),
    civilCode: optional(gbId.map((id) => id.slice(0, 6))),
    address: optional(text),
    parental: optional(fc.constantFrom(0, 1)),
    parentId: optional(gbId),
    safetyWay: optional(fc.integer({ min: 0, max: 3 })),
    registerWay: optional(fc.integer({ min: 1, max: 3 })),
    secrecy: optional(fc.constantFrom(0, 1)),
    status: fc.constantFrom('ON' as const, 'OFF' as const),
    longitude: optional(coordinate),
    latitude: optional(coordinate),
    ptzType: optional(fc.integer({ min: 0, max: 4 })),
  })
  .map((item) => {
    const clean = Object.fromEntries(Object.entries(item).filter(([, v]) => v !== undefined)) as Omit<CatalogItem, 'statusRaw'>;
    return { ...clean, statusRaw: clean.status };
  });

t.test('Catalog items round-trip through build → encode (GB2312) → decode → parse', async (t) => {
  fc.assert(
    fc.property(fc.uniqueArray(catalogItem, { selector: (i) => i.deviceId, minLength: 0, maxLength: 6 }), fc.integer({ min: 1, max: 0x7fffffff }), (items, sn) => {
      const xml = buildCatalogResponse({ sn, deviceId: '34020000001320000001', sumNum: items.length, items });
      const r = parseManscdp(encodeXmlBody(xml));
      if (!r.ok || r.message.kind !== 'catalog') return false;
      return r.message.sn === sn && r.message.sumNum === items.length && isDeepStrictEqual(r.message.items, items);
    }),
    { numRuns: 500 },
  );
  t.pass('round trip');
});

t.test('MANSCDP time: format then parse is the identity at any offset', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4_102_444_799 }), fc.integer({ min: -12 * 60, max: 14 * 60 }), (seconds, offset) => parseManscdpTime(formatManscdpTime(seconds, offset), offset) === seconds),
    { numRuns: 2000 },
  );
  t.pass('identity');
});

t.test('toGosipRecords invariants: one day per range, sorted, disjoint, same coverage', async (t) => {
  const base = 1_709_222_400; // 2024-02-29T16:00:00Z = 2024-03-01 00:00 at +08:00
  const segment = fc.tuple(fc.integer({ min: 0, max: 5 * 86_400 }), fc.integer({ min: 0, max: 2 * 86_400 })).map(([s, len]) => ({ startTime: base + s, endTime: base + s + len }));
  fc.assert(
    fc.property(fc.array(segment, { maxLength: 12 }), fc.constantFrom(0, 480, -300, 330), (segments, offset) => {
      const r = toGosipRecords(segments, { utcOffsetMinutes: offset });
      if (r.daynum !== r.list.length) return false;
      if (r.timenum !== r.list.reduce((n, d) => n + d.items.length, 0)) return false;
      const ranges = r.list.flatMap((d) => d.items.map((i) => ({ ...i, date: d.date })));
      for (let k = 0; k < ranges.length; k++) {
        const { start, end, date } = ranges[k]!;
        if (end < start) return false;
        if (formatManscdpTime(start, offset).slice(0, 10) !== date || formatManscdpTime(end, offset).slice(0, 10) !== date) return false;
        if (k > 0 && start <= ranges[k - 1]!.end) return false;
      }
      const dates = r.list.map((d) => d.date);
      if (dates.some((d, k) => k > 0 && d <= dates[k - 1]!)) return false;
      // Coverage in whole seconds (inclusive ends) is preserved by merging and splitting.
      const sorted = [...segments].sort((a, b) => a.startTime - b.startTime);
      let covered = 0;
      let curStart = -1;
      let curEnd = -2;
      for (const s of sorted) {
        if (s.startTime > curEnd + 1) {
          if (curEnd >= curStart && curStart >= 0) covered += curEnd - curStart + 1;
          curStart = s.startTime;
          curEnd = s.endTime;
        } else curEnd = Math.max(curEnd, s.endTime);
      }
      if (curStart >= 0) covered += curEnd - curStart + 1;
      return covered === ranges.reduce((n, i) => n + (i.end - i.start + 1), 0);
    }),
    { numRuns: 1000 },
  );
  t.pass('invariants hold');
});

t.test('SnAllocator never yields 0 or exceeds max, and cycles through every value', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 50 }).chain((max) => fc.tuple(fc.constant(max), fc.integer({ min: 1, max }))), ([max, start]) => {
      const sns = new SnAllocator(start, max);
      const seen = new Set<number>();
      for (let i = 0; i < max; i++) seen.add(sns.next());
      return seen.size === max && [...seen].every((sn) => sn >= 1 && sn <= max) && sns.next() === start;
    }),
  );
  t.pass('cycle');
});
