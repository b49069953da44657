/**
 * MANSCDP bodies for control, configuration, subscriptions, alarms, positions and voice
 * broadcast (GB/T 28181-2016 §9.3–9.11 and Annex A.2; -2022 field names where devices send
 * them). Sources and the device samples these shapes were checked against:
 * docs/gb28181-control.md.
 *
 * Builders produce what we send; parsers (wired into parseManscdp) turn what devices send
 * into typed values and never throw. Which DeviceControl commands have a Response MESSAGE is
 * in {@link controlExpectsResponse}.
 */
import type { ManscdpHeader, QueryParams } from './manscdp.js';
import { encodePtzCmd, type PtzCommand } from './ptz.js';
import { CHINA_UTC_OFFSET_MINUTES, formatManscdpTime, parseManscdpTime } from './time.js';
import { compact, field, flag, float, int, isObject, list, manscdpDocument, str, type XmlObject } from './xml-fields.js';

// ---------------------------------------------------------------------------------------------
// DeviceControl

export interface DragZoomArea {
  /** Width and height of the picture the rectangle was drawn on, in pixels. */
  length: number;
  width: number;
  /** Centre of the rectangle. */
  midPointX: number;
  midPointY: number;
  /** Size of the rectangle. */
  lengthX: number;
  lengthY: number;
}

export type DeviceControlCommand =
  | { type: 'ptz'; command: PtzCommand; address?: number; priority?: number }
  | { type: 'guard'; action: 'SetGuard' | 'ResetGuard' }
  | { type: 'alarmReset'; alarmMethod?: string; alarmType?: string }
  | { type: 'record'; action: 'Record' | 'StopRecord'; streamNumber?: number }
  | { type: 'iframe' }
  | { type: 'teleboot' }
  | { type: 'dragZoom'; direction: 'in' | 'out'; area: DragZoomArea }
  | { type: 'homePosition'; enabled: boolean; resetTime?: number; presetIndex?: number };

export type DeviceControlType = DeviceControlCommand['type'];

/**
 * §9.3.1: PTZ, TeleBoot, IFrame and DragZoom get only the SIP 200; Record, Guard, AlarmReset
 * and HomePosition (and DeviceConfig) are followed by a Response MESSAGE with the result.
 */
export function controlExpectsResponse(type: DeviceControlType): boolean {
  return type === 'record' || type === 'guard' || type === 'alarmReset' || type === 'homePosition';
}

/** Default control priority for PTZ (1 highest … 5 lowest), as devices expect it. */
export const DEFAULT_PTZ_PRIORITY = 5;

function controlFields(command: DeviceControlCommand): Record<string, unknown> {
  switch (command.type) {
    case 'ptz':
      return { PTZCmd: encodePtzCmd(command.command, command.address), Info: { ControlPriority: command.priority ?? DEFAULT_PTZ_PRIORITY } };
    case 'guard':
      return { GuardCmd: command.action };
    case 'alarmReset':
      return {
        AlarmCmd: 'ResetAlarm',
        Info: command.alarmMethod === undefined && command.alarmType === undefined ? undefined : { AlarmMethod: command.alarmMethod, AlarmType: command.alarmType },
      };
    case 'record':
      return { RecordCmd: command.action, StreamNumber: command.streamNumber };
    case 'iframe':
      return { IFrameCmd: 'Send' };
    case 'teleboot':
      return { TeleBoot: 'Boot' };
    case 'dragZoom': {
      const a = command.area;
      return {
        [command.direction === 'in' ? 'DragZoomIn' : 'DragZoomOut']: {
          Length: a.length,
          Width: a.width,
          MidPointX: a.midPointX,
          MidPointY: a.midPointY,
          LengthX: a.lengthX,
          LengthY: a.lengthY,
        },
      };
    }
    case 'homePosition':
      return { HomePosition: { Enabled: command.enabled ? 1 : 0, ResetTime: command.resetTime, PresetIndex: command.presetIndex } };
  }
}

/** `<Control><CmdType>DeviceControl</CmdType>…` for one command; DeviceID is the channel. */
export function buildDeviceControl({ sn, deviceId }: QueryParams, command: DeviceControlCommand): string {
  return manscdpDocument('Control', { CmdType: 'DeviceControl', SN: sn, DeviceID: deviceId, ...controlFields(command) });
}

