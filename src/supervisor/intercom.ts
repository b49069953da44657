/**
 * The supervisor's half of the intercom (docs/intercom.md): the API's requests become
 * `intercom.open` / `intercom.close` to the media process and 0x9101 / 0x9102 to the
 * terminal; the media process's notes become webhooks (`intercom.started`,
 * `intercom.stopped`), m7s's audio join/leave callbacks and the hang-up 0x9102.
 *
 * Two kinds of session:
 * - `vehicle` (`POST /vehicles/:sim/channels/:channel/intercom`): camgate does everything:
 *   codec from the stored 0x1003 (0x9003 if unknown), a pool port, 0x9101 data type 2/3/4
 *   towards it, and on hang-up 0x9102 command 4.
 * - `m7s` (`POST /jt1078/api/v1/intercom`): as m7s-jt1078, the application sent 0x9101
 *   itself and names the port; camgate answers the offer and leaves 0x9101/0x9102 to it.
 * - `camera` (`POST /channels/:id/intercom`): a GB28181 voice broadcast (§9.12): Notify
 *   Broadcast through the SIP thread, the camera's INVITE answered with where the media
 *   process sends the audio from, BYE on hang-up (unless the camera hung up).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { normalizeSim } from '../protocol/jt1078/stream-name.js';
import type { CamgateConfig } from '../shared/config/config.js';
import type { Jt808Contract } from '../shared/contracts/jt808.js';
import type { ParentChannel } from '../shared/contracts/lifecycle.js';
import type { IntercomCamera, IntercomCodec, IntercomEnded, IntercomMode, IntercomTarget, MediaContract } from '../shared/contracts/media.js';
import type { BroadcastInvite, BroadcastInviteAnswer, BroadcastStarted, SipContract } from '../shared/contracts/sip.js';
import { conflict, missing, ServiceError, unavailable } from '../shared/errors.js';
import type { StreamCallbacks } from './stream-callbacks.js';
import type { Store } from './store/types.js';

export interface IntercomControlDeps {
  config: CamgateConfig;
  store: Store;
  jt808: () => ParentChannel<Jt808Contract> | null;
  media: () => ParentChannel<MediaContract> | null;
  sip: () => ParentChannel<SipContract> | null;
  /** Where terminals reach our audio ports (as for the JT/T 1078 realtime port). */
  mediaHost: string;
  /** The address our broadcast SDP answers name (media.publicHost, else the SIP advertised host). */
  gbMediaHost: string;
  callbacks: StreamCallbacks;
  emit: (event: string, data: object, key?: string) => void;
  logger: Logger;
}

export interface IntercomAnswer {
  id: string;
  type: 'answer';
  sdp: string;
  codec: IntercomCodec;
  targets: IntercomTarget[];
  /** A broadcast: the camera channel, and how the camera took it. */
  camera?: IntercomCamera & Pick<BroadcastStarted, 'transport' | 'carriage' | 'inviteMs' | 'mediaPort'>;
}

interface Session {
  id: string;
  origin: 'vehicle' | 'm7s' | 'camera';
  mode: IntercomMode;
  targets: IntercomTarget[];
  codec: IntercomCodec;
  camera?: IntercomCamera;
}

/** 0x9101 data type per mode. */
const DATA_TYPE: Record<IntercomMode, number> = { talk: 2, listen: 3, broadcast: 4 };

export class IntercomControl {
  #d: IntercomControlDeps;
  #sessions = new Map<string, Session>();

  constructor(deps: IntercomControlDeps) {
    this.#d = deps;
  }

  get enabled(): boolean {
    return this.#d.config.jt1078.intercom.enabled;
  }

