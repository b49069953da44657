/**
 * Compiler for gosip's list language (limit, skip, sort, filters) into SQL for
 * SQLite and MySQL.
 *
 * Safety rules, which is the whole point of this module (gosip interpolated field
 * names, sort and `or` values into SQL):
 * - identifiers come only from the table's whitelist and are quoted by us;
 * - every value is a bound parameter (`?`); LIMIT/OFFSET are integers we parsed;
 * - anything else is rejected with a {@link QueryError} before any SQL runs.
 *
 * Semantics are the same on both engines (a differential test checks it):
 * - `= <> < > <= >=`, `in`, `notin` and sort compare text exactly, by code point
 *   (MySQL tables use utf8mb4_bin, SQLite its BINARY default). One known gap:
 *   MariaDB's utf8mb4_bin ignores trailing spaces in `=`.
 * - `like` means "contains", case-insensitively, and only on text fields; `%`, `_`
 *   and `!` in the value match literally. SQLite folds ASCII case only.
 * - a value of null: `=` is IS NULL, `<>` is IS NOT NULL, other operators refuse it.
 * - values are coerced to the field's type (numeric strings for numbers, true/false
 *   or 1/0 for booleans); a value that does not fit is a QueryError.
 */
import { QueryError, type Dialect, type ListQuery } from './types.js';

export type SqlValue = string | number | null;

/** How a filter value is coerced before binding. */
export type FieldType = 'int' | 'real' | 'text' | 'bool';

export interface FieldSpec {
  /** Column name (trusted: it comes from our own schema). */
  column: string;
  type: FieldType;
}

/** The list-language view of one table: API field name → column. */
export interface TableSpec {
  table: string;
  fields: ReadonlyMap<string, FieldSpec>;
  /** Used when the query gives no sort. */
  defaultSort: string;
  /** Tie-breaker column appended to ORDER BY so pages are stable. */
  tieBreaker: string;
}

export interface SqlFragment {
  sql: string;
  params: SqlValue[];
}

export interface CompiledListQuery {
  /** Boolean expression ('1=1' when there are no filters). */
  where: string;
  params: SqlValue[];
  /** ORDER BY body, without the keywords. */
  orderBy: string;
  /** null = no limit. */
  limit: number | null;
  offset: number;
}

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 1000;
/** Bounds that keep a hostile filter from building a huge statement. */
export const MAX_FILTER_DEPTH = 8;
export const MAX_CONDITIONS = 200;
export const MAX_IN_VALUES = 1000;

const OPERATORS = new Set(['=', '>', '<', '>=', '<=', '<>', '!=', 'in', 'notin', 'like']);

/** `!` as LIKE escape character works the same in SQLite and MySQL (backslash does not). */
const LIKE_ESCAPE = '!';

export function quoteIdent(dialect: Dialect, name: string): string {
  // Only ever called with names from our schema; the check is a tripwire, not a filter.
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad identifier ${name}`);
  return dialect === 'mysql' ? `\`${name}\`` : `"${name}"`;
}

/** Builds a TableSpec from a plain record (the record itself may be a literal). */
export function tableSpec(
  table: string,
  fields: Record<string, FieldSpec>,
  defaultSort = '-addtime',
  tieBreaker = 'id',
): TableSpec {
  return { table, fields: new Map(Object.entries(fields)), defaultSort, tieBreaker };
}

// ---------------------------------------------------------------------------
// limit / skip
// ---------------------------------------------------------------------------

function parseInteger(param: 'limit' | 'skip', raw: unknown): number | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'number') {
    if (!Number.isSafeInteger(raw)) throw new QueryError(param, `${param} must be an integer`);
    return raw;
  }
  if (typeof raw === 'string') {
    const text = raw.trim();
    if (text === '') return undefined;
    if (!/^[+-]?\d{1,15}$/.test(text)) throw new QueryError(param, `${param} must be an integer`);
    return Number(text);
  }
  throw new QueryError(param, `${param} must be an integer`);
}

export function parsePaging(query: Pick<ListQuery, 'limit' | 'skip'>): {
  limit: number | null;
  offset: number;
} {
  const rawLimit = parseInteger('limit', query.limit);
  const rawSkip = parseInteger('skip', query.skip);
  let limit: number | null;
  if (rawLimit === undefined) limit = DEFAULT_LIMIT;
  else if (rawLimit < 0) limit = null; // gosip: negative means no limit
  else limit = Math.min(rawLimit, MAX_LIMIT);
  const offset = rawSkip ?? 0;
  if (offset < 0) throw new QueryError('skip', 'skip must not be negative');
  return { limit, offset };
}

/** LIMIT/OFFSET clause; both values are integers from parsePaging, never user text. */
export function limitClause(dialect: Dialect, limit: number | null, offset: number): string {
  if (limit === null) {
    if (offset === 0) return '';
    // Neither engine accepts OFFSET without LIMIT.
    return dialect === 'mysql'
      ? ` LIMIT 18446744073709551615 OFFSET ${offset}`
      : ` LIMIT -1 OFFSET ${offset}`;
  }
  return ` LIMIT ${limit} OFFSET ${offset}`;
}

