import { loadCaptureSync, Jt1078StreamFramer, type Jt1078Packet } from '../../src/protocol/jt1078/index.js';

export const capturesDir = new URL('../../../shared/testdata/jt1078/', import.meta.url).pathname;

/** The capture's packets, as the parser sees them. */
export function capturePackets(file: string): { bytes: Buffer; packets: Jt1078Packet[] } {
  const { bytes } = loadCaptureSync(capturesDir + file);
  const framer = new Jt1078StreamFramer();
  framer.push(bytes);
  framer.end();
  const packets: Jt1078Packet[] = [];
  for (let p = framer.next(); p; p = framer.next()) packets.push(p);
  return { bytes: Buffer.from(bytes), packets };
}

/** Video frames a capture holds: device timestamps of atomic (0) or last (2) video sub-packages. */
export function videoFrameTimestamps(packets: Jt1078Packet[]): number[] {
  return packets.filter((p) => p.dataType <= 2 && (p.subPackage === 0 || p.subPackage === 2)).map((p) => p.timestamp);
}

export function audioFrameCount(packets: Jt1078Packet[]): number {
  return packets.filter((p) => p.dataType === 3 && (p.subPackage === 0 || p.subPackage === 2)).length;
}
