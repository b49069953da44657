/**
 * The SDP GB/T 28181 INVITEs carry, sans-I/O: the platform's offer for live (`Play`)
 * and recorded (`Playback`) media with the `y=` SSRC line, and the device's answer
 * (where it sends from, over which transport, with which SSRC — some devices
 * override ours, and we honour theirs).
 */

export type MediaTransport = 'udp' | 'tcp-passive' | 'tcp-active';

export interface OfferOptions {
  /** Our SIP ID, for `o=`. */
  serverId: string;
  /** Address the device sends media to. */
  mediaHost: string;
  mediaPort: number;
  /** `tcp-passive`: we listen, the device connects (a=setup:passive). */
  transport: MediaTransport;
  /** 10-digit decimal SSRC for `y=`. */
  ssrc: string;
  /** Playback: channel ID and time range in unix seconds. */
  playback?: { channelId: string; start: number; end: number };
  /** With `playback`: a download (`s=Download`) at this `a=downloadspeed` (1-4, GB/T 28181-2016 Annex G). */
  downloadSpeed?: number;
}

export function buildOffer(o: OfferOptions): string {
  const tcp = o.transport !== 'udp';
  const lines = [
    'v=0',
    `o=${o.serverId} 0 0 IN IP4 ${o.mediaHost}`,
    `s=${o.playback ? (o.downloadSpeed ? 'Download' : 'Playback') : 'Play'}`,
    ...(o.playback ? [`u=${o.playback.channelId}:0`] : []),
    `c=IN IP4 ${o.mediaHost}`,
    `t=${o.playback ? `${o.playback.start} ${o.playback.end}` : '0 0'}`,
    `m=video ${o.mediaPort} ${tcp ? 'TCP/RTP/AVP' : 'RTP/AVP'} 96 98 97 99`,
    'a=recvonly',
    ...(tcp ? [`a=setup:${o.transport === 'tcp-passive' ? 'passive' : 'active'}`, 'a=connection:new'] : []),
    'a=rtpmap:96 PS/90000',
    'a=rtpmap:98 H264/90000',
    'a=rtpmap:97 MPEG4/90000',
    'a=rtpmap:99 H265/90000',
    ...(o.playback && o.downloadSpeed ? [`a=downloadspeed:${o.downloadSpeed}`] : []),
    `y=${o.ssrc}`,
  ];
  return lines.join('\r\n') + '\r\n';
}

export interface Answer {
  host: string | undefined;
  port: number | undefined;
  transport: MediaTransport;
  /** The device's `y=`, when it sent one. */
  ssrc: string | undefined;
  /** `s=` of the answer (Play / Playback). */
  session: string | undefined;
  payloadTypes: number[];
}

/** Reads what camgate needs from an answer; tolerant of LF-only lines and extra lines. */
export function parseAnswer(sdp: string): Answer {
  const answer: Answer = { host: undefined, port: undefined, transport: 'udp', ssrc: undefined, session: undefined, payloadTypes: [] };
  let setup: string | undefined;
  let tcp = false;
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.length < 2 || line[1] !== '=') continue;
    const value = line.slice(2).trim();
    switch (line[0]) {
      case 'c': {
        const parts = value.split(/\s+/);
        if (parts[2]) answer.host = parts[2].split('/')[0];
        break;
      }
      case 'm': {
        const parts = value.split(/\s+/);
        if (parts[0] === 'video' || answer.port === undefined) {
          const port = Number(parts[1]);
          if (Number.isInteger(port) && port >= 0 && port <= 65535) answer.port = port;
          tcp = /TCP/i.test(parts[2] ?? '');
          answer.payloadTypes = parts.slice(3).map(Number).filter((n) => Number.isInteger(n));
        }
        break;
      }
      case 'a':
        if (value.startsWith('setup:')) setup = value.slice(6).trim().toLowerCase();
        break;
      case 'y':
        if (/^\d{1,10}$/.test(value)) answer.ssrc = value;
        break;
      case 's':
        answer.session = value;
        break;
    }
  }
  // The device's role is the opposite of ours: its "active" means we are passive.
  if (tcp) answer.transport = setup === 'passive' ? 'tcp-active' : 'tcp-passive';
  return answer;
}

export interface SendAnswerOptions {
  /** Our device ID towards the upper platform, for `o=`. */
  deviceId: string;
  /** Address we send media from. */
  mediaHost: string;
  /** `udp`; `tcp-active`: we connect to the offerer (it offered a=setup:passive); `tcp-passive`: it connects to `port` (it offered a=setup:active). */
  transport: MediaTransport;
  /** tcp-passive: the port we listen on. */
  port?: number;
  /** 10-digit decimal SSRC for `y=`: the one we send with. */
  ssrc: string;
  /** `Playback` answers a recording's INVITE (default `Play`). */
  session?: 'Play' | 'Playback';
}

