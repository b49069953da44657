/**
 * The channel between the supervisor and the SIP thread (src/sip/sip-thread.ts).
 * Both ends are typed from this one file: a renamed field breaks the build on both.
 */
import type {
  AlarmMessage,
  BasicParam,
  BasicParamConfig,
  ConfigType,
  DeviceControlCommand,
  DeviceStatusMessage,
  MobilePositionMessage,
  PlaybackAction,
  Preset,
  SubscribeBodyOptions,
  SubscriptionKind,
  VideoParamOpt,
} from '../../protocol/gb28181/index.js';
import type { GosipRecords } from '../../protocol/gb28181/records.js';
import type { RecordRange } from '../../protocol/gb28181/cascade.js';
import type { DialogState, Endpoint } from '../../protocol/sip/index.js';
import type { CamgateConfig } from '../config/config.js';
import type { ApiCode } from '../errors.js';

/** Where a device was seen: transport, address and port of its datagrams or connection. */
export interface SourceAddress {
  transport: string;
  address: string;
  port: number;
}

/** The catalog-sourced fields of a channel, as one Catalog `Item` carries them (store column names). */
export interface CatalogFields {
  name?: string;
  manufacturer?: string;
  model?: string;
  owner?: string;
  civilcode?: string;
  address?: string;
  parental?: number;
  parentid?: string;
  safetyway?: number;
  registerway?: number;
  secrecy?: number;
  status?: string;
  ptztype?: number;
  longitude?: number | null;
  latitude?: number | null;
  uri?: string;
}

/** One channel of a device's catalog, as the SIP thread reports it and the store applies it. */
export interface CatalogEntry extends CatalogFields {
  channelid: string;
}

/** A device's REGISTER was accepted (first: it was not registered before). */
export interface DeviceRegistered {
  deviceId: string;
  first: boolean;
  /** The From URI as sent. */
  fromUri: string;
  /** Host part of the From URI (the device's domain). */
  domain: string;
  contact: string;
  expires: number;
  source: SourceAddress;
  /** Top Via as gosip kept it: sent-by host/port, transport, rport, received. */
  via: { host: string; port: number; transport: string; rport: number; received: string };
}

export interface DeviceInfo {
  deviceId: string;
  manufacturer?: string;
  model?: string;
  firmware?: string;
  deviceType?: string;
  name?: string;
}

/** What the SIP thread needs to rebuild its presence table after a restart. */
export interface OnlineDevice {
  deviceId: string;
  transport: string;
  address: string;
  port: number;
  /** Registration expiry, unix seconds. */
  expiresAt: number;
  contact: string;
}

export interface InviteRequest {
  deviceId: string;
  channelId: string;
  sdp: string;
  subject: string;
  callId: string;
  fromTag: string;
}

export interface InviteAnswer {
  dialog: DialogState;
  /** The device's SDP answer. */
  answer: string;
  /** Where the device is, for in-dialog requests. */
  source: Endpoint;
}

export interface ByeRequest {
  dialog: DialogState;
  deviceId: string;
  /** The device's last known address, used when it is not registered any more. */
  fallback?: Endpoint;
}

export interface RecordsQuery {
  deviceId: string;
  channelId: string;
  /** Unix seconds. */
  start: number;
  end: number;
  /** Also return the device's own items (cascade relays them upward). */
  raw?: boolean;
}

/** One recording as the device described it (times clipped to the query's range). */
export type RecordEntry = RecordRange;

export interface RecordsAnswer extends GosipRecords {
  /** False when the device sent fewer items than it announced before the deadline. */
  complete: boolean;
  /** With `raw`: the device's items in its order, times clipped. */
  items?: RecordEntry[];
}

// --- GB28181 control (src/sip/control-service.ts) -----------------------------------------

export interface ControlOutcome {
  /** `sip`: the device's 200 is the whole answer (PTZ, TeleBoot…); `response`: a Response MESSAGE came too. */
  answeredBy: 'sip' | 'response';
  /** The Response's Result text, when there was one. */
  result?: string;
  latencyMs: number;
}

export type DeviceStatus = Omit<DeviceStatusMessage, 'kind' | 'root' | 'cmdType' | 'sn'>;

export interface ConfigDownloadResult {
  deviceId: string;
  basicParam?: BasicParam;
  videoParamOpt?: VideoParamOpt;
}

export type SubscriptionStateName = 'pending' | 'active' | 'rejected' | 'failed' | 'terminated' | 'unsubscribed';

