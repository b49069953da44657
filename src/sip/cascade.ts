/**
 * The cascade side of the SIP thread (issue 16): one {@link UpstreamClient} per enabled
 * upper platform, and the answers to what an upper platform asks of us as its device:
 * Catalog (the shared channels, split into paced MESSAGEs that all carry SumNum),
 * DeviceInfo and DeviceStatus about ourselves.
 *
 * Requests are recognised as an upper platform's by their From user (its server ID);
 * the platform's configured address must match when it is an IP literal, so another
 * host cannot read our catalog by claiming that ID.
 */
import { isIP } from 'node:net';
import {
  buildDeviceInfoResponse,
  buildDeviceStatusResponse,
  buildCatalogResponses,
  buildRecordInfoResponses,
  buildResultResponse,
  controlExpectsResponse,
  formatManscdpTime,
  parseManscdp,
  CHINA_UTC_OFFSET_MINUTES,
} from '../protocol/gb28181/index.js';
import { Dialog, parseNameAddr, parseUri, reasonPhrase, type DialogState, type Clock, type Endpoint, type ServerTransaction, type SipRequest, type ClientTransactionHandlers } from '../protocol/sip/index.js';
import type { RecordEntry, SharedCatalogItem, UpstreamConfig, UpstreamInvite, UpstreamInviteAnswer, UpstreamNotify, UpstreamStatus, UpstreamSubscription } from '../shared/contracts/sip.js';
import { buildAlarmNotify, buildCatalogResponse, buildMobilePositionNotify, decodeXmlBody, encodeXmlBody, parseMansrtsp, type CatalogItem, type ControlMessage, type DeviceControlType, type ManscdpMessage, type PlaybackAction } from '../protocol/gb28181/index.js';
import { buildSendAnswer, offerTimes, parseAnswer } from '../protocol/sdp/gb-sdp.js';
import { ServiceError } from '../shared/errors.js';
import { controlCommandLabel, type ControlCommandLabel } from '../shared/contracts/sip-counters.js';
import { UpstreamClient } from './upstream.js';

/** How long the platform's Control MESSAGE waits for the camera's SIP answer before we answer 408 (its own Timer F is 32 s). */
export const RELAY_SIP_TIMEOUT_MS = 8000;

/** Catalog items per MESSAGE: small enough for one UDP datagram without IP fragments on most paths. */
export const CATALOG_ITEMS_PER_MESSAGE = { UDP: 4, TCP: 16 } as const;
/** Catalog MESSAGEs in flight at once (each waits for its 200; the transaction layer retransmits). */
export const CATALOG_WINDOW = 4;

export interface CascadeDeps {
  clock: Clock;
  local: { host: string; port: number };
  send(request: SipRequest, remote: Endpoint, handlers: ClientTransactionHandlers): void;
  status(status: UpstreamStatus): void;
  /** The channels shared with platform `id`. */
  catalog(id: number): Promise<SharedCatalogItem[]>;
  /** Asks the supervisor to start the channel and send it; rejects with a ServiceError. */
  invite(request: UpstreamInvite): Promise<UpstreamInviteAnswer>;
  /** Where a channel the platform named comes from. */
  resolve(id: number, channelId: string): Promise<{ kind: 'camera'; deviceId: string; channelId: string } | { kind: 'vehicle'; sim: string; channel: number } | null>;
  /** A PTZCmd for a shared vehicle channel (sent to the terminal as JT/T 1078 messages). */
  vehiclePtz(sim: string, channel: number, ptzCmd: string): Promise<number>;
  /** MANSRTSP from the platform in one of its playback dialogs (pause, resume, seek, speed). */
  playback(callId: string, action: PlaybackAction): Promise<boolean>;
  /** Recordings of a shared channel between start and end (unix seconds). */
  records(id: number, channelId: string, start: number, end: number): Promise<RecordEntry[]>;
  /**
   * Sends a Control body to a registered device's channel under our own SN: `sip` resolves
   * with the device's SIP status, `response` with its Response's Result when one is due
   * (undefined when none is), rejecting when it failed or never came.
   */
  relay(deviceId: string, channelId: string, xml: string, cmdType: string, label: ControlCommandLabel, expectResponse: boolean): { sip: Promise<number>; response: Promise<string | undefined> };
  /** The platform hung up (BYE). */
  bye(id: number, callId: string): void;
  /** A platform's subscription started, was refreshed or ended. */
  subscription(subscription: UpstreamSubscription): void;
  version: string;
  log(level: 'debug' | 'info' | 'warn', message: string, data?: Record<string, unknown>): void;
  retryMinMs?: number;
}