export interface BasicParamConfig {
  name?: string;
  /** Registration expiry, seconds. */
  expiration?: number;
  heartBeatInterval?: number;
  heartBeatCount?: number;
}

/** DeviceConfig with BasicParam (§9.3, A.2.3.2); the device answers with a Response. */
export function buildDeviceConfig({ sn, deviceId }: QueryParams, basic: BasicParamConfig): string {
  return manscdpDocument('Control', {
    CmdType: 'DeviceConfig',
    SN: sn,
    DeviceID: deviceId,
    BasicParam: { Name: basic.name, Expiration: basic.expiration, HeartBeatInterval: basic.heartBeatInterval, HeartBeatCount: basic.heartBeatCount },
  });
}

// ---------------------------------------------------------------------------------------------
// Queries

export function buildPresetQuery({ sn, deviceId }: QueryParams): string {
  return manscdpDocument('Query', { CmdType: 'PresetQuery', SN: sn, DeviceID: deviceId });
}

export type ConfigType = 'BasicParam' | 'VideoParamOpt' | 'SVACEncodeConfig' | 'SVACDecodeConfig' | 'VideoParamAttribute' | 'VideoRecordPlan' | 'VideoAlarmRecord' | 'PictureMask' | 'FrameMirror' | 'AlarmReport' | 'OSDConfig' | 'SnapShotConfig';

/** ConfigDownload: several types are joined with `/` (A.2.4.7). */
export function buildConfigDownloadQuery({ sn, deviceId }: QueryParams, types: readonly ConfigType[]): string {
  if (types.length === 0) throw new RangeError('ConfigDownload needs at least one ConfigType');
  return manscdpDocument('Query', { CmdType: 'ConfigDownload', SN: sn, DeviceID: deviceId, ConfigType: types.join('/') });
}

// ---------------------------------------------------------------------------------------------
// Subscriptions (SUBSCRIBE bodies, §9.11 and A.2.4.x)

export type SubscriptionKind = 'catalog' | 'alarm' | 'mobilePosition';

export interface SubscribeBodyOptions {
  utcOffsetMinutes?: number;
  /** Unix seconds; optional window of interest. */
  startTime?: number;
  endTime?: number;
  /** Alarm: priorities 1 (highest) … 4, 0 = all. */
  startAlarmPriority?: number;
  endAlarmPriority?: number;
  /** Alarm: 0 all, 1 phone, 2 device, 3 SMS, 4 GPS, 5 video, 6 fault, 7 other; several as "1/2". */
  alarmMethod?: string;
  alarmType?: string;
  /** MobilePosition: seconds between reports (default 5). */
  interval?: number;
}

/** The `Event` header value for each subscription (catalog: `Catalog`; alarm and position: `presence`, as devices expect). */
export const SUBSCRIPTION_EVENT: Record<SubscriptionKind, string> = { catalog: 'Catalog', alarm: 'presence', mobilePosition: 'presence' };

const SUBSCRIPTION_CMD: Record<SubscriptionKind, string> = { catalog: 'Catalog', alarm: 'Alarm', mobilePosition: 'MobilePosition' };

export function buildSubscribeQuery(kind: SubscriptionKind, { sn, deviceId }: QueryParams, o: SubscribeBodyOptions = {}): string {
  const offset = o.utcOffsetMinutes ?? CHINA_UTC_OFFSET_MINUTES;
  const time = (t: number | undefined) => (t === undefined ? undefined : formatManscdpTime(t, offset));
  const body: Record<string, unknown> = { CmdType: SUBSCRIPTION_CMD[kind], SN: sn, DeviceID: deviceId };
  if (kind === 'alarm') {
    Object.assign(body, {
      StartAlarmPriority: o.startAlarmPriority ?? 0,
      EndAlarmPriority: o.endAlarmPriority ?? 0,
      AlarmMethod: o.alarmMethod ?? '0',
      AlarmType: o.alarmType,
    });
  }
  if (kind === 'mobilePosition') body.Interval = o.interval ?? 5;
  body.StartTime = time(o.startTime);
  body.EndTime = time(o.endTime);
  return manscdpDocument('Query', body);
}

