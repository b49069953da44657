/**
 * A typed client for the parts of ZLMediaKit's HTTP API that camgate uses.
 *
 * Every call is `GET {baseUrl}/index/api/<name>?secret=…&…`. ZLM accepts GET query parameters,
 * form posts and JSON posts alike (observed, docs/zlmediakit.md); GET is what was exercised the most
 * against a real server and what gosip uses, so it is the one form we send.
 *
 * ZLM always answers HTTP 200 with a JSON body carrying `code`; the HTTP status says nothing, so
 * success is decided by `code === 0` alone. A non-zero code becomes a {@link ZlmError}; anything
 * that prevents reading a code at all (timeout, refused connection, non-JSON) becomes a
 * {@link ZlmTransportError}. Neither error message contains the secret: URLs are never put into them.
 */

/** ZLM answered, and its `code` was not 0. */
export class ZlmError extends Error {
  /** ZLM's own codes seen on a real server: -1 other failure, -100 auth, -300 bad or missing argument, -400 exception, -500 not found. */
  readonly code: number;
  /** ZLM's `msg`, verbatim (it can be Chinese). */
  readonly zlmMessage: string;
  /** The API name, e.g. `openRtpServer`. */
  readonly method: string;

  constructor(code: number, zlmMessage: string, method: string) {
    super(`ZLMediaKit ${method} failed with code ${code}: ${zlmMessage}`);
    this.name = 'ZlmError';
    this.code = code;
    this.zlmMessage = zlmMessage;
    this.method = method;
  }

  /** -100: the secret is missing or wrong (ZLM then offers a cookie login we never use). */
  get isAuthFailure(): boolean {
    return this.code === ZLM_CODE.auth;
  }
}

/** ZLM's result codes as observed (docs/zlmediakit.md). */
export const ZLM_CODE = {
  ok: 0,
  otherFailure: -1,
  auth: -100,
  invalidArgs: -300,
  exception: -400,
  notFound: -500,
} as const;

export type ZlmTransportFailure = 'timeout' | 'network' | 'http-status' | 'bad-body';

/** No usable answer came from ZLM: it did not answer in time, could not be reached, or sent something that is not a ZLM reply. */
export class ZlmTransportError extends Error {
  readonly kind: ZlmTransportFailure;
  readonly method: string;

  constructor(kind: ZlmTransportFailure, method: string, detail: string, cause?: unknown) {
    super(`ZLMediaKit ${method}: ${detail}`, cause === undefined ? undefined : { cause });
    this.name = 'ZlmTransportError';
    this.kind = kind;
    this.method = method;
  }
}

export interface ZlmClientOptions {
  /** ZLM's HTTP address, e.g. `http://127.0.0.1:18080` (the `/index/api/` path is added here). */
  baseUrl: string;
  /** ZLM's `api.secret`, sent as the `secret` query parameter on every call. */
  secret: string;
  /** Per-call deadline covering connect, request and reading the body. */
  timeoutMs: number;
  /** Replaces the global fetch (tests, proxies). */
  fetch?: typeof fetch;
}

/** 0 = UDP only, 1 = UDP and TCP passive (ZLM listens), 2 = TCP active (ZLM dials out on `connectRtpServer`). */
export type ZlmTcpMode = 0 | 1 | 2;

export interface OpenRtpServerRequest {
  /** Unique per session: a duplicate is refused with -300 "This stream already exists". */
  streamId: string;
  /** 0 (the default) lets ZLM pick an even port from `rtp_proxy.port_range`; it also binds port+1 for RTCP. */
  port?: number;
  tcpMode: ZlmTcpMode;
  reusePort?: boolean;
  /** When set, packets with any other SSRC are dropped silently, one log line per packet. Fix it later with updateRtpServerSSRC. */
  ssrc?: number;
  /** Defaults to ZLM's `rtp`. */
  app?: string;
  vhost?: string;
  /** Defaults to ZLM's `general.listen_ip`. */
  localIp?: string;
  /** 0 both (default), 1 audio only, 2 video only. */
  onlyTrack?: 0 | 1 | 2;
}

