/**
 * Vehicles (JT/T 808 terminals): online state and last position live from /events,
 * the 0x1003 audio/video attributes, and one button per channel that plays it in
 * the Live view (0x9101 through `POST /vehicles/:sim/channels/:n/streams`).
 */
import { useState } from 'preact/hooks';
import { all, filters, type Vehicle } from '../api.js';
import { fmt, go, html, OnlineBadge, Page, useLoad } from '../ui.js';

/** A vehicle's display name: its plate, else its SIM. */
export function vehicleName(v: { plate: string; sim: string }): string {
  return v.plate || v.sim;
}

/** Its video channels: the 0x1003 count (or the provisioned one), at least one. */
export function vehicleChannels(v: Vehicle): number[] {
  const n = Math.max(1, Math.min(32, v.channels || Number(v.av_attributes?.maxVideoChannels ?? 0) || 1));
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** JT/T 1078 Table 12 payload types the attributes name most often. */
const CODECS: Record<number, string> = { 1: 'G.721', 2: 'G.722', 3: 'G.723', 4: 'G.728', 5: 'G.729', 6: 'G.711A', 7: 'G.711U', 8: 'G.726', 19: 'AAC', 26: 'ADPCMA', 98: 'H.264', 99: 'H.265', 100: 'AVS', 101: 'SVAC' };
const RATES = ['8 kHz', '22.05 kHz', '44.1 kHz', '48 kHz'];

/** The 0x1003 attributes in words: "H.264 video, G.711A audio 8 kHz, 4 video / 4 audio channels". */
function avText(a: Record<string, number> | null): string {
  if (!a) return '—';
  const codec = (n: number | undefined) => (n === undefined ? '?' : CODECS[n] ?? `type ${n}`);
  const rate = a.sampleRate !== undefined ? ` ${RATES[a.sampleRate] ?? ''}` : '';
  return `${codec(a.videoCodec)} video, ${codec(a.audioCodec)} audio${rate}, ${a.maxVideoChannels ?? '?'} video / ${a.maxAudioChannels ?? '?'} audio channels`;
}

function position(v: Vehicle): string {
  if (v.latitude === null || v.longitude === null) return '—';
  return `${v.latitude.toFixed(5)}, ${v.longitude.toFixed(5)}`;
}

export function Vehicles() {
  const [onlyOnline, setOnlyOnline] = useState(false);
  const [search, setSearch] = useState('');
  const { data, error } = useLoad(
    () => all<Vehicle>('/vehicles', onlyOnline ? { filters: filters(['online', '=', 1]) } : {}),
    [onlyOnline],
    ['vehicles.'],
  );
  const needle = search.trim().toLowerCase();
  const list = (data ?? []).filter((v) => !needle || `${v.plate} ${v.sim}`.toLowerCase().includes(needle));
  const online = (data ?? []).filter((v) => v.online === 1).length;
  return html`<${Page} title="Vehicles">
    <div class="toolbar">
      <label for="veh-search">Find a vehicle</label>
      <input id="veh-search" type="search" placeholder="plate or SIM" value=${search} onInput=${(e: Event) => setSearch((e.target as HTMLInputElement).value)} />
      <label><input type="checkbox" checked=${onlyOnline} onChange=${(e: Event) => setOnlyOnline((e.target as HTMLInputElement).checked)} /> online only</label>
      <span role="status">${data ? `${online} of ${data.length} online` : 'Loading…'}</span>
    </div>
    ${error ? html`<p role="alert" class="status error">${error}</p>` : null}
    <table class="vehicles">
      <caption class="sr-only">Vehicles with their state, last position and channels</caption>
      <thead><tr>
        <th scope="col">vehicle</th><th scope="col">state</th><th scope="col">last position</th><th scope="col">speed</th>
        <th scope="col">terminal</th><th scope="col">audio/video</th><th scope="col">channels</th>
      </tr></thead>
      <tbody>
        ${list.map(
          (v) => html`<tr class="vehicle">
            <th scope="row">${vehicleName(v)}<br /><small>${v.sim}</small></th>
            <td><${OnlineBadge} online=${v.online === 1} /></td>
            <td class="position">${position(v)}<br /><small>${fmt.time(v.position_time)}</small></td>
            <td>${v.online === 1 ? `${v.speed} km/h` : '—'}</td>
            <td>${[v.manufacturer, v.model, v.terminal_id].filter(Boolean).join(' ') || '—'}<br /><small>JT/T 808-${v.version || '?'} ${v.address}</small></td>
            <td>${avText(v.av_attributes)}</td>
            <td><div class="vehicle-channels">
              ${vehicleChannels(v).map(
                (n) => html`<button type="button" disabled=${v.online !== 1} onClick=${() => go(`#/live?vehicle=${encodeURIComponent(v.sim)}&channel=${n}`)}>
                  <span class="sr-only">Play ${vehicleName(v)} </span>channel ${n}</button>`,
              )}
            </div></td>
          </tr>`,
        )}
        ${data && list.length === 0 ? html`<tr><td colspan="7" class="empty">No vehicle${needle ? ' matches' : ' yet: terminals appear when they register over JT/T 808'}.</td></tr>` : null}
      </tbody>
    </table>
  <//>`;
}
