import { randomBytes } from 'node:crypto';
import { ServiceError, type ApiCode as ErrorCode } from '../../shared/errors.js';

/**
 * gosip's response envelope `{code, msgid, data}`. Codes are strings:
 * "0" success, "1000" auth, "1001" store, "1002" bad parameter or business rule,
 * "1003" internal error.
 */
export type ApiCode = '0' | ErrorCode;

export interface Envelope<T = unknown> {
  code: ApiCode;
  msgid: string;
  data: T;
}

export function msgid(): string {
  return randomBytes(16).toString('hex');
}

export function ok<T>(data: T): Envelope<T> {
  return { code: '0', msgid: msgid(), data };
}

/** An error the API reports in the envelope with a fixed HTTP status (a ServiceError raised by the API itself). */
export class ApiError extends ServiceError {
  /** The request parameter at fault, when there is one. */
  readonly field: string | undefined;
  constructor(statusCode: number, code: ErrorCode, message: string, field?: string) {
    super(statusCode, code, message);
    this.name = 'ApiError';
    this.field = field;
  }
  get statusCode(): number {
    return this.status;
  }
}

export const badRequest = (field: string, message: string) =>
  new ApiError(400, '1002', `${field}: ${message}`, field);
export const notFound = (message: string) => new ApiError(404, '1002', message);

/** OpenAPI schema of an envelope around `data`. */
export function envelopeSchema(data: object, description?: string) {
  return {
    type: 'object',
    ...(description ? { description } : {}),
    required: ['code', 'msgid', 'data'],
    properties: {
      code: { type: 'string', enum: ['0'] },
      msgid: { type: 'string' },
      data,
    },
  } as const;
}

export const errorEnvelopeSchema = {
  type: 'object',
  description: 'Error: `data` names the field at fault and the reason.',
  required: ['code', 'msgid', 'data'],
  properties: {
    code: { type: 'string', enum: ['1000', '1001', '1002', '1003'] },
    msgid: { type: 'string' },
    data: { type: 'string' },
  },
} as const;

/** Standard error responses added to every route's schema. */
export const errorResponses = {
  400: errorEnvelopeSchema,
  401: errorEnvelopeSchema,
  404: errorEnvelopeSchema,
  409: errorEnvelopeSchema,
  500: errorEnvelopeSchema,
  502: errorEnvelopeSchema,
  503: errorEnvelopeSchema,
  504: errorEnvelopeSchema,
} as const;

/**
 * The playback range of a stream request (`replay=1` with `start` and `end`, unix seconds):
 * null for live view; a 400 naming the field when the range is missing or backwards.
 */
export function replayRange(body: { replay?: string | number; start?: number; end?: number }): { start: number; end: number } | null {
  if (String(body.replay ?? '0') !== '1') return null;
  if (!body.start) throw badRequest('start', 'is required with replay=1');
  if (!body.end) throw badRequest('end', 'is required with replay=1');
  if (body.end <= body.start) throw badRequest('end', 'must be after start');
  return { start: body.start, end: body.end };
}
