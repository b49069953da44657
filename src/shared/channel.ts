import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import type { MessagePort, Worker } from 'node:worker_threads';
import { ChannelClosedError, ChannelTimeoutError, fromWireError, toWireError, type WireError } from './errors.js';

/**
 * The typed control channel between the supervisor and its children (and between a
 * media process and its workers): request/response correlated by id, plus one-way
 * notifications. Modelled on mediasoup's Channel: every pending request is rejected
 * the moment the peer dies, so no caller waits forever on a dead thread.
 *
 * Only control traffic goes here (open stream, close, stats); media bytes use the
 * SharedArrayBuffer rings.
 */

export type Wire =
  | { t: 'req'; id: number; method: string; data: unknown }
  | { t: 'res'; id: number; ok: true; data: unknown }
  | { t: 'res'; id: number; ok: false; error: WireError }
  | { t: 'note'; event: string; data: unknown };

/** What a channel needs from a MessagePort, a Worker or a child process. */
export interface Endpoint {
  send(message: Wire): void;
  /** Registers the receive and close callbacks; returns an unsubscribe function. */
  attach(onMessage: (message: Wire) => void, onClose: (reason: string) => void): () => void;
}

/** Request methods: name → [request data, response data]. */
export type Methods = Record<string, [unknown, unknown]>;
/** Notification events: name → data. */
export type Notes = Record<string, unknown>;

type Handler<M extends Methods, K extends keyof M> = (data: M[K][0]) => M[K][1] | Promise<M[K][1]>;

interface Pending {
  method: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface ChannelOptions {
  /** Default request timeout in ms (5000). */
  timeout?: number;
}

/**
 * `In`/`InNotes`: what the remote may ask and tell us.
 * `Out`/`OutNotes`: what we may ask and tell the remote.
 */
export class Channel<
  Out extends Methods = Methods,
  In extends Methods = Methods,
  OutNotes extends Notes = Notes,
  InNotes extends Notes = Notes,
> extends EventEmitter {
  #endpoint: Endpoint;
  #detach: () => void;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #handlers = new Map<string, (data: unknown) => unknown>();
  #closed = false;
  #timeout: number;

  constructor(endpoint: Endpoint, options: ChannelOptions = {}) {
    super();
    this.#endpoint = endpoint;
    this.#timeout = options.timeout ?? 5000;
    this.#detach = endpoint.attach(
      (message) => this.#receive(message),
      (reason) => this.close(reason),
    );
  }

  get closed(): boolean {
    return this.#closed;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Serves requests named `method` from the remote side. */
  handle<K extends keyof In & string>(method: K, handler: Handler<In, K>): this {
    this.#handlers.set(method, handler as (data: unknown) => unknown);
    return this;
  }

  request<K extends keyof Out & string>(
    method: K,
    data?: Out[K][0],
    timeout = this.#timeout,
  ): Promise<Out[K][1]> {
    if (this.#closed) return Promise.reject(new ChannelClosedError(`channel closed, cannot send ${method}`));
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0x7fffffff ? 1 : this.#nextId + 1;
    return new Promise<Out[K][1]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ChannelTimeoutError(method, timeout));
      }, timeout);
      this.#pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject, timer });
      this.#post({ t: 'req', id, method, data });
    });
  }

  notify<K extends keyof OutNotes & string>(event: K, data?: OutNotes[K]): void {
    if (this.#closed) return;
    this.#post({ t: 'note', event, data });
  }

  onNote<K extends keyof InNotes & string>(event: K, listener: (data: InNotes[K]) => void): this {
    return this.on(`note:${event}`, listener);
  }

  /** Rejects every pending request and stops listening. Idempotent. */
  close(reason = 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#detach();
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new ChannelClosedError(`channel closed (${reason}) before ${pending.method} was answered`));
      this.#pending.delete(id);
    }
    this.emit('close', reason);
  }

  #post(message: Wire): void {
    try {
      this.#endpoint.send(message);
    } catch (error) {
      this.close(`send failed: ${(error as Error).message}`);
    }
  }

  #receive(message: Wire): void {
    if (this.#closed || typeof message !== 'object' || message === null) return;
    switch (message.t) {
      case 'res': {
        const pending = this.#pending.get(message.id);
        if (!pending) return; // answered after its timeout
        this.#pending.delete(message.id);
        clearTimeout(pending.timer);
        if (message.ok) pending.resolve(message.data);
        else pending.reject(fromWireError(message.error));
        return;
      }
      case 'req':
        void this.#serve(message.id, message.method, message.data);
        return;
      case 'note':
        this.emit(`note:${message.event}`, message.data);
        return;
    }
  }

  async #serve(id: number, method: string, data: unknown): Promise<void> {
    const handler = this.#handlers.get(method);
    if (!handler) {
      this.#post({ t: 'res', id, ok: false, error: { name: 'UnknownMethod', message: `no handler for ${method}`, status: 501, code: '1003' } });
      return;
    }
    try {
      const result = await handler(data);
      if (!this.#closed) this.#post({ t: 'res', id, ok: true, data: result });
    } catch (error) {
      if (!this.#closed) this.#post({ t: 'res', id, ok: false, error: toWireError(error) });
    }
  }
}

/** The supervisor side of a worker thread. */
export function workerEndpoint(worker: Worker): Endpoint {
  return {
    send: (message) => worker.postMessage(message),
    attach(onMessage, onClose) {
      const onExit = (code: number) => onClose(`thread exited with code ${code}`);
      const onError = (error: Error) => onClose(`thread failed: ${error.message}`);
      worker.on('message', onMessage);
      worker.on('exit', onExit);
      worker.on('error', onError);
      return () => {
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        worker.off('error', onError);
      };
    },
  };
}

/** The thread side: `parentPort`. */
export function portEndpoint(port: MessagePort): Endpoint {
  return {
    send: (message) => port.postMessage(message),
    attach(onMessage, onClose) {
      const onPortClose = () => onClose('port closed');
      port.on('message', onMessage);
      port.on('close', onPortClose);
      return () => {
        port.off('message', onMessage);
        port.off('close', onPortClose);
      };
    },
  };
}

/** The supervisor side of a forked child process (IPC channel). */
export function childEndpoint(child: ChildProcess): Endpoint {
  return {
    send: (message) => {
      if (!child.connected) throw new ChannelClosedError('child process disconnected');
      child.send(message);
    },
    attach(onMessage, onClose) {
      const onExit = (code: number | null, signal: string | null) =>
        onClose(`process exited (${signal ?? `code ${code}`})`);
      const onDisconnect = () => onClose('process disconnected');
      const onMsg = (m: unknown) => onMessage(m as Wire);
      child.on('message', onMsg);
      child.on('exit', onExit);
      child.on('disconnect', onDisconnect);
      return () => {
        child.off('message', onMsg);
        child.off('exit', onExit);
        child.off('disconnect', onDisconnect);
      };
    },
  };
}

/** The child process side: its own `process` IPC channel. */
export function processEndpoint(proc: NodeJS.Process = process): Endpoint {
  return {
    send: (message) => {
      if (!proc.send || !proc.connected) throw new ChannelClosedError('no IPC channel to the parent');
      proc.send(message);
    },
    attach(onMessage, onClose) {
      const onMsg = (m: unknown) => onMessage(m as Wire);
      const onDisconnect = () => onClose('parent disconnected');
      proc.on('message', onMsg);
      proc.on('disconnect', onDisconnect);
      return () => {
        proc.off('message', onMsg);
        proc.off('disconnect', onDisconnect);
      };
    },
  };
}
