import knexFactory, { type Knex } from 'knex';
import type BetterSqlite3 from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export type Db = Knex;

/**
 * Opens the database named by `url`: `sqlite:<path>` (better-sqlite3, one connection, WAL,
 * foreign keys, busy timeout) or `postgres://…` (pg). With SQLite's pool of one, code must
 * never use the outer `db` inside a `db.transaction` callback: it would wait for the pool.
 */
export function openDatabase(url: string): Db {
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
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: { pragma(s: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
          conn.pragma('journal_mode = WAL');
          conn.pragma('synchronous = NORMAL');
          conn.pragma('foreign_keys = ON');
          conn.pragma('busy_timeout = 5000');
          done(null, conn);
        },
      },
    });
  }
  return knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 10 }, compileSqlOnError: false });
}

export const isSqlite = (db: Db) => db.client.config.client === 'better-sqlite3';

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
