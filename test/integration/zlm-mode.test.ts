import t, { type Test } from 'tap';
import { getJson, startAppliance, waitFor } from '../helpers/appliance.js';
import { needPeer } from '../helpers/peers.js';
import { startSipp } from '../helpers/sipp.js';
import { freePort } from '../helpers/ports.js';
import { startZlmDouble } from '../media-server/zlm/fixtures/zlm-double.js';
import { api, hooks, MEDIA_SERVER_ID, SECRET } from '../media-server/zlm/fixtures/recorded.js';
import { capturesDir } from '../helpers/jt1078.js';
import { runSimulation, startSimulation } from '../../src/tools/sim/index.js';

/**
 * media.server: zlm — ZLMediaKit cannot run here, so a test double stands in for its
 * API (asserting the exact requests) and the test posts ZLM's recorded webhook bodies.
 * The device is real (sipp).
 */
const SERVER = { id: '34020000002000000001', domain: '3402000000' };
const CAMERA = '34020000001310000001';

if (!needPeer(t, 'sipp', 'sip-tester')) process.exit(0);

async function post(url: string, body: unknown, json = false) {
  const res = await fetch(url, {
    method: 'POST',
    ...(json ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : { body: new URLSearchParams(body as Record<string, string>) }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

t.test('streams through ZLMediaKit: openRtpServer per INVITE, URLs, webhooks, close', async (t: Test) => {
  const zlm = await startZlmDouble();
  zlm.answer('openRtpServer', api.openRtpServerUdp);
  zlm.answer('closeRtpServer', api.closeRtpServerHit);
  zlm.answer('close_streams', api.closeStreamsHit);
  zlm.answer('getServerConfig', api.getServerConfig);
  const realtime = await freePort();
  const app = await startAppliance({
    jt1078: { realtime: { port: realtime } },
    sip: SERVER,
    gb28181: { registration: 'open' },
    api: { tokens: ['operator-token-0123456789'] },
    media: { server: 'zlm' },
    zlm: {
      api: zlm.baseUrl,
      secret: SECRET,
      rtpHost: '127.0.0.1',
      mediaServerId: MEDIA_SERVER_ID,
      urls: { http: 'http://zlm.example:8080', rtsp: 'rtsp://zlm.example:554' },
    },
  });
  t.teardown(async () => {
    app.process.kill('SIGTERM');
    await app.exited;
    await zlm.close();
  });
  const auth = { authorization: 'Bearer operator-token-0123456789' };
  await waitFor(async () => (await getJson(`${app.api}/healthz`)).status === 200, 15_000, 'healthy');
  const sipp = startSipp([
    `127.0.0.1:${app.sipPort}`, '-i', '127.0.0.1', '-p', String(await freePort()), '-mp', String(await freePort()),
    '-sf', 'gb_device.xml', '-oocsf', 'gb_device_ooc.xml', '-inf', 'device1.csv', '-m', '1', '-d', '1000', '-set', 'KA_COUNT', '8', '-trace_msg',
  ]);
  await waitFor(async () => {
    const res = await fetch(`${app.api}/channels`, { headers: auth });
    return ((await res.json()) as any).data.List.some((c: { channelid: string }) => c.channelid === CAMERA);
  }, 8000, 'camera channel');

  const startRes = await fetch(`${app.api}/channels/${CAMERA}/streams`, { method: 'POST', headers: auth, body: new URLSearchParams({}) });
  const started = (await startRes.json()) as any;
  t.equal(startRes.status, 200, JSON.stringify(started));
  const s = started.data;
  t.match(s, { media_server: 'zlm', media_port: 32158, media_host: '127.0.0.1' });
  t.same(s.urls.flv, `http://zlm.example:8080/rtp/${s.streamid}.live.flv`);
  t.same(s.urls.rtsp, `rtsp://zlm.example:554/rtp/${s.streamid}`);
  const open = zlm.requests.find((r) => r.name === 'openRtpServer')!;
  t.match(open.query, { secret: SECRET, stream_id: s.streamid, port: '0', tcp_mode: '0' }, 'openRtpServer with a fresh port per INVITE');

  // ZLM reports the RTP server got no media: the stream ends with BYE.
  const hook = await post(`${app.api}/zlm/webhook/on_rtp_server_timeout`, { ...hooks.on_rtp_server_timeout, stream_id: s.streamid }, true);
  t.equal(hook.status, 200, 'webhooks need no token');
  t.match(hook.body, { code: 0 });
  const closed = await waitFor(async () => {
    const r = (await fetch(`${app.api}/streams?filters=${encodeURIComponent(JSON.stringify([{ field_name: 'streamid', operator: '=', value: s.streamid }]))}`, { headers: auth }).then((x) => x.json())) as any;
    return r.data.List[0]?.status === 1 && r.data.List[0];
  }, 5000, 'row closed');
  t.match(closed.reason, /rtp server timeout/);

  // A player asks ZLM for that stream again: camgate INVITEs the channel with the same SSRC.
  const notFound = await post(`${app.api}/zlm/webhook/on_stream_not_found`, { ...hooks.on_stream_not_found, stream: s.streamid }, true);
  t.match(notFound.body, { code: 0, close: false }, 'ZLM is told to wait');
  const again = await waitFor(async () => {
    const r = (await fetch(`${app.api}/streams?filters=${encodeURIComponent(JSON.stringify([{ field_name: 'streamid', operator: '=', value: s.streamid }, { field_name: 'status', operator: '=', value: 0 }]))}`, { headers: auth }).then((x) => x.json())) as any;
    return r.data.List[0];
  }, 5000, 'stream restarted on demand');
  t.equal(again.ssrc, s.ssrc, 'same SSRC, so the same URL plays');
  await fetch(`${app.api}/streams/${s.streamid}`, { method: 'DELETE', headers: auth });
  const unknown = await post(`${app.api}/zlm/webhook/on_stream_not_found`, { ...hooks.on_stream_not_found }, true);
  t.match(unknown.body, { code: 0, close: true }, 'a stream camgate never ran is not started');

  // A JT/T 1078 terminal: pushed to ZLM as PS/RTP, URLs from the templates.
  const opensBefore = zlm.requests.filter((r) => r.name === 'openRtpServer').length;
  await runSimulation({ capture: `${capturesDir}data.txt`, host: '127.0.0.1', port: realtime, streams: 1, loops: 1, speed: 8 });
  const jt = await waitFor(async () => {
    const r = (await fetch(`${app.api}/streams?filters=${encodeURIComponent('[{"field_name":"kind","operator":"=","value":"jt1078"}]')}`, { headers: auth }).then((x) => x.json())) as any;
    return r.data.List[0];
  }, 5000, 'JT/T 1078 stream row');
  const pushed = zlm.requests.filter((r) => r.name === 'openRtpServer').slice(opensBefore).find((r) => r.query.stream_id?.startsWith('live_jt1078-'));
  t.ok(pushed, 'an RTP server opened on ZLM for the terminal');
  t.equal(jt.urls.flv, `http://zlm.example:8080/rtp/${pushed!.query.stream_id}.live.flv`);

  // A second live stream, stopped through the API: ZLM is told to close it.
  const second = (await (await fetch(`${app.api}/channels/${CAMERA}/streams`, { method: 'POST', headers: auth, body: new URLSearchParams({}) })).json()) as any;
  t.equal(second.code, '0');
  const del = await fetch(`${app.api}/streams/${second.data.streamid}`, { method: 'DELETE', headers: auth });
  t.equal(del.status, 200);
  await waitFor(async () => zlm.requests.some((r) => r.name === 'closeRtpServer' && r.query.stream_id === second.data.streamid), 5000, 'closeRtpServer');
  const closeStreams = zlm.requests.find((r) => r.name === 'close_streams' && r.query.stream === second.data.streamid)!;
  t.match(closeStreams.query, { app: 'rtp', force: '1', secret: SECRET });

  // A webhook from another ZLM is refused.
  const foreign = await post(`${app.api}/zlm/webhook/on_server_started`, { ...hooks.on_server_started, mediaServerId: 'someone-else' }, true);
  t.equal(foreign.status, 403);

  const run = await sipp.done;
  t.match(run.messages, /m=video 32158 RTP\/AVP/, 'the offer carries the port ZLM opened');
  t.equal(run.messages.match(/BYE sip:/g)?.length, 3, 'every dialog ended with BYE');
});

/**
 * The faults of issue 11 against the ZLM double's model of ZLM (real RTP ports with the SSRC filter,
 * none_reader timing, restart with on_server_started): a wrong mediaServerId at start-up, a feed
 * nobody watches, a ZLM restart under a live JT/T 1078 stream, ZLM going away.
 */
t.test('zlm faults: mediaServerId check, unwatched feeds kept, restart re-pushes JT/T 1078, ZLM down is a 503', async (t: Test) => {
  const zlm = await startZlmDouble({ model: { noneReaderDelayMs: 400, rtpTimeoutMs: 10_000 } });
  zlm.mediaServerId = 'zlm-elsewhere';
  const realtime = await freePort();
  const app = await startAppliance({
    jt1078: { realtime: { port: realtime } },
    sip: SERVER,
    gb28181: { registration: 'open' },
    media: { server: 'zlm' },
    zlm: {
      api: zlm.baseUrl,
      secret: SECRET,
      timeout: 2000,
      rtpHost: '127.0.0.1',
      mediaServerId: MEDIA_SERVER_ID,
      closeUnwatched: false,
      urls: { http: 'http://zlm.example:8080', ws: 'ws://zlm.example:8080', rtsp: 'rtsp://zlm.example:554' },
      templates: { rtsp: '{rtsp}/{app}/{id}?transport=tcp' },
    },
  });
  zlm.hookBase = `${app.api}/zlm/webhook`;
  const sim = { stop: () => undefined as void };
  t.teardown(async () => {
    sim.stop();
    app.process.kill('SIGTERM');
    await app.exited;
    await zlm.close();
  });
  const rowOf = async (streamid: string) => {
    const filters = encodeURIComponent(JSON.stringify([{ field_name: 'streamid', operator: '=', value: streamid }]));
    return ((await (await fetch(`${app.api}/streams?filters=${filters}`)).json()) as any).data.List[0];
  };
  const hooksAnswered = (hook: string, stream: string) => zlm.hooksSent.filter((h) => h.hook === hook && h.body.stream === stream && h.reply);

  // 15: a ZLM whose mediaServerId is not the configured one: warned at start-up, shown in health.
  const wrong = await waitFor(async () => {
    const health = await getJson(`${app.api}/healthz`);
    return health.body.parts?.zlm && health;
  }, 15_000, 'health with zlm');
  t.equal(wrong.status, 503);
  t.match(wrong.body.parts.zlm, { ok: false, reachable: true, mediaServerId: 'zlm-elsewhere', expectedMediaServerId: MEDIA_SERVER_ID, error: /hooks are refused/ });
  // The warning comes once the children are up; the API (and /healthz) is up before them.
  await waitFor(async () => /"part":"zlm".*mediaServerId is zlm-elsewhere/.test(app.output()), 10_000, 'warned at start-up');
  zlm.mediaServerId = MEDIA_SERVER_ID;
  const healthy = await waitFor(async () => {
    const health = await getJson(`${app.api}/healthz`);
    return health.status === 200 && health;
  }, 15_000, 'healthy once ZLM is the right one');
  t.match(healthy.body.parts.zlm, { ok: true, reachable: true, mediaServerId: MEDIA_SERVER_ID });

  const sipp = startSipp([
    `127.0.0.1:${app.sipPort}`, '-i', '127.0.0.1', '-p', String(await freePort()), '-mp', String(await freePort()),
    '-sf', 'gb_device.xml', '-oocsf', 'gb_device_ooc.xml', '-inf', 'device1.csv', '-m', '1', '-d', '1000', '-set', 'KA_COUNT', '25',
  ]);
  await waitFor(async () => {
    const res = await fetch(`${app.api}/channels`);
    return ((await res.json()) as any).data.List.some((c: { channelid: string }) => c.channelid === CAMERA);
  }, 8000, 'camera channel');

  // 16: the SSRC goes to openRtpServer; URLs follow zlm.templates, keys spelled as the built-in backend's.
  const startRes = await fetch(`${app.api}/channels/${CAMERA}/streams`, { method: 'POST', body: new URLSearchParams({}) });
  const s = ((await startRes.json()) as any).data;
  t.equal(startRes.status, 200);
  const open = zlm.requests.find((r) => r.name === 'openRtpServer' && r.query.stream_id === s.streamid)!;
  t.equal(open.query.ssrc, String(Number(s.ssrc)), 'openRtpServer filters on the offered SSRC');
  t.same(Object.keys(s.urls).sort(), ['flv', 'hls', 'rtsp', 'webrtc', 'wsflv']);
  t.equal(s.urls.rtsp, `rtsp://zlm.example:554/rtp/${s.streamid}?transport=tcp`);

  // 12: nobody watches it: ZLM asks after its delay, camgate keeps the feed (closeUnwatched: false).
  await zlm.publish(s.streamid);
  await waitFor(async () => hooksAnswered('on_stream_none_reader', s.streamid).length >= 1, 5000, 'none_reader asked');
  t.same(hooksAnswered('on_stream_none_reader', s.streamid)[0]!.reply, { code: 0, close: false });
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.equal((await rowOf(s.streamid)).status, 0, 'the unwatched feed is still open');
  t.ok(zlm.liveStreams().includes(s.streamid));
  // A viewer comes and goes: then ZLM is told to close, and the row says why.
  await zlm.play(s.streamid);
  zlm.leave(s.streamid);
  const closed = await waitFor(async () => {
    const row = await rowOf(s.streamid);
    return row?.status === 1 && row;
  }, 5000, 'closed after the last viewer left');
  t.equal(closed.reason, 'no viewer left (ZLMediaKit on_stream_none_reader)');
  t.notOk(zlm.liveStreams().includes(s.streamid));

  // 13: a live JT/T 1078 stream survives a ZLM restart: re-pushed to a new RTP server, same URL.
  const run = await startSimulation({ capture: `${capturesDir}data.txt`, host: '127.0.0.1', port: realtime, streams: 1, loops: Infinity, durationMs: 60_000 });
  sim.stop = () => void run.stop();
  const jt = await waitFor(async () => {
    const filters = encodeURIComponent('[{"field_name":"kind","operator":"=","value":"jt1078"}]');
    return ((await (await fetch(`${app.api}/streams?filters=${filters}`)).json()) as any).data.List[0];
  }, 5000, 'JT/T 1078 stream row');
  const jtId = jt.streamid.replaceAll('/', '_');
  await waitFor(async () => zlm.liveStreams().includes(jtId), 5000, 'JT/T 1078 media registered in ZLM');
  t.same(zlm.ssrcDrops.get(jtId) ?? 0, 0, 'the pushed SSRC is the one openRtpServer filters on');
  const portBefore = zlm.requests.filter((r) => r.name === 'openRtpServer' && r.query.stream_id === jtId).length;
  await zlm.restart(300);
  await waitFor(async () => zlm.liveStreams().includes(jtId), 8000, 'JT/T 1078 media registered in the restarted ZLM');
  t.equal(zlm.requests.filter((r) => r.name === 'openRtpServer' && r.query.stream_id === jtId).length, portBefore + 1, 'one new RTP server');
  const after = await rowOf(jt.streamid);
  t.match(after, { status: 0, urls: jt.urls }, 'the row stays open with the same URLs');

  // 15: ZLM away: health names it and the API answers 503 naming ZLMediaKit, fast.
  await zlm.stop();
  const down = await waitFor(async () => {
    const health = await getJson(`${app.api}/healthz`);
    return health.status === 503 && health.body.parts.zlm?.reachable === false && health;
  }, 5000, 'health without ZLM');
  t.match(down.body.parts.zlm.error, /ZLMediaKit unreachable/);
  const began = Date.now();
  const refused = await fetch(`${app.api}/channels/${CAMERA}/streams`, { method: 'POST', body: new URLSearchParams({}) });
  const refusedBody = (await refused.json()) as any;
  t.equal(refused.status, 503, JSON.stringify(refusedBody));
  t.match(refusedBody.data, /ZLMediaKit unreachable/);
  t.ok(Date.now() - began < 2000, `answered in ${Date.now() - began} ms`);
  await zlm.start();
  sim.stop();
  await sipp.done.catch(() => undefined);
});
