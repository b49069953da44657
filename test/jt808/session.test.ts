/**
 * Platform-side JT/T 808 session and server core with a fake clock: register, authenticate,
 * heartbeat, location, offline on silence, provisioned vs open mode, command/answer
 * correlation and timeout, 2019 terminals answered in 2019, sub-packaged answers with 0x8003,
 * garbage-only terminals disconnected.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { FakeClock } from '../../src/protocol/sip/clock.js';
import {
  decodeFrame,
  decodeGeneralAnswer,
  decodeRegisterAnswer,
  decodeResendRequest,
  encodeAuthenticate,
  encodeAvAttributes,
  encodeFrames,
  encodeGeneralAnswer,
  encodeLocation,
  encodeMessage,
  encodeRecordList,
  encodeRegister,
  frameMessage,
  MsgId,
  msToJt808Time,
  type Jt808Message,
  type Jt808Version,
} from '../../src/protocol/jt808/index.js';
import { Jt808CommandError, Jt808Server, type Jt808Event, type Jt808Output, type Jt808ServerOptions, type Jt808Session } from '../../src/jt808/index.js';

const DIR = new URL('../../../shared/testdata/jt1078/jt808/', import.meta.url);

interface Harness {
  clock: FakeClock;
  server: Jt808Server;
  /** Everything written to each session (feed replies and async output). */
  written: Map<Jt808Session, Jt808Message[]>;
  asyncEvents: Jt808Event[];
}

function harness(options: Partial<Jt808ServerOptions> = {}): Harness {
  const clock = new FakeClock(1_000_000);
  const written = new Map<Jt808Session, Jt808Message[]>();
  const asyncEvents: Jt808Event[] = [];
  const server = new Jt808Server({
    clock,
    makeAuthCode: (phone) => `code-${phone}`,
    ...options,
    onOutput(session, out) {
      record(written, session, out);
      asyncEvents.push(...out.events);
    },
  });
  return { clock, server, written, asyncEvents };
}

function decodeAll(frames: Uint8Array[]): Jt808Message[] {
  return frames.map((f) => {
    const r = decodeFrame(f);
    if (r.kind !== 'message') throw new Error(`platform wrote a bad frame (${r.reason})`);
    return r.message;
  });
}

function record(written: Map<Jt808Session, Jt808Message[]>, session: Jt808Session, out: Jt808Output): Jt808Message[] {
  const messages = decodeAll(out.replies);
  written.set(session, [...(written.get(session) ?? []), ...messages]);
  return messages;
}

/** A scripted terminal: frames its messages with its own serial counter. */
class FakeTerminal {
  serial = 0;
  constructor(
    readonly phone: string,
    readonly version: Jt808Version = '2013',
  ) {}
  frame(msgId: number, body: Uint8Array = new Uint8Array(0)): Buffer {
    return frameMessage(encodeMessage({ msgId, version: this.version, phone: this.phone, serial: this.serial++ }, body));
  }
  frames(msgId: number, body: Uint8Array): Buffer[] {
    return encodeFrames({ msgId, version: this.version, phone: this.phone }, body, () => this.serial++);
  }
}

function feed(h: Harness, session: Jt808Session, bytes: Uint8Array): { replies: Jt808Message[]; events: Jt808Event[] } {
  const out = session.feed(bytes);
  return { replies: record(h.written, session, out), events: out.events };
}

const registerBody = (layout: '2013' | '2019' = '2013') =>
  encodeRegister({ layout, provinceId: 44, cityId: 300, manufacturerId: 'CAMGT', model: 'SIM-1', terminalId: 'T000001', plateColor: 1, plate: '粤B12345' });

/** Register + authenticate; returns the session. */
function online(h: Harness, terminal: FakeTerminal, connectionId = 'c1'): Jt808Session {
  const session = h.server.open(connectionId);
  const reg = feed(h, session, terminal.frame(MsgId.Register, registerBody(terminal.version === '2019' ? '2019' : '2013')));
  const answer = decodeRegisterAnswer(reg.replies[0]!.body);
  feed(h, session, terminal.frame(MsgId.Authenticate, encodeAuthenticate({ authCode: answer.authCode!, imei: '860000000000001', softwareVersion: '1.0' }, terminal.version)));
  return session;
}

