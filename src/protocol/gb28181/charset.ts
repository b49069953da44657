/**
 * Byte ↔ text for MANSCDP bodies.
 *
 * Why a module of its own: devices disagree about encodings. The standard says GB2312, many
 * units send GBK or GB18030 characters under that label, some send UTF-8 while declaring
 * GB2312, some send no declaration at all, and some put control characters or garbage bytes in
 * free-text fields (Hikvision `Address`, NUL padding). Decoding must therefore never throw and
 * must hand the XML parser text it can digest.
 *
 * Rules, in order:
 * 1. A byte-order mark wins (UTF-8, UTF-16LE/BE) and is stripped.
 * 2. Otherwise the XML declaration's `encoding`, then the Content-Type `charset`.
 *    GB2312, GBK, CP936 and GB18030 are all decoded as GB18030, their superset, so rare
 *    characters outside GB2312 survive.
 * 3. Mislabelled bodies: a GB-family label on bytes that are valid UTF-8 *and* contain at
 *    least one 3- or 4-byte sequence (as every UTF-8 Chinese character is) is treated as UTF-8.
 *    Real GB2312 text is rarely valid UTF-8 (GB lead bytes B0–BF are UTF-8 continuation bytes),
 *    and requiring a 3-byte sequence removes the common accidental case, a lone GB character
 *    that reads as a 2-byte UTF-8 Latin/Greek letter. Measured on random GB2312 hanzi: a
 *    one-character name is never misread, two characters 0.14 %, three 0.05 %; the longer the
 *    body's Chinese text, the smaller the risk. The reverse (a UTF-8 label on non-UTF-8 bytes)
 *    is NOT second-guessed: GB18030 accepts nearly any byte string, so one stray byte would
 *    otherwise garble a whole UTF-8 body.
 * 4. No usable label: UTF-8 if the bytes are valid UTF-8 and either pure ASCII or hold a 3/4-byte
 *    sequence (same reasoning as rule 3), otherwise GB18030.
 * 5. After decoding, C0 control characters other than tab, CR and LF (and U+FFFE/U+FFFF) are
 *    removed; invalid sequences become U+FFFD.
 */
import iconv from 'iconv-lite';

/** Where the charset decision came from; useful in logs when a device's names look wrong. */
export type CharsetSource = 'bom' | 'declaration' | 'content-type' | 'detected';

export interface DecodedXmlBody {
  text: string;
  /** Canonical name of the decoder actually used: 'UTF-8', 'GB18030', 'UTF-16LE', ... */
  charset: string;
  source: CharsetSource;
  /** True when a GB-family label was overridden because the bytes were UTF-8 (rule 3). */
  mislabelled: boolean;
}

const GB_FAMILY = new Set(['GB2312', 'GBK', 'GB18030', 'CP936', 'X-GBK', 'EUC-CN', 'GB_2312-80', 'CSGB2312', 'MS936', 'WINDOWS-936']);
const UTF8_LABELS = new Set(['UTF-8', 'UTF8', 'UNICODE-1-1-UTF-8']);
/** Labels that say nothing useful about high bytes; treated as "no label". */
const ASCII_LABELS = new Set(['US-ASCII', 'ASCII', 'ANSI_X3.4-1968']);

/**
 * Maps a charset label to the decoder we use: 'UTF-8', 'GB18030', another label iconv-lite
 * knows (upper-cased), or undefined for an absent, ASCII-only or unknown label.
 */
export function canonicalCharset(label: string | undefined): string | undefined {
  if (label === undefined) return undefined;
  const upper = label.trim().replace(/^["']|["']$/g, '').toUpperCase();
  if (upper === '' || ASCII_LABELS.has(upper)) return undefined;
  if (GB_FAMILY.has(upper)) return 'GB18030';
  if (UTF8_LABELS.has(upper)) return 'UTF-8';
  return iconv.encodingExists(upper) ? upper : undefined;
}

/** Accepts a bare label ("GB2312") or a whole Content-Type value ("Application/MANSCDP+xml; charset=GB2312"). */
function charsetFromContentType(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const m = /charset\s*=\s*("?)([^";\s]+)\1/i.exec(value);
  if (m !== null) return m[2];
  return value.includes('/') ? undefined : value;
}

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });
const utf8Lenient = new TextDecoder('utf-8', { fatal: false });

