/**
 * SSRC allocation per GB/T 28181 Annex F: 10 decimal digits, the first 0 for live
 * and 1 for playback, then digits 4–8 of the SIP domain, then a 4-digit sequence.
 * Unique among active streams only (closed ones may be reused), always < 2^32.
 * The stream id is the SSRC as 8 upper-case hex digits (ZLMediaKit's rtp naming).
 */
export class SsrcAllocator {
  #domainDigits: string;
  #next = 1;

  constructor(domain: string) {
    this.#domainDigits = domain.slice(3, 8).padEnd(5, '0');
  }

  /** A fresh SSRC not in `active`, or null when all 9,999 of the kind are taken. */
  allocate(playback: boolean, active: ReadonlySet<string>): string | null {
    for (let i = 0; i < 9999; i++) {
      const seq = this.#next;
      this.#next = this.#next >= 9999 ? 1 : this.#next + 1;
      const ssrc = `${playback ? 1 : 0}${this.#domainDigits}${String(seq).padStart(4, '0')}`;
      if (!active.has(ssrc)) return ssrc;
    }
    return null;
  }
}

export function streamIdOf(ssrc: string): string {
  return (Number(ssrc) >>> 0).toString(16).toUpperCase().padStart(8, '0');
}
