import t from 'tap';
import fc from 'fast-check';
import { parseMessage, StreamFramer } from '../../../src/protocol/sip/parser.js';
import { serializeMessage } from '../../../src/protocol/sip/serializer.js';
import { createRequest, createResponse, type SipMessage } from '../../../src/protocol/sip/message.js';
import { TransactionLayer } from '../../../src/protocol/sip/transaction.js';
import { FakeClock } from '../../../src/protocol/sip/clock.js';
import { VALID, bytes, gbCatalogMessage, gbInvite200, gbRegister } from './fixtures/messages.js';

const TOKEN_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`\'~';
const token = fc.array(fc.constantFrom(...TOKEN_CHARS), { minLength: 1, maxLength: 12 }).map((a) => a.join(''));
const hostChars = 'abcdefghijklmnopqrstuvwxyz0123456789.-';
const host = fc.array(fc.constantFrom(...hostChars), { minLength: 1, maxLength: 20 }).map((a) => a.join(''));
const userChars = 'abcdefghijklmnopqrstuvwxyz0123456789-_.!~*\'()%&=+$,;?/';
const user = fc.array(fc.constantFrom(...userChars), { minLength: 1, maxLength: 20 }).map((a) => a.join(''));
const port = fc.integer({ min: 1, max: 65535 });
const uri = fc.tuple(fc.option(user, { nil: undefined }), host, fc.option(port, { nil: undefined })).map(([u, h, p]) => `sip:${u === undefined ? '' : `${u}@`}${h}${p === undefined ? '' : `:${p}`}`);
// Printable ASCII plus some CJK, no CR/LF, no leading/trailing whitespace.
const valueChar = fc.oneof(fc.constantFrom(...' !"#$%&\'()*+,-./0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~'), fc.constantFrom('前', '门', '摄', '像', 'é'));
const headerValue = fc.array(valueChar, { maxLength: 40 }).map((a) => a.join('').trim());
const body = fc.uint8Array({ maxLength: 300 });
const extraHeaders = fc.array(fc.tuple(token.map((n) => `X-${n}`), headerValue), { maxLength: 6 });

function mandatory(method: string, branch: string, seq: number): Array<[string, string]> {
  return [
    ['Via', `SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK${branch}`],
    ['From', '<sip:34020000001320000001@3402000000>;tag=f1'],
    ['To', '<sip:34020000002000000001@3402000000>'],
    ['Call-ID', `c${branch}`],
    ['CSeq', `${seq} ${method}`],
  ];
}

const requestArb = fc
  .record({ method: token, uri, branch: token.filter((s) => !s.includes('%')), seq: fc.integer({ min: 0, max: 2 ** 31 - 1 }), extra: extraHeaders, body })
  .map(({ method, uri, branch, seq, extra, body }) => createRequest(method, uri, [...mandatory(method, branch, seq), ...extra], body));

const reasonArb = fc.array(valueChar, { maxLength: 30 }).map((a) => a.join(''));
const responseArb = fc
  .record({ status: fc.integer({ min: 100, max: 699 }), reason: reasonArb, method: token, branch: token, seq: fc.integer({ min: 0, max: 1000 }), extra: extraHeaders, body })
  .map(({ status, reason, method, branch, seq, extra, body }) => createResponse(status, reason, [...mandatory(method, branch, seq), ...extra], body));

const messageArb = fc.oneof(requestArb, responseArb);

/** Comparable view of a message: start line, headers without Content-Length, body bytes. */
function view(m: SipMessage): unknown {
  const start = m.kind === 'request' ? [m.method, m.uri] : [m.status, m.reason];
  return {
    start,
    headers: [...m.headers].filter((h) => h.name !== 'Content-Length').map((h) => [h.name, h.value]),
    body: Buffer.from(m.body).toString('hex'),
  };
}

t.test('serialize → parse round trip of generated requests and responses', async (t) => {
  fc.assert(
    fc.property(messageArb, (msg) => {
      const parsed = parseMessage(serializeMessage(msg));
      if (!parsed.ok) throw new Error(`failed to parse back: ${parsed.reason}`);
      t.same(view(parsed.message), view(msg));
      // And serialising again is byte-identical.
      return serializeMessage(parsed.message).equals(serializeMessage(msg));
    }),
    { numRuns: 300 },
  );
});

t.test('random bytes never make the parser or the framer throw', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (data) => {
      parseMessage(data);
      new StreamFramer({ maxMessageSize: 4096 }).push(data);
    }),
    { numRuns: 2000 },
  );
  t.pass('no throw');
});

const seeds: Buffer[] = [
  bytes(gbRegister()),
  gbCatalogMessage().raw,
  bytes(gbInvite200()),
  ...Object.values(VALID).map((v) => (typeof v === 'string' ? bytes(v) : v)),
];

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(';', ',', ':', '"', '<', '>', ' ', '\r\n', '\n ', '\r\n\r\n', '%', '\u0000', 'z9hG4bK', '=') }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(seed: Buffer, ops: Mutation[]): Buffer {
  let buf = Buffer.from(seed);
  for (const op of ops) {
    if (buf.length === 0) break;
    const at = op.at % buf.length;
    if (op.kind === 'set') buf[at] = op.byte;
    else if (op.kind === 'delete') buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + op.length)]);
    else if (op.kind === 'insert') buf = Buffer.concat([buf.subarray(0, at), Buffer.from(op.text), buf.subarray(at)]);
    else buf = buf.subarray(0, at);
  }
  return buf;
}

t.test('mutated valid messages never throw: parser, serializer, framer, transaction layer', async (t) => {
  let accepted = 0;
  fc.assert(
    fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, ops) => {
      const data = mutate(seeds[i]!, ops);
      const r = parseMessage(data);
      new StreamFramer().push(data);
      if (r.ok) {
        accepted++;
        const again = parseMessage(serializeMessage(r.message));
        if (!again.ok) throw new Error(`re-serialised message no longer parses: ${again.reason}`);
        const clock = new FakeClock();
        const layer = new TransactionLayer({ send: () => true, onRequest: (tx) => tx?.reply(200), onResponse: () => {} }, { clock });
        layer.receive(r.message, { transport: 'UDP', address: '192.0.2.1', port: 5060 });
        layer.receive(r.message, { transport: 'UDP', address: '192.0.2.1', port: 5060 });
        clock.runAll();
      }
    }),
    { numRuns: 3000 },
  );
  t.ok(accepted > 0, `some mutants still parse (${accepted})`);
});

t.test('TCP framer yields the same messages however the stream is chunked', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(messageArb, fc.constantFrom('', '\r\n', '\r\n\r\n')), { minLength: 1, maxLength: 5 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      (items, cuts) => {
        const expected = items.map(([m]) => serializeMessage(m).toString('hex'));
        const stream = Buffer.concat(items.flatMap(([m, ka]) => [Buffer.from(ka), serializeMessage(m)]));
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const framer = new StreamFramer();
        const got: string[] = [];
        let prev = 0;
        for (const p of [...points, stream.length]) {
          for (const r of framer.push(stream.subarray(prev, p))) {
            if (!r.ok) throw new Error(r.reason);
            got.push(serializeMessage(r.message).toString('hex'));
          }
          prev = p;
        }
        t.same(got, expected);
        return framer.bufferedBytes === 0;
      },
    ),
    { numRuns: 300 },
  );
});
