import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './ports.js';

const entry = new URL('../../dist/workers/supervisor.js', import.meta.url).pathname;

export interface Appliance {
  process: ChildProcess;
  api: string;
  sipPort: number;
  dir: string;
  output: () => string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  /** When the process was spawned (ms since epoch). */
  startedAt: number;
}

/**
 * Starts the real, compiled appliance (`dist/workers/supervisor.js`) in a temp
 * directory with its own ports and SQLite file, as `npm start` would.
 */
export async function startAppliance(extra: Record<string, unknown> = {}): Promise<Appliance> {
  // A port found free can be taken by a test file running alongside before the
  // appliance binds it; then it exits with EADDRINUSE and gets fresh ports.
  for (let attempt = 1; ; attempt++) {
    const app = await launchFresh(extra);
    // The API answers before the children have bound their ports, so a child's EADDRINUSE
    // (the process then exits) can come after it: wait for healthy, an exit, or 10 s more.
    const outcome = await Promise.race([
      app.exited.then(() => 'exited' as const),
      waitForApi(app.api).then(() => waitForHealthy(app.api, 10_000)).then(() => 'up' as const),
    ]);
    // uWebSockets.js (the viewer port) says only "cannot listen on" where Node says EADDRINUSE.
    if (outcome === 'exited' && /EADDRINUSE|cannot listen on/.test(app.output()) && attempt < 3) continue;
    return app;
  }
}

async function waitForApi(api: string): Promise<void> {
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    try {
      await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function waitForHealthy(api: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const status = await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status, () => 0);
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function launchFresh(extra: Record<string, unknown>): Promise<Appliance> {
  const dir = mkdtempSync(join(tmpdir(), 'camgate-it-'));
  const apiPort = await freePort();
  const sipPort = await freePort();
  const config = deepMerge(
    {
      api: { host: '127.0.0.1', port: apiPort },
      sip: { host: '127.0.0.1', port: sipPort },
      store: { url: `sqlite:${join(dir, 'camgate.db')}` },
      log: { level: 'warn' },
      media: { workers: 1, httpPort: await freePort() },
      jt1078: { host: '127.0.0.1', realtime: { port: await freePort() }, playback: { port: await freePort() } },
      jt808: { host: '127.0.0.1', port: await freePort() },
    },
    extra,
  );
  const file = join(dir, 'camgate.yaml');
  writeFileSync(file, stringify(config));
  return launch(dir, file, Number((config.api as { port: number }).port), Number((config.sip as { port: number }).port));
}

/** Starts the appliance again on the same directory, config and database (after a crash). */
export function restartAppliance(previous: Appliance): Appliance {
  return launch(previous.dir, join(previous.dir, 'camgate.yaml'), Number(new URL(previous.api).port), previous.sipPort);
}

function launch(dir: string, file: string, apiPort: number, sipPort: number): Appliance {
  const child = spawn(process.execPath, [entry, '--config', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return { process: child, api: `http://127.0.0.1:${apiPort}`, sipPort, dir, output: () => output, exited, startedAt: Date.now() };
}

export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return { status: res.status, body: await res.json() };
}

/** Polls until `check` returns a truthy value or `ms` pass. */
export async function waitFor<T>(check: () => Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  // Deadlines are generous (×3): they only matter when something is wrong, and CI
  // machines run two test files at once on two cores. A met condition returns at once.
  ms *= 3;
  const until = Date.now() + ms;
  let lastError: unknown;
  while (Date.now() < until) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `extra` wins key by key, nested mappings merged. */
export function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(extra)) out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  return out;
}

/**
 * startAppliance, stopped (SIGTERM) when `t` ends, resolved once /healthz answers 200;
 * a start that never gets healthy fails with the appliance's output.
 */
export async function startHealthyAppliance(t: { teardown(fn: () => unknown): void }, extra: Record<string, unknown> = {}): Promise<Appliance> {
  const app = await startAppliance(extra);
  t.teardown(async () => {
    if (app.process.exitCode === null) {
      app.process.kill('SIGTERM');
      await app.exited;
    }
  });
  await waitFor(async () => (await getJson(`${app.api}/healthz`)).status === 200, 15_000, 'healthy').catch((e: Error) => {
    throw new Error(`${e.message}\n${app.output()}`);
  });
  return app;
}

/** A JSON API call (body as JSON when given); the envelope back with the HTTP status. */
export async function apiCall(method: string, url: string, body?: Record<string, unknown>, timeoutMs = 60_000): Promise<{ status: number; body: { code: string; data: any } }> {
  const res = await fetch(url, {
    method,
    ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, body: (await res.json()) as { code: string; data: any } };
}
