/**
 * The SIP thread (DESIGN.md §1): SIP transports, transactions and GB28181
 * signalling. It owns no database: credentials come from the supervisor on
 * request and every state change goes back to it as a notification.
 */
import { NonceStore, systemClock, type DialogState, type Endpoint } from '../src/protocol/sip/index.js';
import { runChild } from '../src/shared/child-runtime.js';
import { SharedCounters } from '../src/shared/counters.js';
import type { Channel } from '../src/shared/channel.js';
import { GbPlatform, type InviteOptions } from '../src/sip/platform.js';
import { GbService } from '../src/sip/gb-service.js';
import { SIP_COUNTER_NAMES } from '../src/sip/sip-metrics.js';
import { SipTransport } from '../src/sip/transport.js';
import type { CamgateConfig } from '../src/shared/config/config.js';
import type { OnlineDevice } from '../src/supervisor/signalling-bridge.js';

interface SipInit {
  config: CamgateConfig;
  advertisedHost: string;
  counters: SharedArrayBuffer;
  online: OnlineDevice[];
  /** Media dialogs open before this thread (re)started: Call-ID → device. */
  dialogs: Array<{ callId: string; deviceId: string }>;
}

let transport: SipTransport | null = null;
let platform: GbPlatform | null = null;
let service: GbService | null = null;

function endpointNote(source: Endpoint) {
  return { transport: source.transport, address: source.address, port: source.port };
}

function start(init: SipInit, channel: Channel): Promise<void> {
  const { config } = init;
  const counters = SharedCounters.attach(init.counters, SIP_COUNTER_NAMES);
  const clock = systemClock;
  const log = (level: string, message: string, data?: Record<string, unknown>) => channel.notify('log', { level, message, data });

  platform = new GbPlatform({
    serverId: config.sip.id,
    domain: config.sip.domain,
    advertisedHost: init.advertisedHost,
    advertisedPort: config.sip.port,
    registration: config.gb28181.registration,
    maxExpires: config.gb28181.registerExpires,
    keepaliveInterval: config.gb28181.keepaliveInterval,
    keepaliveTimeouts: config.gb28181.keepaliveTimeouts,
    clock,
    nonces: new NonceStore({ clock }),
    counters,
    lookup: (deviceId) => channel.request('device.credentials', { deviceId }) as Promise<{ known: boolean; password: string }>,
    send: (bytes, remote) => transport?.send(bytes, remote) ?? false,
    events: {
      registered(binding, first) {
        channel.notify('device.registered', { ...binding, source: endpointNote(binding.source), first });
        if (first) service?.deviceOnline(binding.deviceId);
      },
      offline(deviceId, reason) {
        service?.deviceOffline(deviceId);
        channel.notify('device.offline', { deviceId, reason });
      },
      keepalive(deviceId, source) {
        channel.notify('device.keepalive', { deviceId, ...endpointNote(source) });
      },
      dialogEnded(callId, deviceId) {
        channel.notify('dialog.ended', { callId, deviceId });
      },
      manscdp(deviceId, body, contentType, source) {
        service?.handleMessage(deviceId, body, contentType, source);
      },
      log,
    },
  });
  service = new GbService({
    platform,
    clock,
    counters,
    catalogInterval: config.gb28181.catalogInterval,
    events: {
      catalog: (deviceId, items, complete) => channel.notify('device.catalog', { deviceId, items, complete }),
      deviceInfo: (info) => channel.notify('device.info', info),
      mediaStatus: (deviceId, channelId, endOfFile) => channel.notify('device.mediaStatus', { deviceId, channelId, endOfFile }),
      log,
    },
  });

  // Devices online before this thread (re)started keep their place: keepalives from
  // their registered address stay trusted until the registration expires.
  const nowSeconds = Date.now() / 1000;
  for (const d of init.online) {
    const remaining = d.expiresAt - nowSeconds;
    if (remaining <= 0) continue;
    platform.presence.restore({
      deviceId: d.deviceId,
      source: { transport: d.transport, address: d.address, port: d.port },
      contact: d.contact,
      expiresAt: clock.now() + remaining * 1000,
      lastKeepalive: clock.now(),
      registeredAt: clock.now(),
    });
  }

  const p = platform;
  transport = new SipTransport(
    { host: config.sip.host, port: config.sip.port, transports: config.sip.transports, udpRecvBuffer: 8 * 1024 * 1024 },
    {
      message: (message, remote) => p.receive(message, remote),
      malformed: (_reason, remote) => p.malformed(remote),
    },
  );

  for (const d of init.dialogs ?? []) platform.dialogs.set(d.callId, d.deviceId);
  channel.handle('invite', (data) => p.invite(data as InviteOptions));
  channel.handle('bye', async (data) => {
    const { dialog, deviceId, fallback } = data as { dialog: DialogState; deviceId: string; fallback?: Endpoint };
    return p.bye(dialog, deviceId, fallback);
  });
  channel.handle('records.query', async (data) => {
    const { deviceId, channelId, start, end } = data as { deviceId: string; channelId: string; start: number; end: number };
    return service!.queryRecords(deviceId, channelId, start, end);
  });
  channel.handle('device.forget', (data) => {
    const { deviceId } = data as { deviceId: string };
    return p.presence.unregister(deviceId, 'removed');
  });
  channel.handle('catalog.query', (data) => {
    const { deviceId } = data as { deviceId: string };
    if (!p.presence.get(deviceId)) throw new Error(`device ${deviceId} is not online`);
    service!.queryCatalog(deviceId);
    return true;
  });
  // The console's "DeviceInfo" button (GET is answered from the store; this asks again).
  channel.handle('deviceinfo.query', (data) => {
    const { deviceId } = data as { deviceId: string };
    if (!p.presence.get(deviceId)) throw new Error(`device ${deviceId} is not online`);
    service!.queryDeviceInfo(deviceId);
    return true;
  });
  return transport.start();
}

runChild<SipInit>({
  init: (data, channel) => start(data, channel),
  ping: () => ({
    role: 'sip',
    registered: platform?.presence.size ?? 0,
    transactions: { client: platform?.transactions.clientCount ?? 0, server: platform?.transactions.serverCount ?? 0 },
    tcpConnections: transport?.connectionCount ?? 0,
  }),
  async shutdown() {
    service?.close();
    platform?.close();
    await transport?.close();
  },
});
