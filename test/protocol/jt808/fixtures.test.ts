/**
 * Every JT/T 808 frame in ../shared/testdata/jt1078/jt808/ through the codec: framing,
 * headers (2013 and 2019), bodies, and the sub-package reassembly with its re-send cycle.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import {
  decodeAuthenticate,
  decodeAvAttributes,
  decodeFrame,
  decodeGeneralAnswer,
  decodeLocation,
  decodeLocationExtras,
  decodeRecordList,
  decodeRegisterAnswer,
  encodeAuthenticate,
  encodeGeneralAnswer,
  encodeLocation,
  encodeMessage,
  encodeRecordList,
  encodeRegisterAnswer,
  frameMessage,
  jt808TimeToMs,
  Jt808Framer,
  Jt808Reassembler,
  locationDegrees,
  alarmNames,
  type Jt808Message,
} from '../../../src/protocol/jt808/index.js';

const DIR = new URL('../../../../shared/testdata/jt1078/jt808/', import.meta.url);
const text = (name: string) => readFileSync(new URL(name, DIR), 'utf8');
/** Every `7e…7e` hex run in a file. */
function framesIn(name: string): Buffer[] {
  return [...text(name).matchAll(/7e[0-9a-f]+?7e(?=\]|\s|$)/g)].map((m) => Buffer.from(m[0], 'hex'));
}
function messagesIn(name: string): Jt808Message[] {
  const framer = new Jt808Framer();
  const out: Jt808Message[] = [];
  for (const frame of framesIn(name)) {
    for (const r of framer.push(frame)) {
      if (r.kind !== 'message') throw new Error(`${name}: bad frame (${r.reason})`);
      out.push(r.message);
    }
  }
  t.equal(framer.counters.badFrames, 0, `${name}: no bad frame`);
  return out;
}

let completeBody: Buffer | undefined;

t.test('0x1205 complete: 18 sub-packages reassemble to 180 items; re-encoding gives the same frames', async (t) => {
  const frames = framesIn('0x1205.txt');
  const messages = messagesIn('0x1205.txt');
  t.equal(messages.length, 18);
  messages.forEach((m, i) => {
    t.match(m.header, { msgId: 0x1205, version: '2013', phone: '17299841738', serial: 17148 + i, packet: { total: 18, index: i + 1 } });
    // Encoding the decoded header and body gives the captured frame byte for byte.
    t.same(frameMessage(encodeMessage(m.header, m.body)), frames[i], `frame ${i + 1} re-encodes identically`);
  });
  const reassembler = new Jt808Reassembler();
  const shuffled = [...messages].reverse();
  const results = shuffled.map((m) => reassembler.push(m, 0));
  const last = results[results.length - 1]!;
  t.equal(last.kind, 'complete', 'complete in reverse order too');
  if (last.kind !== 'complete') return;
  t.equal(last.message.header.serial, 17148, 'message named by its first serial');
  t.equal(last.message.header.packet, undefined);
  // 0x1205_src.txt is not this list (it matches 0x1205_dst.txt; its items 80+ differ), so
  // the check here is the layout: 6 + 180 × 28 bytes, every item well-formed, in order.
  const src = Buffer.from(last.message.body);
  t.equal(src.length, 6 + 180 * 28);
  completeBody = src;
  const list = decodeRecordList(last.message.body);
  t.equal(list.answerSerial, 2);
  t.equal(list.items.length, 180);
  t.match(list.items[0], { channel: 1, start: '200717000000', end: '200717000035', mediaType: 0, streamType: 1, storageType: 1, fileSize: 0x02268594 });
  t.equal(jt808TimeToMs(list.items[0]!.start), Date.UTC(2020, 6, 16, 16, 0, 0), 'GMT+8 time');
  t.same(encodeRecordList(list), src, 'record list re-encodes identically');
  t.ok(list.items.every((item) => item.channel >= 1 && item.channel <= 5 && jt808TimeToMs(item.start)! <= jt808TimeToMs(item.end)!), 'items well-formed');
  t.equal(reassembler.open, 0);
  t.equal(reassembler.bufferedBytes, 0);
});

t.test('0x1205_dst: the same list as 2019 sub-packages', async (t) => {
  const messages = messagesIn('0x1205_dst.txt');
  t.equal(messages.length, 6);
  const reassembler = new Jt808Reassembler();
  let done: Jt808Message | undefined;
  for (const m of messages) {
    t.match(m.header, { version: '2019', protocolVersion: 1, phone: '17299841738', packet: { total: 6 } });
    const r = reassembler.push(m, 0);
    if (r.kind === 'complete') done = r.message;
  }
  t.ok(done);
  t.same(Buffer.from(done!.body), Buffer.from(text('0x1205_src.txt').trim(), 'hex'));
  t.equal(decodeRecordList(done!.body).items.length, 180);
});

