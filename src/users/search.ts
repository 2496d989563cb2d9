import type { Knex } from 'knex';
import { badRequest } from '../shared/errors.ts';
import { canonicalEmail } from './email.ts';

/**
 * Auth0's user search (`GET /api/v2/users?q=…`, its Lucene syntax) as far as a user table
 * answers it: `field:value`, `field:"a phrase"`, wildcards (`email:*@example.com`,
 * `name:jo*`), ranges (`logins_count:[2 TO *]`, `created_at:{2024-01-01 TO 2025-01-01}`),
 * `_exists_:field`, `app_metadata.<path>` and `user_metadata.<path>` (a value, or one of an
 * array's strings), joined with AND, OR and NOT and grouped with parentheses. Terms must be
 * joined explicitly: Lucene's default operator would silently widen a query. Everything is
 * bound as parameters; field paths are checked names, never text spliced into SQL.
 */

type Value =
  | { kind: 'exact'; text: string }
  | { kind: 'wild'; text: string }
  | { kind: 'range'; lo: string | null; hi: string | null; loIncl: boolean; hiIncl: boolean }
  | { kind: 'exists' };
export type SearchNode =
  | { op: 'and' | 'or'; items: SearchNode[] }
  | { op: 'not'; item: SearchNode }
  | { op: 'term'; field: string; value: Value };

const MAX_TERMS = 20;
/** Metadata terms scan every row's JSON: fewer of them. */
const MAX_METADATA_TERMS = 8;
const MAX_DEPTH = 5;
const TEXT_COLUMNS: Record<string, string> = { user_id: 'id', email: 'email', name: 'name', nickname: 'nickname', given_name: 'given_name', family_name: 'family_name' };
const BOOL_COLUMNS = new Set(['email_verified', 'blocked']);
const DATE_COLUMNS = new Set(['created_at', 'updated_at', 'last_login', 'last_password_reset']);
const META_PATH = /^(app_metadata|user_metadata)((?:\.[A-Za-z0-9_-]{1,64}){1,5})$/;
/** A segment of digits is an array index to PostgreSQL and a key to SQLite: refused rather than answered differently. */
const INDEX_SEGMENT = /\.(?:-?\d+)(?=\.|$)/;
const FIELDS = [...Object.keys(TEXT_COLUMNS), ...BOOL_COLUMNS, 'logins_count', ...DATE_COLUMNS, 'identities.connection', 'identities.provider', 'app_metadata.<path>', 'user_metadata.<path>'];

const fail = (why: string): never => { throw badRequest(`Query validation error: q: ${why}`, 'invalid_query_string'); };

// ---- parsing --------------------------------------------------------------------------------

type Tok = { t: '(' | ')' | 'AND' | 'OR' | 'NOT' } | { t: 'term'; field: string; value: Value };

function tokenize(q: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const word = () => { const m = /^[^\s()"[\]{}]+/.exec(q.slice(i)); return m ? m[0] : ''; };
  while (i < q.length) {
    const c = q[i];
    if (/\s/.test(c)) { i++; continue; }
    if (c === '(' || c === ')') { out.push({ t: c }); i++; continue; }
    const w = word();
    if (w === 'AND' || w === 'OR' || w === 'NOT') { out.push({ t: w }); i += w.length; continue; }
    if (w === '&&' || w === '||') { out.push({ t: w === '&&' ? 'AND' : 'OR' }); i += 2; continue; }
    const colon = w.indexOf(':');
    if (colon <= 0) fail(`"${w.slice(0, 40) || q[i]}" is not a field:value term (searching every field is not supported; name a field: ${FIELDS.join(', ')})`);
    const field = w.slice(0, colon);
    i += colon + 1;
    const rest = q.slice(i);
    let value: Value;
    if (rest.startsWith('"')) {
      const m = /^"((?:[^"\\]|\\.)*)"/.exec(rest);
      if (!m) fail('a quoted value is not closed');
      value = { kind: 'exact', text: m![1].replace(/\\(.)/g, '$1') };
      i += m![0].length;
    } else if (rest.startsWith('[') || rest.startsWith('{')) {
      const m = /^([[{])\s*(\S+)\s+TO\s+(\S+?)\s*([\]}])/.exec(rest);
      if (!m) fail(`a range is [from TO to] or {from TO to}, with * for open ends (${field})`);
      value = { kind: 'range', lo: m![2] === '*' ? null : m![2], hi: m![3] === '*' ? null : m![3], loIncl: m![1] === '[', hiIncl: m![4] === ']' };
      i += m![0].length;
    } else {
      const v = word();
      if (v === '') fail(`${field}: has no value`);
      i += v.length;
      value = field === '_exists_' ? { kind: 'exact', text: v } : /[*?]/.test(v) ? { kind: 'wild', text: v } : { kind: 'exact', text: v };
    }
    if (field === '_exists_') {
      if (value.kind !== 'exact') fail('_exists_: names a field');
      out.push({ t: 'term', field: (value as { text: string }).text, value: { kind: 'exists' } });
    } else {
      out.push({ t: 'term', field, value });
    }
  }
  return out;
}

