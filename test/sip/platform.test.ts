import t from 'tap';
import { createHash } from 'node:crypto';
import { encodeXmlBody } from '../../src/protocol/gb28181/index.js';
import { FakeClock, NonceStore, createResponse, parseMessage, type DialogState, type Endpoint, type SipMessage, type SipRequest } from '../../src/protocol/sip/index.js';
import { SharedCounters } from '../../src/shared/counters.js';
import { GbPlatform } from '../../src/sip/platform.js';
import { feedRequest, platformBasics } from '../helpers/gb-platform.js';
import { GbService, type StoreCatalogItem } from '../../src/sip/gb-service.js';
import { SIP_COUNTER_NAMES } from '../../src/shared/contracts/sip-counters.js';

const REALM = '3402000000';
const DEVICE = '34020000001320000001';
const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const home: Endpoint = { transport: 'UDP', address: '192.0.2.10', port: 5070 };

/** A platform and service on a fake clock, with the wire captured. */
function rig() {
  const clock = new FakeClock(0);
  const sent: Array<{ message: SipMessage; remote: Endpoint }> = [];
  const counters = SharedCounters.create(SIP_COUNTER_NAMES);
  const events: Array<[string, unknown]> = [];
  const platform = new GbPlatform({
    ...platformBasics(clock, '34020000002000000001', REALM),
    nonces: new NonceStore({ clock }),
    counters,
    lookup: async (id) => (id === DEVICE ? { known: true, password: 'pw' } : { known: id.endsWith('8'), password: 'default' }),
    send: (bytes, remote) => {
      const parsed = parseMessage(bytes);
      if (parsed.ok) sent.push({ message: parsed.message, remote });
      return true;
    },
    events: {
      registered: (b, first) => {
        events.push(['registered', { id: b.deviceId, first }]);
        if (first) service.deviceOnline(b.deviceId);
      },
      offline: (id, reason) => events.push(['offline', { id, reason }]),
      keepalive: (id) => events.push(['keepalive', id]),
      manscdp: (id, body, ct, source) => service.handleMessage(id, body, ct, source),
    },
  });
  const service: GbService = new GbService({
    platform,
    clock,
    counters,
    catalogInterval: 600,
    // Two per device, so both registration queries go out before the (absent) device answers.
    queries: { concurrency: 64, perDevice: 2, perSecond: 100, backlog: 1000 },
    events: {
      catalog: (id, items: StoreCatalogItem[], complete) => events.push(['catalog', { id, items, complete }]),
      deviceInfo: (info) => events.push(['deviceInfo', info]),
      mediaStatus: (id, channel, eof) => events.push(['mediaStatus', { id, channel, eof }]),
    },
  });
  let seq = 1;
  const request = (method: string, opts: { body?: string; from?: string; headers?: string[]; source?: Endpoint } = {}) => {
    const body = opts.body === undefined ? Buffer.alloc(0) : Buffer.from(encodeXmlBody(opts.body));
    feedRequest(
      platform,
      [
        `${method} sip:34020000002000000001@${REALM} SIP/2.0`,
        `Via: SIP/2.0/UDP ${(opts.source ?? home).address}:${(opts.source ?? home).port};rport;branch=z9hG4bKt${seq}`,
        `From: <sip:${opts.from ?? DEVICE}@${REALM}>;tag=f${seq}`,
        `To: <sip:34020000002000000001@${REALM}>`,
        `Call-ID: call-${seq}`,
        `CSeq: ${seq++} ${method}`,
        ...(opts.headers ?? []),
        ...(opts.body === undefined ? [] : ['Content-Type: Application/MANSCDP+xml']),
      ],
      body,
      opts.source ?? home,
    );
  };
  const lastResponse = () => {
    const m = [...sent].reverse().find((s) => s.message.kind === 'response');
    return m?.message.kind === 'response' ? m.message : undefined;
  };
  const flush = () => new Promise((r) => setImmediate(r));
  const registerDevice = async () => {
    request('REGISTER', { headers: ['Contact: <sip:d@192.0.2.10:5070>', 'Expires: 3600'] });
    await flush();
    const nonce = /nonce="([^"]+)"/.exec(lastResponse()!.headers.get('www-authenticate')!)![1]!;
    const ha1 = md5(`${DEVICE}:${REALM}:pw`);
    const uri = 'sip:192.0.2.1:5060';
    const response = md5(`${ha1}:${nonce}:${md5(`REGISTER:${uri}`)}`);
    request('REGISTER', {
      headers: ['Contact: <sip:d@192.0.2.10:5070>', 'Expires: 3600', `Authorization: Digest username="${DEVICE}", realm="${REALM}", nonce="${nonce}", uri="${uri}", response="${response}"`],
    });
    await flush();
  };
  return { clock, sent, counters, events, platform, service, request, lastResponse, flush, registerDevice };
}

