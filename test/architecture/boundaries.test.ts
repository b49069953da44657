/**
 * The shape rules of docs/architecture.md, checked on the sources with the
 * TypeScript parser: which folder may import which, and no type assertion on a
 * channel payload or result (both ends are typed by src/shared/contracts).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** The part (folder) a file belongs to, as the rules name it. */
function partOf(file: string): string {
  const p = file.split('/');
  if (p[0] === 'workers') return 'workers';
  if (p[1] === 'protocol') return 'protocol';
  if (p[1] === 'shared') return p[2] === 'contracts' ? 'contracts' : p[2] === 'config' ? 'config' : 'shared';
  return p[1]!;
}

/**
 * Allowed arrows: a part may import itself and the parts listed. The layers, bottom
 * up: protocol; shared, config, contracts; the process parts (sip, jt808,
 * media-process, media-worker), media-server and supervisor; tools and workers (entries).
 */
const ALLOWED: Record<string, string[]> = {
  protocol: [],
  shared: ['protocol', 'contracts', 'config'],
  config: ['shared', 'contracts'],
  contracts: ['protocol', 'shared', 'config'],
  sip: ['protocol', 'shared', 'contracts', 'config'],
  jt808: ['protocol', 'shared', 'contracts', 'config'],
  'media-process': ['protocol', 'shared', 'contracts', 'config'],
  'media-worker': ['protocol', 'shared', 'contracts', 'config'],
  'media-server': ['protocol', 'shared', 'contracts', 'config'],
  supervisor: ['protocol', 'shared', 'contracts', 'config', 'media-server'],
  console: ['protocol', 'shared', 'contracts', 'config'],
  tools: ['protocol', 'shared', 'contracts', 'config', 'jt808'],
  workers: ['shared', 'contracts', 'config', 'sip', 'jt808', 'media-process', 'media-worker', 'supervisor'],
};

interface Parsed {
  file: string;
  ast: ts.SourceFile;
}

const files: Parsed[] = [...sources('src'), ...sources('workers')].map((file) => ({
  file,
  ast: ts.createSourceFile(file, readFileSync(join(root, file), 'utf8'), ts.ScriptTarget.ES2022, true),
}));

function importsOf(ast: ts.SourceFile): string[] {
  const out: string[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && ts.isStringLiteral(node.arguments[0]!)) {
      out.push(node.arguments[0].text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      out.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(ast);
  return out;
}

/** Imports that cross a boundary the rules do not allow, as "file → target". */
export function forbiddenImports(parsed: Parsed[]): string[] {
  const bad: string[] = [];
  for (const { file, ast } of parsed) {
    const from = partOf(file);
    for (const spec of importsOf(ast)) {
      if (!spec.startsWith('.')) continue;
      const target = relative(root, resolve(root, dirname(file), spec)).replace(/\.js$/, '.ts');
      const to = partOf(target);
      if (to === from) continue;
      if (!(ALLOWED[from] ?? []).includes(to)) bad.push(`${file} → ${target} (${from} may not import ${to})`);
    }
  }
  return bad;
}

const CHANNEL_CALLS = new Set(['handle', 'onNote', 'request']);

/**
 * Type assertions on what a channel hands over: `x as T` (or `<T>x`) where x is a
 * parameter of a callback given to `.handle(…)` / `.onNote(…)`, or where the asserted
 * expression is (an await of) a `.request(…)` call.
 */
export function channelCasts(parsed: Parsed[]): string[] {
  const bad: string[] = [];
  const isChannelCall = (node: ts.Node, names: string[]): node is ts.CallExpression =>
    ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && names.includes(node.expression.name.text);
  const strip = (e: ts.Expression): ts.Expression => {
    while (ts.isParenthesizedExpression(e) || ts.isAwaitExpression(e)) e = e.expression;
    return e;
  };
  for (const { file, ast } of parsed) {
    const payloadParams = new Set<ts.Symbol | string>();
    const where = (node: ts.Node) => `${file}:${ast.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
    const visit = (node: ts.Node, params: Set<string>) => {
      let inner = params;
      if (isChannelCall(node, ['handle', 'onNote'])) {
        const callback = node.arguments[1];
        if (callback && (ts.isArrowFunction(callback) || ts.isFunctionExpression(callback))) {
          inner = new Set(params);
          for (const p of callback.parameters) {
            if (ts.isIdentifier(p.name)) inner.add(p.name.text);
          }
        }
      }
      if (ts.isAsExpression(node) || ts.isTypeAssertionExpression(node)) {
        const target = strip(node.expression);
        const typeText = node.type.getText(ast);
        if (typeText !== 'const') {
          if (ts.isIdentifier(target) && inner.has(target.text)) bad.push(`${where(node)} payload ${target.text} as ${typeText}`);
          if (isChannelCall(target, ['request'])) bad.push(`${where(node)} request(…) as ${typeText}`);
        }
      }
      ts.forEachChild(node, (child) => visit(child, inner));
    };
    visit(ast, new Set());
    void payloadParams;
  }
  return bad;
}

t.test('no forbidden import between parts (docs/architecture.md)', async (t) => {
  t.same(forbiddenImports(files), []);
});

t.test('no type assertion on a channel payload or result', async (t) => {
  t.same(channelCasts(files), []);
});

t.test('the rules can fail: a planted offender is found', async (t) => {
  const planted = (file: string, text: string): Parsed => ({ file, ast: ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true) });
  t.match(forbiddenImports([planted('src/protocol/flv/x.ts', "import { MediaWorker } from '../../media-worker/media-worker.js';")]), [/protocol may not import media-worker/]);
  t.match(forbiddenImports([planted('src/supervisor/x.ts', "import type { X } from '../media-process/media-process.js';")]), [/supervisor may not import media-process/]);
  t.same(forbiddenImports([planted('src/supervisor/x.ts', "import type { X } from '../shared/contracts/media.js';")]), []);
  t.equal(channelCasts([planted('src/a.ts', "channel.handle('x', (data) => { const { a } = data as { a: number }; return a; });")]).length, 1);
  t.equal(channelCasts([planted('src/a.ts', "channel.onNote('x', (note) => use(note as Note));")]).length, 1);
  t.equal(channelCasts([planted('src/a.ts', "const r = (await channel.request('x', {})) as { a: number };")]).length, 1);
  t.equal(channelCasts([planted('src/a.ts', "const r = await channel.request('x', {}); const k = ['a'] as const;")]).length, 0);
});
