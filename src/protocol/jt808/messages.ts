/**
 * JT/T 808 (and JT/T 1078 signalling) message bodies, encode and decode both ways so the
 * platform and the terminal simulator share one definition of each layout (jt1078.md §5.4).
 *
 * Decoders throw `Jt808BodyError` on a body that does not fit its layout; encoders throw
 * RangeError on out-of-range fields (a caller bug). Times stay in their wire form
 * (`Jt808Time`, 12 BCD digits, GMT+8); `jt808TimeToMs` converts.
 */
import { BodyReader, BodyWriter, Jt808BodyError, type Jt808Time } from './bytes.js';
import type { Jt808Version } from './header.js';

export const MsgId = {
  TerminalGeneralAnswer: 0x0001,
  Heartbeat: 0x0002,
  Logout: 0x0003,
  Register: 0x0100,
  Authenticate: 0x0102,
  Location: 0x0200,
  AvAttributes: 0x1003,
  RecordList: 0x1205,
  PlatformGeneralAnswer: 0x8001,
  ResendRequest: 0x8003,
  RegisterAnswer: 0x8100,
  QueryAvAttributes: 0x9003,
  RealtimeAvRequest: 0x9101,
  AvControl: 0x9102,
  PlaybackRequest: 0x9201,
  PlaybackControl: 0x9202,
  RecordQuery: 0x9205,
} as const;

/** Result byte of 0x0001 / 0x8001. */
export const AnswerResult = {
  Ok: 0,
  Failure: 1,
  MessageError: 2,
  Unsupported: 3,
  AlarmAcknowledged: 4,
} as const;

/** Result byte of 0x8100. */
export const RegisterResult = {
  Ok: 0,
  VehicleRegistered: 1,
  VehicleUnknown: 2,
  TerminalRegistered: 3,
  TerminalUnknown: 4,
} as const;

// ---------------------------------------------------------------- 0x0001 / 0x8001

export interface GeneralAnswer {
  /** Serial of the message answered. */
  answerSerial: number;
  /** ID of the message answered. */
  answerId: number;
  result: number;
}

export function encodeGeneralAnswer(a: GeneralAnswer): Buffer {
  return new BodyWriter().u16(a.answerSerial, 'answerSerial').u16(a.answerId, 'answerId').u8(a.result, 'result').finish();
}

export function decodeGeneralAnswer(body: Uint8Array): GeneralAnswer {
  const r = new BodyReader(body, 'general answer');
  const a = { answerSerial: r.u16('answerSerial'), answerId: r.u16('answerId'), result: r.u8('result') };
  r.end();
  return a;
}

// ---------------------------------------------------------------- 0x0100 / 0x8100

export type RegisterLayout = '2011' | '2013' | '2019';

export interface Register {
  layout: RegisterLayout;
  provinceId: number;
  cityId: number;
  manufacturerId: string;
  model: string;
  terminalId: string;
  /** 0 = vehicle not registered, `plate` then holds the VIN. */
  plateColor: number;
  plate: string;
}

const REGISTER_WIDTHS: Record<RegisterLayout, { manufacturer: number; model: number; terminal: number }> = {
  '2011': { manufacturer: 5, model: 8, terminal: 7 },
  '2013': { manufacturer: 5, model: 20, terminal: 7 },
  '2019': { manufacturer: 11, model: 30, terminal: 30 },
};

export function encodeRegister(m: Register): Buffer {
  const w = REGISTER_WIDTHS[m.layout];
  return new BodyWriter()
    .u16(m.provinceId, 'provinceId')
    .u16(m.cityId, 'cityId')
    .paddedString(m.manufacturerId, w.manufacturer, 'manufacturerId')
    .paddedString(m.model, w.model, 'model')
    .paddedString(m.terminalId, w.terminal, 'terminalId')
    .u8(m.plateColor, 'plateColor')
    .string(m.plate)
    .finish();
}

