import t from 'tap';
import fc from 'fast-check';
import { buildMansrtsp, parseMansrtsp, type PlaybackAction } from '../../../src/protocol/gb28181/index.js';

t.test('the bodies wvp and m7s send, byte for byte', async (t) => {
  t.equal(buildMansrtsp({ action: 'pause' }, 1), 'PAUSE RTSP/1.0\r\nCSeq: 1\r\nPauseTime: now\r\n');
  t.equal(buildMansrtsp({ action: 'resume' }, 2), 'PLAY RTSP/1.0\r\nCSeq: 2\r\nRange: npt=now-\r\n');
  t.equal(buildMansrtsp({ action: 'seek', position: 120 }, 3), 'PLAY RTSP/1.0\r\nCSeq: 3\r\nRange: npt=120-\r\n');
  t.equal(buildMansrtsp({ action: 'seek', position: 1.5 }, 3), 'PLAY RTSP/1.0\r\nCSeq: 3\r\nRange: npt=1.5-\r\n');
  t.equal(buildMansrtsp({ action: 'speed', scale: 2 }, 4), 'PLAY RTSP/1.0\r\nCSeq: 4\r\nScale: 2.0\r\n');
  t.equal(buildMansrtsp({ action: 'speed', scale: 0.5 }, 5), 'PLAY RTSP/1.0\r\nCSeq: 5\r\nScale: 0.5\r\n');
  t.equal(buildMansrtsp({ action: 'teardown' }, 6), 'TEARDOWN RTSP/1.0\r\nCSeq: 6\r\n');
  t.throws(() => buildMansrtsp({ action: 'speed', scale: 8 }, 1), RangeError);
  t.throws(() => buildMansrtsp({ action: 'speed', scale: 0 }, 1), RangeError);
  t.throws(() => buildMansrtsp({ action: 'seek', position: -1 }, 1), RangeError);
  t.throws(() => buildMansrtsp({ action: 'pause' }, 0), RangeError);
});

t.test('parse: the standard spelling, bare LF, and refusals', async (t) => {
  t.match(parseMansrtsp('PLAY MANSRTSP/1.0\nCSeq: 9\nRange: npt=30-60\n'), { ok: true, request: { method: 'PLAY', cseq: 9, rangeStart: 30 }, action: { action: 'seek', position: 30 } });
  t.match(parseMansrtsp(Buffer.from('PAUSE RTSP/1.0\r\nCSeq: 1\r\nPauseTime: now\r\n')), { ok: true, action: { action: 'pause' }, request: { pauseTime: 'now' } });
  t.match(parseMansrtsp('PLAY RTSP/1.0\r\nCSeq: 2\r\n'), { ok: true, action: undefined });
  t.match(parseMansrtsp('GET / HTTP/1.1\r\n'), { ok: false });
  t.match(parseMansrtsp('PLAY RTSP/1.0\r\nRange: npt=now-\r\n'), { ok: false, reason: /CSeq/ });
  t.match(parseMansrtsp('PLAY RTSP/1.0\r\nCSeq: 1\r\nScale: fast\r\n'), { ok: false, reason: /Scale/ });
  t.match(parseMansrtsp('PLAY RTSP/1.0\r\nCSeq: 1\r\nRange: clock=x\r\n'), { ok: false, reason: /Range/ });
});

const action: fc.Arbitrary<PlaybackAction> = fc.oneof(
  fc.constant({ action: 'pause' as const }),
  fc.constant({ action: 'resume' as const }),
  fc.constant({ action: 'teardown' as const }),
  fc.integer({ min: 0, max: 86_400 * 2 }).map((position) => ({ action: 'seek' as const, position })),
  fc.constantFrom(0.25, 0.5, 1, 1.5, 2, 4).map((scale) => ({ action: 'speed' as const, scale })),
);

t.test('property: every action round-trips; random text never throws', async (t) => {
  fc.assert(
    fc.property(action, fc.integer({ min: 1, max: 1e9 }), (a, cseq) => {
      const r = parseMansrtsp(buildMansrtsp(a, cseq));
      return r.ok && r.request.cseq === cseq && JSON.stringify(r.action) === JSON.stringify(a);
    }),
    { numRuns: 2000 },
  );
  const lines = fc.array(fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('CSeq: 1', 'Range: npt=now-', 'Scale: 2', 'PLAY RTSP/1.0', 'PauseTime: now', 'Range: npt=-')), { maxLength: 6 });
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 200 }), lines.map((l) => l.join('\r\n')), fc.uint8Array({ maxLength: 200 })), (input) => {
      const r = parseMansrtsp(input);
      return r.ok ? Number.isSafeInteger(r.request.cseq) : typeof r.reason === 'string';
    }),
    { numRuns: 3000 },
  );
  t.pass();
});
