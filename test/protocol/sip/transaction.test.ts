import t from 'tap';
import { FakeClock } from '../../../src/protocol/sip/clock.js';
import {
  TransactionLayer,
  type ClientTransaction,
  type Endpoint,
  type ServerTransaction,
  type Transaction,
  type TimerConfig,
} from '../../../src/protocol/sip/transaction.js';
import { parseMessage } from '../../../src/protocol/sip/parser.js';
import { buildResponse, serializeMessage } from '../../../src/protocol/sip/serializer.js';
import { createRequest, parseCSeq, getTag, topVia, type SipMessage, type SipRequest, type SipResponse } from '../../../src/protocol/sip/message.js';

const DEVICE: Endpoint = { transport: 'UDP', address: '192.0.2.10', port: 5070 };
const DEVICE_TCP: Endpoint = { transport: 'TCP', address: '192.0.2.10', port: 5070, connectionId: 7 };

interface Sent {
  at: number;
  message: SipMessage;
  remote: Endpoint;
}

function harness(options: { timers?: Partial<TimerConfig>; failSend?: () => boolean } = {}) {
  const clock = new FakeClock();
  const sent: Sent[] = [];
  const requests: Array<{ tx: ServerTransaction | undefined; request: SipRequest }> = [];
  const responses: Array<{ tx: ClientTransaction | undefined; response: SipResponse }> = [];
  const timeouts: Transaction[] = [];
  const transportErrors: Transaction[] = [];
  const terminated: Transaction[] = [];
  const layer = new TransactionLayer(
    {
      send(bytes, remote, message) {
        // Everything we send must parse back.
        const reparsed = parseMessage(bytes);
        if (!reparsed.ok) throw new Error(`sent unparseable message: ${reparsed.reason}`);
        sent.push({ at: clock.now(), message, remote });
        if (options.failSend?.() === true) return false;
        return true;
      },
      onRequest: (tx, request) => requests.push({ tx, request }),
      onResponse: (tx, response) => responses.push({ tx, response }),
      onTimeout: (tx) => timeouts.push(tx),
      onTransportError: (tx) => transportErrors.push(tx),
      onTerminated: (tx) => terminated.push(tx),
    },
    { clock, timers: options.timers },
  );
  return { clock, layer, sent, requests, responses, timeouts, transportErrors, terminated };
}

let branchCounter = 0;
function outgoing(method: string, transport = 'UDP', branch = `z9hG4bKout${++branchCounter}`): SipRequest {
  return createRequest(method, 'sip:34020000001320000001@192.0.2.10:5070', [
    ['Via', `SIP/2.0/${transport} 198.51.100.1:5060;rport;branch=${branch}`],
    ['From', '<sip:34020000002000000001@3402000000>;tag=srv1'],
    ['To', '<sip:34020000001320000001@3402000000>'],
    ['Call-ID', `call-${branch}`],
    ['CSeq', `20 ${method}`],
    ['Max-Forwards', '70'],
  ]);
}

function incoming(method: string, opts: { branch?: string; cseq?: number; via?: string; callId?: string; toTag?: string; fromTag?: string } = {}): SipRequest {
  return createRequest(method, 'sip:34020000002000000001@3402000000', [
    ['Via', opts.via ?? `SIP/2.0/UDP 10.0.0.5:5070;rport;branch=${opts.branch ?? 'z9hG4bKin1'}`],
    ['From', `<sip:34020000001320000001@3402000000>;tag=${opts.fromTag ?? 'dev1'}`],
    ['To', `<sip:34020000002000000001@3402000000>${opts.toTag === undefined ? '' : `;tag=${opts.toTag}`}`],
    ['Call-ID', opts.callId ?? 'in-call-1'],
    ['CSeq', `${opts.cseq ?? 1} ${method === 'ACK' ? 'ACK' : method}`],
    ['Max-Forwards', '70'],
  ]);
}

function responseTo(request: SipRequest, status: number, toTag = 'dev-tag'): SipResponse {
  return buildResponse(request, status, undefined, [], { toTag });
}

