import { useState } from 'preact/hooks';
import { all, api, filters, type ChannelRow, type StreamRow, type Vehicle } from '../api.js';
import { Player, playUrl } from '../player.js';
import { channelName, html, Page, Status, useAction, useLoad } from '../ui.js';
import { vehicleChannels, vehicleName } from './vehicles.js';

interface Records {
  daynum: number;
  timenum: number;
  complete: boolean;
  list: Array<{ date: string; items: Array<{ start: number; end: number }> }>;
}

/** A 0x1205 item as `GET /vehicles/:sim/records` gives it. */
interface VehicleRecord {
  channel: number;
  start: number;
  end: number;
}

/** What is searched: a camera channel (`c:<id>`) or a vehicle channel (`v:<sim>:<n>`). */
type Source = { kind: 'camera'; channelid: string } | { kind: 'vehicle'; sim: string; channel: number };

function parseSource(value: string): Source | null {
  const [kind, a, b] = value.split(':');
  if (kind === 'c' && a) return { kind: 'camera', channelid: a };
  if (kind === 'v' && a && b) return { kind: 'vehicle', sim: a, channel: Number(b) };
  return null;
}

interface Playing {
  key: string;
  url: string;
  label: string;
  streamid: string;
  start: number;
  end: number;
  source: Source;
}

