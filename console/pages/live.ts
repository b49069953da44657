import { useEffect, useRef, useState } from 'preact/hooks';
import { all, api, filters, type ChannelRow, type Device, type StreamRow, type Vehicle } from '../api.js';
import { Player, playUrl } from '../player.js';
import { channelName, html, Page, Status, useAction, useLoad } from '../ui.js';
import { PtzPad } from './ptz.js';
import { Talk, talkPath } from './talk.js';
import { vehicleChannels, vehicleName } from './vehicles.js';

interface Tile {
  /** Changes whenever the tile gets a new stream, so the player restarts. */
  key: number;
  label: string;
  url: string;
  /** A camera channel's ID: its tile gets the PTZ pad when selected, and the Talk button (voice broadcast). */
  channelid?: string;
  /** A vehicle channel: its tile gets the Talk button. */
  vehicle?: { sim: string; channel: number };
}

const SPLITS = [1, 4, 9, 16] as const;
let tileKeys = 0;

/** A JT/T 1078 stream's label: SIM and channel from its name (live/jt1078-<sim>-<channel>). */
function terminalLabel(s: StreamRow): string {
  const m = /-(\d+)-(\d+)$/.exec(s.streamid);
  return m ? `terminal ${m[1]} channel ${m[2]}` : s.streamid;
}

