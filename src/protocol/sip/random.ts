/**
 * Unguessable tokens for tags, Call-IDs, branches and nonces.
 *
 * Why a pool: a crypto call per token is costly at 1,000 REGISTER/s with
 * several tokens per message, so draw from a refilled random buffer. Tags and
 * branches must be unpredictable (RFC 3261 §19.3), which rules out
 * Math.random. base64url output is all SIP token characters.
 */
import { randomFillSync } from 'node:crypto';

const pool = Buffer.allocUnsafe(8192);
let poolPos = pool.length;

/** Random string of `length` characters from [A-Za-z0-9-_] (6 bits each). */
export function randomToken(length = 16): string {
  const needed = Math.ceil((length * 3) / 4);
  if (poolPos + needed > pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  const out = pool.toString('base64url', poolPos, poolPos + needed);
  poolPos += needed;
  return out.length === length ? out : out.slice(0, length);
}

/** A new RFC 3261 branch: magic cookie plus randomness. */
export function newBranch(): string {
  return 'z9hG4bK' + randomToken(20);
}