// ---------------------------------------------------------------------------------------------
// Notifications and their answers

/** The platform's answer to an Alarm MESSAGE (§9.4.2 step 2: a Response with Result OK). */
export function buildAlarmResponse({ sn, deviceId }: QueryParams, result: 'OK' | 'ERROR' = 'OK'): string {
  return manscdpDocument('Response', { CmdType: 'Alarm', SN: sn, DeviceID: deviceId, Result: result });
}

/** Voice broadcast notification (§9.12, A.2.5.5): SourceID is us, TargetID the audio output channel. */
export function buildBroadcastNotify({ sn, sourceId, targetId }: { sn: number; sourceId: string; targetId: string }): string {
  return manscdpDocument('Notify', { CmdType: 'Broadcast', SN: sn, SourceID: sourceId, TargetID: targetId });
}

export interface AlarmNotifyParams extends QueryParams {
  priority: number;
  method: number;
  /** Unix seconds. */
  time: number;
  description?: string;
  longitude?: number;
  latitude?: number;
  alarmType?: number;
  eventType?: number;
  utcOffsetMinutes?: number;
}

/** Alarm Notify as a device sends it (for tests and cascade). */
export function buildAlarmNotify(p: AlarmNotifyParams): string {
  return manscdpDocument('Notify', {
    CmdType: 'Alarm',
    SN: p.sn,
    DeviceID: p.deviceId,
    AlarmPriority: p.priority,
    AlarmMethod: p.method,
    AlarmTime: formatManscdpTime(p.time, p.utcOffsetMinutes ?? CHINA_UTC_OFFSET_MINUTES),
    AlarmDescription: p.description,
    Longitude: p.longitude,
    Latitude: p.latitude,
    Info: p.alarmType === undefined ? undefined : { AlarmType: p.alarmType, AlarmTypeParam: p.eventType === undefined ? undefined : { EventType: p.eventType } },
  });
}

export interface MobilePositionParams extends QueryParams {
  time: number;
  longitude: number;
  latitude: number;
  speed?: number;
  direction?: number;
  altitude?: number;
  utcOffsetMinutes?: number;
}

export function buildMobilePositionNotify(p: MobilePositionParams): string {
  return manscdpDocument('Notify', {
    CmdType: 'MobilePosition',
    SN: p.sn,
    DeviceID: p.deviceId,
    Time: formatManscdpTime(p.time, p.utcOffsetMinutes ?? CHINA_UTC_OFFSET_MINUTES),
    Longitude: p.longitude,
    Latitude: p.latitude,
    Speed: p.speed,
    Direction: p.direction,
    Altitude: p.altitude,
  });
}

// ---------------------------------------------------------------------------------------------
// Parsed shapes

/** DeviceControl / DeviceConfig / Broadcast / Alarm Response: just the result. */
export interface ResultMessage extends ManscdpHeader {
  kind: 'result';
  /** True only for Result OK (any case); a missing Result counts as OK (the device answered). */
  ok: boolean;
  resultRaw: string;
}

export interface Preset {
  id: number;
  name?: string;
}

export interface PresetListMessage extends ManscdpHeader {
  kind: 'presetList';
  sumNum: number | undefined;
  presets: Preset[];
}

export interface BasicParam {
  name?: string;
  deviceId?: string;
  sipServerId?: string;
  sipServerIp?: string;
  sipServerPort?: number;
  domainName?: string;
  expiration?: number;
  heartBeatInterval?: number;
  heartBeatCount?: number;
  positionCapability?: number;
  longitude?: number;
  latitude?: number;
}

export interface VideoParamOpt {
  /** e.g. [1, 2, 4] from `1/2/4`. */
  downloadSpeed: number[];
  /** Resolution codes as sent (A.2.5: 1 QCIF … 6 1080P, or WxH in -2022). */
  resolution: string[];
}

export interface ConfigDownloadMessage extends ManscdpHeader {
  kind: 'configDownload';
  ok: boolean;
  resultRaw: string;
  basicParam?: BasicParam;
  videoParamOpt?: VideoParamOpt;
}

