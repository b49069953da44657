import uws from 'uWebSockets.js';
import { FlvFanout, type FlvViewerSink } from './flv-fanout.js';

/**
 * The built-in viewer server of one media worker: HTTP-FLV and WS-FLV through
 * uWebSockets.js, for the streams that live on this worker (a stream's viewers
 * are served by the thread that has its frames, so nothing crosses threads per
 * frame). URL: `/<stream name>.flv`, e.g. `/rtp/0BEBC201.flv` or
 * `/live/jt1078-13800000000-1.flv`. Each worker listens on `media.httpPort + slot`.
 */

/** Above the fan-out's limit, below its hard limit: a backpressured HTTP viewer drops to the next key frame. */
const HTTP_BACKPRESSURE_BYTES = 2 * 1024 * 1024 + 1;

export class FlvServer {
  #app = uws.App();
  #listen: uws.us_listen_socket | null = null;
  #streams = new Map<string, FlvFanout>();
  readonly port: number;
  #host: string;
  #onBytes: (n: number) => void;

  constructor(host: string, port: number, onBytes: (n: number) => void = () => undefined) {
    this.#host = host;
    this.port = port;
    this.#onBytes = onBytes;
    this.#app.get('/*', (res, req) => this.#http(res, req));
    this.#app.ws<{ name: string; viewer?: unknown; closed?: boolean }>('/*', {
      maxBackpressure: 8 * 1024 * 1024,
      closeOnBackpressureLimit: 0,
      idleTimeout: 0,
      upgrade: (res, req, context) => {
        const name = streamName(req.getUrl());
        if (!name || !this.#streams.has(name)) {
          res.writeStatus('404 Not Found').end('no such stream');
          return;
        }
        res.upgrade({ name }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
      },
      open: (ws) => {
        const data = ws.getUserData();
        const fanout = this.#streams.get(data.name);
        if (!fanout) return void ws.end(1011, 'stream gone');
        const sink: FlvViewerSink = {
          write: (bytes) => {
            if (data.closed) return false;
            this.#onBytes(bytes.length);
            return ws.send(bytes, true) === 1;
          },
          bufferedAmount: () => (data.closed ? 0 : ws.getBufferedAmount()),
          close: () => {
            if (data.closed) return;
            data.closed = true;
            ws.end(1000, 'stream ended');
          },
        };
        data.viewer = fanout.addViewer(sink, { id: `ws:${data.name}` });
      },
      close: (ws) => {
        const data = ws.getUserData();
        data.closed = true;
        const fanout = this.#streams.get(data.name);
        if (fanout && data.viewer) fanout.removeViewer(data.viewer as never);
      },
    });
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#app.listen(this.#host, this.port, (socket) => {
        if (!socket) return reject(new Error(`cannot listen on ${this.#host}:${this.port} for FLV viewers`));
        this.#listen = socket;
        resolve();
      });
    });
  }

  #http(res: uws.HttpResponse, req: uws.HttpRequest): void {
    const name = streamName(req.getUrl());
    const fanout = name ? this.#streams.get(name) : undefined;
    if (!fanout) {
      res.writeStatus('404 Not Found').writeHeader('Access-Control-Allow-Origin', '*').end('no such stream');
      return;
    }
    let aborted = false;
    let backpressured = false;
    const onBytes = this.#onBytes;
    res.cork(() => {
      res.writeStatus('200 OK').writeHeader('Content-Type', 'video/x-flv').writeHeader('Access-Control-Allow-Origin', '*').writeHeader('Cache-Control', 'no-cache');
    });
    const sink: FlvViewerSink = {
      write(bytes) {
        if (aborted) return false;
        onBytes(bytes.length);
        let ok = true;
        res.cork(() => {
          ok = res.write(bytes);
        });
        if (!ok && !backpressured) {
          backpressured = true;
          res.onWritable(() => {
            backpressured = false;
            return true;
          });
        }
        return ok;
      },
      bufferedAmount: () => (backpressured ? HTTP_BACKPRESSURE_BYTES : 0),
      close() {
        if (aborted) return;
        aborted = true;
        res.cork(() => res.end());
      },
    };
    res.onAborted(() => {
      aborted = true;
      fanout.removeViewer(viewer);
    });
    const viewer = fanout.addViewer(sink, { id: `http:${name}` });
  }

  addStream(name: string): FlvFanout {
    this.#streams.get(name)?.close('replaced');
    const fanout = new FlvFanout({});
    this.#streams.set(name, fanout);
    return fanout;
  }

  get(name: string): FlvFanout | undefined {
    return this.#streams.get(name);
  }

  removeStream(name: string, reason: string): void {
    this.#streams.get(name)?.close(reason);
    this.#streams.delete(name);
  }

  get viewers(): number {
    let n = 0;
    for (const f of this.#streams.values()) n += f.viewerCount;
    return n;
  }

  /** Streams with no viewer since before `cutoff` (ms since epoch). */
  idleStreams(cutoff: number): string[] {
    const out: string[] = [];
    for (const [name, f] of this.#streams) {
      const since = f.idleSince;
      if (since !== undefined && since <= cutoff) out.push(name);
    }
    return out;
  }

  close(): void {
    for (const [name] of this.#streams) this.removeStream(name, 'shutdown');
    if (this.#listen) uws.us_listen_socket_close(this.#listen);
    this.#listen = null;
  }
}

/** `/rtp/0BEBC201.flv` → `rtp/0BEBC201`; also accepts `.live.flv` (ZLMediaKit's form). */
export function streamName(url: string): string | undefined {
  const m = /^\/(.+?)(?:\.live)?\.flv$/.exec(url);
  if (!m) return undefined;
  return m[1]!.split('/').every((part) => /^[A-Za-z0-9_.-]+$/.test(part)) ? m[1] : undefined;
}