// ---------------------------------------------------------------------------
// sort
// ---------------------------------------------------------------------------

export function compileSort(spec: TableSpec, sort: unknown, dialect: Dialect): string {
  let text: string;
  if (sort === undefined || sort === null) text = '';
  else if (typeof sort === 'string') text = sort.trim();
  else throw new QueryError('sort', 'sort must be a comma-separated list of field names');
  if (text === '') text = spec.defaultSort;

  const parts: string[] = [];
  const seen = new Set<string>();
  let firstDirection = 'ASC';
  for (const piece of text.split(',')) {
    const token = piece.trim();
    if (token === '') continue;
    const match = /^([+-]?)([A-Za-z_][A-Za-z0-9_]*)$/.exec(token);
    const name = match?.[2];
    const field = name === undefined ? undefined : spec.fields.get(name);
    if (!match || name === undefined || field === undefined) {
      throw new QueryError('sort', `cannot sort by "${token}"`, name ?? 'sort');
    }
    if (seen.has(field.column)) continue;
    seen.add(field.column);
    const direction = match[1] === '-' ? 'DESC' : 'ASC';
    if (parts.length === 0) firstDirection = direction;
    parts.push(`${quoteIdent(dialect, field.column)} ${direction}`);
  }
  if (parts.length === 0) throw new QueryError('sort', 'sort names no field');
  if (!seen.has(spec.tieBreaker)) {
    parts.push(`${quoteIdent(dialect, spec.tieBreaker)} ${firstDirection}`);
  }
  return parts.join(', ');
}

// ---------------------------------------------------------------------------
// filters
// ---------------------------------------------------------------------------

