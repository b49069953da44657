/**
 * The PTZ pad of a camera channel: hold a direction (mouse, touch, or Enter/Space on the
 * keyboard) to move, release to stop; zoom, focus and iris the same way; presets call,
 * set and delete. Each press is one `POST /channels/:id/ptz` (DeviceControl PTZCmd) and
 * each release one `stop`, so the camera never keeps turning after the button is let go.
 */
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { html, Status, useAction } from '../ui.js';

const MOVES = [
  ['upleft', '↖', 'Up left'],
  ['up', '↑', 'Up'],
  ['upright', '↗', 'Up right'],
  ['left', '←', 'Left'],
  null,
  ['right', '→', 'Right'],
  ['downleft', '↙', 'Down left'],
  ['down', '↓', 'Down'],
  ['downright', '↘', 'Down right'],
] as const;

const LENS = [
  ['zoomin', 'Zoom in'],
  ['zoomout', 'Zoom out'],
  ['focusnear', 'Focus near'],
  ['focusfar', 'Focus far'],
  ['irisopen', 'Iris open'],
  ['irisclose', 'Iris close'],
] as const;

export function PtzPad({ channelid, label }: { channelid: string; label: string }) {
  const [speed, setSpeed] = useState(128);
  const [preset, setPreset] = useState(1);
  const [message, failed, run] = useAction();
  const [moving, setMoving] = useState<string | null>(null);
  const ptz = (action: string) => api.post(`/channels/${channelid}/ptz`, { action, speed });
  const start = (action: string, name: string) => {
    if (moving) return;
    setMoving(action);
    void run(() => ptz(action), `${name}: moving`);
  };
  const stop = () => {
    if (!moving) return;
    setMoving(null);
    void run(() => ptz('stop'), 'stopped');
  };
  const hold = (action: string, name: string) => ({
    onPointerDown: (e: PointerEvent) => ((e.currentTarget as HTMLElement).setPointerCapture?.(e.pointerId), start(action, name)),
    onPointerUp: stop,
    onPointerCancel: stop,
    onKeyDown: (e: KeyboardEvent) => (e.key === 'Enter' || e.key === ' ') && !e.repeat && (e.preventDefault(), start(action, name)),
    onKeyUp: (e: KeyboardEvent) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), stop()),
    onBlur: stop,
  });
  const presetAction = (action: 'call' | 'set' | 'delete') =>
    run(() => api.post(`/channels/${channelid}/presets`, { action, index: preset }), `preset ${preset}: ${action === 'call' ? 'called' : action === 'set' ? 'set' : 'deleted'}`);
  const id = `ptz-${channelid}`;
  return html`<section class="ptz" aria-label=${`PTZ of ${label}`}>
    <h2>PTZ: ${label}</h2>
    <div class="ptz-pad" role="group" aria-label="Pan and tilt (hold to move)">
      ${MOVES.map((m) =>
        m
          ? html`<button type="button" class=${moving === m[0] ? 'active' : ''} aria-label=${m[2]} ...${hold(m[0], m[2])}>${m[1]}</button>`
          : html`<span aria-hidden="true"></span>`,
      )}
    </div>
    <div class="ptz-lens" role="group" aria-label="Lens (hold to move)">
      ${LENS.map(([action, name]) => html`<button type="button" class=${moving === action ? 'active' : ''} ...${hold(action, name)}>${name}</button>`)}
    </div>
    <div class="toolbar">
      <label for=${`${id}-speed`}>Speed</label>
      <input id=${`${id}-speed`} type="range" min="1" max="255" value=${speed} onInput=${(e: Event) => setSpeed(Number((e.target as HTMLInputElement).value))} />
      <label for=${`${id}-preset`}>Preset</label>
      <input id=${`${id}-preset`} type="number" min="1" max="255" value=${preset} onInput=${(e: Event) => setPreset(Math.min(255, Math.max(1, Number((e.target as HTMLInputElement).value) || 1)))} />
      <button type="button" onClick=${() => presetAction('call')}>Call preset</button>
      <button type="button" onClick=${() => presetAction('set')}>Set preset</button>
      <button type="button" onClick=${() => presetAction('delete')}>Delete preset</button>
    </div>
    <${Status} message=${message} failed=${failed} />
  </section>`;
}
