import knexFactory, { type Knex } from 'knex';
import type BetterSqlite3 from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export type Db = Knex;

/**
 * Opens the database named by `url`: `sqlite:<path>` (better-sqlite3, one connection, WAL,
 * foreign keys, busy timeout) or `postgres://…` (pg). With SQLite's pool of one, code must
 * never use the outer `db` inside a `db.transaction` callback: it would wait for the pool
 * while the transaction holds its only connection. That wait is bounded (`acquireTimeoutMs`,
 * 10 s by default, against knex's 60 s): the request fails with a 503 and the transaction
 * rolls back, instead of the whole server stalling for a minute. Statements take micro- to
 * milliseconds, so a legitimate wait for the connection never comes near it.
 */
export function openDatabase(url: string, opts: { acquireTimeoutMs?: number } = {}): Db {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length);
    if (file !== ':memory:') mkdirSync(dirname(resolve(file)), { recursive: true });
    return knexFactory({
      client: 'better-sqlite3',
      connection: { filename: file },
      useNullAsDefault: true,
      // knex puts the SQL with its bound values into error messages by default; those values
      // include token ids, codes and hashes, and errors get logged.
      compileSqlOnError: false,
      acquireConnectionTimeout: opts.acquireTimeoutMs ?? 10_000,
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: BetterSqlite3.Database, done: (err: Error | null, conn: unknown) => void) {
          cacheStatements(conn);
          conn.pragma('journal_mode = WAL');
          conn.pragma('synchronous = NORMAL');
          conn.pragma('foreign_keys = ON');
          conn.pragma('busy_timeout = 5000');
          done(null, conn);
        },
      },
    });
  }
  // TCP keepalive: a connection whose server or node vanished without a goodbye (a start-up
  // lock's holder, lost mid-start) is noticed in minutes, not after the kernel's two hours.
  return knexFactory({ client: 'pg', connection: { connectionString: url, keepAlive: true, keepAliveInitialDelayMillis: 10_000 }, pool: { min: 0, max: 10 }, compileSqlOnError: false });
}

/** Prepared statements a connection keeps, most recently used last (see cacheStatements). */
const STATEMENT_CACHE_SIZE = 500;

/**
 * knex's better-sqlite3 client prepares every query's SQL anew (`connection.prepare(sql)` in
 * its `_query`), and SQLite's prepare is most of what a simple statement costs: measured with
 * bench/knex-cost.ts, a primary-key select through knex took 78 µs of CPU against 4 µs for a
 * statement prepared once. knex builds the same SQL text for the same query shape (values are
 * bound, not inlined), so this connection's `prepare` keeps the statements it made, by SQL
 * text, bounded and least recently used first out. Safe because better-sqlite3 runs a
 * statement to completion synchronously (knex uses `all`/`run`, never `iterate`), nothing
 * here changes a statement's modes, and SQLite re-prepares a kept statement by itself when the
 * schema changes (a migration). The one mode knex sets on a statement (safeIntegers, when a
 * query asks for it) is reset each time a kept statement is handed out.
 */
function cacheStatements(conn: BetterSqlite3.Database): void {
  const prepare = conn.prepare.bind(conn);
  const kept = new Map<string, BetterSqlite3.Statement>();
  conn.prepare = ((sql: string) => {
    // knex opens SQLite transactions with a deferred BEGIN: a transaction that reads and then
    // writes takes the write lock only at its first write, and when another process (the CLI
    // next to the server) wrote in between, that upgrade fails with SQLITE_BUSY at once, the busy
    // timeout notwithstanding. BEGIN IMMEDIATE takes the lock up front, waiting out the busy
    // timeout (SECURITY.md 3.8). In this process the pool of one connection serialises
    // transactions anyway, so it costs nothing here.
    if (sql === 'BEGIN;') sql = 'BEGIN IMMEDIATE;';
    let st = kept.get(sql);
    if (st !== undefined) {
      kept.delete(sql);
      kept.set(sql, st);
      // knex sets safeIntegers on the statement for a query that asks (`.options({ safeIntegers })`);
      // the next user of the kept statement starts from the default again.
      st.safeIntegers(false);
      return st;
    }
    st = prepare(sql);
    kept.set(sql, st);
    if (kept.size > STATEMENT_CACHE_SIZE) kept.delete(kept.keys().next().value as string);
    return st;
  }) as BetterSqlite3.Database['prepare'];
}

