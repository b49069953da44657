/**
 * Runs async jobs one after another per key, different keys concurrently. The
 * supervisor uses it so that a device's store writes (registered, keepalive,
 * offline…) land in the order the SIP thread reported them, even on a MySQL pool
 * whose connections would otherwise race.
 */
export class KeyedQueue {
  #tails = new Map<string, Promise<void>>();
  #onError: (error: unknown, key: string) => void;

  constructor(onError: (error: unknown, key: string) => void) {
    this.#onError = onError;
  }

  get pendingKeys(): number {
    return this.#tails.size;
  }

  run(key: string, job: () => Promise<unknown>): Promise<void> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const next = previous
      .then(job)
      .then(
        () => undefined,
        (error) => this.#onError(error, key),
      );
    this.#tails.set(key, next);
    void next.then(() => {
      if (this.#tails.get(key) === next) this.#tails.delete(key);
    });
    return next;
  }

  /** Resolves when every queued job has run. */
  async drain(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all([...this.#tails.values()]);
  }
}
