import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export const sharedSipp = new URL('../../../shared/sipp/', import.meta.url).pathname;
const ourSipp = new URL('../fixtures/sipp/', import.meta.url).pathname;

export interface SippRun {
  code: number | null;
  output: string;
  /** Contents of sipp's *_errors.log files, if any. */
  errors: string;
  /** Contents of *_messages.log (with -trace_msg). */
  messages: string;
}

/**
 * Runs sipp from a scratch copy of the shared scenarios (plus ours), because sipp
 * writes its logs into the current directory.
 */
export async function runSipp(args: string[], timeoutMs = 120_000, extraFiles: string[] = [], signal?: AbortSignal): Promise<SippRun> {
  const dir = mkdtempSync(join(tmpdir(), 'camgate-sipp-'));
  cpSync(sharedSipp, dir, { recursive: true });
  cpSync(ourSipp, dir, { recursive: true });
  // Files a test made (a longer pcap, say), next to the scenarios that name them.
  for (const file of extraFiles) cpSync(file, join(dir, basename(file)));
  const child = spawn('sipp', [...args, '-nostdin', '-trace_err', '-timeout', `${Math.floor(timeoutMs / 1000)}s`, '-timeout_error'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(signal ? { signal } : {}),
  });
  child.on('error', () => undefined); // an abort kills sipp; its exit is reported below
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const errors = readdirSync(dir)
    .filter((f) => f.endsWith('_errors.log'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
  const messages = readdirSync(dir)
    .filter((f) => f.endsWith('_messages.log'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
  return { code, output, errors, messages };
}

/** Starts sipp and returns at once; `done` resolves when it exits, `stop()` kills it. */
export function startSipp(args: string[], timeoutMs = 120_000, extraFiles: string[] = []): { done: Promise<SippRun>; stop: () => void } {
  const controller = new AbortController();
  return { done: runSipp(args, timeoutMs, extraFiles, controller.signal), stop: () => controller.abort() };
}

/** BYE requests the device received (sipp's message trace logs each received message once). */
export function byesIn(messages: string): Array<{ callId: string; cseq: string; branch: string }> {
  const byes = [];
  for (const block of messages.split(/^-{10,}.*$/m)) {
    if (!/message received/.test(block)) continue;
    const request = /^BYE sip:[^\r\n]*$/m.exec(block);
    if (!request) continue;
    byes.push({
      callId: /^Call-ID:\s*(\S+)/im.exec(block)?.[1] ?? '',
      cseq: /^CSeq:\s*([^\r\n]+)/im.exec(block)?.[1]?.trim() ?? '',
      branch: /branch=([^;\s]+)/i.exec(block)?.[1] ?? '',
    });
  }
  return byes;
}
