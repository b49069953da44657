import type { ParentChannel } from '../shared/contracts/lifecycle.js';
import type { MediaContract, RecordTarget } from '../shared/contracts/media.js';
import { rtpStreamId, rtpStreamName } from '../shared/contracts/stream-name.js';
import { unavailable } from '../shared/errors.js';
import { ZlmClient, ZlmError, ZlmTransportError, buildPlayUrls, type ZlmUrlBases } from '../media-server/zlm/index.js';
import { ApiError } from './api/envelope.js';
import type { CamgateConfig } from '../shared/config/config.js';

/**
 * Where a GB28181 stream's media goes: camgate's own media process (builtin) or
 * ZLMediaKit (`media.server: zlm`). The stream manager only asks for a port,
 * closes it, and builds play URLs.
 */
export interface MediaBackend {
  readonly name: 'camgate' | 'zlm';
  /**
   * Opens a receiving port for stream `streamid` (SSRC in hex). With `ssrc` set, a backend that
   * can filter (ZLM) drops packets carrying any other SSRC.
   */
  open(
    streamid: string,
    transport: 'udp' | 'tcp',
    mediaTimeoutMs: number,
    ssrc?: number,
    /** A download's file (built-in media only). */
    record?: RecordTarget,
  ): Promise<{ host: string; port: number; slot: number | null }>;
  /** The device answered with another SSRC than offered: what will be on the wire from now on. */
  updateSsrc?(streamid: string, ssrc: number): Promise<void>;
  close(streamid: string, reason: string): Promise<void>;
  /** Play URLs of a stream (`name` as the media plane calls it), served from worker `slot`. */
  urls(name: string, slot: number | null): Record<string, string>;
}

export class BuiltinBackend implements MediaBackend {
  readonly name = 'camgate' as const;
  #media: () => ParentChannel<MediaContract> | null;
  #host: string;
  #config: CamgateConfig;

  constructor(media: () => ParentChannel<MediaContract> | null, advertisedHost: string, config: CamgateConfig) {
    this.#media = media;
    this.#host = advertisedHost;
    this.#config = config;
  }

  async open(streamid: string, transport: 'udp' | 'tcp', mediaTimeoutMs: number, _ssrc?: number, record?: RecordTarget) {
    const media = this.#media();
    if (!media) throw unavailable('media process is restarting; retry');
    const opened = await media.request('rtp.open', { name: rtpStreamName(streamid), transport, mediaTimeoutMs, destinations: [], ...(record ? { record } : {}) });
    return { host: this.#host, port: opened.port, slot: opened.slot };
  }

  async close(streamid: string, reason: string): Promise<void> {
    // A media process that is down has closed the port already.
    await this.#media()?.request('rtp.close', { name: rtpStreamName(streamid), reason }).catch(() => false);
  }

  urls(name: string, slot: number | null): Record<string, string> {
    if (slot === null) return {};
    const host = this.#config.media.publicHost || this.#host;
    const port = this.#config.media.httpPort;
    return { flv: `http://${host}:${port}/${name}.flv`, wsflv: `ws://${host}:${port}/${name}.flv` };
  }
}

/** ZLMediaKit as seen by the health probe. */
export interface ZlmHealth {
  ok: boolean;
  /** The API answered (whatever the mediaServerId). */
  reachable: boolean;
  api: string;
  /** ZLM's own `general.mediaServerId`. */
  mediaServerId?: string;
  /** `zlm.mediaServerId` when configured; hooks naming another id are refused. */
  expectedMediaServerId?: string;
  error?: string;
}

/** How long one probe answer serves /healthz scrapes and API calls. */
const PROBE_CACHE_MS = 2_000;
/** The probe must answer /healthz quickly even when ZLM hangs. */
const PROBE_TIMEOUT_MS = 1_000;

export class ZlmBackend implements MediaBackend {
  readonly name = 'zlm' as const;
  readonly client: ZlmClient;
  /** Called when a probe finds ZLM answering again after it did not (it may have restarted). */
  onReachableAgain: (() => void) | undefined;
  #config: CamgateConfig;
  #host: string;
  #probeClient: ZlmClient;
  #probe: { at: number; health: Promise<ZlmHealth> } | null = null;
  /** The last probe's verdict on reachability, once one has answered. */
  #reachable: boolean | undefined;