t.test('non-INVITE client transaction over UDP', async (t) => {
  t.test('retransmits at 500/1000/2000/4000/4000... ms (Timer E) and times out at 64*T1 (Timer F)', async (t) => {
    const h = harness();
    const tx = h.layer.sendRequest(outgoing('MESSAGE'), DEVICE);
    t.equal(tx.state, 'trying');
    h.clock.advance(40_000);
    t.same(
      h.sent.map((s) => s.at),
      [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500],
    );
    t.same(h.sent.map((s) => s.remote), h.sent.map(() => DEVICE), 'all to the given remote');
    t.equal(h.timeouts.length, 1);
    t.equal(h.timeouts[0], tx);
    t.equal(tx.state, 'terminated');
    t.equal(h.layer.clientCount, 0);
    t.equal(h.clock.pending, 0, 'no timers left behind');
  });

  t.test('a final response stops retransmission, is delivered once, Timer K ends it after T4', async (t) => {
    const h = harness();
    const req = outgoing('MESSAGE');
    const tx = h.layer.sendRequest(req, DEVICE);
    h.clock.advance(700);
    h.layer.receive(responseTo(req, 200), DEVICE);
    t.equal(tx.state, 'completed');
    t.equal(h.responses.length, 1);
    t.equal(h.responses[0]!.tx, tx);
    h.layer.receive(responseTo(req, 200), DEVICE);
    t.equal(h.responses.length, 1, 'retransmitted 200 absorbed');
    h.clock.advance(4_999);
    t.equal(tx.state, 'completed');
    h.clock.advance(1);
    t.equal(tx.state, 'terminated');
    t.same(h.sent.map((s) => s.at), [0, 500], 'no retransmission after the response');
    t.equal(h.timeouts.length, 0);
  });

  t.test('a provisional response moves retransmission to T2 intervals', async (t) => {
    const h = harness();
    const req = outgoing('MESSAGE');
    const tx = h.layer.sendRequest(req, DEVICE);
    h.clock.advance(600);
    h.layer.receive(responseTo(req, 100), DEVICE);
    t.equal(tx.state, 'proceeding');
    h.clock.advance(12_000);
    t.same(h.sent.map((s) => s.at), [0, 500, 1500, 5500, 9500]);
  });

  t.test('per-request handlers override the TU callbacks', async (t) => {
    const h = harness();
    const req = outgoing('MESSAGE');
    const got: number[] = [];
    let timedOut = false;
    h.layer.sendRequest(req, DEVICE, { onResponse: (r) => got.push(r.status) });
    h.layer.receive(responseTo(req, 202), DEVICE);
    t.same(got, [202]);
    t.equal(h.responses.length, 0);
    h.layer.sendRequest(outgoing('MESSAGE'), DEVICE, { onTimeout: () => (timedOut = true) });
    h.clock.advance(32_000);
    t.ok(timedOut);
    t.equal(h.timeouts.length, 0);
  });
});

t.test('non-INVITE client transaction over TCP: no retransmissions, Timer F still applies', async (t) => {
  const h = harness();
  const req = outgoing('MESSAGE', 'TCP');
  const tx = h.layer.sendRequest(req, DEVICE_TCP);
  h.clock.advance(31_999);
  t.equal(h.sent.length, 1);
  t.equal(h.timeouts.length, 0);
  h.clock.advance(1);
  t.equal(h.timeouts.length, 1);
  t.equal(tx.state, 'terminated');

  const req2 = outgoing('MESSAGE', 'TCP');
  const tx2 = h.layer.sendRequest(req2, DEVICE_TCP);
  h.layer.receive(responseTo(req2, 200), DEVICE_TCP);
  t.equal(tx2.state, 'terminated', 'Timer K is zero on reliable transports');
});

