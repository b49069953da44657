/**
 * Platform-side JT/T 808 signalling core (sans-I/O): one `Jt808Server` per listener, one
 * `Jt808Session` per TCP connection. The thread that owns the sockets, the store and the
 * REST API wire on top of these.
 */
export * from './events.js';
export * from './session.js';
export * from './server.js';
