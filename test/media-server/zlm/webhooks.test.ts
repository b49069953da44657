import t, { type Test } from 'tap';
import fc from 'fast-check';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  createZlmHooks,
  HANDLED_HOOKS,
  NONE_READER_REASONS,
  zlmWebhookRoutes,
  type ZlmHooks,
  type ZlmHooksOptions,
  type ZlmWebhookRoutesOptions,
} from '../../../src/media-server/zlm/index.js';
import { hooks as recorded, MEDIA_SERVER_ID, OBSERVED_SCHEMAS } from './fixtures/recorded.js';
import { fakeOwner, type FakeOwner } from './fixtures/fake-owner.js';

const JSON_HEADERS = {
  'content-type': 'application/json',
  'user-agent': 'ZLMediaKit(git hash:daaa74a)',
  'accept-language': 'zh-CN,zh;q=0.8',
};

interface Harness {
  app: FastifyInstance;
  owner: FakeOwner;
  hooks: ZlmHooks;
  errors: Array<[string, unknown]>;
  post(hook: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; reply: Record<string, unknown> }>;
}

async function harness(
  t: Test,
  ours: string[] = ['rtp/cam01', 'rtp/cam02'],
  options: ZlmHooksOptions = {},
  routeOptions: Partial<ZlmWebhookRoutesOptions> = {},
): Promise<Harness> {
  const owner = fakeOwner(ours);
  const errors: Array<[string, unknown]> = [];
  const hooks = createZlmHooks(owner, { onError: (hook, error) => errors.push([hook, error]), ...options });
  const app = Fastify({ logger: false });
  // camgate's API answers errors in its own envelope; the webhook scope must not inherit that.
  app.setErrorHandler((_error, _request, reply) => reply.code(418).send({ code: '1003', msgid: 'x', data: 'envelope' }));
  await app.register(zlmWebhookRoutes, { hooks, ...routeOptions });
  await app.ready();
  t.teardown(() => app.close());
  return {
    app,
    owner,
    hooks,
    errors,
    async post(hook, body, headers = JSON_HEADERS) {
      const response = await app.inject({
        method: 'POST',
        url: `/zlm/webhook/${hook}`,
        headers,
        payload: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: response.statusCode, reply: response.json() as Record<string, unknown> };
    },
  };
}

function changed(stream: string, schema: string, regist: boolean) {
  return regist
    ? { ...recorded.on_stream_changed_regist, stream, schema }
    : { ...recorded.on_stream_changed_unregist, stream, schema };
}

t.test('on_publish: code 0 with snake_case protocol options, never the legacy camelCase keys', async (t) => {
  const h = await harness(t, ['rtp/cam01'], { publishOptions: { enable_hls: true, enable_rtmp: true } });
  const { status, reply } = await h.post('on_publish', recorded.on_publish);
  t.equal(status, 200);
  t.same(reply, { code: 0, msg: 'success', enable_mp4: false, add_mute_audio: false, enable_hls: true, enable_rtmp: true });
  t.notOk('enableHls' in reply || 'enableMP4' in reply || 'enableRtxp' in reply);
});

t.test('on_publish: unknown streams are denied only when configured', async (t) => {
  const open = await harness(t, []);
  t.equal((await open.post('on_publish', recorded.on_publish)).reply.code, 0);

  const strict = await harness(t, ['rtp/cam01'], { denyUnknownPublish: true });
  t.equal((await strict.post('on_publish', recorded.on_publish)).reply.code, 0, 'ours is allowed');
  const denied = await strict.post('on_publish', { ...recorded.on_publish, stream: 'intruder', id: 'intruder' });
  t.equal(denied.status, 200, 'a denial is still HTTP 200 (ZLM reads the code)');
  t.equal(denied.reply.code, -1);
  t.type(denied.reply.msg, 'string');
});

t.test('on_stream_changed: five schemas up and five down give one registration and one unregistration', async (t) => {
  const h = await harness(t);
  for (const schema of OBSERVED_SCHEMAS) {
    const { status, reply } = await h.post('on_stream_changed', changed('cam02', schema, true));
    t.equal(status, 200);
    t.same(reply, { code: 0, msg: 'success' });
  }
  t.same(h.owner.calls, [['onStreamRegistered', 'rtp', 'cam02', 'fmp4']]);

  // Retries and repeats of a registration change nothing.
  await h.post('on_stream_changed', changed('cam02', 'rtsp', true));
  t.equal(h.owner.calls.length, 1);

  for (const schema of ['rtsp', 'rtmp', 'fmp4', 'ts']) await h.post('on_stream_changed', changed('cam02', schema, false));
  t.equal(h.owner.calls.length, 1, 'not gone while hls is still registered');
  await h.post('on_stream_changed', changed('cam02', 'hls', false));
  t.same(h.owner.callsOf('onStreamUnregistered'), [['rtp', 'cam02', 'hls']]);
  await h.post('on_stream_changed', changed('cam02', 'hls', false));
  t.equal(h.owner.callsOf('onStreamUnregistered').length, 1, 'a repeated unregistration is swallowed');

  // The next INVITE for the same id is a new stream.
  await h.post('on_stream_changed', changed('cam02', 'rtsp', true));
  t.same(h.owner.callsOf('onStreamRegistered'), [['rtp', 'cam02', 'fmp4'], ['rtp', 'cam02', 'rtsp']]);
});

t.test('on_stream_changed: streams are tracked separately', async (t) => {
  const h = await harness(t);
  await h.post('on_stream_changed', changed('cam01', 'rtsp', true));
  await h.post('on_stream_changed', changed('cam02', 'rtsp', true));
  await h.post('on_stream_changed', { ...changed('cam02', 'rtsp', true), app: 'live' });
  await h.post('on_stream_changed', changed('cam01', 'rtsp', false));
  t.same(h.owner.calls, [
    ['onStreamRegistered', 'rtp', 'cam01', 'rtsp'],
    ['onStreamRegistered', 'rtp', 'cam02', 'rtsp'],
    ['onStreamRegistered', 'live', 'cam02', 'rtsp'],
    ['onStreamUnregistered', 'rtp', 'cam01', 'rtsp'],
  ]);
});

t.test('on_stream_changed: a stream registered before camgate listened ends once, not five times', async (t) => {
  const h = await harness(t);
  for (const schema of OBSERVED_SCHEMAS) await h.post('on_stream_changed', changed('cam01', schema, false));
  t.same(h.owner.calls, [['onStreamUnregistered', 'rtp', 'cam01', 'fmp4']]);
});

t.test('on_stream_changed: the unregistered marker is forgotten after rememberUnregisteredMs', async (t) => {
  let clock = 1_000;
  const h = await harness(t, undefined, { now: () => clock, rememberUnregisteredMs: 1_000 });
  await h.post('on_stream_changed', changed('cam01', 'rtsp', true));
  await h.post('on_stream_changed', changed('cam01', 'rtsp', false));
  clock += 5_000;
  await h.post('on_stream_changed', changed('other', 'rtsp', true)); // triggers the prune
  await h.post('on_stream_changed', changed('cam01', 'hls', false));
  t.equal(h.owner.callsOf('onStreamUnregistered').length, 2, 'a long-forgotten stream is reported again');
});

t.test('on_stream_none_reader: closes only our rtp streams that were watched', async (t) => {
  const h = await harness(t, ['rtp/cam02', 'rtp/cam01']);
  const body = recorded.on_stream_none_reader; // rtp/cam02, schema rtmp

  t.same((await h.post('on_stream_none_reader', body)).reply, { code: 0, close: false }, 'never watched: keep the live feed');

  h.owner.watched.add('rtp/cam02');
  t.same((await h.post('on_stream_none_reader', { ...body, schema: 'muxer' })).reply, { code: 0, close: true }, 'watched: close');

  t.same((await h.post('on_stream_none_reader', { ...body, stream: 'notours' })).reply, { code: 0, close: false });
  h.owner.ours.add('live/cam02');
  h.owner.watched.add('live/cam02');
  t.same((await h.post('on_stream_none_reader', { ...body, app: 'live' })).reply, { code: 0, close: false }, 'not the rtp app');

  // A viewer seen through on_play counts as watched even if the owner did not record it.
  await h.post('on_play', recorded.on_play); // rtp/cam01
  t.same((await h.post('on_stream_none_reader', { ...body, stream: 'cam01' })).reply, { code: 0, close: true });
  t.equal(h.owner.calls.length, 0, 'none_reader itself does not tell the owner anything; regist=false will');
});

t.test('on_stream_none_reader: closeUnwatched closes our unwatched streams too', async (t) => {
  const h = await harness(t, ['rtp/cam02'], { closeUnwatched: true });
  t.same((await h.post('on_stream_none_reader', recorded.on_stream_none_reader)).reply, { code: 0, close: true });
  t.same((await h.post('on_stream_none_reader', { ...recorded.on_stream_none_reader, stream: 'x' })).reply, { code: 0, close: false });
});

t.test('on_stream_none_reader: closeUnwatched false keeps a stream nobody watched, whatever the owner started', async (t) => {
  // The owner no longer claims "watched" for streams it merely started (that made every feed close after ~20 s).
  const h = await harness(t, ['rtp/cam02']);
  const owner = h.owner as Partial<FakeOwner>;
  delete owner.wasWatched;
  for (const schema of OBSERVED_SCHEMAS) await h.post('on_stream_changed', changed('cam02', schema, true));
  t.same((await h.post('on_stream_none_reader', recorded.on_stream_none_reader)).reply, { code: 0, close: false });
});

t.test('on_stream_none_reader: the stream ZLM then drops ends with the true reason', async (t) => {
  const watched = await harness(t, ['rtp/cam01']);
  for (const schema of OBSERVED_SCHEMAS) await watched.post('on_stream_changed', changed('cam01', schema, true));
  await watched.post('on_play', recorded.on_play);
  t.same((await watched.post('on_stream_none_reader', { ...recorded.on_stream_none_reader, stream: 'cam01' })).reply, { code: 0, close: true });
  for (const schema of OBSERVED_SCHEMAS) await watched.post('on_stream_changed', changed('cam01', schema, false));
  t.same(watched.owner.callsOf('onStreamUnregistered'), [['rtp', 'cam01', 'hls', NONE_READER_REASONS.lastViewerLeft]]);

  const unwatched = await harness(t, ['rtp/cam02'], { closeUnwatched: true });
  await unwatched.post('on_stream_changed', changed('cam02', 'rtsp', true));
  t.same((await unwatched.post('on_stream_none_reader', recorded.on_stream_none_reader)).reply, { code: 0, close: true });
  await unwatched.post('on_stream_changed', changed('cam02', 'rtsp', false));
  t.same(unwatched.owner.callsOf('onStreamUnregistered'), [['rtp', 'cam02', 'rtsp', NONE_READER_REASONS.neverWatched]]);

  // The next life of the same id ends for its own reason (the RTP timeout here): no stale close reason.
  await unwatched.post('on_stream_changed', changed('cam02', 'rtsp', true));
  await unwatched.post('on_stream_changed', changed('cam02', 'rtsp', false));
  t.same(unwatched.owner.callsOf('onStreamUnregistered')[1], ['rtp', 'cam02', 'rtsp']);
});

t.test('on_stream_none_reader: the played mark ends with the stream', async (t) => {
  const h = await harness(t, ['rtp/cam01']);
  await h.post('on_stream_changed', changed('cam01', 'rtsp', true));
  await h.post('on_play', recorded.on_play);
  await h.post('on_stream_changed', changed('cam01', 'rtsp', false));
  await h.post('on_stream_changed', changed('cam01', 'rtsp', true));
  t.same((await h.post('on_stream_none_reader', { ...recorded.on_stream_none_reader, stream: 'cam01' })).reply, { code: 0, close: false });
});

t.test('on_stream_not_found: starts our stream on demand, once for concurrent players', async (t) => {
  const h = await harness(t, ['rtp/doesnotexist']);
  let release!: (value: boolean) => void;
  h.owner.startResult = () => new Promise<boolean>((resolve) => (release = resolve));
  const players = [1, 2, 3].map((n) => h.post('on_stream_not_found', { ...recorded.on_stream_not_found, hook_index: 42 + n }));
  await new Promise((resolve) => setTimeout(resolve, 20));
  release(true);
  for (const { status, reply } of await Promise.all(players)) {
    t.equal(status, 200);
    t.same(reply, { code: 0, close: false }, 'hold the player until the stream appears');
  }
  t.same(h.owner.callsOf('startOnDemand'), [['rtp', 'doesnotexist']]);
});

t.test('on_stream_not_found: a stream that cannot start, or is not ours, drops the player at once', async (t) => {
  const h = await harness(t, ['rtp/doesnotexist']);
  h.owner.startResult = async () => false;
  t.same((await h.post('on_stream_not_found', recorded.on_stream_not_found)).reply, { code: 0, close: true });

  h.owner.startResult = async () => {
    throw new Error('device offline');
  };
  t.same((await h.post('on_stream_not_found', recorded.on_stream_not_found)).reply, { code: 0, close: true });
  t.equal(h.errors.length, 1);

  t.same((await h.post('on_stream_not_found', { ...recorded.on_stream_not_found, stream: 'stranger' })).reply, { code: 0, close: true });
  t.equal(h.owner.callsOf('startOnDemand').length, 2, 'nothing started for a stranger');

  const other = await h.post('on_stream_not_found', { ...recorded.on_stream_not_found, app: 'live' });
  t.same(other.reply, { code: 0, msg: 'success' }, 'other apps: ZLM waits as usual (an RTMP push may come)');
});

t.test('on_stream_not_found: a slow start is answered before ZLM’s hook timeout, keeping the player', async (t) => {
  const h = await harness(t, ['rtp/doesnotexist'], { notFoundAnswerWithinMs: 50 });
  h.owner.startResult = () => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 500));
  const started = Date.now();
  t.same((await h.post('on_stream_not_found', recorded.on_stream_not_found)).reply, { code: 0, close: false });
  t.ok(Date.now() - started < 400);
});

