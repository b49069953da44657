import { useState } from 'preact/hooks';
import { all, api, type ChannelRow, type Device } from '../api.js';
import { channelName, fmt, go, html, OnlineBadge, Page, Status, useAction, useLoad } from '../ui.js';

interface Provisioned extends Device {
  sip: { id: string; domain: string; host: string; port: number; transports: string[] };
}

const value = (e: Event) => (e.target as HTMLInputElement).value;

function AddDevice({ onDone }: { onDone: () => void }) {
  const [form, setForm] = useState({ deviceid: '', name: '', pwd: '' });
  const [created, setCreated] = useState<Provisioned | null>(null);
  const [message, failed, run] = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const body = Object.fromEntries(Object.entries(form).filter(([, v]) => v !== ''));
      setCreated(await api.post<Provisioned>('/devices', body));
      setForm({ deviceid: '', name: '', pwd: '' });
      onDone();
    });
  };
  return html`<details class="card">
    <summary>Provision a device</summary>
    <form onSubmit=${submit} class="grid-form">
      <label for="new-deviceid">Device ID (20 digits, empty: allocate)</label>
      <input id="new-deviceid" pattern="[0-9]{20}" inputmode="numeric" value=${form.deviceid} onInput=${(e: Event) => setForm({ ...form, deviceid: value(e) })} />
      <label for="new-name">Name</label>
      <input id="new-name" maxlength="128" value=${form.name} onInput=${(e: Event) => setForm({ ...form, name: value(e) })} />
      <label for="new-pwd">SIP password (empty: sip.password)</label>
      <input id="new-pwd" type="password" autocomplete="new-password" maxlength="64" value=${form.pwd} onInput=${(e: Event) => setForm({ ...form, pwd: value(e) })} />
      <button type="submit">Provision</button>
    </form>
    <${Status} message=${message} failed=${failed} />
    ${created
      ? html`<div class="status" role="status">
          <p>Device <code>${created.deviceid}</code> provisioned. Type into its GB28181 page:</p>
          <dl class="pairs">
            <dt>SIP server ID</dt><dd><code>${created.sip.id}</code></dd>
            <dt>SIP domain</dt><dd><code>${created.sip.domain}</code></dd>
            <dt>SIP server address</dt><dd><code>${created.sip.host}</code></dd>
            <dt>SIP server port</dt><dd><code>${created.sip.port}</code> (${created.sip.transports.join(', ')})</dd>
            <dt>Device ID / user name</dt><dd><code>${created.deviceid}</code></dd>
          </dl>
        </div>`
      : null}
  </details>`;
}

function EditDevice({ device, onDone }: { device: Device; onDone: () => void }) {
  const [name, setName] = useState(device.name);
  const [pwd, setPwd] = useState('');
  const [message, failed, run] = useAction();
  const id = `edit-${device.deviceid}`;
  return html`<form class="grid-form inline" onSubmit=${(e: Event) => {
    e.preventDefault();
    void run(() => api.post(`/devices/${device.deviceid}`, { name, pwd }).then(onDone), 'saved');
  }}>
    <label for=${`${id}-name`}>Name</label>
    <input id=${`${id}-name`} maxlength="128" value=${name} onInput=${(e: Event) => setName(value(e))} />
    <label for=${`${id}-pwd`}>New SIP password (empty: keep)</label>
    <input id=${`${id}-pwd`} type="password" autocomplete="new-password" maxlength="64" value=${pwd} onInput=${(e: Event) => setPwd(value(e))} />
    <button type="submit">Save device</button>
    <${Status} message=${message} failed=${failed} />
  </form>`;
}

