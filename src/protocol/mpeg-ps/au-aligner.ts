/**
 * Re-cuts a video stream into access units when the PS was not packed frame by frame
 * (ffmpeg `-f vob`: 2 KB packs, a PES carries a PTS only for the first access unit starting
 * in it and may begin with the tail of the previous one). GB28181 cameras pack one frame per
 * pack, so this stage is opt-in (`PsDemuxer` option `alignAccessUnits`): it costs a scan of
 * every byte, one copy and one frame of delay.
 *
 * Timestamps follow ISO 13818-1: a PES's PTS belongs to the first access unit that starts in
 * it; access units without one get the previous time plus the measured frame duration.
 */
import type { AvFrame, VideoCodec } from '../av/frame.js';
import { findStartCode, nalType } from './nal.js';

interface TimeMark {
  offset: number;
  pts: number;
  dts: number;
}

export class AccessUnitAligner {
  private buf: Uint8Array = Buffer.allocUnsafeSlow(256 * 1024);
  private length = 0;
  private auStart = 0;
  private auHasVcl = false;
  private auKey = false;
  private scanPos = 0;
  private codec: VideoCodec = 'h264';
  private readonly marks: TimeMark[] = [];

  private lastPts = 0;
  private lastDts = 0;
  private haveMark = false;
  private lastMarkedDts = 0;
  private ausSinceMark = 0;
  private duration: number;

  private readonly maxAccessUnitBytes: number;
  /** Access units dropped for growing past `maxAccessUnitBytes` (no boundary found). */
  oversize = 0;

  constructor(
    private readonly onFrame: (frame: AvFrame) => void,
    options: { defaultFrameDuration?: number; maxAccessUnitBytes?: number } = {},
  ) {
    this.duration = options.defaultFrameDuration ?? 3600;
    this.maxAccessUnitBytes = options.maxAccessUnitBytes ?? 8 * 1024 * 1024;
  }

  /** Bytes held for the access unit not yet complete. */
  get bufferedBytes(): number {
    return this.length - this.auStart;
  }

  /** A video frame from the demuxer (any cut); complete access units come out of `onFrame`. */
  push(frame: AvFrame): void {
    if (frame.kind !== 'video') {
      this.onFrame(frame);
      return;
    }
    if (frame.codec !== this.codec && (frame.codec === 'h264' || frame.codec === 'h265')) {
      this.flush();
      this.codec = frame.codec;
    }
    if (this.length - this.auStart + frame.data.length > this.maxAccessUnitBytes) {
      // No access unit boundary in sight: drop what is held and start over with this frame.
      this.oversize++;
      this.flush(false);
      if (frame.data.length > this.maxAccessUnitBytes) return;
    }
    this.marks.push({ offset: this.length, pts: frame.pts, dts: frame.dts });
    this.append(frame.data);
    this.scan();
  }

  /** End of input: the last access unit is complete (or dropped, with `emit` false). */
  flush(emit = true): void {
    if (emit && this.length > this.auStart) this.emit(this.auStart, this.length);
    this.length = 0;
    this.auStart = 0;
    this.scanPos = 0;
    this.auHasVcl = false;
    this.auKey = false;
    this.marks.length = 0;
  }

  private append(data: Uint8Array): void {
    if (this.auStart > 0 && this.length + data.length > this.buf.length) {
      // Move the open access unit to the front before growing.
      this.buf.copyWithin(0, this.auStart, this.length);
      const shift = this.auStart;
      this.length -= shift;
      this.scanPos -= shift;
      this.auStart = 0;
      for (const m of this.marks) m.offset -= shift;
    }
    if (this.length + data.length > this.buf.length) {
      const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.length + data.length));
      next.set(this.buf.subarray(0, this.length), 0);
      this.buf = next;
    }
    this.buf.set(data, this.length);
    this.length += data.length;
  }

  private scan(): void {
    const buf = this.buf;
    const h264 = this.codec === 'h264';
    // Bytes after the start code needed to judge a NAL: header + first slice-header byte.
    const need = h264 ? 2 : 3;
    let sc = findStartCode(buf, this.scanPos, this.length);
    while (sc >= 0) {
      const header = sc + 3;
      if (header + need > this.length) {
        this.scanPos = sc;
        return;
      }
      const type = nalType(buf, header, this.codec);
      const vcl = h264 ? type >= 1 && type <= 5 : type <= 31;
      const firstSlice = vcl && (buf[header + need - 1]! & 0x80) !== 0;
      const startsAu = h264 ? type === 6 || type === 7 || type === 8 || type === 9 || firstSlice : (type >= 32 && type <= 35) || type === 39 || firstSlice;
      if (startsAu && this.auHasVcl) {
        const nalStart = sc > this.auStart && buf[sc - 1] === 0 ? sc - 1 : sc;
        this.emit(this.auStart, nalStart);
        this.auStart = nalStart;
        this.auHasVcl = false;
        this.auKey = false;
      }
      this.auHasVcl ||= vcl;
      this.auKey ||= h264 ? type === 5 || type === 7 : (type >= 16 && type <= 21) || type === 32;
      sc = findStartCode(buf, header + 1, this.length);
    }
    this.scanPos = Math.max(this.scanPos, this.length - 3);
  }

  private emit(start: number, end: number): void {
    // The PTS of the last PES that began at or before this access unit's start code.
    let mark: TimeMark | undefined;
    while (this.marks.length > 0 && this.marks[0]!.offset <= start + 3) mark = this.marks.shift();
    let pts: number;
    let dts: number;
    if (mark !== undefined) {
      // Measure the frame duration over the access units since the previous PTS.
      if (this.haveMark) {
        const step = Math.round((mark.dts - this.lastMarkedDts) / (this.ausSinceMark + 1));
        if (step > 0) this.duration = step;
      }
      this.haveMark = true;
      this.lastMarkedDts = mark.dts;
      this.ausSinceMark = 0;
      pts = mark.pts;
      dts = mark.dts;
    } else {
      // Interpolated: the previous time plus the frame duration seen so far.
      pts = this.lastPts + this.duration;
      dts = this.lastDts + this.duration;
      this.ausSinceMark++;
    }
    this.lastPts = pts;
    this.lastDts = dts;
    const data = Buffer.allocUnsafe(end - start);
    data.set(this.buf.subarray(start, end), 0);
    this.onFrame({ kind: 'video', codec: this.codec, key: this.auKey, pts, dts, data });
  }
}
