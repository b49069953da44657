import type { FastifyInstance } from 'fastify';
import { listRoute } from './schemas.js';

const int = { type: 'integer' } as const;
const intNull = { type: ['integer', 'null'] } as const;
const numNull = { type: ['number', 'null'] } as const;
const str = { type: 'string' } as const;

export const alarmSchema = {
  type: 'object',
  description: 'An alarm a camera (MESSAGE Notify Alarm, §9.4) or a vehicle (0x0200 alarm bits, when they change) reported, as stored.',
  properties: {
    id: int,
    kind: { type: 'string', enum: ['gb28181', 'jt808'] },
    deviceid: { type: 'string', description: 'Device ID, or the vehicle\'s SIM' },
    channelid: { type: 'string', description: 'Channel or alarm input (cameras); empty for vehicles' },
    priority: { ...intNull, description: 'AlarmPriority 1–4' },
    method: { ...intNull, description: 'AlarmMethod 1–7 (2 device alarm, 5 video alarm, …)' },
    type: { ...intNull, description: 'AlarmType (Info/AlarmType)' },
    event_type: { ...intNull, description: 'EventType (Info/AlarmTypeParam/EventType)' },
    description: str,
    flags: { type: 'string', description: 'Vehicles: the alarm bits set, by name, comma-separated' },
    alarm_time: { ...intNull, description: 'When the device says it happened, unix seconds' },
    latitude: numNull,
    longitude: numNull,
    addtime: { type: 'integer', description: 'When camgate received it, unix seconds' },
  },
} as const;

/** `GET /alarms`: the stored alarms of cameras and vehicles (the newest 100,000 are kept). */
export async function alarmsRoutes(app: FastifyInstance): Promise<void> {
  listRoute(app, {
    path: '/alarms',
    tag: 'alarms',
    summary: 'List alarms, newest first by default (paging, sort, filters on kind, deviceid, channelid, priority, method, type, addtime…).',
    item: alarmSchema,
    list: (query) => app.deps.store.alarms.list(query),
  });
}