export interface SubscriptionSnapshot {
  deviceId: string;
  kind: SubscriptionKind;
  state: SubscriptionStateName;
  /** Why it is not active: the device's status line, a time-out, a NOTIFY's termination reason. */
  reason?: string;
  /** SIP status of the last SUBSCRIBE answer. */
  status?: number;
  /** Seconds the device granted. */
  expires?: number;
  callId?: string;
  refreshes: number;
  notifies: number;
}

/** An alarm as the supervisor stores it: the parsed Notify plus where it came from. */
export type AlarmEvent = Omit<AlarmMessage, 'kind' | 'root' | 'cmdType' | 'deviceId'> & {
  /** The registered device the alarm came through. */
  deviceId: string;
  /** The alarm source (the body's DeviceID: a channel or alarm input). */
  channelId: string;
  via: 'message' | 'notify';
};

export type PositionEvent = Omit<MobilePositionMessage, 'kind' | 'root' | 'cmdType' | 'deviceId' | 'sn' | 'timeRaw'> & {
  deviceId: string;
  channelId: string;
  via: 'message' | 'notify';
};

/** A Catalog NOTIFY item: the store's fields plus its Event (ADD, DEL, ON, OFF, UPDATE, VLOST, DEFECT). */
export interface CatalogChange extends CatalogEntry {
  event: string;
}

export interface PlaybackControlRequest {
  deviceId: string;
  dialog: DialogState;
  action: PlaybackAction;
  /** The device's last known address, used when it is not registered any more. */
  fallback?: Endpoint;
}

/**
 * The dialog after the INFO: its CSeq moved on whatever the device answered, so the caller
 * stores it in both cases; `failure` says why the device refused (status/code as a ServiceError).
 */
export interface PlaybackControlAnswer {
  dialog: DialogState;
  failure?: { status: number; code: ApiCode; message: string };
}

/** An upper platform as the SIP thread needs it to register upward (cascade, issue 16). */
export interface UpstreamConfig {
  /** The platform's row id. */
  id: number;
  serverId: string;
  domain: string;
  host: string;
  port: number;
  transport: 'UDP' | 'TCP';
  /** Our device ID towards it. */
  deviceId: string;
  password: string;
  expires: number;
  keepaliveInterval: number;
  keepaliveTimeouts: number;
  charset: 'GB2312' | 'UTF-8';
}

/** registering: first REGISTER in flight; online: registered; retrying: refused, timed out or dropped, next try scheduled. */
export type UpstreamState = 'registering' | 'online' | 'retrying' | 'stopped';

export interface UpstreamStatus {
  id: number;
  state: UpstreamState;
  /** Why it is not online (the upper platform's answer, a time-out, unanswered keepalives); null when fine. */
  error: string | null;
  /** Seconds the registration was granted for (0 when not online). */
  expires: number;
  /** Failures since the last success. */
  failures: number;
}

/** One channel of the catalog we share with an upper platform, under the ID that platform sees. */
export interface SharedCatalogItem {
  channelId: string;
  name: string;
  status: 'ON' | 'OFF';
  manufacturer?: string;
  model?: string;
  address?: string;
  civilCode?: string;
  longitude?: number;
  latitude?: number;
  /** Parent in the catalog (a virtual directory); absent: our device ID. */
  parentId?: string;
  /** The business group (215) above it, for a 216 organisation or a channel in a directory. */
  businessGroupId?: string;
  /** A virtual directory (215 business group, 216 organisation), not a channel. */
  directory?: boolean;
}

/** What an upper platform subscribed to (SUBSCRIBE Catalog, or MobilePosition with its interval in seconds). */
export interface UpstreamSubscription {
  id: number;
  kind: 'catalog' | 'mobilePosition' | 'alarm';
  active: boolean;
  interval?: number;
}

/** A change or a position to NOTIFY to the platforms subscribed to it. */
export type UpstreamNotify =
  | { id: number; kind: 'catalog'; items: Array<SharedCatalogItem & { event: 'ON' | 'OFF' | 'ADD' | 'DEL' | 'UPDATE' }> }
  | { id: number; kind: 'mobilePosition'; positions: Array<{ channelId: string; time: number; longitude: number; latitude: number; speed?: number; direction?: number }> }
  | { id: number; kind: 'alarm'; alarms: Array<{ channelId: string; priority: number; method: number; time: number; description?: string; longitude?: number; latitude?: number; alarmType?: number }> };

