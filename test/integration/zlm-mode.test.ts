import t, { type Test } from 'tap';
import { getJson, startAppliance, waitFor } from '../helpers/appliance.js';
import { needPeer } from '../helpers/peers.js';
import { startSipp } from '../helpers/sipp.js';
import { freePort } from '../helpers/ports.js';
import { startZlmDouble } from '../media-server/zlm/fixtures/zlm-double.js';
import { api, hooks, MEDIA_SERVER_ID, SECRET } from '../media-server/zlm/fixtures/recorded.js';
import { capturesDir } from '../helpers/jt1078.js';
import { runSimulation } from '../../src/tools/sim/index.js';

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
