/**
 * Runs an async job one at a time; requests that arrive while it runs coalesce into
 * one more run afterwards (e.g. several "ZLMediaKit restarted" signals during one
 * reconcile need exactly one more pass, not one each).
 */
export class CoalescingRunner {
  readonly #job: () => void | Promise<void>;
  readonly #onError: (error: unknown) => void;
  #running: Promise<void> | null = null;
  #again = false;

  constructor(job: () => void | Promise<void>, onError: (error: unknown) => void) {
    this.#job = job;
    this.#onError = onError;
  }

  /** Starts a run, or marks one more; resolves when no run is pending any more. */
  request(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#loop().finally(() => (this.#running = null));
    return this.#running;
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      try {
        await this.#job();
      } catch (error) {
        this.#onError(error);
      }
    } while (this.#again);
  }
}
