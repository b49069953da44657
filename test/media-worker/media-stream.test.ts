import t, { type Test } from 'tap';
import { pino } from 'pino';
import { MediaStream, type ViewerPort } from '../../src/media-worker/media-stream.js';
import { StreamOutputs } from '../../src/media-worker/rtp-output.js';
import { MEDIA_COUNTER_NAMES } from '../../src/shared/contracts/media-counters.js';
import { SharedCounters } from '../../src/shared/counters.js';
import type { AvFrame } from '../../src/protocol/av/frame.js';

const log = pino({ level: 'silent' });
const frame: AvFrame = { kind: 'video', codec: 'h264', key: true, pts: 0, dts: 0, data: new Uint8Array([0, 0, 0, 1, 0x65, 1, 2, 3]) };

function setup(_t: Test) {
  const order: string[] = [];
  const outputs = new StreamOutputs('live/x', [], null, SharedCounters.create(MEDIA_COUNTER_NAMES));
  const close = outputs.close.bind(outputs);
  outputs.close = () => {
    order.push('outputs');
    close();
  };
  const pushed: string[] = [];
  const viewers: ViewerPort = {
    open: (name) => {
      order.push(`viewers.open ${name}`);
      return { push: () => pushed.push(name), framesWanted: true, onWant: null, countBytes: () => {}, close: (reason) => order.push(`viewers.close ${name} ${reason}`) };
    },
  };
  const source = { close: (reason: string) => order.push(`source ${reason}`) };
  const stream = new MediaStream({ info: { name: 'live/x', kind: 'realtime', slot: 0, connId: 1, startedAt: 0 }, outputs, viewers, source, log });
  return { stream, order, pushed };
}

t.test('close cascades: outputs, viewers, source, then one close event', async (t) => {
  const { stream, order, pushed } = setup(t);
  const reasons: string[] = [];
  stream.on('close', (reason) => reasons.push(reason));
  t.same(order, ['viewers.open live/x'], 'viewers may wait for the stream from its creation');
  stream.started({ startedAt: 5 });
  stream.write(frame);
  t.same(pushed, ['live/x']);
  stream.close('closed by request');
  stream.close('again');
  t.same(order, ['viewers.open live/x', 'outputs', 'viewers.close live/x closed by request', 'source closed by request']);
  t.same(reasons, ['closed by request'], 'one close, with the first reason');
  t.ok(stream.closed);
  stream.write(frame);
  t.same(pushed, ['live/x'], 'a closed stream writes nothing');
  t.equal(stream.info.startedAt, 5);
});

t.test('a source that ended by itself is not closed again', async (t) => {
  const { stream, order } = setup(t);
  const reasons: string[] = [];
  stream.on('close', (reason) => reasons.push(reason));
  stream.sourceClosed('media timeout');
  t.same(order, ['viewers.open live/x', 'outputs', 'viewers.close live/x media timeout'], 'outputs and viewers closed; source not called back');
  t.same(reasons, ['media timeout']);
});
