import t from 'tap';
import fc from 'fast-check';
import { PTZ_STOP, decodePtzCmd, encodePtzBytes, encodePtzCmd, ptzCommandBytes, type PtzCommand } from '../../../src/protocol/gb28181/index.js';

/** Builds the 16 hex chars from the Annex A.3 rules by hand: header, version/check, address, …, checksum. */
function byHand(address: number, instruction: number, data1: number, data2: number, zoomSpeed: number): string {
  const b = [0xa5, (0 << 4) | ((0xa + 0x5 + 0) % 16), address & 0xff, instruction, data1, data2, (zoomSpeed << 4) | (address >> 8)];
  b.push(b.reduce((a, x) => a + x, 0) % 256);
  return b.map((x) => x.toString(16).padStart(2, '0')).join('').toUpperCase();
}

t.test('test vectors computed from the spec rules', async (t) => {
  // Right, pan speed 0x20: A5 0F 01 01 20 00 00, sum = 0xD6.
  t.equal(byHand(1, 0x01, 0x20, 0, 0), 'A50F0101200000D6');
  t.equal(encodePtzCmd({ kind: 'ptz', pan: 1, tilt: 0, zoom: 0, panSpeed: 0x20, tiltSpeed: 0, zoomSpeed: 0 }, 1), 'A50F0101200000D6');
  // The public sample "up, speeds 30/30, zoom speed 1": 0xA5+0x0F+0x01+0x08+0x1E+0x1E+0x10 = 0x109 → 0x09.
  t.equal(encodePtzCmd({ kind: 'ptz', pan: 0, tilt: 1, zoom: 0, panSpeed: 30, tiltSpeed: 30, zoomSpeed: 1 }, 1), 'A50F01081E1E1009');
  // Left + down + zoom out: bits 1, 2, 5 = 0x26.
  t.equal(encodePtzCmd({ kind: 'ptz', pan: -1, tilt: -1, zoom: -1, panSpeed: 0x80, tiltSpeed: 0x40, zoomSpeed: 0xf }, 1), byHand(1, 0x26, 0x80, 0x40, 0xf));
  // Up-right + zoom in: bits 0, 3, 4 = 0x19.
  t.equal(encodePtzCmd({ kind: 'ptz', pan: 1, tilt: 1, zoom: 1, panSpeed: 255, tiltSpeed: 255, zoomSpeed: 15 }, 1), byHand(1, 0x19, 255, 255, 15));
  // Stop.
  t.equal(encodePtzCmd(PTZ_STOP, 1), 'A50F0100000000B5');
  // A 12-bit address: 0x123 → byte 3 = 0x23, byte 7 low nibble = 1.
  t.equal(encodePtzCmd({ kind: 'ptz', pan: 0, tilt: 0, zoom: 1, panSpeed: 0, tiltSpeed: 0, zoomSpeed: 5 }, 0x123), byHand(0x123, 0x10, 0, 0, 5));
  t.equal(encodePtzCmd({ kind: 'ptz', pan: 0, tilt: 0, zoom: 1, panSpeed: 0, tiltSpeed: 0, zoomSpeed: 5 }, 0x123).slice(12, 14), '51');
  // Presets: call 3 = A5 0F 01 82 00 03 00, sum 0x13A → 0x3A.
  t.equal(encodePtzCmd({ kind: 'preset', action: 'call', preset: 3 }, 1), 'A50F018200030' + '03A');
  t.equal(encodePtzCmd({ kind: 'preset', action: 'set', preset: 255 }, 1), byHand(1, 0x81, 0, 255, 0));
  t.equal(encodePtzCmd({ kind: 'preset', action: 'delete', preset: 1 }, 1), byHand(1, 0x83, 0, 1, 0));
  // Focus far 0x41 (data 1 = focus speed), iris open 0x44 (data 2 = iris speed), iris close 0x48, focus near 0x42.
  t.equal(encodePtzCmd({ kind: 'fi', focus: 1, iris: 0, focusSpeed: 0x10, irisSpeed: 0 }, 1), byHand(1, 0x41, 0x10, 0, 0));
  t.equal(encodePtzCmd({ kind: 'fi', focus: 0, iris: 1, focusSpeed: 0, irisSpeed: 0x30 }, 1), byHand(1, 0x44, 0, 0x30, 0));
  t.equal(encodePtzCmd({ kind: 'fi', focus: -1, iris: -1, focusSpeed: 1, irisSpeed: 2 }, 1), byHand(1, 0x4a, 1, 2, 0));
  t.equal(encodePtzCmd({ kind: 'fi', focus: 0, iris: 0, focusSpeed: 0, irisSpeed: 0 }, 1), byHand(1, 0x40, 0, 0, 0));
});