/** or := and (OR and)* ; and := unary (AND unary)* ; unary := NOT unary | '(' or ')' | term */
export function parseUserSearch(q: string): SearchNode {
  const toks = tokenize(q);
  if (toks.length === 0) fail('is empty');
  let pos = 0, terms = 0, metaTerms = 0;
  const peek = () => toks[pos];
  function or(depth: number): SearchNode {
    const items = [and(depth)];
    while (peek()?.t === 'OR') { pos++; items.push(and(depth)); }
    return items.length === 1 ? items[0] : { op: 'or', items };
  }
  function and(depth: number): SearchNode {
    const items = [unary(depth)];
    for (;;) {
      const t = peek();
      if (t?.t === 'AND') { pos++; items.push(unary(depth)); continue; }
      if (t && t.t !== 'OR' && t.t !== ')') fail('join terms with AND or OR (Lucene would take a space as OR)');
      break;
    }
    return items.length === 1 ? items[0] : { op: 'and', items };
  }
  function unary(depth: number): SearchNode {
    if (depth > MAX_DEPTH) fail(`nested deeper than ${MAX_DEPTH} levels`);
    const t = peek();
    if (!t) fail('ends where a term was expected');
    pos++;
    if (t!.t === 'NOT') return { op: 'not', item: unary(depth + 1) };
    if (t!.t === '(') {
      const inner = or(depth + 1);
      if (peek()?.t !== ')') fail('a parenthesis is not closed');
      pos++;
      return inner;
    }
    if (t!.t !== 'term') fail(`${t!.t} where a term was expected`);
    if (++terms > MAX_TERMS) fail(`more than ${MAX_TERMS} terms`);
    const term = t as { t: 'term'; field: string; value: Value };
    checkField(term.field, term.value);
    if (META_PATH.test(term.field) && ++metaTerms > MAX_METADATA_TERMS) fail(`more than ${MAX_METADATA_TERMS} metadata terms`);
    return { op: 'term', field: term.field, value: term.value };
  }
  const node = or(0);
  if (pos !== toks.length) fail(`unexpected ${toks[pos].t}`);
  return node;
}

function checkField(field: string, v: Value) {
  const known = Object.hasOwn(TEXT_COLUMNS, field) || BOOL_COLUMNS.has(field) || DATE_COLUMNS.has(field) || field === 'logins_count'
    || field === 'identities.connection' || field === 'identities.provider' || META_PATH.test(field);
  if (!known) fail(`${field.slice(0, 64)} is not a field users can be searched by (${FIELDS.join(', ')})`);
  if (META_PATH.test(field) && INDEX_SEGMENT.test(field)) fail(`${field.slice(0, 64)}: a path names keys, not array positions (a value in an array matches the array's field)`);
  if (v.kind === 'range' && !(DATE_COLUMNS.has(field) || field === 'logins_count')) fail(`${field}: ranges are for logins_count and dates`);
  if (v.kind === 'wild' && (BOOL_COLUMNS.has(field) || DATE_COLUMNS.has(field) || field === 'logins_count')) fail(`${field}: wildcards are for text`);
  if (v.kind === 'exact' && BOOL_COLUMNS.has(field) && v.text !== 'true' && v.text !== 'false') fail(`${field}: true or false`);
  if (v.kind === 'exact' && field === 'logins_count' && !/^\d{1,9}$/.test(v.text)) fail('logins_count: a whole number');
  if (v.kind === 'exists' && (field === 'user_id' || field === 'email' || BOOL_COLUMNS.has(field) || field === 'logins_count' || field.startsWith('identities.'))) fail(`_exists_:${field}: every user has it`);
}

