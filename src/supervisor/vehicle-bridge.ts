import type { Logger } from 'pino';
import type { ParentChannel } from '../shared/contracts/lifecycle.js';
import type { Jt808Contract, KnownVehicle, VehiclePosition } from '../shared/contracts/jt808.js';
import type { CamgateConfig } from '../shared/config/config.js';
import type { EmitEvent } from './signalling-bridge.js';
import type { AlarmCreate, Store, VehiclePatch } from './store/types.js';
import { ownQueue, type WriteBehind } from './write-behind.js';

/** A vehicle's presence and registration as it waits in the write-behind queue. */
interface VehicleWrite {
  patch: VehiclePatch;
  /** The plate the terminal registered with: stored unless the API typed one in. */
  terminalPlate?: { plate: string; plate_color: number };
}

function mergeVehicle(older: VehicleWrite, newer: VehicleWrite): VehicleWrite {
  const terminalPlate = newer.terminalPlate ?? older.terminalPlate;
  return { patch: { ...older.patch, ...newer.patch }, ...(terminalPlate ? { terminalPlate } : {}) };
}

/**
 * The supervisor's half of the JT/T 808 thread's notes: vehicles registered, online and
 * offline become store writes (serialised per vehicle, in the order reported) and webhooks
 * `vehicles.online` / `vehicles.offline`, and `vehicles.alarm` when a position's alarm bits
 * change to a non-empty set. Positions are coalesced: the last one of each
 * vehicle is written in one transaction per `positionFlushMs` and announced once per
 * flush (`vehicles.position`), so a fleet reporting every few seconds costs one batch.
 *
 * Online, offline and registrations are the JT/T 808 thread's: `vehicles.online` and
 * `vehicles.offline` go out when its note arrives (the bridge keeps the set of vehicles it
 * reported online), and the rows are written through the write-behind queue, coalesced
 * per vehicle and retried while the store is down; `reconcile` repairs them when it is
 * back. Positions are not queued: a batch the store refuses is dropped (logged) and the
 * next position replaces it.
 */
export class VehicleBridge {
  #store: Store;
  #config: CamgateConfig;
  #log: Logger;
  #emit: EmitEvent;
  #writes: WriteBehind;
  #alarmSeq = 0;
  /** Vehicles the JT/T 808 thread reported online and not offline since. */
  #live = new Set<string>();
  /** Vehicles whose `vehicles.offline` went out and that did not come back since. */
  #offlineSent = new Set<string>();
  #positions = new Map<string, VehiclePosition>();
  /** The alarm bits last reported per vehicle (joined names), to announce changes only. */
  #alarms = new Map<string, string>();
  #flushTimer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();
  #positionFlushMs: number;

  constructor(options: { store: Store; config: CamgateConfig; logger: Logger; emit: EmitEvent; writes?: WriteBehind; positionFlushMs?: number }) {
    this.#store = options.store;
    // A private queue when none is given (unit tests); the supervisor passes its one queue.
    this.#writes = options.writes ?? ownQueue(options.config.store, options.logger, 'vehicle store write');
    this.#config = options.config;
    this.#log = options.logger;
    this.#emit = options.emit;
    this.#positionFlushMs = options.positionFlushMs ?? 1000;
  }

  /**
   * For a JT/T 808 thread that (re)starts: it holds no connection yet, so every stored
   * vehicle is offline; the ones the store knows (with their auth codes) go to its init.
   */
  async known(): Promise<KnownVehicle[]> {
    this.#live.clear();
    const wereOnline = await this.#store.vehicles.allOffline();
    if (wereOnline > 0) this.#log.info({ vehicles: wereOnline }, 'vehicles marked offline until their terminals reconnect');
    return (await this.#store.vehicles.known()).map(({ sim, authCode }) => (authCode ? { sim, authCode } : { sim }));
  }

  #vehicle(sim: string, write: VehicleWrite): void {
    if (!this.#writes.put(`vehicle:${sim}`, write, (w) => this.#writeVehicle(sim, w), mergeVehicle)) {
      this.#log.warn({ sim }, 'vehicle state not queued: store write queue full (reconciled when the store is back)');
    }
  }

  async #writeVehicle(sim: string, w: VehicleWrite): Promise<void> {
    let patch = w.patch;
    if (w.terminalPlate) {
      // A plate typed in through the API wins over the one the terminal was configured with.
      const before = await this.#store.vehicles.get(sim);
      if (!before?.plate) patch = { ...w.terminalPlate, ...patch };
    }
    // Open registration creates vehicles; provisioned only updates the ones the API created.
    if (this.#config.jt808.registration === 'open') await this.#store.vehicles.upsert(sim, patch);
    else await this.#store.vehicles.update(sim, patch);
  }

