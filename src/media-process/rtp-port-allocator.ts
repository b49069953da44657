import { ServiceError } from '../shared/errors.js';

/**
 * The RTP ports of `media.rtpPorts` ("30000-30500"): which are in use, and which to
 * try next. A port is taken before the bind is tried, so two streams never race for
 * one; a port another program holds (EADDRINUSE/EACCES) is skipped and the next tried.
 */
export class RtpPortAllocator {
  readonly low: number;
  readonly high: number;
  #inUse = new Set<number>();
  #random: () => number;

  constructor(range: string, random: () => number = Math.random) {
    const [low, high] = RtpPortAllocator.parse(range);
    this.low = low;
    this.high = high;
    this.#random = random;
  }

  /** "low-high" → [low, high]; throws RangeError on anything else. */
  static parse(range: string): [number, number] {
    const match = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(range);
    const low = Number(match?.[1]);
    const high = Number(match?.[2]);
    if (!match || low < 1 || high > 65_535 || low > high) throw new RangeError(`RTP port range "${range}" is not "low-high" within 1-65535`);
    return [low, high];
  }

  get size(): number {
    return this.high - this.low + 1;
  }

  get inUse(): number {
    return this.#inUse.size;
  }

  isInUse(port: number): boolean {
    return this.#inUse.has(port);
  }

  /**
   * Takes a free port and binds it with `bind`, starting at a random point of the
   * range. A bind that fails because the port is busy releases it and tries the next
   * (at most `maxBinds` binds); any other failure is thrown as it is. Exhaustion is a
   * 503: the range is full now, streams that end free ports.
   */
  async allocate(bind: (port: number) => Promise<void>, maxBinds = 20): Promise<number> {
    const span = this.size;
    const start = Math.floor(this.#random() * span);
    let binds = 0;
    for (let i = 0; i < span && binds < maxBinds; i++) {
      const port = this.low + ((start + i) % span);
      if (this.#inUse.has(port)) continue;
      binds++;
      this.#inUse.add(port);
      try {
        await bind(port);
        return port;
      } catch (error) {
        this.#inUse.delete(port);
        if (!isPortBusy(error)) throw error;
      }
    }
    const why = binds >= maxBinds ? `${binds} ports tried were busy` : `all ${span} ports in use`;
    throw new ServiceError(503, '1001', `no free RTP port in media.rtpPorts ${this.low}-${this.high} (${why})`);
  }

  release(port: number): boolean {
    return this.#inUse.delete(port);
  }
}

/** A bind failure that another port may not have (the message survives a channel hop; the code does not). */
function isPortBusy(error: unknown): boolean {
  return error instanceof Error && /EADDRINUSE|EACCES/.test(error.message);
}
