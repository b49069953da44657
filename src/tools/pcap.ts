import { readFileSync } from 'node:fs';

/**
 * UDP payloads (here: RTP packets) of a classic pcap file with Ethernet/IPv4/UDP
 * frames, such as ../shared/sipp/gb_h264_4s_rtp.pcap. For load generators and tests.
 */
export function udpPayloadsOfPcap(file: string): Buffer[] {
  const data = readFileSync(file);
  const out: Buffer[] = [];
  for (let at = 24; at + 16 <= data.length; ) {
    const length = data.readUInt32LE(at + 8);
    const frame = data.subarray(at + 16, at + 16 + length);
    const ipHeader = (frame[14]! & 0x0f) * 4;
    out.push(Buffer.from(frame.subarray(14 + ipHeader + 8)));
    at += 16 + length;
  }
  return out;
}