function ChannelForm({ deviceid, channel, onDone }: { deviceid: string; channel?: ChannelRow; onDone: () => void }) {
  const [form, setForm] = useState({ channelid: '', memo: channel?.memo ?? '', streamtype: channel?.streamtype ?? 'push', url: channel?.url ?? '' });
  const [message, failed, run] = useAction();
  const id = `ch-${channel?.channelid ?? `new-${deviceid}`}`;
  const submit = (e: Event) => {
    e.preventDefault();
    const body = Object.fromEntries(Object.entries(form).filter(([k, v]) => v !== '' && !(channel && k === 'channelid')));
    void run(() => api.post(channel ? `/channels/${channel.channelid}` : `/devices/${deviceid}/channels`, body).then(onDone), channel ? 'saved' : 'channel added');
  };
  return html`<form class="grid-form inline" onSubmit=${submit}>
    ${channel
      ? null
      : html`<label for=${`${id}-id`}>Channel ID (20 digits, empty: allocate)</label>
          <input id=${`${id}-id`} pattern="[0-9]{20}" inputmode="numeric" value=${form.channelid} onInput=${(e: Event) => setForm({ ...form, channelid: value(e) })} />`}
    <label for=${`${id}-memo`}>Memo</label>
    <input id=${`${id}-memo`} maxlength="255" value=${form.memo} onInput=${(e: Event) => setForm({ ...form, memo: value(e) })} />
    <label for=${`${id}-type`}>Stream type</label>
    <select id=${`${id}-type`} value=${form.streamtype} onChange=${(e: Event) => setForm({ ...form, streamtype: value(e) as 'push' | 'pull' })}>
      <option value="push">push: the device sends GB28181 media</option>
      <option value="pull">pull: the media server pulls a URL</option>
    </select>
    ${form.streamtype === 'pull'
      ? html`<label for=${`${id}-url`}>Pull URL</label>
          <input id=${`${id}-url`} type="url" required maxlength="1024" value=${form.url} onInput=${(e: Event) => setForm({ ...form, url: value(e) })} />`
      : null}
    <button type="submit">${channel ? 'Save channel' : 'Add channel'}</button>
    <${Status} message=${message} failed=${failed} />
  </form>`;
}

function DeviceInfo({ device }: { device: Device }) {
  const [message, failed, run] = useAction();
  return html`<div class="info">
    <dl class="pairs">
      <dt>Manufacturer</dt><dd>${device.manufacturer || '—'}</dd>
      <dt>Model</dt><dd>${device.model || '—'}</dd>
      <dt>Firmware</dt><dd>${device.firmware || '—'}</dd>
      <dt>Type</dt><dd>${device.devicetype || '—'}</dd>
      <dt>Address</dt><dd>${device.source ? `${device.source} (${device.transport})` : '—'}</dd>
      <dt>Last keepalive</dt><dd>${device.active > 0 ? fmt.time(device.active) : '—'}</dd>
      <dt>Registration expires</dt><dd>${fmt.time(device.expires_at)}</dd>
    </dl>
    <button type="button" disabled=${device.online !== 1} onClick=${() => run(() => api.post(`/devices/${device.deviceid}/deviceinfo`), 'DeviceInfo asked; the answer updates these fields')}>
      Ask DeviceInfo again
    </button>
    <${Status} message=${message} failed=${failed} />
  </div>`;
}