t.test('open mode: register → 0x8100 with a code, authenticate → 0x8001, heartbeat, location, logout', async (t) => {
  const h = harness();
  const terminal = new FakeTerminal('13800000001');
  const session = h.server.open('c1');

  const reg = feed(h, session, terminal.frame(MsgId.Register, registerBody()));
  t.equal(reg.replies.length, 1);
  t.match(reg.replies[0]!.header, { msgId: 0x8100, phone: '13800000001', version: '2013', serial: 0 });
  t.same(decodeRegisterAnswer(reg.replies[0]!.body), { answerSerial: 0, result: 0, authCode: 'code-13800000001' });
  t.match(reg.events, [{ type: 'registered', phone: '13800000001', authCode: 'code-13800000001', register: { plate: '粤B12345', model: 'SIM-1', layout: '2013' } }]);

  // Before authentication, a heartbeat is refused.
  const early = feed(h, session, terminal.frame(MsgId.Heartbeat));
  t.same(decodeGeneralAnswer(early.replies[0]!.body), { answerSerial: 1, answerId: 0x0002, result: 1 });
  t.same(early.events, []);

  const wrong = feed(h, session, terminal.frame(MsgId.Authenticate, encodeAuthenticate({ authCode: 'nope' }, '2013')));
  t.equal(decodeGeneralAnswer(wrong.replies[0]!.body).result, 1);
  t.match(wrong.events, [{ type: 'auth-failed', reason: 'wrong-code' }]);

  const auth = feed(h, session, terminal.frame(MsgId.Authenticate, encodeAuthenticate({ authCode: 'code-13800000001' }, '2013')));
  t.same(decodeGeneralAnswer(auth.replies[0]!.body), { answerSerial: 3, answerId: 0x0102, result: 0 });
  t.match(auth.events, [{ type: 'authenticated', phone: '13800000001', version: '2013' }]);
  t.equal(h.server.sessionOf('13800000001'), session);
  t.equal(auth.replies[0]!.header.serial, 3, 'platform serials count up per session');

  const hb = feed(h, session, terminal.frame(MsgId.Heartbeat));
  t.same(decodeGeneralAnswer(hb.replies[0]!.body), { answerSerial: 4, answerId: 0x0002, result: 0 });
  t.match(hb.events, [{ type: 'heartbeat' }]);

  const time = msToJt808Time(Date.UTC(2024, 0, 2, 3, 4, 5));
  const location = encodeLocation({
    alarm: (1 << 0) | (1 << 1),
    status: 0b1111,
    latitudeE6: 22_543_000,
    longitudeE6: 114_057_000,
    altitude: 35,
    speed: 605,
    direction: 270,
    time,
    items: [
      { id: 0x01, value: Uint8Array.of(0, 0, 0x30, 0x39) },
      { id: 0x14, value: Uint8Array.of(0, 0, 0, 1) },
      { id: 0x18, value: Uint8Array.of(0, 2, 7) },
    ],
  });
  const pos = feed(h, session, terminal.frame(MsgId.Location, location));
  t.same(decodeGeneralAnswer(pos.replies[0]!.body), { answerSerial: 5, answerId: 0x0200, result: 0 });
  t.match(pos.events, [
    {
      type: 'position',
      phone: '13800000001',
      latitude: -22.543,
      longitude: -114.057,
      speedKmh: 60.5,
      direction: 270,
      altitude: 35,
      timeMs: Date.UTC(2024, 0, 2, 3, 4, 5),
      alarms: ['emergency', 'overspeed'],
      accOn: true,
      positioned: true,
      extras: { mileageKm: 1234.5, videoAlarms: 1, abnormalDriving: { type: 2, fatigueLevel: 7 } },
    },
  ]);

  // A corrupt 0x0200 body: answered "message error", reported, session goes on.
  const bad = feed(h, session, terminal.frame(MsgId.Location, Uint8Array.of(1, 2, 3)));
  t.equal(decodeGeneralAnswer(bad.replies[0]!.body).result, 2);
  t.match(bad.events, [{ type: 'bad-message', msgId: 0x0200 }]);

  const bye = feed(h, session, terminal.frame(MsgId.Logout));
  t.equal(decodeGeneralAnswer(bye.replies[0]!.body).result, 0);
  t.match(bye.events, [{ type: 'logout' }, { type: 'offline', reason: 'logout' }]);
  t.equal(h.server.sessionOf('13800000001'), undefined);
  t.equal(h.server.stats.online, 0);
});

