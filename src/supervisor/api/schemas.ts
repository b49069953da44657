/** JSON Schemas of the API's rows and list parameters; they drive validation, serialisation and OpenAPI. */
import type { FastifyInstance } from 'fastify';
import { envelopeSchema, errorResponses, ok } from './envelope.js';
import type { ListQuery, ListResult } from '../store/types.js';

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const num = { type: 'number' } as const;

export const gbIdPattern = '^[0-9]{20}$';

/** A recorded range (RecordInfo, downloads), unix seconds. */
export const rangeProperties = {
  start: { type: 'integer', minimum: 1, description: 'unix seconds' },
  end: { type: 'integer', minimum: 1, description: 'unix seconds' },
} as const;

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: gbIdPattern, description: '20-digit GB/T 28181 ID' } },
} as const;

export const listQuerystring = {
  type: 'object',
  properties: {
    limit: { type: 'integer', default: 20, description: 'Page size (negative: no limit; at most 1000).' },
    skip: { type: 'integer', minimum: 0, default: 0, description: 'Rows to skip.' },
    sort: {
      type: 'string',
      maxLength: 200,
      description: 'Comma-separated field names, `-` prefix for descending. Default `-addtime`.',
    },
    filters: {
      type: 'string',
      maxLength: 8192,
      description:
        'JSON array of `{"field_name","opertator"|"operator","value"}` conditions (ANDed) and ' +
        '`{"or":[[cond,...],[cond,...]]}` groups. Operators: = > < >= <= <> in notin like.',
    },
  },
} as const;

export const deviceSchema = {
  type: 'object',
  description: 'A GB/T 28181 device (NVR, DVR or IPC). The password is never returned.',
  properties: {
    id: int,
    deviceid: str,
    name: str,
    region: str,
    host: str,
    port: int,
    transport: str,
    rport: int,
    raddr: str,
    source: { type: 'string', description: 'ip:port of the last request' },
    manufacturer: str,
    devicetype: str,
    firmware: str,
    model: str,
    uri: str,
    online: { type: 'integer', enum: [0, 1] },
    active: { type: 'integer', description: 'Last keepalive (unix s), 0 never, -1 bad status' },
    regist: { type: 'boolean' },
    expires_at: { type: ['integer', 'null'], description: 'Registration expiry (unix s)' },
    status: { type: ['object', 'null'], additionalProperties: true, description: 'The last DeviceStatus answer (GET /devices/:id/status stores it)' },
    status_at: { type: ['integer', 'null'], description: 'When that answer came (unix s)' },
    addtime: int,
    uptime: int,
  },
} as const;

export const channelSchema = {
  type: 'object',
  description: 'A camera channel of a device.',
  properties: {
    id: int,
    channelid: str,
    deviceid: str,
    memo: str,
    name: str,
    manufacturer: str,
    model: str,
    owner: str,
    civilcode: str,
    address: str,
    parental: int,
    parentid: str,
    safetyway: int,
    registerway: int,
    secrecy: int,
    status: str,
    ptztype: int,
    longitude: { type: ['number', 'null'] },
    latitude: { type: ['number', 'null'] },
    active: int,
    uri: str,
    vf: str,
    height: int,
    width: int,
    fps: num,
    streamtype: { type: 'string', enum: ['push', 'pull'] },
    url: str,
    addtime: int,
    uptime: int,
  },
} as const;

/** gosip's list shape. Its keys are capitalised because gosip's runtime sends them so. */
export function listSchema(item: object) {
  return {
    type: 'object',
    required: ['Total', 'List'],
    properties: { Total: { type: 'integer' }, List: { type: 'array', items: item } },
  } as const;
}

/**
 * A plain `GET <path>` list route over one store table: gosip's paging, sort and filters
 * in, `{Total, List}` out, the item schema in OpenAPI.
 */
export function listRoute<T>(
  app: FastifyInstance,
  options: { path: string; tag: string; summary: string; item: object; list: (query: ListQuery) => Promise<ListResult<T>> },
): void {
  app.get<{ Querystring: ListQuery }>(
    options.path,
    {
      schema: {
        tags: [options.tag],
        summary: options.summary,
        querystring: listQuerystring,
        response: { 200: envelopeSchema(listSchema(options.item)), ...errorResponses },
      },
    },
    async (request) => {
      const { total, list } = await options.list(request.query);
      return ok({ Total: total, List: list });
    },
  );
}
