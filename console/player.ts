/**
 * A video tile playing an HTTP-FLV (or WS-FLV) URL through mpegts.js, which is
 * loaded on first use (its own chunk). Video only: mpegts.js plays AAC and MP3
 * audio from FLV but fails on G.711, which most cameras send, so `audio=0` asks
 * camgate's viewers for the video track alone. Shows what the player learns:
 * codec, resolution, frame rate and the received bitrate.
 */
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type Mpegts from 'mpegts.js';
import { fmt } from './ui.js';

/**
 * mpegts.js rethrows a loader error (the stream ended, the fetch was aborted) as its own
 * RuntimeException, which is not an Error, when the player it belonged to has already been
 * destroyed and nobody listens (its fetch-stream-loader, cf. xqq/mpegts.js #197). Closing a
 * tile while its stream is still arriving does exactly that; the rejection has no one to
 * reach, so it is dropped here instead of surfacing as an uncaught error whose only text is
 * the minified class name. Real errors (Error instances) are left alone.
 */
addEventListener('unhandledrejection', (event) => {
  const reason: unknown = event.reason;
  if (typeof reason !== 'object' || reason === null || reason instanceof Error) return;
  const name = (reason as { name?: unknown }).name;
  if (typeof name === 'string' && name.endsWith('Exception')) {
    event.preventDefault();
    console.debug(`player: ${name} after its player was closed`, String((reason as { message?: unknown }).message ?? ''));
  }
});

export interface PlayInfo {
  codec?: string;
  width?: number;
  height?: number;
  fps?: number;
  /** Received bits per second (mpegts.js loader speed). */
  bitrate?: number;
}

/** `urls` as the API returns them; the FLV one is preferred, WS-FLV next. */
export function playUrl(urls: Record<string, string>): string | undefined {
  const url = urls.flv ?? urls.wsflv ?? urls.ws_flv ?? urls.http ?? Object.values(urls).find((u) => /\.flv(\?|$)/.test(u));
  if (!url) return undefined;
  return url + (url.includes('?') ? '&' : '?') + 'audio=0';
}

export function Player({ url, label, onInfo }: { url: string; label: string; onInfo?: (info: PlayInfo) => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState('');
  const [info, setInfo] = useState<PlayInfo>({});
  useEffect(() => {
    let player: Mpegts.Player | null = null;
    let cancelled = false;
    let current: PlayInfo = {};
    const update = (patch: PlayInfo) => {
      current = { ...current, ...patch };
      setInfo(current);
      onInfo?.(current);
    };
    void import('mpegts.js').then(({ default: mpegts }) => {
      if (cancelled || !video.current) return;
      if (!mpegts.isSupported()) return setError('This browser cannot play FLV (no Media Source Extensions).');
      mpegts.LoggingControl.applyConfig({ enableDebug: false, enableVerbose: false, enableInfo: false });
      player = mpegts.createPlayer(
        { type: 'flv', isLive: true, url, hasAudio: false },
        { enableWorker: false, lazyLoad: false, liveBufferLatencyChasing: true, liveBufferLatencyMaxLatency: 3, liveBufferLatencyMinRemain: 0.5 },
      );
      player.on(mpegts.Events.ERROR, (type: string, detail: string) => setError(`${type}: ${detail}`));
      player.on(mpegts.Events.MEDIA_INFO, (m: Mpegts.MSEPlayerMediaInfo) =>
        update({ ...(m.videoCodec ? { codec: m.videoCodec } : {}), ...(m.width ? { width: m.width, height: m.height ?? 0 } : {}), ...(m.fps ? { fps: m.fps } : {}) }),
      );
      player.on(mpegts.Events.STATISTICS_INFO, (s: Mpegts.MSEPlayerStatisticsInfo) => {
        if (typeof s.speed === 'number') update({ bitrate: s.speed * 1024 * 8 });
      });
      player.attachMediaElement(video.current);
      player.load();
      void Promise.resolve(player.play()).catch(() => undefined);
    }, (e: Error) => setError(`player failed to load: ${e.message}`));
    return () => {
      cancelled = true;
      if (player) {
        player.pause();
        player.unload();
        player.detachMediaElement();
        player.destroy();
      }
    };
  }, [url]);
  return html`
    <video ref=${video} muted autoplay playsinline aria-label=${label}></video>
    <p class="play-info" aria-live="polite">
      ${info.codec ? html`<span>${info.codec}</span>` : null}
      ${info.width ? html`<span>${info.width}×${info.height}</span>` : null}
      ${info.fps ? html`<span>${info.fps.toFixed(0)} fps</span>` : null}
      ${info.bitrate !== undefined ? html`<span>${fmt.bits(info.bitrate)}</span>` : null}
      ${error ? html`<span class="error" role="alert">${error}</span>` : null}
    </p>`;
}