t.test('provisioned mode: unknown phone → 0x8100 result 4; known phone with a stored code authenticates directly', async (t) => {
  const issued: Array<[string, string]> = [];
  const h = harness({
    mode: 'provisioned',
    lookupTerminal: (phone) => (phone === '13800000002' ? { authCode: 'stored' } : phone === '13800000003' ? {} : undefined),
    onAuthCodeIssued: (phone, code) => issued.push([phone, code]),
  });
  const unknown = new FakeTerminal('13900000000');
  const s1 = h.server.open('u');
  const reg = feed(h, s1, unknown.frame(MsgId.Register, registerBody()));
  t.same(decodeRegisterAnswer(reg.replies[0]!.body), { answerSerial: 0, result: 4 });
  t.match(reg.events, [{ type: 'register-refused', result: 4 }]);
  const auth = feed(h, s1, unknown.frame(MsgId.Authenticate, encodeAuthenticate({ authCode: 'x' }, '2013')));
  t.match(auth.events, [{ type: 'auth-failed', reason: 'unknown-terminal' }]);

  const known = new FakeTerminal('13800000002');
  const s2 = h.server.open('k');
  const direct = feed(h, s2, known.frame(MsgId.Authenticate, encodeAuthenticate({ authCode: 'stored' }, '2013')));
  t.match(direct.events, [{ type: 'authenticated' }], 'stored code accepted without 0x0100');

  const fresh = new FakeTerminal('13800000003');
  online(h, fresh, 'f');
  t.same(issued, [['13800000003', 'code-13800000003']], 'issued code reported for storage');
  t.ok(h.server.sessionOf('13800000003'));
  t.equal(h.server.stats.registrationsRefused, 1);
});

t.test('too many failed authentications: disconnect', async (t) => {
  const h = harness({ session: { maxAuthFailures: 2 } });
  const terminal = new FakeTerminal('1');
  const session = h.server.open('c');
  feed(h, session, terminal.frame(MsgId.Register, registerBody()));
  feed(h, session, terminal.frame(MsgId.Authenticate, encodeAuthenticate({ authCode: 'a' }, '2013')));
  const second = feed(h, session, terminal.frame(MsgId.Authenticate, encodeAuthenticate({ authCode: 'b' }, '2013')));
  t.match(second.events, [{ type: 'auth-failed' }, { type: 'disconnect', reason: 'auth-failures' }]);
  t.same(session.feed(terminal.frame(MsgId.Heartbeat)), { replies: [], events: [] }, 'a closed session ignores input');
});

t.test('silence → offline and disconnect after offlineAfterMs; traffic keeps it alive', async (t) => {
  const h = harness({ session: { offlineAfterMs: 60_000 } });
  const terminal = new FakeTerminal('13800000004');
  const session = online(h, terminal);
  h.clock.advance(50_000);
  feed(h, session, terminal.frame(MsgId.Heartbeat));
  h.clock.advance(50_000);
  t.same(h.asyncEvents, [], 'heartbeat 50 s ago: still online');
  h.clock.advance(10_000);
  t.match(h.asyncEvents, [
    { type: 'offline', phone: '13800000004', reason: 'silence' },
    { type: 'disconnect', reason: 'silence' },
  ]);
  t.equal(h.server.sessionOf('13800000004'), undefined);
  t.equal(h.clock.pending, 0, 'no timer left behind');
});

t.test('a terminal sending only garbage is disconnected after maxBadFrames', async (t) => {
  const h = harness({ session: { maxBadFrames: 5 } });
  const session = h.server.open('g');
  let events: Jt808Event[] = [];
  for (let i = 0; i < 10 && !events.some((e) => e.type === 'disconnect'); i++) {
    events = feed(h, session, Buffer.from(`7e${'41'.repeat(20 + i)}7e`, 'hex')).events;
  }
  t.match(events, [{ type: 'bad-frame', reason: /checksum|length/, consecutive: 5 }, { type: 'disconnect', reason: 'bad-frames' }]);
  t.equal(session.stats.badFrames, 5);
  // Without any delimiter at all: the framer's size cap turns it into bad frames too.
  const s2 = h.server.open('g2');
  let disconnected = false;
  for (let i = 0; i < 50 && !disconnected; i++) disconnected = feed(h, s2, Buffer.alloc(1000, 0x41)).events.some((e) => e.type === 'disconnect');
  t.ok(disconnected, 'endless junk without 0x7e disconnected');
  t.ok(s2.framer.bufferedBytes <= 4096);
});