/** The `t=` range of an offer (Playback: unix seconds), undefined for `t=0 0` or none. */
export function offerTimes(sdp: string): { start: number; end: number } | undefined {
  const m = /^t=(\d+)\s+(\d+)\s*$/m.exec(sdp);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  return start > 0 && end > start ? { start, end } : undefined;
}

/**
 * Our answer to an upper platform's live INVITE (cascade): we only send (`a=sendonly`), PS on
 * payload type 96. The port is the discard port 9, as RFC 4145 has an active TCP end say; a
 * sender's UDP source port is not something the receiver may rely on either. Passive TCP
 * (we listen) names the listening port and `a=setup:passive`.
 */
export function buildSendAnswer(o: SendAnswerOptions): string {
  const tcp = o.transport !== 'udp';
  const passive = o.transport === 'tcp-passive';
  const lines = [
    'v=0',
    `o=${o.deviceId} 0 0 IN IP4 ${o.mediaHost}`,
    `s=${o.session ?? 'Play'}`,
    `c=IN IP4 ${o.mediaHost}`,
    't=0 0',
    `m=video ${passive ? (o.port ?? 9) : 9} ${tcp ? 'TCP/RTP/AVP' : 'RTP/AVP'} 96`,
    'a=sendonly',
    ...(tcp ? [`a=setup:${passive ? 'passive' : 'active'}`, 'a=connection:new'] : []),
    'a=rtpmap:96 PS/90000',
    `y=${o.ssrc}`,
  ];
  return lines.join('\r\n') + '\r\n';
}

/** What a camera's voice-broadcast INVITE (GB/T 28181-2016 §9.12) asks for, as read from its SDP. */
export interface BroadcastOffer {
  host: string | undefined;
  port: number | undefined;
  /** From our side, as in `parseAnswer`: tcp-active means we connect. */
  transport: MediaTransport;
  /** `raw`: PCMA (PT 8) offered; `ps`: G.711A in PS on `payloadType`; null: neither. */
  carriage: 'raw' | 'ps' | null;
  payloadType: number;
  ssrc: string | undefined;
  session: string | undefined;
}

/**
 * Reads a camera's broadcast offer: raw PCMA when it lists PT 8 (or names PCMA), else PS on
 * the payload type its rtpmap calls PS (96 when it lists 96 without an rtpmap).
 */
export function parseBroadcastOffer(sdp: string): BroadcastOffer {
  const base = parseAnswer(sdp);
  const rtpmap = new Map<number, string>();
  for (const m of sdp.matchAll(/^a=rtpmap:(\d+)\s+([^/\s]+)/gm)) rtpmap.set(Number(m[1]), m[2]!.toUpperCase());
  const offered = base.payloadTypes;
  const pcma = offered.find((pt) => pt === 8 || rtpmap.get(pt) === 'PCMA');
  const ps = offered.find((pt) => rtpmap.get(pt) === 'PS') ?? offered.find((pt) => pt === 96 && !rtpmap.has(pt));
  const carriage = pcma !== undefined ? 'raw' : ps !== undefined ? 'ps' : null;
  return { host: base.host, port: base.port, transport: base.transport, carriage, payloadType: pcma ?? ps ?? -1, ssrc: base.ssrc, session: base.session };
}

export interface BroadcastAnswerOptions {
  /** Our SIP ID (the broadcast's SourceID), for `o=`. */
  serverId: string;
  mediaHost: string;
  mediaPort: number;
  transport: MediaTransport;
  carriage: 'raw' | 'ps';
  payloadType: number;
  /** 10-digit decimal SSRC for `y=`. */
  ssrc: string;
  session?: string;
}

/** Our answer to a camera's broadcast INVITE: we only send (`a=sendonly`) G.711A, raw or in PS. */
export function buildBroadcastAnswer(o: BroadcastAnswerOptions): string {
  const tcp = o.transport !== 'udp';
  const lines = [
    'v=0',
    `o=${o.serverId} 0 0 IN IP4 ${o.mediaHost}`,
    `s=${o.session ?? 'Play'}`,
    `c=IN IP4 ${o.mediaHost}`,
    't=0 0',
    `m=audio ${o.mediaPort} ${tcp ? 'TCP/RTP/AVP' : 'RTP/AVP'} ${o.payloadType}`,
    'a=sendonly',
    o.carriage === 'raw' ? `a=rtpmap:${o.payloadType} PCMA/8000` : `a=rtpmap:${o.payloadType} PS/90000`,
    // tcp-active: we connect (setup:active); tcp-passive: the camera connects to us.
    ...(tcp ? [`a=setup:${o.transport === 'tcp-active' ? 'active' : 'passive'}`, 'a=connection:new'] : []),
    `y=${o.ssrc}`,
    'f=v/////a/1/8/1',
  ];
  return lines.join('\r\n') + '\r\n';
}