export const isSqlite = (db: Db) => db.client.config.client === 'better-sqlite3';

/** A unique index refused the write (PostgreSQL 23505, SQLite's UNIQUE / PRIMARY KEY constraint). */
export const isUniqueViolation = (e: unknown) => {
  const err = e as { code?: string; message?: string };
  return err?.code === '23505' || err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || err?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || /UNIQUE constraint/.test(err?.message ?? '');
};

/**
 * Runs `fn` on the SQLite pool's only connection (better-sqlite3, synchronous), taken from
 * knex's pool so no other query runs meanwhile: for prepared statements knex would rebuild on
 * every call, and for statements that must not interleave with others (a lock probe). Never
 * call it inside a `db.transaction` callback: it would wait for the connection that holds.
 */
export async function withSqliteConnection<T>(db: Db, fn: (conn: BetterSqlite3.Database) => T): Promise<T> {
  const conn = await db.client.acquireConnection() as BetterSqlite3.Database;
  try {
    return fn(conn);
  } finally {
    await db.client.releaseConnection(conn);
  }
}

/** Row values that differ between drivers: 0/1 vs booleans, bigint strings vs numbers. */
export const toBool = (v: unknown) => v === true || v === 1 || v === '1';
export const toNum = (v: unknown) => (v === null || v === undefined ? null : Number(v));
export const parseJson = <T>(v: unknown, fallback: T): T => {
  if (v === null || v === undefined || v === '') return fallback;
  if (typeof v !== 'string') return v as T;
  try { return JSON.parse(v) as T; } catch { return fallback; }
};

/** PostgreSQL advisory lock keys (any 64-bit numbers, the same on every node). */
export const ADVISORY_LOCKS = { startup: 0x47617465_0001, signingKeys: 0x47617465_0002 } as const;

/**
 * Start-up on PostgreSQL is one node at a time: migrations (knex's own lock only works once its
 * lock table and its single row exist: nodes starting together on an empty database both
 * create them), the first signing keys and the system rows are each a read then a write. The
 * lock is PostgreSQL's session advisory lock on a connection of its own, released by `release`
 * or when that connection ends (a node that dies while starting frees it). SQLite: one file
 * that one server opens; nothing to take.
 */
export async function acquireStartupLock(db: Db, onWait: (holder: string) => void = () => {}): Promise<() => Promise<void>> {
  if (isSqlite(db)) return async () => {};
  type Conn = { query(sql: string, args: unknown[]): Promise<{ rows: Record<string, unknown>[] }> };
  const conn = await db.client.acquireConnection() as Conn;
  const key = ADVISORY_LOCKS.startup;
  try {
    // Tried every half second rather than waited for, so that a wait is said once, naming the
    // PostgreSQL session that holds the lock (a node's start-up, or a migration under way).
    for (let said = false; ;) {
      const got = await conn.query('select pg_try_advisory_lock($1) as ok', [key]);
      if (got.rows[0]?.ok === true) break;
      if (!said) {
        said = true;
        const h = await conn.query(
          `select l.pid, a.client_addr, a.backend_start from pg_locks l left join pg_stat_activity a on a.pid = l.pid
           where l.locktype = 'advisory' and l.granted and l.classid = $1 and l.objid = $2 and l.objsubid = 1
             and l.database = (select oid from pg_database where datname = current_database())`,
          [Math.floor(key / 2 ** 32), key % 2 ** 32],
        ).catch(() => ({ rows: [] }));
        const r = h.rows[0];
        onWait(r ? `PostgreSQL session ${String(r.pid)}${r.client_addr ? ` from ${String(r.client_addr)}` : ''}${r.backend_start instanceof Date ? ` since ${r.backend_start.toISOString()}` : ''}` : 'another session');
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } catch (e) {
    await db.client.releaseConnection(conn);
    throw e;
  }
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    try {
      const r = await conn.query('select pg_advisory_unlock($1) as ok', [key]);
      // False only if the lock was not this session's (a pooler that changed the session under
      // it: session advisory locks need a direct connection or PgBouncer's session mode).
      if (r.rows[0]?.ok !== true) throw new Error('the start-up lock was not held by this connection when released (is a transaction-mode pooler between Gatehouse and PostgreSQL?)');
    } finally {
      await db.client.releaseConnection(conn);
    }
  };
}