t.test('INVITE client transaction', async (t) => {
  t.test('UDP: Timer A doubles without cap, Timer B at 64*T1', async (t) => {
    const h = harness();
    const tx = h.layer.sendRequest(outgoing('INVITE'), DEVICE);
    t.equal(tx.state, 'calling');
    h.clock.advance(40_000);
    t.same(h.sent.map((s) => s.at), [0, 500, 1500, 3500, 7500, 15500, 31500]);
    t.equal(h.timeouts.length, 1);
    t.equal(tx.state, 'terminated');
  });

  t.test('TCP: no Timer A', async (t) => {
    const h = harness();
    h.layer.sendRequest(outgoing('INVITE', 'TCP'), DEVICE_TCP);
    h.clock.advance(40_000);
    t.equal(h.sent.length, 1);
    t.equal(h.timeouts.length, 1);
  });

  t.test('non-2xx final: ACK in the transaction (same branch, CSeq number), re-ACK on retransmission, Timer D', async (t) => {
    const h = harness();
    const invite = outgoing('INVITE');
    invite.headers.append('Route', '<sip:proxy.example.com;lr>');
    const tx = h.layer.sendRequest(invite, DEVICE);
    h.layer.receive(responseTo(invite, 100), DEVICE);
    t.equal(tx.state, 'proceeding');
    h.clock.advance(5_000);
    t.equal(h.sent.length, 1, 'no retransmission once a provisional arrived');
    h.layer.receive(responseTo(invite, 486), DEVICE);
    t.equal(tx.state, 'completed');
    const ack = h.sent[1]!.message as SipRequest;
    t.equal(ack.method, 'ACK');
    t.equal(ack.uri, invite.uri);
    t.equal(topVia(ack)?.branch, topVia(invite)?.branch);
    t.same(parseCSeq(ack.headers.get('cseq')), { seq: 20, method: 'ACK' });
    t.equal(getTag(ack.headers.get('to')), 'dev-tag');
    t.equal(ack.headers.get('route'), '<sip:proxy.example.com;lr>');
    t.same(h.responses.map((r) => r.response.status), [100, 486]);
    h.layer.receive(responseTo(invite, 486), DEVICE);
    t.equal(h.sent.length, 3, 'ACK re-sent');
    t.equal(h.sent[2]!.message.kind === 'request' && h.sent[2]!.message.method, 'ACK');
    t.same(h.responses.map((r) => r.response.status), [100, 486], 'retransmission not delivered');
    h.clock.advance(32_000);
    t.equal(tx.state, 'terminated');
    t.equal(h.timeouts.length, 0);
  });

  t.test('2xx: accepted for 64*T1, retransmitted 2xx goes to the TU, stray 2xx afterwards too', async (t) => {
    const h = harness();
    const invite = outgoing('INVITE');
    const tx = h.layer.sendRequest(invite, DEVICE);
    h.clock.advance(500);
    h.layer.receive(responseTo(invite, 200), DEVICE);
    t.equal(tx.state, 'accepted');
    h.clock.advance(5_000);
    t.equal(h.sent.length, 2, 'no retransmission after 2xx, no ACK by the transaction');
    h.layer.receive(responseTo(invite, 200), DEVICE);
    t.equal(h.responses.length, 2);
    t.equal(h.responses[1]!.tx, tx);
    h.clock.advance(32_000);
    t.equal(tx.state, 'terminated');
    h.layer.receive(responseTo(invite, 200), DEVICE);
    t.equal(h.responses.length, 3);
    t.equal(h.responses[2]!.tx, undefined, 'stray 2xx delivered without a transaction');
  });

  t.test('Timer C gives up on a device that only sent 100', async (t) => {
    const h = harness({ timers: { timerC: 60_000 } });
    const invite = outgoing('INVITE');
    const tx = h.layer.sendRequest(invite, DEVICE);
    h.layer.receive(responseTo(invite, 100), DEVICE);
    h.clock.advance(59_999);
    t.equal(h.timeouts.length, 0);
    h.clock.advance(1);
    t.equal(h.timeouts[0], tx);
  });

  t.test('CANCEL waits for a provisional response, then uses the INVITE branch', async (t) => {
    const h = harness();
    const invite = outgoing('INVITE');
    const tx = h.layer.sendRequest(invite, DEVICE);
    t.equal(tx.cancel(), undefined);
    t.equal(h.sent.length, 1);
    h.layer.receive(responseTo(invite, 100), DEVICE);
    const cancel = h.sent[1]!.message as SipRequest;
    t.equal(cancel.method, 'CANCEL');
    t.equal(topVia(cancel)?.branch, topVia(invite)?.branch);
    t.same(parseCSeq(cancel.headers.get('cseq')), { seq: 20, method: 'CANCEL' });
    t.equal(h.layer.clientCount, 2, 'CANCEL has its own transaction');
  });
});

