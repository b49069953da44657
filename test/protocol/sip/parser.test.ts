import t from 'tap';
import iconv from 'iconv-lite';
import { answerable, parseMessage, StreamFramer } from '../../../src/protocol/sip/parser.js';
import { serializeMessage } from '../../../src/protocol/sip/serializer.js';
import { parseVia, parseNameAddr, parseCSeq, topVia, type SipMessage } from '../../../src/protocol/sip/message.js';
import { VALID, INVALID, bytes, crlf, gbCatalogMessage, gbInvite200, gbRegister, DEVICE_ID } from './fixtures/messages.js';

/** Parse and insist on success; a failure throws so tap reports it with the reason. */
function parseOk(raw: string | Buffer): SipMessage {
  const r = parseMessage(typeof raw === 'string' ? bytes(raw) : raw);
  if (!r.ok) throw new Error(`unexpected parse failure: ${r.reason}`);
  return r.message;
}

t.test('RFC 4475 valid messages parse', async (t) => {
  for (const [name, raw] of Object.entries(VALID)) {
    t.test(name, async (t) => {
      const r = parseMessage(typeof raw === 'string' ? bytes(raw) : raw);
      t.ok(r.ok, r.ok ? 'parsed' : `failed: ${r.reason}`);
    });
  }
});

t.test('RFC 4475 invalid messages give an error result, never throw', async (t) => {
  for (const [name, raw] of Object.entries(INVALID)) {
    t.test(name, async (t) => {
      let r;
      t.doesNotThrow(() => {
        r = parseMessage(bytes(raw));
      });
      t.equal(r!.ok, false, `rejected: ${r!.ok ? '' : r!.reason}`);
    });
  }
});

t.test('wsinv details: folding, compact forms, odd spacing, many Vias', async (t) => {
  const m = parseOk(VALID.wsinv!);
  t.equal(m.kind, 'request');
  if (m.kind !== 'request') return;
  t.equal(m.method, 'INVITE');
  t.equal(parseCSeq(m.headers.get('CSEQ'))?.seq, 9);
  t.equal(parseNameAddr(m.headers.get('to')!)?.params['tag'], '1918181833n');
  t.equal(parseNameAddr(m.headers.get('from')!)?.displayName, 'J Rosenberg \\"');
  t.equal(parseNameAddr(m.headers.get('from')!)?.params['tag'], '98asjd8');
  const vias = m.headers.getList('via');
  t.equal(vias.length, 3, 'three Via values from two header lines');
  t.same(vias.map((v) => parseVia(v)?.transport), ['UDP', 'TCP', 'UDP']);
  t.equal(parseVia(vias[2]!)?.branch, 'z9hG4bK30239');
  t.equal(m.headers.get('NewFangledHeader'), 'newfangled value continued newfangled value');
  t.equal(m.headers.get('subject'), '', 'compact s is Subject');
  const contact = parseNameAddr(m.headers.get('contact')!);
  t.equal(contact?.displayName, 'Quoted string ""');
  t.equal(contact?.params['q'], '0.33');
  t.equal(contact?.params['secondparam'], null);
  t.equal(m.body.length, Number(m.headers.get('content-length')));
});

t.test('intmeth, esc01, semiuri, unreason, noreason, dblreq, mpart01 details', async (t) => {
  const intmeth = parseOk(VALID.intmeth!);
  t.equal(intmeth.kind === 'request' && intmeth.method, "!interesting-Method0123456789_*+`.%indeed'~");
  t.equal(intmeth.headers.get("extensionheader-!.%*+_`'~"), '大停電', 'UTF-8 header values decode');
  const esc = parseOk(VALID.esc01!);
  t.equal(esc.kind === 'request' && esc.uri, 'sip:sips%3Auser%40example.com@example.net', 'escapes kept verbatim');
  t.equal(esc.headers.get('call-id'), 'esc01.239409asdfakjkn23onasd0-3234');
  t.equal(esc.headers.get('content-type'), 'application/sdp');
  const semi = parseOk(VALID.semiuri!);
  t.equal(semi.headers.get('accept'), 'application/sdp, application/pkcs7-mime, multipart/mixed, multipart/signed, message/sip, message/sipfrag');
  const unreason = parseOk(VALID.unreason!);
  t.equal(unreason.kind === 'response' && unreason.reason, '= 2**3 * 5**2 но сто девяносто девять - простое');
  t.equal(unreason.body.length, 10);
  const noreason = parseOk(VALID.noreason!);
  t.equal(noreason.kind === 'response' && noreason.reason, '');
  t.equal(noreason.kind === 'response' && noreason.status, 100);
  const dbl = parseOk(VALID.dblreq!);
  t.equal(dbl.kind === 'request' && dbl.method, 'REGISTER', 'only the first message of the datagram');
  t.equal(dbl.body.length, 0);
  const mp = parseOk(VALID.mpart01 as Buffer);
  t.equal(mp.body.length, Number(mp.headers.get('content-length')));
  t.ok(Buffer.from(mp.body).includes(Buffer.from([0xf7, 0x0d, 0x01, 0x07, 0x02, 0x00, 0xff])), 'binary body bytes intact');
  const escnull = parseOk(VALID.escnull!);
  t.equal(escnull.headers.getList('contact').length, 2);
});