t.test('on_rtp_server_timeout: the owner hears the stream id', async (t) => {
  const h = await harness(t);
  t.same((await h.post('on_rtp_server_timeout', recorded.on_rtp_server_timeout)).reply, { code: 0, msg: 'success' });
  t.same(h.owner.calls, [['onRtpServerTimeout', 'apitest_udp']]);
});

t.test('on_server_started: one reconcile, and what was known about the old ZLM is dropped', async (t) => {
  const h = await harness(t);
  await h.post('on_stream_changed', changed('cam01', 'rtsp', true));
  const { status, reply } = await h.post('on_server_started', recorded.on_server_started);
  t.equal(status, 200);
  t.same(reply, { code: 0, msg: 'success' });
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(h.owner.callsOf('reconcile').length, 1);

  await h.post('on_stream_changed', changed('cam01', 'rtsp', true));
  t.equal(h.owner.callsOf('onStreamRegistered').length, 2, 'the same name on the new ZLM is a new stream');
});

t.test('on_server_started: restarts during a reconcile coalesce into one more run', async (t) => {
  const h = await harness(t);
  let runs = 0;
  let finish!: () => void;
  h.owner.reconcile = () => {
    runs += 1;
    return new Promise<void>((resolve) => (finish = resolve));
  };
  await h.post('on_server_started', recorded.on_server_started);
  await h.post('on_server_started', recorded.on_server_started);
  await h.post('on_server_started', recorded.on_server_started);
  t.equal(runs, 1, 'one at a time');
  finish();
  await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(runs, 2, 'then one more for the starts that came meanwhile');
  finish();
  await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(runs, 2);
});

