import type { ParentChannel } from '../shared/contracts/lifecycle.js';
import type { MediaContract } from '../shared/contracts/media.js';
import { rtpStreamId, rtpStreamName } from '../shared/contracts/stream-name.js';
import { unavailable } from '../shared/errors.js';
import { ZlmClient, buildPlayUrls } from '../media-server/zlm/index.js';
import { ApiError } from './api/envelope.js';
import type { CamgateConfig } from '../shared/config/config.js';

/**
 * Where a GB28181 stream's media goes: camgate's own media process (builtin) or
 * ZLMediaKit (`media.server: zlm`). The stream manager only asks for a port,
 * closes it, and builds play URLs.
 */
export interface MediaBackend {
  readonly name: 'camgate' | 'zlm';
  /** Opens a receiving port for stream `streamid` (SSRC in hex). */
  open(streamid: string, transport: 'udp' | 'tcp', mediaTimeoutMs: number): Promise<{ host: string; port: number; slot: number | null }>;
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

  async open(streamid: string, transport: 'udp' | 'tcp', mediaTimeoutMs: number) {
    const media = this.#media();
    if (!media) throw unavailable('media process is restarting; retry');
    const opened = await media.request('rtp.open', { name: rtpStreamName(streamid), transport, mediaTimeoutMs, destinations: [] });
    return { host: this.#host, port: opened.port, slot: opened.slot };
  }

  async close(streamid: string, reason: string): Promise<void> {
    // A media process that is down has closed the port already.
    await this.#media()?.request('rtp.close', { name: rtpStreamName(streamid), reason }).catch(() => false);
  }

  urls(name: string, slot: number | null): Record<string, string> {
    if (slot === null) return {};
    const host = this.#config.media.publicHost || this.#host;
    const port = this.#config.media.httpPort + slot;
    return { flv: `http://${host}:${port}/${name}.flv`, wsflv: `ws://${host}:${port}/${name}.flv` };
  }
}

export class ZlmBackend implements MediaBackend {
  readonly name = 'zlm' as const;
  readonly client: ZlmClient;
  #config: CamgateConfig;
  #host: string;

  constructor(config: CamgateConfig, advertisedHost: string) {
    this.#config = config;
    this.#host = config.zlm.rtpHost || advertisedHost;
    this.client = new ZlmClient({ baseUrl: config.zlm.api, secret: config.zlm.secret, timeoutMs: config.zlm.timeout });
  }

  async open(streamid: string, transport: 'udp' | 'tcp') {
    // A fresh port per INVITE (gosip's single rtp_proxy port mixes streams by SSRC).
    const { port } = await this.client.openRtpServer({ streamId: streamid, port: 0, tcpMode: transport === 'tcp' ? 1 : 0 });
    return { host: this.#host, port, slot: null };
  }

  async close(streamid: string): Promise<void> {
    await this.client.closeRtpServer(streamid).catch(() => undefined);
    await this.client.closeStreams({ app: 'rtp', stream: streamid, force: true }).catch(() => undefined);
  }

  urls(name: string): Record<string, string> {
    const streamid = rtpStreamId(name) ?? name;
    const u = this.#config.zlm.urls;
    const bases = Object.fromEntries(Object.entries(u).filter(([, v]) => v)) as Record<string, string>;
    return Object.fromEntries(Object.entries(buildPlayUrls(bases, streamid)).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
  }
}
