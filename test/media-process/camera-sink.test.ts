/**
 * CameraSink, the camera end of a voice broadcast, over real sockets: tcp-passive (the camera
 * connects to the port our SDP names, possibly late: audio before is dropped, not queued),
 * its connection closing ends the broadcast, tcp-active towards a closed port is a 502.
 */
import t from 'tap';
import { connect } from 'node:net';
import { CameraSink } from '../../src/media-process/intercom/camera-sink.js';
import { freePort } from '../helpers/ports.js';
import { parseRtp, type RtpRecord } from '../helpers/rtp-sink.js';
import { ServiceError } from '../../src/shared/errors.js';

const target = { id: 'b1', host: '127.0.0.1', port: 9, transport: 'tcp-passive' as const, carriage: 'raw' as const, payloadType: 8, ssrc: 42 };

t.test('tcp-passive: the camera connects late; then RFC 4571 framed PT 8 with its SSRC; its close ends the broadcast', async (t) => {
  const gone: string[] = [];
  const sink = new CameraSink(target, { bindHost: '127.0.0.1', onGone: (reason) => gone.push(reason) });
  t.teardown(() => sink.close());
  const port = await sink.open();
  t.ok(port > 0, `listening on ${port}`);
  t.equal(sink.write(Buffer.alloc(160, 1)), 'not-connected', 'before the camera connects: dropped');
  const packets: RtpRecord[] = [];
  const camera = connect({ host: '127.0.0.1', port });
  let buffer = Buffer.alloc(0);
  camera.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 2 && buffer.length >= 2 + buffer.readUInt16BE(0)) {
      packets.push(parseRtp(buffer.subarray(2, 2 + buffer.readUInt16BE(0))));
      buffer = buffer.subarray(2 + buffer.readUInt16BE(0));
    }
  });
  await new Promise((r) => camera.once('connect', r));
  await new Promise((r) => setTimeout(r, 50));
  for (let i = 0; i < 5; i++) t.equal(sink.write(Buffer.alloc(160, i)), 'ok');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(packets.length, 5, 'five packets');
  t.same(packets.map((p) => [p.payloadType, p.ssrc, p.payload.length, p.payload[0]]), [0, 1, 2, 3, 4].map((i) => [8, 42, 160, i]));
  t.same(packets.map((p) => p.timestamp - packets[0]!.timestamp), [0, 160, 320, 480, 640], 'the first written payload starts the timeline');
  camera.destroy();
  await new Promise((r) => setTimeout(r, 100));
  t.same(gone, ['the camera closed the media connection']);
});

t.test('tcp-active to a port nobody listens on: 502 naming the address', async (t) => {
  const port = await freePort();
  const sink = new CameraSink({ ...target, transport: 'tcp-active', port }, { bindHost: '127.0.0.1', onGone: () => undefined });
  const error = await sink.open().then(() => undefined, (e: unknown) => e);
  t.ok(error instanceof ServiceError && error.status === 502, String(error));
  t.match(String(error), new RegExp(`127\\.0\\.0\\.1:${port}`));
});
