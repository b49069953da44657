/**
 * camgate's web console: hash routes (#/overview, #/devices, …) over the REST API
 * and the /events feed. Talk (intercom) joins the Live view with its issue.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, closeEvents, whenUnauthorized } from './api.js';
import { html } from './ui.js';
import { SignIn } from './pages/signin.js';
import { Overview } from './pages/overview.js';
import { Devices } from './pages/devices.js';
import { Live } from './pages/live.js';
import { Playback } from './pages/playback.js';
import { Streams } from './pages/streams.js';
import { Vehicles } from './pages/vehicles.js';
import { Settings } from './pages/settings.js';

const ROUTES = [
  { path: 'overview', label: 'Overview', page: Overview },
  { path: 'devices', label: 'Devices', page: Devices },
  { path: 'vehicles', label: 'Vehicles', page: Vehicles },
  { path: 'live', label: 'Live view', page: Live },
  { path: 'playback', label: 'Playback', page: Playback },
  { path: 'streams', label: 'Streams', page: Streams },
  { path: 'settings', label: 'Settings', page: Settings },
] as const;

/** `#/live?channel=…` → ['live', URLSearchParams]. */
function parseHash(): [string, URLSearchParams] {
  const [path = '', q = ''] = location.hash.replace(/^#\/?/, '').split('?', 2);
  return [path, new URLSearchParams(q)];
}

function App() {
  const [session, setSession] = useState<{ auth: boolean; signedIn: boolean } | null>(null);
  const [route, setRoute] = useState(parseHash());
  const check = () => api.get<{ auth: boolean; signedIn: boolean }>('/session').then(setSession, () => setSession({ auth: true, signedIn: false }));
  useEffect(() => {
    void check();
    whenUnauthorized(() => setSession((s) => (s ? { ...s, signedIn: false } : s)));
    const onHash = () => setRoute(parseHash());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    if (session && !session.signedIn) closeEvents();
  }, [session]);

  if (!session) return html`<p class="boot">Connecting…</p>`;
  const [path, params] = route;
  const current = ROUTES.find((r) => r.path === path) ?? ROUTES[0];
  const signOut = async () => {
    await api.del('/session').catch(() => undefined);
    closeEvents();
    setSession({ auth: true, signedIn: false });
  };
  const Current = current.page;
  return html`
    <a class="skip" href="#main" onClick=${(e: Event) => (e.preventDefault(), document.getElementById('main')?.focus())}>Skip to content</a>
    <header class="top">
      <span class="brand">camgate</span>
      ${session.signedIn
        ? html`<nav aria-label="Main">
            <ul>
              ${ROUTES.map(
                (r) => html`<li><a href=${`#/${r.path}`} aria-current=${r === current ? 'page' : undefined}>${r.label}</a></li>`,
              )}
            </ul>
          </nav>
          ${session.auth ? html`<button type="button" class="link" onClick=${signOut}>Sign out</button>` : null}`
        : null}
    </header>
    <main id="main" tabindex="-1">
      ${session.signedIn ? html`<${Current} params=${params} />` : html`<${SignIn} onSignedIn=${() => void check()} />`}
    </main>`;
}

render(html`<${App} />`, document.getElementById('app')!);
