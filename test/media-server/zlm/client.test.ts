import t, { type Test } from 'tap';
import { ZlmClient, ZlmError, ZlmTransportError } from '../../../src/media-server/zlm/index.js';
import { api, getMediaListOne, SECRET } from './fixtures/recorded.js';
import { startZlmDouble, type ZlmDouble } from './fixtures/zlm-double.js';

async function setup(t: Test, timeoutMs = 2000): Promise<{ zlm: ZlmDouble; client: ZlmClient }> {
  const zlm = await startZlmDouble();
  t.teardown(() => zlm.close());
  return { zlm, client: new ZlmClient({ baseUrl: `${zlm.baseUrl}/`, secret: SECRET, timeoutMs }) };
}


t.test('openRtpServer: GET with secret, port=0, tcp_mode and stream_id; returns the port', async (t) => {
  const { zlm, client } = await setup(t);
  zlm.answer('openRtpServer', api.openRtpServerUdp, api.openRtpServerTcp);

  t.same(await client.openRtpServer({ streamId: 'apitest_udp', tcpMode: 0 }), { port: 32158 });
  t.same(await client.openRtpServer({ streamId: 'apitest_tcp', tcpMode: 1, ssrc: 200000001 }), { port: 34192 });

  t.equal(zlm.requests.length, 2);
  const [udp, tcp] = zlm.requests;
  t.equal(udp!.method, 'GET');
  t.equal(udp!.path, '/index/api/openRtpServer');
  t.equal(udp!.body, '');
  t.same(udp!.query, { secret: SECRET, port: '0', tcp_mode: '0', stream_id: 'apitest_udp' });
  t.same(tcp!.query, { secret: SECRET, port: '0', tcp_mode: '1', stream_id: 'apitest_tcp', ssrc: '200000001' });
});

t.test('openRtpServer: TCP active, fixed port, reuse port and the optional parameters', async (t) => {
  const { zlm, client } = await setup(t);
  zlm.answer('openRtpServer', { code: 0, port: 31000 });
  await client.openRtpServer({
    streamId: 'fixed1',
    port: 31000,
    tcpMode: 2,
    reusePort: true,
    app: 'rtp',
    vhost: '__defaultVhost__',
    localIp: '127.0.0.1',
    onlyTrack: 2,
  });
  t.same(zlm.requests[0]!.query, {
    secret: SECRET,
    port: '31000',
    tcp_mode: '2',
    stream_id: 'fixed1',
    app: 'rtp',
    vhost: '__defaultVhost__',
    local_ip: '127.0.0.1',
    re_use_port: '1',
    only_track: '2',
  });
});

t.test('openRtpServer: ZLM error codes become ZlmError with code, msg and method', async (t) => {
  const { zlm, client } = await setup(t);
  zlm.answer('openRtpServer', api.openRtpServerDuplicate, api.openRtpServerPortInUse);

  const duplicate = await client.openRtpServer({ streamId: 'apitest_udp', tcpMode: 0 }).catch((e: unknown) => e);
  t.ok(duplicate instanceof ZlmError);
  t.match(duplicate, { code: -300, zlmMessage: 'This stream already exists', method: 'openRtpServer' });

  const inUse = await client.openRtpServer({ streamId: 'fixed2', port: 31000, tcpMode: 0 }).catch((e: unknown) => e);
  t.ok(inUse instanceof ZlmError);
  t.match(inUse, { code: -400, method: 'openRtpServer' });
  t.equal((inUse as ZlmError).zlmMessage, '创建rtp端口 127.0.0.1:31000 失败:address already in use', 'the Chinese msg survives JSON escaping');
});

t.test('arguments ZLM would refuse or mangle are refused before any request', async (t) => {
  const { zlm, client } = await setup(t);
  await t.rejects(client.openRtpServer({ streamId: '', tcpMode: 0 }), RangeError);
  await t.rejects(client.openRtpServer({ streamId: 'x', tcpMode: 0, ssrc: 2 ** 32 }), RangeError, 'an SSRC above 32 bits (gosip defect)');
  await t.rejects(client.openRtpServer({ streamId: 'x', tcpMode: 0, port: 70000 }), RangeError);
  await t.rejects(client.startSendRtp({ app: 'rtp', stream: 's', ssrc: -1, dstUrl: 'h', dstPort: 1, isUdp: true }), RangeError);
  await t.rejects(client.startSendRtp({ app: 'rtp', stream: 's', ssrc: 1, dstUrl: 'h', dstPort: 0, isUdp: true }), RangeError);
  t.equal(zlm.requests.length, 0);
});

