/**
 * What the platform-side JT/T 808 core reports: events for the thread/store/API, answers
 * to platform commands, and the `{ replies, events }` result of every input.
 */
import type {
  AvAttributes,
  GeneralAnswer,
  Jt808Version,
  Location,
  LocationExtras,
  RecordList,
  Register,
} from '../protocol/jt808/index.js';
import type { BadFrameReason } from '../protocol/jt808/index.js';
import type { VehiclePosition } from '../shared/contracts/jt808.js';

export type OfflineReason = 'silence' | 'logout' | 'closed' | 'replaced' | 'bad-frames';

interface Base {
  /** The connection's id (given to `Jt808Server.open`). */
  connectionId: string;
}

export type Jt808Event =
  | (Base & { type: 'registered'; phone: string; version: Jt808Version; register: Register; authCode: string })
  | (Base & { type: 'register-refused'; phone: string; result: number })
  /** The terminal is online from here (until `offline`). */
  | (Base & { type: 'authenticated'; phone: string; version: Jt808Version; imei?: string; softwareVersion?: string })
  | (Base & { type: 'auth-failed'; phone: string; reason: 'unknown-terminal' | 'wrong-code' })
  | (Base & { type: 'heartbeat'; phone: string })
  | (Base &
      /** The contract's position (signed degrees, device time in ms, alarm bit names), by phone. */
      Omit<VehiclePosition, 'sim'> & {
      type: 'position';
      phone: string;
      accOn: boolean;
      positioned: boolean;
      extras: LocationExtras;
      location: Location;
    })
  | (Base & { type: 'logout'; phone: string })
  | (Base & { type: 'offline'; phone: string; reason: OfflineReason })
  /** The caller should close the TCP connection (after writing `replies`). */
  | (Base & { type: 'disconnect'; reason: OfflineReason | 'auth-failures' })
  /** A 0x8003 was sent for missing sub-packages. */
  | (Base & { type: 'resend-requested'; phone: string; msgId: number; firstSerial: number; missing: number[]; attempt: number })
  | (Base & { type: 'reassembly-dropped'; phone: string; msgId: number; firstSerial: number; reason: 'deadline' | 'evicted'; received: number; total: number })
  /** A message the core does not handle itself (answered 0x8001 "unsupported" unless it is itself an answer). */
  | (Base & { type: 'message'; phone: string; msgId: number; serial: number; version: Jt808Version; body: Uint8Array })
  | (Base & { type: 'bad-message'; phone: string; msgId: number; error: string })
  | (Base & { type: 'bad-frame'; reason: BadFrameReason; consecutive: number });

export interface Jt808Output {
  /** Frames to write to the terminal, in order. */
  replies: Uint8Array[];
  events: Jt808Event[];
}

/** The terminal's answer to a platform command. */
export type Jt808Answer =
  | { msgId: 0x0001; general: GeneralAnswer }
  | { msgId: 0x1003; attributes: AvAttributes }
  | { msgId: 0x1205; recordList: RecordList };

export class Jt808CommandError extends Error {
  constructor(
    readonly reason: 'offline' | 'timeout' | 'closed' | 'too-many-pending' | 'refused',
    message: string,
  ) {
    super(message);
    this.name = 'Jt808CommandError';
  }
}
