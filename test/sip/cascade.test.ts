/**
 * Cascade (src/sip/cascade.ts) behind a real GbPlatform and transaction layer on a FakeClock:
 * requests from the upper platform are fed as wire text, everything we send is captured.
 * Covers who counts as the platform, the catalog's split and window, SUBSCRIBE rules, and
 * the INVITE refusals and their status codes.
 */
import t from 'tap';
import { FakeClock, NonceStore, buildResponse, parseMessage, type Endpoint, type SipMessage, type SipRequest } from '../../src/protocol/sip/index.js';
import { encodeXmlBody, parseManscdp } from '../../src/protocol/gb28181/index.js';
import { SharedCounters } from '../../src/shared/counters.js';
import { SIP_COUNTER_NAMES } from '../../src/shared/contracts/sip-counters.js';
import { ServiceError } from '../../src/shared/errors.js';
import { GbPlatform } from '../../src/sip/platform.js';
import { feedRequest, platformBasics } from '../helpers/gb-platform.js';
import { Cascade, RELAY_SIP_TIMEOUT_MS } from '../../src/sip/cascade.js';
import type { SharedCatalogItem, UpstreamConfig, UpstreamInvite, UpstreamSubscription } from '../../src/shared/contracts/sip.js';
import { parseAnswer } from '../../src/protocol/sdp/gb-sdp.js';

const upper: Endpoint = { transport: 'UDP', address: '198.51.100.7', port: 5060 };
const config: UpstreamConfig = {
  id: 3,
  serverId: '44000000002000000001',
  domain: '4400000000',
  host: upper.address,
  port: upper.port,
  transport: 'UDP',
  deviceId: '44010000002000000077',
  password: 'pw',
  expires: 3600,
  keepaliveInterval: 60,
  keepaliveTimeouts: 3,
  charset: 'GB2312',
};

