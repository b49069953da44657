import type { Logger } from 'pino';
import type { Histogram } from 'prom-client';
import { jt1078StreamName, normalizeSim } from '../protocol/jt1078/stream-name.js';
import type { CamgateConfig } from '../shared/config/config.js';
import type { CommandAnswer, Jt808Contract, RecordItem } from '../shared/contracts/jt808.js';
import type { ParentChannel } from '../shared/contracts/lifecycle.js';
import { conflict, missing, unavailable } from '../shared/errors.js';
import type { Store, Stream } from './store/types.js';
import type { StreamManager } from './streams.js';

export interface VehiclePlaybackOptions {
  /** Unix seconds. */
  start: number;
  end: number;
  /** 0 normal, 1 fast forward, 2 key-frame rewind, 3 key-frame play, 4 single frame. */
  mode: number;
  /** 0 n/a, 1 ×1, 2 ×2, 3 ×4, 4 ×8, 5 ×16. */
  speed: number;
}

export interface VehicleStreamOptions {
  /** 0 audio and video, 1 video, 3 listen. */
  dataType: number;
  /** 0 main, 1 sub. */
  streamType: number;
}

export interface VehicleControlDeps {
  config: CamgateConfig;
  store: Store;
  streams: () => StreamManager | null;
  jt808: () => ParentChannel<Jt808Contract> | null;
  /** Where terminals reach our JT/T 1078 port: jt808.mediaHost, else media.publicHost, else the advertised host. */
  mediaHost: string;
  logger: Logger;
  /** Seconds from sending a command to the terminal's answer, by command and outcome (camgate_jt808_command_seconds). */
  commandSeconds?: Histogram<'command' | 'result'>;
}

type Jt808Down = Jt808Contract['down'];

/**
 * What the API asks of the vehicles: live streams (0x9101 pointing the terminal at our
 * own JT/T 1078 realtime port, then the first media), stops (0x9102), record queries,
 * raw messages, and telling the JT/T 808 thread which vehicles exist.
 */
export class VehicleControl {
  #d: VehicleControlDeps;
  /** Starts in flight per stream name, so concurrent requests share one 0x9101. */
  #starting = new Map<string, Promise<Stream>>();

  constructor(deps: VehicleControlDeps) {
    this.#d = deps;
  }

  get mediaHost(): string {
    return this.#d.mediaHost;
  }

