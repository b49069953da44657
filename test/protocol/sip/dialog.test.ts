import t from 'tap';
import { Dialog, dialogIdOf, type DialogState } from '../../../src/protocol/sip/dialog.js';
import { createRequest, parseCSeq, topVia, getTag, type SipRequest } from '../../../src/protocol/sip/message.js';
import { buildResponse, serializeMessage } from '../../../src/protocol/sip/serializer.js';
import { parseMessage } from '../../../src/protocol/sip/parser.js';

const SENT_BY = { transport: 'UDP', host: '198.51.100.1', port: 5060 };

function invite(): SipRequest {
  return createRequest('INVITE', 'sip:34020000001310000001@3402000000', [
    ['Via', 'SIP/2.0/UDP 198.51.100.1:5060;rport;branch=z9hG4bKinv1'],
    ['From', '<sip:34020000002000000001@3402000000>;tag=srv1'],
    ['To', '<sip:34020000001310000001@3402000000>'],
    ['Call-ID', 'play-1'],
    ['CSeq', '20 INVITE'],
    ['Contact', '<sip:34020000002000000001@198.51.100.1:5060>'],
    ['Subject', '34020000001310000001:0200000001,34020000002000000001:0'],
  ]);
}

function uacDialog(): Dialog {
  const req = invite();
  const ok = buildResponse(req, 200, undefined, [['Contact', '<sip:34020000001310000001@10.0.0.5:5070>'], ['Record-Route', '<sip:p1.example.com;lr>, <sip:p2.example.com;lr>']], { toTag: 'dev9' });
  const d = Dialog.fromUacResponse(req, ok, '<sip:34020000002000000001@198.51.100.1:5060>');
  if (d === null) throw new Error('no dialog');
  return d;
}

t.test('UAC dialog from INVITE + 200', async (t) => {
  const d = uacDialog();
  t.equal(d.state.callId, 'play-1');
  t.equal(d.state.localTag, 'srv1');
  t.equal(d.state.remoteTag, 'dev9');
  t.equal(d.state.remoteTarget, 'sip:34020000001310000001@10.0.0.5:5070');
  t.same(d.state.routeSet, ['<sip:p2.example.com;lr>', '<sip:p1.example.com;lr>'], 'Record-Route reversed for the UAC');
  t.equal(d.state.phase, 'confirmed');
  t.equal(d.id, 'play-1;srv1;dev9');
});

t.test('ACK for 2xx reuses the INVITE CSeq number with a new branch; BYE takes the next number', async (t) => {
  const d = uacDialog();
  const ack = d.createAck({ sentBy: SENT_BY });
  t.equal(ack.method, 'ACK');
  t.same(parseCSeq(ack.headers.get('cseq')), { seq: 20, method: 'ACK' }, 'not +1 (gosip defect)');
  t.not(topVia(ack)?.branch, 'z9hG4bKinv1');
  t.match(topVia(ack)?.branch, /^z9hG4bK/);
  t.equal(topVia(ack)?.rport, true);
  t.equal(ack.uri, 'sip:34020000001310000001@10.0.0.5:5070', 'to the remote target');
  t.same(ack.headers.getAll('route'), ['<sip:p2.example.com;lr>', '<sip:p1.example.com;lr>']);
  t.equal(getTag(ack.headers.get('to')), 'dev9');
  t.equal(getTag(ack.headers.get('from')), 'srv1');
  const bye = d.createBye({ sentBy: SENT_BY });
  t.same(parseCSeq(bye.headers.get('cseq')), { seq: 21, method: 'BYE' });
  const info = d.createInfo({ sentBy: SENT_BY, body: Buffer.from('PAUSE RTSP/1.0\r\nCSeq: 1\r\nPauseTime: now\r\n'), contentType: 'Application/MANSRTSP' });
  t.same(parseCSeq(info.headers.get('cseq')), { seq: 22, method: 'INFO' });
  t.equal(info.headers.get('content-type'), 'Application/MANSRTSP');
  const reparsed = parseMessage(serializeMessage(info));
  t.ok(reparsed.ok, 'in-dialog requests parse back');
  t.equal(d.createMessage({ sentBy: SENT_BY }).method, 'MESSAGE');
});

t.test('JSON round trip survives a restart', async (t) => {
  const d = uacDialog();
  d.createBye({ sentBy: SENT_BY });
  const row = JSON.stringify(d);
  const restored = Dialog.fromJSON(row);
  t.same(restored.toJSON(), d.toJSON());
  const bye = restored.createRequest('BYE', { sentBy: SENT_BY });
  t.same(parseCSeq(bye.headers.get('cseq')), { seq: 22, method: 'BYE' });
  const plain: DialogState = JSON.parse(row);
  t.equal(typeof plain.localSeq, 'number');
  t.ok(Array.isArray(plain.routeSet));
});