export function Live({ params }: { params: URLSearchParams }) {
  const { data, error } = useLoad(
    async () => {
      const [devices, channels, terminals, vehicles] = await Promise.all([
        all<Device>('/devices', { filters: filters(['online', '=', 1]) }),
        all<ChannelRow>('/channels', { sort: 'channelid' }),
        all<StreamRow>('/streams', { filters: filters(['status', '=', 0], ['kind', '=', 'jt1078']) }),
        // Without JT/T 808 the route answers 503: the list is empty, not an error.
        all<Vehicle>('/vehicles', { filters: filters(['online', '=', 1]) }).catch(() => [] as Vehicle[]),
      ]);
      const online = new Map(devices.map((d) => [d.deviceid, d]));
      return { channels: channels.filter((c) => online.has(c.deviceid)), devices: online, terminals, vehicles };
    },
    [],
    ['devices.', 'channels.', 'streams.', 'vehicles.online', 'vehicles.offline'],
  );
  const [split, setSplit] = useState<number>(4);
  const [tiles, setTiles] = useState<Array<Tile | null>>(Array(16).fill(null));
  const [selected, setSelected] = useState(0);
  /** The tile whose PTZ pad is open (camera tiles only), or -1. */
  const [ptzTile, setPtzTile] = useState(-1);
  const [search, setSearch] = useState('');
  const [message, failed, run] = useAction();
  const grid = useRef<HTMLDivElement>(null);

  const place = (tile: Omit<Tile, 'key'>) => {
    setTiles((current) => {
      const next = [...current];
      // The selected tile if empty, else the first empty one, else the selected one.
      let at = next[selected] ? next.findIndex((t, i) => i < split && !t) : selected;
      if (at < 0) at = selected;
      next[at] = { ...tile, key: ++tileKeys };
      setSelected((at + 1) % split);
      return next;
    });
  };
  /** A stream (started or already running) into the next tile; an error when it has no playable URL. */
  const show = (stream: StreamRow, tile: Omit<Tile, 'key' | 'url'>) => {
    const url = playUrl(stream.urls ?? {});
    if (!url) throw new Error(`the media server gave no playable URL for ${tile.label}`);
    place({ ...tile, url });
  };
  const playChannel = (c: ChannelRow) =>
    run(async () => show(await api.post<StreamRow>(`/channels/${c.channelid}/streams`), { label: channelName(c), channelid: c.channelid }));
  const playVehicle = (v: Pick<Vehicle, 'sim' | 'plate'>, channel: number) =>
    run(async () =>
      show(await api.post<StreamRow>(`/vehicles/${encodeURIComponent(v.sim)}/channels/${channel}/streams`), {
        label: `${vehicleName(v)} channel ${channel}`,
        vehicle: { sim: v.sim, channel },
      }),
    );
  const playTerminal = (s: StreamRow) => run(async () => show(s, { label: terminalLabel(s) }));
  const stop = (i: number) => setTiles((current) => current.map((t, j) => (j === i ? null : t)));

  // #/live?channel=<id> (from the Devices page) starts that channel once;
  // #/live?vehicle=<sim>&channel=<n> (from the Vehicles page) that vehicle channel.
  const wanted = params.get('channel');
  const wantedVehicle = params.get('vehicle');
  useEffect(() => {
    if (!data) return;
    if (wantedVehicle && wanted) {
      const v = data.vehicles.find((x) => x.sim === wantedVehicle) ?? { sim: wantedVehicle, plate: '' };
      void playVehicle(v, Number(wanted));
      history.replaceState(null, '', '#/live');
      return;
    }
    const c = wanted && data.channels.find((x) => x.channelid === wanted);
    if (c) {
      void playChannel(c);
      history.replaceState(null, '', '#/live');
    }
  }, [wanted, wantedVehicle, !!data]);

  const needle = search.trim().toLowerCase();
  const channels = (data?.channels ?? []).filter((c) => !needle || `${channelName(c)} ${c.channelid}`.toLowerCase().includes(needle));
  const cols = Math.sqrt(split);
  return html`<${Page} title="Live view">
    <div class="live">
      <aside class="sources" aria-label="Sources">
        <label for="live-search">Find a channel</label>
        <input id="live-search" type="search" value=${search} onInput=${(e: Event) => setSearch((e.target as HTMLInputElement).value)} />
        <h2>Camera channels</h2>
        ${error ? html`<p role="alert" class="status error">${error}</p>` : null}
        <ul class="source-list">
          ${channels.map(
            (c) => html`<li><button type="button" class="source" onClick=${() => playChannel(c)}>
              <span class="name"><span class="sr-only">Play </span>${channelName(c)}</span><small>${data?.devices.get(c.deviceid)?.name || c.deviceid}</small>
            </button></li>`,
          )}
          ${data && channels.length === 0 ? html`<li class="empty">No channel of an online device.</li>` : null}
        </ul>
        <h2>JT/T 1078 terminals</h2>
        <ul class="source-list">
          ${(data?.terminals ?? []).map(
            (s) => html`<li><button type="button" class="source" onClick=${() => playTerminal(s)}>
              <span class="name"><span class="sr-only">Play </span>${terminalLabel(s)}</span><small>${s.streamid}</small>
            </button></li>`,
          )}
          ${data && data.terminals.length === 0 ? html`<li class="empty">No terminal is streaming.</li>` : null}
        </ul>
        <h2>Vehicles</h2>
        <ul class="source-list">
          ${(data?.vehicles ?? []).flatMap((v) =>
            vehicleChannels(v).map(
              (n) => html`<li><button type="button" class="source" onClick=${() => playVehicle(v, n)}>
                <span class="name"><span class="sr-only">Play </span>${vehicleName(v)} channel ${n}</span><small>${v.sim}</small>
              </button></li>`,
            ),
          )}
          ${data && data.vehicles.length === 0 ? html`<li class="empty">No vehicle online.</li>` : null}
        </ul>
      </aside>
      <div class="wall">
        <fieldset class="split">
          <legend>Split</legend>
          ${SPLITS.map(
            (n) => html`<label><input type="radio" name="split" value=${n} checked=${split === n} onChange=${() => setSplit(n)} /> ${n}</label>`,
          )}
        </fieldset>
        <${Status} message=${message} failed=${failed} />
        <div class="grid" ref=${grid} style=${`grid-template-columns: repeat(${cols}, 1fr)`}>
          ${tiles.slice(0, split).map(
            (tile, i) => html`<div class=${i === selected ? 'tile selected' : 'tile'} id=${`tile-${i}`} role="group" aria-label=${`Tile ${i + 1}${tile ? `: ${tile.label}` : ', empty'}`}>
              ${tile
                ? html`<div class="tile-bar">
                      <span class="name">${tile.label}</span>
                      <button type="button" onClick=${() => document.getElementById(`tile-${i}`)?.requestFullscreen()} aria-label=${`Full screen ${tile.label}`}>Full screen</button>
                      ${tile.vehicle || tile.channelid
                        ? html`<${Talk} path=${talkPath(tile.vehicle ?? { channelid: tile.channelid! })} label=${tile.label} />`
                        : null}
                      ${tile.channelid
                        ? html`<button type="button" aria-pressed=${ptzTile === i} onClick=${() => setPtzTile(ptzTile === i ? -1 : i)} aria-label=${`PTZ ${tile.label}`}>PTZ</button>`
                        : null}
                      <button type="button" onClick=${() => stop(i)} aria-label=${`Stop ${tile.label}`}>Stop</button>
                    </div>
                    <${Player} key=${tile.key} url=${tile.url} label=${tile.label} />`
                : html`<button type="button" class="empty-tile" aria-pressed=${i === selected} onClick=${() => setSelected(i)}>
                    Tile ${i + 1}: ${i === selected ? 'the next channel plays here' : 'select, then pick a channel'}
                  </button>`}
            </div>`,
          )}
        </div>
        ${ptzTile >= 0 && ptzTile < split && tiles[ptzTile]?.channelid
          ? html`<${PtzPad} key=${tiles[ptzTile]!.channelid} channelid=${tiles[ptzTile]!.channelid!} label=${tiles[ptzTile]!.label} />`
          : null}
      </div>
    </div>
  <//>`;
}
