import Database from 'better-sqlite3';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import {
  DEFAULT_LIMIT,
  MAX_CONDITIONS,
  MAX_FILTER_DEPTH,
  MAX_IN_VALUES,
  MAX_LIMIT,
  compileFilters,
  compileListQuery,
  compileSort,
  escapeLike,
  limitClause,
  parsePaging,
  type SqlValue,
  type TableSpec,
} from '../../../src/supervisor/store/filters.js';
import { MIGRATIONS } from '../../../src/supervisor/store/migrations.js';
import { CHANNEL_LIST, DEVICE_LIST, STREAM_LIST } from '../../../src/supervisor/store/schema.js';
import { QueryError, type Dialect } from '../../../src/supervisor/store/types.js';
import { wellFormedFilters } from './fixtures/filter-arbitraries.js';

function queryError(t: Test, fn: () => unknown, param: string, field?: string): void {
  try {
    fn();
    t.fail(`expected QueryError(${param})`);
  } catch (err) {
    t.ok(err instanceof QueryError, `QueryError, got ${(err as Error).message}`);
    t.equal((err as QueryError).param, param, `param ${param}`);
    if (field !== undefined) t.equal((err as QueryError).field, field, `field ${field}`);
  }
}

t.test('each operator compiles to one bound predicate', async (t) => {
  const cases: Array<[unknown, string, SqlValue[]]> = [
    [{ field_name: 'status', opertator: '=', value: 0 }, '"status" = ?', [0]],
    [{ field_name: 'status', operator: '>', value: '1' }, '"status" > ?', [1]],
    [{ field_name: 'addtime', operator: '<', value: 5 }, '"addtime" < ?', [5]],
    [{ field_name: 'addtime', operator: '>=', value: 5 }, '"addtime" >= ?', [5]],
    [{ field_name: 'addtime', operator: '<=', value: 5 }, '"addtime" <= ?', [5]],
    [{ field_name: 'callid', operator: '<>', value: 'x' }, '"callid" <> ?', ['x']],
    [{ field_name: 'callid', operator: '!=', value: 'x' }, '"callid" <> ?', ['x']],
    [{ field_name: 'streamid', operator: 'in', value: ',a,b,' }, '"streamid" IN (?, ?)', ['a', 'b']],
    [{ field_name: 'streamid', operator: 'in', value: ['a', 3] }, '"streamid" IN (?, ?)', ['a', '3']],
    [{ field_name: 't', operator: 'in', value: 1 }, '"t" IN (?)', [1]],
    [{ field_name: 'streamid', operator: 'in', value: [] }, '1=0', []],
    [{ field_name: 'status', operator: 'notin', value: [0, '1'] }, '"status" NOT IN (?, ?)', [0, 1]],
    [{ field_name: 'streamid', operator: 'notin', value: 'a, b' }, '"streamid" NOT IN (?, ?)', ['a', 'b']],
    [{ field_name: 'streamid', operator: 'notin', value: '' }, '1=1', []],
    [{ field_name: 'callid', operator: 'like', value: 'a%b_c!' }, `LOWER("callid") LIKE LOWER(?) ESCAPE '!'`, ['%a!%b!_c!!%']],
    [{ field_name: 'callid', operator: 'LIKE', value: 12 }, `LOWER("callid") LIKE LOWER(?) ESCAPE '!'`, ['%12%']],
    [{ field_name: 'reason', operator: '=', value: null }, '"reason" IS NULL', []],
    [{ field_name: 'reason', operator: '<>', value: null }, '"reason" IS NOT NULL', []],
    [{ field_name: 'stream', operator: '=', value: true }, '"stream" = ?', [1]],
    [{ field_name: 'stream', operator: '=', value: 'false' }, '"stream" = ?', [0]],
    [{ field_name: 'cseqno', operator: '=', value: 3 }, '"cseq" = ?', [3]],
  ];
  for (const [condition, sql, params] of cases) {
    const compiled = compileFilters(STREAM_LIST, [condition], 'sqlite');
    t.same(compiled, { sql, params }, JSON.stringify(condition));
  }
  t.same(
    compileFilters(STREAM_LIST, [{ field_name: 'end', operator: '>', value: 1 }], 'mysql'),
    { sql: '`end` > ?', params: [1] },
    'MySQL quotes with backticks (and `end` is safe)',
  );
});

