import { isSqlite, withSqliteConnection, type Db } from './knex.ts';

/** Error codes that mean the storage cannot take writes: read-only, full, I/O, corrupt. */
const STORAGE_ERROR = /^(SQLITE_(READONLY|FULL|IOERR|CANTOPEN|CORRUPT|NOTADB)|53100|53000|25006|58030)/;
const WRITES = new Set(['insert', 'update', 'del', 'delete', 'truncate']);

/** Whether a knex write result changed rows: a count (update, delete), inserted ids (SQLite), or pg's rowCount. */
function changedRows(r: unknown): boolean {
  if (typeof r === 'number') return r > 0;
  if (Array.isArray(r)) return r.length > 0;
  const count = (r as { rowCount?: unknown } | null)?.rowCount;
  return typeof count === 'number' && count > 0;
}

/**
 * The database's health for `/healthz` (SECURITY F6: a disk that filled up or a database that
 * turned read-only must turn the health check red, not only fail logins). Two signals:
 * - passive: a write that failed with a storage error (read-only, disk full, I/O) marks the
 *   database failing until a later write changes rows (execution records, written on the raw
 *   connection in batches, are not seen here; the flows' own writes are);
 * - active, SQLite: the check takes the write lock (BEGIN IMMEDIATE, then ROLLBACK) on the
 *   pool's only connection, synchronously, so no other query can run inside it. A lock held by
 *   another process (busy) counts as writable.
 */
export function createDbHealth(db: Db) {
  let failing: { code: string; since: number } | null = null;
  db.on('query-error', (err: { code?: unknown } | undefined) => {
    const code = String(err?.code ?? '');
    if (STORAGE_ERROR.test(code)) failing ??= { code, since: Date.now() };
  });
  // Only a write that changed something proves the storage takes writes again: a DELETE that
  // matched nothing (the sweeps run them every 30 s) succeeds on a full disk too.
  db.on('query-response', (r: unknown, q: { method?: string } | undefined) => {
    if (failing !== null && q?.method !== undefined && WRITES.has(q.method) && changedRows(r)) failing = null;
  });

  function probeSqlite(): Promise<string | null> {
    return withSqliteConnection(db, (conn) => {
      const busy = conn.pragma('busy_timeout', { simple: true });
      conn.pragma('busy_timeout = 0');
      try {
        conn.exec('BEGIN IMMEDIATE');
        conn.exec('ROLLBACK');
        return null;
      } catch (e) {
        const code = String((e as { code?: unknown }).code ?? '');
        return code.startsWith('SQLITE_BUSY') ? null : code || 'error';
      } finally {
        // A failed ROLLBACK must not hand the pool's only connection back inside a transaction.
        if (conn.inTransaction) { try { conn.exec('ROLLBACK'); } catch { /* reported by the next check */ } }
        conn.pragma(`busy_timeout = ${Number(busy) || 0}`);
      }
    });
  }

  return {
    /** ok, or why not: 'database' (unreachable) or 'database not writable'. */
    async check(): Promise<{ ok: true } | { ok: false; reason: string; code?: string }> {
      try {
        await db.raw('select 1');
      } catch {
        return { ok: false, reason: 'database' };
      }
      const probe = isSqlite(db) ? await probeSqlite() : null;
      if (probe !== null) return { ok: false, reason: 'database not writable', code: probe };
      if (failing !== null) return { ok: false, reason: 'database not writable', code: failing.code };
      return { ok: true };
    },
  };
}
