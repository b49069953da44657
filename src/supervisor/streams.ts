import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ParentChannel } from '../shared/contracts/lifecycle.js';
import type { MediaContract, RecordTarget, StreamInfo } from '../shared/contracts/media.js';
import type { SipContract } from '../shared/contracts/sip.js';
import { buildOffer, parseAnswer } from '../protocol/sdp/gb-sdp.js';
import type { DialogState, Endpoint } from '../protocol/sip/index.js';
import { SsrcAllocator, streamIdOf } from '../protocol/gb28181/ssrc.js';
import type { PlaybackAction } from '../protocol/gb28181/mansrtsp.js';
import { ApiError } from './api/envelope.js';
import { ServiceError } from '../shared/errors.js';
import { rtpStreamId, rtpStreamName } from '../shared/contracts/stream-name.js';
import type { CamgateConfig } from '../shared/config/config.js';
import type { Store, Stream, StreamInsert } from './store/types.js';
import { isStoreUnavailable, ownQueue, type WriteBehind } from './write-behind.js';
import { ZlmBackend, type MediaBackend } from './media-backends.js';
import { ssrcForName } from '../shared/contracts/destination.js';
import { CoalescingRunner } from '../shared/coalescing-runner.js';
import { splitSource } from './signalling-bridge.js';

/**
 * GB28181 live and playback streams: INVITE a channel so it sends PS/RTP to a port
 * the media process opened, keep the whole dialog in the streams row (written
 * before the INVITE goes out, so a crash never leaves a dialog nobody can end),
 * and end it with BYE on request, on a device BYE, on media timeout, and — for rows
 * left open by a previous run — at start-up.
 */

export interface StreamMetrics {
  invites: import('prom-client').Counter<'result'>;
  firstFrame: import('prom-client').Histogram;
}

export interface StreamManagerDeps {
  metrics?: StreamMetrics;
  store: Store;
  config: CamgateConfig;
  logger: Logger;
  sip(): ParentChannel<SipContract> | null;
  /** The media process's channel (JT/T 1078 streams pushed to ZLMediaKit). */
  media?(): ParentChannel<MediaContract> | null;
  backend: MediaBackend;
  emit(event: string, data: Record<string, unknown>, key?: string): void;
  /** Address devices send media to (c= of our offer). */
  mediaHost: string;
  /** The supervisor's write-behind queue (JT/T 1078 rows); a private one when absent. */
  writes?: WriteBehind;
}

/** What happens to the rows of one JT/T 1078 stream name, in order, as it waits in the write-behind queue. */
type StreamOp =
  | { kind: 'close'; reason: string }
  | { kind: 'insert'; row: StreamInsert; closed?: string }
  | { kind: 'closeId'; id: number; reason: string };

/** Ops of one name, older then newer: a stop right after an unwritten start closes that start's row. */
function mergeStreamOps(older: StreamOp[], newer: StreamOp[]): StreamOp[] {
  const out = [...older];
  for (const op of newer) {
    const last = out[out.length - 1];
    if (op.kind === 'close' && last?.kind === 'insert') {
      if (last.closed === undefined) out[out.length - 1] = { ...last, closed: op.reason };
    } else if (!(op.kind === 'close' && last?.kind === 'close')) out.push(op);
  }
  // Bounded: a terminal flapping through a long outage keeps its latest sessions.
  return out.length > 8 ? out.slice(-8) : out;
}

export interface StartOptions {
  playback?: { start: number; end: number };
  /** Reuse this SSRC (a player asking ZLMediaKit for a stream id it knew) when it is free. */
  ssrc?: string;
  /** With `playback`: a download (`s=Download`, `a=downloadspeed`) whose PS goes to `record.path`. */
  download?: { speed: number; record: RecordTarget; onStream?(streamid: string, deviceid: string): void };
}

export interface StopOptions {
  /** False when the device ended the dialog itself. */
  sendBye?: boolean;
  /** False when the media is already gone (or goes with the media process). */
  closeMedia?: boolean;
}

const token = (n: number) => randomBytes(n).toString('hex');


