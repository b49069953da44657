/**
 * MANSCDP bodies exactly as the shared SIPp device scenarios send them, read at test time from
 * /work/shared/sipp so the tests follow the scenarios. SIPp strips each line's leading
 * whitespace and substitutes [keywords]; we do the same with fixed values.
 */
import { readFileSync } from 'node:fs';

export const SIPP_DIR = new URL('../../../../shared/sipp/', import.meta.url);

/** Device (IPC) ID from device1.csv and the IDs the scenarios derive from it. */
export const DEVICE_ID = '34020000001320000001';
export const SN = 4711;
export const CAMERA_ID = '34020000001310000001';
export const ALARM_IN_ID = '34020000001340000001';

const SUBSTITUTIONS: Record<string, string> = {
  '[$sn]': String(SN),
  '[$dev]': DEVICE_ID,
  '[$dev_pre]': DEVICE_ID.slice(0, 10),
  '[$dev_post]': DEVICE_ID.slice(13),
  '[field0]': DEVICE_ID,
  '[cseq]': String(SN),
};

export interface SippBody {
  file: string;
  cmdType: string;
  root: string;
  text: string;
}

/** Every MANSCDP body of MESSAGE requests in one scenario file, in file order. */
export function sippBodies(file: string): SippBody[] {
  const scenario = readFileSync(new URL(file, SIPP_DIR), 'utf8');
  const bodies: SippBody[] = [];
  for (const match of scenario.matchAll(/<!\[CDATA\[([\s\S]*?)\]\]>/g)) {
    const lines = match[1]!.split('\n').map((l) => l.trimStart().replace(/\r$/, ''));
    while (lines.length > 0 && lines[0] === '') lines.shift();
    if (!lines[0]?.startsWith('MESSAGE ') || !lines.some((l) => /^Content-Type:\s*Application\/MANSCDP\+xml/i.test(l))) continue;
    const blank = lines.indexOf('');
    let text = lines.slice(blank + 1).join('\n').trim();
    for (const [key, value] of Object.entries(SUBSTITUTIONS)) text = text.split(key).join(value);
    const cmdType = /<CmdType>([^<]*)<\/CmdType>/.exec(text)?.[1] ?? '';
    const root = /<(Query|Response|Notify|Control)>/.exec(text)?.[1] ?? '';
    bodies.push({ file, cmdType, root, text });
  }
  return bodies;
}

/** The single body of a given CmdType in a file (throws if absent, so a scenario change is loud). */
export function sippBody(file: string, cmdType: string): string {
  const found = sippBodies(file).filter((b) => b.cmdType === cmdType);
  if (found.length === 0) throw new Error(`no ${cmdType} MESSAGE body in ${file}`);
  return found[0]!.text;
}
