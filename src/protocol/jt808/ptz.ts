/**
 * A GB28181 PTZCmd as JT/T 1078-2016 terminal messages (§5.8, Tables 31–36), for PTZ that
 * an upper platform sends to a vehicle channel shared through the cascade:
 *
 * - pan/tilt → 0x9301 rotation: channel, direction (0 stop, 1 up, 2 down, 3 left, 4 right), speed 0–255;
 *   JT/T 1078 has no diagonals, so pan wins over tilt;
 * - zoom → 0x9306: channel, 0 in (tele) / 1 out (wide);
 * - focus → 0x9302: channel, 0 far / 1 near; iris → 0x9303: channel, 0 open / 1 close.
 *
 * Presets and raw commands have no JT/T 1078 form: nothing.
 */
import type { PtzCommand } from '../gb28181/ptz.js';

export interface TerminalMessage {
  msgId: number;
  body: Uint8Array;
}

export function ptzToJt1078(channel: number, command: PtzCommand): TerminalMessage[] {
  const out: TerminalMessage[] = [];
  const msg = (msgId: number, ...bytes: number[]) => out.push({ msgId, body: Uint8Array.from([channel & 0xff, ...bytes.map((b) => b & 0xff)]) });
  if (command.kind === 'ptz') {
    if (command.pan !== 0) msg(0x9301, command.pan < 0 ? 3 : 4, command.panSpeed);
    else if (command.tilt !== 0) msg(0x9301, command.tilt > 0 ? 1 : 2, command.tiltSpeed);
    if (command.zoom !== 0) msg(0x9306, command.zoom > 0 ? 0 : 1);
    if (command.pan === 0 && command.tilt === 0 && command.zoom === 0) msg(0x9301, 0, 0);
  } else if (command.kind === 'fi') {
    if (command.focus !== 0) msg(0x9302, command.focus > 0 ? 0 : 1);
    if (command.iris !== 0) msg(0x9303, command.iris > 0 ? 0 : 1);
  }
  return out;
}