export interface RtpServerEntry {
  app: string;
  vhost: string;
  streamId: string;
  /** ZLM reports 0 for a tcp_mode=2 (TCP active) server. */
  port: number;
  /** 0 when no SSRC filter is set. */
  ssrc: number;
  tcpMode: number;
  /** Not reliable: an only_track=2 server was listed with 0. */
  onlyTrack: number;
}

export type RtpInfo =
  | { exist: false }
  | { exist: true; identifier: string; localIp: string; localPort: number; peerIp: string; peerPort: number };

export interface MediaListFilter {
  schema?: string;
  vhost?: string;
  app?: string;
  stream?: string;
}

export interface ZlmTrack {
  /** 0 video, 1 audio. */
  codec_type: number;
  /** 0 H264, 1 H265, 2 AAC, 3 G711A, 4 G711U, … */
  codec_id: number;
  codec_id_name: string;
  ready: boolean;
  width?: number;
  height?: number;
  /** Use this rather than `frames`, which counts NAL-level frames. */
  fps?: number;
  sample_rate?: number;
  channels?: number;
  /** RTP loss ratio, -1 until known; absent on some sources. */
  loss?: number;
  [field: string]: unknown;
}

/** One getMediaList entry. A single GB stream appears once per muxer schema (rtsp, rtmp, ts, fmp4, hls). */
export interface ZlmMediaEntry {
  app: string;
  stream: string;
  schema: string;
  vhost: string;
  readerCount: number;
  /** Counts an active startSendRtp as a reader. */
  totalReaderCount: number;
  originType: number;
  originTypeStr: string;
  originUrl: string;
  aliveSecond: number;
  bytesSpeed: number;
  tracks: ZlmTrack[];
  originSock?: { identifier: string; local_ip: string; local_port: number; peer_ip: string; peer_port: number };
  [field: string]: unknown;
}

export interface CloseStreamsRequest {
  /**
   * One muxer schema to match; defaults to `rtsp`. Without a schema this ZLM version closes the
   * stream but still answers -400 (TSMediaSource::getOwnerPoller failed), so one is always sent.
   * Matching any one schema closes the whole stream (every schema) and frees its RtpServer.
   */
  schema?: string;
  vhost?: string;
  app: string;
  stream: string;
  /** Close even with viewers attached (gosip omitted this, so ZLM could refuse). */
  force: boolean;
}

export interface CloseStreamsResult {
  countHit: number;
  countClosed: number;
}

/** 0 ES, 1 PS (ZLM's default, what GB28181 platforms expect), 2 TS. */
export type ZlmSendPayload = 0 | 1 | 2;

export interface StartSendRtpRequest {
  vhost?: string;
  app: string;
  stream: string;
  /** The SSRC the receiver expects (decimal, 0 … 2^32-1), taken from its SDP `y=` line. */
  ssrc: number;
  dstUrl: string;
  dstPort: number;
  /** true = UDP, false = TCP active (ZLM connects, RFC 4571 framing). */
  isUdp: boolean;
  payload?: ZlmSendPayload;
  /** RTP payload type, ZLM's default 96. */
  pt?: number;
  srcPort?: number;
  onlyAudio?: boolean;
  udpRtcpTimeout?: boolean;
  closeDelayMs?: number;
}

export interface StartSendRtpPassiveRequest {
  vhost?: string;
  app: string;
  stream: string;
  ssrc: number;
  /** true = UDP passive, false = TCP passive (the receiver connects to us). */
  isUdp: boolean;
  payload?: ZlmSendPayload;
  pt?: number;
  srcPort?: number;
  onlyAudio?: boolean;
  closeDelayMs?: number;
}

export interface SendRtpTarget {
  vhost?: string;
  app: string;
  stream: string;
  ssrc: number;
}

const DEFAULT_VHOST = '__defaultVhost__';
const MAX_SSRC = 0xffff_ffff;

type Params = Record<string, string | number | boolean | undefined>;
type ZlmBody = Record<string, unknown> & { code: number };

