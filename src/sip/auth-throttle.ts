import type { Clock } from '../protocol/sip/index.js';
import type { SipLimits } from '../shared/config/config-schema.js';

/**
 * fail2ban-like limits on REGISTER, sans-I/O (clock injected).
 *
 * - Per source address: a token bucket on challenges (401s, each of which costs a
 *   nonce) and a failure count (wrong password, unknown device) that bans the
 *   address for `banTime`, doubled on each new ban up to `banTimeMax`.
 * - Per device ID, for devices the store knows only: after `authFailures` failures
 *   within `authWindow`, attempts for that ID are accepted only from addresses
 *   without failures of their own, so a distributed guesser gets one try per
 *   address while the device itself (a clean address) still registers.
 *
 * Nothing is kept per unknown device ID, and both maps are LRU-bounded, so a flood
 * of made-up IDs or of spoofed addresses costs bounded memory.
 */

/**
 * The clock and the `sip.limits` it reads: challengesPerSecond/challengeBurst (token
 * bucket per address), authFailures within authWindow (s) that ban an address or guard a
 * device ID, banTime doubled per new ban up to banTimeMax (s), trackedAddresses
 * (addresses and known device IDs remembered at once).
 */
export type AuthThrottleOptions = { clock: Clock } & Pick<
  SipLimits,
  'challengesPerSecond' | 'challengeBurst' | 'authFailures' | 'authWindow' | 'banTime' | 'banTimeMax' | 'trackedAddresses'
>;

/** Why a REGISTER was refused before it was looked at, and for how long (s). */
export type ThrottleVerdict =
  | { refused: false }
  | { refused: true; status: 403 | 503; reason: 'address-banned' | 'challenge-rate' | 'device-guarded'; retryAfter: number };

interface AddressState {
  tokens: number;
  refilledAt: number;
  failures: number;
  windowStart: number;
  bannedUntil: number;
  /** Length of the next ban (ms). */
  nextBan: number;
}

interface DeviceState {
  failures: number;
  windowStart: number;
}

/** A Map used as an LRU: touched keys move to the end, the front is evicted. */
class Lru<V> {
  #map = new Map<string, V>();
  constructor(readonly capacity: number) {}
  get size(): number {
    return this.#map.size;
  }
  get(key: string): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }
  peek(key: string): V | undefined {
    return this.#map.get(key);
  }
  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.capacity) this.#map.delete(this.#map.keys().next().value!);
  }
  delete(key: string): void {
    this.#map.delete(key);
  }
}

const OK: ThrottleVerdict = { refused: false };

export class AuthThrottle {
  #o: AuthThrottleOptions;
  #addresses: Lru<AddressState>;
  #devices: Lru<DeviceState>;

  constructor(options: AuthThrottleOptions) {
    this.#o = options;
    this.#addresses = new Lru(options.trackedAddresses);
    this.#devices = new Lru(options.trackedAddresses);
  }

  /** Addresses and device IDs remembered (bounded by trackedAddresses each). */
  get tracked(): { addresses: number; devices: number } {
    return { addresses: this.#addresses.size, devices: this.#devices.size };
  }

  #address(address: string, create: boolean): AddressState | undefined {
    let state = this.#addresses.get(address);
    if (!state && create) {
      const now = this.#o.clock.now();
      state = { tokens: this.#o.challengeBurst, refilledAt: now, failures: 0, windowStart: now, bannedUntil: 0, nextBan: this.#o.banTime * 1000 };
      this.#addresses.set(address, state);
    }
    return state;
  }

  #banned(state: AddressState | undefined): ThrottleVerdict {
    const now = this.#o.clock.now();
    if (state && state.bannedUntil > now) {
      return { refused: true, status: 403, reason: 'address-banned', retryAfter: Math.ceil((state.bannedUntil - now) / 1000) };
    }
    return OK;
  }

  /** A REGISTER without credentials from `address`: may it get a challenge (and a nonce)? */
  challenge(address: string): ThrottleVerdict {
    const state = this.#address(address, true)!;
    const banned = this.#banned(state);
    if (banned.refused) return banned;
    const now = this.#o.clock.now();
    const rate = this.#o.challengesPerSecond;
    state.tokens = Math.min(this.#o.challengeBurst, state.tokens + ((now - state.refilledAt) / 1000) * rate);
    state.refilledAt = now;
    if (state.tokens < 1) {
      return { refused: true, status: 503, reason: 'challenge-rate', retryAfter: Math.max(1, Math.ceil((1 - state.tokens) / rate)) };
    }
    state.tokens -= 1;
    return OK;
  }

  /** A REGISTER with credentials for `deviceId` from `address`: may it be verified? */
  attempt(address: string, deviceId: string): ThrottleVerdict {
    const state = this.#address(address, false);
    const banned = this.#banned(state);
    if (banned.refused) return banned;
    const device = this.#devices.peek(deviceId);
    if (device && this.#current(device) && device.failures >= this.#o.authFailures && state && this.#current(state) && state.failures > 0) {
      const retryAfter = Math.ceil((device.windowStart + this.#o.authWindow * 1000 - this.#o.clock.now()) / 1000);
      return { refused: true, status: 403, reason: 'device-guarded', retryAfter: Math.max(1, retryAfter) };
    }
    return OK;
  }

  /** Restarts a failure window that has run out; false if it had. */
  #current(state: { failures: number; windowStart: number }): boolean {
    const now = this.#o.clock.now();
    if (now - state.windowStart < this.#o.authWindow * 1000) return true;
    state.failures = 0;
    state.windowStart = now;
    return false;
  }

  /** A digest failed. `known`: the device ID exists in the store (only then is it tracked). */
  failure(address: string, deviceId: string, known: boolean): void {
    const state = this.#address(address, true)!;
    this.#current(state);
    state.failures++;
    if (state.failures >= this.#o.authFailures) {
      state.bannedUntil = this.#o.clock.now() + state.nextBan;
      state.nextBan = Math.min(state.nextBan * 2, this.#o.banTimeMax * 1000);
      state.failures = 0;
      state.windowStart = this.#o.clock.now();
    }
    if (!known) return;
    let device = this.#devices.get(deviceId);
    if (!device) {
      device = { failures: 0, windowStart: this.#o.clock.now() };
      this.#devices.set(deviceId, device);
    }
    this.#current(device);
    device.failures++;
  }

  /** A device authenticated from `address`: its address is clean again (ban length too). */
  success(address: string, deviceId: string): void {
    const state = this.#addresses.peek(address);
    if (state) {
      state.failures = 0;
      state.nextBan = this.#o.banTime * 1000;
    }
    this.#devices.delete(deviceId);
  }
}