  #channel(): ParentChannel<Jt808Contract> {
    const channel = this.#d.jt808();
    if (!channel) throw unavailable('JT/T 808 signalling is restarting; retry');
    return channel;
  }

  /** A command through the JT/T 808 thread, its answer time observed (thread hop included: what the API caller waits). */
  async #request<K extends keyof Jt808Down & string>(method: K, data: Jt808Down[K][0], timeoutMs: number): Promise<Jt808Down[K][1]> {
    const started = performance.now();
    const observe = (result: string) => this.#d.commandSeconds?.observe({ command: method.replace(/^vehicle\./, ''), result }, (performance.now() - started) / 1000);
    try {
      const answer = await this.#channel().request(method, data, timeoutMs);
      observe('ok');
      return answer;
    } catch (error) {
      // ServiceError statuses: 504 no answer (the terminal's or the channel's), 502 refused.
      const status = (error as { status?: number }).status;
      observe(status === 504 ? 'timeout' : status === 502 ? 'refused' : 'error');
      throw error;
    }
  }

  async #online(sim: string): Promise<string> {
    const vehicle = await this.#d.store.vehicles.get(sim);
    if (!vehicle) throw missing(`vehicle ${sim} not found`);
    if (vehicle.online !== 1) throw conflict(`vehicle ${vehicle.sim} is offline`);
    return vehicle.sim;
  }

  /** A live stream of one channel, deduplicated: an open one is returned as it is. */
  startStream(sim: string, channel: number, options: VehicleStreamOptions): Promise<Stream> {
    const name = jt1078StreamName(sim, channel, this.#d.config.jt1078.realtime.prefix);
    const pending = this.#starting.get(name);
    if (pending) return pending;
    const promise = this.#start(sim, channel, name, options).finally(() => this.#starting.delete(name));
    this.#starting.set(name, promise);
    return promise;
  }

  async #start(sim: string, channel: number, name: string, options: VehicleStreamOptions): Promise<Stream> {
    const key = await this.#online(sim);
    const streams = this.#d.streams();
    if (!streams) throw unavailable('streams unavailable');
    const open = await this.#d.store.streams.getByStreamId(name);
    if (open && open.status === 0) return open;
    const { config } = this.#d;
    await this.#request(
      'vehicle.stream',
      { sim: key, channel, dataType: options.dataType, streamType: options.streamType, host: this.#d.mediaHost, tcpPort: config.jt1078.realtime.port, udpPort: 0 },
      15_000,
    );
    try {
      return await streams.waitForJt1078(name, config.jt808.streamTimeout * 1000);
    } catch (error) {
      // The terminal said yes but sent nothing: tell it to stop rather than leave it trying.
      await this.#stopAtTerminal(key, channel);
      throw error;
    }
  }

  /**
   * A playback of start..end (0x9201 towards our JT/T 1078 playback port), named
   * `<playback prefix>-<sim>-<channel>`; one at a time per channel (409 while one is open).
   */
  async startPlayback(sim: string, channel: number, options: VehiclePlaybackOptions): Promise<Stream> {
    const key = await this.#online(sim);
    const streams = this.#d.streams();
    if (!streams) throw unavailable('streams unavailable');
    const { config } = this.#d;
    const name = jt1078StreamName(key, channel, config.jt1078.playback.prefix);
    const open = await this.#d.store.streams.getByStreamId(name);
    if ((open && open.status === 0) || this.#starting.has(name)) throw conflict(`a playback of ${name} is open; stop it first`);
    const promise = (async () => {
      await this.#request(
        'vehicle.playback',
        { sim: key, channel, host: this.#d.mediaHost, tcpPort: config.jt1078.playback.port, udpPort: 0, mediaType: 0, streamType: 0, storageType: 0, ...options },
        15_000,
      );
      try {
        return await streams.waitForJt1078(name, config.jt808.streamTimeout * 1000);
      } catch (error) {
        await this.#stopAtTerminal(key, channel, true);
        throw error;
      }
    })().finally(() => this.#starting.delete(name));
    this.#starting.set(name, promise);
    return promise;
  }

  /** 0x9102 close (live) or 0x9202 stop (playback); failures are logged, not thrown. */
  async #stopAtTerminal(sim: string, channel: number, playback = false): Promise<CommandAnswer | null> {
    try {
      if (playback) return await this.#request('vehicle.playbackControl', { sim, channel, command: 2 }, 15_000);
      return await this.#request('vehicle.streamControl', { sim, channel, command: 0, closeType: 0, streamType: 0 }, 15_000);
    } catch (error) {
      this.#d.logger.info({ sim, channel, err: (error as Error).message }, playback ? '0x9202 not delivered' : '0x9102 not delivered');
      return null;
    }
  }

  /**
   * Ends an open JT/T 1078 stream: 0x9102 (close) or, for a playback, 0x9202 (stop) to its terminal and the row closed.
   * The terminal then closes its media connection. False when no such open stream.
   */
  async stopStream(row: Stream, reason: string): Promise<boolean> {
    if (row.kind !== 'jt1078' || row.status !== 0) return false;
    const channel = Number(row.channelid);
    if (row.deviceid && Number.isInteger(channel)) await this.#stopAtTerminal(normalizeSim(row.deviceid), channel, row.t === 1);
    await this.#d.streams()?.jt1078Stopped(row.streamid, reason);
    return true;
  }

  /** Switches an open live vehicle stream to the main (0) or sub (1) stream: 0x9102 command 1. */
  async switchStream(row: Stream, streamType: 0 | 1): Promise<CommandAnswer> {
    if (row.kind !== 'jt1078' || row.t !== 0 || row.status !== 0) throw conflict(`stream ${row.streamid} is not an open vehicle live stream`);
    const sim = await this.#online(row.deviceid);
    return this.#request('vehicle.streamControl', { sim, channel: Number(row.channelid), command: 1, closeType: 0, streamType }, 15_000);
  }

  /**
   * Pause, resume, speed or seek an open vehicle playback (0x9202). Speed is the JT/T 1078
   * code (1 ×1 … 5 ×16), seek a unix time.
   */
  async controlPlayback(row: Stream, action: 'pause' | 'resume' | 'seek' | 'speed', value: number): Promise<CommandAnswer> {
    if (row.kind !== 'jt1078' || row.t !== 1 || row.status !== 0) throw conflict(`stream ${row.streamid} is not an open vehicle playback`);
    const sim = await this.#online(row.deviceid);
    const channel = Number(row.channelid);
    const command = { pause: 1, resume: 0, speed: 3, seek: 5 }[action];
    return this.#request(
      'vehicle.playbackControl',
      { sim, channel, command, ...(action === 'speed' ? { speed: value } : {}), ...(action === 'seek' ? { seek: value } : {}) },
      15_000,
    );
  }

  async records(sim: string, channel: number, start: number, end: number): Promise<RecordItem[]> {
    const key = await this.#online(sim);
    return this.#request('vehicle.records', { sim: key, channel, start, end }, 65_000);
  }

  async raw(sim: string, msgId: number, bodyHex: string): Promise<CommandAnswer> {
    const key = await this.#online(sim);
    return this.#request('vehicle.raw', { sim: key, msgId, bodyHex }, 15_000);
  }

  /** A vehicle created through the API: provisioned mode accepts it from now on. */
  known(sim: string): void {
    this.#d.jt808()?.notify('vehicle.known', { sim });
  }

  /** A vehicle deleted through the API: refused and disconnected. */
  forget(sim: string): void {
    this.#d.jt808()?.notify('vehicle.forget', { sim });
  }
}
