import {
  SnAllocator,
  buildBroadcastNotify,
  buildConfigDownloadQuery,
  buildDeviceConfig,
  buildDeviceControl,
  buildDeviceStatusQuery,
  buildMansrtsp,
  buildPresetQuery,
  buildSubscribeQuery,
  buildAlarmResponse,
  controlExpectsResponse,
  encodeXmlBody,
  parseManscdp,
  MANSRTSP_CONTENT_TYPE,
  SUBSCRIPTION_EVENT,
  type AlarmMessage,
  type BasicParam,
  type BasicParamConfig,
  type CatalogItem,
  type ConfigType,
  type DeviceControlCommand,
  type DeviceStatusMessage,
  type ManscdpMessage,
  type MobilePositionMessage,
  type PlaybackAction,
  type Preset,
  type SubscribeBodyOptions,
  type SubscriptionKind,
  type VideoParamOpt,
} from '../protocol/gb28181/index.js';
import { parseExpires, parseParams, type Clock, type DialogState, type Endpoint, type SipRequest, type TimerHandle } from '../protocol/sip/index.js';
import type { SharedCounters } from '../shared/counters.js';
import { SipRequestError, type GbPlatform } from './platform.js';
import { controlCommandLabel, type ControlCommandLabel, type ControlFailure } from '../shared/contracts/sip-counters.js';
import type { AlarmEvent, ConfigDownloadResult, ControlOutcome, DeviceStatus, PositionEvent, SubscriptionSnapshot, SubscriptionStateName } from '../shared/contracts/sip.js';

/**
 * GB28181 control on the SIP thread: DeviceControl / DeviceConfig MESSAGEs and the queries
 * that go with them (PresetQuery, DeviceStatus, ConfigDownload), voice-broadcast
 * notifications, MANSRTSP playback control (INFO in the playback dialog), and the Catalog,
 * Alarm and MobilePosition subscriptions (SUBSCRIBE dialogs refreshed before they expire,
 * NOTIFYs answered and applied). Alarm MESSAGEs are answered as §9.4 requires.
 *
 * Every command waits for the device's SIP 200 and, where the standard has one, its
 * Response MESSAGE (matched by SN and CmdType), and ends in a result or a ControlError with
 * a reason the API maps to an HTTP status. Nothing a device sends makes it throw.
 */

