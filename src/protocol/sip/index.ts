/**
 * Public API of the sans-I/O SIP core (RFC 3261 subset GB28181 needs).
 *
 * Why one barrel: the UDP/TCP transports and the GB28181 registrar import from
 * here only, so the internal file split can change without touching them.
 */
export * from './message.js';
export { newBranch } from './random.js';
export * from './parser.js';
export * from './serializer.js';
export * from './clock.js';
export * from './transaction.js';
export * from './dialog.js';
export * from './digest.js';
