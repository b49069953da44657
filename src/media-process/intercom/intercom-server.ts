/**
 * The media process's intercom (jt1078.intercom): the audio port pool, the one WebRTC UDP
 * port and the live sessions. Served to the supervisor as `intercom.open`,
 * `intercom.close`, `intercom.list`; reports `intercom.connected`, `intercom.ended` and
 * the audio join/leave of terminals as notes (the supervisor sends callbacks and webhooks).
 *
 * Owns: TalkPortPool → talk connections; WebrtcMux → the UDP socket; IntercomSession per id.
 * close() ends every session with reason `shutdown`, then closes the mux and the pool.
 */
import type { CamgateConfig } from '../../shared/config/config.js';
import type { AudioJoin, AudioLeave, IntercomEnded, IntercomInfo, IntercomOpened, IntercomOpenRequest, IntercomPing, IntercomRtpTarget } from '../../shared/contracts/media.js';
import type { SharedCounters } from '../../shared/counters.js';
import { conflict, ServiceError } from '../../shared/errors.js';
import { IntercomSession } from './intercom-session.js';
import { TalkPortPool } from './talk-ports.js';
import { WebrtcMux } from './webrtc-mux.js';

export interface IntercomEvents {
  connected: (id: string) => void;
  ended: (ended: IntercomEnded) => void;
  join: (join: AudioJoin) => void;
  leave: (leave: AudioLeave) => void;
}

/** Where the answer's host candidate points: publicIp, else media.publicHost, else 127.0.0.1 (m7s's default). */
export function intercomPublicIp(config: CamgateConfig): string {
  return config.jt1078.intercom.publicIp || config.media.publicHost || '127.0.0.1';
}

export class IntercomServer {
  readonly pool: TalkPortPool;
  readonly mux: WebrtcMux;
  #config: CamgateConfig;
  #counters: SharedCounters;
  #events: IntercomEvents;
  #sessions = new Map<string, IntercomSession>();
  /** Ids being opened, so a duplicate id is refused before werift work starts. */
  #opening = new Set<string>();

  #silenceMs: number | undefined;

  /** `options.silenceMs`: how long a connected browser may send nothing (tests shorten it; default BROWSER_SILENCE_MS). */
  constructor(config: CamgateConfig, counters: SharedCounters, events: IntercomEvents, options: { silenceMs?: number } = {}) {
    this.#silenceMs = options.silenceMs;
    this.#config = config;
    this.#counters = counters;
    this.#events = events;
    const intercom = config.jt1078.intercom;
    this.pool = new TalkPortPool({
      host: config.jt1078.host,
      range: intercom.audioPorts,
      overtimeMs: intercom.overtime * 1000,
      onJoin: (join) => events.join(join),
      onLeave: (leave) => events.leave(leave),
      onMalformed: (bytes) => counters.add('resync_bytes|jt1078', bytes),
    });
    this.mux = new WebrtcMux(config.jt1078.host, intercom.webrtcPort);
  }

  async listen(): Promise<void> {
    await this.mux.listen();
    try {
      await this.pool.listen();
    } catch (error) {
      this.mux.close();
      throw error;
    }
  }

  async open(request: IntercomOpenRequest): Promise<IntercomOpened> {
    if (this.#sessions.has(request.id) || this.#opening.has(request.id)) throw conflict(`intercom ${request.id} exists`);
    if (request.targets.length === 0 && !request.camera) throw new ServiceError(400, '1002', 'group: at least one terminal is needed');
    this.#opening.add(request.id);
    try {
      const session = await IntercomSession.open(request, {
        mux: this.mux,
        pool: this.pool,
        counters: this.#counters,
        publicIp: intercomPublicIp(this.#config),
        connectTimeoutMs: this.#config.jt1078.intercom.connectTimeout * 1000,
        ...(this.#silenceMs !== undefined ? { silenceMs: this.#silenceMs } : {}),
        onConnected: (id) => this.#events.connected(id),
        onEnded: (ended) => {
          this.#sessions.delete(ended.id);
          this.#events.ended(ended);
        },
      });
      this.#sessions.set(session.id, session);
      return { id: session.id, sdp: session.answer, codec: session.codec, targets: session.targets };
    } finally {
      this.#opening.delete(request.id);
    }
  }

  /** A broadcast's camera INVITEd: where to send; resolves with our local media port. */
  async attachRtp(target: IntercomRtpTarget): Promise<{ port: number }> {
    const session = this.#sessions.get(target.id);
    if (!session) throw new ServiceError(404, '1002', `intercom ${target.id} not found`);
    return { port: await session.attachCamera(target, this.#config.jt1078.host) };
  }

  close(id: string, reason: string): boolean {
    const session = this.#sessions.get(id);
    if (!session) return false;
    session.close(reason);
    return true;
  }

  list(): IntercomInfo[] {
    return [...this.#sessions.values()].map((s) => s.info());
  }

  ping(): IntercomPing {
    return { sessions: this.#sessions.size, portsInUse: this.pool.inUse, portsTotal: this.pool.total, talkConnections: this.pool.connections };
  }

  async shutdown(): Promise<void> {
    for (const session of [...this.#sessions.values()]) session.close('shutdown');
    this.mux.close();
    await this.pool.close();
  }
}