function rig(items: SharedCatalogItem[] = []) {
  const clock = new FakeClock(0);
  const sent: Array<{ message: SipMessage; remote: Endpoint }> = [];
  const subscriptions: UpstreamSubscription[] = [];
  const byes: string[] = [];
  const invites: UpstreamInvite[] = [];
  const relays: Array<{ deviceId: string; channelId: string; xml: string; cmdType: string; label: string; expectResponse: boolean }> = [];
  const relayWith: { next: { sip: Promise<number>; response: Promise<string | undefined> } } = { next: { sip: Promise.resolve(200), response: Promise.resolve(undefined) } };
  const platform = new GbPlatform({
    ...platformBasics(clock, '37070000082008000001', '3707000008'),
    nonces: new NonceStore({ clock }),
    counters: SharedCounters.create(SIP_COUNTER_NAMES),
    lookup: async () => ({ known: false, password: '' }),
    send: (bytes, remote) => {
      const parsed = parseMessage(bytes);
      if (parsed.ok) sent.push({ message: parsed.message, remote });
      return true;
    },
    events: {
      registered: () => undefined,
      offline: () => undefined,
      keepalive: () => undefined,
      manscdp: () => undefined,
      upstream: (tx, request, remote) => cascade.handle(tx, request, remote),
    },
  });
  const cascade: Cascade = new Cascade({
    clock,
    local: { host: '192.0.2.1', port: 5060 },
    send: (request, remote, handlers) => void platform.transactions.sendRequest(request, remote, handlers),
    status: () => undefined,
    catalog: async () => items,
    invite: async (request) => {
      const { channelId, ssrc } = request;
      invites.push(request);
      if (channelId === 'missing') throw new ServiceError(404, '1002', 'not shared');
      if (channelId === 'offline') throw new ServiceError(409, '1002', 'device offline');
      return { ssrc: ssrc ?? 1234, mediaHost: '192.0.2.9', ...(request.transport === 'tcp-passive' ? { mediaPort: 30123 } : {}) };
    },
    resolve: async (_id, channelId) => (channelId.startsWith('cam') ? { kind: 'camera' as const, deviceId: 'dev-1', channelId: `real-${channelId}` } : null),
    relay: (deviceId, channelId, xml, cmdType, label, expectResponse) => {
      relays.push({ deviceId, channelId, xml, cmdType, label, expectResponse });
      return relayWith.next;
    },
    vehiclePtz: async () => 0,
    records: async () => [],
    playback: async () => true,
    bye: (_id, callId) => byes.push(callId),
    subscription: (s) => subscriptions.push(s),
    version: 'test',
    log: () => undefined,
  });
  cascade.set([config]);
  // Registered: answer the REGISTER.
  const register = sent.find((s) => s.message.kind === 'request' && s.message.method === 'REGISTER')!.message as SipRequest;
  platform.receive(buildResponse(register, 200, 'OK', [['Expires', '3600']]), upper);
  sent.length = 0;

  let seq = 1;
  const request = (method: string, o: { body?: string | Buffer; contentType?: string; uri?: string; headers?: string[]; from?: string; source?: Endpoint; callId?: string; toTag?: string } = {}) => {
    const body = o.body === undefined ? Buffer.alloc(0) : typeof o.body === 'string' ? Buffer.from(encodeXmlBody(o.body)) : o.body;
    const source = o.source ?? upper;
    feedRequest(
      platform,
      [
        `${method} ${o.uri ?? `sip:${config.deviceId}@${config.domain}`} SIP/2.0`,
        `Via: SIP/2.0/UDP ${source.address}:${source.port};rport;branch=z9hG4bKc${seq}`,
        `From: <sip:${o.from ?? config.serverId}@${config.domain}>;tag=u${seq}`,
        `To: <sip:${config.deviceId}@${config.domain}>${o.toTag ? `;tag=${o.toTag}` : ''}`,
        `Call-ID: ${o.callId ?? `up-${seq}`}`,
        `CSeq: ${seq++} ${method}`,
        `Contact: <sip:${config.serverId}@${source.address}:${source.port}>`,
        ...(o.headers ?? []),
        ...(o.body === undefined ? [] : [`Content-Type: ${o.contentType ?? 'Application/MANSCDP+xml'}`]),
      ],
      body,
      source,
    );
  };
  const responses = () => sent.filter((s) => s.message.kind === 'response').map((s) => s.message as SipMessage & { kind: 'response' });
  const requests = (method: string) => sent.filter((s) => s.message.kind === 'request' && s.message.method === method).map((s) => s.message as SipRequest);
  const flush = () => new Promise((r) => setImmediate(r));
  return { clock, sent, platform, cascade, request, responses, requests, subscriptions, byes, invites, relays, relayWith, flush };
}

const query = (cmd: string, extra = '') => `<?xml version="1.0" encoding="GB2312"?>\n<Query>\n<CmdType>${cmd}</CmdType>\n<SN>17</SN>\n<DeviceID>${config.deviceId}</DeviceID>\n${extra}</Query>\n`;

t.test('catalog: split by 4 over UDP, SumNum in each, at most 4 in flight', async (t) => {
  const items: SharedCatalogItem[] = Array.from({ length: 18 }, (_, i) => ({ channelId: `3707000008131${String(i).padStart(7, '0')}`, name: `通道${i}`, status: 'ON' }));
  const r = rig(items);
  r.request('MESSAGE', { body: query('Catalog') });
  await r.flush();
  t.equal(r.responses()[0]?.status, 200, 'the query is answered 200');
  t.equal(r.requests('MESSAGE').length, 4, 'four MESSAGEs before any 200');
  for (let i = 0; i < 5; i++) {
    const pending = r.requests('MESSAGE');
    for (const m of pending) r.platform.receive(buildResponse(m, 200, 'OK'), upper);
    await r.flush();
    if (r.requests('MESSAGE').length === pending.length) break;
  }
  const bodies = r.requests('MESSAGE').map((m) => parseManscdp(m.body));
  t.equal(bodies.length, 5, '18 items in 5 messages');
  t.ok(bodies.every((b) => b.ok && b.message.kind === 'catalog' && b.message.sumNum === 18 && b.message.sn === 17));
  t.same(bodies.flatMap((b) => (b.ok && b.message.kind === 'catalog' ? b.message.items.map((i) => i.deviceId) : [])), items.map((i) => i.channelId));
});