export class StreamManager {
  #d: StreamManagerDeps;
  #ssrc: SsrcAllocator;
  /** Stops in flight per row id, so concurrent stops of one stream share one BYE. */
  #stopping = new Map<number, Promise<void>>();
  /** Live starts in flight per channel, so concurrent requests share one INVITE. */
  #starting = new Map<string, Promise<Stream>>();
  /** Stream ids of open GB28181 rows, for synchronous checks (ZLM webhooks). */
  readonly openIds = new Set<string>();
  /** Live stream ids started since this process started: a player may ask for them again. */
  readonly liveIds = new Set<string>();
  /** When each stream's INVITE went out (ms), until its first frame. */
  #invitedAt = new Map<string, number>();
  /** Callers waiting for a JT/T 1078 stream's row (a vehicle stream requested by API). */
  #jt1078Waiters = new Map<string, Set<(row: Stream) => void>>();
  /** Where each JT/T 1078 stream is pushed to ZLMediaKit (media.server: zlm). */
  #zlmPushes = new Map<string, { host: string; port: number }>();
  /**
   * Open GB28181 rows as this process last wrote or read them: while the store is
   * unavailable, a device's BYE, a media time-out or shutdown still find the dialog,
   * send BYE and queue the row's close (`#queuedCloses`, written behind).
   */
  #openRows = new Map<number, Stream>();
  /** GB28181 rows whose close waits in the write-behind queue: they count as closed. */
  #queuedCloses = new Set<number>();
  /** JT/T 1078 streams live in the media plane (from its notes): name → SIM. */
  #jt1078Live = new Map<string, string>();
  #writes: WriteBehind;
  /** One recovery at a time: on_server_started and the health probe may both report a restart. */
  #zlmRecovery = new CoalescingRunner(
    () => this.#recoverZlmStreams(),
    (error) => this.#d.logger.error({ err: error }, 'streams not recovered after the ZLMediaKit restart'),
  );

  constructor(deps: StreamManagerDeps) {
    this.#d = deps;
    this.#ssrc = new SsrcAllocator(deps.config.sip.domain);
    this.#writes = deps.writes ?? ownQueue(deps.config.store, deps.logger, 'stream row write');
  }

  /** The dialog state of a row, rebuilt from its columns. */
  dialogOf(row: Stream): DialogState {
    const { id, domain } = this.#d.config.sip;
    return {
      role: 'uac',
      phase: 'confirmed',
      callId: row.callid,
      localTag: row.from_tag,
      remoteTag: row.to_tag,
      localAddress: `<sip:${id}@${domain}>;tag=${row.from_tag}`,
      remoteAddress: `<sip:${row.channelid}@${domain}>${row.to_tag ? `;tag=${row.to_tag}` : ''}`,
      remoteTarget: row.remote_target || `sip:${row.channelid}@${domain}`,
      routeSet: row.route ?? [],
      localSeq: row.cseq,
      remoteSeq: null,
      inviteSeq: 1,
    };
  }

  start(channelId: string, options: StartOptions = {}): Promise<Stream> {
    if (options.playback) return this.#start(channelId, options);
    const pending = this.#starting.get(channelId);
    if (pending) return pending;
    const promise = this.#start(channelId, options).finally(() => this.#starting.delete(channelId));
    this.#starting.set(channelId, promise);
    return promise;
  }

  async #start(channelId: string, options: StartOptions): Promise<Stream> {
    const { store, config } = this.#d;
    const channel = await store.channels.get(channelId);
    if (!channel) throw new ApiError(404, '1002', `channel ${channelId} not found`);
    const device = await store.devices.get(channel.deviceid);
    if (!device || device.online !== 1) throw new ApiError(409, '1002', `device ${channel.deviceid} is offline`);
    const playback = options.playback !== undefined;
    if (!playback) {
      const [live] = await store.streams.listOpen({ channelid: channelId, t: 0 });
      if (live) return live;
    }
    const sip = this.#d.sip();
    if (!sip) throw new ApiError(503, '1001', 'signalling is restarting; retry');
    const backend = this.#d.backend;

    const active = new Set((await store.streams.listOpen({ kind: 'gb28181' })).map((s) => s.ssrc));
    const ssrc = options.ssrc && !active.has(options.ssrc) ? options.ssrc : this.#ssrc.allocate(playback, active);
    if (!ssrc) throw new ApiError(503, '1001', 'no free SSRC');
    const streamid = streamIdOf(ssrc);
    const transport = config.streams.transport;
    const opened = await backend.open(streamid, transport, config.streams.mediaTimeout * 1000, Number(ssrc), options.download?.record);

    const callId = `${token(12)}@${this.#d.mediaHost}`;
    const row = await store.streams.insert({
      streamid,
      ssrc,
      t: playback ? 1 : 0,
      kind: 'gb28181',
      deviceid: device.deviceid,
      channelid: channelId,
      start: options.playback?.start ?? 0,
      end: options.playback?.end ?? 0,
      callid: callId,
      from_tag: token(8),
      cseq: 1,
      media_host: opened.host,
      media_port: opened.port,
      media_transport: transport,
      media_server: backend.name,
      worker: opened.slot,
      urls: backend.urls(rtpStreamName(streamid), opened.slot),
    });
    this.#remember(row);
    this.openIds.add(streamid);
    if (!playback) this.liveIds.add(streamid);
    options.download?.onStream?.(streamid, device.deviceid);
    const sdp = buildOffer({
      serverId: config.sip.id,
      mediaHost: opened.host,
      mediaPort: opened.port,
      transport: transport === 'tcp' ? 'tcp-passive' : 'udp',
      ssrc,
      ...(options.playback ? { playback: { channelId, ...options.playback } } : {}),
      ...(options.download ? { downloadSpeed: options.download.speed } : {}),
    });
    const invitedAt = performance.now();
    this.#invitedAt.set(streamid, invitedAt);
    try {
      const result = await sip.request(
        'invite',
        { deviceId: device.deviceid, channelId, sdp, subject: `${channelId}:${ssrc},${config.sip.id}:0`, callId, fromTag: row.from_tag },
        40_000,
      );
      const answer = parseAnswer(result.answer);
      if (answer.ssrc && answer.ssrc !== ssrc) await backend.updateSsrc?.(streamid, Number(answer.ssrc));
      const updated = await store.streams.update(row.id, {
        to_tag: result.dialog.remoteTag,
        remote_target: result.dialog.remoteTarget,
        route: result.dialog.routeSet,
        cseq: result.dialog.localSeq,
        // A device may answer with its own SSRC; it is what will be on the wire.
        ...(answer.ssrc && answer.ssrc !== ssrc ? { ssrc: answer.ssrc } : {}),
      });
      this.#remember(updated ?? row);
      this.#d.emit('streams.started', { streamid, channelid: channelId, deviceid: device.deviceid, t: row.t }, device.deviceid);
      this.#d.metrics?.invites.inc({ result: 'ok' });
      return updated ?? row;
    } catch (error) {
      this.#invitedAt.delete(streamid);
      this.#d.metrics?.invites.inc({ result: inviteResult(error) });
      await backend.close(streamid, 'INVITE failed');
      const reason = `INVITE failed: ${error instanceof Error ? error.message : String(error)}`;
      this.openIds.delete(streamid);
      this.#openRows.delete(row.id);
      await store.streams.close(row.id, reason);
      // The SIP thread's status crosses the channel: 409 offline, 504 no answer, 502 refused.
      if (error instanceof ServiceError) throw new ServiceError(error.status, error.code, reason, error.upstream);
      throw new ServiceError(502, '1002', reason);
    }
  }

  /** The device's last known address, for in-dialog requests when it is not registered any more. */
  async #fallbackOf(row: Stream): Promise<Endpoint | undefined> {
    const device = await this.#d.store.devices.get(row.deviceid);
    const [address, port] = device ? splitSource(device.source) : ['', 0];
    return address ? { transport: device?.transport || 'UDP', address, port } : undefined;
  }

  /**
   * MANSRTSP playback control (pause, resume, seek, speed) in an open GB28181 playback's
   * dialog. The INFO's CSeq is stored whatever the device answers; a refusal then throws
   * with the mapped status (502 rejected, 504 no answer, 409 device offline).
   */
  async playbackControl(row: Stream, action: PlaybackAction): Promise<Stream> {
    if (row.status !== 0) throw new ApiError(404, '1002', `stream ${row.streamid} is closed`);
    if (row.kind !== 'gb28181' || row.t !== 1 || !row.callid) throw new ApiError(409, '1002', `stream ${row.streamid} is not a GB28181 playback`);
    const sip = this.#d.sip();
    if (!sip) throw new ApiError(503, '1001', 'signalling is restarting; retry');
    const fallback = await this.#fallbackOf(row);
    const answer = await sip.request('playback.control', { deviceId: row.deviceid, dialog: this.dialogOf(row), action, ...(fallback ? { fallback } : {}) }, 40_000);
    const updated = (await this.#d.store.streams.update(row.id, { cseq: answer.dialog.localSeq })) ?? row;
    this.#remember(updated);
    if (answer.failure) throw new ServiceError(answer.failure.status, answer.failure.code, answer.failure.message);
    return updated;
  }

  /**
   * Ends a stream: row closed with the reason, BYE to the device, media port closed, one
   * `streams.stopped`. Idempotent: the API, the media plane's "stream stopped" note (which
   * our own media close provokes), a device's BYE, ZLMediaKit hooks and shutdown may all
   * ask at once; a stop already in flight for the row is shared, and a row found closed
   * is left alone, so a dialog gets one BYE transaction (RFC 3261 §12.2.1.1, §17.1.1).
   */
  stop(row: Stream, reason: string, options: StopOptions = {}): Promise<void> {
    if (row.status === 1) return Promise.resolve();
    const pending = this.#stopping.get(row.id);
    if (pending) return pending;
    const promise = this.#stop(row.id, reason, options).finally(() => this.#stopping.delete(row.id));
    this.#stopping.set(row.id, promise);
    return promise;
  }

  async #stop(id: number, reason: string, options: StopOptions): Promise<void> {
    const { store } = this.#d;
    if (this.#queuedCloses.has(id)) return;
    // The caller's copy may be stale: another stop may have closed the row since it was read.
    // With the store unavailable, the copy this process holds of an open row stands in.
    // While the queue knows the store is down, the copy is used at once (no store.timeout wait before the BYE).
    const down = !this.#writes.up;
    let row: Stream | null = down ? (this.#openRows.get(id) ?? null) : null;
    if (!row) {
      try {
        row = await store.streams.get(id);
      } catch (error) {
        row = this.#openRows.get(id) ?? null;
        if (!row || !isStoreUnavailable(error)) throw error;
      }
    }
    if (!row || row.status === 1) {
      this.#openRows.delete(id);
      return;
    }
    // Closed before the BYE goes out, so whatever asks again from now on finds it closed.
    // A store that is unavailable gets the close through the write-behind queue.
    let storeError: unknown;
    const open = row;
    if (down) this.#queueClose(open, reason);
    else {
      await store.streams.close(open.id, reason).catch((error: unknown) => {
        if (isStoreUnavailable(error)) this.#queueClose(open, reason);
        else storeError = error;
      });
    }
    if (storeError === undefined) this.#openRows.delete(row.id);
    this.openIds.delete(row.streamid);
    this.#invitedAt.delete(row.streamid);
    try {
      if (options.sendBye !== false && row.kind === 'gb28181' && row.callid) await this.#bye(row);
      if (options.closeMedia !== false && row.kind === 'gb28181') await this.#d.backend.close(row.streamid, reason);
    } finally {
      // A row the store could not close stays open for the next stop (or reconcile) to find.
      if (storeError === undefined) {
        this.#d.emit('streams.stopped', { streamid: row.streamid, channelid: row.channelid, deviceid: row.deviceid, reason }, row.deviceid);
      }
    }
    if (storeError !== undefined) throw storeError;
  }

  #remember(row: Stream): void {
    if (row.kind !== 'gb28181') return;
    if (row.status === 0 && !this.#queuedCloses.has(row.id)) this.#openRows.set(row.id, row);
    else this.#openRows.delete(row.id);
  }

  /** The row's close, written behind; the first reason is kept (as the store does). */
  #queueClose(row: Stream, reason: string): void {
    this.#queuedCloses.add(row.id);
    const queued = this.#writes.put(
      `stream-row:${row.id}`,
      reason,
      async (first) => {
        await this.#d.store.streams.close(row.id, first);
        this.#queuedCloses.delete(row.id);
      },
      (older) => older,
    );
    if (!queued) {
      this.#queuedCloses.delete(row.id);
      this.#d.logger.warn({ stream: row.streamid }, 'stream close not queued: store write queue full (reconciled when the store is back)');
    }
  }

  /** Open GB28181 rows from the store (remembered), or, while it is unavailable, the ones this process remembers. */
  async #openGb(filter: { deviceid?: string; t?: 0 | 1 } = {}): Promise<Stream[]> {
    try {
      const rows = await this.#d.store.streams.listOpen({ kind: 'gb28181', ...filter });
      for (const row of rows) this.#remember(row);
      return rows.filter((row) => !this.#queuedCloses.has(row.id));
    } catch (error) {
      if (!isStoreUnavailable(error)) throw error;
      return [...this.#openRows.values()].filter((row) => (filter.deviceid === undefined || row.deviceid === filter.deviceid) && (filter.t === undefined || row.t === filter.t));
    }
  }

  /** BYE in the row's dialog, to the device's registration or else its last known address; failures are logged. */
  async #bye(row: Stream): Promise<void> {
    // The device's last address is read only while the store answers: an outage must not delay the BYE.
    const fallback = this.#writes.up ? await this.#fallbackOf(row).catch(() => undefined) : undefined;
    await this.#d
      .sip()
      ?.request('bye', { dialog: this.dialogOf(row), deviceId: row.deviceid, ...(fallback ? { fallback } : {}) }, 35_000)
      .catch((error: Error) => this.#d.logger.info({ stream: row.streamid, err: error.message }, 'BYE failed'));
  }

  /**
   * Ordered shutdown, while the SIP thread is still up: every open GB28181 dialog ends with
   * BYE and its row closes with reason `shutdown`. Waits for the devices' answers up to
   * `waitMs` in all; the media process closes the media afterwards. Returns how many
   * stops finished in time, and how many were open.
   */
  async shutdown(waitMs: number): Promise<{ open: number; stopped: number }> {
    let open = 0;
    let stopped = 0;
    const work = (async () => {
      const rows = await this.#openGb();
      open = rows.length;
      await Promise.all(rows.map((row) => this.stop(row, 'shutdown', { closeMedia: false }).then(() => void stopped++, () => undefined)));
    })();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)));
    await Promise.race([work, timedOut]).finally(() => clearTimeout(timer));
    if (stopped < open) this.#d.logger.warn({ open, stopped, waitMs }, 'shutdown: some dialogs did not end in time');
    return { open, stopped };
  }

  async stopById(streamid: string, reason: string): Promise<boolean> {
    const row = await this.#byStreamId(streamid);
    if (!row || row.status === 1) return false;
    await this.stop(row, reason);
    return true;
  }

  /** The device sent BYE for a dialog of ours. */
  async dialogEnded(callId: string): Promise<void> {
    for (const row of await this.#openGb()) {
      if (row.callid === callId) await this.stop(row, 'device sent BYE', { sendBye: false });
    }
  }

  /**
   * A player asked ZLMediaKit for a stream that is not there (on_stream_not_found):
   * when the id is a live stream camgate ran before, INVITE that channel again with
   * the same SSRC, so the same URL plays. Playbacks are never restarted this way.
   */
  async startOnDemand(streamid: string): Promise<boolean> {
    const row = await this.#d.store.streams.getByStreamId(streamid);
    if (!row || row.kind !== 'gb28181' || row.t !== 0) return false;
    if (row.status === 0) return true;
    await this.start(row.channelid, { ssrc: row.ssrc });
    return true;
  }

  /** MediaStatus 121 (end of file): the playback of that channel is over. */
  async playbackEnded(deviceId: string, channelId: string): Promise<number> {
    const rows = await this.#openGb({ deviceid: deviceId, t: 1 });
    const ended = rows.filter((r) => r.channelid === channelId || r.deviceid === channelId || rows.length === 1);
    for (const row of ended) await this.stop(row, 'end of file (MediaStatus 121)');
    return ended.length;
  }

  /**
   * A JT/T 1078 stream went live in the media plane: `streams.started` now, and a row (so
   * GET /streams lists it) through the write-behind queue, written when the store takes it.
   */
  async jt1078Started(note: StreamInfo): Promise<void> {
    const backend = this.#d.backend;
    this.#jt1078Live.set(note.name, note.sim ?? '');
    let urls: Record<string, string> = backend.name === 'camgate' ? backend.urls(note.name, note.slot) : {};
    let pushedTo: { host: string; port: number } | undefined;
    if (backend.name === 'zlm') {
      try {
        pushedTo = await this.#pushToZlm(note.name);
        urls = backend.urls(zlmIdOf(note.name), null);
      } catch (error) {
        this.#d.logger.warn({ stream: note.name, err: (error as Error).message }, 'could not push the stream to ZLMediaKit');
      }
    }
    this.#d.emit('streams.started', { streamid: note.name, sim: note.sim, channel: note.channel }, note.sim);
    this.#streamOps(note.name, [{ kind: 'insert', row: this.#jt1078Row(note, urls, pushedTo) }]);
  }

  #jt1078Row(note: StreamInfo, urls: Record<string, string>, pushedTo?: { host: string; port: number }): StreamInsert {
    return {
      streamid: note.name,
      ssrc: '0',
      t: note.kind === 'playback' ? 1 : 0,
      kind: 'jt1078',
      deviceid: note.sim ?? '',
      channelid: String(note.channel),
      media_server: 'camgate',
      worker: note.slot,
      urls,
      stream: true,
      ...(pushedTo ? { media_host: pushedTo.host, media_port: pushedTo.port, media_transport: 'udp' as const } : {}),
    };
  }

  #streamOps(name: string, ops: StreamOp[]): void {
    if (!this.#writes.put(`stream:${name}`, ops, (queued) => this.#writeStreamOps(name, queued), mergeStreamOps)) {
      this.#d.logger.warn({ stream: name }, 'stream row not queued: store write queue full (reconciled when the store is back)');
    }
  }

  /** Applies the ops in order, dropping each once done, so a retry after a failure resumes where it stopped. */
  async #writeStreamOps(name: string, ops: StreamOp[]): Promise<void> {
    const { store } = this.#d;
    while (ops.length > 0) {
      const op = ops[0]!;
      if (op.kind === 'close') {
        for (const row of await store.streams.listOpen({ kind: 'jt1078', streamid: name })) await store.streams.close(row.id, op.reason);
      } else if (op.kind === 'closeId') {
        await store.streams.close(op.id, op.reason);
      } else {
        // An insert the server committed after its deadline (a frozen server that thawed) is not made twice.
        const [open] = await store.streams.listOpen({ kind: 'jt1078', streamid: name });
        const row = open ?? (await store.streams.insert(op.row));
        if (op.closed !== undefined) {
          ops[0] = { kind: 'closeId', id: row.id, reason: op.closed };
          continue;
        }
        for (const resolve of this.#jt1078Waiters.get(name) ?? []) resolve(row);
        this.#jt1078Waiters.delete(name);
      }
      ops.shift();
    }
  }

  /**
   * The row of JT/T 1078 stream `name` once the media plane reports it started (at once
   * when it is open already); rejects with 504 after `timeoutMs`.
   */
  async waitForJt1078(name: string, timeoutMs: number): Promise<Stream> {
    const waiting = new Promise<Stream>((resolve, reject) => {
      const waiters = this.#jt1078Waiters.get(name) ?? new Set();
      this.#jt1078Waiters.set(name, waiters);
      const done = (row: Stream) => {
        clearTimeout(timer);
        resolve(row);
      };
      const timer = setTimeout(() => {
        waiters.delete(done);
        if (waiters.size === 0) this.#jt1078Waiters.delete(name);
        reject(new ServiceError(504, '1003', `stream ${name}: no media from the terminal within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.add(done);
    });
    const open = await this.#d.store.streams.getByStreamId(name);
    if (open && open.status === 0) {
      for (const resolve of this.#jt1078Waiters.get(name) ?? []) resolve(open);
      this.#jt1078Waiters.delete(name);
    }
    return waiting;
  }

  /**
   * ZLMediaKit plays a JT/T 1078 stream: an RTP server there (SSRC-filtered), and the stream sent
   * to it as PS/RTP with that SSRC. Where it goes is remembered, so a ZLM restart can move it.
   */
  async #pushToZlm(name: string): Promise<{ host: string; port: number }> {
    const ssrc = ssrcForName(name);
    const opened = await this.#d.backend.open(zlmIdOf(name), 'udp', this.#d.config.streams.mediaTimeout * 1000, ssrc);
    const destination = { host: opened.host, port: opened.port };
    await this.#d.media?.()?.request('forward.add', { name, destination: { ...destination, transport: 'udp', ssrc } });
    this.#zlmPushes.set(name, destination);
    return destination;
  }

  /**
   * ZLMediaKit restarted (on_server_started), or answers again after it did not: every RTP server
   * it lost is gone with its port. JT/T 1078 streams whose terminal is still sending are pushed to
   * a new RTP server under the same id, so their URLs play again; GB28181 dialogs end with BYE and
   * a player asking for one again re-INVITEs it (on_stream_not_found). Streams ZLM still holds
   * (it was only unreachable) are left alone.
   */
  mediaServerRestarted(): Promise<void> {
    return this.#zlmRecovery.request();
  }

  async #recoverZlmStreams(): Promise<void> {
    const backend = this.#d.backend;
    if (!(backend instanceof ZlmBackend)) return;
    const held = await backend.rtpServerIds();
    for (const row of await this.#d.store.streams.listOpen({ kind: 'jt1078' })) {
      if (held.has(zlmIdOf(row.streamid))) continue;
      const old = this.#zlmPushes.get(row.streamid);
      try {
        if (old) await this.#d.media?.()?.request('forward.remove', { name: row.streamid, ...old });
        const moved = await this.#pushToZlm(row.streamid);
        await this.#d.store.streams.update(row.id, { media_host: moved.host, media_port: moved.port });
        this.#d.logger.info({ stream: row.streamid, port: moved.port }, 'stream pushed to the restarted ZLMediaKit');
      } catch (error) {
        this.#d.logger.warn({ stream: row.streamid, err: (error as Error).message }, 'could not push the stream to the restarted ZLMediaKit');
      }
    }
    const lost = (await this.#d.store.streams.listOpen({ kind: 'gb28181' })).filter((row) => !held.has(row.streamid));
    for (const row of lost) await this.stop(row, 'media server restarted');
  }

  /** A JT/T 1078 stream ended in the media plane: `streams.stopped` now, its row closed through the write-behind queue. */
  async jt1078Stopped(name: string, reason: string): Promise<void> {
    this.#zlmPushes.delete(name);
    const sim = this.#jt1078Live.get(name);
    this.#jt1078Live.delete(name);
    if (sim !== undefined) this.#d.emit('streams.stopped', { streamid: name, reason }, sim);
    this.#streamOps(name, [{ kind: 'close', reason }]);
    if (this.#d.backend.name === 'zlm') await this.#d.backend.close(zlmIdOf(name), reason);
  }

  /**
   * The store is back after an outage: stream rows are made to say what the media plane
   * holds. Open JT/T 1078 rows of streams that ended are closed (their `streams.stopped`
   * went out when they ended); JT/T 1078 streams that started meanwhile without a row get
   * one; open GB28181 rows whose input is gone from the media process (media timeout, a
   * device's BYE the store could not record) are stopped: BYE, row closed, `streams.stopped`.
   * Built-in media only (ZLMediaKit holds its own). Returns the counts.
   */
  async reconcileLive(): Promise<{ closed: number; opened: number; stopped: number }> {
    const media = this.#d.media?.();
    if (!media || this.#d.backend.name !== 'camgate') return { closed: 0, opened: 0, stopped: 0 };
    const [live, inputs] = await Promise.all([media.request('streams', undefined), media.request('rtp.inputs', undefined)]);
    const names = new Map(live.map((s) => [s.name, s]));
    const { store } = this.#d;
    let closed = 0;
    let opened = 0;
    let stopped = 0;
    const withRow = new Set<string>();
    for (const row of await store.streams.listOpen({ kind: 'jt1078' })) {
      withRow.add(row.streamid);
      if (names.has(row.streamid)) continue;
      closed++;
      this.#streamOps(row.streamid, [{ kind: 'close', reason: 'ended during a store outage' }]);
    }
    for (const s of live) {
      if (s.kind === 'gb28181' || withRow.has(s.name)) continue;
      opened++;
      this.#jt1078Live.set(s.name, s.sim ?? '');
      this.#streamOps(s.name, [{ kind: 'insert', row: this.#jt1078Row(s, this.#d.backend.urls(s.name, s.slot)) }]);
    }
    const inputSet = new Set(inputs);
    for (const row of await store.streams.listOpen({ kind: 'gb28181' })) {
      if (inputSet.has(rtpStreamName(row.streamid))) continue;
      stopped++;
      await this.stop(row, 'media ended during a store outage', { closeMedia: false });
    }
    if (closed + opened + stopped > 0) this.#d.logger.warn({ closed, opened, stopped }, 'stream rows reconciled with the media plane');
    return { closed, opened, stopped };
  }

  /** The media plane ended a GB28181 input (media timeout, worker death...). */
  async mediaStopped(name: string, reason: string): Promise<void> {
    const streamid = rtpStreamId(name);
    if (streamid !== null) await this.mediaGone(streamid, reason);
  }

  /** Media for `streamid` ended outside our control (builtin media plane or ZLM). */
  async mediaGone(streamid: string, reason: string): Promise<void> {
    const row = await this.#byStreamId(streamid);
    if (row && row.status === 0) await this.stop(row, reason, { closeMedia: false });
  }

  /** The newest row of `streamid`; while the store is unavailable, the open GB28181 row this process remembers. */
  async #byStreamId(streamid: string): Promise<Stream | null> {
    try {
      return await this.#d.store.streams.getByStreamId(streamid);
    } catch (error) {
      if (!isStoreUnavailable(error)) throw error;
      return [...this.#openRows.values()].find((r) => r.streamid === streamid) ?? null;
    }
  }

  /** Media first seen on a stream. */
  async mediaStarted(name: string): Promise<void> {
    const streamid = rtpStreamId(name);
    if (streamid === null) return;
    const invitedAt = this.#invitedAt.get(streamid);
    if (invitedAt !== undefined) {
      this.#invitedAt.delete(streamid);
      this.#d.metrics?.firstFrame.observe((performance.now() - invitedAt) / 1000);
    }
    const row = await this.#d.store.streams.getByStreamId(streamid);
    if (row && row.status === 0 && !row.stream) await this.#d.store.streams.update(row.id, { stream: true });
  }

  /**
   * Rows still open from before (supervisor or media restart): their media ports are
   * gone, so each dialog is ended with BYE (to the device's last known address) and
   * the row closed with the reason. Returns how many were closed.
   */
  async reconcile(reason: string): Promise<number> {
    // JT/T 1078 terminals reconnect by themselves; their old rows just close.
    this.#jt1078Live.clear();
    for (const row of await this.#d.store.streams.listOpen({ kind: 'jt1078' })) await this.#d.store.streams.close(row.id, reason);
    const open = await this.#d.store.streams.listOpen({ kind: 'gb28181' });
    // ZLM keeps nothing either after its restart; the builtin ports died with the process.
    for (const row of open) await this.stop(row, reason);
    if (open.length > 0) this.#d.logger.warn({ streams: open.length, reason }, 'open streams ended');
    return open.length;
  }

  /** Dialogs of open rows, for a SIP thread that (re)starts. */
  async openDialogs(): Promise<Array<{ callId: string; deviceId: string }>> {
    return (await this.#openGb()).map((r) => ({ callId: r.callid, deviceId: r.deviceid }));
  }
}

/** The metric label of a failed INVITE: the device's status class, a time-out, or another error. */
function inviteResult(error: unknown): string {
  if (!(error instanceof ServiceError)) return 'error';
  if (error.upstream === 408 || error.status === 504) return 'timeout';
  const sipClass = Math.floor((error.upstream ?? 0) / 100);
  return error.status === 502 && sipClass >= 4 && sipClass <= 6 ? `${sipClass}xx` : 'error';
}

/** ZLMediaKit stream ids cannot hold '/': `live/jt1078-1-1` → `live_jt1078-1-1`. */
export function zlmIdOf(name: string): string {
  return name.replaceAll('/', '_');
}