// ---- SQL -------------------------------------------------------------------------------------

/**
 * Lucene's * and ? against a fixed text, without case, in time linear in their lengths' product
 * (the greedy two-pointer walk; a regular expression built from the pattern backtracks
 * exponentially on `**********x`: the security review froze the server with ten stars).
 */
function globMatch(pattern: string, text: string): boolean {
  const p = pattern.toLowerCase(), t = text.toLowerCase();
  let i = 0, j = 0, star = -1, mark = 0;
  while (j < t.length) {
    if (i < p.length && (p[i] === '?' || p[i] === t[j])) { i++; j++; }
    else if (i < p.length && p[i] === '*') { star = i++; mark = j; }
    else if (star >= 0) { i = star + 1; j = ++mark; }
    else return false;
  }
  while (i < p.length && p[i] === '*') i++;
  return i === p.length;
}

/** A LIKE pattern from Lucene wildcards (* any run, ? one character), the rest literal. */
function likePattern(v: string): string {
  return v.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, '%').replace(/\?/g, '_');
}
function isoBound(v: string, field: string, end: boolean): string {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(v);
  const t = Date.parse(day ? `${v}T00:00:00.000Z` : v);
  // Years 0 to 9999 only: stored dates compare as text, and an expanded year (+275760-…) sorts first.
  if (!Number.isFinite(t) || t < -62167219200000 || t > 253402300799999) fail(`${field}: ${v.slice(0, 40)} is not a date between the years 0 and 9999`);
  // A day as the inclusive end of a range means the whole day.
  return new Date(day && end ? t + 86_400_000 - 1 : t).toISOString();
}

/** Adds `node` to the query as a WHERE condition. */
export function applyUserSearch(qb: Knex.QueryBuilder, node: SearchNode, sqlite: boolean): void {
  switch (node.op) {
    case 'and': qb.where((w) => { for (const n of node.items) w.andWhere((x) => applyUserSearch(x, n, sqlite)); }); return;
    case 'or': qb.where((w) => { for (const n of node.items) w.orWhere((x) => applyUserSearch(x, n, sqlite)); }); return;
    // Lucene's NOT: every user the term does not match, those without the field included (SQL's
    // NOT of a comparison with a missing value is unknown, which would leave them out).
    // A correlated NOT EXISTS (an anti-join): NOT IN over a large table made PostgreSQL scan the
    // subquery once per row (minutes at 200,000 users). Unqualified columns in the term resolve
    // to the inner `n`; nested NOTs correlate with the same id.
    case 'not': qb.whereNotExists(function notMatching(this: Knex.QueryBuilder) { this.select('n.id').from({ n: 'users' }).whereRaw('n.id = users.id').andWhere((w) => applyUserSearch(w, node.item, sqlite)); }); return;
    case 'term': term(qb, node.field, node.value, sqlite);
  }
}

