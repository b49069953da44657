/**
 * MANSCDP (GB/T 28181 XML bodies of SIP MESSAGE): parse into typed, discriminated values and
 * build the queries we send.
 *
 * Why sans-I/O and tolerant: the SIP worker hands us body bytes and acts on a typed result; it
 * must never crash or 400 a device because a vendor wrote `ONLINE` instead of `ON`, nested the
 * keepalive status in `<Info>`, sent one `<Item>` instead of a list, or padded a number with
 * spaces (all seen in the field; shared reference gb28181.md §12, §16). Only bodies that are
 * not XML at all, or have no MANSCDP root or CmdType, are rejected, as `{ok:false, reason}`.
 *
 * XML safety: entity processing is off in the parser (no DOCTYPE expansion, and a DOCTYPE is
 * rejected outright); the five predefined entities and numeric character references are
 * decoded by us. `parseTagValue` is off so IDs with leading zeros stay strings.
 *
 * Times: MANSCDP times carry no zone; they are the device's local wall clock. We interpret and
 * format them at a configurable UTC offset, default +08:00 (China). Parsed times are unix
 * seconds.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { decodeXmlBody, stripXmlInvalidChars } from './charset.js';
import { CHINA_UTC_OFFSET_MINUTES, formatManscdpTime, parseManscdpTime } from './time.js';
import { parseControlFamily, type ControlFamilyMessage } from './control.js';
import { compact, decodeEntities, field, float, int, isObject, list, manscdpDocument, parseLooseInt, str, text, type XmlObject } from './xml-fields.js';

export * from './time.js';
export { parseLooseInt } from './xml-fields.js';

export type ManscdpRoot = 'Query' | 'Response' | 'Notify' | 'Control';

/** Fields every MANSCDP message has. */
export interface ManscdpHeader {
  root: ManscdpRoot;
  cmdType: string;
  /** 0 when absent or not a number; our SnAllocator never hands out 0, so it never correlates. */
  sn: number;
  /** '' when absent; the SIP From user is then the better identity. */
  deviceId: string;
}

export interface KeepaliveMessage extends ManscdpHeader {
  kind: 'keepalive';
  /**
   * False only when the device explicitly reports a problem (ERROR, OFFLINE, OFF, FAULT...).
   * A missing or unrecognised status counts as ok: the device reached us, so it is alive.
   */
  ok: boolean;
  /** The Status text as sent (top level, else `Info/Status`), '' when absent. */
  statusRaw: string;
  /** `Info/DeviceID` entries: channels the device reports as faulty. */
  faultyDeviceIds: string[];
}

export interface CatalogItem {
  deviceId: string;
  name?: string;
  manufacturer?: string;
  model?: string;
  owner?: string;
  civilCode?: string;
  block?: string;
  address?: string;
  parental?: number;
  parentId?: string;
  /** The business group (215) a virtual organisation (216) or a channel under one belongs to. */
  businessGroupId?: string;
  safetyWay?: number;
  registerWay?: number;
  secrecy?: number;
  ipAddress?: string;
  port?: number;
  /** ON only for ON/OK/ONLINE/1/TRUE/YES (any case); missing or anything else is OFF. */
  status: 'ON' | 'OFF';
  statusRaw: string;
  longitude?: number;
  latitude?: number;
  /** From `PTZType` or `Info/PTZType`. */
  ptzType?: number;
  /** Catalog Notify (subscription) event: ON, OFF, VLOST, DEFECT, ADD, DEL, UPDATE. */
  event?: string;
}

export interface CatalogMessage extends ManscdpHeader {
  kind: 'catalog';
  /** undefined when absent; aggregators then take the items of this message as the whole list. */
  sumNum: number | undefined;
  /** `DeviceList@Num`, informational only (devices get it wrong). */
  listNum: number | undefined;
  items: CatalogItem[];
}

export interface DeviceInfoMessage extends ManscdpHeader {
  kind: 'deviceInfo';
  result?: string;
  deviceName?: string;
  manufacturer?: string;
  model?: string;
  firmware?: string;
  deviceType?: string;
  channel?: number;
}

export interface RecordItem {
  deviceId: string;
  name?: string;
  filePath?: string;
  address?: string;
  /** Unix seconds; undefined when the device sent something unparseable (raw kept). */
  startTime: number | undefined;
  endTime: number | undefined;
  startTimeRaw: string;
  endTimeRaw: string;
  secrecy?: number;
  type?: string;
  recorderId?: string;
  fileSize?: number;
}

