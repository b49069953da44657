/**
 * JT/T 1078 simulator: replays captures to a gateway as N concurrent terminals.
 * Tests and benchmarks import from here; the CLI is src/tools/sim-cli.ts.
 */
export * from './replay.js';
export * from './runner.js';
export * from './timer-wheel.js';
export * from './cli-args.js';
export * from './terminal.js';
export * from './terminal-runner.js';
export * from './terminal-args.js';
export * from './tone.js';
export * from './talk-client.js';
export * from './webrtc-peer.js';
