/**
 * Public API of the sans-I/O JT/T 1078 ingest core.
 *
 * Why one barrel: TCP/UDP listeners, media workers, the simulator and benchmarks import
 * from here only, so the file split inside can change without touching them.
 *
 * Typical wiring per TCP connection:
 *   const framer = new Jt1078StreamFramer();
 *   const reassembler = new Jt1078Reassembler();
 *   socket.on('data', (chunk) => {
 *     framer.push(chunk);
 *     for (let p = framer.next(); p !== null; p = framer.next()) {
 *       const ev = reassembler.push(p);
 *       if (ev !== null) handle(ev);
 *     }
 *   });
 */
export * from './packet.js';
export * from './framer.js';
export * from './reassembly.js';
export * from './stream-name.js';
export * from './capture.js';