export interface RecordInfoMessage extends ManscdpHeader {
  kind: 'recordInfo';
  name?: string;
  sumNum: number | undefined;
  items: RecordItem[];
}

export interface MediaStatusMessage extends ManscdpHeader {
  kind: 'mediaStatus';
  notifyType: number | undefined;
  /** NotifyType 121: the playback/download stream reached the end of the file. */
  endOfFile: boolean;
}

export interface DeviceStatusMessage extends ManscdpHeader {
  kind: 'deviceStatus';
  result?: string;
  /** `Online` is ONLINE (any case) / ON / OK. */
  online: boolean;
  onlineRaw: string;
  /** `Status` is OK (any case) / ON / ONLINE. */
  statusOk: boolean;
  statusRaw: string;
  encode?: string;
  record?: string;
  deviceTime?: string;
  alarms: Array<{ deviceId: string; dutyStatus?: string }>;
}

/** Queries (what we send; parsed too so builders can be checked and cascades handled later). */
export interface QueryMessage extends ManscdpHeader {
  kind: 'query';
  startTime?: number;
  endTime?: number;
  recordType?: string;
  secrecy?: number;
  /** ConfigDownload: the requested types (`BasicParam/VideoParamOpt` split). */
  configTypes?: string[];
  /** MobilePosition subscription: seconds between reports. */
  interval?: number;
  startAlarmPriority?: number;
  endAlarmPriority?: number;
  alarmMethod?: string;
}

/** Any other CmdType: surfaced, never an error. */
export interface UnknownMessage extends ManscdpHeader {
  kind: 'unknown';
  raw: Record<string, unknown>;
}

export type ManscdpMessage =
  | KeepaliveMessage
  | CatalogMessage
  | DeviceInfoMessage
  | RecordInfoMessage
  | MediaStatusMessage
  | DeviceStatusMessage
  | QueryMessage
  | ControlFamilyMessage
  | UnknownMessage;

export type ManscdpParseResult =
  /** `charset`: the decoder used (see decodeXmlBody), or 'string' when given text. */
  | { ok: true; message: ManscdpMessage; charset: string }
  | { ok: false; reason: string; charset?: string };

export interface ManscdpOptions {
  /** Offset of the devices' wall clock from UTC, in minutes. Default 480 (+08:00). */
  utcOffsetMinutes?: number;
}

export interface ParseOptions extends ManscdpOptions {
  /** Bodies larger than this are rejected before decoding. Default 4 MiB. */
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Parsing

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  removeNSPrefix: true,
  trimValues: true,
  maxNestedTags: 64,
  tagValueProcessor: (_name: string, value: string) => decodeEntities(value),
  attributeValueProcessor: (_name: string, value: string) => decodeEntities(value),
});