t.test('commands: 0x0001 matched by serial, 0x1003 to 0x9003, timeout, offline, close', async (t) => {
  const h = harness({ session: { commandTimeoutMs: 5000 } });
  const terminal = new FakeTerminal('13800000005');
  const session = online(h, terminal);
  const before = h.written.get(session)!.length;

  const realtime = h.server.command('13800000005', MsgId.RealtimeAvRequest, Uint8Array.of(9, ...Buffer.from('127.0.0.1'), 0x2e, 0xe1, 0, 0, 1, 0, 0));
  const control = session.controlAv({ channel: 1, command: 0, closeType: 0, streamType: 0 });
  const sent = h.written.get(session)!.slice(before);
  t.same(sent.map((m) => m.header.msgId), [0x9101, 0x9102], 'commands written through onOutput');
  const [req9101, req9102] = sent as [Jt808Message, Jt808Message];
  // Answer the second first: correlation is by serial, not order.
  feed(h, session, terminal.frame(MsgId.TerminalGeneralAnswer, encodeGeneralAnswer({ answerSerial: req9102.header.serial, answerId: 0x9102, result: 0 })));
  feed(h, session, terminal.frame(MsgId.TerminalGeneralAnswer, encodeGeneralAnswer({ answerSerial: req9101.header.serial, answerId: 0x9101, result: 3 })));
  t.same(await control, { msgId: 1, general: { answerSerial: req9102.header.serial, answerId: 0x9102, result: 0 } });
  t.match(await realtime, { msgId: 1, general: { result: 3 } });

  const attributes = session.queryAvAttributes();
  const avBody = { audioCodec: 6, audioChannels: 1, sampleRate: 0, sampleBits: 1, audioFrameLength: 320, audioOutput: 0, videoCodec: 98, maxAudioChannels: 8, maxVideoChannels: 8 };
  const reply = feed(h, session, terminal.frame(MsgId.AvAttributes, encodeAvAttributes(avBody)));
  t.same(reply.replies, [], '0x1003 is an answer: no 0x8001 for it');
  t.same(await attributes, avBody);

  // An unmatched 0x0001 is reported, not answered.
  const stray = feed(h, session, terminal.frame(MsgId.TerminalGeneralAnswer, encodeGeneralAnswer({ answerSerial: 999, answerId: 0x9101, result: 0 })));
  t.same(stray.replies, []);
  t.match(stray.events, [{ type: 'message', msgId: 1 }]);

  const lost = session.controlAv({ channel: 2, command: 0, closeType: 0, streamType: 0 });
  h.clock.advance(4999);
  t.equal(session.pendingCommands, 1);
  h.clock.advance(1);
  t.equal(await failure(lost), 'timeout');
  t.equal(session.stats.commandsTimedOut, 1);

  t.equal(await failure(h.server.command('13999999999', 0x9102, new Uint8Array(4))), 'offline');
  const pendingAtClose = session.controlAv({ channel: 3, command: 0, closeType: 0, streamType: 0 });
  const out = h.server.closeConnection(session);
  t.match(out.events, [{ type: 'offline', reason: 'closed' }]);
  t.equal(await failure(pendingAtClose), 'closed');
  t.equal(h.clock.pending, 0, 'no timer left behind');
});

