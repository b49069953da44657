/**
 * Loads JT1078 capture files (the formats of testdata/jt1078/SOURCES.md) into raw bytes,
 * for tests, the simulator and benchmarks.
 *
 * Why one loader: the public captures come in four shapes and each consumer would
 * otherwise re-invent the decoding (m7s-jt1078's simulator truncates at a stray newline):
 *  - 'hex': one run of hex digits (m7s debug/simulation files); whitespace and newlines
 *    anywhere are ignored;
 *  - 'csv': SmallChi's one-packet-per-line `time,SIM,seq,channel,<type>,<sub>,<hex>`
 *    (UTF-8, optional BOM); the last field is the packet;
 *  - 'labelled-hex': lines of `<label> <hex>` (m7s `g711a.txt`; raw codec frames, not
 *    JT1078 packets) — the hex tokens are concatenated, lines without one are skipped;
 *  - 'binary': anything else (tcpdump payload dumps, `.bin` captures) is used as is.
 * Not on the hot path: this may allocate and throws on a malformed text file.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export type CaptureFormat = 'hex' | 'csv' | 'labelled-hex' | 'binary';

export interface CaptureRecord {
  /** Byte range of the record (one CSV line / labelled line) in `bytes`. */
  offset: number;
  length: number;
  /** The CSV fields before the hex (time, SIM, sequence, channel, labels), or the label. */
  fields: string[];
}

export interface Capture {
  format: CaptureFormat;
  bytes: Buffer;
  /** Per-line records for 'csv' and 'labelled-hex'; empty otherwise. */
  records: CaptureRecord[];
}

const HEX_RUN = /^[0-9a-fA-F]+$/;

function hexToBuffer(hex: string, where: string): Buffer {
  if (hex.length % 2 !== 0) throw new Error(`capture: odd number of hex digits in ${where}`);
  if (!HEX_RUN.test(hex)) throw new Error(`capture: non-hex characters in ${where}`);
  return Buffer.from(hex, 'hex');
}

/** Text if it decodes as UTF-8 without control characters other than whitespace. */
function asText(content: Uint8Array): string | null {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(content);
  } catch {
    return null;
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) return null;
  return text;
}

/** Decode a capture held in memory; the format is detected from the content. */
export function decodeCapture(content: Uint8Array): Capture {
  const text = content.length > 0 ? asText(content) : null;
  if (text === null) {
    const bytes = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    return { format: 'binary', bytes, records: [] };
  }
  const compact = text.replace(/\s+/g, '');
  if (compact.length > 0 && HEX_RUN.test(compact)) {
    return { format: 'hex', bytes: hexToBuffer(compact, 'hex capture'), records: [] };
  }
  const lines = text.split(/\r?\n/);
  const nonEmpty = lines.filter((line) => line.trim().length > 0);
  const isCsv = nonEmpty.length > 0 && nonEmpty.every((line) => line.includes(','));
  const parts: Buffer[] = [];
  const records: CaptureRecord[] = [];
  let offset = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line.length === 0) continue;
    let fields: string[];
    let hex: string;
    if (isCsv) {
      fields = line.split(',');
      hex = fields.pop()!.trim();
    } else {
      const space = line.lastIndexOf(' ');
      hex = line.slice(space + 1);
      if (!HEX_RUN.test(hex)) continue; // a label line
      fields = [line.slice(0, space).trim()];
    }
    const bytes = hexToBuffer(hex, `line ${i + 1}`);
    parts.push(bytes);
    records.push({ offset, length: bytes.length, fields });
    offset += bytes.length;
  }
  if (records.length === 0) {
    const bytes = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    return { format: 'binary', bytes, records: [] };
  }
  return { format: isCsv ? 'csv' : 'labelled-hex', bytes: Buffer.concat(parts, offset), records };
}

export async function loadCapture(path: string | URL): Promise<Capture> {
  return decodeCapture(await readFile(path));
}

export function loadCaptureSync(path: string | URL): Capture {
  return decodeCapture(readFileSync(path));
}
