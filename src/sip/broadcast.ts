/**
 * Voice broadcast on the SIP thread (GB/T 28181-2016 §9.12): the platform notifies the camera
 * (MESSAGE Notify Broadcast, SourceID = our ID, TargetID = its audio output channel), the
 * camera answers 200 and a Response, then INVITEs us (To = the SourceID) with where it wants
 * the audio. We answer 200 with our SDP (sendonly G.711A, raw or in PS) and keep the dialog
 * until either side sends BYE.
 *
 * A broadcast waits for its INVITE only so long (inviteTimeoutMs after the Response: 504
 * no-invite). It is waiting before the MESSAGE leaves, because some cameras INVITE before
 * their Response. An INVITE no broadcast waits for is refused 481.
 */
import { Dialog, parseNameAddr, parseUri, type Clock, type DialogState, type Endpoint, type ServerTransaction, type SipRequest, type TimerHandle } from '../protocol/sip/index.js';
import { buildBroadcastAnswer, parseBroadcastOffer } from '../protocol/sdp/gb-sdp.js';
import type { SharedCounters } from '../shared/counters.js';
import type { BroadcastInvite, BroadcastInviteAnswer, BroadcastStarted, ControlOutcome } from '../shared/contracts/sip.js';
import { ServiceError, conflict } from '../shared/errors.js';
import { ControlError, type GbControlService } from './control-service.js';
import type { GbPlatform } from './platform.js';

export interface BroadcastDeps {
  platform: GbPlatform;
  control: GbControlService;
  clock: Clock;
  counters: SharedCounters;
  serverId: string;
  /** Our advertised SIP address, for Contact. */
  local: { host: string; port: number };
  /** The supervisor attaches the audio and says where we send from. */
  invite(invite: BroadcastInvite): Promise<BroadcastInviteAnswer>;
  /** The camera hung up (BYE answered), or went offline (`reason`). */
  bye(id: string, callId: string, reason?: string): void;
  log(level: 'debug' | 'info' | 'warn', message: string, data?: Record<string, unknown>): void;
}

interface Pending {
  id: string;
  deviceId: string;
  channelId: string;
  sentAt: number;
  inviteTimeoutMs: number;
  outcome?: ControlOutcome;
  /** Set once its INVITE was answered. */
  started?: Omit<BroadcastStarted, 'outcome'>;
  timer: TimerHandle | null;
  resolve(started: BroadcastStarted): void;
  reject(error: Error): void;
}

interface Call {
  id: string;
  deviceId: string;
  dialog: DialogState;
  remote: Endpoint;
  /** Our 200's SDP, sent again to a re-INVITE. */
  sdp: string;
}

export class GbBroadcast {
  #d: BroadcastDeps;
  #pending = new Map<string, Pending>();
  /** Calls by Call-ID. */
  #calls = new Map<string, Call>();

  constructor(deps: BroadcastDeps) {
    this.#d = deps;
  }

  /** Resolves once the camera's INVITE is answered; rejects with a ControlError (no-invite, invite-refused, or the MESSAGE's failure). */
  start(o: { id: string; deviceId: string; channelId: string; inviteTimeoutMs: number }): Promise<BroadcastStarted> {
    if (this.#pending.has(o.id) || this.#callOf(o.id)) return Promise.reject(conflict(`broadcast ${o.id} exists`));
    for (const p of this.#pending.values()) {
      if (p.deviceId === o.deviceId && p.channelId === o.channelId) return Promise.reject(conflict(`channel ${o.channelId} is already waiting for a broadcast INVITE`));
    }
    return new Promise<BroadcastStarted>((resolve, reject) => {
      const pending: Pending = { ...o, sentAt: this.#d.clock.now(), timer: null, resolve, reject };
      this.#pending.set(o.id, pending);
      this.#d.control.broadcast(o.deviceId, o.channelId).then(
        (outcome) => {
          if (this.#pending.get(o.id) !== pending) return;
          pending.outcome = outcome;
          if (pending.started) this.#done(pending);
          else pending.timer = this.#d.clock.setTimer(o.inviteTimeoutMs, () => this.#noInvite(pending));
        },
        (error: Error) => {
          if (this.#pending.get(o.id) !== pending) return;
          // The camera INVITEd though its Response went astray: the broadcast is up all the same.
          if (pending.started) {
            pending.outcome = { answeredBy: 'sip', latencyMs: pending.started.inviteMs };
            this.#done(pending);
            return;
          }
          this.#fail(pending, error);
        },
      );
    });
  }

  #noInvite(p: Pending): void {
    if (this.#pending.get(p.id) !== p) return;
    this.#d.counters.add('command_failures|broadcast|no-invite');
    this.#fail(p, new ControlError(`the camera accepted the broadcast but sent no INVITE within ${Math.round(p.inviteTimeoutMs / 1000)} s`, 'no-invite'));
  }

  /** A broadcast that will get no call: no longer waited for, its start() rejected. */
  #fail(p: Pending, error: Error): void {
    this.#pending.delete(p.id);
    if (p.timer !== null) this.#d.clock.clearTimer(p.timer);
    p.reject(error);
  }

  /** Our BYE to a call that ends from this side (best effort: the camera may be gone). */
  #hangUp(callId: string, call: Call): Promise<unknown> {
    this.#calls.delete(callId);
    return this.#d.platform.bye(call.dialog, call.deviceId, call.remote);
  }

  #done(p: Pending): void {
    this.#pending.delete(p.id);
    if (p.timer !== null) this.#d.clock.clearTimer(p.timer);
    p.resolve({ outcome: p.outcome!, ...p.started! });
  }

