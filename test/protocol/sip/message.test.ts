import t from 'tap';
import {
  SipHeaders,
  contactExpires,
  createRequest,
  formatNameAddr,
  formatUri,
  formatVia,
  getTag,
  parseCSeq,
  parseContacts,
  parseExpires,
  parseNameAddr,
  parseUri,
  parseVia,
  splitHeaderList,
  stampViaReceived,
  topVia,
} from '../../../src/protocol/sip/message.js';
import { buildResponse, serializeMessage } from '../../../src/protocol/sip/serializer.js';
import { parseMessage } from '../../../src/protocol/sip/parser.js';
import { bytes, gbRegister } from './fixtures/messages.js';

t.test('SipHeaders keeps order, looks up case-insensitively, folds compact names', async (t) => {
  const h = new SipHeaders([
    ['v', 'SIP/2.0/UDP a;branch=z9hG4bK1'],
    ['Via', 'SIP/2.0/UDP b;branch=z9hG4bK2, SIP/2.0/UDP c'],
    ['call-id', 'x'],
    ['X-Custom', '1'],
  ]);
  t.equal(h.get('VIA'), 'SIP/2.0/UDP a;branch=z9hG4bK1');
  t.same(h.getAll('via').length, 2);
  t.same(h.getList('v').map((v) => parseVia(v)?.host), ['a', 'b', 'c']);
  t.same([...h].map((x) => x.name), ['Via', 'Via', 'Call-ID', 'X-Custom']);
  h.prepend('Via', 'SIP/2.0/UDP top;branch=z9hG4bK0');
  t.equal(h.getList('via')[0], 'SIP/2.0/UDP top;branch=z9hG4bK0');
  h.set('via', 'only');
  t.same(h.getAll('via'), ['only']);
  t.same([...h].map((x) => x.name), ['Via', 'Call-ID', 'X-Custom'], 'set keeps the first position');
  t.ok(h.delete('x-custom'));
  t.notOk(h.has('X-Custom'));
  t.equal(h.clone().size, 2);
});

t.test('splitHeaderList respects quotes and angle brackets', async (t) => {
  t.same(splitHeaderList('"a, b" <sip:x@y;p=1,2>;tag=1, <sip:z@w>'), ['"a, b" <sip:x@y;p=1,2>;tag=1', '<sip:z@w>']);
  t.same(splitHeaderList('a,,b'), ['a', '', 'b']);
});

t.test('parseVia', async (t) => {
  const v = parseVia('SIP/2.0/udp 10.0.0.1:5070;rport;branch=z9hG4bKabc;received=1.2.3.4');
  t.same(
    { transport: v?.transport, host: v?.host, port: v?.port, branch: v?.branch, rport: v?.rport, received: v?.received },
    { transport: 'UDP', host: '10.0.0.1', port: 5070, branch: 'z9hG4bKabc', rport: true, received: '1.2.3.4' },
  );
  t.equal(parseVia('SIP/2.0/UDP [2001:db8::1]:5060;rport=1234')?.rport, 1234);
  t.equal(parseVia('SIP/2.0/UDP [2001:db8::1]:5060')?.host, '[2001:db8::1]');
  t.equal(parseVia('SIP/2.0 UDP host'), null);
  t.equal(parseVia('SIP/2.0/UDP'), null);
  t.equal(parseVia('SIP/2.0/UDP host:99999'), null);
  t.equal(parseVia('SIP/2.0/UDP host;rport=abc'), null);
  t.equal(formatVia({ transport: 'tcp', host: 'h', port: 1, branch: 'z9hG4bKx', rport: true }), 'SIP/2.0/TCP h:1;branch=z9hG4bKx;rport');
});