t.test('bare LF line endings and folded headers', async (t) => {
  const raw = gbRegister().replace(/\r\n/g, '\n').replace('User-Agent: sipp-gb28181-device', 'User-Agent: sipp\n\tgb28181');
  const m = parseOk(raw);
  t.equal(m.headers.get('user-agent'), 'sipp gb28181');
  t.equal(m.headers.get('expires'), '3600');
  t.equal(m.headers.get('contact'), `<sip:${DEVICE_ID}@127.0.0.1:5070>`);
});

t.test('leading CRLFs before the start line are ignored; missing blank line tolerated', async (t) => {
  parseOk('\r\n\r\n' + gbRegister());
  const noBlank = gbRegister().replace(/\r\n\r\n$/, '\r\n');
  const m = parseOk(noBlank);
  t.equal(m.body.length, 0);
});

t.test('compact header forms are normalised to long names', async (t) => {
  const raw = crlf([
    'MESSAGE sip:a@b SIP/2.0',
    'v: SIP/2.0/UDP h;branch=z9hG4bKx',
    'f: <sip:x@y>;tag=1',
    't: <sip:a@b>',
    'i: cid',
    'CSeq: 1 MESSAGE',
    'm: <sip:x@1.2.3.4>',
    'c: text/plain',
    'k: timer',
    'e: gzip',
    's: hi',
    'l: 2',
  ], 'hi');
  const m = parseOk(raw);
  t.same(
    [...m.headers].map((h) => h.name),
    ['Via', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'Content-Type', 'Supported', 'Content-Encoding', 'Subject', 'Content-Length'],
  );
  t.equal(m.headers.get('CALL-ID'), 'cid');
  t.equal(m.headers.get('i'), 'cid', 'lookup by compact form works too');
});

t.test('GB2312 XML body bytes are kept intact', async (t) => {
  const { raw, body, xml } = gbCatalogMessage();
  const m = parseOk(raw);
  t.equal(m.body.length, body.length, 'Content-Length counts bytes');
  t.ok(Buffer.from(m.body).equals(body), 'body bytes identical');
  t.equal(iconv.decode(Buffer.from(m.body), 'gb2312'), xml, 'decodes back with the right charset');
  t.not(Buffer.from(m.body).toString('utf8'), xml, 'the body is not UTF-8');
  t.equal(m.headers.get('content-type'), 'Application/MANSCDP+xml');
  // Round trip keeps the bytes too
  const again = parseMessage(serializeMessage(m));
  t.ok(again.ok && Buffer.from(again.message.body).equals(body));
});

t.test('GB28181 REGISTER and INVITE 200 with SDP (y=, f=)', async (t) => {
  const reg = parseOk(gbRegister());
  const via = topVia(reg);
  t.equal(via?.rport, true);
  t.equal(via?.branch, 'z9hG4bK-1234-1-0');
  t.equal(via?.port, 5070);
  const ok = parseOk(gbInvite200());
  t.equal(ok.kind === 'response' && ok.status, 200);
  t.match(Buffer.from(ok.body).toString(), /y=0200000001\r\nf=\r\n$/);
  t.equal(topVia(ok)?.received, '10.0.0.2');
  t.equal(topVia(ok)?.rport, 5060);
});

t.test('UDP body without Content-Length is the rest of the datagram', async (t) => {
  const raw = crlf(['MESSAGE sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bKx', 'From: <sip:x@y>;tag=1', 'To: <sip:a@b>', 'Call-ID: c', 'CSeq: 1 MESSAGE'], 'abc');
  const m = parseOk(raw);
  t.equal(Buffer.from(m.body).toString(), 'abc');
});

t.test('bad version yields 505, others 400', async (t) => {
  const r = parseMessage(bytes(INVALID.badvers!));
  t.match(r, { ok: false, reason: 'unsupported SIP version', status: 505 });
  t.equal(!r.ok && r.partial?.kind, 'request', 'the rest of the head is intact: a 505 can be sent');
  const r2 = parseMessage(bytes(INVALID.insuf!));
  t.equal(!r2.ok && r2.status, 400);
});

