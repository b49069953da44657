import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';

/**
 * A minimal WebSocket client (RFC 6455) for tests: GET with Upgrade, then collects
 * the payloads of the server's (unmasked) binary frames until the server closes.
 * Written by hand so the test does not trust a library the server also could use.
 */
export interface WebSocketRead {
  status: number;
  payload: Buffer;
  frames: number;
  /** The server's close frame, if it sent one. */
  close?: { code: number; reason: string };
}

export function readWebSocket(url: string, timeoutMs = 30_000): Promise<WebSocketRead> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname);
    const key = randomBytes(16).toString('base64');
    let buffer = Buffer.alloc(0);
    let status = 0;
    let headerDone = false;
    const chunks: Buffer[] = [];
    let frames = 0;
    let close: { code: number; reason: string } | undefined;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('websocket read timed out'));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      resolve({ status, payload: Buffer.concat(chunks), frames, ...(close ? { close } : {}) });
    };
    socket.on('connect', () => {
      socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.on('data', (data) => {
      buffer = Buffer.concat([buffer, data]);
      if (!headerDone) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        status = Number(/^HTTP\/1\.1 (\d+)/.exec(buffer.subarray(0, end).toString())?.[1] ?? 0);
        buffer = buffer.subarray(end + 4);
        headerDone = true;
        if (status !== 101) {
          socket.destroy();
          return finish();
        }
      }
      for (;;) {
        if (buffer.length < 2) return;
        const opcode = buffer[0]! & 0x0f;
        let length = buffer[1]! & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (buffer.length < 4) return;
          length = buffer.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (buffer.length < 10) return;
          length = Number(buffer.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffer.length < offset + length) return;
        const payload = buffer.subarray(offset, offset + length);
        buffer = buffer.subarray(offset + length);
        if (opcode === 0x8) {
          close = { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString() };
          socket.end();
          return;
        }
        if (opcode === 0x2 || opcode === 0x0) {
          chunks.push(Buffer.from(payload));
          frames++;
        }
      }
    });
    socket.on('close', finish);
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