t.test('decode: vectors, and what is refused', async (t) => {
  t.match(decodePtzCmd('A50F01081E1E1009'), { ok: true, bytes: { version: 0, address: 1, instruction: 8, data1: 30, data2: 30, data3: 1 }, command: { kind: 'ptz', pan: 0, tilt: 1, zoom: 0 } });
  t.match(decodePtzCmd('a50f018200030 03a'.replace(' ', '')), { ok: true, command: { kind: 'preset', action: 'call', preset: 3 } });
  t.match(decodePtzCmd('A50F0101200000D7'), { ok: false, reason: /checksum/ });
  t.match(decodePtzCmd('A40F0101200000D5'), { ok: false, reason: /header/ });
  t.match(decodePtzCmd('A50E0101200000D5'), { ok: false, reason: /check nibble/ });
  t.match(decodePtzCmd('A50F01012000'), { ok: false, reason: /16 hex/ });
  t.match(decodePtzCmd('ZZ0F0101200000D6'), { ok: false });
  // Left and right at once is not a nameable motion: kept raw.
  t.match(decodePtzCmd(byHand(1, 0x03, 1, 1, 0)), { ok: true, command: { kind: 'raw', instruction: 3 } });
  // Cruise (0x84) stays raw.
  t.match(decodePtzCmd(byHand(1, 0x84, 1, 2, 0)), { ok: true, command: { kind: 'raw', instruction: 0x84, data1: 1, data2: 2 } });
  t.throws(() => encodePtzCmd({ kind: 'ptz', pan: 1, tilt: 0, zoom: 0, panSpeed: 256, tiltSpeed: 0, zoomSpeed: 0 }), RangeError);
  t.throws(() => encodePtzCmd({ kind: 'ptz', pan: 1, tilt: 0, zoom: 1, panSpeed: 1, tiltSpeed: 0, zoomSpeed: 16 }), RangeError);
  t.throws(() => encodePtzCmd({ kind: 'preset', action: 'call', preset: 0 }), RangeError);
  t.throws(() => encodePtzCmd(PTZ_STOP, 0x1000), RangeError);
});

const dir = fc.constantFrom(-1 as const, 0 as const, 1 as const);
const byte = fc.integer({ min: 0, max: 255 });
const nibble = fc.integer({ min: 0, max: 15 });
const command: fc.Arbitrary<PtzCommand> = fc.oneof(
  fc.record({ kind: fc.constant('ptz' as const), pan: dir, tilt: dir, zoom: dir, panSpeed: byte, tiltSpeed: byte, zoomSpeed: nibble }),
  fc.record({ kind: fc.constant('fi' as const), focus: dir, iris: dir, focusSpeed: byte, irisSpeed: byte }),
  fc.record({ kind: fc.constant('preset' as const), action: fc.constantFrom('set' as const, 'call' as const, 'delete' as const), preset: fc.integer({ min: 1, max: 255 }) }),
);

t.test('property: every command round-trips through its hex, and the checksum holds', async (t) => {
  fc.assert(
    fc.property(command, fc.integer({ min: 0, max: 0xfff }), (c, address) => {
      const hex = encodePtzCmd(c, address);
      const bytes = Buffer.from(hex, 'hex');
      const sum = [...bytes.subarray(0, 7)].reduce((a, x) => a + x, 0) % 256;
      const decoded = decodePtzCmd(hex);
      return /^[0-9A-F]{16}$/.test(hex) && bytes[7] === sum && decoded.ok && decoded.bytes.address === address && JSON.stringify(decoded.command) === JSON.stringify(c);
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

t.test('property: raw bytes round-trip; random text never throws', async (t) => {
  fc.assert(
    fc.property(fc.record({ version: nibble, address: fc.integer({ min: 0, max: 0xfff }), instruction: byte, data1: byte, data2: byte, data3: nibble }), (b) => {
      const hex = Buffer.from(encodePtzBytes(b)).toString('hex');
      const d = decodePtzCmd(hex);
      return d.ok && JSON.stringify(d.bytes) === JSON.stringify(b) && Buffer.from(encodePtzBytes(ptzCommandBytes(d.command, b.address, b.version))).toString('hex') === hex;
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => 'A50F' + Buffer.from(b).toString('hex').slice(4)), fc.string({ unit: 'binary' })), (s) => {
      const d = decodePtzCmd(s);
      return d.ok || typeof d.reason === 'string';
    }),
    { numRuns: 3000 },
  );
  t.pass();
});