/** 2019 by header; otherwise 2013 when longer than 36 bytes (go-jt808's rule), else 2011. */
export function decodeRegister(body: Uint8Array, version: Jt808Version): Register {
  const layout: RegisterLayout = version === '2019' ? '2019' : body.length > 36 ? '2013' : '2011';
  const w = REGISTER_WIDTHS[layout];
  const r = new BodyReader(body, `register (${layout})`);
  return {
    layout,
    provinceId: r.u16('provinceId'),
    cityId: r.u16('cityId'),
    manufacturerId: r.paddedString(w.manufacturer, 'manufacturerId'),
    model: r.paddedString(w.model, 'model'),
    terminalId: r.paddedString(w.terminal, 'terminalId'),
    plateColor: r.u8('plateColor'),
    plate: r.string(r.remaining, 'plate'),
  };
}

export interface RegisterAnswer {
  answerSerial: number;
  result: number;
  /** Only sent with result 0. */
  authCode?: string;
}

export function encodeRegisterAnswer(a: RegisterAnswer): Buffer {
  const w = new BodyWriter().u16(a.answerSerial, 'answerSerial').u8(a.result, 'result');
  if (a.result === RegisterResult.Ok && a.authCode !== undefined) w.string(a.authCode);
  return w.finish();
}

export function decodeRegisterAnswer(body: Uint8Array): RegisterAnswer {
  const r = new BodyReader(body, 'register answer');
  const answer: RegisterAnswer = { answerSerial: r.u16('answerSerial'), result: r.u8('result') };
  if (r.remaining > 0 || answer.result === RegisterResult.Ok) answer.authCode = r.string(r.remaining, 'authCode');
  return answer;
}

// ---------------------------------------------------------------- 0x0102

export interface Authenticate {
  authCode: string;
  /** 2019 only (BYTE[15]). */
  imei?: string;
  /** 2019 only (BYTE[20], 0x00-padded). */
  softwareVersion?: string;
}

export function encodeAuthenticate(m: Authenticate, version: Jt808Version): Buffer {
  if (version !== '2019') return new BodyWriter().string(m.authCode).finish();
  return new BodyWriter()
    .shortString(m.authCode, 'authCode')
    .paddedString(m.imei ?? '', 15, 'imei')
    .paddedString(m.softwareVersion ?? '', 20, 'softwareVersion')
    .finish();
}

export function decodeAuthenticate(body: Uint8Array, version: Jt808Version): Authenticate {
  const r = new BodyReader(body, 'authentication');
  if (version !== '2019') return { authCode: r.string(r.remaining, 'authCode') };
  const length = r.u8('authCode length');
  const m: Authenticate = { authCode: r.string(length, 'authCode'), imei: r.paddedString(15, 'imei'), softwareVersion: r.paddedString(20, 'softwareVersion') };
  r.end();
  return m;
}

// ---------------------------------------------------------------- 0x0200

/** Alarm flag bits of 0x0200 (JT/T 808-2013 table 24); reserved bits 15-17 are unnamed. */
export const ALARM_BITS: readonly (string | undefined)[] = [
  'emergency',
  'overspeed',
  'fatigue-driving',
  'danger-warning',
  'gnss-module-fault',
  'gnss-antenna-disconnected',
  'gnss-antenna-short-circuit',
  'main-power-undervoltage',
  'main-power-down',
  'display-fault',
  'tts-fault',
  'camera-fault',
  'ic-card-fault',
  'overspeed-warning',
  'fatigue-driving-warning',
  undefined,
  undefined,
  undefined,
  'daily-driving-time-exceeded',
  'overtime-parking',
  'area-in-out',
  'route-in-out',
  'route-driving-time-abnormal',
  'route-deviation',
  'vss-fault',
  'fuel-abnormal',
  'vehicle-stolen',
  'illegal-ignition',
  'illegal-displacement',
  'collision-warning',
  'rollover-warning',
  'illegal-door-open',
];

/** Names of the set alarm bits (unnamed bits as "bit-N"). */
export function alarmNames(alarm: number): string[] {
  const names: string[] = [];
  for (let bit = 0; bit < 32; bit++) if ((alarm >>> bit) & 1) names.push(ALARM_BITS[bit] ?? `bit-${bit}`);
  return names;
}

/** Status bits of 0x0200 the platform reads. */
export const StatusBit = {
  AccOn: 1 << 0,
  Positioned: 1 << 1,
  South: 1 << 2,
  West: 1 << 3,
} as const;

