/**
 * Play URLs for a stream served by ZLMediaKit, built the way gosip builds them (configured
 * prefixes plus ZLM's path forms, which `zlm.templates` can override), and the SSRC → stream id rule that ties SIP to ZLM.
 *
 * ZLM's shared `rtp_proxy` port names a stream it did not expect `rtp/<SSRC as 8 upper-case hex
 * digits>`, e.g. SSRC 0x0BEBC2AA → `rtp/0BEBC2AA`; gosip names every stream that way
 * (live `0700000001` → `29B92701`), so the same id is used with or without openRtpServer.
 */

/** The prefixes an operator configures, one per protocol, e.g. `http://203.0.113.5:8080`. Unset ones produce no URL. */
export interface ZlmUrlBases {
  http?: string;
  ws?: string;
  rtmp?: string;
  rtsp?: string;
}

/** The `urls` keys of an API answer; the built-in backend uses `flv` and `wsflv` too, so both backends spell them alike. */
export const ZLM_PLAY_URL_KINDS = ['flv', 'wsflv', 'hls', 'rtmp', 'rtsp', 'webrtc'] as const;
export type ZlmPlayUrlKind = (typeof ZLM_PLAY_URL_KINDS)[number];

/**
 * Templates with the placeholders `{http}`, `{ws}`, `{rtmp}`, `{rtsp}` (the bases, trailing `/`
 * removed), `{app}` and `{id}` (both URL-encoded).
 */
export type ZlmUrlTemplates = Record<ZlmPlayUrlKind, string>;

/**
 * ZLM's URL forms for app `rtp` (docs/zlmediakit.md); all but WebRTC were played against a real ZLM.
 * `webrtc` is the address a WebRTC player posts its SDP offer to (ZLM's `/index/api/webrtc`).
 * `zlm.templates` in the config overrides any of them.
 */
export const DEFAULT_ZLM_URL_TEMPLATES: Readonly<ZlmUrlTemplates> = Object.freeze({
  flv: '{http}/{app}/{id}.live.flv',
  wsflv: '{ws}/{app}/{id}.live.flv',
  hls: '{http}/{app}/{id}/hls.m3u8',
  rtmp: '{rtmp}/{app}/{id}',
  rtsp: '{rtsp}/{app}/{id}',
  webrtc: '{http}/index/api/webrtc?app={app}&stream={id}&type=play',
});

export type ZlmPlayUrls = Partial<Record<ZlmPlayUrlKind, string>>;

const MAX_SSRC = 0xffff_ffff;

/**
 * The ZLM stream id for an SSRC: the 32-bit value as 8 upper-case hex digits. Accepts the decimal
 * string from an SDP `y=` line (leading zeros allowed, e.g. `0700000001`) or a number. Values
 * above 2^32-1 are refused: gosip's allocator could produce them, and ZLM would never match them.
 */
export function streamIdFromSsrc(ssrc: string | number): string {
  let value: number;
  if (typeof ssrc === 'number') {
    value = ssrc;
  } else {
    if (!/^\d{1,10}$/.test(ssrc)) throw new RangeError(`SSRC must be 1 to 10 decimal digits, got ${JSON.stringify(ssrc)}`);
    value = Number(ssrc);
  }
  if (!Number.isInteger(value) || value < 0 || value > MAX_SSRC) {
    throw new RangeError(`SSRC must be an integer 0 … 4294967295, got ${String(ssrc)}`);
  }
  return value.toString(16).toUpperCase().padStart(8, '0');
}

/** The SSRC (as a number) a stream id of the {@link streamIdFromSsrc} form stands for, or undefined for other ids. */
export function ssrcFromStreamId(streamId: string): number | undefined {
  if (!/^[0-9A-F]{8}$/.test(streamId)) return undefined;
  return Number.parseInt(streamId, 16);
}

/** Builds play URLs; a URL whose template needs a base that is not configured is left out. */
export function buildPlayUrls(
  bases: ZlmUrlBases,
  streamId: string,
  options: { app?: string; templates?: Partial<ZlmUrlTemplates> } = {},
): ZlmPlayUrls {
  if (!streamId) throw new RangeError('streamId must not be empty');
  const values: Record<string, string | undefined> = {
    http: trimBase(bases.http),
    ws: trimBase(bases.ws),
    rtmp: trimBase(bases.rtmp),
    rtsp: trimBase(bases.rtsp),
    app: encodeURIComponent(options.app ?? 'rtp'),
    id: encodeURIComponent(streamId),
  };
  const urls: ZlmPlayUrls = {};
  for (const kind of ZLM_PLAY_URL_KINDS) {
    // An empty override (the config's default) keeps ZLM's own form.
    const url = render(options.templates?.[kind] || DEFAULT_ZLM_URL_TEMPLATES[kind], values);
    if (url !== undefined) urls[kind] = url;
  }
  return urls;
}

function trimBase(base: string | undefined): string | undefined {
  if (base === undefined) return undefined;
  const trimmed = base.trim().replace(/\/+$/, '');
  return trimmed.length > 0 ? trimmed : undefined;
}

function render(template: string, values: Record<string, string | undefined>): string | undefined {
  let missing = false;
  const url = template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    if (!(name in values)) return whole;
    const value = values[name];
    if (value === undefined) missing = true;
    return value ?? '';
  });
  return missing ? undefined : url;
}