t.test('AND at the top, or groups recursive', async (t) => {
  const filters = [
    { field_name: 'status', opertator: '=', value: 0 },
    {
      or: [
        [{ field_name: 't', operator: '=', value: 0 }],
        [
          { field_name: 't', operator: '=', value: 1 },
          { or: [[{ field_name: 'kind', operator: '=', value: 'jt1078' }], []] },
        ],
      ],
    },
  ];
  const compiled = compileFilters(STREAM_LIST, filters, 'mysql');
  t.equal(
    compiled.sql,
    '(`status` = ?) AND ((`t` = ?) OR ((`t` = ?) AND ((`kind` = ?) OR (1=1))))',
  );
  t.same(compiled.params, [0, 0, 1, 'jt1078']);
  t.same(compileFilters(STREAM_LIST, [], 'sqlite'), { sql: '1=1', params: [] });
  t.same(compileFilters(STREAM_LIST, '', 'sqlite'), { sql: '1=1', params: [] });
  t.same(compileFilters(STREAM_LIST, 'null', 'sqlite'), { sql: '1=1', params: [] });
  t.same(compileFilters(STREAM_LIST, [{ or: [] }], 'sqlite'), { sql: '1=1', params: [] });
  t.same(compileFilters(STREAM_LIST, JSON.stringify(filters), 'mysql'), compiled, 'JSON text = parsed value');
});

t.test('invalid filters are QueryErrors naming the parameter and field', async (t) => {
  const bad = (filters: unknown, field?: string) =>
    queryError(t, () => compileFilters(DEVICE_LIST, filters, 'sqlite'), 'filters', field);
  bad('[{', 'filters');
  bad('{"field_name":"name"}', 'filters');
  bad(42, 'filters');
  bad(['name'], 'filters');
  bad([null], 'filters');
  bad([{ field_name: 'pwd', operator: '=', value: 'x' }], 'pwd');
  bad([{ field_name: 'deltime', operator: '=', value: 1 }], 'deltime');
  bad([{ field_name: 'nope', operator: '=', value: 1 }], 'nope');
  bad([{ field_name: 'constructor', operator: '=', value: 1 }], 'constructor');
  bad([{ field_name: 'hasOwnProperty', operator: '=', value: 1 }], 'hasOwnProperty');
  bad([{ field_name: 7, operator: '=', value: 1 }], 'filters');
  bad([{ operator: '=', value: 1 }], 'filters');
  bad([{ field_name: 'name', value: 1 }], 'name');
  bad([{ field_name: 'name', operator: 'between', value: 1 }], 'name');
  bad([{ field_name: 'name', operator: '=' }], 'name');
  bad([{ field_name: 'name', operator: '=', opertator: '<>', value: 1 }], 'name');
  bad([{ field_name: 'name', operator: '=', value: { $gt: 1 } }], 'name');
  bad([{ field_name: 'name', operator: '=', value: [1] }], 'name');
  bad([{ field_name: 'name', operator: '>', value: null }], 'name');
  bad([{ field_name: 'name', operator: 'in', value: [null] }], 'name');
  bad([{ field_name: 'name', operator: 'in', value: { a: 1 } }], 'name');
  bad([{ field_name: 'name', operator: 'like', value: null }], 'name');
  bad([{ field_name: 'port', operator: 'like', value: '50' }], 'port');
  bad([{ field_name: 'regist', operator: 'like', value: '1' }], 'regist');
  bad([{ field_name: 'port', operator: '=', value: 'abc' }], 'port');
  bad([{ field_name: 'port', operator: '=', value: '5060 OR 1=1' }], 'port');
  bad([{ field_name: 'regist', operator: '=', value: 'yes' }], 'regist');
  bad([{ or: {} }], 'filters');
  bad([{ or: [{ field_name: 'name', operator: '=', value: 1 }] }], 'filters');
  bad([{ or: [[]], field_name: 'name' }], 'filters');

  let deep: unknown = [{ field_name: 'name', operator: '=', value: 'x' }];
  for (let i = 0; i <= MAX_FILTER_DEPTH; i++) deep = [{ or: [deep] }];
  bad(deep, 'filters');
  bad(
    Array.from({ length: MAX_CONDITIONS + 1 }, () => ({ field_name: 'name', operator: '=', value: 'x' })),
    'filters',
  );
  bad([{ field_name: 'name', operator: 'in', value: Array.from({ length: MAX_IN_VALUES + 1 }, (_, i) => i) }], 'name');
});