t.test('2019 terminal: every answer in the 2019 form with its 20-digit phone', async (t) => {
  const h = harness();
  const terminal = new FakeTerminal('20232609559', '2019');
  const session = online(h, terminal);
  const hb = feed(h, session, terminal.frame(MsgId.Heartbeat));
  const all = h.written.get(session)!;
  t.ok(all.length >= 3);
  t.ok(all.every((m) => m.header.version === '2019' && m.header.protocolVersion === 1 && m.header.phone === '20232609559'), 'all 2019');
  t.equal(hb.replies[0]!.header.msgId, 0x8001);
  // The reply frame carries the BCD[10] phone.
  const raw = session.feed(terminal.frame(MsgId.Heartbeat)).replies[0]!;
  t.equal(Buffer.from(raw).subarray(6, 16).toString('hex'), '00000000020232609559');
  // Register body in the 2019 layout was decoded.
  t.match(h.written.get(session)![0]!.header, { msgId: 0x8100, version: '2019' });

  // Replaying the bundled 2019 session log's terminal frames: every one answered, in 2019.
  const h2 = harness({ makeAuthCode: () => '20232609559' });
  const logSession = h2.server.open('log');
  const logFrames = [...readFileSync(new URL('jt808指令.log', DIR), 'utf8').matchAll(/读到的报文[^[]*\[(7e[0-9a-f]+7e)\]/g)].map((m) => Buffer.from(m[1]!, 'hex'));
  t.ok(logFrames.length > 20);
  const events: Jt808Event[] = [];
  for (const f of logFrames) events.push(...feed(h2, logSession, f).events);
  t.match(events[0], { type: 'authenticated', phone: '20232609559', imei: 'imei000003', softwareVersion: '1.0.2' }, 'auth without prior 0x0100 (open mode accepts and remembers the code)');
  t.equal(events.filter((e) => e.type === 'position').length, logFrames.filter((f) => f[1] === 0x02 && f[2] === 0x00).length);
  t.ok(h2.written.get(logSession)!.every((m) => m.header.version === '2019'));
});

t.test('0x9205 answered by a sub-packaged 0x1205 with packets missing: 0x8003 asks for them, the list completes', async (t) => {
  const h = harness({ session: { reassembly: { missingAfterMs: 2000 } } });
  const terminal = new FakeTerminal('17299841738');
  const session = online(h, terminal);
  const before = h.written.get(session)!.length;
  const list = session.queryRecords({ channel: 0, start: '200717000000', end: '200718000000', alarmFlags: { videoAlarms: 0, alarms: 0 }, mediaType: 0, streamType: 0, storageType: 0 });
  const query = h.written.get(session)![before]!;
  t.equal(query.header.msgId, 0x9205);
  const items = Array.from({ length: 100 }, (_, i) => ({
    channel: 1 + (i % 4),
    start: '200717000000',
    end: '200717000035',
    alarmFlags: { videoAlarms: 0, alarms: i },
    mediaType: 0,
    streamType: 1,
    storageType: 1,
    fileSize: 1000 + i,
  }));
  const frames = terminal.frames(MsgId.RecordList, encodeRecordList({ answerSerial: query.header.serial, items }));
  t.equal(frames.length, 3, '2806 bytes → 3 sub-packages');
  const first = feed(h, session, Buffer.concat([frames[0]!, frames[2]!]));
  t.same(first.replies, [], 'sub-packages are not answered one by one');
  h.clock.advance(2000);
  const resend = h.asyncEvents.find((e) => e.type === 'resend-requested');
  t.match(resend, { msgId: 0x1205, missing: [2] });
  const request = h.written.get(session)!.at(-1)!;
  t.equal(request.header.msgId, 0x8003);
  t.same(decodeResendRequest(request.body, '2013'), { originalSerial: decodeFrameSerial(frames[0]!), packetIds: [2] });
  feed(h, session, frames[1]!);
  const got = await list;
  t.equal(got.items.length, 100);
  t.same(got.items[99], items[99]);
});

/** The Jt808CommandError reason a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return error instanceof Jt808CommandError ? error.reason : String(error);
  }
}

function decodeFrameSerial(frame: Uint8Array): number {
  const r = decodeFrame(frame);
  if (r.kind !== 'message') throw new Error('bad');
  return r.message.header.serial;
}

t.test('the same terminal connecting again replaces the older session', async (t) => {
  const h = harness();
  const terminal = new FakeTerminal('13800000006');
  const first = online(h, terminal, 'old');
  const pending = first.controlAv({ channel: 1, command: 0, closeType: 0, streamType: 0 });
  const second = online(h, terminal, 'new');
  t.equal(h.server.sessionOf('13800000006'), second);
  t.match(h.asyncEvents, [
    { type: 'offline', connectionId: 'old', reason: 'replaced' },
    { type: 'disconnect', connectionId: 'old', reason: 'replaced' },
  ]);
  t.equal(await failure(pending), 'closed');
  t.equal(h.server.stats.online, 1);
  t.equal(h.server.connections, 1);
});