/** An upper platform's live INVITE for a shared channel, as the SIP thread read its SDP. */
export interface UpstreamInvite {
  /** The platform's row id. */
  id: number;
  callId: string;
  /** The channel ID the platform asked for (as it sees it in our catalog). */
  channelId: string;
  /** Where it wants the PS over RTP. */
  host: string;
  port: number;
  /** udp, tcp (we connect: it offered a=setup:passive), or tcp-passive (it connects to us: it offered a=setup:active). */
  transport: 'udp' | 'tcp' | 'tcp-passive';
  /** tcp-passive: where its SIP came from, also allowed to connect (its c= may be an address behind NAT). */
  sipAddress?: string;
  /** Its `y=` SSRC, when it sent one. */
  ssrc?: number;
  /** `s=Playback`: the recording's range (unix seconds, from `t=`). */
  playback?: { start: number; end: number };
}

export interface UpstreamInviteAnswer {
  /** The SSRC we send with. */
  ssrc: number;
  /** Address we send from, for the SDP answer. */
  mediaHost: string;
  /** tcp-passive: the port we listen on for its connection. */
  mediaPort?: number;
}

/** A camera's INVITE for a voice broadcast (GB/T 28181-2016 §9.12), as the SIP thread read its SDP. */
export interface BroadcastInvite {
  /** The broadcast (the supervisor's intercom id). */
  id: string;
  deviceId: string;
  channelId: string;
  callId: string;
  /** Where the camera wants the audio. */
  host: string;
  port: number;
  /** udp; tcp-active: we connect (it offered a=setup:passive); tcp-passive: it connects to us. */
  transport: 'udp' | 'tcp-active' | 'tcp-passive';
  /** `raw`: it offered PCMA (PT 8); `ps`: G.711A in PS. */
  carriage: 'raw' | 'ps';
  payloadType: number;
  /** Its `y=` SSRC, when it sent one. */
  ssrc?: number;
}

export interface BroadcastInviteAnswer {
  /** Address and port we send from (tcp-passive: where it connects), for our SDP. */
  mediaHost: string;
  port: number;
  /** The SSRC we send with. */
  ssrc: number;
}

/** A broadcast set up: the Broadcast Response and the camera's INVITE, answered. */
export interface BroadcastStarted {
  outcome: ControlOutcome;
  callId: string;
  /** ms from the MESSAGE to the camera's INVITE. */
  inviteMs: number;
  transport: BroadcastInvite['transport'];
  carriage: BroadcastInvite['carriage'];
  /** Our media port as the SDP answer named it (tcp-passive: where the camera connects). */
  mediaPort: number;
}

export interface SipInit {
  config: CamgateConfig;
  advertisedHost: string;
  /** SIP counters (src/shared/contracts/sip-counters.ts), owned by the supervisor so they outlive a restart. */
  counters: SharedArrayBuffer;
  online: OnlineDevice[];
  /** Media dialogs open before this thread (re)started. */
  dialogs: Array<{ callId: string; deviceId: string }>;
  /** Enabled upper platforms to register to. */
  platforms: UpstreamConfig[];
}

export interface SipPing {
  role: 'sip';
  registered: number;
  transactions: { client: number; server: number };
  tcpConnections: number;
}