/** What one Catalog answer did, for logs and tests. */
export interface CatalogAnswer {
  items: number;
  messages: number;
  failed: number;
}

export class Cascade {
  readonly #deps: CascadeDeps;
  readonly #clients = new Map<number, UpstreamClient>();
  /** Media dialogs the upper platforms opened, by Call-ID: the platform, the dialog (for our BYE) and where it came from. */
  readonly #calls = new Map<string, { id: number; dialog: DialogState; remote: Endpoint }>();
  /** Subscriptions of the upper platforms, by Call-ID (their dialog). */
  readonly #subs = new Map<string, UpSubscription>();
  #closed = false;

  constructor(deps: CascadeDeps) {
    this.#deps = deps;
  }

  get size(): number {
    return this.#clients.size;
  }

  statuses(): UpstreamStatus[] {
    return [...this.#clients.values()].map((c) => c.status());
  }

  /** Applies the full set of enabled platforms: new ones start, removed ones stop, changed ones start over. */
  set(platforms: UpstreamConfig[]): UpstreamStatus[] {
    if (this.#closed) return [];
    const wanted = new Map(platforms.map((p) => [p.id, p]));
    for (const [id, client] of this.#clients) {
      const next = wanted.get(id);
      if (next && sameConfig(next, client.config)) continue;
      this.#clients.delete(id);
      void client.stop();
      // Its dialogs and subscriptions end with it (the supervisor ends the streams on the status).
      for (const [callId, call] of this.#calls) if (call.id === id) this.#calls.delete(callId);
      for (const [callId, sub] of this.#subs) if (sub.id === id) this.#endSubscription(callId, sub);
      if (!next) this.#deps.status({ ...client.status(), state: 'stopped', error: null });
    }
    for (const config of platforms) {
      if (this.#clients.has(config.id)) continue;
      const client = new UpstreamClient(config, {
        clock: this.#deps.clock,
        local: this.#deps.local,
        send: this.#deps.send,
        status: (status) => {
          if (this.#clients.get(config.id) !== client) return;
          // Dropped by (or from) the platform: its media dialogs are gone with it; the supervisor ends their streams.
          if (status.state !== 'online') {
            for (const [callId, call] of this.#calls) if (call.id === config.id) this.#calls.delete(callId);
            for (const [callId, sub] of this.#subs) if (sub.id === config.id) this.#endSubscription(callId, sub);
          }
          this.#deps.status(status);
        },
        userAgent: `camgate/${this.#deps.version}`,
        ...(this.#deps.retryMinMs === undefined ? {} : { retryMinMs: this.#deps.retryMinMs }),
      });
      this.#clients.set(config.id, client);
      client.start();
    }
    return this.statuses();
  }

  /** The upper platform a request comes from, if any. */
  #platformOf(request: SipRequest, remote: Endpoint): UpstreamClient | undefined {
    const from = parseNameAddr(request.headers.get('from') ?? '');
    const user = from ? parseUri(from.uri)?.user : undefined;
    if (!user) return undefined;
    for (const client of this.#clients.values()) {
      if (client.config.serverId !== user) continue;
      if (isIP(client.config.host) !== 0 && client.config.host !== remote.address) continue;
      return client;
    }
    return undefined;
  }

  /** Takes a request from an upper platform (true) or leaves it to the platform side (false). */
  handle(tx: ServerTransaction, request: SipRequest, remote: Endpoint): boolean {
    if (request.method === 'BYE') {
      const callId = request.headers.get('call-id') ?? '';
      const call = this.#calls.get(callId);
      if (call === undefined) return false;
      this.#calls.delete(callId);
      tx.reply(200, 'OK');
      this.#deps.bye(call.id, callId);
      return true;
    }
    if (request.method === 'INFO') {
      const callId = request.headers.get('call-id') ?? '';
      if (!this.#calls.has(callId)) return false;
      void this.#playbackControl(tx, callId, request.body);
      return true;
    }
    if (request.method === 'SUBSCRIBE') {
      const existing = this.#subs.get(request.headers.get('call-id') ?? '');
      const client = existing ? this.#clients.get(existing.id) : this.#platformOf(request, remote);
      if (!client) return false;
      this.#subscribe(client, tx, request, remote, existing);
      return true;
    }
    if (request.method !== 'MESSAGE' && request.method !== 'INVITE') return false;
    const client = this.#platformOf(request, remote);
    if (!client) return false;
    if (request.method === 'INVITE') {
      void this.#invite(client, tx, request, remote);
      return true;
    }
    const parsed = parseManscdp(request.body, undefined);
    if (!parsed.ok) {
      tx.reply(400, 'Bad Request');
      this.#deps.log('warn', 'upper platform sent a MESSAGE we cannot read', { platform: client.config.id, reason: parsed.reason });
      return true;
    }
    const message = parsed.message;
    if (message.root === 'Control') {
      // Answered with the source's own SIP answer (and its Response relayed), not a blind 200.
      void this.#relayControl(client, tx, message, request.body);
      return true;
    }
    tx.reply(200, 'OK');
    if (message.root !== 'Query') return true;
    const cmd = message.cmdType.toLowerCase();
    const { deviceId } = client.config;
    if (cmd === 'catalog') {
      void this.answerCatalog(client, message.sn).then(
        (answer) => this.#deps.log('info', 'catalog sent to upper platform', { platform: client.config.id, ...answer }),
        (error: Error) => this.#deps.log('warn', 'catalog for upper platform failed', { platform: client.config.id, error: error.message }),
      );
    } else if (cmd === 'deviceinfo') {
      void this.#deps.catalog(client.config.id).then(
        (items) =>
          client.message(
            buildDeviceInfoResponse({ sn: message.sn, deviceId, deviceName: 'camgate', manufacturer: 'camgate', model: 'camgate gateway', firmware: this.#deps.version, channels: items.length }),
          ),
        () => undefined,
      );
    } else if (cmd === 'recordinfo' && message.kind === 'query') {
      void this.#answerRecords(client, message.sn, message.deviceId, message.startTime ?? 0, message.endTime ?? Math.floor(Date.now() / 1000));
    } else if (cmd === 'devicestatus') {
      void client.message(buildDeviceStatusResponse({ sn: message.sn, deviceId, deviceTime: formatManscdpTime(Math.floor(Date.now() / 1000), CHINA_UTC_OFFSET_MINUTES) }));
    } else {
      this.#deps.log('debug', 'upper platform query not answered', { platform: client.config.id, cmdType: message.cmdType });
    }
    return true;
  }

  /** MANSRTSP in an INFO of a playback the platform opened: applied to the source, then answered with the outcome. */
  async #playbackControl(tx: ServerTransaction, callId: string, body: Uint8Array): Promise<void> {
    const parsed = parseMansrtsp(body);
    if (!parsed.ok || !parsed.action) {
      tx.reply(parsed.ok ? 200 : 400, parsed.ok ? 'OK' : 'Bad Request');
      return;
    }
    if (parsed.action.action === 'teardown') {
      tx.reply(200, 'OK');
      return;
    }
    try {
      await this.#deps.playback(callId, parsed.action);
      tx.reply(200, 'OK');
    } catch (error) {
      const [status, reason] = inviteFailure(error);
      tx.reply(status, reason, [['Warning', `399 camgate "${String(error instanceof Error ? error.message : error).replace(/"/g, "'").slice(0, 200)}"`]]);
    }
  }

  /** RecordInfo for a shared channel: the source's recordings, SumNum in every message (0 when none or on failure). */
  async #answerRecords(client: UpstreamClient, sn: number, channelId: string, start: number, end: number): Promise<void> {
    let ranges: RecordEntry[] = [];
    try {
      ranges = await this.#deps.records(client.config.id, channelId, start, end);
    } catch (error) {
      this.#deps.log('info', 'records for upper platform failed', { platform: client.config.id, channel: channelId, error: error instanceof Error ? error.message : String(error) });
    }
    const bodies = buildRecordInfoResponses(sn, channelId, channelId, ranges, CATALOG_ITEMS_PER_MESSAGE[client.config.transport]);
    await this.#sendAll(client, bodies);
  }

  /** MESSAGEs to the platform, at most CATALOG_WINDOW in flight; resolves with how many were refused or lost. */
  async #sendAll(client: UpstreamClient, bodies: string[]): Promise<number> {
    let next = 0;
    let failed = 0;
    const worker = async () => {
      while (next < bodies.length && client.state !== 'stopped') {
        const status = await client.message(bodies[next++]!);
        if (status >= 300) failed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(CATALOG_WINDOW, bodies.length) }, worker));
    return failed;
  }

  /**
   * DeviceControl / DeviceConfig for a shared channel. A camera's gets the body with the
   * channel's real ID and our SN; the platform's MESSAGE is answered with the camera's SIP
   * status (408 when none within RELAY_SIP_TIMEOUT_MS), and a command the standard answers
   * with a Response (Record, Guard, Alarm, HomePosition, DeviceConfig) gets the camera's
   * Result relayed under the platform's SN and channel ID, or Result ERROR when the camera
   * refused or sent none in time. A vehicle channel takes PTZ only (JT/T 1078 0x9301–0x9306).
   */
  async #relayControl(client: UpstreamClient, tx: ServerTransaction, message: ManscdpMessage, body: Uint8Array): Promise<void> {
    const channelId = message.deviceId;
    const control = message.kind === 'control' ? message : undefined;
    const refuse = (status: number, reason: string, why: string) => {
      tx.reply(status, reason, [['Warning', `399 camgate "${why}"`]]);
      this.#deps.log('info', 'control from upper platform refused', { platform: client.config.id, channel: channelId, status, why });
    };
    const target = await this.#deps.resolve(client.config.id, channelId).catch(() => null);
    if (!target) return refuse(404, 'Not Found', `channel ${channelId} is not shared`);
    if (target.kind === 'vehicle') {
      if (!control?.ptzCmd) return refuse(488, 'Not Acceptable Here', 'a vehicle channel takes PTZ only');
      try {
        const accepted = await this.#deps.vehiclePtz(target.sim, target.channel, control.ptzCmd);
        if (accepted > 0) tx.reply(200, 'OK');
        else refuse(500, 'Server Internal Error', 'the terminal did not accept the PTZ command');
      } catch (error) {
        const [status, reason] = inviteFailure(error);
        refuse(status, reason, error instanceof Error ? error.message : String(error));
      }
      return;
    }
    const cmdType = message.cmdType;
    const label = controlLabel(message);
    const expectResponse = cmdType.toLowerCase() === 'deviceconfig' || (control !== undefined && controlExpectsResponse(controlType(control)));
    const text = decodeXmlBody(body).text.replace(/<DeviceID>\s*[^<]*<\/DeviceID>/, `<DeviceID>${target.channelId}</DeviceID>`);
    const relayed = this.#deps.relay(target.deviceId, target.channelId, text, cmdType, label, expectResponse);
    let answered = false;
    const timer = this.#deps.clock.setTimer(RELAY_SIP_TIMEOUT_MS, () => {
      answered = true;
      refuse(408, 'Request Timeout', `the camera did not answer within ${RELAY_SIP_TIMEOUT_MS} ms`);
    });
    void relayed.sip.then((status) => {
      this.#deps.clock.clearTimer(timer);
      if (answered) return;
      answered = true;
      if (status < 300) tx.reply(200, 'OK');
      else refuse(status, reasonPhrase(status), `the camera answered ${status}`);
    });
    let result: string | undefined;
    try {
      result = await relayed.response;
    } catch (error) {
      result = expectResponse ? 'ERROR' : undefined;
      this.#deps.log('info', 'relayed control failed at the camera', { platform: client.config.id, channel: target.channelId, error: error instanceof Error ? error.message : String(error) });
    }
    if (result === undefined) return;
    await client.message(buildResultResponse({ sn: message.sn, deviceId: channelId, cmdType, result }));
  }

  /** An upper platform's live INVITE: the supervisor starts the source and adds the platform as an output. */
  async #invite(client: UpstreamClient, tx: ServerTransaction, request: SipRequest, remote: Endpoint): Promise<void> {
    const callId = request.headers.get('call-id') ?? '';
    const channelId = parseUri(request.uri)?.user ?? '';
    const sdpText = Buffer.from(request.body).toString('utf8');
    const offer = parseAnswer(sdpText);
    const session = (offer.session ?? 'Play').toLowerCase();
    const playback = session === 'playback' ? offerTimes(sdpText) : undefined;
    if (session !== 'play' && !playback) {
      tx.reply(488, 'Not Acceptable Here', [['Warning', `399 camgate "only Play, and Playback with a t= range, are shared upward"`]]);
      return;
    }
    if (!offer.host || !offer.port) {
      tx.reply(400, 'Bad Request', [['Warning', '399 camgate "no media address in the SDP"']]);
      return;
    }
    const ssrc = offer.ssrc === undefined ? undefined : Number(offer.ssrc);
    try {
      const answer = await this.#deps.invite({
        id: client.config.id,
        callId,
        channelId,
        host: offer.host,
        port: offer.port,
        // Its a=setup:active (it connects: we listen) parses as our tcp-passive.
        transport: offer.transport === 'udp' ? 'udp' : offer.transport === 'tcp-passive' ? 'tcp-passive' : 'tcp',
        ...(offer.transport === 'tcp-passive' ? { sipAddress: remote.address } : {}),
        ...(ssrc === undefined ? {} : { ssrc }),
        ...(playback ? { playback } : {}),
      });
      const { host, port } = this.#deps.local;
      const contact = `<sip:${client.config.deviceId}@${host}:${port}>`;
      const dialog = Dialog.fromUasRequest(request, tx.toTag, contact);
      if (dialog) this.#calls.set(callId, { id: client.config.id, dialog: dialog.toJSON(), remote });
      const sdp = buildSendAnswer({
        deviceId: client.config.deviceId,
        mediaHost: answer.mediaHost,
        transport: offer.transport === 'udp' ? 'udp' : offer.transport === 'tcp-passive' ? 'tcp-passive' : 'tcp-active',
        ...(answer.mediaPort === undefined ? {} : { port: answer.mediaPort }),
        ssrc: String(answer.ssrc).padStart(10, '0'),
        session: playback ? 'Playback' : 'Play',
      });
      tx.reply(200, 'OK', [['Contact', contact]], { body: Buffer.from(sdp), contentType: 'APPLICATION/SDP' });
    } catch (error) {
      const [status, reason] = inviteFailure(error);
      this.#deps.log('info', 'upper platform INVITE refused', { platform: client.config.id, channel: channelId, status, error: error instanceof Error ? error.message : String(error) });
      tx.reply(status, reason, [['Warning', `399 camgate "${String(error instanceof Error ? error.message : error).replace(/"/g, "'").slice(0, 200)}"`]]);
    }
  }