t.test('only the platform, from its address, is taken; someone else claiming its ID is not', async (t) => {
  const r = rig();
  r.request('MESSAGE', { body: query('DeviceStatus'), source: { transport: 'UDP', address: '203.0.113.66', port: 5060 } });
  await r.flush();
  t.equal(r.responses()[0]?.status, 404, 'the platform side answered: not a device it knows');
  t.equal(r.requests('MESSAGE').length, 0, 'no DeviceStatus went out');
  r.request('MESSAGE', { body: query('DeviceStatus') });
  await r.flush();
  const answer = parseManscdp(r.requests('MESSAGE')[0]!.body);
  t.match(answer, { ok: true, message: { kind: 'deviceStatus', sn: 17, online: true } });
});

t.test('SUBSCRIBE: Catalog/Alarm/MobilePosition accepted with Expires; others 489; Expires 0 and expiry end it', async (t) => {
  const r = rig();
  r.request('SUBSCRIBE', { body: query('MobilePosition', '<Interval>2</Interval>\n'), headers: ['Event: presence', 'Expires: 30'], callId: 'sub-1' });
  await r.flush();
  t.match(r.responses().at(-1), { status: 200 });
  t.equal(r.responses().at(-1)!.headers.get('expires'), '30');
  t.match(r.subscriptions.at(-1), { id: 3, kind: 'mobilePosition', active: true, interval: 2 });
  r.request('SUBSCRIBE', { body: query('Broadcast'), headers: ['Event: presence'] });
  await r.flush();
  t.equal(r.responses().at(-1)!.status, 489, 'an unknown subscription: 489 Bad Event');

  // Positions are paced by the subscription's interval, per channel.
  const n1 = r.cascade.notify({ id: 3, kind: 'mobilePosition', positions: [{ channelId: 'a', time: 1_700_000_000_000, longitude: 114, latitude: 22 }] });
  const n2 = r.cascade.notify({ id: 3, kind: 'mobilePosition', positions: [{ channelId: 'a', time: 1_700_000_000_500, longitude: 114, latitude: 22 }] });
  r.clock.advance(2000);
  const n3 = r.cascade.notify({ id: 3, kind: 'mobilePosition', positions: [{ channelId: 'a', time: 1_700_000_002_000, longitude: 114, latitude: 22 }] });
  t.same([n1, n2, n3], [1, 0, 1], 'one NOTIFY per interval per channel');
  const notify = r.requests('NOTIFY')[0]!;
  t.equal(notify.headers.get('call-id'), 'sub-1', 'in the subscription dialog');
  t.match(notify.headers.get('subscription-state'), /^active;expires=\d+$/);
  t.match(parseManscdp(notify.body), { ok: true, message: { kind: 'mobilePosition', deviceId: 'a' } });

  r.request('SUBSCRIBE', { headers: ['Event: presence', 'Expires: 0'], callId: 'sub-1', toTag: 'x' });
  await r.flush();
  t.equal(r.responses().at(-1)!.status, 200);
  t.match(r.subscriptions.at(-1), { kind: 'mobilePosition', active: false }, 'un-SUBSCRIBE ends it');

  r.request('SUBSCRIBE', { body: query('Catalog'), headers: ['Event: Catalog', 'Expires: 10'], callId: 'sub-2' });
  await r.flush();
  t.match(r.subscriptions.at(-1), { kind: 'catalog', active: true });
  r.clock.advance(16_000);
  t.match(r.subscriptions.at(-1), { kind: 'catalog', active: false }, 'not refreshed: it expires');
});