t.test('closeRtpServer: stream_id; hit 1 then 0 (idempotent)', async (t) => {
  const { zlm, client } = await setup(t);
  zlm.answer('closeRtpServer', api.closeRtpServerHit, api.closeRtpServerMiss);
  t.same(await client.closeRtpServer('apitest_tcp'), { hit: 1 });
  t.same(await client.closeRtpServer('apitest_tcp'), { hit: 0 });
  t.same(zlm.requests[0]!.query, { secret: SECRET, stream_id: 'apitest_tcp' });
  t.equal(zlm.requests[1]!.path, '/index/api/closeRtpServer');
});

t.test('listRtpServer: entries mapped; an empty list has no data and gives []', async (t) => {
  const { zlm, client } = await setup(t);
  zlm.answer('listRtpServer', api.listRtpServer, api.emptyList);
  t.same(await client.listRtpServer(), [
    { app: 'rtp', vhost: '__defaultVhost__', streamId: 'apitest_tcp', port: 34192, ssrc: 200000001, tcpMode: 1, onlyTrack: 0 },
    { app: 'rtp', vhost: '__defaultVhost__', streamId: 'apitest_udp', port: 32158, ssrc: 0, tcpMode: 0, onlyTrack: 0 },
  ]);
  t.same(await client.listRtpServer(), []);
  t.same(zlm.requests[0]!.query, { secret: SECRET });
});

t.test('getRtpInfo: exist false while no data; the peer when live', async (t) => {
  const { zlm, client } = await setup(t);
  zlm.answer('getRtpInfo', api.getRtpInfoNoData, api.getRtpInfoLive);
  t.same(await client.getRtpInfo('apitest_udp'), { exist: false });
  t.same(await client.getRtpInfo('cam02'), {
    exist: true,
    identifier: 'cam02',
    localIp: '127.0.0.1',
    localPort: 30160,
    peerIp: '127.0.0.1',
    peerPort: 39504,
  });
  t.same(zlm.requests[1]!.query, { secret: SECRET, stream_id: 'cam02' });
});

t.test('updateRtpServerSSRC and connectRtpServer: parameters and -500 / -1 errors', async (t) => {
  const { zlm, client } = await setup(t);
  zlm.answer('updateRtpServerSSRC', { code: 0 }, api.updateRtpServerSsrcNotFound);
  zlm.answer('connectRtpServer', api.connectRtpServerRefused);
  await client.updateRtpServerSSRC('cam05', 556);
  t.same(zlm.requests[0]!.query, { secret: SECRET, stream_id: 'cam05', ssrc: '556' });
  await t.rejects(client.updateRtpServerSSRC('nope', 123), { name: 'ZlmError', code: -500, method: 'updateRtpServerSSRC' });
  await t.rejects(client.connectRtpServer('active1', '127.0.0.1', 31999), { code: -1, zlmMessage: 'connection refused' });
  t.same(zlm.requests[2]!.query, { secret: SECRET, stream_id: 'active1', dst_url: '127.0.0.1', dst_port: '31999' });
});

t.test('getMediaList: filters passed through; entries returned; empty (no data) gives []', async (t) => {
  const { zlm, client } = await setup(t);
  zlm.answer('getMediaList', getMediaListOne, api.emptyList);
  const list = await client.getMediaList({ schema: 'rtsp', app: 'rtp', stream: 'cam02' });
  t.equal(list.length, 1);
  t.equal(list[0]!.stream, 'cam02');
  const video = list[0]!.tracks.find((track) => track.codec_type === 0);
  t.match(video, { codec_id: 0, width: 1280, height: 720, fps: 25 });
  t.same(zlm.requests[0]!.query, { secret: SECRET, schema: 'rtsp', app: 'rtp', stream: 'cam02' });

  t.same(await client.getMediaList(), []);
  t.same(zlm.requests[1]!.query, { secret: SECRET });
});