t.test('non-INVITE server transaction', async (t) => {
  t.test('absorbs retransmissions and replays the final response; Timer J', async (t) => {
    const h = harness();
    const req = incoming('MESSAGE');
    h.layer.receive(req, DEVICE);
    t.equal(h.requests.length, 1);
    const tx = h.requests[0]!.tx!;
    t.equal(tx.state, 'trying');
    h.layer.receive(incoming('MESSAGE'), DEVICE);
    t.equal(h.requests.length, 1, 'retransmission in Trying absorbed');
    t.equal(h.sent.length, 0);
    tx.reply(200);
    t.equal(tx.state, 'completed');
    t.equal(h.sent.length, 1);
    t.same(h.sent[0]!.remote, DEVICE, 'response goes to the source address');
    h.layer.receive(incoming('MESSAGE'), DEVICE);
    t.equal(h.requests.length, 1);
    t.equal(h.sent.length, 2, 'final response replayed');
    t.equal((h.sent[1]!.message as SipResponse).status, 200);
    t.equal(h.layer.stats.retransmissionsAbsorbed, 2);
    h.clock.advance(32_000);
    t.equal(tx.state, 'terminated');
    h.layer.receive(incoming('MESSAGE'), DEVICE);
    t.equal(h.requests.length, 2, 'after Timer J the same branch is a new transaction');
  });

  t.test('provisional response replayed in Proceeding', async (t) => {
    const h = harness();
    h.layer.receive(incoming('SUBSCRIBE'), DEVICE);
    const tx = h.requests[0]!.tx!;
    tx.reply(100);
    h.layer.receive(incoming('SUBSCRIBE'), DEVICE);
    t.same(h.sent.map((s) => (s.message as SipResponse).status), [100, 100]);
    t.throws(() => {
      tx.reply(200);
      tx.reply(200);
    }, 'a second final response is a programmer error');
  });

  t.test('TCP: Timer J is zero', async (t) => {
    const h = harness();
    h.layer.receive(incoming('MESSAGE', { via: 'SIP/2.0/TCP 10.0.0.5:5070;branch=z9hG4bKtcp' }), DEVICE_TCP);
    const tx = h.requests[0]!.tx!;
    tx.reply(200);
    t.equal(tx.state, 'terminated');
    t.same(h.sent[0]!.remote, DEVICE_TCP);
  });

  t.test('stamps received and rport into the top Via of responses (RFC 3581)', async (t) => {
    const h = harness();
    h.layer.receive(incoming('REGISTER', { via: 'SIP/2.0/UDP 10.0.0.5:5070;rport;branch=z9hG4bKnat' }), { transport: 'UDP', address: '203.0.113.9', port: 40000 });
    h.requests[0]!.tx!.reply(401);
    const via = topVia(h.sent[0]!.message)!;
    t.equal(via.received, '203.0.113.9');
    t.equal(via.rport, 40000);
    t.equal(via.branch, 'z9hG4bKnat');
    t.same(h.sent[0]!.remote, { transport: 'UDP', address: '203.0.113.9', port: 40000 });
  });

  t.test('responses carry one To tag across provisional and final', async (t) => {
    const h = harness();
    h.layer.receive(incoming('MESSAGE'), DEVICE);
    const tx = h.requests[0]!.tx!;
    tx.reply(180);
    tx.reply(200);
    const tags = h.sent.map((s) => getTag(s.message.headers.get('to')));
    t.equal(tags[0], tags[1]);
    t.equal(tags[0], tx.toTag);
  });
});

