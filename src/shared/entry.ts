import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Resolves a thread or process entry point in `workers/`. When camgate runs from
 * the TypeScript sources (tests, through tsx) the entry is the `.ts` file; when it
 * runs from `dist/` it is the compiled `.js`.
 */
export function entryPath(name: string): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(`../../workers/${name}${ext}`, import.meta.url));
}

let cachedVersion: string | undefined;

/** camgate's version from its package.json, found by walking up from this module. */
export function packageVersion(): string {
  if (cachedVersion) return cachedVersion;
  let dir = new URL('./', import.meta.url);
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'camgate' && pkg.version) return (cachedVersion = pkg.version);
    } catch {
      // not here; go up
    }
    dir = new URL('../', dir);
  }
  return (cachedVersion = '0.0.0');
}
