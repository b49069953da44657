import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { defaultConfig, type CamgateConfig } from '../shared/config/config.js';

/**
 * Loopback set-ups for tests and benchmarks: free ports, and a media process
 * configuration whose every port is its own, so runs side by side never collide.
 */

/**
 * Ports this process handed out lately: the kernel may offer a port again as soon as the
 * probe socket closes, and two of one appliance's ports the same (sip.port and
 * jt1078.playback.port, say) make its configuration invalid.
 */
const handedOut = new Set<number>();
const HANDED_OUT_KEPT = 4096;

/** A port that is free for both TCP and UDP on 127.0.0.1 right now, and not handed out by this process lately. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
    });
    if (!udpFree || handedOut.has(port)) continue;
    handedOut.add(port);
    if (handedOut.size > HANDED_OUT_KEPT) handedOut.delete(handedOut.values().next().value!);
    return port;
  }
}

/** Defaults, with the media process on 127.0.0.1 and fresh ports for ingest, viewers and RTP. */
export async function loopbackMediaConfig(options: { workers?: number; rtpPorts?: number } = {}): Promise<CamgateConfig> {
  const config = defaultConfig();
  config.media.workers = options.workers ?? 1;
  config.media.host = '127.0.0.1';
  config.media.httpPort = await freePort();
  config.jt1078.host = '127.0.0.1';
  config.jt1078.realtime.port = await freePort();
  config.jt1078.playback.port = await freePort();
  const count = options.rtpPorts ?? 50;
  const low = 20000 + Math.floor(Math.random() * (40000 - count));
  config.media.rtpPorts = `${low}-${low + count - 1}`;
  return config;
}