const xml = (root: string, cmd: string, inner = '', sn = 1) =>
  `<?xml version="1.0" encoding="GB2312"?><${root}><CmdType>${cmd}</CmdType><SN>${sn}</SN><DeviceID>${DEVICE}</DeviceID>${inner}</${root}>`;

t.test('registration starts Catalog and DeviceInfo queries to the registered address', async (t) => {
  const r = rig();
  await r.registerDevice();
  t.equal(r.lastResponse()?.status, 200);
  t.same(r.events[0], ['registered', { id: DEVICE, first: true }]);
  const queries = r.sent.filter((s) => s.message.kind === 'request');
  t.equal(queries.length, 2);
  for (const q of queries) {
    t.same(q.remote, home);
    if (q.message.kind === 'request') t.equal(q.message.method, 'MESSAGE');
  }
  const bodies = queries.map((q) => Buffer.from(q.message.body).toString('latin1'));
  t.match(bodies[0], /<CmdType>Catalog<\/CmdType>/);
  t.match(bodies[1], /<CmdType>DeviceInfo<\/CmdType>/);
  r.platform.close();
  r.service.close();
});

t.test('MESSAGE handling: keepalive, catalog aggregation, unknown CmdType, malformed XML', async (t) => {
  const r = rig();
  await r.registerDevice();
  r.request('MESSAGE', { body: xml('Notify', 'Keepalive', '<Status>OK</Status>') });
  await r.flush();
  t.equal(r.lastResponse()?.status, 200);
  t.same(r.events.at(-1), ['keepalive', DEVICE]);

  const catalogSn = /<SN>(\d+)<\/SN>/.exec(Buffer.from(r.sent.find((s) => s.message.kind === 'request')!.message.body).toString('latin1'))![1]!;
  const item = (id: string, name: string) => `<Item><DeviceID>${id}</DeviceID><Name>${name}</Name><Status>ON</Status></Item>`;
  r.request('MESSAGE', { body: xml('Response', 'Catalog', `<SumNum>2</SumNum><DeviceList Num="1">${item('34020000001310000001', '大门')}</DeviceList>`, Number(catalogSn)) });
  await r.flush();
  t.notOk(r.events.some((e) => e[0] === 'catalog'), 'waits for the second part');
  r.request('MESSAGE', { body: xml('Response', 'Catalog', `<SumNum>2</SumNum><DeviceList Num="1">${item('34020000001310000002', '后门')}</DeviceList>`, Number(catalogSn)) });
  await r.flush();
  const catalog = r.events.find((e) => e[0] === 'catalog')![1] as { items: StoreCatalogItem[]; complete: boolean };
  t.equal(catalog.complete, true);
  t.same(catalog.items.map((i) => [i.channelid, i.name, i.status]), [
    ['34020000001310000001', '大门', 'ON'],
    ['34020000001310000002', '后门', 'ON'],
  ]);

  const before = r.counters.get('manscdp|other');
  r.request('MESSAGE', { body: xml('Notify', 'MobilePosition', '<Longitude>1</Longitude>') });
  await r.flush();
  t.equal(r.lastResponse()?.status, 200, 'unknown CmdType: 200, never a 400 after it');
  t.equal(r.counters.get('manscdp|other'), before + 1);
  r.request('MESSAGE', { body: '<Notify><CmdType>Keep' });
  await r.flush();
  t.equal(r.lastResponse()?.status, 200);
  t.equal(r.counters.get('manscdp|malformed'), 1, 'malformed body counted');
  r.platform.close();
  r.service.close();
});