t.test('on_send_rtp_stopped: ssrc arrives as a string and is passed on as one', async (t) => {
  const h = await harness(t);
  t.same((await h.post('on_send_rtp_stopped', recorded.on_send_rtp_stopped)).reply, { code: 0, msg: 'success' });
  t.same(h.owner.calls, [['onSendRtpStopped', 'rtp', 'cam03', '300000002', 'end of file']]);
  await h.post('on_send_rtp_stopped', { ...recorded.on_send_rtp_stopped, ssrc: 300000003 });
  t.equal(h.owner.calls[1]![3], '300000003');
});

t.test('other hooks: {code:0, msg:success}; on_shell_login is refused', async (t) => {
  const h = await harness(t);
  for (const [hook, body] of [
    ['on_server_keepalive', recorded.on_server_keepalive],
    ['on_server_exited', recorded.on_server_exited],
    ['on_play', recorded.on_play],
    ['on_flow_report', { app: 'rtp', stream: 'cam01', mediaServerId: MEDIA_SERVER_ID, hook_index: 99 }],
    ['on_some_future_hook', { mediaServerId: MEDIA_SERVER_ID, hook_index: 100 }],
  ] as const) {
    const { status, reply } = await h.post(hook, body);
    t.equal(status, 200, hook);
    t.same(reply, { code: 0, msg: 'success' }, hook);
  }
  const shell = await h.post('on_shell_login', { user_name: 'admin', passwd: 'x', mediaServerId: MEDIA_SERVER_ID, hook_index: 5 });
  t.equal(shell.reply.code, -1);
  t.equal(h.owner.calls.length, 0);
  t.equal(h.hooks.stats.byHook.other, 3, 'on_server_exited, on_flow_report and the unknown one');
});

