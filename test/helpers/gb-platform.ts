/** The GbPlatform options every SIP-thread test shares: a platform at 192.0.2.1:5060, provisioned registration, 3600 s / 60 s × 3. */
import { parseMessage, type Clock, type Endpoint, type SipMessage } from '../../src/protocol/sip/index.js';
import type { PlatformOptions } from '../../src/sip/platform.js';

export function platformBasics(clock: Clock, serverId = '34020000002000000001', domain = '3402000000'): Pick<
  PlatformOptions,
  'serverId' | 'domain' | 'advertisedHost' | 'advertisedPort' | 'registration' | 'maxExpires' | 'keepaliveInterval' | 'keepaliveTimeouts' | 'clock'
> {
  return { serverId, domain, advertisedHost: '192.0.2.1', advertisedPort: 5060, registration: 'provisioned', maxExpires: 3600, keepaliveInterval: 60, keepaliveTimeouts: 3, clock };
}

/** Builds a request from its head lines (Content-Length added) and body, parses it as the wire would, and feeds it to the platform. */
export function feedRequest(platform: { receive(message: SipMessage, remote: Endpoint): void }, head: string[], body: Buffer, source: Endpoint): void {
  const text = [...head, `Content-Length: ${body.length}`, '', ''].join('\r\n');
  const parsed = parseMessage(Buffer.concat([Buffer.from(text), body]));
  if (!parsed.ok) throw new Error(parsed.reason);
  platform.receive(parsed.message, source);
}