t.test('StreamFramer', async (t) => {
  t.test('frames back-to-back messages, skips CRLF keep-alives', async (t) => {
    const { raw: catalog } = gbCatalogMessage();
    const stream = Buffer.concat([Buffer.from('\r\n\r\n'), bytes(gbRegister()), Buffer.from('\r\n'), catalog, bytes(gbInvite200())]);
    const framer = new StreamFramer();
    const out = framer.push(stream);
    t.equal(out.length, 3);
    t.ok(out.every((r) => r.ok));
    t.equal(framer.keepAliveBytes, 6);
    t.equal(framer.bufferedBytes, 0);
  });
  t.test('byte-at-a-time delivery gives the same messages', async (t) => {
    const { raw: catalog, body } = gbCatalogMessage();
    const stream = Buffer.concat([bytes(gbRegister()), catalog]);
    const framer = new StreamFramer();
    const got: SipMessage[] = [];
    for (let i = 0; i < stream.length; i++) {
      for (const r of framer.push(stream.subarray(i, i + 1))) if (r.ok) got.push(r.message);
    }
    t.equal(got.length, 2);
    t.ok(Buffer.from(got[1]!.body).equals(body));
  });
  t.test('message larger than the limit is fatal', async (t) => {
    const framer = new StreamFramer({ maxMessageSize: 100 });
    const out = framer.push(bytes(gbRegister()));
    t.equal(out.length, 1);
    t.same(out[0], { ok: false, reason: 'message exceeds maximum size', fatal: true });
    t.same(framer.push(bytes(gbRegister())), [], 'stays failed');
  });
  t.test('endless head without a blank line is fatal once over the limit', async (t) => {
    const framer = new StreamFramer({ maxMessageSize: 1000 });
    let fatal = false;
    for (let i = 0; i < 100 && !fatal; i++) {
      for (const r of framer.push(bytes('X-Junk: aaaaaaaaaaaaaaaaaaaa\r\n'))) if (!r.ok && r.fatal) fatal = true;
    }
    t.ok(fatal);
  });
  t.test('invalid Content-Length is fatal; invalid content is not', async (t) => {
    const framer = new StreamFramer();
    const bad = framer.push(bytes(INVALID.mismatch01! + gbRegister()));
    t.equal(bad.length, 2);
    t.match(bad[0], { ok: false, reason: 'CSeq method does not match request method', status: 400, fatal: false });
    t.ok(bad[1]!.ok);
    const framer2 = new StreamFramer();
    const r = framer2.push(bytes(INVALID.ncl!));
    t.equal(r.length, 1);
    t.equal(!r[0]!.ok && r[0]!.fatal, true);
  });
  t.test('waits for the body', async (t) => {
    const framer = new StreamFramer();
    const { raw } = gbCatalogMessage();
    t.same(framer.push(raw.subarray(0, raw.length - 5)), []);
    const out = framer.push(raw.subarray(raw.length - 5));
    t.equal(out.length, 1);
  });
});

t.test('semantic failures carry the partial message so a 400 can be sent', async (t) => {
  const r = parseMessage(bytes(INVALID.mismatch01!));
  t.equal(r.ok, false);
  if (r.ok) return;
  t.equal(r.status, 400);
  t.equal(r.partial?.kind, 'request');
  t.equal(r.partial?.headers.get('call-id'), 'torture.invalid.1');
  const structural = parseMessage(bytes(INVALID.lwsstart!));
  // RFC 4475 lwsstart: extra spaces in the request line; the method and the headers a
  // response needs are intact, so it is answered 400 (RFC 3261 §8.2).
  t.equal(!structural.ok && structural.partial?.kind, 'request', 'partial when the method and the answerable headers are intact');
  const bare = parseMessage(Buffer.from('OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n'));
  t.equal(!bare.ok && bare.partial !== undefined && answerable(bare.partial), false, 'not answerable without Via/From/To/Call-ID/CSeq');
});

t.test('StreamFramer joins a large body delivered in many small chunks', async (t) => {
  const body = Buffer.alloc(200_000, 0x41);
  const head = crlf(['MESSAGE sip:a@b SIP/2.0', 'Via: SIP/2.0/TCP h;branch=z9hG4bKbig', 'From: <sip:x@y>;tag=1', 'To: <sip:a@b>', 'Call-ID: big', 'CSeq: 1 MESSAGE', `Content-Length: ${body.length}`]);
  const stream = Buffer.concat([Buffer.from(head), body, bytes(gbRegister())]);
  const framer = new StreamFramer({ maxMessageSize: 300_000 });
  const got: SipMessage[] = [];
  let accounted = true;
  for (let i = 0; i < stream.length; i += 1000) {
    for (const r of framer.push(stream.subarray(i, i + 1000))) if (r.ok) got.push(r.message);
    if (got.length === 0 && framer.bufferedBytes !== Math.min(i + 1000, stream.length)) accounted = false;
  }
  t.ok(accounted, 'bufferedBytes counts parked chunks');
  t.equal(got.length, 2);
  t.ok(Buffer.from(got[0]!.body).equals(body));
  t.equal(framer.bufferedBytes, 0);
});

t.test('lenientContentLength takes the bytes that arrived (device counted UTF-8, sent GB2312)', async (t) => {
  const xml = '<?xml version="1.0" encoding="GB2312"?><Notify><Name>前门</Name></Notify>';
  const gb = iconv.encode(xml, 'gb2312');
  const head = crlf(['MESSAGE sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bKlen', 'From: <sip:x@y>;tag=1', 'To: <sip:a@b>', 'Call-ID: len', 'CSeq: 1 MESSAGE', `Content-Length: ${Buffer.byteLength(xml, 'utf8')}`]);
  const raw = Buffer.concat([Buffer.from(head), gb]);
  t.equal(parseMessage(raw).ok, false, 'strict by default');
  const lenient = parseMessage(raw, { lenientContentLength: true });
  t.ok(lenient.ok && Buffer.from(lenient.message.body).equals(gb));
});