t.test('strict route: first route becomes the Request-URI', async (t) => {
  const req = invite();
  const ok = buildResponse(req, 200, undefined, [['Contact', '<sip:dev@10.0.0.5>'], ['Record-Route', '<sip:strict.example.com>']], { toTag: 'x' });
  const d = Dialog.fromUacResponse(req, ok)!;
  const bye = d.createBye({ sentBy: SENT_BY });
  t.equal(bye.uri, 'sip:strict.example.com');
  t.same(bye.headers.getAll('route'), ['<sip:dev@10.0.0.5>']);
});

t.test('a 2xx without a To tag still makes a dialog (RFC 3261 §12.1.2)', async (t) => {
  const req = invite();
  const ok = buildResponse(req, 200, undefined, [], { toTag: 'x' });
  ok.headers.set('To', req.headers.get('to')!);
  const d = Dialog.fromUacResponse(req, ok)!;
  t.equal(d.state.remoteTag, '');
  t.equal(getTag(d.createBye({ sentBy: SENT_BY }).headers.get('to')), undefined);
  const ringing = buildResponse(req, 180);
  ringing.headers.set('To', req.headers.get('to')!);
  t.equal(Dialog.fromUacResponse(req, ringing), null, 'tagless 1xx makes no early dialog');
});

t.test('no Contact in the 200 falls back to the Request-URI; 100 and non-2xx make no dialog', async (t) => {
  const req = invite();
  const ok = buildResponse(req, 200, undefined, [], { toTag: 't' });
  t.equal(Dialog.fromUacResponse(req, ok)!.state.remoteTarget, req.uri);
  const trying = buildResponse(req, 100);
  t.equal(Dialog.fromUacResponse(req, trying), null);
  const busy = buildResponse(req, 486);
  t.equal(Dialog.fromUacResponse(req, busy), null);
  const early = Dialog.fromUacResponse(req, buildResponse(req, 183, undefined, [], { toTag: 'e' }))!;
  t.equal(early.state.phase, 'early');
  early.confirm(buildResponse(req, 200, undefined, [['Contact', '<sip:new@10.0.0.9>']], { toTag: 'e' }));
  t.equal(early.state.phase, 'confirmed');
  t.equal(early.state.remoteTarget, 'sip:new@10.0.0.9');
});

t.test('UAS dialog and remote CSeq ordering', async (t) => {
  const req = createRequest('INVITE', 'sip:34020000002000000001@3402000000', [
    ['Via', 'SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKbc1'],
    ['From', '<sip:34020000001320000001@3402000000>;tag=devtag'],
    ['To', '<sip:34020000002000000001@3402000000>'],
    ['Call-ID', 'broadcast-1'],
    ['CSeq', '7 INVITE'],
    ['Contact', '<sip:34020000001320000001@10.0.0.5:5070>'],
    ['Record-Route', '<sip:p1;lr>'],
  ]);
  const d = Dialog.fromUasRequest(req, 'mytag')!;
  t.equal(d.state.role, 'uas');
  t.equal(d.state.localAddress, '<sip:34020000002000000001@3402000000>;tag=mytag');
  t.same(d.state.routeSet, ['<sip:p1;lr>']);
  t.equal(d.state.remoteSeq, 7);
  const bye = (cseq: number, method = 'BYE') =>
    createRequest(method, 'sip:x@y', [
      ['CSeq', `${cseq} ${method}`],
      ['Call-ID', 'broadcast-1'],
    ]);
  t.same(d.receiveRequest(bye(7)), { ok: false, status: 500, reason: 'Server Internal Error' }, 'old CSeq rejected');
  t.same(d.receiveRequest(bye(7, 'ACK')), { ok: true }, 'ACK reuses the INVITE number');
  t.equal(d.state.phase, 'confirmed');
  t.same(d.receiveRequest(bye(8)), { ok: true });
  const own = d.createBye({ sentBy: SENT_BY });
  t.same(parseCSeq(own.headers.get('cseq')), { seq: 1, method: 'BYE' });
  t.equal(own.uri, 'sip:34020000001320000001@10.0.0.5:5070');
  t.throws(() => d.createRequest('CANCEL', { sentBy: SENT_BY }));
});

t.test('dialogIdOf matches our view for requests and responses', async (t) => {
  const d = uacDialog();
  const bye = d.createBye({ sentBy: SENT_BY });
  // A BYE from the device would have the tags swapped.
  const fromDevice = createRequest('BYE', 'sip:x@y', [
    ['From', bye.headers.get('to')!],
    ['To', bye.headers.get('from')!],
    ['Call-ID', 'play-1'],
  ]);
  t.equal(dialogIdOf(fromDevice), d.id);
  const resp = buildResponse(bye, 200);
  t.equal(dialogIdOf(resp), d.id);
  t.equal(dialogIdOf(invite()), undefined);
});
