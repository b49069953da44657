import type { AddressInfo } from 'node:net';
import type { CamgateConfig } from '../shared/config/config.js';
import type { ListenAddress } from './api/system.js';

/** host:port of a bound server ([v6]:port), or '' when not listening. */
export function bindOf(address: AddressInfo | string | null): string {
  if (!address) return '';
  if (typeof address === 'string') return address;
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

/** A host to put in URLs: the bind address, or `publicHost` when bound to every interface. */
function urlHost(bindHost: string, publicHost: string): string {
  return bindHost === '0.0.0.0' || bindHost === '::' || bindHost === '' ? publicHost : bindHost;
}

export interface ListeningInput {
  config: CamgateConfig;
  /** The API server's bound address. */
  api: AddressInfo | string | null;
  /** The FLV viewer ports the media workers actually listen on. */
  viewerPorts: number[];
  /** The address devices and players reach us at (sip.advertisedHost or the first non-loopback IPv4). */
  publicHost: string;
}

/** Every listening address of the appliance: what `GET /system` returns and the start log lists. */
export function listeningAddresses(input: ListeningInput): ListenAddress[] {
  const { config, publicHost } = input;
  const out: ListenAddress[] = [];
  if (input.api && typeof input.api === 'object') {
    const base = `http://${urlHost(input.api.address, publicHost)}:${input.api.port}`;
    const bind = bindOf(input.api);
    out.push({ name: 'console', protocol: 'http', bind, url: `${base}/` });
    out.push({ name: 'api', protocol: 'http', bind, url: `${base}/swagger` });
  }
  for (const transport of config.sip.transports) {
    out.push({ name: 'sip', protocol: transport, bind: `${config.sip.host}:${config.sip.port}`, url: `sip:${config.sip.id}@${publicHost}:${config.sip.port};transport=${transport}` });
  }
  const rtpHost = config.media.server === 'zlm' ? config.zlm.rtpHost || publicHost : config.media.host;
  if (config.media.server === 'builtin') {
    out.push({ name: 'rtp', protocol: 'udp+tcp', bind: `${rtpHost}:${config.media.rtpPorts}` });
  }
  out.push({ name: 'jt808', protocol: 'tcp', bind: `${config.jt808.host}:${config.jt808.port}` });
  out.push({ name: 'jt1078-realtime', protocol: 'tcp', bind: `${config.jt1078.host}:${config.jt1078.realtime.port}` });
  out.push({ name: 'jt1078-playback', protocol: 'tcp', bind: `${config.jt1078.host}:${config.jt1078.playback.port}` });
  if (config.jt1078.intercom.enabled) {
    out.push({ name: 'intercom-webrtc', protocol: 'udp', bind: `${config.jt1078.host}:${config.jt1078.intercom.webrtcPort}` });
    out.push({ name: 'intercom-audio', protocol: 'tcp', bind: `${config.jt1078.host}:${config.jt1078.intercom.audioPorts}` });
  }
  if (config.media.server === 'builtin') {
    const host = config.media.publicHost || urlHost(config.media.host, publicHost);
    for (const port of input.viewerPorts) {
      out.push({ name: 'viewers', protocol: 'http-flv+ws-flv', bind: `${config.media.host}:${port}`, url: `http://${host}:${port}/` });
    }
  } else {
    out.push({ name: 'zlm', protocol: 'http', bind: config.zlm.api, ...(config.zlm.urls.http ? { url: config.zlm.urls.http } : {}) });
  }
  return out;
}

/** One start-log line per address, e.g. `listening: sip udp 0.0.0.0:5060`. */
export function listeningLines(addresses: ListenAddress[]): string[] {
  return addresses.map((a) => `listening: ${a.name} ${a.protocol} ${a.bind}${a.url ? ` → ${a.url}` : ''}`);
}