t.test('paging', async (t) => {
  t.same(parsePaging({}), { limit: DEFAULT_LIMIT, offset: 0 });
  t.same(parsePaging({ limit: '', skip: '' }), { limit: DEFAULT_LIMIT, offset: 0 }, 'blank form values');
  t.same(parsePaging({ limit: -1 }), { limit: null, offset: 0 });
  t.same(parsePaging({ limit: '-5', skip: '7' }), { limit: null, offset: 7 });
  t.same(parsePaging({ limit: 0 }), { limit: 0, offset: 0 });
  t.same(parsePaging({ limit: 5000 }), { limit: MAX_LIMIT, offset: 0 }, 'capped');
  t.same(parsePaging({ limit: ' 30 ', skip: 4 }), { limit: 30, offset: 4 });
  for (const limit of [1.5, '1.5', 'ten', '10;', Number.NaN, Infinity, '1e3', true, [], {}]) {
    queryError(t, () => parsePaging({ limit: limit as never }), 'limit', 'limit');
  }
  for (const skip of [-1, '-1', 'x', 2.5]) queryError(t, () => parsePaging({ skip: skip as never }), 'skip', 'skip');
  t.equal(limitClause('sqlite', 20, 40), ' LIMIT 20 OFFSET 40');
  t.equal(limitClause('sqlite', null, 0), '');
  t.equal(limitClause('sqlite', null, 5), ' LIMIT -1 OFFSET 5');
  t.match(limitClause('mysql', null, 5), /^ LIMIT \d+ OFFSET 5$/);
});

t.test('sort', async (t) => {
  t.equal(compileSort(DEVICE_LIST, undefined, 'sqlite'), '"addtime" DESC, "id" DESC', 'default -addtime');
  t.equal(compileSort(DEVICE_LIST, '', 'sqlite'), '"addtime" DESC, "id" DESC');
  t.equal(compileSort(DEVICE_LIST, 'name', 'mysql'), '`name` ASC, `id` ASC');
  t.equal(compileSort(DEVICE_LIST, ' -online, +name ,', 'sqlite'), '"online" DESC, "name" ASC, "id" DESC');
  t.equal(compileSort(DEVICE_LIST, 'id,-id', 'sqlite'), '"id" ASC', 'repeats dropped, no extra tie-breaker');
  t.equal(compileSort(DEVICE_LIST, 'report', 'sqlite'), '"rport" ASC, "id" ASC', 'gosip alias');
  for (const sort of ['pwd', 'deltime', 'addtime;drop table devices', 'name desc', '--name', '"name"', '`name`', ',', 1, ['name']]) {
    queryError(t, () => compileSort(DEVICE_LIST, sort, 'sqlite'), 'sort');
  }
  queryError(t, () => compileSort(DEVICE_LIST, '-pwd', 'sqlite'), 'sort', 'pwd');
});

t.test('escapeLike', async (t) => {
  t.equal(escapeLike('plain'), 'plain');
  t.equal(escapeLike('50%_off!'), '50!%!_off!!');
});

t.test('whitelists', async (t) => {
  t.notOk(DEVICE_LIST.fields.has('pwd'), 'pwd is never listable');
  for (const spec of [DEVICE_LIST, CHANNEL_LIST, STREAM_LIST]) {
    t.notOk(spec.fields.has('deltime'), `${spec.table}: deltime hidden`);
    t.ok(spec.fields.has('addtime'), `${spec.table}: addtime listable (default sort)`);
  }
  t.notOk(STREAM_LIST.fields.has('route'), 'JSON columns are not listable');
});

// ---------------------------------------------------------------------------
// Property: whatever arrives in filters/sort, the result is a QueryError or SQL
// built only from whitelisted identifiers, our keywords and `?` placeholders.
// ---------------------------------------------------------------------------

const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'IN', 'LIKE', 'LOWER', 'ESCAPE', 'IS', 'NULL', 'ASC', 'DESC']);
const SYMBOLS = new Set(['?', '(', ')', ',', '=', '<', '>', '<=', '>=', '<>', "'!'", '1=1', '1=0']);

/** Splits generated SQL into tokens; any character outside the grammar fails. */
function checkSql(spec: TableSpec, dialect: Dialect, sql: string): string | null {
  const columns = new Set([...spec.fields.values()].map((f) => f.column));
  const quote = dialect === 'mysql' ? '`' : '"';
  const token = /\s*(`[^`]*`|"[^"]*"|'!'|1=1|1=0|<=|>=|<>|[A-Za-z]+|[?(),=<>])/y;
  let at = 0;
  while (at < sql.length) {
    token.lastIndex = at;
    const match = token.exec(sql);
    if (!match) return `unexpected text at ${at}: ${sql.slice(at, at + 20)}`;
    const tok = match[1]!;
    at = token.lastIndex;
    if (tok.startsWith('`') || tok.startsWith('"')) {
      if (!tok.startsWith(quote)) return `wrong quote in ${tok}`;
      if (!columns.has(tok.slice(1, -1))) return `identifier ${tok} not whitelisted`;
    } else if (/^[A-Za-z]+$/.test(tok)) {
      if (!KEYWORDS.has(tok)) return `bare word ${tok}`;
    } else if (!SYMBOLS.has(tok)) return `symbol ${tok}`;
    while (at < sql.length && /\s/.test(sql[at]!)) at++;
  }
  return null;
}