/** Additional item IDs with a known layout (JT/T 808 table 27, JT/T 1078 table 13). */
export const LocationItemId = {
  Mileage: 0x01,
  Fuel: 0x02,
  RecorderSpeed: 0x03,
  VideoAlarms: 0x14,
  VideoLossChannels: 0x15,
  VideoBlockedChannels: 0x16,
  StorageFaults: 0x17,
  AbnormalDriving: 0x18,
  SignalStrength: 0x30,
  SatelliteCount: 0x31,
} as const;

export interface LocationItem {
  id: number;
  value: Uint8Array;
}

export interface Location {
  alarm: number;
  status: number;
  /** |latitude| × 10⁶ as on the wire; the hemisphere is status bit 2 (south). */
  latitudeE6: number;
  /** |longitude| × 10⁶; status bit 3 = west. */
  longitudeE6: number;
  /** Metres. */
  altitude: number;
  /** 0.1 km/h. */
  speed: number;
  /** 0-359, north = 0. */
  direction: number;
  time: Jt808Time;
  items: LocationItem[];
}

export function encodeLocation(m: Location): Buffer {
  const w = new BodyWriter()
    .u32(m.alarm, 'alarm')
    .u32(m.status, 'status')
    .u32(m.latitudeE6, 'latitudeE6')
    .u32(m.longitudeE6, 'longitudeE6')
    .u16(m.altitude, 'altitude')
    .u16(m.speed, 'speed')
    .u16(m.direction, 'direction')
    .time(m.time);
  for (const item of m.items) w.u8(item.id, 'item id').u8(item.value.length, 'item length').raw(item.value);
  return w.finish();
}

export function decodeLocation(body: Uint8Array): Location {
  const r = new BodyReader(body, 'location');
  const m: Location = {
    alarm: r.u32('alarm'),
    status: r.u32('status'),
    latitudeE6: r.u32('latitude'),
    longitudeE6: r.u32('longitude'),
    altitude: r.u16('altitude'),
    speed: r.u16('speed'),
    direction: r.u16('direction'),
    time: r.time('time'),
    items: [],
  };
  while (r.remaining > 0) {
    const id = r.u8('item id');
    const length = r.u8('item length');
    m.items.push({ id, value: r.raw(length, `item 0x${id.toString(16)}`) });
  }
  return m;
}

/** Known additional items, decoded (a known ID with an unexpected length is left out). */
export interface LocationExtras {
  /** km. */
  mileageKm?: number;
  /** litres. */
  fuelLitres?: number;
  /** km/h from the tachograph. */
  recorderSpeedKmh?: number;
  /** JT/T 1078 table 14 bits. */
  videoAlarms?: number;
  /** Bit n = logical channel n+1. */
  videoLossChannels?: number;
  videoBlockedChannels?: number;
  /** Bits 0-11 main storage units, 12-15 backup units. */
  storageFaults?: number;
  abnormalDriving?: { type: number; fatigueLevel: number };
  signalStrength?: number;
  satellites?: number;
}

function itemValue(value: Uint8Array): number {
  let v = 0;
  for (const b of value) v = v * 256 + b;
  return v;
}

export function decodeLocationExtras(items: readonly LocationItem[]): LocationExtras {
  const x: LocationExtras = {};
  for (const { id, value } of items) {
    const n = value.length;
    switch (id) {
      case LocationItemId.Mileage:
        if (n === 4) x.mileageKm = itemValue(value) / 10;
        break;
      case LocationItemId.Fuel:
        if (n === 2) x.fuelLitres = itemValue(value) / 10;
        break;
      case LocationItemId.RecorderSpeed:
        if (n === 2) x.recorderSpeedKmh = itemValue(value) / 10;
        break;
      case LocationItemId.VideoAlarms:
        if (n === 4) x.videoAlarms = itemValue(value);
        break;
      case LocationItemId.VideoLossChannels:
        if (n === 4) x.videoLossChannels = itemValue(value);
        break;
      case LocationItemId.VideoBlockedChannels:
        if (n === 4) x.videoBlockedChannels = itemValue(value);
        break;
      case LocationItemId.StorageFaults:
        if (n === 2) x.storageFaults = itemValue(value);
        break;
      case LocationItemId.AbnormalDriving:
        if (n === 3) x.abnormalDriving = { type: (value[0]! << 8) | value[1]!, fatigueLevel: value[2]! };
        break;
      case LocationItemId.SignalStrength:
        if (n === 1) x.signalStrength = value[0]!;
        break;
      case LocationItemId.SatelliteCount:
        if (n === 1) x.satellites = value[0]!;
        break;
    }
  }
  return x;
}

