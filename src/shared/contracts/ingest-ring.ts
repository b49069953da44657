/**
 * Ring record tags between the media process (acceptors) and a media worker. A tag
 * names the connection and its kind; a zero-length record is the connection's end,
 * so the close travels in order behind the connection's last bytes.
 */

/** The JT/T 1078 port a connection came in on. */
export type IngestKind = 'realtime' | 'playback';

export const MAX_CONN_ID = 0x3fffffff;

export function ingestTag(connId: number, kind: IngestKind): number {
  return (connId << 1) | (kind === 'playback' ? 1 : 0);
}

export function parseIngestTag(tag: number): { connId: number; kind: IngestKind } {
  return { connId: tag >>> 1, kind: tag & 1 ? 'playback' : 'realtime' };
}