  /** Sends the shared catalog to the platform: SumNum in every message, at most CATALOG_WINDOW in flight. */
  async answerCatalog(client: UpstreamClient, sn: number): Promise<CatalogAnswer> {
    const items = await this.#deps.catalog(client.config.id);
    const { deviceId } = client.config;
    const bodies = buildCatalogResponses(
      sn,
      deviceId,
      items.map((i) => catalogItem(i, deviceId)),
      CATALOG_ITEMS_PER_MESSAGE[client.config.transport],
    );
    const failed = await this.#sendAll(client, bodies);
    return { items: items.length, messages: bodies.length, failed };
  }

  /**
   * SUBSCRIBE from an upper platform (GB/T 28181-2016 §9.11): Catalog, or MobilePosition with
   * its Interval; 200 with the Expires granted, refreshes in the same dialog, Expires 0 ends it.
   */
  #subscribe(client: UpstreamClient, tx: ServerTransaction, request: SipRequest, remote: Endpoint, existing: UpSubscription | undefined): void {
    const callId = request.headers.get('call-id') ?? '';
    const parsed = request.body.length > 0 ? parseManscdp(request.body) : undefined;
    const cmd = parsed?.ok ? parsed.message.cmdType.toLowerCase() : undefined;
    const kind = existing?.kind ?? (cmd === 'catalog' ? 'catalog' : cmd === 'mobileposition' ? 'mobilePosition' : cmd === 'alarm' ? 'alarm' : undefined);
    if (!kind) {
      tx.reply(489, 'Bad Event', [['Allow-Events', 'Catalog, presence']]);
      return;
    }
    const header = request.headers.get('expires');
    const expires = Math.min(86_400, header !== undefined && /^\s*\d+\s*$/.test(header) ? Number(header) : 3600);
    if (expires === 0) {
      tx.reply(200, 'OK', [['Expires', '0']]);
      if (existing) this.#endSubscription(callId, existing);
      return;
    }
    const { host, port } = this.#deps.local;
    const contact = `<sip:${client.config.deviceId}@${host}:${port}>`;
    tx.reply(200, 'OK', [['Expires', String(expires)], ['Contact', contact]]);
    const interval = parsed?.ok && parsed.message.kind === 'query' && parsed.message.interval ? parsed.message.interval : (existing?.interval ?? 5);
    let sub = existing;
    if (!sub) {
      const dialog = Dialog.fromUasRequest(request, tx.toTag, contact);
      if (!dialog) return;
      sub = { id: client.config.id, kind, dialog: dialog.toJSON(), remote, expiresAt: 0, timer: undefined, interval, sent: new Map() };
      this.#subs.set(callId, sub);
    }
    sub.interval = interval;
    sub.expiresAt = this.#deps.clock.now() + expires * 1000;
    if (sub.timer !== undefined) this.#deps.clock.clearTimer(sub.timer);
    const current = sub;
    sub.timer = this.#deps.clock.setTimer(expires * 1000 + 5000, () => this.#endSubscription(callId, current));
    this.#deps.subscription({ id: sub.id, kind, active: true, interval });
  }

  #endSubscription(callId: string, sub: UpSubscription): void {
    if (this.#subs.get(callId) !== sub) return;
    this.#subs.delete(callId);
    if (sub.timer !== undefined) this.#deps.clock.clearTimer(sub.timer);
    this.#deps.subscription({ id: sub.id, kind: sub.kind, active: false });
  }

  /** NOTIFY the platform's subscriptions of that kind (catalog changes, or positions paced by each subscription's interval). */
  notify(n: UpstreamNotify): number {
    const client = this.#clients.get(n.id);
    if (!client) return 0;
    let sent = 0;
    for (const sub of this.#subs.values()) {
      if (sub.id !== n.id || sub.kind !== n.kind) continue;
      if (n.kind === 'catalog') {
        const items = n.items.map((i) => ({ ...catalogItem(i, client.config.deviceId), event: i.event }));
        const body = buildCatalogResponse({ root: 'Notify', sn: client.nextSn(), deviceId: client.config.deviceId, sumNum: items.length, items });
        this.#notifyIn(sub, client, 'Catalog', body);
        sent++;
        continue;
      }
      if (n.kind === 'alarm') {
        for (const a of n.alarms) {
          const { channelId, ...alarm } = a;
          this.#notifyIn(sub, client, 'presence', buildAlarmNotify({ sn: client.nextSn(), deviceId: channelId, ...alarm }));
          sent++;
        }
        continue;
      }
      const now = this.#deps.clock.now();
      for (const p of n.positions) {
        const last = sub.sent.get(p.channelId);
        if (last !== undefined && now - last < sub.interval * 1000) continue;
        sub.sent.set(p.channelId, now);
        const body = buildMobilePositionNotify({ sn: client.nextSn(), deviceId: p.channelId, time: Math.floor(p.time / 1000), longitude: p.longitude, latitude: p.latitude, ...(p.speed === undefined ? {} : { speed: p.speed }), ...(p.direction === undefined ? {} : { direction: p.direction }) });
        this.#notifyIn(sub, client, 'presence', body);
        sent++;
      }
    }
    return sent;
  }

  #notifyIn(sub: UpSubscription, client: UpstreamClient, event: string, body: string): void {
    const dialog = Dialog.fromJSON(sub.dialog);
    const { host, port } = this.#deps.local;
    const remaining = Math.max(0, Math.round((sub.expiresAt - this.#deps.clock.now()) / 1000));
    const request = dialog.createRequest('NOTIFY', {
      sentBy: { transport: sub.remote.transport.toUpperCase(), host, port },
      body: encodeXmlBody(body, client.config.charset),
      contentType: 'Application/MANSCDP+xml',
      headers: [
        ['Event', event],
        ['Subscription-State', `active;expires=${remaining}`],
        ['User-Agent', `camgate/${this.#deps.version}`],
      ],
    });
    sub.dialog = dialog.toJSON();
    this.#deps.send(request, sub.remote, {});
  }

  /** BYE to the upper platform for one of its media dialogs (our source ended by itself). */
  hangup(callId: string): boolean {
    const call = this.#calls.get(callId);
    if (!call) return false;
    this.#calls.delete(callId);
    const { host, port } = this.#deps.local;
    const bye = Dialog.fromJSON(call.dialog).createBye({ sentBy: { transport: call.remote.transport.toUpperCase(), host, port } });
    this.#deps.send(bye, call.remote, {});
    return true;
  }

  client(id: number): UpstreamClient | undefined {
    return this.#clients.get(id);
  }

  /** Unregisters from every platform (waits for the answers, each bounded by the transaction time-out). */
  async close(): Promise<void> {
    this.#closed = true;
    const clients = [...this.#clients.values()];
    this.#clients.clear();
    await Promise.all(clients.map((c) => c.stop()));
  }
}

/** One shared channel as a Catalog Item: we are its parent; civil code from its ID unless it has one. */
function catalogItem(i: SharedCatalogItem, deviceId: string): Omit<CatalogItem, 'statusRaw'> {
  // A virtual directory carries its ID, name and parent only (GB/T 28181-2016 Annex A catalog items of type 215/216).
  if (i.directory) return { deviceId: i.channelId, name: i.name, ...(i.parentId ? { parentId: i.parentId } : {}), ...(i.businessGroupId ? { businessGroupId: i.businessGroupId } : {}), status: 'ON' };
  return {
    deviceId: i.channelId,
    name: i.name,
    manufacturer: i.manufacturer ?? 'camgate',
    model: i.model ?? '',
    owner: 'camgate',
    civilCode: i.civilCode ?? i.channelId.slice(0, 6),
    address: i.address ?? '',
    parental: 0,
    parentId: i.parentId ?? deviceId,
    ...(i.businessGroupId ? { businessGroupId: i.businessGroupId } : {}),
    safetyWay: 0,
    registerWay: 1,
    secrecy: 0,
    status: i.status,
    ...(i.longitude === undefined ? {} : { longitude: i.longitude }),
    ...(i.latitude === undefined ? {} : { latitude: i.latitude }),
  };
}

interface UpSubscription {
  id: number;
  kind: 'catalog' | 'mobilePosition' | 'alarm';
  dialog: DialogState;
  remote: Endpoint;
  /** clock ms */
  expiresAt: number;
  timer: unknown;
  /** MobilePosition: seconds between reports of one channel. */
  interval: number;
  /** MobilePosition: when each channel was last reported (clock ms). */
  sent: Map<string, number>;
}

/** SIP status for a failed upward INVITE: unknown channel 404, source offline 480, busy/unavailable 503, no answer 408. */
function inviteFailure(error: unknown): [number, string] {
  const status = error instanceof ServiceError ? error.status : 500;
  if (status === 404) return [404, 'Not Found'];
  if (status === 409) return [480, 'Temporarily Unavailable'];
  if (status === 504) return [408, 'Request Timeout'];
  if (status === 503) return [503, 'Service Unavailable'];
  return [500, 'Server Internal Error'];
}

/** The command a relayed Control carries, as DeviceControlType (which ones have a Response). */
function controlType(c: ControlMessage): DeviceControlType {
  if (c.guardCmd) return 'guard';
  if (c.alarmCmd) return 'alarmReset';
  if (c.recordCmd) return 'record';
  if (c.homePosition) return 'homePosition';
  if (c.iFrameCmd) return 'iframe';
  if (c.teleBoot) return 'teleboot';
  if (c.dragZoom) return 'dragZoom';
  return 'ptz';
}

/** Counter label of a relayed Control. */
function controlLabel(m: ManscdpMessage): ControlCommandLabel {
  if (m.cmdType.toLowerCase() === 'deviceconfig') return 'device-config';
  return m.kind === 'control' ? controlCommandLabel({ type: controlType(m) }) : 'ptz';
}

function sameConfig(a: UpstreamConfig, b: UpstreamConfig): boolean {
  return (Object.keys(a) as Array<keyof UpstreamConfig>).every((k) => a[k] === b[k]);
}
