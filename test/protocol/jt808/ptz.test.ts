/** GB28181 PTZCmd → JT/T 1078 0x9301/0x9302/0x9303/0x9306 (src/protocol/jt808/ptz.ts). */
import t from 'tap';
import fc from 'fast-check';
import { PTZ_STOP, decodePtzCmd, encodePtzCmd, type PtzCommand } from '../../../src/protocol/gb28181/index.js';
import { ptzToJt1078 } from '../../../src/protocol/jt808/index.js';

const hex = (m: { msgId: number; body: Uint8Array }) => `${m.msgId.toString(16)}:${Buffer.from(m.body).toString('hex')}`;

t.test('moves, zoom, focus, iris and stop', async (t) => {
  const motion = (pan: -1 | 0 | 1, tilt: -1 | 0 | 1, zoom: -1 | 0 | 1): PtzCommand => ({ kind: 'ptz', pan, tilt, zoom, panSpeed: 100, tiltSpeed: 50, zoomSpeed: 4 });
  t.same(ptzToJt1078(2, motion(-1, 0, 0)).map(hex), ['9301:020364'], 'left at the pan speed');
  t.same(ptzToJt1078(2, motion(1, 1, 0)).map(hex), ['9301:020464'], 'a diagonal: pan wins');
  t.same(ptzToJt1078(2, motion(0, 1, 0)).map(hex), ['9301:020132'], 'up at the tilt speed');
  t.same(ptzToJt1078(2, motion(0, -1, -1)).map(hex), ['9301:020232', '9306:0201'], 'down and zoom out');
  t.same(ptzToJt1078(1, PTZ_STOP).map(hex), ['9301:010000'], 'stop');
  t.same(ptzToJt1078(1, { kind: 'fi', focus: -1, iris: 1, focusSpeed: 9, irisSpeed: 9 }).map(hex), ['9302:0101', '9303:0100'], 'focus near, iris open');
  t.same(ptzToJt1078(1, { kind: 'preset', action: 'call', preset: 3 }), [], 'presets have no JT/T 1078 form');
});

t.test('every decodable PTZCmd maps to well-formed messages for its channel', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.constantFrom(-1, 0, 1), fc.constantFrom(-1, 0, 1), fc.constantFrom(-1, 0, 1), fc.integer({ min: 0, max: 255 }), (channel, pan, tilt, zoom, speed) => {
      const cmd = encodePtzCmd({ kind: 'ptz', pan: pan as -1 | 0 | 1, tilt: tilt as -1 | 0 | 1, zoom: zoom as -1 | 0 | 1, panSpeed: speed, tiltSpeed: speed, zoomSpeed: 3 });
      const decoded = decodePtzCmd(cmd);
      if (!decoded.ok) return false;
      const messages = ptzToJt1078(channel, decoded.command);
      return messages.length >= 1 && messages.every((m) => m.body[0] === channel && m.msgId >= 0x9301 && m.msgId <= 0x9306 && m.body.length >= 2);
    }),
  );
  t.pass();
});
