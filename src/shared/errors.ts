/**
 * gosip's envelope codes, used by the API and by every error that crosses a channel:
 * "1000" auth, "1001" store or a dependency, "1002" bad parameter or business rule,
 * "1003" internal error.
 */
export type ApiCode = '1000' | '1001' | '1002' | '1003';

/**
 * An error with the HTTP status and envelope code it should reach the API client
 * with. Thrown anywhere (supervisor, SIP thread, media process, media worker); the
 * channel carries status and code across threads and processes, so "no free RTP
 * port" raised in the media process answers 503 from the API, not 500.
 */
export class ServiceError extends Error {
  readonly status: number;
  readonly code: ApiCode;
  /** What a peer behind us answered (a device's SIP status), when that is the cause. */
  readonly upstream: number | undefined;
  constructor(status: number, code: ApiCode, message: string, upstream?: number) {
    super(message);
    this.name = 'ServiceError';
    this.status = status;
    this.code = code;
    this.upstream = upstream;
  }
}

/** A dependency (store, media process, ZLMediaKit…) cannot serve now: 503, retry later. */
export const unavailable = (message: string) => new ServiceError(503, '1001', message);
/** The request conflicts with the current state (already open, device offline…): 409. */
export const conflict = (message: string) => new ServiceError(409, '1002', message);
/** What the request names does not exist: 404. */
export const missing = (message: string) => new ServiceError(404, '1002', message);

/** The peer of a channel is gone, or the channel was closed, before the answer came. */
export class ChannelClosedError extends ServiceError {
  constructor(message = 'channel closed') {
    super(503, '1001', message);
    this.name = 'ChannelClosedError';
  }
}

/** A request got no answer in time. */
export class ChannelTimeoutError extends ServiceError {
  constructor(method: string, ms: number) {
    super(504, '1003', `request ${method} got no answer within ${ms} ms`);
    this.name = 'ChannelTimeoutError';
  }
}

/**
 * The remote handler failed. Name and message are the remote error's; status and
 * code too when it was a ServiceError, else 500/"1003".
 */
export class RemoteError extends ServiceError {
  constructor(name: string, message: string, status = 500, code: ApiCode = '1003', upstream?: number) {
    super(status, code, message, upstream);
    this.name = name;
  }
}

/** The wire form of an error answer on a channel. */
export interface WireError {
  name: string;
  message: string;
  status?: number;
  code?: ApiCode;
  upstream?: number;
}

export function toWireError(error: unknown): WireError {
  if (error instanceof ServiceError) {
    return { name: error.name, message: error.message, status: error.status, code: error.code, ...(error.upstream === undefined ? {} : { upstream: error.upstream }) };
  }
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}

export function fromWireError(error: WireError): RemoteError {
  return new RemoteError(error.name, error.message, error.status, error.code, error.upstream);
}