  constructor(config: CamgateConfig, advertisedHost: string) {
    this.#config = config;
    this.#host = config.zlm.rtpHost || advertisedHost;
    this.client = new ZlmClient({ baseUrl: config.zlm.api, secret: config.zlm.secret, timeoutMs: config.zlm.timeout });
    this.#probeClient = new ZlmClient({
      baseUrl: config.zlm.api,
      secret: config.zlm.secret,
      timeoutMs: Math.min(config.zlm.timeout, PROBE_TIMEOUT_MS),
    });
  }

  async open(streamid: string, transport: 'udp' | 'tcp', _mediaTimeoutMs: number, ssrc?: number) {
    await this.#requireReachable();
    // A fresh port per INVITE (gosip's single rtp_proxy port mixes streams by SSRC); the SSRC
    // filter makes ZLM drop anyone else's packets that reach the port.
    const { port } = await this.#api('openRtpServer', () =>
      this.client.openRtpServer({ streamId: streamid, port: 0, tcpMode: transport === 'tcp' ? 1 : 0, ...(ssrc === undefined ? {} : { ssrc }) }),
    );
    return { host: this.#host, port, slot: null };
  }

  async updateSsrc(streamid: string, ssrc: number): Promise<void> {
    await this.#api('updateRtpServerSSRC', () => this.client.updateRtpServerSSRC(streamid, ssrc));
  }

  async close(streamid: string): Promise<void> {
    await this.client.closeRtpServer(streamid).catch(() => undefined);
    await this.client.closeStreams({ app: 'rtp', stream: streamid, force: true }).catch(() => undefined);
  }

  /** The stream ids ZLM holds an RTP server for. */
  async rtpServerIds(): Promise<Set<string>> {
    const servers = await this.#api('listRtpServer', () => this.client.listRtpServer());
    return new Set(servers.map((server) => server.streamId));
  }

  urls(name: string): Record<string, string> {
    const streamid = rtpStreamId(name) ?? name;
    const bases: ZlmUrlBases = {};
    for (const [key, base] of Object.entries(this.#config.zlm.urls)) if (base) bases[key as keyof ZlmUrlBases] = base;
    const urls: Record<string, string> = {};
    for (const [kind, url] of Object.entries(buildPlayUrls(bases, streamid, { templates: this.#config.zlm.templates }))) {
      if (url !== undefined) urls[kind] = url;
    }
    return urls;
  }

  /**
   * Is ZLM answering, and is it the server our hooks accept (`mediaServerId`)? One getServerConfig
   * serves every caller for {@link PROBE_CACHE_MS}.
   */
  health(): Promise<ZlmHealth> {
    const now = Date.now();
    if (this.#probe && now - this.#probe.at < PROBE_CACHE_MS) return this.#probe.health;
    const health = this.#runProbe();
    this.#probe = { at: now, health };
    return health;
  }

  async #runProbe(): Promise<ZlmHealth> {
    const api = this.#config.zlm.api;
    const expected = this.#config.zlm.mediaServerId || undefined;
    const base = { api, ...(expected ? { expectedMediaServerId: expected } : {}) };
    let health: ZlmHealth;
    try {
      const config = await this.#probeClient.getServerConfig();
      const mediaServerId = config['general.mediaServerId'];
      const mismatch = expected !== undefined && mediaServerId !== expected;
      health = {
        ok: !mismatch,
        reachable: true,
        ...base,
        ...(mediaServerId === undefined ? {} : { mediaServerId }),
        ...(mismatch
          ? { error: `ZLMediaKit's mediaServerId is ${mediaServerId ?? '(none)'}, zlm.mediaServerId is ${expected}: its hooks are refused` }
          : {}),
      };
    } catch (error) {
      // An answer with a non-zero code (e.g. -100, a wrong zlm.secret) still means ZLM is there.
      const answered = error instanceof ZlmError;
      const reason = answered ? `ZLMediaKit refused getServerConfig: ${error.zlmMessage} (code ${error.code})` : `ZLMediaKit unreachable: ${(error as Error).message}`;
      health = { ok: false, reachable: answered, ...base, error: reason };
    }
    const wasDown = this.#reachable === false;
    this.#reachable = health.reachable;
    if (wasDown && health.reachable) this.onReachableAgain?.();
    return health;
  }

  /** Fails fast (one short probe at most) while ZLM is known to be down, instead of a full API timeout per request. */
  async #requireReachable(): Promise<void> {
    if (this.#reachable !== false) return;
    const health = await this.health();
    if (!health.reachable) throw new ApiError(503, '1001', health.error ?? 'ZLMediaKit unreachable');
  }

  /** One API call; a ZLM that cannot be reached is a 503 naming it, a refusal a 502 with ZLM's message. */
  async #api<T>(method: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof ZlmTransportError) {
        this.#reachable = false;
        this.#probe = null;
        throw new ApiError(503, '1001', `ZLMediaKit unreachable: ${error.message}`);
      }
      if (error instanceof ZlmError) throw new ApiError(502, '1002', `ZLMediaKit refused ${method}: ${error.zlmMessage} (code ${error.code})`);
      throw error;
    }
  }
}
