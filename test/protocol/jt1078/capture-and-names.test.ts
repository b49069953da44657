import t from 'tap';
import { readFileSync } from 'node:fs';
import {
  decodeCapture,
  jt1078RetryStreamName,
  jt1078StreamName,
  JT1078_PLAYBACK_PREFIX,
  JT1078_REALTIME_PREFIX,
  loadCapture,
  loadCaptureSync,
  normalizeSim,
} from '../../../src/protocol/jt1078/index.js';
import { TESTDATA } from './fixtures/helpers.js';

t.test('capture formats of SOURCES.md', async (t) => {
  const hex = loadCaptureSync(new URL('data.txt', TESTDATA));
  t.equal(hex.format, 'hex');
  t.equal(hex.bytes.length, 262_643);
  t.equal(hex.bytes.toString('latin1', 0, 4), '01cd');

  const audio = await loadCapture(new URL('audio_data.txt', TESTDATA));
  t.equal(audio.format, 'hex');
  t.equal(audio.bytes.length, 303_706);

  const csvBom = loadCaptureSync(new URL('jt1078_1.txt', TESTDATA));
  t.equal(csvBom.format, 'csv', 'CSV with BOM');
  t.equal(csvBom.records.length, 8);
  t.same(csvBom.records[0]!.fields.slice(0, 4), ['20190827032018', '012345678999', '0', '1']);
  t.equal(csvBom.records[0]!.offset, 0);
  t.equal(csvBom.records[1]!.offset, csvBom.records[0]!.length);

  const csv = loadCaptureSync(new URL('JT1078_2.txt', TESTDATA));
  t.equal(csv.format, 'csv');
  t.equal(csv.records.length, 314);
  t.ok(csv.bytes.subarray(0, csvBom.bytes.length).equals(csvBom.bytes), 'jt1078_1 is the first 8 lines of JT1078_2');
  t.ok(csv.records.every((r) => csv.bytes.toString('latin1', r.offset, r.offset + 4) === '01cd'), 'one packet per record');

  const g711 = loadCaptureSync(new URL('g711a.txt', TESTDATA));
  t.equal(g711.format, 'labelled-hex');
  t.equal(g711.records.length, 7);
  t.ok(g711.records.every((r) => r.length === 160));
  t.equal(g711.bytes.length, 7 * 160);

  const g726Path = new URL('in_16.g726', TESTDATA);
  const g726 = loadCaptureSync(g726Path);
  t.equal(g726.format, 'binary');
  t.ok(g726.bytes.equals(readFileSync(g726Path)));
});

t.test('decodeCapture edge cases', async (t) => {
  t.same(decodeCapture(Buffer.from('30 31\n63 64\r\n')).bytes, Buffer.from('01cd'), 'whitespace and newlines in hex');
  t.equal(decodeCapture(Buffer.from('303163')).format, 'hex');
  t.throws(() => decodeCapture(Buffer.from('303')), /odd number/);
  t.throws(() => decodeCapture(Buffer.from('a,b,30z1\n')), /non-hex/);
  t.equal(decodeCapture(Buffer.alloc(0)).format, 'binary');
  t.equal(decodeCapture(Buffer.from([0x30, 0x31, 0x63, 0x64, 0x81, 0x00])).format, 'binary', 'control bytes → binary');
  t.equal(decodeCapture(Buffer.from('just some words\n')).format, 'binary', 'text without hex is left alone');
});

t.test('stream names (jt1078.md §3.3)', async (t) => {
  t.equal(JT1078_REALTIME_PREFIX, 'live/jt1078');
  t.equal(JT1078_PLAYBACK_PREFIX, 'live/jt1079');
  t.equal(jt1078StreamName('295696659617', 1), 'live/jt1078-295696659617-1');
  t.equal(jt1078StreamName('156987000796', 1, JT1078_PLAYBACK_PREFIX), 'live/jt1079-156987000796-1');
  t.equal(normalizeSim('013800138000'), '13800138000');
  t.equal(normalizeSim('000000010088'), '10088');
  t.equal(normalizeSim('00000000017299841738'), '17299841738', '2019 SIM');
  t.equal(normalizeSim('000000000000'), '0');
  t.equal(jt1078StreamName('012345678999', 12), 'live/jt1078-12345678999-12');
  t.equal(jt1078RetryStreamName('live/jt1078-1-1', 1720000000123.7), 'live/jt1078-1-1-1720000000123');
});