  /**
   * The store is back: rows online for vehicles the JT/T 808 thread did not report online go
   * offline (with `vehicles.offline`, reason `reconciled`, unless one went out), and
   * vehicles it holds whose row says offline are set online.
   */
  async reconcile(): Promise<{ offline: number; online: number }> {
    const rows = await this.#store.vehicles.list({ limit: -1, filters: [{ field_name: 'online', operator: '=', value: 1 }] });
    const stored = new Set<string>();
    let offline = 0;
    let online = 0;
    for (const row of rows.list) {
      stored.add(row.sim);
      if (this.#live.has(row.sim)) continue;
      offline++;
      if (!this.#offlineSent.has(row.sim)) {
        this.#offlineSent.add(row.sim);
        this.#emit('vehicles.offline', { sim: row.sim, reason: 'reconciled' }, row.sim);
      }
      this.#vehicle(row.sim, { patch: { online: 0 } });
    }
    for (const sim of this.#live) {
      if (stored.has(sim)) continue;
      online++;
      this.#vehicle(sim, { patch: { online: 1 } });
    }
    if (offline + online > 0) this.#log.warn({ offline, online }, 'vehicle rows reconciled with the JT/T 808 thread');
    return { offline, online };
  }

  attach(channel: ParentChannel<Jt808Contract>): void {
    channel.onNote('vehicle.registered', (r) => {
      this.#vehicle(r.sim, {
        patch: { auth_code: r.authCode, model: r.model, terminal_id: r.terminalId, manufacturer: r.manufacturerId, version: r.version },
        terminalPlate: { plate: r.plate, plate_color: r.plateColor },
      });
    });
    channel.onNote('vehicle.online', ({ sim, address, version }) => {
      // The thread says so: announced now, written when the store takes it.
      if (!this.#live.has(sim)) this.#emit('vehicles.online', { sim, address }, sim);
      this.#live.add(sim);
      this.#offlineSent.delete(sim);
      this.#vehicle(sim, { patch: { online: 1, address, version } });
      // What the terminal can send: its channels and codecs (0x9003 → 0x1003), stored when it answers.
      void channel
        .request('vehicle.avAttributes', { sim }, 15_000)
        .then((attributes) => this.#vehicle(sim, { patch: { av_attributes: { ...attributes }, channels: attributes.maxVideoChannels } }))
        .catch((err: Error) => this.#log.debug({ sim, err: err.message }, 'no AV attributes'));
    });
    channel.onNote('vehicle.offline', ({ sim, reason }) => {
      this.#alarms.delete(sim);
      this.#live.delete(sim);
      this.#offlineSent.add(sim);
      this.#emit('vehicles.offline', { sim, reason }, sim);
      this.#vehicle(sim, { patch: { online: 0 } });
    });
    channel.onNote('vehicle.positions', ({ positions }) => {
      for (const position of positions) this.#position(position);
    });
  }

  /** One 0x0200: a changed alarm set is announced and stored now, the position is coalesced. */
  #position(position: VehiclePosition): void {
    // Alarms are not coalesced: a new set of alarm bits is announced at once.
    const alarms = position.alarms.join(',');
    if (alarms !== (this.#alarms.get(position.sim) ?? '')) {
      if (alarms === '') this.#alarms.delete(position.sim);
      else {
        this.#alarms.set(position.sim, alarms);
        const { sim, latitude, longitude, timeMs } = position;
        this.#emit('vehicles.alarm', { sim, alarms: position.alarms, latitude, longitude, time: timeMs }, sim);
        const row: AlarmCreate = { kind: 'jt808', deviceid: sim, flags: alarms, latitude, longitude, alarm_time: timeMs === null ? null : Math.floor(timeMs / 1000) };
        if (!this.#writes.put(`alarm:${sim}:${++this.#alarmSeq}`, row, async (r) => void (await this.#store.alarms.add(r)))) {
          this.#log.warn({ sim }, 'alarm not queued: store write queue full');
        }
      }
    }
    this.#positions.set(position.sim, position);
    this.#flushTimer ??= setTimeout(() => void this.flush(), this.#positionFlushMs);
  }

  /** Writes the coalesced positions now (one transaction) and announces them. */
  flush(): Promise<void> {
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    const batch = this.#positions;
    this.#positions = new Map();
    this.#flushing = this.#flushing.then(async () => {
      if (batch.size === 0) return;
      const patches = new Map<string, VehiclePatch>();
      for (const [sim, p] of batch) {
        patches.set(sim, {
          latitude: p.latitude,
          longitude: p.longitude,
          speed: p.speedKmh,
          direction: p.direction,
          position_time: p.timeMs === null ? null : Math.floor(p.timeMs / 1000),
        });
      }
      try {
        await this.#store.vehicles.updateMany(patches);
      } catch (error) {
        // Kept for the next flush unless a newer position came meanwhile: the last position is not lost to an outage.
        for (const [sim, p] of batch) if (!this.#positions.has(sim)) this.#positions.set(sim, p);
        this.#flushTimer ??= setTimeout(() => void this.flush(), Math.max(this.#positionFlushMs, 5000));
        this.#flushTimer.unref();
        this.#log.warn({ err: error, vehicles: batch.size }, 'positions not stored yet: kept for the next flush');
        return;
      }
      for (const p of batch.values()) {
        this.#emit('vehicles.position', { sim: p.sim, latitude: p.latitude, longitude: p.longitude, speed: p.speedKmh, direction: p.direction, time: p.timeMs, alarms: p.alarms }, p.sim);
      }
    });
    return this.#flushing;
  }

  /** As SignallingBridge.drain: notes, positions and (unless `writes: false`, or the store is down) the queued rows. */
  async drain(options: { writes?: boolean } = {}): Promise<void> {
    await this.flush();
    if (options.writes !== false && this.#writes.up) await this.#writes.idle();
  }
}