  #callOf(id: string): [string, Call] | undefined {
    for (const entry of this.#calls) if (entry[1].id === id) return entry;
    return undefined;
  }

  /** The pending broadcast an INVITE belongs to: by its From user (channel or device), else by the registered device it comes from. */
  #match(request: SipRequest, remote: Endpoint): Pending | undefined {
    const from = parseNameAddr(request.headers.get('from') ?? '');
    const user = from ? parseUri(from.uri)?.user : undefined;
    const waiting = [...this.#pending.values()].filter((p) => !p.started);
    const byUser = waiting.find((p) => p.channelId === user) ?? waiting.find((p) => p.deviceId === user);
    if (byUser) return byUser;
    const device = this.#d.platform.presence.findBySource(remote)?.deviceId;
    return device === undefined ? undefined : waiting.find((p) => p.deviceId === device);
  }

  /** An INVITE from a device (the platform's requests from upper platforms were taken before). */
  handleInvite(tx: ServerTransaction, request: SipRequest, remote: Endpoint): void {
    const callId = request.headers.get('call-id') ?? '';
    const call = this.#calls.get(callId);
    if (call) {
      // A re-INVITE (session refresh): same media, same answer.
      tx.reply(200, 'OK', [['Contact', this.#contact()]], { body: Buffer.from(call.sdp), contentType: 'APPLICATION/SDP' });
      return;
    }
    const pending = this.#match(request, remote);
    const registered = pending ? this.#d.platform.presence.get(pending.deviceId)?.source : undefined;
    if (pending && registered && registered.address !== remote.address) {
      // Only the camera itself may say where its audio goes (a MESSAGE gets the same check).
      this.#d.counters.add('broadcast_invites|unmatched');
      this.#d.log('warn', 'broadcast INVITE from another address than the registration; refused', { device: pending.deviceId, registered: registered.address, from: remote.address });
      tx.reply(403, 'Forbidden', [['Warning', '399 camgate "not from the address the device registered from"']]);
      return;
    }
    if (!pending) {
      this.#d.counters.add('broadcast_invites|unmatched');
      this.#d.log('info', 'INVITE from a device with no broadcast waiting; refused', { from: request.headers.get('from'), address: remote.address });
      tx.reply(481, 'Call/Transaction Does Not Exist', [['Warning', '399 camgate "no voice broadcast is waiting for this INVITE"']]);
      return;
    }
    void this.#answer(pending, tx, request, remote, callId);
  }

  async #answer(p: Pending, tx: ServerTransaction, request: SipRequest, remote: Endpoint, callId: string): Promise<void> {
    const offer = parseBroadcastOffer(Buffer.from(request.body).toString('utf8'));
    const refuse = (status: number, reason: string, why: string) => {
      this.#d.counters.add('broadcast_invites|refused');
      this.#d.counters.add('command_failures|broadcast|invite-refused');
      tx.reply(status, reason, [['Warning', `399 camgate "${why.replace(/"/g, "'").slice(0, 200)}"`]]);
      if (this.#pending.get(p.id) !== p) return;
      this.#fail(p, new ControlError(`the camera's INVITE was refused: ${why}`, 'invite-refused', status));
    };
    if (!offer.host || !offer.port) return refuse(400, 'Bad Request', 'no media address in the SDP');
    if (offer.carriage === null) return refuse(488, 'Not Acceptable Here', 'offer PCMA (8) or PS (96): camgate sends G.711A only');
    // Taken now, so a retransmitted INVITE does not match it again.
    p.started = { callId, inviteMs: Math.max(0, Math.round(this.#d.clock.now() - p.sentAt)), transport: offer.transport, carriage: offer.carriage, mediaPort: 0 };
    const ssrc = offer.ssrc === undefined ? undefined : Number(offer.ssrc);
    let answer: BroadcastInviteAnswer;
    try {
      answer = await this.#d.invite({
        id: p.id,
        deviceId: p.deviceId,
        channelId: p.channelId,
        callId,
        host: offer.host,
        port: offer.port,
        transport: offer.transport,
        carriage: offer.carriage,
        payloadType: offer.payloadType,
        ...(ssrc === undefined ? {} : { ssrc }),
      });
    } catch (error) {
      const status = error instanceof ServiceError && error.status === 404 ? 481 : 500;
      return refuse(status, status === 481 ? 'Call/Transaction Does Not Exist' : 'Server Internal Error', error instanceof Error ? error.message : String(error));
    }
    if (this.#pending.get(p.id) !== p) {
      // Hung up while the media was attached.
      tx.reply(487, 'Request Terminated');
      return;
    }
    p.started.mediaPort = answer.port;
    const contact = this.#contact();
    const sdp = buildBroadcastAnswer({
      serverId: this.#d.serverId,
      mediaHost: answer.mediaHost,
      mediaPort: answer.port,
      transport: offer.transport,
      carriage: offer.carriage,
      payloadType: offer.payloadType,
      ssrc: String(answer.ssrc).padStart(10, '0'),
      ...(offer.session ? { session: offer.session } : {}),
    });
    const dialog = Dialog.fromUasRequest(request, tx.toTag, contact);
    if (dialog) {
      this.#calls.set(callId, { id: p.id, deviceId: p.deviceId, dialog: dialog.toJSON(), remote, sdp });
      // Known to the platform, so the camera's BYE is answered 200 (and reported through dialogEnded).
      this.#d.platform.dialogs.set(callId, p.deviceId);
    }
    tx.reply(200, 'OK', [['Contact', contact]], { body: Buffer.from(sdp), contentType: 'APPLICATION/SDP' });
    this.#d.counters.add('broadcast_invites|answered');
    this.#d.counters.add('broadcast_invite_latency_ms', p.started.inviteMs);
    if (p.outcome) this.#done(p);
  }

  #contact(): string {
    return `<sip:${this.#d.serverId}@${this.#d.local.host}:${this.#d.local.port}>`;
  }

  /** The camera's BYE (the platform answered it): true when it was a broadcast call. */
  ended(callId: string): boolean {
    const call = this.#calls.get(callId);
    if (!call) return false;
    this.#calls.delete(callId);
    this.#d.bye(call.id, callId);
    return true;
  }

  /** Hang-up from our side: BYE when the call is up, else stop waiting for the INVITE. */
  stop(id: string): boolean {
    const pending = this.#pending.get(id);
    if (pending) this.#fail(pending, new ControlError('hung up before the camera INVITEd', 'closed'));
    const entry = this.#callOf(id);
    if (!entry) return pending !== undefined;
    const [callId, call] = entry;
    this.#hangUp(callId, call).catch((error: Error) => this.#d.log('info', 'broadcast BYE not answered', { device: call.deviceId, error: error.message }));
    return true;
  }

  /**
   * The camera's device went offline (keepalives stopped, unregistered, removed): a broadcast
   * waiting for its INVITE fails, a call in progress ends (a BYE is still tried, for a device
   * that only lost its registration) and the supervisor is told, so the browser side closes too.
   */
  deviceOffline(deviceId: string, reason: string): void {
    for (const p of this.#pending.values()) {
      if (p.deviceId === deviceId && !p.started) this.#fail(p, new ControlError(`device ${deviceId} went offline (${reason})`, 'not-registered', 480));
    }
    for (const [callId, call] of this.#calls) {
      if (call.deviceId !== deviceId) continue;
      this.#hangUp(callId, call).catch(() => {});
      this.#d.bye(call.id, callId, `the camera went offline (${reason})`);
    }
  }

  close(): void {
    for (const p of this.#pending.values()) this.#fail(p, new ControlError('control service closed', 'closed'));
  }
}
