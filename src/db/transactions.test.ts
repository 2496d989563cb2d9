import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/*
 * SECURITY F5, as a guard that needs no code path to run: with SQLite's pool of one
 * connection, a `db.transaction(async (trx) => …)` callback that uses the outer `db` waits for
 * the connection its own transaction holds (src/db/knex.ts bounds that wait; this finds it
 * before it ships). Every transaction callback in src/ must use its `trx` only.
 */

const SRC = join(import.meta.dirname, '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** The text of the block that opens at `open` (a `{`), by brace depth; strings and comments are rare enough here to ignore. */
function blockAt(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(open, i + 1);
  }
  return text.slice(open);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Transaction callbacks in `text` that use an outer knex handle (`db(…)`, `db.…`, or the same
 * through a member: `app.db(…)`), and transactions opened without a callback, which this scan
 * cannot follow. A helper called inside the callback that uses the outer handle is not seen
 * here; on SQLite it fails at run time within the bounded connection wait (src/db/knex.ts).
 */
function outerUseInTransactions(text: string): { line: number; use: string }[] {
  const found: { line: number; use: string }[] = [];
  const lineOf = (i: number) => text.slice(0, i).split('\n').length;
  const start = /((?:\b\w+\.)*\w+)\.transaction\(\s*(?:async\s*)?(?:\(\s*(\w+)\s*(?::\s*[\w.<>\[\]]+\s*)?\)|(\w+))\s*=>\s*\{/g;
  for (const m of text.matchAll(start)) {
    const outer = m[1];
    const inner = m[2] ?? m[3];
    const body = blockAt(text, m.index + m[0].length - 1);
    const use = new RegExp(`(?<![\\w.])${escape(outer)}(?:\\(|\\.(?!transaction\\b))`).exec(body);
    if (use && outer !== inner) found.push({ line: lineOf(m.index), use: body.slice(Math.max(0, use.index - 20), use.index + 30).replace(/\s+/g, ' ') });
  }
  for (const m of text.matchAll(/\.transaction\(\s*\)/g)) found.push({ line: lineOf(m.index), use: 'a transaction opened without a callback: use the callback form, which this scan checks' });
  return found;
}

test('the guard finds the outer db inside a transaction callback, and not a trx-only one', () => {
  assert.deepEqual(outerUseInTransactions('await db.transaction(async (trx) => { await trx("a").insert(x); });'), []);
  assert.equal(outerUseInTransactions('await db.transaction(async (trx) => { await trx("a").insert(x); await db("b").delete(); });').length, 1);
  assert.equal(outerUseInTransactions('await db.transaction(async (trx) => {\n  if (x) { await db.raw("select 1"); }\n});').length, 1);
  // Typed parameter, no parentheses, a member as the handle, no callback at all.
  assert.equal(outerUseInTransactions('await db.transaction(async (trx: Knex.Transaction) => { await db("b").delete(); });').length, 1);
  assert.equal(outerUseInTransactions('await db.transaction(async trx => { await db("b").delete(); });').length, 1);
  assert.equal(outerUseInTransactions('await app.db.transaction(async (trx) => { await app.db("b").delete(); });').length, 1);
  assert.deepEqual(outerUseInTransactions('await app.db.transaction(async (trx) => { await trx("b").delete(); });'), []);
  assert.equal(outerUseInTransactions('const trx = await db.transaction();').length, 1);
});

test('F5: no transaction callback in src/ uses the outer knex handle', () => {
  const offenders: string[] = [];
  let transactions = 0;
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    transactions += [...text.matchAll(/\.transaction\(\s*(?:async\s*)?(?:\([^)]*\)|\w+)\s*=>/g)].length;
    for (const f of outerUseInTransactions(text)) offenders.push(`${relative(SRC, file)}:${f.line}: …${f.use}…`);
  }
  assert.ok(transactions >= 5, `the scan sees the transactions in src/ (found ${transactions})`);
  assert.deepEqual(offenders, []);
});
