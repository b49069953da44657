import { useRef } from 'preact/hooks';
import { api, filters, type AlarmRow, type List, type StreamRow } from '../api.js';
import { fmt, html, Page, useLoad } from '../ui.js';

interface Part {
  ok: boolean;
  state?: string;
  pid?: number;
  restarts?: number;
  error?: string;
  threads?: number;
  utilization?: number;
  detail?: { elu?: number; heapUsed?: number; viewers?: number; workers?: Array<{ name: string; ok: boolean; state: string; detail?: { elu?: number; heapUsed?: number; viewers?: number } }> };
}

interface LogEntry {
  time: number;
  level: string;
  msg: string;
  part?: string;
  err?: string;
}

/** The value of one sample of the Prometheus text exposition, e.g. `metric(text, 'x', 'thread="sip"')`. */
function metric(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    const m = /^(?:\{([^}]*)\})?\s+([-+\d.eE]+|NaN)/.exec(rest);
    if (!m) continue;
    if (labels && !(m[1] ?? '').includes(labels)) continue;
    return Number(m[2]);
  }
  return undefined;
}

function sum(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([-+\\d.eE]+)`).exec(line);
    if (m) total += Number(m[1]);
  }
  return total;
}

async function loadOverview() {
  const count = async (path: string, f?: string) => (await api.get<List<unknown>>(path, { limit: 0, ...(f ? { filters: f } : {}) })).Total;
  const [devices, online, channels, open, healthRes, metricsText, log, alarms] = await Promise.all([
    count('/devices'),
    count('/devices', filters(['online', '=', 1])),
    count('/channels'),
    api.get<List<StreamRow>>('/streams', { limit: -1, filters: filters(['status', '=', 0]) }),
    fetch('/healthz', { credentials: 'same-origin' }),
    fetch('/metrics', { credentials: 'same-origin' }).then((r) => (r.ok ? r.text() : '')),
    api.get<LogEntry[]>('/system/log').catch(() => [] as LogEntry[]),
    api.get<List<AlarmRow>>('/alarms', { limit: 20, sort: '-id' }).catch(() => ({ Total: 0, List: [] as AlarmRow[] })),
  ]);
  const health = (await healthRes.json()) as { status: string; version: string; uptime: number; parts: Record<string, Part> };
  return { devices, online, channels, streams: open.List, health, metrics: metricsText, log, alarms, at: Date.now() };
}

/** What an alarm row says, in a line: GB28181 priority/method/type and description, or a vehicle's alarm bits. */
function alarmText(a: AlarmRow): string {
  if (a.kind === 'jt808') return a.flags;
  const parts = [a.priority !== null ? `priority ${a.priority}` : '', a.method !== null ? `method ${a.method}` : '', a.type !== null ? `type ${a.type}` : '', a.description];
  return parts.filter(Boolean).join(', ');
}

export function Overview() {
  const previous = useRef<{ at: number; inBytes: number; outBytes: number } | null>(null);
  const { data, error } = useLoad(loadOverview, [], ['devices.', 'streams.', 'channels.alarm', 'vehicles.alarm'], 5000);
  let rates: { in: number; out: number } | null = null;
  if (data?.metrics) {
    const inBytes = sum(data.metrics, 'camgate_media_received_bytes_total');
    const outBytes = sum(data.metrics, 'camgate_media_sent_bytes_total');
    const prev = previous.current;
    if (prev && data.at > prev.at) rates = { in: ((inBytes - prev.inBytes) * 8000) / (data.at - prev.at), out: ((outBytes - prev.outBytes) * 8000) / (data.at - prev.at) };
    if (!prev || prev.at !== data.at) previous.current = { at: data.at, inBytes, outBytes };
  }
  if (!data) return html`<${Page} title="Overview">${error ? html`<p role="alert" class="status error">${error}</p>` : html`<p>Loading…</p>`}<//>`;
  const { parts } = data.health;
  const viewers = parts.media?.detail?.viewers ?? metric(data.metrics, 'camgate_viewers');
  const live = data.streams.filter((s) => s.t === 0);
  const rows: Array<{ name: string; ok: boolean; state: string; elu?: number; memory?: number; memoryKind: string }> = [
    {
      name: 'supervisor',
      ok: true,
      state: 'running',
      ...(metric(data.metrics, 'camgate_event_loop_utilization_ratio', 'thread="supervisor"') !== undefined ? { elu: metric(data.metrics, 'camgate_event_loop_utilization_ratio', 'thread="supervisor"')! } : {}),
      ...(metric(data.metrics, 'process_resident_memory_bytes') !== undefined ? { memory: metric(data.metrics, 'process_resident_memory_bytes')! } : {}),
      memoryKind: 'RSS (process)',
    },
  ];
  for (const name of ['sip', 'media']) {
    const p = parts[name];
    if (!p) continue;
    rows.push({ name, ok: p.ok, state: p.state ?? '', ...(p.detail?.elu !== undefined ? { elu: p.detail.elu } : {}), ...(p.detail?.heapUsed !== undefined ? { memory: p.detail.heapUsed } : {}), memoryKind: 'heap' });
    for (const w of p.detail?.workers ?? []) {
      rows.push({ name: w.name, ok: w.ok, state: w.state, ...(w.detail?.elu !== undefined ? { elu: w.detail.elu } : {}), ...(w.detail?.heapUsed !== undefined ? { memory: w.detail.heapUsed } : {}), memoryKind: 'heap' });
    }
  }

  return html`<${Page} title="Overview">
    ${error ? html`<p role="alert" class="status error">${error}</p>` : null}
    <ul class="tiles" aria-label="Figures">
      <li class="tile-figure"><span class="figure">${data.online} / ${data.devices}</span> devices online</li>
      <li class="tile-figure"><span class="figure">${data.channels}</span> channels</li>
      <li class="tile-figure"><span class="figure">${live.length}</span> live streams${data.streams.length > live.length ? ` (+${data.streams.length - live.length} playback)` : ''}</li>
      <li class="tile-figure"><span class="figure">${viewers ?? '—'}</span> viewers</li>
      <li class="tile-figure"><span class="figure">${rates ? fmt.bits(rates.in) : '…'}</span> media in</li>
      <li class="tile-figure"><span class="figure">${rates ? fmt.bits(rates.out) : '…'}</span> media out</li>
    </ul>
    <h2>Processes and threads</h2>
    <p>Health: <strong class=${data.health.status === 'ok' ? 'ok' : 'bad'}>${data.health.status}</strong>, version ${data.health.version}, up ${fmt.age(Date.now() / 1000 - data.health.uptime)}. Store: ${parts.store?.ok ? 'ok' : parts.store?.error ?? 'down'}.</p>
    <table>
      <caption class="sr-only">Event-loop utilisation and memory of each process and thread</caption>
      <thead><tr><th scope="col">part</th><th scope="col">state</th><th scope="col">event-loop utilisation</th><th scope="col">memory</th></tr></thead>
      <tbody>
        ${rows.map(
          (r) => html`<tr>
            <th scope="row">${r.name}</th>
            <td class=${r.ok ? 'ok' : 'bad'}>${r.state}</td>
            <td>${r.elu !== undefined ? html`<meter min="0" max="1" value=${r.elu} aria-label=${`${r.name} event-loop utilisation`}></meter> ${fmt.percent(r.elu)}` : '—'}</td>
            <td>${r.memory !== undefined ? `${fmt.bytes(r.memory)} ${r.memoryKind}` : '—'}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    <h2>Alarms</h2>
    ${data.alarms.Total === 0
      ? html`<p>None stored.</p>`
      : html`<ol class="alarms" aria-label=${`The newest alarms (${data.alarms.Total} stored)`}>
          ${data.alarms.List.map(
            (a) => html`<li><time datetime=${new Date(a.addtime * 1000).toISOString()}>${new Date(a.addtime * 1000).toLocaleString()}</time> <strong>${a.kind === 'jt808' ? `vehicle ${a.deviceid}` : `channel ${a.channelid || a.deviceid}`}</strong> ${alarmText(a)}</li>`,
          )}
        </ol>`}
    <h2>Recent warnings and errors</h2>
    ${data.log.length === 0
      ? html`<p>None since the start.</p>`
      : html`<ol class="log">
          ${data.log.slice(0, 20).map(
            (e) => html`<li class=${e.level}><time datetime=${new Date(e.time).toISOString()}>${new Date(e.time).toLocaleString()}</time> <strong>${e.level}</strong> ${e.part ? html`[${e.part}] ` : null}${e.msg}${e.err ? `: ${e.err}` : ''}</li>`,
          )}
        </ol>`}
  <//>`;
}
