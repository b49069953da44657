import { useState } from 'preact/hooks';
import { all, api, type ChannelRow, type StreamRow } from '../api.js';
import { Player, playUrl } from '../player.js';
import { channelName, html, Page, Status, useAction, useLoad } from '../ui.js';

interface Records {
  daynum: number;
  timenum: number;
  complete: boolean;
  list: Array<{ date: string; items: Array<{ start: number; end: number }> }>;
}

const today = () => {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};
const clock = (unix: number) => new Date(unix * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/**
 * Recordings of a camera channel on one day (RecordInfo), on a 24-hour timeline;
 * a click plays that recording; pause, resume, seek and speed go to the camera as
 * MANSRTSP (`POST /streams/:id/playback`). Vehicle recordings (0x9205) are in the API
 * (`GET /vehicles/:sim/records`), not on this page yet.
 */
export function Playback() {
  const channels = useLoad(() => all<ChannelRow>('/channels', { sort: 'channelid' }), []);
  const [channel, setChannel] = useState('');
  const [day, setDay] = useState(today());
  const [records, setRecords] = useState<Records | null>(null);
  const [playing, setPlaying] = useState<{ key: string; url: string; label: string; streamid: string; start: number; end: number } | null>(null);
  const [seekTo, setSeekTo] = useState(0);
  const [scale, setScale] = useState('1');
  const [message, failed, run] = useAction();
  const chosen = channel || channels.data?.[0]?.channelid || '';
  const dayStart = Math.floor(new Date(`${day}T00:00:00`).getTime() / 1000);

  const search = (e: Event) => {
    e.preventDefault();
    setRecords(null);
    void run(async () => setRecords(await api.get<Records>(`/channels/${chosen}/records`, { start: dayStart, end: dayStart + 86400 })), '');
  };
  const play = (start: number, end: number) =>
    run(async () => {
      if (playing) await api.del(`/streams/${playing.streamid}`).catch(() => undefined);
      const stream = await api.post<StreamRow>(`/channels/${chosen}/streams`, { replay: '1', start, end });
      const url = playUrl(stream.urls ?? {});
      if (!url) throw new Error('the media server gave no playable URL');
      setPlaying({ key: stream.streamid, url, streamid: stream.streamid, label: `Recording ${clock(start)}–${clock(end)}`, start, end });
      setSeekTo(0);
      setScale('1');
    });
  const stop = () =>
    run(async () => {
      if (playing) await api.del(`/streams/${playing.streamid}`);
      setPlaying(null);
    });
  const control = (body: Record<string, unknown>, done: string) =>
    run(() => api.post(`/streams/${playing!.streamid}/playback`, body), done);
  const items = records?.list.flatMap((d) => d.items) ?? [];
  return html`<${Page} title="Playback">
    <form class="toolbar" onSubmit=${search}>
      <label for="pb-channel">Channel</label>
      <select id="pb-channel" value=${chosen} onChange=${(e: Event) => setChannel((e.target as HTMLSelectElement).value)}>
        ${(channels.data ?? []).map((c) => html`<option value=${c.channelid}>${channelName(c)} (${c.channelid})</option>`)}
      </select>
      <label for="pb-day">Day</label>
      <input id="pb-day" type="date" required value=${day} onInput=${(e: Event) => setDay((e.target as HTMLInputElement).value)} />
      <button type="submit" disabled=${!chosen}>Find recordings</button>
    </form>
    <${Status} message=${message} failed=${failed} />
    ${records
      ? html`<p role="status">${items.length} recording${items.length === 1 ? '' : 's'}${records.complete ? '' : ' (the device sent fewer than it announced)'}</p>
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
            <button type="button" onClick=${() => control({ action: 'seek', position: seekTo }, `seeking to ${clock(playing.start + seekTo)}`)}>Seek</button>
            <label for="pb-scale">Speed</label>
            <select id="pb-scale" value=${scale} onChange=${(e: Event) => {
              const value = (e.target as HTMLSelectElement).value;
              setScale(value);
              void control({ action: 'speed', scale: Number(value) }, `speed ×${value}`);
            }}>
              ${['0.25', '0.5', '1', '2', '4'].map((v) => html`<option value=${v}>×${v}</option>`)}
            </select>
          </div>
        </div>`
      : null}
  <//>`;
}
