/**
 * MANSCDP bodies a lower platform sends upward in a cascade (GB/T 28181-2016 §9.5 answers
 * about ourselves, Annex A.2.6): DeviceInfo and DeviceStatus responses, and the split of a
 * catalog into messages. Builders only; the parser in manscdp.ts reads them back.
 */
import { buildCatalogResponse, type CatalogResponseParams, type QueryParams } from './manscdp.js';
import { manscdpDocument } from './xml-fields.js';
import { CHINA_UTC_OFFSET_MINUTES, formatManscdpTime } from './time.js';

export interface DeviceInfoAnswer extends QueryParams {
  deviceName: string;
  manufacturer: string;
  model: string;
  firmware: string;
  /** Channels we share with this platform. */
  channels: number;
}

export function buildDeviceInfoResponse(a: DeviceInfoAnswer): string {
  return manscdpDocument('Response', {
    CmdType: 'DeviceInfo',
    SN: a.sn,
    DeviceID: a.deviceId,
    DeviceName: a.deviceName,
    Result: 'OK',
    Manufacturer: a.manufacturer,
    Model: a.model,
    Firmware: a.firmware,
    Channel: a.channels,
  });
}

export interface DeviceStatusAnswer extends QueryParams {
  /** `YYYY-MM-DDThh:mm:ss` local time of the device. */
  deviceTime: string;
}

export function buildDeviceStatusResponse(a: DeviceStatusAnswer): string {
  return manscdpDocument('Response', {
    CmdType: 'DeviceStatus',
    SN: a.sn,
    DeviceID: a.deviceId,
    Result: 'OK',
    Online: 'ONLINE',
    Status: 'OK',
    Encode: 'ON',
    Record: 'OFF',
    DeviceTime: a.deviceTime,
    Alarmstatus: { '@_Num': 0 },
  });
}

/**
 * A catalog as Response messages of at most `perMessage` items each, every one carrying
 * the whole count in SumNum (an empty catalog is one message with SumNum 0).
 */
export function buildCatalogResponses(
  sn: number,
  deviceId: string,
  items: CatalogResponseParams['items'],
  perMessage: number,
): string[] {
  const size = Math.max(1, Math.trunc(perMessage));
  if (items.length === 0) return [buildCatalogResponse({ sn, deviceId, sumNum: 0, items: [] })];
  const out: string[] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(buildCatalogResponse({ sn, deviceId, sumNum: items.length, items: items.slice(i, i + size) }));
  }
  return out;
}

export interface RecordRange {
  /** Unix seconds. */
  start: number;
  end: number;
  /** A camera's own item relayed (A.2.6.7): its name, file path, address, type and the rest. */
  name?: string;
  filePath?: string;
  address?: string;
  secrecy?: number;
  type?: string;
  recorderId?: string;
  fileSize?: number;
}

/**
 * RecordInfo Response messages (A.2.6.7) for a channel: at most `perMessage` items each, every
 * message with the whole count in SumNum; times as local `YYYY-MM-DDThh:mm:ss` at the offset.
 */
export function buildRecordInfoResponses(
  sn: number,
  channelId: string,
  name: string,
  ranges: readonly RecordRange[],
  perMessage: number,
  utcOffsetMinutes = CHINA_UTC_OFFSET_MINUTES,
): string[] {
  const size = Math.max(1, Math.trunc(perMessage));
  const items = ranges.map((r) => {
    const item: Record<string, unknown> = {
      DeviceID: channelId,
      Name: r.name ?? name,
      FilePath: r.filePath,
      Address: r.address,
      StartTime: formatManscdpTime(r.start, utcOffsetMinutes),
      EndTime: formatManscdpTime(r.end, utcOffsetMinutes),
      Secrecy: r.secrecy ?? 0,
      Type: r.type ?? 'time',
      RecorderID: r.recorderId,
      FileSize: r.fileSize,
    };
    return Object.fromEntries(Object.entries(item).filter(([, v]) => v !== undefined));
  });
  const out: string[] = [];
  for (let i = 0; i < Math.max(1, items.length); i += size) {
    const part = items.slice(i, i + size);
    out.push(
      manscdpDocument('Response', {
        CmdType: 'RecordInfo',
        SN: sn,
        DeviceID: channelId,
        Name: name,
        SumNum: items.length,
        RecordList: { '@_Num': part.length, ...(part.length > 0 ? { Item: part } : {}) },
      }),
    );
  }
  return out;
}

/** The Response to a relayed Control (DeviceControl, DeviceConfig) under the ID and SN the platform used. */
export function buildResultResponse(a: { sn: number; deviceId: string; cmdType: string; result: string }): string {
  return manscdpDocument('Response', { CmdType: a.cmdType, SN: a.sn, DeviceID: a.deviceId, Result: a.result });
}