t.test('malformed bodies: 400 {code:-1,msg} in ZLM shape, counted, never the API envelope', async (t) => {
  const h = await harness(t);
  const cases: Array<[string, string]> = [
    ['on_publish', '{not json'],
    ['on_stream_changed', '[1,2]'],
    ['on_stream_changed', JSON.stringify({ app: 'rtp', stream: 'cam01', schema: 'rtsp' })], // no regist
    ['on_stream_changed', JSON.stringify({ app: 'rtp', stream: 'cam01', schema: 'rtsp', regist: 'true' })],
    ['on_stream_none_reader', JSON.stringify({ app: 'rtp' })],
    ['on_rtp_server_timeout', JSON.stringify({ stream_id: 7 })],
    ['on_keepalive', 'null'],
    ['on_server_started', ''],
  ];
  for (const [hook, payload] of cases) {
    const { status, reply } = await h.post(hook, payload);
    t.equal(status, 400, `${hook} ${payload}`);
    t.equal(reply.code, -1);
    t.type(reply.msg, 'string');
    t.notOk('msgid' in reply);
  }
  t.equal(h.hooks.stats.malformed, cases.length);
  t.equal(h.owner.calls.length, 0);
});

t.test('bodies are read as JSON whatever the content type; oversize bodies get a ZLM-shaped error', async (t) => {
  const h = await harness(t);
  const asText = await h.post('on_rtp_server_timeout', recorded.on_rtp_server_timeout, { 'content-type': 'text/plain' });
  t.same(asText.reply, { code: 0, msg: 'success' });

  const app = Fastify({ logger: false, bodyLimit: 100 });
  await app.register(zlmWebhookRoutes, { hooks: h.hooks });
  t.teardown(() => app.close());
  const big = await app.inject({
    method: 'POST',
    url: '/zlm/webhook/on_server_started',
    headers: JSON_HEADERS,
    payload: JSON.stringify(recorded.on_server_started).padEnd(500, ' '),
  });
  t.equal(big.statusCode, 413);
  t.equal(big.json().code, -1);
});