function DeviceNode({ device, channels, reload, open, toggle }: { device: Device; channels: ChannelRow[]; reload: () => void; open: boolean; toggle: () => void }) {
  const [panel, setPanel] = useState<'' | 'info' | 'edit' | 'add'>('');
  const [editing, setEditing] = useState('');
  const [message, failed, run] = useAction();
  const label = device.name || device.deviceid;
  const show = (p: typeof panel) => setPanel(panel === p ? '' : p);
  const remove = () => {
    if (confirm(`Delete device ${label} and its channels?`)) void run(() => api.del(`/devices/${device.deviceid}`).then(reload));
  };
  return html`<li class="device" data-deviceid=${device.deviceid}>
    <div class="row">
      <button type="button" class="disclosure" aria-expanded=${open} aria-controls=${`channels-${device.deviceid}`} onClick=${toggle}>
        ${device.name ? html`<span class="name">${device.name}</span> ` : null}<code>${device.deviceid}</code>
      </button>
      <${OnlineBadge} online=${device.online === 1} />
      <span class="count">${channels.length} channel${channels.length === 1 ? '' : 's'}</span>
      <span class="actions">
        <button type="button" aria-pressed=${panel === 'info'} onClick=${() => show('info')}>DeviceInfo</button>
        <button type="button" disabled=${device.online !== 1} onClick=${() => run(() => api.post(`/devices/${device.deviceid}/catalog`), 'Catalog asked; channels update as it answers')}>Refresh catalog</button>
        <button type="button" aria-pressed=${panel === 'edit'} onClick=${() => show('edit')}>Edit</button>
        <button type="button" aria-pressed=${panel === 'add'} onClick=${() => show('add')}>Add channel</button>
        <button type="button" class="danger" onClick=${remove}>Delete</button>
      </span>
    </div>
    <${Status} message=${message} failed=${failed} />
    ${panel === 'info' ? html`<${DeviceInfo} device=${device} />` : null}
    ${panel === 'edit' ? html`<${EditDevice} device=${device} onDone=${reload} />` : null}
    ${panel === 'add' ? html`<${ChannelForm} deviceid=${device.deviceid} onDone=${reload} />` : null}
    ${open
      ? html`<ul class="channels" id=${`channels-${device.deviceid}`} aria-label=${`Channels of ${label}`}>
          ${channels.length === 0 ? html`<li class="empty">No channels yet (they come with the device's catalog, or add one).</li>` : null}
          ${channels.map(
            (c) => html`<li class="channel" data-channelid=${c.channelid}>
              <div class="row">
                <span class="name">${channelName(c)}</span> <code>${c.channelid}</code>
                <span class=${c.status === 'ON' ? 'badge on' : 'badge off'}>${c.status || 'unknown'}</span>
                <span class="actions">
                  <button type="button" onClick=${() => go(`#/live?channel=${c.channelid}`)} aria-label=${`Play ${channelName(c)}`}>Play</button>
                  <button type="button" aria-pressed=${editing === c.channelid} onClick=${() => setEditing(editing === c.channelid ? '' : c.channelid)} aria-label=${`Edit ${channelName(c)}`}>Edit</button>
                  <button type="button" class="danger" aria-label=${`Delete ${channelName(c)}`}
                    onClick=${() => confirm(`Delete channel ${channelName(c)}?`) && run(() => api.del(`/channels/${c.channelid}`).then(reload))}>Delete</button>
                </span>
              </div>
              ${editing === c.channelid ? html`<${ChannelForm} deviceid=${device.deviceid} channel=${c} onDone=${reload} />` : null}
            </li>`,
          )}
        </ul>`
      : null}
  </li>`;
}

export function Devices() {
  const { data, error, reload } = useLoad(
    async () => {
      const [devices, channels] = await Promise.all([all<Device>('/devices', { sort: 'name,deviceid' }), all<ChannelRow>('/channels', { sort: 'channelid' })]);
      return { devices, channels };
    },
    [],
    ['devices.', 'channels.'],
  );
  const [search, setSearch] = useState('');
  const [state, setState] = useState('all');
  const [closed, setClosed] = useState<Set<string>>(new Set());
  const needle = search.trim().toLowerCase();
  const matches = (...texts: string[]) => !needle || texts.some((t) => t.toLowerCase().includes(needle));
  const devices = (data?.devices ?? []).filter((d) => state === 'all' || (state === 'online') === (d.online === 1));
  const byDevice = new Map<string, ChannelRow[]>();
  for (const c of data?.channels ?? []) byDevice.set(c.deviceid, [...(byDevice.get(c.deviceid) ?? []), c]);
  const shown = devices
    .map((d) => {
      const channels = byDevice.get(d.deviceid) ?? [];
      const own = matches(d.name, d.deviceid);
      return { device: d, channels: own ? channels : channels.filter((c) => matches(c.name, c.memo, c.channelid)) };
    })
    .filter(({ device, channels }) => matches(device.name, device.deviceid) || channels.length > 0);
  return html`<${Page} title="Devices">
    <${AddDevice} onDone=${reload} />
    <div class="toolbar" role="search">
      <label for="device-search">Search devices and channels</label>
      <input id="device-search" type="search" value=${search} onInput=${(e: Event) => setSearch(value(e))} placeholder="name or ID" />
      <label for="device-state">Show</label>
      <select id="device-state" value=${state} onChange=${(e: Event) => setState(value(e))}>
        <option value="all">all devices</option>
        <option value="online">online devices</option>
        <option value="offline">offline devices</option>
      </select>
      <span aria-live="polite">${data ? `${shown.length} of ${data.devices.length} devices` : 'loading…'}</span>
    </div>
    ${error ? html`<p role="alert" class="status error">${error}</p>` : null}
    <ul class="tree" aria-label="Devices and their channels">
      ${shown.map(
        ({ device, channels }) => html`<${DeviceNode} key=${device.deviceid} device=${device} channels=${channels} reload=${reload}
          open=${!closed.has(device.deviceid) || !!needle}
          toggle=${() => {
            const next = new Set(closed);
            if (next.has(device.deviceid)) next.delete(device.deviceid);
            else next.add(device.deviceid);
            setClosed(next);
          }} />`,
      )}
    </ul>
    ${data && data.devices.length === 0 ? html`<p>No devices yet: provision one above, or set <code>gb28181.registration: open</code>.</p>` : null}
  <//>`;
}
