/**
 * Every repository path the docs cite exists: `src/…`, `workers/…`, `test/…` and the
 * like in backticks, and relative Markdown links. ../shared/ sits beside the repo and
 * is not checked. Paths of the one-port viewers (branch `viewers`, being wired) are
 * allowed until that branch is merged.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const PENDING_ON_VIEWERS = new Set<string>([]);

const ROOTS = ['src/', 'workers/', 'test/', 'bench/', 'docs/', 'config/', 'systemd/', 'native-bench/', 'console/'];

/** Paths cited by a Markdown text: backticked repo paths and relative links (resolved from `dir`). */
export function citedPaths(text: string, dir: string): string[] {
  const out = new Set<string>();
  for (const [, code] of text.matchAll(/`([^`\s]+)`/g)) {
    const path = code!.replace(/[),.:;]+$/, '');
    if (ROOTS.some((r) => path.startsWith(r))) out.add(path);
  }
  for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
    if (/^[a-z]+:/.test(target!) || target!.startsWith('../shared/') || target!.startsWith('/')) continue;
    out.add(join(dir, target!));
  }
  return [...out];
}

/** `a/{b,c}.ts` → `a/b.ts`, `a/c.ts`. */
function expandBraces(path: string): string[] {
  const m = /\{([^}]*)\}/.exec(path);
  if (!m) return [path];
  return m[1]!.split(',').flatMap((part) => expandBraces(path.slice(0, m.index) + part + path.slice(m.index + m[0].length)));
}

/** A cited path exists; a `*` in its last segment must match at least one file. Placeholders (`<spec>`) are folders' patterns, not paths. */
function exists(path: string): boolean {
  if (path.includes('<')) return true;
  return expandBraces(path).every((p) => {
    if (!p.includes('*')) return existsSync(join(root, p));
    const dir = dirname(p);
    const pattern = new RegExp(`^${p.slice(dir.length + 1).replace(/[.+?^$()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    return existsSync(join(root, dir)) && readdirSync(join(root, dir)).some((name) => pattern.test(name));
  });
}

function missingIn(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return citedPaths(text, dirname(file)).filter((p) => !exists(p) && !PENDING_ON_VIEWERS.has(p));
}

const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

for (const file of docs) {
  t.test(`${file} cites only paths that exist`, async (t) => {
    t.same(missingIn(file), []);
  });
}

t.test('the check can fail', async (t) => {
  t.same(citedPaths('see `src/nowhere.ts`, [x](gone.md) and `npm run x`', 'docs'), ['src/nowhere.ts', 'docs/gone.md']);
  t.notOk(exists('src/nowhere.ts'));
  t.notOk(exists('src/shared/{channel,nowhere}.ts'));
  t.ok(exists('src/shared/{channel,ring}.ts'));
  t.notOk(exists('test/fixtures/sipp/nothing_*.xml'));
});
