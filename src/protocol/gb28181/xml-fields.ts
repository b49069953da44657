/**
 * Field access and document building shared by the MANSCDP parsers and builders
 * (manscdp.ts, control.ts). Internal to the gb28181 folder: not exported from index.ts.
 *
 * Why tolerant lookups: vendors write `Sn`, `deviceID`, pad numbers with spaces and send one
 * `<Item>` where a list is meant; every accessor returns undefined rather than throwing.
 */
import { XMLBuilder } from 'fast-xml-parser';


const PREDEFINED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Decodes predefined and numeric entities only; anything else is left verbatim. */
export function decodeEntities(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]+);/g, (whole, body: string) => {
    if (body[0] !== '#') return PREDEFINED_ENTITIES[body] ?? whole;
    const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
    const allowed = code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
    return allowed ? String.fromCodePoint(code) : '';
  });
}

export type XmlObject = Record<string, unknown>;

export function isObject(v: unknown): v is XmlObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Field lookup: exact name first, then case-insensitive (some vendors write `Sn`, `deviceID`). */
export function field(obj: unknown, name: string): unknown {
  if (!isObject(obj)) return undefined;
  if (Object.prototype.hasOwnProperty.call(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(obj)) if (key.toLowerCase() === lower) return obj[key];
  return undefined;
}

/** Text content of a parsed node: first of a repeated tag, `#text` of an element with attributes. */
export function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.length > 0 ? text(v[0]) : undefined;
  if (isObject(v)) {
    const inner = v['#text'];
    return inner === undefined ? '' : text(inner);
  }
  return undefined;
}

/** Present and non-empty text, else undefined. */
export function str(obj: unknown, name: string): string | undefined {
  const t = text(field(obj, name));
  return t === undefined || t === '' ? undefined : t;
}

/** Integers as devices write them: ' 12 ', '+3', '007'. Empty or junk → undefined. */
export function parseLooseInt(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = value.trim();
  if (!/^[+-]?\d+$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function parseLooseFloat(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = value.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

export function int(obj: unknown, name: string): number | undefined {
  return parseLooseInt(text(field(obj, name)));
}

export function float(obj: unknown, name: string): number | undefined {
  return parseLooseFloat(text(field(obj, name)));
}

export function list(v: unknown): unknown[] {
  if (v === undefined || v === null || v === '') return [];
  return Array.isArray(v) ? v : [v];
}

/** Drops undefined properties so results compare cleanly and JSON stays small. */
export function compact<T extends object>(value: T): T {
  for (const key of Object.keys(value) as Array<keyof T>) if (value[key] === undefined) delete value[key];
  return value;
}

/** Boolean-ish flags devices send: 1/0, ON/OFF, TRUE/FALSE, YES/NO. */
export function flag(obj: unknown, name: string): boolean | undefined {
  const t = str(obj, name)?.toUpperCase();
  if (t === undefined) return undefined;
  if (t === '1' || t === 'ON' || t === 'TRUE' || t === 'YES') return true;
  if (t === '0' || t === 'OFF' || t === 'FALSE' || t === 'NO') return false;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Building

const builder = new XMLBuilder({ format: true, indentBy: '', suppressEmptyNode: false, ignoreAttributes: false, attributeNamePrefix: '@_' });

const XML_DECLARATION = '<?xml version="1.0" encoding="GB2312"?>\n';

/** Drops undefined fields at every depth: an empty element would tell the device "filter on empty". */
function clean(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clean);
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, clean(v)]),
  );
}

/** A MANSCDP document: GB2312 declaration (the body is encoded by encodeXmlBody), one root. */
export function manscdpDocument(root: string, body: Record<string, unknown>): string {
  return XML_DECLARATION + builder.build({ [root]: clean(body) });
}