t.test('MESSAGE trust: other address 403, unregistered known 403, unknown 404', async (t) => {
  const r = rig();
  await r.registerDevice();
  r.request('MESSAGE', { body: xml('Notify', 'Keepalive', '<Status>OK</Status>'), source: { transport: 'UDP', address: '198.51.100.66', port: 5070 } });
  await r.flush();
  t.equal(r.lastResponse()?.status, 403);
  t.equal(r.counters.get('keepalives|untrusted'), 1);
  r.request('MESSAGE', { from: '34020000001320000008', body: xml('Notify', 'Keepalive'), source: { transport: 'UDP', address: '192.0.2.20', port: 5070 } });
  await r.flush();
  t.equal(r.lastResponse()?.status, 403, 'known but not registered: register again');
  r.request('MESSAGE', { from: '34020000001320000009', body: xml('Notify', 'Keepalive'), source: { transport: 'UDP', address: '192.0.2.21', port: 5070 } });
  await r.flush();
  t.equal(r.lastResponse()?.status, 404, 'unknown device');
  r.platform.close();
  r.service.close();
});

t.test('other requests: OPTIONS, BYE, NOTIFY, INFO, unknown methods', async (t) => {
  const r = rig();
  const cases: Array<[string, number]> = [
    ['OPTIONS', 200],
    ['BYE', 481],
    ['NOTIFY', 200],
    ['INFO', 200],
    ['PUBLISH', 405],
  ];
  for (const [method, status] of cases) {
    r.request(method);
    await r.flush();
    t.equal(r.lastResponse()?.status, status, method);
  }
  t.match(r.lastResponse()?.headers.get('allow'), /REGISTER/);
  r.platform.close();
  r.service.close();
});

t.test('BYE: one transaction per dialog, however often asked; its retransmission keeps branch and CSeq', async (t) => {
  const r = rig();
  await r.registerDevice();
  const state: DialogState = {
    role: 'uac',
    phase: 'confirmed',
    callId: 'dialog-1@192.0.2.1',
    localTag: 'ours',
    remoteTag: 'theirs',
    localAddress: `<sip:34020000002000000001@${REALM}>;tag=ours`,
    remoteAddress: `<sip:34020000001310000001@${REALM}>;tag=theirs`,
    remoteTarget: 'sip:34020000001310000001@192.0.2.10:5070',
    routeSet: [],
    localSeq: 1,
    remoteSeq: null,
    inviteSeq: 1,
  };
  r.platform.dialogs.set(state.callId, DEVICE);
  const byes = () => r.sent.flatMap((s) => (s.message.kind === 'request' && s.message.method === 'BYE' ? [s.message] : []));
  // The API's stop and the media plane's "stream stopped" ask for the same dialog's end at once.
  const asked = [r.platform.bye(state, DEVICE), r.platform.bye(state, DEVICE)];
  t.equal(byes().length, 1, 'one BYE on the wire');
  r.clock.advance(500);
  const [bye, again] = byes() as [SipRequest, SipRequest];
  t.ok(again, 'retransmitted after T1');
  t.equal(byes().length, 2, 'only the retransmission was added');
  t.equal(again.headers.get('via'), bye.headers.get('via'), 'the retransmission keeps its branch (RFC 3261 §17.1.1)');
  t.equal(bye.headers.get('cseq'), '2 BYE', 'CSeq one above the INVITE (§12.2.1.1)');
  t.equal(again.headers.get('cseq'), '2 BYE');
  const answer = createResponse(200, 'OK', ['via', 'from', 'to', 'call-id', 'cseq'].map((name) => [name, bye.headers.get(name)!] as [string, string]));
  r.platform.receive(answer, home);
  t.same(await Promise.all(asked), [200, 200], 'both callers get the one answer');
  t.equal(byes().length, 2, 'nothing more sent');
  r.platform.close();
  r.service.close();
});

t.test('silence takes the device offline; periodic catalog follows catalogInterval', async (t) => {
  const r = rig();
  await r.registerDevice();
  // Distinct Call-IDs: the device never answers, so each query is also retransmitted.
  const queriesAt = () =>
    new Set(
      r.sent
        .filter((s) => s.message.kind === 'request' && /Catalog/.test(Buffer.from(s.message.body).toString('latin1')))
        .map((s) => s.message.headers.get('call-id')),
    ).size;
  t.equal(queriesAt(), 1);
  for (let i = 0; i < 10; i++) {
    r.clock.advance(60_000);
    r.request('MESSAGE', { body: xml('Notify', 'Keepalive', '<Status>OK</Status>', 100 + i) });
    await r.flush();
  }
  t.equal(queriesAt(), 2, 'one more Catalog after 600 s, not one per keepalive');
  r.clock.advance(181_000);
  t.same(r.events.at(-1), ['offline', { id: DEVICE, reason: 'keepalive-timeout' }]);
  r.platform.close();
  r.service.close();
});
