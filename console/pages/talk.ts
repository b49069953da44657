/**
 * Talk from a Live view tile: the microphone goes to a vehicle terminal's speaker and the
 * terminal's microphone comes back (intercom, `POST /vehicles/:sim/channels/:n/intercom`),
 * or to a camera's loudspeaker (voice broadcast, `POST /channels/:id/intercom`), both with
 * this page's WebRTC offer. Hanging up closes the PeerConnection, which camgate notices at
 * once (0x9102 command 4 to the terminal, BYE to the camera); the DELETE makes sure.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { html } from '../ui.js';

type State = { kind: 'idle' } | { kind: 'connecting' } | { kind: 'talking'; codec: string } | { kind: 'failed'; message: string };

/** The intercom route of a vehicle channel or (voice broadcast) a camera channel. */
export function talkPath(target: { sim: string; channel: number } | { channelid: string }): string {
  return 'sim' in target ? `/vehicles/${encodeURIComponent(target.sim)}/channels/${target.channel}/intercom` : `/channels/${encodeURIComponent(target.channelid)}/intercom`;
}

export function Talk({ path, label }: { path: string; label: string }) {
  const [state, setState] = useState<State>({ kind: 'idle' });
  const pc = useRef<RTCPeerConnection | null>(null);
  const audio = useRef<HTMLAudioElement>(null);

  const hangUp = () => {
    const open = pc.current;
    pc.current = null;
    if (!open) return;
    open.close();
    void api.del(path).catch(() => undefined);
    setState({ kind: 'idle' });
  };
  useEffect(() => hangUp, []); // a tile that goes away hangs up

  const talk = async () => {
    setState({ kind: 'connecting' });
    try {
      const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
      const peer = new RTCPeerConnection({ iceServers: [] });
      pc.current = peer;
      for (const track of mic.getAudioTracks()) peer.addTrack(track, mic);
      peer.ontrack = (e) => {
        if (audio.current) audio.current.srcObject = e.streams[0] ?? new MediaStream([e.track]);
      };
      peer.onconnectionstatechange = () => {
        if (peer.connectionState === 'failed' || peer.connectionState === 'closed') {
          mic.getTracks().forEach((t) => t.stop());
          if (pc.current === peer) hangUp();
        }
      };
      await peer.setLocalDescription(await peer.createOffer());
      // camgate answers an offer that carries its candidates (no trickle).
      await new Promise<void>((resolve) => {
        if (peer.iceGatheringState === 'complete') return resolve();
        peer.onicegatheringstatechange = () => peer.iceGatheringState === 'complete' && resolve();
        setTimeout(resolve, 3000);
      });
      const answer = await api.post<{ sdp: string; codec: string }>(path, { type: 'offer', sdp: peer.localDescription!.sdp });
      if (pc.current !== peer) return; // hung up meanwhile
      await peer.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
      setState({ kind: 'talking', codec: answer.codec });
    } catch (error) {
      pc.current?.close();
      pc.current = null;
      setState({ kind: 'failed', message: (error as Error).message });
    }
  };

  const talking = state.kind === 'talking' || state.kind === 'connecting';
  return html`<span class="talk">
    <button type="button" aria-pressed=${talking} aria-label=${talking ? `Hang up ${label}` : `Talk ${label}`} onClick=${() => (talking ? hangUp() : void talk())}>
      ${talking ? 'Hang up' : 'Talk'}
    </button>
    <span class="sr-only" role="status">${state.kind === 'talking' ? `talking (${state.codec})` : state.kind === 'connecting' ? 'connecting' : ''}</span>
    ${state.kind === 'talking' ? html`<span class="talking" aria-hidden="true">● ${state.codec}</span>` : null}
    ${state.kind === 'failed' ? html`<span class="status error" role="alert">${state.message}</span>` : null}
    <audio ref=${audio} autoplay></audio>
  </span>`;
}
