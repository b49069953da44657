import { Counter, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { AudioJoin, AudioLeave, StreamInfo, StreamStopped } from '../shared/contracts/media.js';
import type { CamgateConfig } from '../shared/config/config.js';

/**
 * m7s-jt1078's join/leave callbacks: POST `{streamPath, sim, channel, startTime}`
 * when a JT/T 1078 stream starts and the same plus `endTime` when it ends, local
 * time `YYYY-MM-DD HH:mm:ss`. Fire and forget with a timeout: a slow or dead
 * receiver never holds up media.
 */

export function localTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function joinBody(note: StreamInfo): Record<string, unknown> {
  return { streamPath: note.name, sim: note.sim, channel: note.channel, startTime: localTime(note.startedAt) };
}

export class StreamCallbacks {
  #config: CamgateConfig;
  #log: Logger;
  #results: Counter<'event' | 'result'>;

  constructor(config: CamgateConfig, logger: Logger, registry: Registry) {
    this.#config = config;
    this.#log = logger;
    this.#results = new Counter({
      name: 'camgate_jt1078_callbacks_total',
      help: 'JT/T 1078 join/leave callbacks by event and result (ok, error, timeout).',
      labelNames: ['event', 'result'] as const,
      registers: [registry],
    });
  }

  joined(note: StreamInfo): void {
    if (note.kind === 'gb28181') return; // m7s's callbacks are for JT/T 1078 streams
    this.#post('join', this.#config.jt1078[note.kind].onJoinUrl, joinBody(note));
  }

  left(note: StreamStopped): void {
    if (note.kind === 'gb28181') return;
    this.#post('leave', this.#config.jt1078[note.kind].onLeaveUrl, { ...joinBody(note), endTime: localTime(note.endedAt) });
  }

  /** m7s's audio join: a terminal connected to an intercom audio port. */
  audioJoined(join: AudioJoin): void {
    this.#post('audio-join', this.#config.jt1078.intercom.onJoinUrl, { port: join.port, address: join.address, startTime: localTime(join.startTime) });
  }

  /** m7s's audio leave: that connection ended (`err` when an error or the overtime ended it). */
  audioLeft(leave: AudioLeave): void {
    const body: Record<string, unknown> = { port: leave.port, address: leave.address, startTime: localTime(leave.startTime), endTime: localTime(leave.endTime) };
    if (leave.err) body.err = leave.err;
    this.#post('audio-leave', this.#config.jt1078.intercom.onLeaveUrl, body);
  }

  #post(event: 'join' | 'leave' | 'audio-join' | 'audio-leave', url: string, body: Record<string, unknown>): void {
    if (!url) return;
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.#config.jt1078.callbackTimeout),
    }).then(
      async (res) => {
        await res.arrayBuffer().catch(() => undefined);
        this.#results.inc({ event, result: res.ok ? 'ok' : 'error' });
        if (!res.ok) this.#log.warn({ event, url, status: res.status }, 'stream callback answered an error');
      },
      (error: Error) => {
        const timeout = error.name === 'TimeoutError';
        this.#results.inc({ event, result: timeout ? 'timeout' : 'error' });
        this.#log.warn({ event, url, err: error.message }, 'stream callback failed');
      },
    );
  }
}