t.test('INVITE server transaction', async (t) => {
  t.test('sends 100 Trying if the TU is silent for 200 ms', async (t) => {
    const h = harness();
    h.layer.receive(incoming('INVITE'), DEVICE);
    h.clock.advance(199);
    t.equal(h.sent.length, 0);
    h.clock.advance(1);
    t.equal((h.sent[0]!.message as SipResponse).status, 100);
    t.equal(getTag(h.sent[0]!.message.headers.get('to')), undefined, '100 has no To tag');
    h.layer.receive(incoming('INVITE'), DEVICE);
    t.equal(h.sent.length, 2, 'retransmitted INVITE gets the 100 again');
  });

  t.test('no 100 if the TU answers quickly', async (t) => {
    const h = harness();
    h.layer.receive(incoming('INVITE'), DEVICE);
    h.requests[0]!.tx!.reply(180);
    h.clock.advance(1000);
    t.same(h.sent.map((s) => (s.message as SipResponse).status), [180]);
  });

  t.test('UDP: final non-2xx retransmitted (Timer G, capped at T2) until ACK, which is absorbed', async (t) => {
    const h = harness();
    h.layer.receive(incoming('INVITE'), DEVICE);
    const tx = h.requests[0]!.tx!;
    tx.reply(486);
    h.clock.advance(8_000);
    t.same(h.sent.map((s) => s.at), [0, 500, 1500, 3500, 7500]);
    h.layer.receive(incoming('ACK', { toTag: tx.toTag }), DEVICE);
    t.equal(tx.state, 'confirmed');
    t.equal(h.requests.length, 1, 'ACK for non-2xx is not passed to the TU');
    h.clock.advance(20_000);
    t.equal(h.sent.length, 5, 'retransmission stopped');
    t.equal(tx.state, 'terminated', 'Timer I ended it');
    t.equal(h.timeouts.length, 0);
  });

  t.test('UDP: Timer H fires when no ACK comes', async (t) => {
    const h = harness();
    h.layer.receive(incoming('INVITE'), DEVICE);
    const tx = h.requests[0]!.tx!;
    tx.reply(603);
    h.clock.advance(32_000);
    t.same(h.sent.map((s) => s.at), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    t.equal(h.timeouts[0], tx);
    t.equal(tx.state, 'terminated');
  });

  t.test('TCP: no retransmission of the final response, Timer H still applies', async (t) => {
    const h = harness();
    h.layer.receive(incoming('INVITE', { via: 'SIP/2.0/TCP 10.0.0.5:5070;branch=z9hG4bKtcpinv' }), DEVICE_TCP);
    const tx = h.requests[0]!.tx!;
    tx.reply(486);
    h.clock.advance(31_999);
    t.equal(h.sent.length, 1);
    h.clock.advance(1);
    t.equal(h.timeouts[0], tx);
  });

  t.test('2xx retransmitted until the ACK (new branch), which goes to the TU', async (t) => {
    const h = harness();
    h.layer.receive(incoming('INVITE', { cseq: 5 }), DEVICE);
    const tx = h.requests[0]!.tx!;
    tx.reply(200);
    t.equal(tx.state, 'accepted');
    h.clock.advance(4_000);
    t.same(h.sent.map((s) => s.at), [0, 500, 1500, 3500]);
    h.layer.receive(incoming('ACK', { branch: 'z9hG4bKack2', cseq: 5, toTag: tx.toTag }), DEVICE);
    t.equal(h.requests.length, 2);
    t.equal(h.requests[1]!.tx, undefined);
    t.equal(h.requests[1]!.request.method, 'ACK');
    h.clock.advance(60_000);
    t.equal(h.sent.length, 4, 'retransmission stopped at the ACK');
    t.equal(h.timeouts.length, 0);
    t.equal(tx.state, 'terminated');
    h.layer.receive(incoming('INVITE', { cseq: 5 }), DEVICE);
    t.equal(h.requests.length, 3, 'after Timer L a retransmitted INVITE is new (TU sees the dialog exists)');
  });

  t.test('INVITE retransmissions during accepted are absorbed', async (t) => {
    const h = harness();
    h.layer.receive(incoming('INVITE'), DEVICE);
    const tx = h.requests[0]!.tx!;
    tx.reply(200);
    h.layer.receive(incoming('INVITE'), DEVICE);
    t.equal(h.requests.length, 1);
    t.equal(h.sent.length, 1);
  });

  t.test('2xx never ACKed: onTimeout after 64*T1', async (t) => {
    const h = harness();
    h.layer.receive(incoming('INVITE'), DEVICE);
    const tx = h.requests[0]!.tx!;
    tx.reply(200);
    h.clock.advance(32_000);
    t.equal(h.timeouts[0], tx);
  });

  t.test('CANCEL finds its INVITE', async (t) => {
    const h = harness();
    h.layer.receive(incoming('INVITE', { branch: 'z9hG4bKc1' }), DEVICE);
    const inviteTx = h.requests[0]!.tx!;
    const cancel = incoming('CANCEL', { branch: 'z9hG4bKc1' });
    h.layer.receive(cancel, DEVICE);
    t.equal(h.requests.length, 2, 'CANCEL is its own transaction');
    t.not(h.requests[1]!.tx, inviteTx);
    t.equal(h.layer.findInviteForCancel(cancel), inviteTx);
  });
});

t.test('RFC 2543 matching without the magic cookie (§17.2.3)', async (t) => {
  const h = harness();
  const via = 'SIP/2.0/UDP 10.0.0.5:5070';
  h.layer.receive(incoming('INVITE', { via }), DEVICE);
  t.equal(h.requests.length, 1);
  h.layer.receive(incoming('INVITE', { via }), DEVICE);
  t.equal(h.requests.length, 1, 'retransmission matched on Request-URI/From tag/Call-ID/CSeq/Via');
  const tx = h.requests[0]!.tx!;
  tx.reply(404);
  h.layer.receive(incoming('ACK', { via, toTag: tx.toTag }), DEVICE);
  t.equal(tx.state, 'confirmed', 'ACK matched to the INVITE');
  h.layer.receive(incoming('INVITE', { via, cseq: 2 }), DEVICE);
  t.equal(h.requests.length, 2, 'different CSeq is a new transaction');
  h.layer.receive(incoming('MESSAGE', { via: 'SIP/2.0/UDP 10.0.0.5:5070;branch=oldstyle1' }), DEVICE);
  h.layer.receive(incoming('MESSAGE', { via: 'SIP/2.0/UDP 10.0.0.5:5070;branch=oldstyle1' }), DEVICE);
  t.equal(h.requests.length, 3);
});

t.test('same branch from different sent-by is a different transaction', async (t) => {
  const h = harness();
  h.layer.receive(incoming('MESSAGE', { via: 'SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKsame' }), DEVICE);
  h.layer.receive(incoming('MESSAGE', { via: 'SIP/2.0/UDP 10.0.0.6:5070;branch=z9hG4bKsame' }), DEVICE);
  t.equal(h.requests.length, 2);
});

t.test('sipp keepalive loop: branch-[cseq] keeps each MESSAGE distinct', async (t) => {
  const h = harness();
  for (let cseq = 3; cseq < 6; cseq++) {
    h.layer.receive(incoming('MESSAGE', { branch: `z9hG4bK-1-1-4-${cseq}`, cseq, callId: 'reg-call' }), DEVICE);
  }
  t.equal(h.requests.length, 3);
});

t.test('responses: wrong Via count discarded, strays counted', async (t) => {
  const h = harness();
  const req = outgoing('MESSAGE');
  h.layer.sendRequest(req, DEVICE);
  const twoVias = responseTo(req, 200);
  twoVias.headers.append('Via', 'SIP/2.0/UDP 255.255.255.255;branch=z9hG4bKbcast');
  h.layer.receive(twoVias, DEVICE);
  t.equal(h.responses.length, 0);
  t.equal(h.layer.stats.invalidMessages, 1);
  h.layer.receive(responseTo(outgoing('MESSAGE'), 200), DEVICE);
  t.equal(h.layer.stats.strayResponses, 1);
});

t.test('transport errors', async (t) => {
  const h = harness({ failSend: () => true });
  const tx = h.layer.sendRequest(outgoing('MESSAGE'), DEVICE);
  t.equal(h.transportErrors[0], tx);
  t.equal(tx.state, 'terminated');
  h.layer.receive(incoming('MESSAGE'), DEVICE);
  const stx = h.requests[0]!.tx!;
  stx.reply(200);
  t.equal(h.transportErrors[1], stx);
  t.equal(h.clock.pending, 0);
});

t.test('sendRequest adds a branch when missing and refuses ACK', async (t) => {
  const h = harness();
  const req = outgoing('OPTIONS');
  req.headers.set('Via', 'SIP/2.0/UDP 198.51.100.1:5060;rport');
  const tx = h.layer.sendRequest(req, DEVICE);
  t.match(tx.branch, /^z9hG4bK/);
  t.equal(topVia(h.sent[0]!.message)?.branch, tx.branch);
  t.throws(() => h.layer.sendRequest(outgoing('ACK'), DEVICE));
  t.ok(h.layer.sendStateless(outgoing('ACK'), DEVICE));
  t.equal(h.sent.length, 2);
});

t.test('shutdown clears every timer', async (t) => {
  const h = harness();
  h.layer.sendRequest(outgoing('INVITE'), DEVICE);
  h.layer.sendRequest(outgoing('MESSAGE'), DEVICE);
  h.layer.receive(incoming('INVITE'), DEVICE);
  h.layer.shutdown();
  t.equal(h.clock.pending, 0);
  t.equal(h.layer.clientCount + h.layer.serverCount, 0);
});

t.test('Timer C restarts on each provisional', async (t) => {
  const h = harness({ timers: { timerC: 10_000 } });
  const invite = outgoing('INVITE');
  h.layer.sendRequest(invite, DEVICE);
  h.layer.receive(responseTo(invite, 100), DEVICE);
  h.clock.advance(9_000);
  h.layer.receive(responseTo(invite, 180), DEVICE);
  h.clock.advance(9_000);
  t.equal(h.timeouts.length, 0);
  h.clock.advance(1_000);
  t.equal(h.timeouts.length, 1);
});

t.test('a failed ACK send leaves no timers behind', async (t) => {
  let fail = false;
  const h = harness({ failSend: () => fail });
  const invite = outgoing('INVITE');
  const tx = h.layer.sendRequest(invite, DEVICE);
  fail = true;
  h.layer.receive(responseTo(invite, 486), DEVICE);
  t.equal(tx.state, 'terminated');
  t.equal(h.transportErrors[0], tx);
  t.equal(h.clock.pending, 0);
});

t.test('receiveParsed: good messages flow, bad requests get a stateless 400 with the reason', async (t) => {
  const h = harness();
  const good = createRequest('MESSAGE', 'sip:a@b', [
    ['Via', 'SIP/2.0/UDP 10.0.0.5:5070;rport;branch=z9hG4bKgood'],
    ['From', '<sip:d@b>;tag=1'],
    ['To', '<sip:a@b>'],
    ['Call-ID', 'g'],
    ['CSeq', '1 MESSAGE'],
  ]);
  h.layer.receiveParsed(parseMessage(serializeMessage(good)), DEVICE);
  t.equal(h.requests.length, 1);
  const bad = serializeMessage(good).toString().replace('CSeq: 1 MESSAGE', 'CSeq: 1 INVITE');
  h.layer.receiveParsed(parseMessage(Buffer.from(bad)), DEVICE);
  t.equal(h.requests.length, 1);
  const reply = h.sent.at(-1)!.message as SipResponse;
  t.equal(reply.status, 400);
  t.equal(reply.reason, 'CSeq method does not match request method');
  t.equal(topVia(reply)?.received, DEVICE.address);
  h.layer.receiveParsed(parseMessage(Buffer.from('garbage\r\n\r\n')), DEVICE);
  t.equal(h.sent.length, 1, 'nothing to answer for garbage');
  t.equal(h.layer.stats.invalidMessages, 2);
});
