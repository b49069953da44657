import { useState } from 'preact/hooks';
import { all, api, filters, type Forward, type StreamRow } from '../api.js';
import { fmt, html, Page, Status, useAction, useLoad } from '../ui.js';

function source(s: StreamRow): string {
  return s.kind === 'gb28181' ? `${s.deviceid} / ${s.channelid}` : s.streamid;
}

function Forwards({ stream }: { stream: StreamRow }) {
  const id = encodeURIComponent(stream.streamid);
  const list = useLoad(() => api.get<Forward[]>(`/streams/${id}/forwards`), [id]);
  const [form, setForm] = useState({ host: '', port: '', transport: 'udp', ssrc: '' });
  const [message, failed, run] = useAction();
  const field = `fw-${stream.streamid.replace(/[^A-Za-z0-9]/g, '-')}`;
  const add = (e: Event) => {
    e.preventDefault();
    void run(
      () =>
        api
          .post(`/streams/${id}/forwards`, { host: form.host, port: Number(form.port), transport: form.transport, ...(form.ssrc ? { ssrc: Number(form.ssrc) } : {}) })
          .then(list.reload),
      'forward added',
    );
  };
  return html`<div class="forwards">
    ${list.error ? html`<p class="status error" role="alert">${list.error}</p>` : null}
    <ul>
      ${(list.data ?? []).map(
        (f) => html`<li>${f.transport} ${f.host}:${f.port} (SSRC ${f.ssrc})
          <button type="button" aria-label=${`Remove forward to ${f.host}:${f.port}`} onClick=${() => run(() => api.del(`/streams/${id}/forwards`, { host: f.host, port: f.port }).then(list.reload), 'forward removed')}>Remove</button></li>`,
      )}
      ${list.data && list.data.length === 0 ? html`<li class="empty">No forwards.</li>` : null}
    </ul>
    <form class="grid-form inline" onSubmit=${add}>
      <label for=${`${field}-host`}>Host</label>
      <input id=${`${field}-host`} required pattern="[A-Za-z0-9.:\\-]+" value=${form.host} onInput=${(e: Event) => setForm({ ...form, host: (e.target as HTMLInputElement).value })} />
      <label for=${`${field}-port`}>Port</label>
      <input id=${`${field}-port`} required type="number" min="1" max="65535" value=${form.port} onInput=${(e: Event) => setForm({ ...form, port: (e.target as HTMLInputElement).value })} />
      <label for=${`${field}-transport`}>Transport</label>
      <select id=${`${field}-transport`} value=${form.transport} onChange=${(e: Event) => setForm({ ...form, transport: (e.target as HTMLSelectElement).value })}>
        <option value="udp">UDP</option><option value="tcp">TCP (RFC 4571)</option>
      </select>
      <label for=${`${field}-ssrc`}>SSRC (empty: derived)</label>
      <input id=${`${field}-ssrc`} type="number" min="0" max="4294967295" value=${form.ssrc} onInput=${(e: Event) => setForm({ ...form, ssrc: (e.target as HTMLInputElement).value })} />
      <button type="submit">Add forward</button>
    </form>
    <${Status} message=${message} failed=${failed} />
  </div>`;
}

export function Streams() {
  const [closed, setClosed] = useState(false);
  const { data, error, reload } = useLoad(
    () => all<StreamRow>('/streams', closed ? { limit: 200 } : { filters: filters(['status', '=', 0]) }),
    [closed],
    ['streams.'],
    10_000,
  );
  const [open, setOpen] = useState('');
  const [message, failed, run] = useAction();
  return html`<${Page} title="Streams">
    <div class="toolbar">
      <label><input type="checkbox" checked=${closed} onChange=${() => setClosed(!closed)} /> include closed streams (latest 200)</label>
    </div>
    ${error ? html`<p role="alert" class="status error">${error}</p>` : null}
    <${Status} message=${message} failed=${failed} />
    <table class="streams">
      <caption class="sr-only">Streams</caption>
      <thead><tr><th scope="col">stream</th><th scope="col">kind</th><th scope="col">source</th><th scope="col">age</th><th scope="col">media</th><th scope="col">viewers</th><th scope="col">bitrate</th><th scope="col">state</th><th scope="col">actions</th></tr></thead>
      <tbody>
        ${(data ?? []).map(
          (s) => html`<tr>
              <th scope="row"><code>${s.streamid}</code></th>
              <td>${s.kind}${s.t === 1 ? ' playback' : ' live'}</td>
              <td>${source(s)}</td>
              <td>${fmt.age(s.addtime)}</td>
              <td>${s.stream ? 'flowing' : 'waiting'}${s.live?.video ? `, ${s.live.video.codec.toUpperCase()} ${s.live.video.width}×${s.live.video.height}` : ''}${s.live?.audio ? `, ${s.live.audio.codec.toUpperCase()}` : ''}${s.worker !== null && s.worker !== undefined ? ` (worker ${s.worker})` : ''}</td>
              <td>${s.live ? s.live.viewers : '—'}</td>
              <td>${s.live ? fmt.bits(s.live.bitsPerSecond) : '—'}</td>
              <td>${s.status === 0 ? 'open' : `closed: ${s.reason ?? ''}`}</td>
              <td class="actions">
                ${s.status === 0
                  ? html`<button type="button" aria-expanded=${open === s.streamid} onClick=${() => setOpen(open === s.streamid ? '' : s.streamid)} aria-label=${`Forwards of ${s.streamid}`}>Forwards</button>
                      <button type="button" class="danger" aria-label=${`Stop stream ${s.streamid}`} onClick=${() => run(() => api.del(`/streams/${encodeURIComponent(s.streamid)}`).then(reload), `stream ${s.streamid} stopped`)}>Stop</button>`
                  : null}
              </td>
            </tr>
            ${open === s.streamid ? html`<tr><td colspan="9"><${Forwards} stream=${s} /></td></tr>` : null}`,
        )}
        ${data && data.length === 0 ? html`<tr><td colspan="9">No ${closed ? '' : 'open '}streams.</td></tr>` : null}
      </tbody>
    </table>
    <p class="note">Viewers and bitrate come from the built-in viewer server (bitrate over the last ~2 s, of the frames as received); streams on ZLMediaKit show none.</p>
  <//>`;
}