t.test('missing packets: the reassembler asks for exactly 7, 8 and 16; the re-sent ones complete the list', async (t) => {
  const partial = messagesIn('0x1205缺失.txt');
  t.equal(partial.length, 15);
  const resent = messagesIn('0x1205缺失补传.txt');
  t.same(resent.map((m) => m.header.packet?.index), [7, 8, 16]);
  const reassembler = new Jt808Reassembler({ missingAfterMs: 3000, deadlineMs: 30_000 });
  let now = 1000;
  for (const m of partial) t.equal(reassembler.push(m, (now += 10)).kind, 'pending');
  const quietFrom = now;
  t.equal(reassembler.nextWakeAt(), quietFrom + 3000);
  t.same(reassembler.poll(quietFrom + 2999), { resend: [], dropped: [] }, 'nothing before the wait');
  const { resend } = reassembler.poll(quietFrom + 3000);
  t.equal(resend.length, 1);
  t.match(resend[0], { phone: '17299841738', msgId: 0x1205, firstSerial: 17148, version: '2013', attempt: 1 });
  t.same(resend[0]!.missing, [7, 8, 16]);
  now = quietFrom + 3100;
  let complete: Jt808Message | undefined;
  for (const m of resent) {
    const r = reassembler.push(m, (now += 10));
    if (r.kind === 'complete') complete = r.message;
  }
  t.ok(complete, 'complete after the re-sent packets');
  t.equal(decodeRecordList(complete!.body).items.length, 180);
  t.same(Buffer.from(complete!.body), completeBody, 'the same list as the complete capture');
});

t.test('missing packets never re-sent: requests repeat, then the set is dropped at the deadline', async (t) => {
  const reassembler = new Jt808Reassembler({ missingAfterMs: 1000, deadlineMs: 10_000, maxResendRequests: 2 });
  for (const m of messagesIn('0x1205缺失.txt')) reassembler.push(m, 0);
  t.equal(reassembler.poll(1000).resend.length, 1);
  t.equal(reassembler.poll(1500).resend.length, 0);
  t.match(reassembler.poll(2000).resend, [{ attempt: 2, missing: [7, 8, 16] }]);
  t.equal(reassembler.poll(5000).resend.length, 0, 'no more than maxResendRequests');
  t.equal(reassembler.nextWakeAt(), 10_000);
  t.match(reassembler.poll(10_000).dropped, [{ reason: 'deadline', received: 15, total: 18 }]);
  t.equal(reassembler.open, 0);
  t.equal(reassembler.bufferedBytes, 0);
});

t.test('session log (2019 header): every frame decodes; bodies re-encode identically', async (t) => {
  const frames = framesIn('jt808指令.log');
  t.ok(frames.length >= 60, `${frames.length} frames`);
  const framer = new Jt808Framer();
  const seen = new Set<number>();
  for (const frame of frames) {
    const [r] = framer.push(frame);
    t.equal(r?.kind, 'message');
    if (r?.kind !== 'message') continue;
    const { header, body } = r.message;
    seen.add(header.msgId);
    t.equal(header.version, '2019');
    t.equal(header.phone, '20232609559');
    t.same(frameMessage(encodeMessage(header, body)), frame, `0x${header.msgId.toString(16)} frame re-encodes`);
    switch (header.msgId) {
      case 0x8100: {
        const a = decodeRegisterAnswer(body);
        t.same(a, { answerSerial: 0x01a2, result: 0, authCode: '20232609559' });
        t.same(encodeRegisterAnswer(a), Buffer.from(body));
        break;
      }
      case 0x0102: {
        const a = decodeAuthenticate(body, '2019');
        t.same(a, { authCode: '20232609559', imei: 'imei000003', softwareVersion: '1.0.2' });
        t.same(encodeAuthenticate(a, '2019'), Buffer.from(body));
        break;
      }
      case 0x8001:
      case 0x0001: {
        const a = decodeGeneralAnswer(body);
        t.same(encodeGeneralAnswer(a), Buffer.from(body));
        break;
      }
      case 0x0200: {
        const loc = decodeLocation(body);
        t.same(encodeLocation(loc), Buffer.from(body));
        const deg = locationDegrees(loc);
        t.ok(Math.abs(deg.latitude - 31.446) < 0.01 && Math.abs(deg.longitude - 121.46) < 0.01, `position ${deg.latitude},${deg.longitude}`);
        t.ok(jt808TimeToMs(loc.time)! > Date.UTC(2024, 10, 28), 'time 2024-11-28');
        const extras = decodeLocationExtras(loc.items);
        t.ok(extras.mileageKm !== undefined && extras.satellites !== undefined);
        t.ok(alarmNames(loc.alarm).every((n) => typeof n === 'string'));
        break;
      }
    }
  }
  t.ok([0x8100, 0x0102, 0x8001, 0x0002, 0x0200, 0x0001, 0x9208].every((id) => seen.has(id)), 'all message kinds seen');
  t.equal(framer.counters.badFrames, 0);
});

t.test('README 0x9003/0x1003 exchange', async (t) => {
  const q = decodeFrame(Buffer.from('7e900300000000000100880c796f7e', 'hex'));
  t.match(q, { kind: 'message', message: { header: { msgId: 0x9003, phone: '10088', serial: 0x0c79 } } });
  const a = decodeFrame(Buffer.from('7e1003000a0000000100884e0406010001014000620808ff7e', 'hex'));
  t.equal(a.kind, 'message');
  if (a.kind !== 'message') return;
  t.same(decodeAvAttributes(a.message.body), {
    audioCodec: 6,
    audioChannels: 1,
    sampleRate: 0,
    sampleBits: 1,
    audioFrameLength: 320,
    audioOutput: 0,
    videoCodec: 98,
    maxAudioChannels: 8,
    maxVideoChannels: 8,
  });
});
