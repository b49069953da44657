import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures, Stripe-style: the sender signs `<timestamp>.<raw body>` with
 * HMAC-SHA256 and sends
 *
 *   X-Camgate-Timestamp: <unix seconds at the time of this attempt>
 *   X-Camgate-Signature: sha256=<lower-case hex digest>
 *
 * Binding the timestamp into the MAC lets a receiver reject replays: it refuses
 * timestamps too far from its own clock, and an attacker cannot move the timestamp
 * without the secret. Retries are re-signed with a fresh timestamp, so a delivery
 * that succeeds after a long receiver outage still passes the freshness check.
 */

export const SIGNATURE_PREFIX = 'sha256=';

/** Default freshness window a receiver should allow, in seconds (clock skew + transit). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

export function signPayload(secret: string, timestamp: string, body: string): string {
  return SIGNATURE_PREFIX + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

export interface VerifyOptions {
  /** Seconds either side of `nowSeconds` that a timestamp may be off; default 300. */
  toleranceSeconds?: number;
  /** Receiver's clock in unix seconds; default the system clock. */
  nowSeconds?: number;
}

/**
 * Reference check for receivers (and for our own tests): `body` must be the raw request
 * body exactly as received, before any JSON parsing. Constant-time on the digest.
 */
export function verifySignature(
  secret: string,
  timestamp: string | undefined,
  body: string,
  signature: string | undefined,
  options: VerifyOptions = {},
): boolean {
  if (!timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return false;
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(timestamp)) > tolerance) return false;
  const expected = Buffer.from(signPayload(secret, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