t.test('closeStreams: always sends schema, vhost, app, stream, force; returns the counts', async (t) => {
  const { zlm, client } = await setup(t);
  zlm.answer('close_streams', api.closeStreamsHit, api.closeStreamsMiss);
  t.same(await client.closeStreams({ app: 'rtp', stream: 'cam06', force: true }), { countHit: 1, countClosed: 1 });
  t.same(await client.closeStreams({ schema: 'rtmp', app: 'rtp', stream: 'nothing', force: false }), { countHit: 0, countClosed: 0 });
  t.equal(zlm.requests[0]!.path, '/index/api/close_streams');
  t.same(zlm.requests[0]!.query, { secret: SECRET, schema: 'rtsp', vhost: '__defaultVhost__', app: 'rtp', stream: 'cam06', force: '1' });
  t.same(zlm.requests[1]!.query, { secret: SECRET, schema: 'rtmp', vhost: '__defaultVhost__', app: 'rtp', stream: 'nothing', force: '0' });
});

t.test('closeStreams: the -400 ZLM gives without a schema is surfaced, but we never provoke it', async (t) => {
  const { zlm, client } = await setup(t);
  zlm.answer('close_streams', api.closeStreamsNoSchema);
  await t.rejects(client.closeStreams({ schema: '', app: 'rtp', stream: 'cam04', force: true }), { code: -400 });
  t.equal(zlm.requests[0]!.query.schema, 'rtsp', 'an empty schema is replaced by rtsp');
});

t.test('startSendRtp / startSendRtpPassive / listRtpSender / stopSendRtp', async (t) => {
  const { zlm, client } = await setup(t);
  zlm.answer('startSendRtp', api.startSendRtp, api.startSendRtpNoSource);
  zlm.answer('startSendRtpPassive', api.startSendRtpPassive);
  zlm.answer('listRtpSender', api.listRtpSender, api.emptyList);
  zlm.answer('stopSendRtp', api.stopSendRtp, api.stopSendRtpAgain, { code: -1, msg: 'something else' });

  t.same(
    await client.startSendRtp({ app: 'rtp', stream: 'cam03', ssrc: 300000001, dstUrl: '127.0.0.1', dstPort: 32572, isUdp: true }),
    { localPort: 34764 },
  );
  t.same(zlm.requests[0]!.query, {
    secret: SECRET,
    vhost: '__defaultVhost__',
    app: 'rtp',
    stream: 'cam03',
    ssrc: '300000001',
    dst_url: '127.0.0.1',
    dst_port: '32572',
    is_udp: '1',
  });
  await t.rejects(
    client.startSendRtp({ app: 'rtp', stream: 'nothing', ssrc: 1, dstUrl: '127.0.0.1', dstPort: 9, isUdp: false, payload: 1, pt: 96 }),
    { code: -500, zlmMessage: 'can not find the source stream', method: 'startSendRtp' },
  );
  t.match(zlm.requests[1]!.query, { is_udp: '0', type: '1', pt: '96' });

  t.same(await client.startSendRtpPassive({ app: 'rtp', stream: 'cam03', ssrc: 300000002, isUdp: false }), { localPort: 34960 });
  t.same(zlm.requests[2]!.query, { secret: SECRET, vhost: '__defaultVhost__', app: 'rtp', stream: 'cam03', ssrc: '300000002', is_udp: '0' });

  t.same(await client.listRtpSender({ app: 'rtp', stream: 'cam03' }), ['300000001']);
  t.same(await client.listRtpSender({ app: 'rtp', stream: 'cam03' }), []);

  const target = { app: 'rtp', stream: 'cam03', ssrc: 300000001 };
  t.same(await client.stopSendRtp(target), { stopped: true });
  t.same(zlm.requests[5]!.query, { secret: SECRET, vhost: '__defaultVhost__', app: 'rtp', stream: 'cam03', ssrc: '300000001' });
  t.same(await client.stopSendRtp(target), { stopped: false }, 'a second stop is not an error');
  await t.rejects(client.stopSendRtp(target), { code: -1, zlmMessage: 'something else' }, 'other -1 failures still throw');
});

t.test('getServerConfig: the flat map of strings', async (t) => {
  const { zlm, client } = await setup(t);
  zlm.answer('getServerConfig', api.getServerConfig);
  const config = await client.getServerConfig();
  t.equal(config['rtp_proxy.port_range'], '30000-35000');
  t.equal(config['general.listen_ip'], '127.0.0.1');
});

