export { freePort } from '../../src/tools/loopback.js';