export interface AlarmMessage extends ManscdpHeader {
  kind: 'alarm';
  priority?: number;
  method?: number;
  /** Unix seconds, undefined if absent or unparseable (raw kept). */
  time: number | undefined;
  timeRaw: string;
  description?: string;
  longitude?: number;
  latitude?: number;
  alarmType?: number;
  eventType?: number;
}

export interface MobilePositionMessage extends ManscdpHeader {
  kind: 'mobilePosition';
  time: number | undefined;
  timeRaw: string;
  longitude?: number;
  latitude?: number;
  speed?: number;
  direction?: number;
  altitude?: number;
}

export interface BroadcastMessage extends ManscdpHeader {
  kind: 'broadcast';
  sourceId: string;
  targetId: string;
}

/** A Control body (what we send, parsed back for checks and for cascade later). */
export interface ControlMessage extends ManscdpHeader {
  kind: 'control';
  ptzCmd?: string;
  guardCmd?: string;
  alarmCmd?: string;
  recordCmd?: string;
  iFrameCmd?: string;
  teleBoot?: string;
  dragZoom?: { direction: 'in' | 'out'; area: Partial<DragZoomArea> };
  homePosition?: { enabled?: boolean; resetTime?: number; presetIndex?: number };
  controlPriority?: number;
  basicParam?: BasicParam;
}

export type ControlFamilyMessage = ResultMessage | PresetListMessage | ConfigDownloadMessage | AlarmMessage | MobilePositionMessage | BroadcastMessage | ControlMessage;

// ---------------------------------------------------------------------------------------------
// Parsers (called from parseManscdp with the root element already found)

const RESULT_COMMANDS = new Set(['devicecontrol', 'deviceconfig', 'broadcast', 'alarm']);

function result(node: XmlObject): { ok: boolean; resultRaw: string } {
  const resultRaw = str(node, 'Result') ?? '';
  return { ok: resultRaw === '' || resultRaw.toUpperCase() === 'OK', resultRaw };
}

function parseBasicParam(node: unknown): BasicParam | undefined {
  if (!isObject(node)) return undefined;
  return compact<BasicParam>({
    name: str(node, 'Name'),
    deviceId: str(node, 'DeviceID'),
    sipServerId: str(node, 'SIPServerID'),
    sipServerIp: str(node, 'SIPServerIP'),
    sipServerPort: int(node, 'SIPServerPort'),
    domainName: str(node, 'DomainName'),
    expiration: int(node, 'Expiration'),
    heartBeatInterval: int(node, 'HeartBeatInterval'),
    heartBeatCount: int(node, 'HeartBeatCount'),
    positionCapability: int(node, 'PositionCapability'),
    longitude: float(node, 'Longitude'),
    latitude: float(node, 'Latitude'),
  });
}

const slashList = (v: string | undefined): string[] =>
  v === undefined
    ? []
    : v
        .split('/')
        .map((s) => s.trim())
        .filter((s) => s !== '');

function parsePresetList(header: ManscdpHeader, node: XmlObject): PresetListMessage {
  const presetList = field(node, 'PresetList');
  const presets = list(field(presetList, 'Item'))
    .map((item) => {
      const id = int(item, 'PresetID');
      return id === undefined ? undefined : compact<Preset>({ id, name: str(item, 'PresetName') });
    })
    .filter((p): p is Preset => p !== undefined);
  return { ...header, kind: 'presetList', sumNum: int(node, 'SumNum') ?? int(presetList, '@_Num'), presets };
}

function parseConfigDownload(header: ManscdpHeader, node: XmlObject): ConfigDownloadMessage {
  const video = field(node, 'VideoParamOpt');
  return compact<ConfigDownloadMessage>({
    ...header,
    kind: 'configDownload',
    ...result(node),
    basicParam: parseBasicParam(field(node, 'BasicParam')),
    videoParamOpt: isObject(video) ? { downloadSpeed: slashList(str(video, 'DownloadSpeed')).map(Number).filter(Number.isFinite), resolution: slashList(str(video, 'Resolution')) } : undefined,
  });
}