function term(qb: Knex.QueryBuilder, field: string, v: Value, sqlite: boolean) {
  const like = (sql: string, value: string) => qb.whereRaw(`lower(${sql}) like lower(?) escape '\\'`, [likePattern(value)]);
  if (Object.hasOwn(TEXT_COLUMNS, field)) {
    const col = TEXT_COLUMNS[field];
    if (v.kind === 'exists') { qb.whereNotNull(col).andWhere(col, '<>', ''); return; }
    if (v.kind === 'wild') { like(col, field === 'email' ? v.text.toLowerCase() : v.text); return; }
    if (v.kind !== 'exact') return;
    if (field === 'email') {
      // Not an address: matches nothing (no stand-in value: PostgreSQL refuses a NUL in text).
      const canon = canonicalEmail(v.text);
      if (canon) qb.where(col, canon); else qb.whereRaw('1 = 0');
    } else if (field === 'user_id') {
      qb.where(col, v.text);
    } else {
      qb.whereRaw(`lower(${col}) = lower(?)`, [v.text]);
    }
    return;
  }
  if (BOOL_COLUMNS.has(field)) { qb.where(field, v.kind === 'exact' && v.text === 'true'); return; }
  if (field === 'logins_count') {
    if (v.kind === 'exact') qb.where('logins_count', Number(v.text));
    if (v.kind === 'range') {
      const num = (x: string) => (/^\d{1,9}$/.test(x) ? Number(x) : fail(`logins_count: ${x.slice(0, 20)} is not a whole number`));
      if (v.lo !== null) qb.where('logins_count', v.loIncl ? '>=' : '>', num(v.lo));
      if (v.hi !== null) qb.where('logins_count', v.hiIncl ? '<=' : '<', num(v.hi));
    }
    return;
  }
  if (DATE_COLUMNS.has(field)) {
    // Stored as ISO 8601 in UTC: text order is time order.
    if (v.kind === 'exists') { qb.whereNotNull(field); return; }
    if (v.kind === 'exact') { qb.where(field, '>=', isoBound(v.text, field, false)).andWhere(field, '<=', isoBound(v.text, field, true)); return; }
    if (v.kind === 'range') {
      if (v.lo !== null) qb.where(field, v.loIncl ? '>=' : '>', isoBound(v.lo, field, !v.loIncl));
      if (v.hi !== null) qb.where(field, v.hiIncl ? '<=' : '<', isoBound(v.hi, field, v.hiIncl));
    }
    return;
  }
  if (field === 'identities.connection' || field === 'identities.provider') {
    // One identity per user here: the database connection's.
    const value = field === 'identities.connection' ? 'Username-Password-Authentication' : 'auth0';
    const hit = v.kind === 'exact' ? v.text === value : v.kind === 'wild' ? globMatch(v.text, value) : false;
    if (!hit) qb.whereRaw('1 = 0');
    return;
  }
  const m = META_PATH.exec(field)!;
  const col = m[1];
  const segs = m[2].slice(1).split('.');
  if (sqlite) {
    const path = `$${segs.map((s) => `."${s}"`).join('')}`;
    const scalar = `(case json_type(${col}, ?) when 'true' then 'true' when 'false' then 'false' when 'array' then null when 'object' then null else cast(json_extract(${col}, ?) as text) end)`;
    // A JSON null does not exist, as on PostgreSQL.
    if (v.kind === 'exists') { qb.whereRaw(`json_type(${col}, ?) is not null and json_type(${col}, ?) <> 'null'`, [path, path]); return; }
    if (v.kind === 'exact') {
      qb.where((w) => w.whereRaw(`${scalar} = ?`, [path, path, v.text])
        .orWhereRaw(`(json_type(${col}, ?) = 'array' and exists (select 1 from json_each(${col}, ?) e where e.type = 'text' and e.value = ?))`, [path, path, v.text]));
      return;
    }
    if (v.kind === 'wild') { qb.whereRaw(`lower(${scalar}) like lower(?) escape '\\'`, [path, path, likePattern(v.text)]); return; }
    return;
  }
  // Each element quoted: an unquoted null would be a NULL element (segments are checked names).
  const path = `{${segs.map((s) => `"${s}"`).join(',')}}`;
  if (v.kind === 'exists') { qb.whereRaw(`(${col}::jsonb #> ?::text[]) is not null and jsonb_typeof(${col}::jsonb #> ?::text[]) <> 'null'`, [path, path]); return; }
  const scalar = `(case when jsonb_typeof(${col}::jsonb #> ?::text[]) in ('string', 'number', 'boolean') then ${col}::jsonb #>> ?::text[] end)`;
  if (v.kind === 'exact') {
    qb.where((w) => w.whereRaw(`${scalar} = ?`, [path, path, v.text])
      .orWhereRaw(`(jsonb_typeof(${col}::jsonb #> ?::text[]) = 'array' and (${col}::jsonb #> ?::text[]) @> jsonb_build_array(?::text))`, [path, path, v.text]));
    return;
  }
  if (v.kind === 'wild') qb.whereRaw(`lower(${scalar}) like lower(?) escape '\\'`, [path, path, likePattern(v.text)]);
}
