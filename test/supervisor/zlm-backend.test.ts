import t, { type Test } from 'tap';
import { createSocket } from 'node:dgram';
import { defaultConfig } from '../../src/shared/config/config.js';
import type { CamgateConfig } from '../../src/shared/config/config.js';
import { BuiltinBackend, ZlmBackend } from '../../src/supervisor/media-backends.js';
import { ApiError } from '../../src/supervisor/api/envelope.js';
import { streamIdFromSsrc } from '../../src/media-server/zlm/index.js';
import { startZlmDouble, type ZlmDouble } from '../media-server/zlm/fixtures/zlm-double.js';
import { MEDIA_SERVER_ID, SECRET } from '../media-server/zlm/fixtures/recorded.js';

/** ZlmBackend against the ZLM double (API model), with camgate's real config shape. */
function configFor(zlm: ZlmDouble, extra: Partial<CamgateConfig['zlm']> = {}): CamgateConfig {
  const config = defaultConfig();
  config.media.server = 'zlm';
  config.zlm = { ...config.zlm, api: zlm.baseUrl, secret: SECRET, timeout: 3000, rtpHost: '127.0.0.1', mediaServerId: MEDIA_SERVER_ID, ...extra };
  return config;
}

async function double(t: Test): Promise<ZlmDouble> {
  const zlm = await startZlmDouble({ model: {} });
  t.teardown(() => zlm.close());
  return zlm;
}

t.test('open passes the stream SSRC to openRtpServer, so ZLM drops foreign packets', async (t) => {
  const zlm = await double(t);
  const backend = new ZlmBackend(configFor(zlm), '127.0.0.1');
  const ssrc = 700000001;
  const streamid = streamIdFromSsrc(ssrc);
  const opened = await backend.open(streamid, 'udp', 30_000, ssrc);
  const request = zlm.requests.find((r) => r.name === 'openRtpServer')!;
  t.match(request.query, { stream_id: streamid, ssrc: String(ssrc), tcp_mode: '0', port: '0' });

  // A packet of another source reaching the port is dropped, and the stream does not appear.
  const sender = createSocket('udp4');
  t.teardown(() => sender.close());
  const packet = (packetSsrc: number) => {
    const header = Buffer.alloc(12);
    header[0] = 0x80;
    header[1] = 96;
    header.writeUInt32BE(packetSsrc, 8);
    return header;
  };
  await new Promise<void>((resolve) => sender.send(packet(1234), opened.port, '127.0.0.1', () => resolve()));
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(zlm.ssrcDrops.get(streamid), 1);
  t.same(zlm.liveStreams(), []);

  // The device answered with its own SSRC: the filter follows it.
  await backend.updateSsrc(streamid, 1234);
  t.match(zlm.requests.at(-1)!.query, { stream_id: streamid, ssrc: '1234' });
});

t.test('urls: zlm.templates override ZLM’s forms; keys spelled as the built-in backend’s', async (t) => {
  const zlm = await double(t);
  const config = configFor(zlm);
  config.zlm.urls = { http: 'http://zlm.example:8080', ws: 'ws://zlm.example:8080', rtmp: '', rtsp: '' };
  config.zlm.templates = { ...config.zlm.templates, flv: '{http}/{app}/{id}.flv?vhost=v1', webrtc: '{http}/rtc/{id}' };
  const urls = new ZlmBackend(config, '127.0.0.1').urls('rtp/29B92701');
  t.same(urls, {
    flv: 'http://zlm.example:8080/rtp/29B92701.flv?vhost=v1',
    wsflv: 'ws://zlm.example:8080/rtp/29B92701.live.flv',
    hls: 'http://zlm.example:8080/rtp/29B92701/hls.m3u8',
    webrtc: 'http://zlm.example:8080/rtc/29B92701',
  });
  const builtin = new BuiltinBackend(() => null, '127.0.0.1', config).urls('rtp/29B92701', 0);
  for (const key of Object.keys(builtin)) t.ok(key in urls, `${key} is spelled alike by both backends`);
});

t.test('health: reachability and mediaServerId, one probe per 2 s', async (t) => {
  const zlm = await double(t);
  const backend = new ZlmBackend(configFor(zlm), '127.0.0.1');
  t.match(await backend.health(), { ok: true, reachable: true, mediaServerId: MEDIA_SERVER_ID, expectedMediaServerId: MEDIA_SERVER_ID });
  await Promise.all([backend.health(), backend.health(), backend.health()]);
  t.equal(zlm.requests.filter((r) => r.name === 'getServerConfig').length, 1, 'cached');

  const wrong = new ZlmBackend(configFor(zlm, { mediaServerId: 'zlm-somewhere-else' }), '127.0.0.1');
  const health = await wrong.health();
  t.match(health, { ok: false, reachable: true, mediaServerId: MEDIA_SERVER_ID, expectedMediaServerId: 'zlm-somewhere-else' });
  t.match(health.error, /mediaServerId.*hooks are refused/);
});

t.test('ZLM down: health says so within a second, and open answers 503 naming ZLMediaKit, fast', async (t) => {
  const zlm = await double(t);
  const backend = new ZlmBackend(configFor(zlm), '127.0.0.1');
  let again = 0;
  backend.onReachableAgain = () => (again += 1);
  await backend.health();
  await zlm.stop();
  await new Promise((resolve) => setTimeout(resolve, 2_100)); // past the probe cache

  let started = Date.now();
  const health = await backend.health();
  t.match(health, { ok: false, reachable: false, error: /ZLMediaKit unreachable/ });
  t.ok(Date.now() - started < 1_500, `health answered in ${Date.now() - started} ms`);

  started = Date.now();
  const error = await backend.open('29B92701', 'udp', 30_000, 700000001).catch((e: unknown) => e);
  t.ok(error instanceof ApiError);
  t.match(error, { statusCode: 503, message: /ZLMediaKit unreachable/ });
  t.ok(Date.now() - started < 1_500, `open refused in ${Date.now() - started} ms`);

  await zlm.start();
  await new Promise((resolve) => setTimeout(resolve, 2_100));
  t.match(await backend.health(), { ok: true });
  t.equal(again, 1, 'ZLM answering again is reported once (streams are re-pushed then)');
});

t.test('ZLM hanging: the first call waits its timeout, the next ones are refused at once', async (t) => {
  const zlm = await double(t);
  zlm.answer('openRtpServer', 'hang');
  zlm.answer('getServerConfig', 'hang');
  const backend = new ZlmBackend(configFor(zlm, { timeout: 300 }), '127.0.0.1');
  const first = await backend.open('29B92701', 'udp', 30_000).catch((e: unknown) => e);
  t.match(first, { statusCode: 503, message: /ZLMediaKit unreachable.*no answer within 300 ms/ });
  const started = Date.now();
  const second = await backend.open('29B92702', 'udp', 30_000).catch((e: unknown) => e);
  t.match(second, { statusCode: 503 });
  t.ok(Date.now() - started < 1_000, `refused in ${Date.now() - started} ms`);
  t.equal(zlm.requests.filter((r) => r.name === 'openRtpServer').length, 1, 'no second openRtpServer while ZLM hangs');
});

t.test('ZLM refusing a call is a 502 with its message, not an internal error', async (t) => {
  const zlm = await double(t);
  const backend = new ZlmBackend(configFor(zlm), '127.0.0.1');
  await backend.open('cam01', 'udp', 30_000);
  const duplicate = await backend.open('cam01', 'udp', 30_000).catch((e: unknown) => e);
  t.match(duplicate, { statusCode: 502, message: /openRtpServer: This stream already exists \(code -300\)/ });
});
