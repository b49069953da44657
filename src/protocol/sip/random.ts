/**
 * Unguessable tokens for tags, Call-IDs, branches and nonces.
 *
 * Why a pool: crypto.randomBytes per token costs a syscall-ish call each; at
 * 1,000 REGISTER/s we need several tokens per message, so draw from a refilled
 * buffer instead. Tags and branches must be unpredictable (RFC 3261 §19.3),
 * which rules out Math.random.
 */
import { randomFillSync } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const pool = new Uint8Array(4096);
let poolPos = pool.length;

function nextByte(): number {
  if (poolPos >= pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  return pool[poolPos++]!;
}

/** Random alphanumeric string of `length` characters (~5.95 bits each). */
export function randomToken(length = 16): string {
  let out = '';
  while (out.length < length) {
    const b = nextByte();
    // 248 = 4 * 62: reject the top bytes so every character is equally likely.
    if (b < 248) out += ALPHABET[b % 62];
  }
  return out;
}

/** A new RFC 3261 branch: magic cookie plus randomness. */
export function newBranch(): string {
  return 'z9hG4bK' + randomToken(20);
}