t.test('parseUri', async (t) => {
  const u = parseUri('sip:34020000001320000001:secret@192.168.1.64:5060;transport=udp;lr?subject=x');
  t.same(
    { scheme: u?.scheme, user: u?.user, password: u?.password, host: u?.host, port: u?.port, transport: u?.params['transport'], lr: u?.params['lr'], headers: u?.headers },
    { scheme: 'sip', user: '34020000001320000001', password: 'secret', host: '192.168.1.64', port: 5060, transport: 'udp', lr: null, headers: 'subject=x' },
  );
  t.equal(parseUri('sip:3402000000')?.host, '3402000000');
  t.equal(parseUri('tel:+123')?.scheme, 'tel');
  t.equal(parseUri('sip:@host'), null);
  t.equal(parseUri('sip:user@'), null);
  t.equal(parseUri('sip:a b@c'), null);
  t.equal(parseUri('nocolon'), null);
  const round = 'sips:u@h:5061;transport=tls;maddr=1.2.3.4';
  t.equal(formatUri(parseUri(round)!), round);
  const proto = parseUri('sip:h;__proto__=1;constructor');
  t.equal(proto?.params['__proto__'], '1', 'parameter names are plain data');
});

t.test('parseNameAddr, tags, Contact, Expires', async (t) => {
  const a = parseNameAddr('"设备 1" <sip:34020000001320000001@3402000000>;tag=abc;x');
  t.equal(a?.displayName, '设备 1');
  t.equal(a?.uri, 'sip:34020000001320000001@3402000000');
  t.equal(a?.params['tag'], 'abc');
  t.equal(a?.params['x'], null);
  t.equal(formatNameAddr(a!), '"设备 1" <sip:34020000001320000001@3402000000>;tag=abc;x');
  t.equal(parseNameAddr('sip:a@b;tag=1')?.params['tag'], '1', 'addr-spec params belong to the header');
  t.equal(parseNameAddr('Display Name <sip:a@b>')?.displayName, 'Display Name');
  t.equal(parseNameAddr('<sip:a@b'), null);
  t.equal(parseNameAddr(''), null);
  t.equal(getTag('<sip:a@b>;TAG=xyz'), 'xyz');
  t.equal(getTag('<sip:a@b>'), undefined);
  t.equal(getTag(undefined), undefined);
  const reg = parseMessage(bytes(gbRegister({ expires: 0 })));
  t.ok(reg.ok);
  if (!reg.ok) return;
  t.equal(parseExpires(reg.message), 0, 'Expires: 0 is unregister, not ignored');
  const contacts = parseContacts(reg.message);
  t.ok(Array.isArray(contacts));
  t.equal(contactExpires((contacts as any[])[0], reg.message, 3600), 0);
  const req = createRequest('REGISTER', 'sip:x', [['Contact', '*']]);
  t.equal(parseContacts(req), '*');
  const withParam = createRequest('REGISTER', 'sip:x', [['Contact', '<sip:a@b>;expires=60, <sip:c@d>'], ['Expires', '120']]);
  const list = parseContacts(withParam) as any[];
  t.same(list.map((c) => contactExpires(c, withParam, 3600)), [60, 120]);
});

t.test('parseCSeq', async (t) => {
  t.same(parseCSeq('  0009   INVITE '), { seq: 9, method: 'INVITE' });
  t.equal(parseCSeq('2147483648 INVITE'), null, 'must be below 2^31');
  t.equal(parseCSeq('1INVITE'), null);
  t.equal(parseCSeq('x INVITE'), null);
  t.equal(parseCSeq(undefined), null);
});

t.test('stampViaReceived keeps other Vias intact', async (t) => {
  const req = createRequest('MESSAGE', 'sip:x', [
    ['Via', 'SIP/2.0/UDP 10.0.0.5:5070;rport;branch=z9hG4bKa, SIP/2.0/UDP proxy;branch=z9hG4bKb'],
    ['Via', 'SIP/2.0/UDP far;branch=z9hG4bKc'],
  ]);
  stampViaReceived(req, '203.0.113.1', 4000);
  const vias = req.headers.getList('via');
  t.equal(vias.length, 3);
  t.equal(parseVia(vias[0]!)?.received, '203.0.113.1');
  t.equal(parseVia(vias[0]!)?.rport, 4000);
  t.equal(parseVia(vias[0]!)?.branch, 'z9hG4bKa');
  t.equal(parseVia(vias[1]!)?.host, 'proxy');
  t.equal(req.headers.getAll('via').length, 2);
  const same = createRequest('MESSAGE', 'sip:x', [['Via', 'SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKa']]);
  stampViaReceived(same, '10.0.0.5', 5070);
  t.equal(same.headers.get('via'), 'SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKa', 'untouched when nothing to add');
});