function parseAlarm(header: ManscdpHeader, node: XmlObject, utcOffsetMinutes: number): AlarmMessage {
  const info = field(node, 'Info');
  const timeRaw = str(node, 'AlarmTime') ?? '';
  return compact<AlarmMessage>({
    ...header,
    kind: 'alarm',
    priority: int(node, 'AlarmPriority'),
    method: int(node, 'AlarmMethod'),
    time: parseManscdpTime(timeRaw, utcOffsetMinutes),
    timeRaw,
    description: str(node, 'AlarmDescription'),
    longitude: float(node, 'Longitude'),
    latitude: float(node, 'Latitude'),
    // -2016 puts AlarmType under Info; some devices put it at the top level.
    alarmType: int(info, 'AlarmType') ?? int(node, 'AlarmType'),
    eventType: int(field(info, 'AlarmTypeParam'), 'EventType') ?? int(node, 'EventType'),
  });
}

function parseMobilePosition(header: ManscdpHeader, node: XmlObject, utcOffsetMinutes: number): MobilePositionMessage {
  const timeRaw = str(node, 'Time') ?? '';
  return compact<MobilePositionMessage>({
    ...header,
    kind: 'mobilePosition',
    time: parseManscdpTime(timeRaw, utcOffsetMinutes),
    timeRaw,
    longitude: float(node, 'Longitude'),
    latitude: float(node, 'Latitude'),
    speed: float(node, 'Speed'),
    direction: float(node, 'Direction'),
    altitude: float(node, 'Altitude'),
  });
}

function parseControl(header: ManscdpHeader, node: XmlObject): ControlMessage {
  const dragIn = field(node, 'DragZoomIn');
  const dragOut = field(node, 'DragZoomOut');
  const drag = isObject(dragIn) ? { direction: 'in' as const, n: dragIn } : isObject(dragOut) ? { direction: 'out' as const, n: dragOut } : undefined;
  const home = field(node, 'HomePosition');
  return compact<ControlMessage>({
    ...header,
    kind: 'control',
    ptzCmd: str(node, 'PTZCmd'),
    guardCmd: str(node, 'GuardCmd'),
    alarmCmd: str(node, 'AlarmCmd'),
    recordCmd: str(node, 'RecordCmd'),
    iFrameCmd: str(node, 'IFrameCmd'),
    teleBoot: str(node, 'TeleBoot'),
    dragZoom:
      drag === undefined
        ? undefined
        : {
            direction: drag.direction,
            area: compact({
              length: int(drag.n, 'Length'),
              width: int(drag.n, 'Width'),
              midPointX: int(drag.n, 'MidPointX'),
              midPointY: int(drag.n, 'MidPointY'),
              lengthX: int(drag.n, 'LengthX'),
              lengthY: int(drag.n, 'LengthY'),
            }),
          },
    homePosition: isObject(home) ? compact({ enabled: flag(home, 'Enabled'), resetTime: int(home, 'ResetTime'), presetIndex: int(home, 'PresetIndex') }) : undefined,
    controlPriority: int(field(node, 'Info'), 'ControlPriority'),
    basicParam: parseBasicParam(field(node, 'BasicParam')),
  });
}

/**
 * The control-family messages; undefined for anything else (parseManscdp then tries its own
 * kinds). `root` and `cmdType` come from the header.
 */
export function parseControlFamily(header: ManscdpHeader, node: XmlObject, utcOffsetMinutes: number): ControlFamilyMessage | undefined {
  const cmd = header.cmdType.toLowerCase();
  switch (header.root) {
    case 'Response':
      if (cmd === 'presetquery') return parsePresetList(header, node);
      if (cmd === 'configdownload') return parseConfigDownload(header, node);
      if (RESULT_COMMANDS.has(cmd)) return { ...header, kind: 'result', ...result(node) };
      return undefined;
    case 'Notify':
      if (cmd === 'alarm') return parseAlarm(header, node, utcOffsetMinutes);
      if (cmd === 'mobileposition') return parseMobilePosition(header, node, utcOffsetMinutes);
      if (cmd === 'broadcast') return { ...header, kind: 'broadcast', sourceId: str(node, 'SourceID') ?? '', targetId: str(node, 'TargetID') ?? '' };
      return undefined;
    case 'Control':
      return parseControl(header, node);
    default:
      return undefined;
  }
}