export type SipContract = {
  init: SipInit;
  ping: SipPing;
  down: {
    invite: [InviteRequest, InviteAnswer];
    /** Ends a dialog; resolves with the device's final status. */
    bye: [ByeRequest, number];
    'records.query': [RecordsQuery, RecordsAnswer];
    /** Drops a deleted device's registration; true when it was registered. */
    'device.forget': [{ deviceId: string }, boolean];
    /** Sends a Catalog query now; fails with 409 when the device is offline. */
    'catalog.query': [{ deviceId: string }, boolean];
    /** Sends a DeviceInfo query now; fails with 409 when the device is offline. */
    'deviceinfo.query': [{ deviceId: string }, boolean];
    /** DeviceControl to a channel (or the device: channelId = deviceId); waits for the 200 and, where the standard has one, the Response. */
    'control.device': [{ deviceId: string; channelId: string; command: DeviceControlCommand }, ControlOutcome];
    'control.presets': [{ deviceId: string; channelId: string }, Preset[]];
    'control.status': [{ deviceId: string; channelId: string }, DeviceStatus];
    'control.configDownload': [{ deviceId: string; channelId: string; types: ConfigType[] }, ConfigDownloadResult];
    /** DeviceConfig BasicParam. */
    'control.config': [{ deviceId: string; channelId: string; basic: BasicParamConfig }, ControlOutcome];
    /** MANSRTSP INFO in a playback dialog. */
    'playback.control': [PlaybackControlRequest, PlaybackControlAnswer];
    'subscription.start': [{ deviceId: string; kind: SubscriptionKind; options?: SubscribeBodyOptions }, SubscriptionSnapshot];
    /** Null when there was no such subscription. */
    'subscription.stop': [{ deviceId: string; kind: SubscriptionKind }, SubscriptionSnapshot | null];
    'subscription.list': [{ deviceId?: string }, SubscriptionSnapshot[]];
    /** The presence table: every device online now (expiresAt in unix seconds), for reconciling the store. */
    'presence.list': [void, OnlineDevice[]];
    /** The enabled upper platforms, all of them: new ones register, removed ones unregister, changed ones start over. */
    'platforms.set': [{ platforms: UpstreamConfig[] }, UpstreamStatus[]];
    /** BYE to an upper platform for one of its media dialogs (our source ended); false when the dialog is unknown. */
    'platform.hangup': [{ callId: string }, boolean];
    /** NOTIFY to the platform's subscriptions of that kind; resolves with how many NOTIFYs went out. */
    'platform.notify': [UpstreamNotify, number];
    /**
     * Voice broadcast: Notify Broadcast to the channel, its Response, then the camera's INVITE
     * (answered with `broadcast.invite`'s address); 504 no-invite when none within inviteTimeoutMs.
     */
    'broadcast.start': [{ id: string; deviceId: string; channelId: string; inviteTimeoutMs: number }, BroadcastStarted];
    /** Ends a broadcast: BYE when its call is up, else stops waiting for the INVITE; false when unknown. */
    'broadcast.stop': [{ id: string }, boolean];
  };
  up: {
    'device.credentials': [{ deviceId: string }, { known: boolean; password: string }];
    /** The channels shared with an upper platform, for its Catalog query. */
    'platform.catalog': [{ id: number }, SharedCatalogItem[]];
    /** Where a channel a platform named comes from: a camera channel (its device and real ID) or a vehicle channel; null when not shared. */
    'platform.resolve': [{ id: number; channelId: string }, { kind: 'camera'; deviceId: string; channelId: string } | { kind: 'vehicle'; sim: string; channel: number } | null];
    /** A PTZCmd from an upper platform for a shared vehicle channel: sent to the terminal as JT/T 1078 0x9301–0x9306; the number of messages the terminal accepted. */
    'platform.vehiclePtz': [{ sim: string; channel: number; ptzCmd: string }, number];
    /** MANSRTSP from an upper platform in one of its playback dialogs, applied to the source (camera INFO or 0x9202); rejects with a ServiceError. */
    'platform.playback': [{ callId: string; action: PlaybackAction }, boolean];
    /** Recordings of a shared channel (the camera's RecordInfo, or the terminal's 0x9205), unix-second ranges. */
    'platform.records': [{ id: number; channelId: string; start: number; end: number }, RecordEntry[]];
    /** Starts the shared channel's source if it is not live and sends it to the platform; rejects with a ServiceError. */
    'platform.invite': [UpstreamInvite, UpstreamInviteAnswer];
    /** A camera INVITEd us for a pending broadcast: attach the audio; rejects with a ServiceError (the INVITE is refused). */
    'broadcast.invite': [BroadcastInvite, BroadcastInviteAnswer];
  };
  downNotes: Record<never, never>;
  upNotes: {
    'platform.status': UpstreamStatus;
    /** The upper platform ended a media dialog (BYE); already answered 200. */
    'platform.bye': { id: number; callId: string };
    /** An upper platform subscribed, refreshed, or its subscription ended (un-SUBSCRIBE, expiry, platform dropped). */
    'platform.subscription': UpstreamSubscription;
    'device.registered': DeviceRegistered;
    'device.offline': { deviceId: string; reason: string };
    'device.keepalive': { deviceId: string } & SourceAddress;
    'device.info': DeviceInfo;
    'device.catalog': { deviceId: string; items: CatalogEntry[]; complete: boolean };
    'device.mediaStatus': { deviceId: string; channelId: string; endOfFile: boolean };
    'dialog.ended': { callId: string; deviceId: string };
    /** A broadcast call ended from the camera's side: its BYE, or the camera went offline (reason). */
    'broadcast.bye': { id: string; callId: string; reason?: string };
    'subscription.state': SubscriptionSnapshot;
    'catalog.change': { deviceId: string; changes: CatalogChange[] };
    'device.alarm': AlarmEvent;
    'device.position': PositionEvent;
  };
};