t.test('mediaServerId: when configured, bodies from another ZLM are refused', async (t) => {
  const h = await harness(t, undefined, {}, { mediaServerId: MEDIA_SERVER_ID });
  t.equal((await h.post('on_rtp_server_timeout', recorded.on_rtp_server_timeout)).status, 200);
  const other = await h.post('on_rtp_server_timeout', { ...recorded.on_rtp_server_timeout, mediaServerId: 'someone-else' });
  t.equal(other.status, 403);
  t.equal(other.reply.code, -1);
  const none = await h.post('on_rtp_server_timeout', { stream_id: 'x' });
  t.equal(none.status, 403);
  t.equal(h.hooks.stats.refused, 2);
  t.same(h.owner.callsOf('onRtpServerTimeout'), [['apitest_udp']]);
});

t.test('allowedSources: requests from other addresses are refused', async (t) => {
  const h = await harness(t, undefined, {}, { allowedSources: ['127.0.0.1'] });
  const local = await h.app.inject({ method: 'POST', url: '/zlm/webhook/on_server_keepalive', headers: JSON_HEADERS, payload: JSON.stringify(recorded.on_server_keepalive) });
  t.equal(local.statusCode, 200);
  const remote = await h.app.inject({
    method: 'POST',
    url: '/zlm/webhook/on_server_keepalive',
    headers: JSON_HEADERS,
    payload: JSON.stringify(recorded.on_server_keepalive),
    remoteAddress: '198.51.100.9',
  });
  t.equal(remote.statusCode, 403);
  t.equal(remote.json().code, -1);
});

t.test('registered directly (not through app.register) the scope is still encapsulated', async (t) => {
  const owner = fakeOwner();
  const app = Fastify({ logger: false });
  app.setErrorHandler((_e, _r, reply) => reply.code(418).send({ code: '1003', msgid: 'x', data: 'envelope' }));
  app.post('/other', async (request) => ({ got: request.body }));
  await zlmWebhookRoutes(app, { hooks: createZlmHooks(owner) });
  await app.ready();
  t.teardown(() => app.close());
  const bad = await app.inject({ method: 'POST', url: '/zlm/webhook/on_publish', headers: JSON_HEADERS, payload: '{' });
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().code, -1);
  const other = await app.inject({ method: 'POST', url: '/other', headers: JSON_HEADERS, payload: '{"a":1}' });
  t.same(other.json(), { got: { a: 1 } }, "the parent's JSON parser is untouched");
});

