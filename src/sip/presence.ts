import type { Clock, Endpoint, TimerHandle } from '../protocol/sip/index.js';

/**
 * Which devices are online, from where, until when. Sans-I/O: an injectable clock
 * drives one periodic sweep that ends registrations that expired and devices whose
 * keepalives stopped (keepaliveTimeouts × keepaliveInterval without one).
 *
 * Keepalive trust rule: a keepalive counts only if it comes from the IP address the
 * device registered from. A new port on the same IP is a NAT rebinding and moves the
 * device there; a different IP is refused (the device must REGISTER again, with its
 * digest, to move), so nobody can take over a device's media and queries by sending
 * an unauthenticated MESSAGE.
 */

export type OfflineReason = 'unregistered' | 'expired' | 'keepalive-timeout' | 'removed';

export interface PresenceEntry {
  deviceId: string;
  source: Endpoint;
  contact: string;
  /** Clock ms. */
  expiresAt: number;
  lastKeepalive: number;
  registeredAt: number;
}

export type KeepaliveVerdict = 'ok' | 'moved' | 'not-registered' | 'untrusted';

export interface PresenceOptions {
  clock: Clock;
  keepaliveInterval: number;
  keepaliveTimeouts: number;
  /** Sweep period (ms, default 1000). */
  sweepEvery?: number;
  onOffline(entry: PresenceEntry, reason: OfflineReason): void;
}

export class DevicePresence {
  #entries = new Map<string, PresenceEntry>();
  /** transport|address|port → device, for findBySource. */
  #bySource = new Map<string, string>();
  #options: PresenceOptions;
  #timer: TimerHandle | null = null;

  constructor(options: PresenceOptions) {
    this.#options = options;
    this.#schedule();
  }

  get size(): number {
    return this.#entries.size;
  }

  get(deviceId: string): PresenceEntry | undefined {
    return this.#entries.get(deviceId);
  }

  /**
   * The device registered from exactly this address and port (and connection, on
   * TCP). Some devices answer a query sent to a channel with the channel's ID in
   * From; the address they registered from still identifies them.
   */
  findBySource(source: Endpoint): PresenceEntry | undefined {
    const deviceId = this.#bySource.get(sourceKey(source));
    return deviceId === undefined ? undefined : this.#entries.get(deviceId);
  }

  #index(entry: PresenceEntry, previous?: PresenceEntry): void {
    if (previous) this.#bySource.delete(sourceKey(previous.source));
    this.#bySource.set(sourceKey(entry.source), entry.deviceId);
  }

  entries(): IterableIterator<PresenceEntry> {
    return this.#entries.values();
  }

  /** Records a successful REGISTER; true when the device was not online before. */
  register(deviceId: string, source: Endpoint, contact: string, expiresSeconds: number): boolean {
    const now = this.#options.clock.now();
    const existing = this.#entries.get(deviceId);
    const entry = {
      deviceId,
      source,
      contact,
      expiresAt: now + expiresSeconds * 1000,
      lastKeepalive: now,
      registeredAt: existing?.registeredAt ?? now,
    };
    this.#entries.set(deviceId, entry);
    this.#index(entry, existing);
    return existing === undefined;
  }

  /** Restores an entry known from the store after a restart of this thread. */
  restore(entry: PresenceEntry): void {
    const copy = { ...entry };
    this.#index(copy, this.#entries.get(entry.deviceId));
    this.#entries.set(entry.deviceId, copy);
  }

  unregister(deviceId: string, reason: OfflineReason = 'unregistered'): boolean {
    const entry = this.#entries.get(deviceId);
    if (!entry) return false;
    this.#entries.delete(deviceId);
    if (this.#bySource.get(sourceKey(entry.source)) === deviceId) this.#bySource.delete(sourceKey(entry.source));
    this.#options.onOffline(entry, reason);
    return true;
  }

  keepalive(deviceId: string, source: Endpoint): KeepaliveVerdict {
    const entry = this.#entries.get(deviceId);
    if (!entry) return 'not-registered';
    if (entry.source.address !== source.address) return 'untrusted';
    entry.lastKeepalive = this.#options.clock.now();
    if (entry.source.port !== source.port || entry.source.transport !== source.transport || entry.source.connectionId !== source.connectionId) {
      const previous = { ...entry };
      entry.source = source;
      this.#index(entry, previous);
      return 'moved';
    }
    return 'ok';
  }

  /** Ends expired registrations and silent devices; called by the sweep timer. */
  sweep(): void {
    const now = this.#options.clock.now();
    const silence = this.#options.keepaliveInterval * this.#options.keepaliveTimeouts * 1000;
    for (const entry of [...this.#entries.values()]) {
      if (entry.expiresAt <= now) this.unregister(entry.deviceId, 'expired');
      else if (now - entry.lastKeepalive >= silence) this.unregister(entry.deviceId, 'keepalive-timeout');
    }
  }

  #schedule(): void {
    this.#timer = this.#options.clock.setTimer(this.#options.sweepEvery ?? 1000, () => {
      this.sweep();
      this.#schedule();
    });
  }

  close(): void {
    if (this.#timer !== null) this.#options.clock.clearTimer(this.#timer);
    this.#timer = null;
  }
}

function sourceKey(source: Endpoint): string {
  return `${source.transport.toUpperCase()}|${source.address}|${source.port}`;
}