const today = () => {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};
const clock = (unix: number) => new Date(unix * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** Camera speeds are MANSRTSP Scale values; vehicle speeds 0x9202 steps 1–5 (×1, ×2, ×4, ×8, ×16). */
const CAMERA_SPEEDS = ['0.25', '0.5', '1', '2', '4'];
const VEHICLE_SPEEDS: Array<[string, string]> = [['1', '×1'], ['2', '×2'], ['3', '×4'], ['4', '×8'], ['5', '×16']];

/**
 * Recordings of a camera channel (RecordInfo) or a vehicle channel (0x9205) on one day,
 * on a 24-hour timeline; a click plays one. Pause, resume, seek and speed go to the device
 * through `POST /streams/:id/playback` (MANSRTSP for cameras, 0x9202 for vehicles).
 */
export function Playback() {
  const sources = useLoad(async () => {
    const [channels, vehicles] = await Promise.all([
      all<ChannelRow>('/channels', { sort: 'channelid' }),
      all<Vehicle>('/vehicles', { filters: filters(['online', '=', 1]) }).catch(() => [] as Vehicle[]),
    ]);
    return { channels, vehicles };
  }, []);
  const [picked, setPicked] = useState('');
  const [day, setDay] = useState(today());
  const [items, setItems] = useState<Array<{ start: number; end: number }> | null>(null);
  const [incomplete, setIncomplete] = useState(false);
  const [playing, setPlaying] = useState<Playing | null>(null);
  const [seekTo, setSeekTo] = useState(0);
  const [speed, setSpeed] = useState('1');
  const [message, failed, run] = useAction();
  const first = sources.data?.channels[0] ? `c:${sources.data.channels[0].channelid}` : '';
  const chosen = picked || first;
  const source = parseSource(chosen);
  const dayStart = Math.floor(new Date(`${day}T00:00:00`).getTime() / 1000);

  const search = (e: Event) => {
    e.preventDefault();
    setItems(null);
    if (!source) return;
    void run(async () => {
      if (source.kind === 'camera') {
        const records = await api.get<Records>(`/channels/${source.channelid}/records`, { start: dayStart, end: dayStart + 86400 });
        setIncomplete(!records.complete);
        setItems(records.list.flatMap((d) => d.items));
      } else {
        const records = await api.get<VehicleRecord[]>(`/vehicles/${encodeURIComponent(source.sim)}/records`, { channel: source.channel, start: dayStart, end: dayStart + 86400 });
        setIncomplete(false);
        setItems(records.map(({ start, end }) => ({ start, end })));
      }
    }, '');
  };
  const play = (start: number, end: number) =>
    run(async () => {
      if (!source) return;
      if (playing) await api.del(`/streams/${encodeURIComponent(playing.streamid)}`).catch(() => undefined);
      const stream =
        source.kind === 'camera'
          ? await api.post<StreamRow>(`/channels/${source.channelid}/streams`, { replay: '1', start, end })
          : await api.post<StreamRow>(`/vehicles/${encodeURIComponent(source.sim)}/channels/${source.channel}/streams`, { replay: '1', start, end });
      const url = playUrl(stream.urls ?? {});
      if (!url) throw new Error('the media server gave no playable URL');
      setPlaying({ key: stream.streamid, url, streamid: stream.streamid, label: `Recording ${clock(start)}–${clock(end)}`, start, end, source });
      setSeekTo(0);
      setSpeed('1');
    });
  const stop = () =>
    run(async () => {
      if (playing) await api.del(`/streams/${encodeURIComponent(playing.streamid)}`);
      setPlaying(null);
    });
  const control = (body: Record<string, unknown>, done: string) =>
    run(() => api.post(`/streams/${encodeURIComponent(playing!.streamid)}/playback`, body), done);
  const seek = () =>
    playing!.source.kind === 'camera'
      ? control({ action: 'seek', position: seekTo }, `seeking to ${clock(playing!.start + seekTo)}`)
      : control({ action: 'seek', time: playing!.start + seekTo }, `seeking to ${clock(playing!.start + seekTo)}`);
  const changeSpeed = (value: string) => {
    setSpeed(value);
    void (playing!.source.kind === 'camera'
      ? control({ action: 'speed', scale: Number(value) }, `speed ×${value}`)
      : control({ action: 'speed', speed: Number(value) }, `speed ${VEHICLE_SPEEDS.find(([v]) => v === value)?.[1] ?? value}`));
  };
  return html`<${Page} title="Playback">
    <form class="toolbar" onSubmit=${search}>
      <label for="pb-channel">Channel</label>
      <select id="pb-channel" value=${chosen} onChange=${(e: Event) => (setPicked((e.target as HTMLSelectElement).value), setItems(null))}>
        <optgroup label="Cameras">
          ${(sources.data?.channels ?? []).map((c) => html`<option value=${`c:${c.channelid}`}>${channelName(c)} (${c.channelid})</option>`)}
        </optgroup>
        <optgroup label="Vehicles online">
          ${(sources.data?.vehicles ?? []).flatMap((v) =>
            vehicleChannels(v).map((n) => html`<option value=${`v:${v.sim}:${n}`}>${vehicleName(v)} channel ${n}</option>`),
          )}
        </optgroup>
      </select>
      <label for="pb-day">Day</label>
      <input id="pb-day" type="date" required value=${day} onInput=${(e: Event) => setDay((e.target as HTMLInputElement).value)} />
      <button type="submit" disabled=${!source}>Find recordings</button>
    </form>
    <${Status} message=${message} failed=${failed} />
    ${items
      ? html`<p role="status">${items.length} recording${items.length === 1 ? '' : 's'}${incomplete ? ' (the device sent fewer than it announced)' : ''}</p>
          <div class="timeline" aria-hidden="true">
            ${items.map(
              (r) => html`<span class="segment" style=${`left:${((r.start - dayStart) / 864).toFixed(3)}%;width:${Math.max(0.2, (r.end - r.start) / 864).toFixed(3)}%`}></span>`,
            )}
          </div>
          <ol class="records">
            ${items.map(
              (r) => html`<li><button type="button" onClick=${() => play(r.start, r.end)}>Play ${clock(r.start)} – ${clock(r.end)}</button></li>`,
            )}
          </ol>`
      : null}
    ${playing
      ? html`<div class="tile playback">
          <div class="tile-bar"><span class="name">${playing.label}</span><button type="button" onClick=${stop}>Stop playback</button></div>
          <${Player} key=${playing.key} url=${playing.url} label=${playing.label} />
          <div class="toolbar" role="group" aria-label="Playback control">
            <button type="button" onClick=${() => control({ action: 'pause' }, 'paused')}>Pause</button>
            <button type="button" onClick=${() => control({ action: 'resume' }, 'resumed')}>Resume</button>
            <label for="pb-seek">Position</label>
            <input id="pb-seek" type="range" min="0" max=${Math.max(1, playing.end - playing.start)} value=${seekTo}
              onInput=${(e: Event) => setSeekTo(Number((e.target as HTMLInputElement).value))} />
            <output for="pb-seek">${clock(playing.start + seekTo)}</output>
            <button type="button" onClick=${seek}>Seek</button>
            <label for="pb-speed">Speed</label>
            <select id="pb-speed" value=${speed} onChange=${(e: Event) => changeSpeed((e.target as HTMLSelectElement).value)}>
              ${playing.source.kind === 'camera'
                ? CAMERA_SPEEDS.map((v) => html`<option value=${v}>×${v}</option>`)
                : VEHICLE_SPEEDS.map(([v, label]) => html`<option value=${v}>${label}</option>`)}
            </select>
          </div>
        </div>`
      : null}
  <//>`;
}