export class ControlError extends Error {
  constructor(
    message: string,
    readonly reason: ControlFailure,
    /** The SIP status when the device answered one (rejected), else undefined. */
    readonly status?: number,
    /** Playback: the dialog state after the INFO (its CSeq moved on): store it. */
    readonly dialog?: DialogState,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

export type { AlarmEvent, ConfigDownloadResult, ControlOutcome, DeviceStatus, PositionEvent, SubscriptionSnapshot, SubscriptionStateName };

export interface ControlServiceEvents {
  /** A subscription changed state (also on each refresh). */
  subscription(snapshot: SubscriptionSnapshot): void;
  /** Catalog NOTIFY: changed items, each with its Event (ADD, DEL, ON, OFF, UPDATE, VLOST, DEFECT). */
  catalogChange(deviceId: string, items: CatalogItem[]): void;
  alarm(alarm: AlarmEvent): void;
  position(position: PositionEvent): void;
  log?(level: 'debug' | 'info' | 'warn', message: string, data?: Record<string, unknown>): void;
}

export interface ControlServiceOptions {
  platform: GbPlatform;
  clock: Clock;
  counters: SharedCounters;
  events: ControlServiceEvents;
  /** Our SIP ID: the SourceID of a voice broadcast. */
  serverId: string;
  /** How long to wait for a Response MESSAGE after the 200 (ms, default 10,000). */
  responseTimeout?: number;
  /** Commands waiting for an answer at once (default 512); more are refused as `busy`. */
  maxPending?: number;
  /** Expires we ask for, seconds (default 3600); the device's answer wins. */
  subscriptionExpires?: number;
  /** Retry a failed (not rejected) subscription after this long (ms, default 60,000). */
  subscriptionRetry?: number;
  utcOffsetMinutes?: number;
}

const MANSCDP = 'Application/MANSCDP+xml';

/** Answers that mean "this device does not do that": no retry until asked again. */
const REJECTING = new Set([400, 403, 404, 405, 415, 420, 488, 489, 501]);

interface Waiter {
  deviceId: string;
  cmdType: string;
  label: ControlCommandLabel;
  started: number;
  expectResponse: boolean;
  sipOk: boolean;
  /** Response messages received (PresetQuery may come in parts). */
  responses: ManscdpMessage[];
  timer: TimerHandle | null;
  resolve(value: { responses: ManscdpMessage[]; outcome: ControlOutcome }): void;
  reject(error: ControlError): void;
}

/** A subscription's state as reported (SubscriptionSnapshot) plus its dialog and timer. */
interface Subscription extends SubscriptionSnapshot {
  dialog?: DialogState;
  body: SubscribeBodyOptions;
  timer: TimerHandle | null;
}

function charsetOf(contentType: string | undefined): string | undefined {
  const match = contentType ? /charset\s*=\s*"?([\w-]+)/i.exec(contentType) : null;
  return match?.[1];
}

/** The device's SIP status behind a failed request (SipRequestError keeps it as `upstream`; its `status` is the HTTP one). */
function sipStatusOf(error: unknown): number {
  return error instanceof SipRequestError ? (error.upstream ?? 500) : 500;
}

const subscriptionKey = (deviceId: string, kind: SubscriptionKind) => `${deviceId}|${kind}`;
const kindLabel = (kind: SubscriptionKind) => (kind === 'mobilePosition' ? 'mobile-position' : kind);

export class GbControlService {
  #o: ControlServiceOptions;
  #sn = new SnAllocator();
  #waiters = new Map<number, Waiter>();
  #subscriptions = new Map<string, Subscription>();
  #byCallId = new Map<string, Subscription>();
  #closed = false;

  constructor(options: ControlServiceOptions) {
    this.#o = options;
  }

  // --- DeviceControl and DeviceConfig ------------------------------------------------

  /** One DeviceControl command to a channel (or the device itself when channelId = deviceId). */
  async control(deviceId: string, channelId: string, command: DeviceControlCommand): Promise<ControlOutcome> {
    const sn = this.#sn.next();
    const label = controlCommandLabel(command);
    const xml = this.#build(label, () => buildDeviceControl({ sn, deviceId: channelId }, command));
    const { outcome } = await this.#exchange(deviceId, channelId, sn, 'DeviceControl', label, xml, controlExpectsResponse(command.type));
    return outcome;
  }

  /** DeviceConfig BasicParam (name, expiry, heartbeat); the device answers with a Response. */
  async configure(deviceId: string, channelId: string, basic: BasicParamConfig): Promise<ControlOutcome> {
    const sn = this.#sn.next();
    const xml = buildDeviceConfig({ sn, deviceId: channelId }, basic);
    return (await this.#exchange(deviceId, channelId, sn, 'DeviceConfig', 'device-config', xml, true)).outcome;
  }

  /** Voice broadcast notification; resolves on the device's Response (it then INVITEs us for audio). */
  async broadcast(deviceId: string, channelId: string): Promise<ControlOutcome> {
    const sn = this.#sn.next();
    const xml = buildBroadcastNotify({ sn, sourceId: this.#o.serverId, targetId: channelId });
    return (await this.#exchange(deviceId, channelId, sn, 'Broadcast', 'broadcast', xml, true)).outcome;
  }

  /**
   * A Control body from an upper platform (cascade), passed to the device under our own SN so
   * its Response is matched like ours. `sipAnswered` hears the device's SIP status (408 none,
   * 480 not registered, 503 not sent); the promise resolves with the Response's Result when
   * one is due (undefined when the command has none) and rejects when it failed or never came.
   */
  async relay(deviceId: string, channelId: string, xml: string, cmdType: string, label: ControlCommandLabel, expectResponse: boolean, sipAnswered: (status: number) => void): Promise<string | undefined> {
    const sn = this.#sn.next();
    const body = xml.replace(/<SN>\s*\d+\s*<\/SN>/i, `<SN>${sn}</SN>`);
    let told = false;
    const tell = (status: number) => {
      if (told) return;
      told = true;
      sipAnswered(status);
    };
    try {
      const { outcome } = await this.#exchange(deviceId, channelId, sn, cmdType, label, body, expectResponse, () => tell(200));
      tell(200);
      return expectResponse ? (outcome.result ?? 'OK') : undefined;
    } catch (error) {
      if (error instanceof ControlError) {
        const status = { timeout: 408, 'not-registered': 480, rejected: error.status ?? 500, invalid: 400 }[error.reason as string] ?? (error.reason === 'no-response' || error.reason === 'device-error' ? 200 : 503);
        tell(status);
      } else tell(500);
      throw error;
    }
  }

  // --- Queries -------------------------------------------------------------------------

  async queryPresets(deviceId: string, channelId: string): Promise<Preset[]> {
    const sn = this.#sn.next();
    const { responses } = await this.#exchange(deviceId, channelId, sn, 'PresetQuery', 'preset-query', buildPresetQuery({ sn, deviceId: channelId }), true);
    const seen = new Map<number, Preset>();
    for (const r of responses) if (r.kind === 'presetList') for (const p of r.presets) seen.set(p.id, p);
    return [...seen.values()].sort((a, b) => a.id - b.id);
  }

  async queryStatus(deviceId: string, channelId = deviceId): Promise<DeviceStatus> {
    const sn = this.#sn.next();
    const { responses } = await this.#exchange(deviceId, channelId, sn, 'DeviceStatus', 'device-status', buildDeviceStatusQuery({ sn, deviceId: channelId }), true);
    const status = responses.find((r): r is DeviceStatusMessage => r.kind === 'deviceStatus');
    if (!status) throw new ControlError('DeviceStatus answer missing', 'no-response');
    const { kind: _k, root: _r, cmdType: _c, sn: _s, ...fields } = status;
    return fields;
  }

  async queryConfig(deviceId: string, channelId: string, types: readonly ConfigType[]): Promise<ConfigDownloadResult> {
    const sn = this.#sn.next();
    const xml = this.#build('config-download', () => buildConfigDownloadQuery({ sn, deviceId: channelId }, types));
    const { responses } = await this.#exchange(deviceId, channelId, sn, 'ConfigDownload', 'config-download', xml, true);
    const result: ConfigDownloadResult = { deviceId: channelId };
    // Devices send one Response per ConfigType, or one with all of them.
    for (const r of responses) {
      if (r.kind !== 'configDownload') continue;
      if (r.basicParam) result.basicParam = { ...result.basicParam, ...r.basicParam };
      if (r.videoParamOpt) result.videoParamOpt = r.videoParamOpt;
    }
    return result;
  }

  // --- Playback control ----------------------------------------------------------------

  /**
   * MANSRTSP in an INFO inside the playback INVITE dialog. Resolves with the dialog state to
   * store (its CSeq moved on); a failure is a ControlError carrying that state too.
   */
  async playback(deviceId: string, dialog: DialogState, action: PlaybackAction, fallback?: Endpoint): Promise<{ dialog: DialogState }> {
    const label: ControlCommandLabel = 'playback';
    // The MANSRTSP CSeq follows the SIP CSeq this INFO will take: monotonic, and no extra state.
    const body = this.#build(label, () => buildMansrtsp(action, dialog.localSeq + 1));
    const started = this.#o.clock.now();
    this.#o.counters.add(`commands|${label}|sent`);
    const result = await this.#o.platform.inDialog(dialog, deviceId, { method: 'INFO', body: Buffer.from(body), contentType: MANSRTSP_CONTENT_TYPE }, fallback);
    if (result.status >= 200 && result.status < 300) {
      this.#answered(label, started);
      return { dialog: result.dialog };
    }
    const reason: ControlFailure = result.status === 408 ? 'timeout' : result.status === 503 ? 'send-failed' : result.status === 404 && result.response === undefined ? 'not-registered' : 'rejected';
    this.#o.counters.add(`command_failures|${label}|${reason}`);
    throw new ControlError(`INFO ${action.action}: ${result.status} ${result.reason}`, reason, result.response ? result.status : undefined, result.dialog);
  }

  // --- Subscriptions -----------------------------------------------------------------

  /**
   * Subscribes (idempotent while pending or active) and resolves with the state after the
   * device's answer: `active`, `rejected` (489, 403…: not retried) or `failed` (retried).
   */
  subscribe(deviceId: string, kind: SubscriptionKind, body: SubscribeBodyOptions = {}): Promise<SubscriptionSnapshot> {
    const key = subscriptionKey(deviceId, kind);
    const existing = this.#subscriptions.get(key);
    if (existing && (existing.state === 'active' || existing.state === 'pending')) return Promise.resolve(this.#snapshot(existing));
    if (existing) this.#forget(existing);
    const sub: Subscription = { deviceId, kind, state: 'pending', refreshes: 0, notifies: 0, body, timer: null };
    this.#subscriptions.set(key, sub);
    return this.#start(sub);
  }

  /** Ends a subscription (SUBSCRIBE Expires: 0 in its dialog when active). */
  async unsubscribe(deviceId: string, kind: SubscriptionKind): Promise<SubscriptionSnapshot | undefined> {
    const sub = this.#subscriptions.get(subscriptionKey(deviceId, kind));
    if (!sub) return undefined;
    this.#clearTimer(sub);
    const wasActive = sub.state === 'active' && sub.dialog !== undefined;
    this.#set(sub, 'unsubscribed', {});
    if (wasActive) {
      const result = await this.#o.platform.inDialog(sub.dialog!, deviceId, this.#subscribeRequest(sub, 0));
      sub.dialog = result.dialog;
      if (result.status >= 300) this.#o.events.log?.('info', 'un-SUBSCRIBE not accepted', { device: deviceId, kind, status: result.status });
    }
    // The final NOTIFY (terminated) may still come: the Call-ID stays known until the device goes.
    return this.#snapshot(sub);
  }

  subscriptions(deviceId?: string): SubscriptionSnapshot[] {
    return [...this.#subscriptions.values()].filter((s) => deviceId === undefined || s.deviceId === deviceId).map((s) => this.#snapshot(s));
  }

  async #start(sub: Subscription): Promise<SubscriptionSnapshot> {
    const label = kindLabel(sub.kind);
    const sn = this.#sn.next();
    const callId = `${sn}-${Math.random().toString(36).slice(2, 12)}-sub`;
    sub.callId = callId;
    sub.dialog = undefined;
    // Known before sending: a NOTIFY may overtake the 200.
    this.#byCallId.set(callId, sub);
    try {
      const expires = this.#o.subscriptionExpires ?? 3600;
      const request = this.#subscribeRequest(sub, expires, sn);
      const result = await this.#o.platform.subscribe(sub.deviceId, { event: SUBSCRIPTION_EVENT[sub.kind], expires, body: request.body, contentType: MANSCDP, callId });
      if (sub.callId !== callId || sub.state !== 'pending') return this.#snapshot(sub); // unsubscribed or restarted meanwhile
      sub.dialog = result.dialog;
      this.#o.counters.add(`subscriptions|${label}|active`);
      this.#granted(sub, parseExpires(result.response) ?? this.#o.subscriptionExpires ?? 3600, 200);
    } catch (error) {
      if (sub.callId === callId && sub.state === 'pending') this.#subscribeFailed(sub, error);
    }
    return this.#snapshot(sub);
  }

  #subscribeRequest(sub: Subscription, expires: number, sn = this.#sn.next()): { method: string; body: Uint8Array; contentType: string; headers: Array<[string, string]> } {
    const offset = this.#o.utcOffsetMinutes;
    const xml = buildSubscribeQuery(sub.kind, { sn, deviceId: sub.deviceId }, { ...sub.body, ...(offset === undefined ? {} : { utcOffsetMinutes: offset }) });
    return {
      method: 'SUBSCRIBE',
      body: encodeXmlBody(xml),
      contentType: MANSCDP,
      headers: [
        ['Event', SUBSCRIPTION_EVENT[sub.kind]],
        ['Expires', String(expires)],
      ],
    };
  }

  /** The device granted `expires` seconds: active, refresh at 80 % of it. */
  #granted(sub: Subscription, expires: number, status: number): void {
    if (expires <= 0) {
      this.#set(sub, 'terminated', { status, reason: 'device granted Expires 0' });
      return;
    }
    this.#set(sub, 'active', { status, expires });
    this.#clearTimer(sub);
    sub.timer = this.#o.clock.setTimer(Math.max(500, expires * 800), () => {
      sub.timer = null;
      void this.#refresh(sub);
    });
  }

  async #refresh(sub: Subscription): Promise<void> {
    if (sub.state !== 'active' || !sub.dialog || this.#closed) return;
    const label = kindLabel(sub.kind);
    const result = await this.#o.platform.inDialog(sub.dialog, sub.deviceId, this.#subscribeRequest(sub, this.#o.subscriptionExpires ?? 3600));
    if (sub.state !== 'active') return;
    sub.dialog = result.dialog;
    if (result.status >= 200 && result.status < 300) {
      sub.refreshes += 1;
      this.#o.counters.add(`subscriptions|${label}|refreshed`);
      this.#granted(sub, (result.response && parseExpires(result.response)) ?? this.#o.subscriptionExpires ?? 3600, result.status);
      return;
    }
    if (result.status === 481) {
      // The device lost the subscription (e.g. rebooted): start a new one.
      this.#byCallId.delete(sub.callId ?? '');
      this.#set(sub, 'pending', { status: 481, reason: 'device forgot the subscription; subscribing again' });
      void this.#start(sub);
      return;
    }
    this.#subscribeFailed(sub, new SipRequestError(`refresh answered ${result.status} ${result.reason}`, result.status));
  }

  #subscribeFailed(sub: Subscription, error: unknown): void {
    const label = kindLabel(sub.kind);
    const status = sipStatusOf(error);
    const message = error instanceof Error ? error.message : String(error);
    if (!this.#o.platform.presence.get(sub.deviceId)) {
      this.#o.counters.add(`subscriptions|${label}|failed`);
      this.#set(sub, 'failed', { status, reason: `device is not registered (${message})` });
      return;
    }
    if (REJECTING.has(status)) {
      this.#o.counters.add(`subscriptions|${label}|rejected`);
      this.#set(sub, 'rejected', { status, reason: message });
      return;
    }
    this.#o.counters.add(`subscriptions|${label}|failed`);
    this.#set(sub, 'failed', { status, reason: message });
    this.#retryLater(sub);
  }

  #retryLater(sub: Subscription): void {
    this.#clearTimer(sub);
    sub.timer = this.#o.clock.setTimer(this.#o.subscriptionRetry ?? 60_000, () => {
      sub.timer = null;
      if (this.#closed || this.#subscriptions.get(subscriptionKey(sub.deviceId, sub.kind)) !== sub) return;
      if (sub.state !== 'failed' && sub.state !== 'terminated') return;
      if (!this.#o.platform.presence.get(sub.deviceId)) return;
      this.#byCallId.delete(sub.callId ?? '');
      this.#set(sub, 'pending', {});
      void this.#start(sub);
    });
  }

  #set(sub: Subscription, state: SubscriptionStateName, detail: { status?: number; reason?: string; expires?: number }): void {
    sub.state = state;
    if (detail.status !== undefined) sub.status = detail.status;
    if (detail.expires !== undefined) sub.expires = detail.expires;
    if (detail.reason !== undefined) sub.reason = detail.reason;
    else if (state === 'active' || state === 'pending' || state === 'unsubscribed') delete sub.reason;
    this.#o.events.subscription(this.#snapshot(sub));
  }

