import type { Channel, Methods, Notes } from '../channel.js';

/**
 * What every supervised child answers, whatever its role (src/shared/child.ts and
 * child-runtime.ts): `init` with its role's init data, `ping` for health, `shutdown`.
 */
export interface PingAnswer {
  ok: boolean;
  /** Event-loop utilisation over the last window, 0..1. */
  elu: number;
  heapUsed: number;
}

export type LifecycleMethods<Init, Ping extends object> = {
  init: [Init, void];
  ping: [void, PingAnswer & Partial<Ping>];
  shutdown: [void, void];
};

export type LifecycleNotes = { ready: void };

/**
 * One channel's whole contract: what the parent may ask (`down`), what the child may
 * ask (`up`), the notes each side sends, the init data and the ping details.
 */
export interface Contract {
  init: unknown;
  ping: object;
  down: Methods;
  up: Methods;
  downNotes: Notes;
  upNotes: Notes;
}

/** The parent's end of a child's channel. */
export type ParentChannel<C extends Contract> = Channel<
  C['down'] & LifecycleMethods<C['init'], C['ping']>,
  C['up'],
  C['downNotes'],
  C['upNotes'] & LifecycleNotes
>;

/** The child's end of its channel to the parent. */
export type ChildChannel<C extends Contract> = Channel<
  C['up'],
  C['down'] & LifecycleMethods<C['init'], C['ping']>,
  C['upNotes'] & LifecycleNotes,
  C['downNotes']
>;