/** Signed degrees from the wire values and hemisphere bits. */
export function locationDegrees(m: Pick<Location, 'status' | 'latitudeE6' | 'longitudeE6'>): { latitude: number; longitude: number } {
  const lat = m.latitudeE6 / 1e6;
  const lon = m.longitudeE6 / 1e6;
  return { latitude: m.status & StatusBit.South ? -lat : lat, longitude: m.status & StatusBit.West ? -lon : lon };
}

// ---------------------------------------------------------------- 0x8003

export interface ResendRequest {
  /** Serial of the message's first sub-package. */
  originalSerial: number;
  /** 1-based sub-package indexes wanted. */
  packetIds: number[];
}

/** Count is a BYTE in 2013 and a WORD in 2019 (SmallChi/JT808). */
export function encodeResendRequest(m: ResendRequest, version: Jt808Version): Buffer {
  const w = new BodyWriter().u16(m.originalSerial, 'originalSerial');
  if (version === '2019') w.u16(m.packetIds.length, 'count');
  else w.u8(m.packetIds.length, 'count');
  for (const id of m.packetIds) w.u16(id, 'packet id');
  return w.finish();
}

export function decodeResendRequest(body: Uint8Array, version: Jt808Version): ResendRequest {
  const r = new BodyReader(body, 'resend request');
  const originalSerial = r.u16('originalSerial');
  const count = version === '2019' ? r.u16('count') : r.u8('count');
  const packetIds: number[] = [];
  for (let i = 0; i < count; i++) packetIds.push(r.u16('packet id'));
  r.end();
  return { originalSerial, packetIds };
}

// ---------------------------------------------------------------- 0x1003

export interface AvAttributes {
  /** Table 12 payload type. */
  audioCodec: number;
  audioChannels: number;
  /** 0 = 8 kHz, 1 = 22.05, 2 = 44.1, 3 = 48. */
  sampleRate: number;
  /** 0 = 8 bit, 1 = 16, 2 = 32. */
  sampleBits: number;
  audioFrameLength: number;
  audioOutput: number;
  videoCodec: number;
  maxAudioChannels: number;
  maxVideoChannels: number;
}

export function encodeAvAttributes(m: AvAttributes): Buffer {
  return new BodyWriter()
    .u8(m.audioCodec, 'audioCodec')
    .u8(m.audioChannels, 'audioChannels')
    .u8(m.sampleRate, 'sampleRate')
    .u8(m.sampleBits, 'sampleBits')
    .u16(m.audioFrameLength, 'audioFrameLength')
    .u8(m.audioOutput, 'audioOutput')
    .u8(m.videoCodec, 'videoCodec')
    .u8(m.maxAudioChannels, 'maxAudioChannels')
    .u8(m.maxVideoChannels, 'maxVideoChannels')
    .finish();
}

export function decodeAvAttributes(body: Uint8Array): AvAttributes {
  const r = new BodyReader(body, 'AV attributes');
  const m = {
    audioCodec: r.u8('audioCodec'),
    audioChannels: r.u8('audioChannels'),
    sampleRate: r.u8('sampleRate'),
    sampleBits: r.u8('sampleBits'),
    audioFrameLength: r.u16('audioFrameLength'),
    audioOutput: r.u8('audioOutput'),
    videoCodec: r.u8('videoCodec'),
    maxAudioChannels: r.u8('maxAudioChannels'),
    maxVideoChannels: r.u8('maxVideoChannels'),
  };
  r.end();
  return m;
}

// ---------------------------------------------------------------- 0x9101 / 0x9102

export interface RealtimeAvRequest {
  host: string;
  /** 0 when UDP is used. */
  tcpPort: number;
  /** 0 when TCP is used. */
  udpPort: number;
  channel: number;
  /** 0 AV, 1 video, 2 two-way talk, 3 listen, 4 broadcast, 5 transparent. */
  dataType: number;
  /** 0 main, 1 sub. */
  streamType: number;
}

export function encodeRealtimeAvRequest(m: RealtimeAvRequest): Buffer {
  return new BodyWriter()
    .shortString(m.host, 'host')
    .u16(m.tcpPort, 'tcpPort')
    .u16(m.udpPort, 'udpPort')
    .u8(m.channel, 'channel')
    .u8(m.dataType, 'dataType')
    .u8(m.streamType, 'streamType')
    .finish();
}

