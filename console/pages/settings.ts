import { api } from '../api.js';
import { fmt, html, Page, useLoad } from '../ui.js';

interface SystemInfo {
  version: string;
  node: string;
  uptime: number;
  listening: Array<{ name: string; protocol: string; bind: string; url?: string }>;
  config: Record<string, unknown>;
}

/** Read-only: what this camgate runs with (secrets masked) and where it listens. */
export function Settings() {
  const { data, error } = useLoad(() => api.get<SystemInfo>('/system'), []);
  return html`<${Page} title="Settings">
    ${error ? html`<p role="alert" class="status error">${error}</p>` : null}
    ${data
      ? html`<dl class="pairs">
            <dt>Version</dt><dd>camgate ${data.version} on Node.js ${data.node}</dd>
            <dt>Up</dt><dd>${fmt.age(Date.now() / 1000 - data.uptime)}</dd>
          </dl>
          <h2>Listening</h2>
          <table>
            <caption class="sr-only">Listening addresses</caption>
            <thead><tr><th scope="col">what</th><th scope="col">protocol</th><th scope="col">bound to</th><th scope="col">address to use</th></tr></thead>
            <tbody>
              ${data.listening.map(
                (l) => html`<tr><th scope="row">${l.name}</th><td>${l.protocol}</td><td><code>${l.bind}</code></td><td>${l.url ? html`<code>${l.url}</code>` : '—'}</td></tr>`,
              )}
            </tbody>
          </table>
          <h2>Effective configuration</h2>
          <p>Read-only; change the YAML file and restart. Tokens, passwords and secrets are masked.</p>
          <pre class="config" tabindex="0" aria-label="Effective configuration">${JSON.stringify(data.config, null, 2)}</pre>`
      : html`<p>Loading…</p>`}
  <//>`;
}