  #snapshot(s: Subscription): SubscriptionSnapshot {
    const snap: SubscriptionSnapshot = { deviceId: s.deviceId, kind: s.kind, state: s.state, refreshes: s.refreshes, notifies: s.notifies };
    if (s.reason !== undefined) snap.reason = s.reason;
    if (s.status !== undefined) snap.status = s.status;
    if (s.expires !== undefined) snap.expires = s.expires;
    if (s.callId !== undefined) snap.callId = s.callId;
    return snap;
  }

  #clearTimer(sub: Subscription): void {
    if (sub.timer !== null) this.#o.clock.clearTimer(sub.timer);
    sub.timer = null;
  }

  #forget(sub: Subscription): void {
    this.#clearTimer(sub);
    if (sub.callId !== undefined && this.#byCallId.get(sub.callId) === sub) this.#byCallId.delete(sub.callId);
    this.#subscriptions.delete(subscriptionKey(sub.deviceId, sub.kind));
  }

  /** A NOTIFY from the transport (platform `events.notify`): the answer to send. */
  handleNotify(request: SipRequest, _remote: Endpoint): { status: number; reason: string } {
    const sub = this.#byCallId.get(request.headers.get('call-id') ?? '');
    if (!sub) {
      this.#o.counters.add('gb_events|unmatched|notify');
      return { status: 481, reason: 'Subscription Does Not Exist' };
    }
    sub.notifies += 1;
    if (sub.state !== 'unsubscribed') this.#applyBody(sub, request);
    const stateHeader = request.headers.get('subscription-state') ?? '';
    const semi = stateHeader.indexOf(';');
    const stateName = (semi < 0 ? stateHeader : stateHeader.slice(0, semi)).trim().toLowerCase();
    if (stateName === 'terminated' && sub.state !== 'unsubscribed') {
      const params = semi < 0 ? {} : (parseParams(stateHeader, semi)?.params ?? {});
      const reason = typeof params.reason === 'string' ? params.reason : 'no reason';
      this.#clearTimer(sub);
      this.#o.counters.add(`subscriptions|${kindLabel(sub.kind)}|terminated`);
      this.#set(sub, 'terminated', { reason: `device ended the subscription (${reason})` });
      // RFC 6665 §4.1.3: rejected/noresource mean do not come back; the others may be retried.
      if (reason !== 'rejected' && reason !== 'noresource') this.#retryLater(sub);
    }
    return { status: 200, reason: 'OK' };
  }

  #applyBody(sub: Subscription, request: SipRequest): void {
    if (request.body.length === 0) return;
    const offset = this.#o.utcOffsetMinutes;
    const parsed = parseManscdp(request.body, charsetOf(request.headers.get('content-type')), offset === undefined ? {} : { utcOffsetMinutes: offset });
    if (!parsed.ok) {
      this.#o.counters.add('manscdp|malformed');
      this.#o.events.log?.('info', 'malformed NOTIFY body', { device: sub.deviceId, reason: parsed.reason });
      return;
    }
    const m = parsed.message;
    if (m.kind === 'catalog') {
      this.#o.counters.add('gb_events|catalog|notify');
      if (m.items.length > 0) this.#o.events.catalogChange(sub.deviceId, m.items);
    } else if (m.kind === 'alarm') this.#alarm(sub.deviceId, m, 'notify');
    else if (m.kind === 'mobilePosition') this.#position(sub.deviceId, m, 'notify');
    else this.#o.counters.add('manscdp|other');
  }

  // --- MESSAGEs from devices (GbService `events.other`) ---------------------------------

  /** A parsed MESSAGE GbService does not handle itself. True when it was one of ours. */
  handleManscdp(deviceId: string, message: ManscdpMessage, _source: Endpoint): boolean {
    switch (message.kind) {
      case 'result':
      case 'presetList':
      case 'configDownload':
      case 'deviceStatus':
        if (message.root !== 'Response') return false;
        this.#answer(deviceId, message);
        return true;
      case 'alarm':
        this.#alarm(deviceId, message, 'message');
        // §9.4.2: the platform confirms an alarm with a Response MESSAGE (Result OK).
        this.#o.platform
          .request(deviceId, { body: encodeXmlBody(buildAlarmResponse({ sn: message.sn, deviceId: message.deviceId || deviceId })), contentType: MANSCDP, toUser: message.deviceId || deviceId })
          .catch((error: Error) => this.#o.events.log?.('info', 'Alarm Response not accepted', { device: deviceId, error: error.message }));
        return true;
      case 'mobilePosition':
        this.#position(deviceId, message, 'message');
        return true;
      default:
        return false;
    }
  }

  #alarm(deviceId: string, m: AlarmMessage, via: 'message' | 'notify'): void {
    this.#o.counters.add(`gb_events|alarm|${via}`);
    const { kind: _kind, root: _root, cmdType: _cmd, deviceId: channelId, ...fields } = m;
    this.#o.events.alarm({ ...fields, deviceId, channelId: channelId || deviceId, via });
  }

  #position(deviceId: string, m: MobilePositionMessage, via: 'message' | 'notify'): void {
    this.#o.counters.add(`gb_events|position|${via}`);
    const { kind: _kind, root: _root, cmdType: _cmd, deviceId: channelId, sn: _sn, timeRaw: _raw, ...fields } = m;
    this.#o.events.position({ ...fields, deviceId, channelId: channelId || deviceId, via });
  }

  // --- Request/answer correlation ---------------------------------------------------------

  #build<T>(label: ControlCommandLabel, build: () => T): T {
    try {
      return build();
    } catch (error) {
      this.#o.counters.add(`command_failures|${label}|invalid`);
      throw new ControlError(error instanceof Error ? error.message : String(error), 'invalid');
    }
  }

  #exchange(
    deviceId: string,
    channelId: string,
    sn: number,
    cmdType: string,
    label: ControlCommandLabel,
    xml: string,
    expectResponse: boolean,
    /** Called when the device's SIP 200 arrives (before its Response). */
    sipOk?: () => void,
  ): Promise<{ responses: ManscdpMessage[]; outcome: ControlOutcome }> {
    const fail = (reason: ControlFailure, message: string, status?: number) => {
      this.#o.counters.add(`command_failures|${label}|${reason}`);
      return new ControlError(message, reason, status);
    };
    if (this.#closed) return Promise.reject(fail('closed', 'control service closed'));
    if (!this.#o.platform.presence.get(deviceId)) return Promise.reject(fail('not-registered', `device ${deviceId} is not registered`));
    if (this.#waiters.size >= (this.#o.maxPending ?? 512)) return Promise.reject(fail('busy', 'too many commands waiting for devices'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        deviceId,
        cmdType: cmdType.toLowerCase(),
        label,
        started: this.#o.clock.now(),
        expectResponse,
        sipOk: false,
        responses: [],
        timer: null,
        resolve,
        reject: (error) => reject(error),
      };
      this.#waiters.set(sn, waiter);
      this.#o.counters.add(`commands|${label}|sent`);
      this.#o.platform.request(deviceId, { body: encodeXmlBody(xml), contentType: MANSCDP, toUser: channelId }).then(
        () => {
          if (this.#waiters.get(sn) !== waiter) return;
          waiter.sipOk = true;
          sipOk?.();
          if (!expectResponse || this.#complete(waiter)) this.#finish(sn, waiter);
          else waiter.timer = this.#o.clock.setTimer(this.#o.responseTimeout ?? 10_000, () => this.#responseTimedOut(sn, waiter));
        },
        (error: unknown) => {
          if (this.#waiters.get(sn) !== waiter) return;
          this.#waiters.delete(sn);
          const status = sipStatusOf(error);
          const text = error instanceof Error ? error.message : String(error);
          if (status === 408) reject(fail('timeout', `${cmdType}: no SIP answer from ${deviceId}`));
          else if (status === 503) reject(fail('send-failed', text));
          else if (!this.#o.platform.presence.get(deviceId)) reject(fail('not-registered', text));
          else reject(fail('rejected', text, status));
        },
      );
    });
  }

  /** PresetQuery answers may come in parts: complete when SumNum presets arrived. */
  #complete(w: Waiter): boolean {
    const last = w.responses.at(-1);
    if (last === undefined) return false;
    if (last.kind !== 'presetList' || last.sumNum === undefined) return true;
    const got = w.responses.reduce((n, r) => n + (r.kind === 'presetList' ? r.presets.length : 0), 0);
    return got >= last.sumNum;
  }

  #answer(deviceId: string, message: ManscdpMessage): void {
    const waiter = this.#waiters.get(message.sn);
    if (!waiter || waiter.deviceId !== deviceId || waiter.cmdType !== message.cmdType.toLowerCase()) {
      this.#o.counters.add('gb_events|unmatched|response');
      this.#o.events.log?.('debug', 'late or unmatched Response', { device: deviceId, cmdType: message.cmdType, sn: message.sn });
      return;
    }
    waiter.responses.push(message);
    if (waiter.sipOk && this.#complete(waiter)) this.#finish(message.sn, waiter);
  }

  #responseTimedOut(sn: number, w: Waiter): void {
    if (this.#waiters.get(sn) !== w) return;
    w.timer = null;
    // A partial preset list is still an answer.
    if (w.responses.length > 0) {
      this.#finish(sn, w);
      return;
    }
    this.#waiters.delete(sn);
    this.#o.counters.add(`command_failures|${w.label}|no-response`);
    w.reject(new ControlError(`${w.cmdType}: the device accepted the command but sent no Response within ${this.#o.responseTimeout ?? 10_000} ms`, 'no-response'));
  }

  #finish(sn: number, w: Waiter): void {
    this.#waiters.delete(sn);
    if (w.timer !== null) this.#o.clock.clearTimer(w.timer);
    const first = w.responses[0];
    const resultRaw = first && (first.kind === 'result' || first.kind === 'configDownload') ? first.resultRaw : first?.kind === 'deviceStatus' ? (first.result ?? '') : undefined;
    const failed = first && (first.kind === 'result' || first.kind === 'configDownload') && !first.ok;
    if (failed) {
      this.#o.counters.add(`command_failures|${w.label}|device-error`);
      w.reject(new ControlError(`${w.cmdType}: the device answered Result ${resultRaw || 'ERROR'}`, 'device-error'));
      return;
    }
    const latencyMs = this.#answered(w.label, w.started);
    const outcome: ControlOutcome = { answeredBy: first ? 'response' : 'sip', latencyMs };
    if (resultRaw !== undefined && resultRaw !== '') outcome.result = resultRaw;
    w.resolve({ responses: w.responses, outcome });
  }

  #answered(label: ControlCommandLabel, started: number): number {
    const latencyMs = Math.max(0, Math.round(this.#o.clock.now() - started));
    this.#o.counters.add(`commands|${label}|answered`);
    this.#o.counters.add(`command_latency_ms|${label}`, latencyMs);
    return latencyMs;
  }

  // --- Lifecycle ------------------------------------------------------------------------

  /** The device went offline: its subscriptions end (no SIP sent) and its waiters fail. */
  deviceOffline(deviceId: string): void {
    for (const sub of [...this.#subscriptions.values()]) {
      if (sub.deviceId !== deviceId) continue;
      this.#forget(sub);
      if (sub.state !== 'unsubscribed') this.#set(sub, 'terminated', { reason: 'device offline' });
    }
    for (const [sn, w] of [...this.#waiters]) {
      if (w.deviceId !== deviceId) continue;
      this.#waiters.delete(sn);
      if (w.timer !== null) this.#o.clock.clearTimer(w.timer);
      this.#o.counters.add(`command_failures|${w.label}|not-registered`);
      w.reject(new ControlError(`device ${deviceId} went offline`, 'not-registered'));
    }
  }

  close(): void {
    this.#closed = true;
    for (const sub of this.#subscriptions.values()) this.#clearTimer(sub);
    for (const [sn, w] of [...this.#waiters]) {
      this.#waiters.delete(sn);
      if (w.timer !== null) this.#o.clock.clearTimer(w.timer);
      w.reject(new ControlError('control service closed', 'closed'));
    }
  }
}