t.test('a recorded stream life, end to end', async (t) => {
  const h = await harness(t, ['rtp/cam01']);
  const timeline: Array<[string, unknown]> = [
    ['on_publish', recorded.on_publish],
    ...['fmp4', 'rtmp', 'rtsp', 'ts'].map((schema): [string, unknown] => ['on_stream_changed', changed('cam01', schema, true)]),
    ['on_stream_changed', changed('cam01', 'hls', true)],
    ['on_stream_none_reader', { ...recorded.on_stream_none_reader, stream: 'cam01' }],
    ['on_play', recorded.on_play],
    ['on_rtp_server_timeout', { ...recorded.on_rtp_server_timeout, stream_id: 'cam01' }],
    ...OBSERVED_SCHEMAS.map((schema): [string, unknown] => ['on_stream_changed', changed('cam01', schema, false)]),
  ];
  const replies = [];
  for (const [hook, body] of timeline) replies.push((await h.post(hook, body)).reply);
  t.same(replies[6], { code: 0, close: false }, 'the unwatched feed is kept');
  t.same(h.owner.calls, [
    ['onStreamRegistered', 'rtp', 'cam01', 'fmp4'],
    ['onRtpServerTimeout', 'cam01'],
    ['onStreamUnregistered', 'rtp', 'cam01', 'hls'],
  ]);
  t.ok(replies.every((reply) => Number.isInteger(reply.code)));
});

t.test('property: any JSON body to any hook gets a well-formed reply and never throws', async (t) => {
  const h = await harness(t, ['rtp/cam01', 'rtp/doesnotexist'], { notFoundAnswerWithinMs: 20 });
  const hookNames = [...HANDLED_HOOKS, 'on_flow_report', 'on_http_access', 'on_record_mp4', 'x'];
  const streamish = fc.record(
    {
      app: fc.oneof(fc.constant('rtp'), fc.string(), fc.integer()),
      stream: fc.oneof(fc.constant('cam01'), fc.constant('doesnotexist'), fc.string(), fc.constant(null)),
      schema: fc.oneof(fc.constantFrom('rtsp', 'rtmp', 'hls', 'muxer'), fc.jsonValue()),
      regist: fc.oneof(fc.boolean(), fc.jsonValue()),
      stream_id: fc.oneof(fc.string(), fc.jsonValue()),
      ssrc: fc.oneof(fc.string(), fc.integer(), fc.jsonValue()),
      mediaServerId: fc.string(),
    },
    { requiredKeys: [] },
  );
  const body = fc.oneof(fc.jsonValue(), streamish, fc.dictionary(fc.string(), fc.jsonValue()));
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...hookNames), body, async (hook, value) => {
      const { status, reply } = await h.post(hook, JSON.stringify(value) ?? 'null');
      if (!Number.isInteger(reply.code)) return false;
      if (status === 200) return true;
      return status === 400 && reply.code === -1 && typeof reply.msg === 'string';
    }),
    { numRuns: 400 },
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...hookNames), fc.string(), async (hook, raw) => {
      const { status, reply } = await h.post(hook, raw);
      return (status === 200 || status === 400) && Number.isInteger(reply.code);
    }),
    { numRuns: 200 },
  );
  t.equal(h.errors.length, 0, 'no owner callback failed');
  t.pass('every reply was well formed');
});

t.test('hidden from the API documentation when @fastify/swagger is present', async (t) => {
  const { default: swagger } = await import('@fastify/swagger');
  const app = Fastify({ logger: false });
  await app.register(swagger, { openapi: { openapi: '3.0.3', info: { title: 't', version: '0' } } });
  app.get('/visible', async () => ({}));
  await app.register(zlmWebhookRoutes, { hooks: createZlmHooks(fakeOwner()) });
  await app.ready();
  t.teardown(() => app.close());
  const paths = Object.keys((app.swagger() as { paths?: Record<string, unknown> }).paths ?? {});
  t.ok(paths.includes('/visible'));
  t.notOk(paths.some((path) => path.startsWith('/zlm/')), paths.join(','));
});

t.test('forgetStream: the owner can drop a stream so its next registration is reported', async (t) => {
  const h = await harness(t);
  await h.post('on_stream_changed', changed('cam01', 'rtsp', true));
  h.hooks.forgetStream('rtp', 'cam01');
  await h.post('on_stream_changed', changed('cam01', 'rtmp', true));
  t.equal(h.owner.callsOf('onStreamRegistered').length, 2);
});