t.test('INVITE: refusals say why; a Play is answered send-only with the SSRC; BYE and unknown INFO', async (t) => {
  const r = rig();
  const sdp = (session: string, extra = '', port = 30000) =>
    Buffer.from(`v=0\r\no=${config.serverId} 0 0 IN IP4 198.51.100.7\r\ns=${session}\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=video ${port} ${extra ? 'TCP/RTP/AVP' : 'RTP/AVP'} 96\r\na=recvonly\r\n${extra}a=rtpmap:96 PS/90000\r\ny=0100000042\r\n`);
  const invite = (channel: string, body: Buffer, callId: string) => r.request('INVITE', { uri: `sip:${channel}@${config.domain}`, body, contentType: 'APPLICATION/SDP', callId });
  const final = async (callId: string) => {
    await r.flush();
    await r.flush();
    return r.responses().filter((m) => m.headers.get('call-id') === callId && m.status >= 200).at(-1);
  };
  invite('37070000081313800001', sdp('Download'), 'i1');
  t.equal((await final('i1'))?.status, 488, 'Download is not shared');
  invite('37070000081313800001', sdp('Play', 'a=setup:active\r\n'), 'i2');
  const passive = await final('i2');
  t.equal(passive?.status, 200, 'a platform that connects to us (a=setup:active)');
  t.match(r.invites.at(-1), { transport: 'tcp-passive', host: '198.51.100.7', sipAddress: upper.address }, 'asked to listen; its SIP address may connect too');
  const passiveSdp = Buffer.from(passive!.body).toString();
  t.match(passiveSdp, /m=video 30123 TCP\/RTP\/AVP 96/, 'our listening port');
  t.match(passiveSdp, /a=setup:passive/);
  t.equal(parseAnswer(passiveSdp).transport, 'tcp-active', 'read back by an offerer: it is the active end');
  invite('missing', sdp('Play'), 'i3');
  t.equal((await final('i3'))?.status, 404);
  invite('offline', sdp('Play'), 'i4');
  t.equal((await final('i4'))?.status, 480);
  invite('37070000081313800001', sdp('Play'), 'i5');
  const ok = await final('i5');
  t.equal(ok?.status, 200);
  const answer = Buffer.from(ok!.body).toString();
  t.match(answer, /a=sendonly/);
  t.match(answer, /y=0100000042/, 'the SSRC the platform asked for');
  t.match(answer, /c=IN IP4 192\.0\.2\.9/);
  r.request('BYE', { callId: 'i5', toTag: 'x' });
  await r.flush();
  t.equal(r.responses().at(-1)!.status, 200);
  t.same(r.byes, ['i5']);
  r.request('BYE', { callId: 'i5', toTag: 'x' });
  await r.flush();
  t.equal(r.responses().at(-1)!.status, 481, 'a second BYE: the dialog is gone');
});