export function decodeRealtimeAvRequest(body: Uint8Array): RealtimeAvRequest {
  const r = new BodyReader(body, 'realtime AV request');
  const m = {
    host: r.string(r.u8('host length'), 'host'),
    tcpPort: r.u16('tcpPort'),
    udpPort: r.u16('udpPort'),
    channel: r.u8('channel'),
    dataType: r.u8('dataType'),
    streamType: r.u8('streamType'),
  };
  r.end();
  return m;
}

export const AvControlCommand = {
  Close: 0,
  SwitchStream: 1,
  Pause: 2,
  Resume: 3,
  CloseTalk: 4,
} as const;

export interface AvControl {
  channel: number;
  /** AvControlCommand. */
  command: number;
  /** 0 audio and video, 1 audio only, 2 video only. */
  closeType: number;
  /** Stream to switch to: 0 main, 1 sub. */
  streamType: number;
}

export function encodeAvControl(m: AvControl): Buffer {
  return new BodyWriter().u8(m.channel, 'channel').u8(m.command, 'command').u8(m.closeType, 'closeType').u8(m.streamType, 'streamType').finish();
}

export function decodeAvControl(body: Uint8Array): AvControl {
  const r = new BodyReader(body, 'AV control');
  const m = { channel: r.u8('channel'), command: r.u8('command'), closeType: r.u8('closeType'), streamType: r.u8('streamType') };
  r.end();
  return m;
}

// ---------------------------------------------------------------- 0x9201 / 0x9202

export interface PlaybackRequest {
  host: string;
  tcpPort: number;
  udpPort: number;
  channel: number;
  /** 0 AV, 1 audio, 2 video, 3 audio or video. */
  mediaType: number;
  /** 0 main or sub, 1 main, 2 sub. */
  streamType: number;
  /** 0 main or backup, 1 main, 2 backup. */
  storageType: number;
  /** 0 normal, 1 fast forward, 2 key-frame rewind, 3 key-frame play, 4 single frame. */
  mode: number;
  /** 0 n/a, 1 ×1, 2 ×2, 3 ×4, 4 ×8, 5 ×16. */
  speed: number;
  start: Jt808Time;
  end: Jt808Time;
}

export function encodePlaybackRequest(m: PlaybackRequest): Buffer {
  return new BodyWriter()
    .shortString(m.host, 'host')
    .u16(m.tcpPort, 'tcpPort')
    .u16(m.udpPort, 'udpPort')
    .u8(m.channel, 'channel')
    .u8(m.mediaType, 'mediaType')
    .u8(m.streamType, 'streamType')
    .u8(m.storageType, 'storageType')
    .u8(m.mode, 'mode')
    .u8(m.speed, 'speed')
    .time(m.start)
    .time(m.end)
    .finish();
}

export function decodePlaybackRequest(body: Uint8Array): PlaybackRequest {
  const r = new BodyReader(body, 'playback request');
  const m = {
    host: r.string(r.u8('host length'), 'host'),
    tcpPort: r.u16('tcpPort'),
    udpPort: r.u16('udpPort'),
    channel: r.u8('channel'),
    mediaType: r.u8('mediaType'),
    streamType: r.u8('streamType'),
    storageType: r.u8('storageType'),
    mode: r.u8('mode'),
    speed: r.u8('speed'),
    start: r.time('start'),
    end: r.time('end'),
  };
  r.end();
  return m;
}

export const PlaybackCommand = {
  Start: 0,
  Pause: 1,
  Stop: 2,
  FastForward: 3,
  KeyFrameRewind: 4,
  Seek: 5,
  KeyFramePlay: 6,
} as const;

export interface PlaybackControl {
  channel: number;
  /** PlaybackCommand. */
  command: number;
  /** For fast forward / rewind. */
  speed: number;
  /** For seek. */
  seekTime: Jt808Time;
}

export function encodePlaybackControl(m: PlaybackControl): Buffer {
  return new BodyWriter().u8(m.channel, 'channel').u8(m.command, 'command').u8(m.speed, 'speed').time(m.seekTime).finish();
}

