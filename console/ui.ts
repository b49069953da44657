/** Small shared pieces of the console: data loading, live refresh, formatting. */
import { html } from 'htm/preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { onEvents } from './api.js';

export { html };

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `load` now, on `reload()`, and (debounced) on every /events event whose name
 * starts with one of `eventPrefixes`; `everyMs` polls as well.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], eventPrefixes: string[] = [], everyMs = 0): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: string | undefined; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const generation = useRef(0);
  const run = useCallback(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === generation.current && setState({ data, error: undefined, loading: false }),
      (error: Error) => mine === generation.current && setState((s) => ({ ...s, error: error.message, loading: false })),
    );
  }, deps);
  useEffect(() => {
    run();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = eventPrefixes.length
      ? onEvents((event) => {
          if (!eventPrefixes.some((p) => event.startsWith(p))) return;
          clearTimeout(timer);
          timer = setTimeout(run, 250);
        })
      : () => undefined;
    const poll = everyMs > 0 ? setInterval(run, everyMs) : undefined;
    return () => {
      off();
      clearTimeout(timer);
      if (poll) clearInterval(poll);
    };
  }, [run]);
  return { ...state, reload: run };
}

/** Runs an action, remembering its error or result message for a status line. */
export function useAction(): [string, boolean, (what: () => Promise<unknown>, done?: string) => Promise<void>] {
  const [message, setMessage] = useState('');
  const [failed, setFailed] = useState(false);
  const run = async (what: () => Promise<unknown>, done = '') => {
    try {
      await what();
      setFailed(false);
      setMessage(done);
    } catch (error) {
      setFailed(true);
      setMessage((error as Error).message);
    }
  };
  return [message, failed, run];
}

export function Status({ message, failed }: { message: string; failed: boolean }) {
  if (!message) return null;
  return html`<p class=${failed ? 'status error' : 'status'} role=${failed ? 'alert' : 'status'}>${message}</p>`;
}

/** False until the first page rendered: a fresh load keeps the focus at the document start (skip link first). */
let navigated = false;

export function Page({ title, children }: { title: string; children?: unknown }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · camgate`;
    if (navigated) heading.current?.focus(); // a page change: screen readers announce the new heading
    else performance.mark('camgate:first-screen');
    navigated = true;
  }, [title]);
  return html`<section aria-labelledby="page-title"><h1 id="page-title" tabindex="-1" ref=${heading}>${title}</h1>${children}</section>`;
}

export function OnlineBadge({ online }: { online: boolean }) {
  return html`<span class=${online ? 'badge on' : 'badge off'}>${online ? 'online' : 'offline'}</span>`;
}

export const fmt = {
  time: (unixSeconds: number | null | undefined) => (unixSeconds ? new Date(unixSeconds * 1000).toLocaleString() : '—'),
  age: (unixSeconds: number) => {
    const s = Math.max(0, Math.floor(Date.now() / 1000 - unixSeconds));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  },
  bytes: (n: number) => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`),
  bits: (bitsPerSecond: number) => (bitsPerSecond >= 1e6 ? `${(bitsPerSecond / 1e6).toFixed(2)} Mbit/s` : `${(bitsPerSecond / 1e3).toFixed(0)} kbit/s`),
  percent: (ratio: number) => `${(ratio * 100).toFixed(1)} %`,
};

/** A channel's display name: its catalog name, else the memo given at provisioning, else its ID. */
export function channelName(c: { name: string; memo: string; channelid: string }): string {
  return c.name || c.memo || c.channelid;
}

/** Navigates to a hash route. */
export function go(route: string): void {
  location.hash = route;
}