/** A bare `&` (e.g. in a device name) is the one well-formedness error we repair. */
const BARE_AMPERSAND = /&(?!(?:[a-zA-Z][a-zA-Z0-9]*|#[0-9]+|#x[0-9a-fA-F]+);)/;
const BARE_AMPERSANDS = new RegExp(BARE_AMPERSAND.source, 'g');

function validationError(xml: string): string | undefined {
  const verdict = XMLValidator.validate(xml);
  return verdict === true ? undefined : `${verdict.err.code}: ${verdict.err.msg} (line ${verdict.err.line})`;
}

const ROOTS: readonly ManscdpRoot[] = ['Query', 'Response', 'Notify', 'Control'];

const POSITIVE_STATUS = new Set(['ON', 'OK', 'ONLINE', '1', 'TRUE', 'YES']);
const NEGATIVE_STATUS = new Set(['OFF', 'OFFLINE', 'OFFILE', 'ERROR', 'FAULT', 'ABNORMAL', '0', 'FALSE', 'NO']);

function isPositive(raw: string | undefined): boolean {
  return raw !== undefined && POSITIVE_STATUS.has(raw.trim().toUpperCase());
}

/** Parses a MANSCDP body (bytes are decoded with {@link decodeXmlBody}; strings are used as is). Never throws. */
export function parseManscdp(body: Uint8Array | string, contentTypeCharset?: string, options: ParseOptions = {}): ManscdpParseResult {
  let xml: string;
  let charset: string;
  if (typeof body === 'string') {
    xml = stripXmlInvalidChars(body);
    charset = 'string'; // already text: nothing was decoded
  } else {
    if (body.length > (options.maxBytes ?? DEFAULT_MAX_BYTES)) return { ok: false, reason: `body too large (${body.length} bytes)` };
    const decoded = decodeXmlBody(body, contentTypeCharset);
    xml = decoded.text;
    charset = decoded.charset;
  }
  try {
    return parseDocument(xml, charset, options.utcOffsetMinutes ?? CHINA_UTC_OFFSET_MINUTES);
  } catch (err) {
    // The parser refuses prototype-polluting tag names by throwing; anything else is a bug in a
    // dependency we must not let a device trigger across the worker boundary.
    return { ok: false, reason: `XML parser error: ${err instanceof Error ? err.message : String(err)}`, charset };
  }
}

function parseDocument(input: string, charset: string, utcOffsetMinutes: number): ManscdpParseResult {
  let xml = input.replace(/^\uFEFF/, '').trim();
  if (xml === '') return { ok: false, reason: 'empty body', charset };
  if (/<!DOCTYPE/i.test(xml)) return { ok: false, reason: 'DOCTYPE not allowed in MANSCDP', charset };
  let error = validationError(xml);
  if (error !== undefined && BARE_AMPERSAND.test(xml)) {
    const repaired = xml.replace(BARE_AMPERSANDS, '&amp;');
    if (validationError(repaired) === undefined) {
      xml = repaired;
      error = undefined;
    }
  }
  if (error !== undefined) return { ok: false, reason: `malformed XML: ${error}`, charset };

  const doc: unknown = parser.parse(xml);
  const rootKeys = isObject(doc) ? Object.keys(doc).filter((k) => !k.startsWith('?') && !k.startsWith('#')) : [];
  const rootKey = rootKeys[0];
  if (rootKey === undefined) return { ok: false, reason: 'no root element', charset };
  if (rootKeys.length > 1 || Array.isArray((doc as XmlObject)[rootKey])) return { ok: false, reason: 'malformed XML: more than one root element', charset };
  const root = ROOTS.find((r) => r.toLowerCase() === rootKey.toLowerCase());
  if (root === undefined) return { ok: false, reason: `not a MANSCDP root: <${rootKey}>`, charset };
  const rawRoot = (doc as XmlObject)[rootKey];
  const node: XmlObject = isObject(rawRoot) ? rawRoot : {};
  const cmdType = str(node, 'CmdType');
  if (cmdType === undefined) return { ok: false, reason: 'missing CmdType', charset };

  const header: ManscdpHeader = { root, cmdType, sn: int(node, 'SN') ?? 0, deviceId: str(node, 'DeviceID') ?? '' };
  return { ok: true, message: toMessage(header, node, utcOffsetMinutes), charset };
}

function toMessage(header: ManscdpHeader, node: XmlObject, utcOffsetMinutes: number): ManscdpMessage {
  const cmd = header.cmdType.toLowerCase();
  if (header.root === 'Query') return parseQuery(header, node, utcOffsetMinutes);
  const control = parseControlFamily(header, node, utcOffsetMinutes);
  if (control !== undefined) return control;
  if (header.root === 'Notify' && cmd === 'keepalive') return parseKeepalive(header, node);
  if ((header.root === 'Response' || header.root === 'Notify') && cmd === 'catalog') return parseCatalog(header, node);
  if (header.root === 'Response' && cmd === 'deviceinfo') return parseDeviceInfo(header, node);
  if (header.root === 'Response' && cmd === 'recordinfo') return parseRecordInfo(header, node, utcOffsetMinutes);
  if (header.root === 'Response' && cmd === 'devicestatus') return parseDeviceStatus(header, node);
  if (header.root === 'Notify' && cmd === 'mediastatus') {
    const notifyType = int(node, 'NotifyType');
    return { ...header, kind: 'mediaStatus', notifyType, endOfFile: notifyType === 121 };
  }
  return { ...header, kind: 'unknown', raw: node };
}

function parseKeepalive(header: ManscdpHeader, node: XmlObject): KeepaliveMessage {
  const info = field(node, 'Info');
  const statusRaw = str(node, 'Status') ?? str(info, 'Status') ?? '';
  const ok = !NEGATIVE_STATUS.has(statusRaw.toUpperCase());
  const faultyDeviceIds = list(field(info, 'DeviceID'))
    .map(text)
    .filter((id): id is string => id !== undefined && id !== '');
  return { ...header, kind: 'keepalive', ok, statusRaw, faultyDeviceIds };
}

function parseCatalogItem(item: unknown): CatalogItem | undefined {
  const deviceId = str(item, 'DeviceID');
  if (deviceId === undefined) return undefined;
  const info = field(item, 'Info');
  const statusRaw = str(item, 'Status') ?? '';
  return compact<CatalogItem>({
    deviceId,
    name: str(item, 'Name'),
    manufacturer: str(item, 'Manufacturer'),
    model: str(item, 'Model'),
    owner: str(item, 'Owner'),
    civilCode: str(item, 'CivilCode'),
    block: str(item, 'Block'),
    address: str(item, 'Address'),
    parental: int(item, 'Parental'),
    parentId: str(item, 'ParentID'),
    businessGroupId: str(item, 'BusinessGroupID'),
    safetyWay: int(item, 'SafetyWay'),
    registerWay: int(item, 'RegisterWay'),
    secrecy: int(item, 'Secrecy'),
    ipAddress: str(item, 'IPAddress'),
    port: int(item, 'Port'),
    status: isPositive(statusRaw) ? 'ON' : 'OFF',
    statusRaw,
    longitude: float(item, 'Longitude'),
    latitude: float(item, 'Latitude'),
    ptzType: int(item, 'PTZType') ?? int(info, 'PTZType'),
    event: str(item, 'Event'),
  });
}

function parseCatalog(header: ManscdpHeader, node: XmlObject): CatalogMessage {
  const deviceList = field(node, 'DeviceList');
  const items = list(field(deviceList, 'Item'))
    .map(parseCatalogItem)
    .filter((i): i is CatalogItem => i !== undefined);
  return { ...header, kind: 'catalog', sumNum: int(node, 'SumNum'), listNum: parseLooseInt(text(field(deviceList, '@_Num'))), items };
}

function parseDeviceInfo(header: ManscdpHeader, node: XmlObject): DeviceInfoMessage {
  return compact<DeviceInfoMessage>({
    ...header,
    kind: 'deviceInfo',
    result: str(node, 'Result'),
    deviceName: str(node, 'DeviceName'),
    manufacturer: str(node, 'Manufacturer'),
    model: str(node, 'Model'),
    firmware: str(node, 'Firmware'),
    deviceType: str(node, 'DeviceType'),
    channel: int(node, 'Channel'),
  });
}

function parseRecordItem(item: unknown, utcOffsetMinutes: number): RecordItem | undefined {
  if (!isObject(item)) return undefined;
  const startTimeRaw = str(item, 'StartTime') ?? '';
  const endTimeRaw = str(item, 'EndTime') ?? '';
  return compact<RecordItem>({
    deviceId: str(item, 'DeviceID') ?? '',
    name: str(item, 'Name'),
    filePath: str(item, 'FilePath'),
    address: str(item, 'Address'),
    startTime: parseManscdpTime(startTimeRaw, utcOffsetMinutes),
    endTime: parseManscdpTime(endTimeRaw, utcOffsetMinutes),
    startTimeRaw,
    endTimeRaw,
    secrecy: int(item, 'Secrecy'),
    type: str(item, 'Type'),
    recorderId: str(item, 'RecorderID'),
    fileSize: int(item, 'FileSize'),
  });
}

function parseRecordInfo(header: ManscdpHeader, node: XmlObject, utcOffsetMinutes: number): RecordInfoMessage {
  const recordList = field(node, 'RecordList');
  const items = list(field(recordList, 'Item'))
    .map((i) => parseRecordItem(i, utcOffsetMinutes))
    .filter((i): i is RecordItem => i !== undefined);
  return compact<RecordInfoMessage>({ ...header, kind: 'recordInfo', name: str(node, 'Name'), sumNum: int(node, 'SumNum'), items });
}

function parseDeviceStatus(header: ManscdpHeader, node: XmlObject): DeviceStatusMessage {
  const onlineRaw = str(node, 'Online') ?? '';
  const statusRaw = str(node, 'Status') ?? '';
  const alarms = list(field(field(node, 'Alarmstatus'), 'Item'))
    .map((item) => compact({ deviceId: str(item, 'DeviceID') ?? '', dutyStatus: str(item, 'DutyStatus') }))
    .filter((a) => a.deviceId !== '');
  return compact<DeviceStatusMessage>({
    ...header,
    kind: 'deviceStatus',
    result: str(node, 'Result'),
    online: isPositive(onlineRaw),
    onlineRaw,
    statusOk: isPositive(statusRaw),
    statusRaw,
    encode: str(node, 'Encode'),
    record: str(node, 'Record'),
    deviceTime: str(node, 'DeviceTime'),
    alarms,
  });
}

function parseQuery(header: ManscdpHeader, node: XmlObject, utcOffsetMinutes: number): QueryMessage {
  return compact<QueryMessage>({
    ...header,
    kind: 'query',
    startTime: parseManscdpTime(str(node, 'StartTime'), utcOffsetMinutes),
    endTime: parseManscdpTime(str(node, 'EndTime'), utcOffsetMinutes),
    recordType: str(node, 'Type'),
    secrecy: int(node, 'Secrecy'),
    configTypes: str(node, 'ConfigType')
      ?.split('/')
      .map((t) => t.trim())
      .filter((t) => t !== ''),
    interval: int(node, 'Interval'),
    startAlarmPriority: int(node, 'StartAlarmPriority'),
    endAlarmPriority: int(node, 'EndAlarmPriority'),
    alarmMethod: str(node, 'AlarmMethod'),
  });
}

// ---------------------------------------------------------------------------------------------
// Building

export interface QueryParams {
  sn: number;
  deviceId: string;
}

export function buildCatalogQuery({ sn, deviceId }: QueryParams): string {
  return manscdpDocument('Query', { CmdType: 'Catalog', SN: sn, DeviceID: deviceId });
}

export function buildDeviceInfoQuery({ sn, deviceId }: QueryParams): string {
  return manscdpDocument('Query', { CmdType: 'DeviceInfo', SN: sn, DeviceID: deviceId });
}

export function buildDeviceStatusQuery({ sn, deviceId }: QueryParams): string {
  return manscdpDocument('Query', { CmdType: 'DeviceStatus', SN: sn, DeviceID: deviceId });
}

export interface RecordInfoQueryParams extends QueryParams, ManscdpOptions {
  /** Unix seconds. */
  startTime: number;
  /** Unix seconds. */
  endTime: number;
  /** `all` (default: scheduled, alarm and manual recordings), `time`, `alarm`, `manual`. */
  type?: string;
  secrecy?: number;
  filePath?: string;
  address?: string;
  recorderId?: string;
}

export function buildRecordInfoQuery(params: RecordInfoQueryParams): string {
  const offset = params.utcOffsetMinutes ?? CHINA_UTC_OFFSET_MINUTES;
  return manscdpDocument('Query', {
    CmdType: 'RecordInfo',
    SN: params.sn,
    DeviceID: params.deviceId,
    StartTime: formatManscdpTime(params.startTime, offset),
    EndTime: formatManscdpTime(params.endTime, offset),
    FilePath: params.filePath,
    Address: params.address,
    Secrecy: params.secrecy ?? 0,
    Type: params.type ?? 'all',
    RecorderID: params.recorderId,
  });
}

/** Keepalive as a lower platform would send it (for cascade and for tests). */
export function buildKeepalive({ sn, deviceId, status = 'OK' }: QueryParams & { status?: string }): string {
  return manscdpDocument('Notify', { CmdType: 'Keepalive', SN: sn, DeviceID: deviceId, Status: status });
}

export interface CatalogResponseParams extends QueryParams {
  sumNum: number;
  /** `Notify` for a subscription's change notification (items then carry `event`); default `Response`. */
  root?: 'Response' | 'Notify';
  items: ReadonlyArray<Omit<CatalogItem, 'statusRaw'> & { statusRaw?: string }>;
}

/** Catalog Response as a device sends it (for cascade and for tests); one MESSAGE worth of items. */
export function buildCatalogResponse({ sn, deviceId, sumNum, items, root = 'Response' }: CatalogResponseParams): string {
  const xmlItems = items.map((i) => {
    const fields: Record<string, unknown> = {
      DeviceID: i.deviceId,
      Name: i.name,
      Manufacturer: i.manufacturer,
      Model: i.model,
      Owner: i.owner,
      CivilCode: i.civilCode,
      Block: i.block,
      Address: i.address,
      Parental: i.parental,
      ParentID: i.parentId,
      BusinessGroupID: i.businessGroupId,
      SafetyWay: i.safetyWay,
      RegisterWay: i.registerWay,
      Secrecy: i.secrecy,
      IPAddress: i.ipAddress,
      Port: i.port,
      Status: i.statusRaw !== undefined && i.statusRaw !== '' ? i.statusRaw : i.status,
      Longitude: i.longitude,
      Latitude: i.latitude,
      Event: i.event,
      Info: i.ptzType === undefined ? undefined : { PTZType: i.ptzType },
    };
    return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
  });
  return manscdpDocument(root, {
    CmdType: 'Catalog',
    SN: sn,
    DeviceID: deviceId,
    SumNum: sumNum,
    DeviceList: { '@_Num': xmlItems.length, Item: xmlItems },
  });
}
