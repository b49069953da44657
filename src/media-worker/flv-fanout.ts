/**
 * Frames in, FLV fan-out: the per-worker FlvServer's view of a stream while it still serves
 * viewers from the worker. Dead once the media process serves every viewer
 * (src/media-process/viewers/) from the tags of src/media-worker/flv-publisher.ts.
 */
import type { AvFrame } from '../protocol/av/frame.js';
import { FlvMuxer } from '../protocol/flv/muxer.js';
import { FlvFanout } from '../media-process/viewers/flv-fanout.js';

export type { FlvViewerSink } from '../media-process/viewers/flv-fanout.js';

export class FrameFlvFanout extends FlvFanout {
  readonly muxer = new FlvMuxer();

  /** Mux a frame once and fan its tags out. */
  push(frame: AvFrame): void {
    const tags = this.muxer.mux(frame);
    this.setStreamInfo(this.muxer.info);
    for (let i = 0; i < tags.length; i++) this.pushTag(tags[i]!);
  }
}