  #media(): ParentChannel<MediaContract> {
    if (!this.enabled) throw unavailable('intercom is off (jt1078.intercom.enabled)');
    const channel = this.#d.media();
    if (!channel) throw unavailable('the media process is restarting; retry');
    return channel;
  }

  #jt808(): ParentChannel<Jt808Contract> {
    const channel = this.#d.jt808();
    if (!channel) throw unavailable('JT/T 808 signalling is restarting; retry');
    return channel;
  }

  /** Wires the notes of a (new) media process channel. */
  attach(channel: ParentChannel<MediaContract>): void {
    channel.onNote('intercom.ended', (ended) => this.#ended(ended));
    channel.onNote('intercom.connected', ({ id }) => this.#d.logger.info({ intercom: id }, 'intercom connected'));
    channel.onNote('intercom.audioJoin', (join) => this.#d.callbacks.audioJoined(join));
    channel.onNote('intercom.audioLeave', (leave) => this.#d.callbacks.audioLeft(leave));
  }

  /** The media process restarted: its sessions are gone; end them here too (webhook, 0x9102). */
  mediaRestarted(): void {
    for (const id of [...this.#sessions.keys()]) this.#endLocally(id, 'media process restarted');
  }

  /** camgate's own intercom with one vehicle channel: codec learnt, port taken, 0x9101 sent, answer returned. */
  async openVehicle(sim: string, channel: number, sdp: string, mode: IntercomMode): Promise<IntercomAnswer> {
    const media = this.#media();
    const vehicle = await this.#d.store.vehicles.get(sim);
    if (!vehicle) throw missing(`vehicle ${sim} not found`);
    if (vehicle.online !== 1) throw conflict(`vehicle ${vehicle.sim} is offline`);
    const key = vehicle.sim;
    for (const s of this.#sessions.values()) {
      if (s.targets.some((t) => normalizeSim(t.sim) === key && t.channel === channel)) throw conflict(`vehicle ${key} channel ${channel} is already in an intercom (${s.id})`);
    }
    const audioCodec = await this.#audioCodec(key, vehicle.av_attributes);
    const id = randomUUID();
    const opened = await media.request('intercom.open', { id, sdp, audioCodec, targets: [{ sim: key, channel, port: 0 }], mode }, 15_000);
    const session: Session = { id, origin: 'vehicle', mode, targets: opened.targets, codec: opened.codec };
    this.#sessions.set(id, session);
    try {
      const answer = await this.#jt808().request(
        'vehicle.stream',
        { sim: key, channel, dataType: DATA_TYPE[mode], streamType: 0, host: this.#d.mediaHost, tcpPort: opened.targets[0]!.port, udpPort: 0 },
        15_000,
      );
      if (answer.result !== undefined && answer.result !== 0) throw new ServiceError(502, '1001', `the terminal refused 0x9101 (result ${answer.result})`);
    } catch (error) {
      this.#sessions.delete(id);
      await media.request('intercom.close', { id, reason: '0x9101 not accepted' }).catch(() => false);
      throw error;
    }
    this.#started(session);
    return { id, type: 'answer', sdp: opened.sdp, codec: opened.codec, targets: opened.targets };
  }

  /**
   * A voice broadcast to a camera channel: the browser's offer answered (PCMA), Notify
   * Broadcast, its Response and the camera's INVITE (answered from `broadcastInvite`), then
   * the answer for the browser. Fails 504 no-invite when the camera does not INVITE in time.
   */
  async openCamera(channelId: string, sdp: string): Promise<IntercomAnswer> {
    const media = this.#media();
    const channel = await this.#d.store.channels.get(channelId);
    if (!channel) throw missing(`channel ${channelId} not found`);
    const camera = { deviceId: channel.deviceid, channelId: channel.channelid };
    const device = await this.#d.store.devices.get(camera.deviceId);
    if (!device || device.online !== 1) throw conflict(`device ${camera.deviceId} is offline`);
    for (const s of this.#sessions.values()) {
      if (s.camera?.channelId === camera.channelId) throw conflict(`channel ${camera.channelId} is already in an intercom (${s.id})`);
    }
    const sip = this.#d.sip();
    if (!sip) throw unavailable('signalling is restarting; retry');
    const id = randomUUID();
    // G.711A towards the browser: what every GB28181 camera decodes (raw PT 8, or 0x90 in PS).
    const opened = await media.request('intercom.open', { id, sdp, audioCodec: 6, targets: [], mode: 'broadcast', camera }, 15_000);
    const session: Session = { id, origin: 'camera', mode: 'broadcast', targets: [], codec: opened.codec, camera };
    this.#sessions.set(id, session);
    let started: BroadcastStarted;
    try {
      const timeout = this.#d.config.gb28181.broadcastInviteTimeout * 1000;
      // The MESSAGE may take a SIP time-out (32 s) and the Response 10 s more before the INVITE wait.
      started = await sip.request('broadcast.start', { id, ...camera, inviteTimeoutMs: timeout }, 45_000 + timeout);
    } catch (error) {
      this.#sessions.delete(id);
      await media.request('intercom.close', { id, reason: 'broadcast not set up' }).catch(() => false);
      throw error;
    }
    this.#started(session);
    return {
      id,
      type: 'answer',
      sdp: opened.sdp,
      codec: opened.codec,
      targets: [],
      camera: { ...camera, transport: started.transport, carriage: started.carriage, inviteMs: started.inviteMs, mediaPort: started.mediaPort },
    };
  }

  /** The SIP thread's `broadcast.invite`: the camera's address given to the media process; our side for the SDP answer. */
  async broadcastInvite(invite: BroadcastInvite): Promise<BroadcastInviteAnswer> {
    const session = this.#sessions.get(invite.id);
    if (!session) throw missing(`broadcast ${invite.id} ended`);
    const ssrc = invite.ssrc ?? Math.floor(Math.random() * 1e9);
    const { port } = await this.#media().request(
      'intercom.attachRtp',
      { id: invite.id, host: invite.host, port: invite.port, transport: invite.transport, carriage: invite.carriage, payloadType: invite.payloadType, ssrc },
      10_000,
    );
    this.#d.logger.info({ intercom: invite.id, device: invite.deviceId, channel: invite.channelId, to: `${invite.host}:${invite.port}`, transport: invite.transport, carriage: invite.carriage, ssrc }, 'broadcast INVITE answered');
    return { mediaHost: this.#d.gbMediaHost, port, ssrc };
  }

  /** The camera sent BYE: the session ends (no BYE back). */
  broadcastBye(id: string, reason = 'the camera hung up (BYE)'): void {
    if (!this.#sessions.has(id)) return;
    void this.close(id, reason).catch((err: Error) => this.#d.logger.info({ intercom: id, err: err.message }, 'broadcast end failed'));
  }

  /** `DELETE /channels/:id/intercom`: false when that channel is in no intercom. */
  async hangUpCamera(channelId: string): Promise<boolean> {
    const session = [...this.#sessions.values()].find((s) => s.camera?.channelId === channelId);
    if (!session) return false;
    return this.close(session.id, 'hung up by request');
  }

  /** The SIP thread restarted: its broadcast dialogs are gone, so are the broadcasts. */
  sipRestarted(): void {
    for (const s of [...this.#sessions.values()]) if (s.origin === 'camera') void this.close(s.id, 'signalling restarted').catch(() => undefined);
  }

  /** m7s-jt1078's request: the application already pointed the terminals at the named ports. */
  async openM7s(sdp: string, group: IntercomTarget[], enterAudioEncoding: number): Promise<IntercomAnswer> {
    const media = this.#media();
    const id = randomUUID();
    const targets = group.map((g) => ({ sim: normalizeSim(g.sim), channel: g.channel, port: g.port }));
    const opened = await media.request('intercom.open', { id, sdp, audioCodec: enterAudioEncoding, targets, mode: 'talk' }, 15_000);
    const session: Session = { id, origin: 'm7s', mode: 'talk', targets: opened.targets, codec: opened.codec };
    this.#sessions.set(id, session);
    this.#started(session);
    return { id, type: 'answer', sdp: opened.sdp, codec: opened.codec, targets: opened.targets };
  }

  /** `DELETE /vehicles/:sim/channels/:channel/intercom`: false when that channel is in no intercom. */
  async hangUp(sim: string, channel: number): Promise<boolean> {
    const key = normalizeSim(sim);
    const session = [...this.#sessions.values()].find((s) => s.targets.some((t) => normalizeSim(t.sim) === key && t.channel === channel));
    if (!session) return false;
    return this.close(session.id, 'hung up by request');
  }

  async close(id: string, reason: string): Promise<boolean> {
    if (!this.#sessions.has(id)) return false;
    const closed = await this.#media().request('intercom.close', { id, reason });
    // The media process may have lost it (restart): end it here anyway.
    if (!closed) this.#endLocally(id, reason);
    return true;
  }

  #endLocally(id: string, reason: string): void {
    const s = this.#sessions.get(id);
    if (s) this.#ended({ id, codec: s.codec, mode: s.mode, targets: s.targets, ...(s.camera ? { camera: s.camera } : {}), reason, startedAt: 0, endedAt: Date.now(), packetsDown: 0, packetsUp: 0, drops: 0 });
  }

  list(): Session[] {
    return [...this.#sessions.values()];
  }

  async #audioCodec(sim: string, stored: Record<string, number> | null): Promise<number> {
    const known = stored?.audioCodec;
    if (typeof known === 'number') return known;
    const attributes = await this.#jt808().request('vehicle.avAttributes', { sim }, 15_000);
    await this.#d.store.vehicles.update(sim, { av_attributes: { ...attributes } }).catch(() => undefined);
    return attributes.audioCodec;
  }

  /** Who a webhook names: the vehicle channel and port, or the camera (device and channel IDs). */
  #subject(session: Session): Record<string, unknown> {
    if (session.camera) return { device: session.camera.deviceId, channel: session.camera.channelId };
    const target = session.targets[0]!;
    return { vehicle: normalizeSim(target.sim), channel: target.channel, port: target.port };
  }

  #started(session: Session): void {
    this.#d.logger.info({ intercom: session.id, targets: session.targets, camera: session.camera, codec: session.codec }, 'intercom started');
    this.#d.emit('intercom.started', { id: session.id, origin: session.origin, mode: session.mode, codec: session.codec, ...this.#subject(session), targets: session.targets }, session.id);
  }

  #ended(ended: IntercomEnded): void {
    const session = this.#sessions.get(ended.id);
    if (!session) return;
    this.#sessions.delete(ended.id);
    const durationMs = ended.startedAt > 0 ? ended.endedAt - ended.startedAt : 0;
    this.#d.logger.info({ intercom: ended.id, reason: ended.reason, packetsDown: ended.packetsDown, packetsUp: ended.packetsUp, drops: ended.drops }, 'intercom stopped');
    this.#d.emit(
      'intercom.stopped',
      {
        id: ended.id,
        origin: session.origin,
        mode: session.mode,
        codec: session.codec,
        ...this.#subject(session),
        targets: session.targets,
        reason: ended.reason,
        duration: Math.round(durationMs / 1000),
        durationMs,
        packetsDown: ended.packetsDown,
        packetsUp: ended.packetsUp,
        drops: ended.drops,
      },
      ended.id,
    );
    if (session.origin === 'camera') {
      // BYE to the camera unless it hung up itself (then the SIP thread knows no call: false).
      this.#d.sip()
        ?.request('broadcast.stop', { id: ended.id }, 5000)
        .catch((err: Error) => this.#d.logger.info({ intercom: ended.id, err: err.message }, 'broadcast BYE not sent'));
      return;
    }
    if (session.origin !== 'vehicle') return;
    // camgate asked for the talk, so camgate ends it at the terminal: 0x9102 command 4.
    for (const t of session.targets) {
      this.#d.jt808()
        ?.request('vehicle.streamControl', { sim: normalizeSim(t.sim), channel: t.channel, command: 4, closeType: 0, streamType: 0 }, 15_000)
        .catch((err: Error) => this.#d.logger.info({ sim: t.sim, channel: t.channel, err: err.message }, '0x9102 (close talk) not delivered'));
    }
  }
}
