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