t.test('buildResponse per RFC 3261 §8.2.6', async (t) => {
  const parsed = parseMessage(bytes(gbRegister()));
  if (!parsed.ok || parsed.message.kind !== 'request') throw new Error('fixture');
  const req = parsed.message;
  req.headers.append('Timestamp', '54');
  req.headers.append('Record-Route', '<sip:p;lr>');
  const r = buildResponse(req, 401, undefined, [['WWW-Authenticate', 'Digest realm="3402000000", nonce="n", algorithm=MD5']]);
  t.equal(r.reason, 'Unauthorized');
  t.same([...r.headers].map((h) => h.name), ['Via', 'From', 'To', 'Call-ID', 'CSeq', 'WWW-Authenticate']);
  t.ok(getTag(r.headers.get('to')), 'To tag added (gosip did not)');
  const trying = buildResponse(req, 100);
  t.equal(getTag(trying.headers.get('to')), undefined, 'no tag on 100');
  t.equal(trying.headers.get('timestamp'), '54', 'Timestamp echoed on 100');
  const tagged = createRequest('BYE', 'sip:x', [['To', '<sip:a@b>;tag=keep'], ['Via', 'SIP/2.0/UDP h;branch=z9hG4bKq'], ['Via', 'SIP/2.0/UDP g;branch=z9hG4bKr']]);
  const byeOk = buildResponse(tagged, 200, 'OK', [], { toTag: 'other' });
  t.equal(getTag(byeOk.headers.get('to')), 'keep');
  t.same(byeOk.headers.getAll('via'), ['SIP/2.0/UDP h;branch=z9hG4bKq', 'SIP/2.0/UDP g;branch=z9hG4bKr'], 'all Vias in order');
  const inv = createRequest('INVITE', 'sip:x', [['To', '<sip:a@b>'], ['Record-Route', '<sip:p1;lr>']]);
  t.equal(buildResponse(inv, 200).headers.get('record-route'), '<sip:p1;lr>');
  t.equal(buildResponse(inv, 486).headers.get('record-route'), undefined);
  const withBody = buildResponse(inv, 200, undefined, [], { body: Buffer.from('v=0\r\n'), contentType: 'application/sdp' });
  t.match(serializeMessage(withBody).toString(), /Content-Type: application\/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n$/);
});

t.test('serializer rewrites a stale Content-Length to the byte length', async (t) => {
  const body = Buffer.from('<Name>前门</Name>', 'utf8');
  const req = createRequest('MESSAGE', 'sip:x@y', [['Content-Length', '3'], ['Content-Length', '99'], ['Via', 'SIP/2.0/UDP h']], body);
  const text = serializeMessage(req).toString('utf8');
  t.equal(text.match(/Content-Length/g)?.length, 1);
  t.match(text, new RegExp(`Content-Length: ${body.length}\\r\\n`));
  t.equal(topVia(req)?.host, 'h');
});

t.test('a single trailing semicolon is tolerated, a double one is not', async (t) => {
  t.equal(parseVia('SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bKx;')?.branch, 'z9hG4bKx');
  t.equal(parseNameAddr('<sip:a@b>;tag=1;')?.params['tag'], '1');
  t.equal(parseVia('SIP/2.0/UDP h;;'), null);
  t.equal(parseVia('SIP/2.0/UDP h;;branch=z9hG4bKx'), null);
});
