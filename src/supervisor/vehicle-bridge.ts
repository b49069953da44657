import type { Logger } from 'pino';
import type { ParentChannel } from '../shared/contracts/lifecycle.js';
import type { Jt808Contract, KnownVehicle, VehiclePosition } from '../shared/contracts/jt808.js';
import type { CamgateConfig } from '../shared/config/config.js';
import { KeyedQueue } from '../shared/keyed-queue.js';
import type { EmitEvent } from './signalling-bridge.js';
import type { Store, VehiclePatch } from './store/types.js';

/**
 * The supervisor's half of the JT/T 808 thread's notes: vehicles registered, online and
 * offline become store writes (serialised per vehicle, in the order reported) and webhooks
 * `vehicles.online` / `vehicles.offline`, and `vehicles.alarm` when a position's alarm bits
 * change to a non-empty set. Positions are coalesced: the last one of each
 * vehicle is written in one transaction per `positionFlushMs` and announced once per
 * flush (`vehicles.position`), so a fleet reporting every few seconds costs one batch.
 */
export class VehicleBridge {
  #store: Store;
  #config: CamgateConfig;
  #log: Logger;
  #emit: EmitEvent;
  #queue: KeyedQueue;
  #positions = new Map<string, VehiclePosition>();
  /** The alarm bits last reported per vehicle (joined names), to announce changes only. */
  #alarms = new Map<string, string>();
  #flushTimer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();
  #positionFlushMs: number;

  constructor(options: { store: Store; config: CamgateConfig; logger: Logger; emit: EmitEvent; positionFlushMs?: number }) {
    this.#store = options.store;
    this.#config = options.config;
    this.#log = options.logger;
    this.#emit = options.emit;
    this.#positionFlushMs = options.positionFlushMs ?? 1000;
    this.#queue = new KeyedQueue((error, key) => this.#log.error({ err: error, sim: key }, 'vehicle store write failed'));
  }

  /**
   * For a JT/T 808 thread that (re)starts: it holds no connection yet, so every stored
   * vehicle is offline; the ones the store knows (with their auth codes) go to its init.
   */
  async known(): Promise<KnownVehicle[]> {
    const wereOnline = await this.#store.vehicles.allOffline();
    if (wereOnline > 0) this.#log.info({ vehicles: wereOnline }, 'vehicles marked offline until their terminals reconnect');
    return (await this.#store.vehicles.known()).map(({ sim, authCode }) => (authCode ? { sim, authCode } : { sim }));
  }

  attach(channel: ParentChannel<Jt808Contract>): void {
    const open = this.#config.jt808.registration === 'open';
    /** Open registration creates vehicles; provisioned only updates the ones the API created. */
    const write = async (sim: string, patch: VehiclePatch) => (open ? this.#store.vehicles.upsert(sim, patch) : this.#store.vehicles.update(sim, patch));

    channel.onNote('vehicle.registered', (r) => {
      void this.#queue.run(r.sim, async () => {
        // A plate typed in through the API wins over the one the terminal was configured with.
        const before = await this.#store.vehicles.get(r.sim);
        const plate = before?.plate ? {} : { plate: r.plate, plate_color: r.plateColor };
        await write(r.sim, {
          auth_code: r.authCode,
          ...plate,
          model: r.model,
          terminal_id: r.terminalId,
          manufacturer: r.manufacturerId,
          version: r.version,
        });
      });
    });
    channel.onNote('vehicle.online', ({ sim, address, version }) => {
      void this.#queue.run(sim, async () => {
        const before = await this.#store.vehicles.get(sim);
        const vehicle = await write(sim, { online: 1, address, version });
        if (vehicle && before?.online !== 1) this.#emit('vehicles.online', { sim, address }, sim);
      });
      // What the terminal can send: its channels and codecs (0x9003 → 0x1003), stored when it answers.
      void channel
        .request('vehicle.avAttributes', { sim }, 15_000)
        .then((attributes) =>
          this.#queue.run(sim, async () => {
            await this.#store.vehicles.update(sim, { av_attributes: { ...attributes }, channels: attributes.maxVideoChannels });
          }),
        )
        .catch((err: Error) => this.#log.debug({ sim, err: err.message }, 'no AV attributes'));
    });
    channel.onNote('vehicle.offline', ({ sim, reason }) => {
      this.#alarms.delete(sim);
      void this.#queue.run(sim, async () => {
        const vehicle = await this.#store.vehicles.update(sim, { online: 0 });
        if (vehicle) this.#emit('vehicles.offline', { sim, reason }, sim);
      });
    });
    channel.onNote('vehicle.position', (position) => {
      // Alarms are not coalesced: a new set of alarm bits is announced at once.
      const alarms = position.alarms.join(',');
      if (alarms !== (this.#alarms.get(position.sim) ?? '')) {
        if (alarms === '') this.#alarms.delete(position.sim);
        else {
          this.#alarms.set(position.sim, alarms);
          const { sim, latitude, longitude, timeMs } = position;
          this.#emit('vehicles.alarm', { sim, alarms: position.alarms, latitude, longitude, time: timeMs }, sim);
        }
      }
      this.#positions.set(position.sim, position);
      this.#flushTimer ??= setTimeout(() => void this.flush(), this.#positionFlushMs);
    });
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
        this.#log.error({ err: error, vehicles: batch.size }, 'positions not stored');
        return;
      }
      for (const p of batch.values()) {
        this.#emit('vehicles.position', { sim: p.sim, latitude: p.latitude, longitude: p.longitude, speed: p.speedKmh, direction: p.direction, time: p.timeMs, alarms: p.alarms }, p.sim);
      }
    });
    return this.#flushing;
  }

  async drain(): Promise<void> {
    await this.flush();
    await this.#queue.drain();
  }
}