t.test('a wrong secret gives -100 as ZlmError, and the secret never appears in messages', async (t) => {
  const zlm = await startZlmDouble();
  t.teardown(() => zlm.close());
  const client = new ZlmClient({ baseUrl: zlm.baseUrl, secret: 'wrong-secret-value', timeoutMs: 2000 });
  const error = await client.listRtpServer().catch((e: unknown) => e);
  t.ok(error instanceof ZlmError);
  t.equal((error as ZlmError).code, -100);
  t.ok((error as ZlmError).isAuthFailure);
  t.notMatch((error as Error).message, /wrong-secret-value/);
  t.equal(zlm.requests[0]!.query.secret, 'wrong-secret-value', 'sent as the secret query parameter');
});

t.test('timeout: a ZLM that never answers gives ZlmTransportError kind timeout', async (t) => {
  const { zlm, client } = await setup(t, 150);
  zlm.answer('getRtpInfo', 'hang');
  const started = Date.now();
  const error = await client.getRtpInfo('cam02').catch((e: unknown) => e);
  t.ok(error instanceof ZlmTransportError);
  t.match(error, { kind: 'timeout', method: 'getRtpInfo' });
  t.ok(Date.now() - started < 1500, 'gave up near the deadline');
  t.notMatch((error as Error).message, new RegExp(SECRET));
});

t.test('network error: nothing listening gives ZlmTransportError kind network', async (t) => {
  const zlm = await startZlmDouble();
  const baseUrl = zlm.baseUrl;
  await zlm.close();
  const client = new ZlmClient({ baseUrl, secret: SECRET, timeoutMs: 2000 });
  const error = await client.listRtpServer().catch((e: unknown) => e);
  t.ok(error instanceof ZlmTransportError);
  t.match(error, { kind: 'network', method: 'listRtpServer' });
  t.notMatch((error as Error).message, new RegExp(SECRET));
});

t.test('replies that are not ZLM replies give ZlmTransportError bad-body / http-status', async (t) => {
  const { zlm, client } = await setup(t);
  zlm.answer('listRtpServer', { raw: '<html>proxy error</html>', status: 502 }, { raw: 'not json' }, { msg: 'no code' }, { code: 0, data: 'x' });
  await t.rejects(client.listRtpServer(), { name: 'ZlmTransportError', kind: 'http-status' });
  await t.rejects(client.listRtpServer(), { name: 'ZlmTransportError', kind: 'bad-body' });
  await t.rejects(client.listRtpServer(), { name: 'ZlmTransportError', kind: 'bad-body' });
  await t.rejects(client.listRtpServer(), { name: 'ZlmTransportError', kind: 'bad-body' });
  zlm.answer('openRtpServer', { code: 0 });
  await t.rejects(client.openRtpServer({ streamId: 'x', tcpMode: 0 }), { name: 'ZlmTransportError', kind: 'bad-body', method: 'openRtpServer' });
});

t.test('an injected fetch is used instead of the global one', async (t) => {
  const seen: string[] = [];
  const fakeFetch = (async (input: string | URL | Request) => {
    seen.push(String(input));
    return new Response(JSON.stringify(api.closeRtpServerHit), { status: 200 });
  }) as typeof fetch;
  const client = new ZlmClient({ baseUrl: 'http://zlm.invalid:8080', secret: SECRET, timeoutMs: 1000, fetch: fakeFetch });
  t.same(await client.closeRtpServer('a b'), { hit: 1 });
  t.equal(seen[0], `http://zlm.invalid:8080/index/api/closeRtpServer?secret=${SECRET}&stream_id=a+b`);
});

t.test('constructor refuses a missing secret or a bad timeout', async (t) => {
  t.throws(() => new ZlmClient({ baseUrl: 'http://127.0.0.1:1', secret: '', timeoutMs: 1 }), RangeError);
  t.throws(() => new ZlmClient({ baseUrl: 'http://127.0.0.1:1', secret: 's', timeoutMs: 0 }), RangeError);
  t.throws(() => new ZlmClient({ baseUrl: 'not a url', secret: 's', timeoutMs: 1 }));
});