/** Strict UTF-8 validity (overlongs and surrogates rejected by the WHATWG decoder). */
export function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    utf8Fatal.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** In bytes already known to be valid UTF-8, a byte ≥ 0xE0 can only lead a 3- or 4-byte sequence. */
function hasWideUtf8Sequence(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0xe0) return true;
  return false;
}

/**
 * Unlabelled bytes: UTF-8 when valid and either pure ASCII or holding a 3/4-byte sequence.
 * Valid UTF-8 made only of 2-byte sequences is far more often one or two GB characters
 * (13.8 % of single GB2312 hanzi are valid 2-byte UTF-8) than Latin text from a Chinese device.
 */
function looksUtf8(bytes: Uint8Array): boolean {
  if (!isValidUtf8(bytes)) return false;
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return hasWideUtf8Sequence(bytes);
  return true;
}

/** The declaration is ASCII in every encoding we accept, so it can be read from the raw bytes. */
function declaredEncoding(bytes: Uint8Array): string | undefined {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 512)).toString('latin1');
  const start = head.indexOf('<?xml');
  if (start < 0) return undefined;
  const end = head.indexOf('?>', start);
  const decl = head.slice(start, end < 0 ? head.length : end);
  const m = /encoding\s*=\s*["']?([A-Za-z0-9._:-]+)/.exec(decl);
  return m === null ? undefined : m[1];
}

// eslint-disable-next-line no-control-regex
const XML_INVALID_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

/** Removes characters XML 1.0 forbids, keeping tab, CR and LF. */
export function stripXmlInvalidChars(text: string): string {
  return text.replace(XML_INVALID_CHARS, '');
}

function decodeWith(bytes: Uint8Array, charset: string): string {
  if (charset === 'UTF-8') return utf8Lenient.decode(bytes);
  return iconv.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), charset === 'GB18030' ? 'gb18030' : charset);
}

/** Decodes a MANSCDP body. Never throws; see the module comment for the rules. */
export function decodeXmlBody(bytes: Uint8Array, contentTypeCharset?: string): DecodedXmlBody {
  const finish = (body: Uint8Array, charset: string, source: CharsetSource, mislabelled = false): DecodedXmlBody => ({
    text: stripXmlInvalidChars(decodeWith(body, charset)).replace(/^\uFEFF/, ''),
    charset,
    source,
    mislabelled,
  });

  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return finish(bytes.subarray(3), 'UTF-8', 'bom');
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return finish(bytes.subarray(2), 'UTF-16LE', 'bom');
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) return finish(bytes.subarray(2), 'UTF-16BE', 'bom');

  // A declaration we could read as ASCII cannot be telling the truth about UTF-16/32.
  const declared = declaredEncoding(bytes);
  let label = declared !== undefined && /^(UTF-?(16|32)|UCS)/i.test(declared) ? undefined : canonicalCharset(declared);
  let source: CharsetSource = 'declaration';
  if (label === undefined) {
    label = canonicalCharset(charsetFromContentType(contentTypeCharset));
    source = 'content-type';
  }
  if (label === undefined) return finish(bytes, looksUtf8(bytes) ? 'UTF-8' : 'GB18030', 'detected');
  if (label === 'GB18030' && hasWideUtf8Sequence(bytes) && isValidUtf8(bytes)) return finish(bytes, 'UTF-8', 'detected', true);
  return finish(bytes, label, source);
}

const DECLARATION = /^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])([^"']*)\2/;

/**
 * Encodes a MANSCDP body. GB2312/GBK/GB18030 all use the GB18030 encoder (identical bytes for
 * GB2312 characters, and rare characters are not lost). If the text's XML declaration names a
 * charset of a different family than the one we encode with, the declaration is rewritten so
 * the body never lies about itself. Unknown charsets are a programmer error and throw.
 */
export function encodeXmlBody(text: string, charset = 'GB2312'): Uint8Array {
  const target = canonicalCharset(charset) ?? (ASCII_LABELS.has(charset.trim().toUpperCase()) ? 'UTF-8' : undefined);
  if (target === undefined) throw new TypeError(`unsupported charset ${JSON.stringify(charset)}`);
  const fixed = text.replace(DECLARATION, (whole, prefix: string, quote: string, declared: string) =>
    canonicalCharset(declared) === target ? whole : `${prefix}${quote}${charset}${quote}`,
  );
  if (target === 'UTF-8') return Buffer.from(fixed, 'utf8');
  return iconv.encode(fixed, target === 'GB18030' ? 'gb18030' : target);
}