export class ZlmClient {
  readonly #apiBase: string;
  readonly #secret: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: ZlmClientOptions) {
    if (!options.secret) throw new RangeError('ZlmClient: secret is required (ZLM answers -100 without it)');
    if (!(options.timeoutMs > 0)) throw new RangeError('ZlmClient: timeoutMs must be positive');
    this.#apiBase = `${options.baseUrl.replace(/\/+$/, '')}/index/api/`;
    // Fail at construction, not on the first call, when the address is unusable.
    new URL(this.#apiBase);
    this.#secret = options.secret;
    this.#timeoutMs = options.timeoutMs;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /** ZLM's whole configuration as a flat `section.key` → string map (every value is a string). */
  async getServerConfig(): Promise<Record<string, string>> {
    const body = await this.#call('getServerConfig', {});
    const data = body.data;
    if (!Array.isArray(data) || typeof data[0] !== 'object' || data[0] === null) {
      throw new ZlmTransportError('bad-body', 'getServerConfig', 'reply has no data[0]');
    }
    const config: Record<string, string> = {};
    for (const [key, value] of Object.entries(data[0] as Record<string, unknown>)) config[key] = String(value);
    return config;
  }

  /** Opens an RTP receive port for one INVITE. ZLM frees it itself on RTP timeout, close_streams or a none-reader close, so open a new one per INVITE. */
  async openRtpServer(request: OpenRtpServerRequest): Promise<{ port: number }> {
    requireText(request.streamId, 'streamId', 'openRtpServer');
    const port = request.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('openRtpServer: port must be 0 … 65535');
    if (request.ssrc !== undefined) requireSsrc(request.ssrc, 'openRtpServer');
    const body = await this.#call('openRtpServer', {
      port,
      tcp_mode: request.tcpMode,
      stream_id: request.streamId,
      ssrc: request.ssrc,
      app: request.app,
      vhost: request.vhost,
      local_ip: request.localIp,
      re_use_port: request.reusePort === undefined ? undefined : request.reusePort ? 1 : 0,
      only_track: request.onlyTrack,
    });
    return { port: requireNumber(body, 'port', 'openRtpServer') };
  }

  /** Idempotent: `hit` is 1 when a server was closed and 0 when there was none. */
  async closeRtpServer(streamId: string): Promise<{ hit: number }> {
    requireText(streamId, 'streamId', 'closeRtpServer');
    const body = await this.#call('closeRtpServer', { stream_id: streamId });
    return { hit: requireNumber(body, 'hit', 'closeRtpServer') };
  }

  /** The RTP servers ZLM holds; an empty list comes back without `data` and is returned as []. */
  async listRtpServer(): Promise<RtpServerEntry[]> {
    const body = await this.#call('listRtpServer', {});
    return listOf(body, 'listRtpServer').map((raw) => {
      const entry = raw as Record<string, unknown>;
      return {
        app: String(entry.app ?? ''),
        vhost: String(entry.vhost ?? ''),
        streamId: String(entry.stream_id ?? ''),
        port: Number(entry.port ?? 0),
        ssrc: Number(entry.ssrc ?? 0),
        tcpMode: Number(entry.tcp_mode ?? 0),
        onlyTrack: Number(entry.only_track ?? 0),
      };
    });
  }

  /** `exist: false` also while the server is open but no packet has arrived yet. */
  async getRtpInfo(streamId: string): Promise<RtpInfo> {
    requireText(streamId, 'streamId', 'getRtpInfo');
    const body = await this.#call('getRtpInfo', { stream_id: streamId });
    if (body.exist !== true) return { exist: false };
    return {
      exist: true,
      identifier: String(body.identifier ?? ''),
      localIp: String(body.local_ip ?? ''),
      localPort: Number(body.local_port ?? 0),
      peerIp: String(body.peer_ip ?? ''),
      peerPort: Number(body.peer_port ?? 0),
    };
  }

  /** Changes the SSRC filter once the device's SDP answer reveals the real SSRC; -500 when the stream id is unknown. */
  async updateRtpServerSSRC(streamId: string, ssrc: number): Promise<void> {
    requireText(streamId, 'streamId', 'updateRtpServerSSRC');
    requireSsrc(ssrc, 'updateRtpServerSSRC');
    await this.#call('updateRtpServerSSRC', { stream_id: streamId, ssrc });
  }

  /** For a tcp_mode=2 server: ZLM dials the device's TCP port. */
  async connectRtpServer(streamId: string, dstUrl: string, dstPort: number): Promise<void> {
    requireText(streamId, 'streamId', 'connectRtpServer');
    requireText(dstUrl, 'dstUrl', 'connectRtpServer');
    requirePort(dstPort, 'dstPort', 'connectRtpServer');
    await this.#call('connectRtpServer', { stream_id: streamId, dst_url: dstUrl, dst_port: dstPort });
  }

  /** Live media sources, one entry per schema; an empty list comes back without `data` and is returned as []. */
  async getMediaList(filter: MediaListFilter = {}): Promise<ZlmMediaEntry[]> {
    const body = await this.#call('getMediaList', {
      schema: filter.schema,
      vhost: filter.vhost,
      app: filter.app,
      stream: filter.stream,
    });
    return listOf(body, 'getMediaList') as ZlmMediaEntry[];
  }

  /** Closes a stream (all schemas) and frees its RtpServer. Always sends one `schema` (see {@link CloseStreamsRequest.schema}). */
  async closeStreams(request: CloseStreamsRequest): Promise<CloseStreamsResult> {
    requireText(request.app, 'app', 'close_streams');
    requireText(request.stream, 'stream', 'close_streams');
    const body = await this.#call('close_streams', {
      schema: request.schema || 'rtsp',
      vhost: request.vhost ?? DEFAULT_VHOST,
      app: request.app,
      stream: request.stream,
      force: request.force ? 1 : 0,
    });
    return {
      countHit: Number(body.count_hit ?? 0),
      countClosed: Number(body.count_closed ?? 0),
    };
  }

  /** ZLM pushes the stream as RTP to a receiver (an upper platform's INVITE). -500 when the source stream does not exist. */
  async startSendRtp(request: StartSendRtpRequest): Promise<{ localPort: number }> {
    requireText(request.app, 'app', 'startSendRtp');
    requireText(request.stream, 'stream', 'startSendRtp');
    requireText(request.dstUrl, 'dstUrl', 'startSendRtp');
    requireSsrc(request.ssrc, 'startSendRtp');
    requirePort(request.dstPort, 'dstPort', 'startSendRtp');
    const body = await this.#call('startSendRtp', {
      vhost: request.vhost ?? DEFAULT_VHOST,
      app: request.app,
      stream: request.stream,
      ssrc: request.ssrc,
      dst_url: request.dstUrl,
      dst_port: request.dstPort,
      is_udp: request.isUdp ? 1 : 0,
      type: request.payload,
      pt: request.pt,
      src_port: request.srcPort,
      only_audio: flag(request.onlyAudio),
      udp_rtcp_timeout: flag(request.udpRtcpTimeout),
      close_delay_ms: request.closeDelayMs,
    });
    return { localPort: requireNumber(body, 'local_port', 'startSendRtp') };
  }

  /**
   * ZLM listens and the receiver connects (or, for UDP, sends first). Beware: this ZLM version binds
   * the passive sender on `::` (every interface), ignoring `general.listen_ip`.
   */
  async startSendRtpPassive(request: StartSendRtpPassiveRequest): Promise<{ localPort: number }> {
    requireText(request.app, 'app', 'startSendRtpPassive');
    requireText(request.stream, 'stream', 'startSendRtpPassive');
    requireSsrc(request.ssrc, 'startSendRtpPassive');
    const body = await this.#call('startSendRtpPassive', {
      vhost: request.vhost ?? DEFAULT_VHOST,
      app: request.app,
      stream: request.stream,
      ssrc: request.ssrc,
      is_udp: request.isUdp ? 1 : 0,
      type: request.payload,
      pt: request.pt,
      src_port: request.srcPort,
      only_audio: flag(request.onlyAudio),
      close_delay_ms: request.closeDelayMs,
    });
    return { localPort: requireNumber(body, 'local_port', 'startSendRtpPassive') };
  }

  /**
   * Stops one sender. Stopping a sender that is not running answers `-1 "stopSendRtp failed"` on
   * this ZLM version; that is reported as `{ stopped: false }` rather than thrown, so a stop can be
   * repeated safely. Note that stopping through the API does not fire `on_send_rtp_stopped`.
   */
  async stopSendRtp(target: SendRtpTarget): Promise<{ stopped: boolean }> {
    requireText(target.app, 'app', 'stopSendRtp');
    requireText(target.stream, 'stream', 'stopSendRtp');
    requireSsrc(target.ssrc, 'stopSendRtp');
    try {
      await this.#call('stopSendRtp', {
        vhost: target.vhost ?? DEFAULT_VHOST,
        app: target.app,
        stream: target.stream,
        ssrc: target.ssrc,
      });
      return { stopped: true };
    } catch (error) {
      if (error instanceof ZlmError && error.code === ZLM_CODE.otherFailure && error.zlmMessage === 'stopSendRtp failed') {
        return { stopped: false };
      }
      throw error;
    }
  }

  /** The SSRCs (decimal strings, as ZLM lists them) a stream is being sent with; [] when none. */
  async listRtpSender(target: { vhost?: string; app: string; stream: string }): Promise<string[]> {
    requireText(target.app, 'app', 'listRtpSender');
    requireText(target.stream, 'stream', 'listRtpSender');
    const body = await this.#call('listRtpSender', {
      vhost: target.vhost ?? DEFAULT_VHOST,
      app: target.app,
      stream: target.stream,
    });
    return listOf(body, 'listRtpSender').map((ssrc) => String(ssrc));
  }

  async #call(method: string, params: Params): Promise<ZlmBody> {
    const url = new URL(method, this.#apiBase);
    url.searchParams.set('secret', this.#secret);
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }

    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.#timeoutMs);
    let text: string;
    let status: number;
    try {
      const response = await this.#fetch(url, { method: 'GET', signal: abort.signal, headers: { accept: 'application/json' } });
      status = response.status;
      text = await response.text();
    } catch (error) {
      if (abort.signal.aborted) {
        throw new ZlmTransportError('timeout', method, `no answer within ${this.#timeoutMs} ms`, error);
      }
      throw new ZlmTransportError('network', method, `request failed: ${describe(error)}`, error);
    } finally {
      clearTimeout(timer);
    }

    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new ZlmTransportError(
        status === 200 ? 'bad-body' : 'http-status',
        method,
        `HTTP ${status} with a body that is not JSON`,
        error,
      );
    }
    if (typeof body !== 'object' || body === null || !Number.isInteger((body as { code?: unknown }).code)) {
      throw new ZlmTransportError(status === 200 ? 'bad-body' : 'http-status', method, `HTTP ${status} without an integer code`);
    }
    const reply = body as ZlmBody;
    if (reply.code !== ZLM_CODE.ok) {
      throw new ZlmError(reply.code, typeof reply.msg === 'string' ? reply.msg : '', method);
    }
    return reply;
  }
}

function listOf(body: ZlmBody, method: string): unknown[] {
  // ZLM drops `data` entirely when a list is empty.
  if (body.data === undefined) return [];
  if (!Array.isArray(body.data)) throw new ZlmTransportError('bad-body', method, 'data is not a list');
  return body.data;
}

function requireNumber(body: ZlmBody, key: string, method: string): number {
  const value = body[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ZlmTransportError('bad-body', method, `reply has no numeric ${key}`);
  }
  return value;
}

function requireText(value: string, name: string, method: string): void {
  if (typeof value !== 'string' || value.length === 0) throw new RangeError(`${method}: ${name} must be a non-empty string`);
}

function requireSsrc(ssrc: number, method: string): void {
  // gosip's allocator could exceed 32 bits; refuse that here rather than let ZLM truncate it.
  if (!Number.isInteger(ssrc) || ssrc < 0 || ssrc > MAX_SSRC) throw new RangeError(`${method}: ssrc must be an integer 0 … 4294967295`);
}

function requirePort(port: number, name: string, method: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`${method}: ${name} must be 1 … 65535`);
}

function flag(value: boolean | undefined): number | undefined {
  return value === undefined ? undefined : value ? 1 : 0;
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (error instanceof Error) return error.message;
  return String(error);
}
