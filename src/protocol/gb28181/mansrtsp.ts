/**
 * MANSRTSP (GB/T 28181-2016 Annex B): playback control carried in SIP INFO inside the
 * playback INVITE dialog, `Content-Type: Application/MANSRTSP`. Shapes as wvp and m7s send
 * them (shared reference gb28181.md §15), which devices accept:
 *
 *   pause   PAUSE RTSP/1.0 · CSeq: n · PauseTime: now
 *   resume  PLAY RTSP/1.0  · CSeq: n · Range: npt=now-
 *   seek    PLAY RTSP/1.0  · CSeq: n · Range: npt=<seconds from the start of the range>-
 *   speed   PLAY RTSP/1.0  · CSeq: n · Scale: <factor>
 *   stop    TEARDOWN RTSP/1.0 · CSeq: n
 *
 * The parser accepts `MANSRTSP/1.0` as the version too (the standard's own spelling).
 */

export const MANSRTSP_CONTENT_TYPE = 'Application/MANSRTSP';

/** Speeds devices accept (the standard names 1/4 … 4). */
export const MIN_SCALE = 0.25;
export const MAX_SCALE = 4;

export type PlaybackAction =
  | { action: 'pause' }
  | { action: 'resume' }
  /** Seconds from the start of the playback range. */
  | { action: 'seek'; position: number }
  | { action: 'speed'; scale: number }
  | { action: 'teardown' };

export interface MansrtspRequest {
  method: 'PLAY' | 'PAUSE' | 'TEARDOWN';
  cseq: number;
  /** `Range: npt=` start: 'now' or seconds; undefined without a Range header. */
  rangeStart?: 'now' | number;
  scale?: number;
  pauseTime?: string;
}

export type MansrtspParseResult = { ok: true; request: MansrtspRequest; action: PlaybackAction | undefined } | { ok: false; reason: string };

function formatNumber(n: number): string {
  return Number.isInteger(n) ? n.toFixed(1) : String(Math.round(n * 1000) / 1000);
}

/** The body text for an action; `cseq` is the MANSRTSP sequence (increase it per INFO). */
export function buildMansrtsp(action: PlaybackAction, cseq: number): string {
  if (!Number.isSafeInteger(cseq) || cseq < 1) throw new RangeError(`CSeq must be a positive integer, got ${cseq}`);
  const lines: string[] = [];
  switch (action.action) {
    case 'pause':
      lines.push('PAUSE RTSP/1.0', `CSeq: ${cseq}`, 'PauseTime: now');
      break;
    case 'resume':
      lines.push('PLAY RTSP/1.0', `CSeq: ${cseq}`, 'Range: npt=now-');
      break;
    case 'seek':
      if (!Number.isFinite(action.position) || action.position < 0) throw new RangeError(`seek position must be ≥ 0 seconds, got ${action.position}`);
      lines.push('PLAY RTSP/1.0', `CSeq: ${cseq}`, `Range: npt=${Number.isInteger(action.position) ? action.position : Math.round(action.position * 1000) / 1000}-`);
      break;
    case 'speed':
      if (!Number.isFinite(action.scale) || action.scale < MIN_SCALE || action.scale > MAX_SCALE) {
        throw new RangeError(`scale must be ${MIN_SCALE}–${MAX_SCALE}, got ${action.scale}`);
      }
      lines.push('PLAY RTSP/1.0', `CSeq: ${cseq}`, `Scale: ${formatNumber(action.scale)}`);
      break;
    case 'teardown':
      lines.push('TEARDOWN RTSP/1.0', `CSeq: ${cseq}`);
      break;
  }
  return lines.join('\r\n') + '\r\n';
}

const REQUEST_LINE = /^(PLAY|PAUSE|TEARDOWN)\s+(?:MANS)?RTSP\/1\.0$/i;

/** Parses a MANSRTSP body (for tests, devices and cascade). Never throws. */
export function parseMansrtsp(body: string | Uint8Array): MansrtspParseResult {
  const textBody = typeof body === 'string' ? body : Buffer.from(body).toString('latin1');
  if (textBody.length > 4096) return { ok: false, reason: 'MANSRTSP body too large' };
  const lines = textBody.split(/\r?\n/).map((l) => l.trim());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const first = REQUEST_LINE.exec(lines[0] ?? '');
  if (first === null) return { ok: false, reason: 'not a MANSRTSP request line' };
  const method = first[1]!.toUpperCase() as MansrtspRequest['method'];
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return { ok: false, reason: `bad MANSRTSP header line: ${line.slice(0, 40)}` };
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const cseqText = headers.get('cseq');
  const cseq = cseqText !== undefined && /^\d{1,15}$/.test(cseqText) ? Number(cseqText) : NaN;
  if (!Number.isFinite(cseq)) return { ok: false, reason: 'MANSRTSP CSeq missing or not a number' };
  const request: MansrtspRequest = { method, cseq };
  const range = headers.get('range');
  if (range !== undefined) {
    const m = /^npt\s*=\s*(now|\d+(?:\.\d+)?)\s*-\s*(?:\d+(?:\.\d+)?)?$/i.exec(range);
    if (m === null) return { ok: false, reason: `bad Range: ${range.slice(0, 40)}` };
    request.rangeStart = m[1]!.toLowerCase() === 'now' ? 'now' : Number(m[1]);
  }
  const scale = headers.get('scale');
  if (scale !== undefined) {
    if (!/^[+-]?\d+(?:\.\d+)?$/.test(scale)) return { ok: false, reason: `bad Scale: ${scale.slice(0, 40)}` };
    request.scale = Number(scale);
  }
  const pauseTime = headers.get('pausetime');
  if (pauseTime !== undefined) request.pauseTime = pauseTime;
  return { ok: true, request, action: actionOf(request) };
}

function actionOf(r: MansrtspRequest): PlaybackAction | undefined {
  if (r.method === 'PAUSE') return { action: 'pause' };
  if (r.method === 'TEARDOWN') return { action: 'teardown' };
  if (r.scale !== undefined) return { action: 'speed', scale: r.scale };
  if (r.rangeStart === 'now') return { action: 'resume' };
  if (typeof r.rangeStart === 'number') return { action: 'seek', position: r.rangeStart };
  return undefined;
}