t.test('Control relayed to the camera: its SIP answer and Response Result go back to the platform, ERROR when none comes', async (t) => {
  const r = rig();
  const control = (channel: string, sn: number, inner: string, cmd = 'DeviceControl') =>
    `<?xml version="1.0" encoding="GB2312"?>\n<Control>\n<CmdType>${cmd}</CmdType>\n<SN>${sn}</SN>\n<DeviceID>${channel}</DeviceID>\n${inner}</Control>\n`;
  const answerTo = (callId: string) => r.responses().filter((m) => m.headers.get('call-id') === callId).at(-1);
  // Responses sent upward, once each (unanswered MESSAGEs are retransmitted when the clock moves).
  const upward = () => [...new Map(r.requests('MESSAGE').map((m) => [m.headers.get('call-id'), parseManscdp(m.body)] as const)).values()].filter((p) => p.ok && p.message.root === 'Response');

  // RecordCmd: the camera's 200 answers the platform's MESSAGE, its Response (Result OK) is relayed under the platform's SN and ID.
  let sipOk!: (n: number) => void;
  let result!: (v: string | undefined) => void;
  r.relayWith.next = { sip: new Promise((res) => (sipOk = res)), response: new Promise((res) => (result = res)) };
  r.request('MESSAGE', { body: control('cam-1', 41, '<RecordCmd>Record</RecordCmd>\n'), callId: 'c1' });
  await r.flush();
  t.equal(answerTo('c1'), undefined, 'no blind 200: the platform waits for the camera');
  t.match(r.relays[0], { deviceId: 'dev-1', channelId: 'real-cam-1', cmdType: 'DeviceControl', label: 'record', expectResponse: true });
  t.match(r.relays[0]!.xml, /<DeviceID>real-cam-1<\/DeviceID>/, 'the camera gets its own channel ID');
  sipOk(200);
  await r.flush();
  t.equal(answerTo('c1')?.status, 200, 'the camera took it: 200');
  result('OK');
  await r.flush();
  await r.flush();
  t.match(upward().at(-1), { ok: true, message: { kind: 'result', cmdType: 'DeviceControl', sn: 41, deviceId: 'cam-1', ok: true } }, 'Result OK relayed');

  // GuardCmd: the camera accepted but sent no Response in time → Result ERROR upward.
  r.relayWith.next = { sip: Promise.resolve(200), response: Promise.reject(new Error('no Response')) };
  r.request('MESSAGE', { body: control('cam-1', 42, '<GuardCmd>SetGuard</GuardCmd>\n'), callId: 'c2' });
  for (let i = 0; i < 4; i++) await r.flush();
  t.equal(answerTo('c2')?.status, 200);
  t.match(upward().at(-1), { ok: true, message: { kind: 'result', sn: 42, deviceId: 'cam-1', ok: false, resultRaw: 'ERROR' } }, 'Result ERROR when the camera sent none');

  // PTZ: no Response is due; a camera that never answers SIP → 408 after RELAY_SIP_TIMEOUT_MS, nothing else upward.
  const before = upward().length;
  r.relayWith.next = { sip: new Promise(() => undefined), response: new Promise(() => undefined) };
  r.request('MESSAGE', { body: control('cam-1', 43, '<PTZCmd>A50F01021F0000D6</PTZCmd>\n'), callId: 'c3' });
  await r.flush();
  t.match(r.relays.at(-1), { label: 'ptz', expectResponse: false });
  r.clock.advance(RELAY_SIP_TIMEOUT_MS);
  await r.flush();
  t.equal(answerTo('c3')?.status, 408, 'no SIP answer from the camera: 408');
  t.equal(upward().length, before, 'PTZ has no Response to relay');

  // A camera's SIP refusal is passed on; an unshared channel is 404.
  r.relayWith.next = { sip: Promise.resolve(480), response: Promise.reject(new Error('offline')) };
  r.request('MESSAGE', { body: control('cam-2', 44, '<PTZCmd>A50F01021F0000D6</PTZCmd>\n'), callId: 'c4' });
  for (let i = 0; i < 4; i++) await r.flush();
  t.equal(answerTo('c4')?.status, 480);
  r.request('MESSAGE', { body: control('nope', 45, '<PTZCmd>A50F01021F0000D6</PTZCmd>\n'), callId: 'c5' });
  for (let i = 0; i < 4; i++) await r.flush();
  t.equal(answerTo('c5')?.status, 404, 'not shared: 404');

  // DeviceConfig always has a Response.
  r.relayWith.next = { sip: Promise.resolve(200), response: Promise.resolve('OK') };
  r.request('MESSAGE', { body: control('cam-1', 46, '<BasicParam><Name>x</Name></BasicParam>\n', 'DeviceConfig'), callId: 'c6' });
  for (let i = 0; i < 4; i++) await r.flush();
  t.match(r.relays.at(-1), { cmdType: 'DeviceConfig', label: 'device-config', expectResponse: true });
  t.match(upward().at(-1), { ok: true, message: { cmdType: 'DeviceConfig', sn: 46, ok: true } });
});