const sqlite = new Database(':memory:');
for (const statement of MIGRATIONS[0]!.sqlite) sqlite.exec(statement);
t.teardown(() => sqlite.close());

const fieldNames = [...STREAM_LIST.fields.keys(), 'pwd', 'route', "name'--", '`id`', '__proto__', 'a.b', ''];
const operatorArb = fc.constantFrom('=', '>', '<', '>=', '<=', '<>', '!=', 'in', 'notin', 'like', 'IN', 'drop', '', '= ?');
const valueArb = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.string(),
  fc.constantFrom("' OR '1'='1", '1; DROP TABLE streams', '%', '_', '!', '0', '1,2,3', 'true'),
  fc.integer(),
  fc.double(),
);
const conditionArb = fc.record(
  {
    field_name: fc.oneof(fc.constantFrom(...fieldNames), fc.string()),
    opertator: operatorArb,
    operator: operatorArb,
    value: valueArb,
  },
  { requiredKeys: [] },
);
const filtersArb: fc.Arbitrary<unknown> = fc.letrec<{ list: unknown[]; item: unknown }>((tie) => ({
  list: fc.array(tie('item'), { maxLength: 4 }),
  item: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    conditionArb,
    fc.record({ or: fc.array(tie('list'), { maxLength: 3 }) }),
    fc.jsonValue({ maxDepth: 2 }),
  ),
})).list;
const sortArb = fc.oneof(
  fc.string(),
  fc
    .array(fc.tuple(fc.constantFrom('', '-', '+', '--', ' '), fc.constantFrom(...fieldNames, 'id;drop')), {
      maxLength: 4,
    })
    .map((parts) => parts.map(([sign, name]) => sign + name).join(',')),
  fc.jsonValue({ maxDepth: 1 }),
);
const anyFilters = fc.oneof(
  filtersArb,
  filtersArb.map((f) => JSON.stringify(f)),
  fc.jsonValue(),
  fc.string(),
);

t.test('property: QueryError or whitelisted, bound, valid SQL', async (t) => {
  let compiledCount = 0;
  let rejectedCount = 0;
  fc.assert(
    fc.property(anyFilters, sortArb, fc.constantFrom<Dialect>('sqlite', 'mysql'), (filters, sort, dialect) => {
      let compiled;
      try {
        compiled = compileListQuery(STREAM_LIST, { filters, sort: sort as string }, dialect);
      } catch (err) {
        if (err instanceof QueryError) {
          rejectedCount++;
          return true;
        }
        throw err;
      }
      compiledCount++;
      for (const part of [compiled.where, compiled.orderBy]) {
        const problem = checkSql(STREAM_LIST, dialect, part);
        if (problem) throw new Error(`${problem} in ${part}`);
      }
      const marks = compiled.where.split('?').length - 1;
      if (marks !== compiled.params.length) throw new Error('placeholder count differs from params');
      for (const p of compiled.params) {
        if (!(p === null || typeof p === 'string' || (typeof p === 'number' && Number.isFinite(p)))) {
          throw new Error(`unbindable param ${String(p)}`);
        }
      }
      if (dialect === 'sqlite') {
        // Valid SQL: SQLite prepares and runs it against the real schema.
        sqlite
          .prepare(`SELECT COUNT(*) AS n FROM streams WHERE (${compiled.where}) ORDER BY ${compiled.orderBy}`)
          .get(...compiled.params);
      }
      return true;
    }),
    // Fixed seed: the coverage checks below count what the generator produced, and
    // an unlucky random draw (98 compiled in one CI run) must not fail the suite.
    { numRuns: 3000, seed: 20261122 },
  );
  t.ok(compiledCount > 100, `many inputs compiled (${compiledCount})`);
  t.ok(rejectedCount > 100, `many inputs rejected (${rejectedCount})`);
});

t.test('property: well-formed filters always compile and run', async (t) => {
  const goodList = wellFormedFilters(CHANNEL_LIST);
  fc.assert(
    fc.property(goodList, (filters) => {
      const compiled = compileFilters(CHANNEL_LIST, filters, 'sqlite');
      sqlite.prepare(`SELECT COUNT(*) AS n FROM channels WHERE ${compiled.sql}`).get(...compiled.params);
      return checkSql(CHANNEL_LIST, 'sqlite', compiled.sql) === null;
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 well-formed filters compiled and ran');
});
