/**
 * MANSCDP times carry no zone: they are the device's local wall clock. We interpret and
 * format them at a configurable UTC offset, default +08:00 (China). Parsed times are unix
 * seconds.
 */

export const CHINA_UTC_OFFSET_MINUTES = 480;


const TIME_PATTERN = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:\s*T\s*|\s+|)(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * MANSCDP time → unix seconds. Accepts `YYYY-MM-DDTHH:mm:ss`, a space or nothing instead of the
 * T, missing seconds, fractions, and an explicit zone (which then wins over the offset).
 */
export function parseManscdpTime(value: string | undefined, utcOffsetMinutes = CHINA_UTC_OFFSET_MINUTES): number | undefined {
  if (value === undefined) return undefined;
  const m = TIME_PATTERN.exec(value.trim());
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  // year < 100 would also be misread by Date.UTC as 19xx.
  if (year < 100 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59));
  const check = new Date(asUtc);
  if (check.getUTCDate() !== day) return undefined; // 31 February and friends
  let offset = utcOffsetMinutes;
  const zone = m[7];
  if (zone !== undefined) {
    if (zone.toUpperCase() === 'Z') offset = 0;
    else {
      const digits = zone.replace(':', '');
      const sign = digits[0] === '-' ? -1 : 1;
      offset = sign * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5)));
    }
  }
  return Math.floor(asUtc / 1000) - offset * 60;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/**
 * Unix seconds → `YYYY-MM-DDTHH:mm:ss` wall clock at the given offset. Throws RangeError outside
 * years 0000–9999, which is what passing milliseconds by mistake looks like.
 */
export function formatManscdpTime(unixSeconds: number, utcOffsetMinutes = CHINA_UTC_OFFSET_MINUTES): string {
  const d = new Date((Math.floor(unixSeconds) + utcOffsetMinutes * 60) * 1000);
  const year = d.getUTCFullYear();
  if (!Number.isFinite(year) || year < 0 || year > 9999) throw new RangeError(`time out of range (unix seconds expected): ${unixSeconds}`);
  return `${String(year).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}

