/**
 * Public API of the sans-I/O JT/T 808 signalling codec (framing, headers, bodies,
 * sub-packaging). The platform session (src/jt808/) and the terminal simulator
 * (src/tools/sim/terminal.ts) import from here only.
 */
export * from './bytes.js';
export * from './header.js';
export * from './frame.js';
export * from './messages.js';
export * from './subpackage.js';
export * from './ptz.js';
