import { pino, type Logger } from 'pino';

/**
 * One logger for every process and thread: pino JSON lines on stdout, with the part
 * that wrote them bound (`process`, `thread`, `worker`, `stream`…), so journald shows
 * the supervisor, the SIP thread, the media process and each media worker alike.
 */
export function createLogger(level: string, bindings: Record<string, unknown>): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } });
}

export type { Logger };
