import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { FrameFlvFanout as FlvFanout, type FlvViewerSink } from './flv-fanout.js';

/**
 * The built-in viewer server of one media worker: HTTP-FLV and WS-FLV for the
 * streams that live on this worker (a stream's viewers are served by the thread
 * that has its frames, so nothing crosses threads per frame). URL:
 * `/<stream name>.flv`, e.g. `/rtp/0BEBC201.flv` or `/live/jt1078-13800000000-1.flv`.
 * Each worker listens on `media.httpPort + slot`.
 *
 * Why node:http and not uWebSockets.js here: a worker thread holding a uWS socket
 * aborts the whole process when it is terminated ("uv_loop_close() while having
 * open handles"), and restarting a dead worker is exactly what the media process
 * must be able to do. The WebSocket side is the server half of RFC 6455 that FLV
 * needs: handshake, unmasked binary frames out, close and ping handled.
 */

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Buffered bytes past which a viewer counts as slow (the fan-out then drops to the next key frame). */
const SOFT_LIMIT = 1024 * 1024;

export class FlvServer {
  #server: Server;
  #streams = new Map<string, FlvFanout>();
  readonly port: number;
  #host: string;
  #onBytes: (n: number) => void;
  #sockets = new Set<Duplex>();

  constructor(host: string, port: number, onBytes: (n: number) => void = () => undefined) {
    this.#host = host;
    this.port = port;
    this.#onBytes = onBytes;
    this.#server = createServer((req, res) => this.#http(req, res));
    this.#server.on('upgrade', (req, socket) => this.#websocket(req, socket));
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.port, this.#host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
  }

  #http(req: IncomingMessage, res: ServerResponse): void {
    const name = streamName(req.url ?? '');
    const fanout = name ? this.#streams.get(name) : undefined;
    if (req.method !== 'GET' || !fanout) {
      res.writeHead(404, { 'Access-Control-Allow-Origin': '*' }).end('no such stream');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'video/x-flv', 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-cache' });
    res.socket?.setNoDelay(true);
    let closed = false;
    const onBytes = this.#onBytes;
    const viewer = fanout.addViewer(
      {
        write(bytes) {
          if (closed) return false;
          onBytes(bytes.length);
          res.write(bytes);
          // Node's write() says false past a 16 KiB high-water mark, which one key
          // frame exceeds; backpressure is judged on the buffered bytes instead.
          return res.writableLength < SOFT_LIMIT;
        },
        bufferedAmount: () => res.writableLength,
        close() {
          if (closed) return;
          closed = true;
          res.end();
        },
      },
      { id: `http:${name}`, audio: wantsAudio(req.url ?? '') },
    );
    res.on('close', () => {
      closed = true;
      fanout.removeViewer(viewer);
    });
  }

  #websocket(req: IncomingMessage, socket: Duplex): void {
    const name = streamName(req.url ?? '');
    const fanout = name ? this.#streams.get(name) : undefined;
    const key = req.headers['sec-websocket-key'];
    if (!fanout || typeof key !== 'string' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    let closed = false;
    const onBytes = this.#onBytes;
    const sink: FlvViewerSink = {
      write(bytes) {
        if (closed) return false;
        onBytes(bytes.length);
        socket.write(frameHeader(0x2, bytes.length));
        socket.write(bytes);
        return (socket as unknown as { writableLength: number }).writableLength < SOFT_LIMIT;
      },
      bufferedAmount: () => (socket as unknown as { writableLength: number }).writableLength ?? 0,
      close() {
        if (closed) return;
        closed = true;
        socket.end(Buffer.from([0x88, 0x02, 0x03, 0xe8])); // close, 1000
      },
    };
    const viewer = fanout.addViewer(sink, { id: `ws:${name}`, audio: wantsAudio(req.url ?? '') });
    let input = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      input = Buffer.concat([input, chunk]);
      let consumed = 0;
      for (const frame of clientFrames(input)) {
        consumed += frame.consumed;
        if (frame.opcode === 0x8) sink.close('viewer closed');
        else if (frame.opcode === 0x9 && !closed) socket.write(Buffer.concat([frameHeader(0xa, frame.payload.length), frame.payload]));
      }
      input = input.subarray(consumed);
      if (input.length > 65_536) socket.destroy(); // viewers have nothing big to say
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      fanout.removeViewer(viewer);
    });
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
    for (const socket of this.#sockets) socket.destroy();
    this.#server.close();
  }
}

/** A server frame header (FIN set, unmasked). */
function frameHeader(opcode: number, length: number): Buffer {
  if (length < 126) return Buffer.from([0x80 | opcode, length]);
  if (length < 65_536) {
    const h = Buffer.alloc(4);
    h[0] = 0x80 | opcode;
    h[1] = 126;
    h.writeUInt16BE(length, 2);
    return h;
  }
  const h = Buffer.alloc(10);
  h[0] = 0x80 | opcode;
  h[1] = 127;
  h.writeBigUInt64BE(BigInt(length), 2);
  return h;
}

/** Complete (masked) client frames at the start of `data`. */
function* clientFrames(data: Buffer): Generator<{ opcode: number; payload: Buffer; consumed: number }> {
  let at = 0;
  for (;;) {
    if (data.length - at < 2) return;
    const opcode = data[at]! & 0x0f;
    const masked = (data[at + 1]! & 0x80) !== 0;
    let length = data[at + 1]! & 0x7f;
    let offset = at + 2;
    if (length === 126) {
      if (data.length < offset + 2) return;
      length = data.readUInt16BE(offset);
      offset += 2;
    } else if (length === 127) {
      if (data.length < offset + 8) return;
      length = Number(data.readBigUInt64BE(offset));
      offset += 8;
    }
    const maskBytes = masked ? 4 : 0;
    if (data.length < offset + maskBytes + length) return;
    const payload = Buffer.from(data.subarray(offset + maskBytes, offset + maskBytes + length));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= data[offset + (i & 3)]!;
    const consumed = offset + maskBytes + length - at;
    at += consumed;
    yield { opcode, payload, consumed };
  }
}

/**
 * `?audio=0` leaves audio out for this viewer: mpegts.js plays only AAC and MP3 from
 * FLV, and a G.711 track makes it fail, so browser players of G.711 cameras ask for
 * video only.
 */
function wantsAudio(url: string): boolean {
  const query = url.indexOf('?');
  return query < 0 || new URLSearchParams(url.slice(query + 1)).get('audio') !== '0';
}

/** `/rtp/0BEBC201.flv` → `rtp/0BEBC201`; also accepts `.live.flv` (ZLMediaKit's form). */
export function streamName(url: string): string | undefined {
  const m = /^\/(.+?)(?:\.live)?\.flv(?:\?.*)?$/.exec(url);
  if (!m) return undefined;
  return m[1]!.split('/').every((part) => /^[A-Za-z0-9_.-]+$/.test(part)) ? m[1] : undefined;
}