/** Parses the `filters` parameter: JSON text or an already-parsed value. */
export function parseFilters(raw: unknown): unknown[] {
  if (raw === undefined || raw === null) return [];
  let value: unknown = raw;
  if (typeof raw === 'string') {
    if (raw.trim() === '') return [];
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new QueryError('filters', `filters is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (value === null) return [];
  if (!Array.isArray(value)) {
    throw new QueryError('filters', 'filters must be a JSON array of conditions');
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

class FilterCompiler {
  private conditions = 0;
  readonly params: SqlValue[] = [];

  constructor(
    private readonly spec: TableSpec,
    private readonly dialect: Dialect,
  ) {}

  /** AND of a list of conditions / or-groups; '1=1' when empty. */
  conjunction(items: unknown[], depth: number): string {
    if (depth > MAX_FILTER_DEPTH) {
      throw new QueryError('filters', `filters nest deeper than ${MAX_FILTER_DEPTH} levels`);
    }
    const parts = items.map((item) => this.element(item, depth));
    if (parts.length === 0) return '1=1';
    return parts.length === 1 ? parts[0]! : parts.map((p) => `(${p})`).join(' AND ');
  }

  private element(item: unknown, depth: number): string {
    if (!isPlainObject(item)) {
      throw new QueryError('filters', `each filter must be an object, got ${describe(item)}`);
    }
    if (Object.prototype.hasOwnProperty.call(item, 'or')) return this.orGroup(item, depth);
    return this.condition(item);
  }

  private orGroup(item: Record<string, unknown>, depth: number): string {
    const extra = Object.keys(item).filter((k) => k !== 'or');
    if (extra.length > 0) {
      throw new QueryError('filters', `an "or" group must have no other keys (got ${extra.join(', ')})`);
    }
    const branches = item.or;
    if (!Array.isArray(branches)) {
      throw new QueryError('filters', '"or" must be an array of condition arrays');
    }
    if (branches.length === 0) return '1=1';
    const parts = branches.map((branch) => {
      if (!Array.isArray(branch)) {
        throw new QueryError('filters', '"or" must be an array of condition arrays');
      }
      return `(${this.conjunction(branch, depth + 1)})`;
    });
    return parts.join(' OR ');
  }

  private condition(item: Record<string, unknown>): string {
    if (++this.conditions > MAX_CONDITIONS) {
      throw new QueryError('filters', `more than ${MAX_CONDITIONS} conditions`);
    }
    const name = item.field_name;
    if (typeof name !== 'string' || name === '') {
      throw new QueryError('filters', 'a condition needs a "field_name" string');
    }
    // A Map lookup, so "__proto__" or "constructor" cannot reach anything.
    const field = this.spec.fields.get(name);
    if (field === undefined) {
      throw new QueryError('filters', `unknown field "${describe(name)}" in filters`, name);
    }
    const misspelt = item.opertator; // gosip's spelling, kept for compatibility
    const spelt = item.operator;
    if (misspelt !== undefined && spelt !== undefined && misspelt !== spelt) {
      throw new QueryError('filters', `"opertator" and "operator" disagree for "${name}"`, name);
    }
    const rawOp = misspelt ?? spelt;
    if (typeof rawOp !== 'string') {
      throw new QueryError('filters', `condition on "${name}" needs an "operator"`, name);
    }
    const op = rawOp.trim().toLowerCase();
    if (!OPERATORS.has(op)) {
      throw new QueryError('filters', `unsupported operator "${describe(rawOp)}" for "${name}"`, name);
    }
    if (!Object.prototype.hasOwnProperty.call(item, 'value')) {
      throw new QueryError('filters', `condition on "${name}" needs a "value"`, name);
    }
    const column = quoteIdent(this.dialect, field.column);
    const value = item.value;

    switch (op) {
      case 'in':
      case 'notin': {
        const values = this.listValues(name, field, value);
        if (values.length === 0) return op === 'in' ? '1=0' : '1=1';
        for (const v of values) this.params.push(v);
        const marks = values.map(() => '?').join(', ');
        return `${column} ${op === 'in' ? 'IN' : 'NOT IN'} (${marks})`;
      }
      case 'like': {
        // Numbers print differently per engine (1.0 vs 1), so "contains" is for text only.
        if (field.type !== 'text') {
          throw new QueryError('filters', `"like" needs a text field, "${name}" is not`, name);
        }
        if (typeof value !== 'string' && typeof value !== 'number') {
          throw new QueryError('filters', `"like" on "${name}" needs a string value`, name);
        }
        this.params.push(`%${escapeLike(String(value))}%`);
        // Case-insensitive on both engines, whatever the column's collation.
        return `LOWER(${column}) LIKE LOWER(?) ESCAPE '${LIKE_ESCAPE}'`;
      }
      default: {
        if (value === null) {
          if (op === '=') return `${column} IS NULL`;
          if (op === '<>' || op === '!=') return `${column} IS NOT NULL`;
          throw new QueryError('filters', `"${op}" on "${name}" cannot compare with null`, name);
        }
        this.params.push(coerce(name, field, value));
        return `${column} ${op === '!=' ? '<>' : op} ?`;
      }
    }
  }

  private listValues(name: string, field: FieldSpec, value: unknown): SqlValue[] {
    let items: unknown[];
    if (Array.isArray(value)) items = value;
    else if (typeof value === 'string') {
      // gosip: trim commas at both ends, then split.
      items = value
        .replace(/^,+|,+$/g, '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    } else if (typeof value === 'number' || typeof value === 'boolean') items = [value];
    else throw new QueryError('filters', `"in"/"notin" on "${name}" needs an array or a comma list`, name);
    if (items.length > MAX_IN_VALUES) {
      throw new QueryError('filters', `more than ${MAX_IN_VALUES} values for "${name}"`, name);
    }
    return items.map((v) => {
      if (v === null) throw new QueryError('filters', `null in the list for "${name}"`, name);
      return coerce(name, field, v);
    });
  }
}

/** Escapes LIKE metacharacters so a value matches literally inside `%...%`. */
export function escapeLike(value: string): string {
  return value.replace(/[!%_]/g, (c) => LIKE_ESCAPE + c);
}

function coerce(name: string, field: FieldSpec, value: unknown): SqlValue {
  const bad = (what: string): never => {
    throw new QueryError('filters', `"${name}" expects ${what}, got ${describe(value)}`, name);
  };
  switch (field.type) {
    case 'int':
    case 'real': {
      if (typeof value === 'number') return Number.isFinite(value) ? value : bad('a number');
      if (typeof value === 'boolean') return value ? 1 : 0;
      if (typeof value === 'string' && /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(value)) {
        return Number(value);
      }
      return bad('a number');
    }
    case 'bool': {
      if (value === true || value === 1 || value === '1' || value === 'true') return 1;
      if (value === false || value === 0 || value === '0' || value === 'false') return 0;
      return bad('true/false or 1/0');
    }
    case 'text': {
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      return bad('a string');
    }
  }
}

/** WHERE body for the `filters` value (JSON text or parsed array). */
export function compileFilters(spec: TableSpec, filters: unknown, dialect: Dialect): SqlFragment {
  const items = parseFilters(filters);
  const compiler = new FilterCompiler(spec, dialect);
  const sql = compiler.conjunction(items, 0);
  return { sql, params: compiler.params };
}

/** Compiles a whole ListQuery; throws QueryError for any invalid part. */
export function compileListQuery(
  spec: TableSpec,
  query: ListQuery | undefined,
  dialect: Dialect,
): CompiledListQuery {
  const q = query ?? {};
  const { limit, offset } = parsePaging(q);
  const orderBy = compileSort(spec, q.sort, dialect);
  const { sql, params } = compileFilters(spec, q.filters, dialect);
  return { where: sql, params, orderBy, limit, offset };
}