export function decodePlaybackControl(body: Uint8Array): PlaybackControl {
  const r = new BodyReader(body, 'playback control');
  const m = { channel: r.u8('channel'), command: r.u8('command'), speed: r.u8('speed'), seekTime: r.time('seekTime') };
  r.end();
  return m;
}

// ---------------------------------------------------------------- 0x9205 / 0x1205

/**
 * The 64 alarm bits of 0x9205/0x1205 as two DWORDs, in wire order: the high word (bits
 * 32-63, JT/T 1078 video alarms) first, then the low word (bits 0-31, JT/T 808 alarms).
 */
export interface AlarmFlags64 {
  videoAlarms: number;
  alarms: number;
}

export interface RecordQuery {
  /** 0 = all channels. */
  channel: number;
  start: Jt808Time;
  end: Jt808Time;
  alarmFlags: AlarmFlags64;
  /** 0 AV, 1 audio, 2 video, 3 video or AV. */
  mediaType: number;
  /** 0 all, 1 main, 2 sub. */
  streamType: number;
  /** 0 all, 1 main, 2 backup. */
  storageType: number;
}

export function encodeRecordQuery(m: RecordQuery): Buffer {
  return new BodyWriter()
    .u8(m.channel, 'channel')
    .time(m.start)
    .time(m.end)
    .u32(m.alarmFlags.videoAlarms, 'videoAlarms')
    .u32(m.alarmFlags.alarms, 'alarms')
    .u8(m.mediaType, 'mediaType')
    .u8(m.streamType, 'streamType')
    .u8(m.storageType, 'storageType')
    .finish();
}

export function decodeRecordQuery(body: Uint8Array): RecordQuery {
  const r = new BodyReader(body, 'record query');
  const m = {
    channel: r.u8('channel'),
    start: r.time('start'),
    end: r.time('end'),
    alarmFlags: { videoAlarms: r.u32('videoAlarms'), alarms: r.u32('alarms') },
    mediaType: r.u8('mediaType'),
    streamType: r.u8('streamType'),
    storageType: r.u8('storageType'),
  };
  r.end();
  return m;
}

export interface RecordItem {
  channel: number;
  start: Jt808Time;
  end: Jt808Time;
  alarmFlags: AlarmFlags64;
  /** 0 AV, 1 audio, 2 video. */
  mediaType: number;
  /** 1 main, 2 sub. */
  streamType: number;
  /** 1 main, 2 backup. */
  storageType: number;
  /** Bytes. */
  fileSize: number;
}

export interface RecordList {
  /** Serial of the 0x9205 (or 0x9201) answered. */
  answerSerial: number;
  items: RecordItem[];
}

export const RECORD_ITEM_SIZE = 28;

export function encodeRecordList(m: RecordList): Buffer {
  const w = new BodyWriter().u16(m.answerSerial, 'answerSerial').u32(m.items.length, 'count');
  for (const item of m.items) {
    w.u8(item.channel, 'channel')
      .time(item.start)
      .time(item.end)
      .u32(item.alarmFlags.videoAlarms, 'videoAlarms')
      .u32(item.alarmFlags.alarms, 'alarms')
      .u8(item.mediaType, 'mediaType')
      .u8(item.streamType, 'streamType')
      .u8(item.storageType, 'storageType')
      .u32(item.fileSize, 'fileSize');
  }
  return w.finish();
}

export function decodeRecordList(body: Uint8Array): RecordList {
  const r = new BodyReader(body, 'record list');
  const answerSerial = r.u16('answerSerial');
  const count = r.u32('count');
  if (r.remaining !== count * RECORD_ITEM_SIZE) {
    throw new Jt808BodyError(`record list: ${count} items announced, ${r.remaining} bytes follow (need ${count * RECORD_ITEM_SIZE})`);
  }
  const items: RecordItem[] = [];
  for (let i = 0; i < count; i++) {
    items.push({
      channel: r.u8('channel'),
      start: r.time('start'),
      end: r.time('end'),
      alarmFlags: { videoAlarms: r.u32('videoAlarms'), alarms: r.u32('alarms') },
      mediaType: r.u8('mediaType'),
      streamType: r.u8('streamType'),
      storageType: r.u8('storageType'),
      fileSize: r.u32('fileSize'),
    });
  }
  return { answerSerial, items };
}
