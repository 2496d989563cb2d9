import type { Knex } from 'knex';

/*
 * Why: user metadata is searched as PostgreSQL jsonb (GET /api/v2/users?q=app_metadata.…), and
 * jsonb refuses a NUL and a lone UTF-16 surrogate, which metadata could hold before they were
 * refused on write: one such row makes every metadata search on the table fail. Such strings
 * (values and keys) are repaired in place: NULs dropped, lone surrogates replaced by U+FFFD, as
 * String.prototype.toWellFormed does. Rows without them are not touched; there is nothing to undo.
 * A repaired row is written back through JSON.parse and JSON.stringify (integers past 2^53 lose
 * precision there, in those rows only); metadata that is not JSON at all is left as it is.
 */
const bad = (s: string) => s.includes('\u0000') || !s.isWellFormed();
const fix = (s: string) => s.replaceAll('\u0000', '').toWellFormed();

function repair(v: unknown): unknown {
  if (typeof v === 'string') return bad(v) ? fix(v) : v;
  if (Array.isArray(v)) return v.map(repair);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  const put = (key: string, child: unknown) => Object.defineProperty(out, key, { value: repair(child), enumerable: true, writable: true, configurable: true });
  // Keys that were fine first; a repaired key that becomes one of them (or of each other) gives
  // way: the value stored under the clean name is the one to keep.
  for (const [k, child] of Object.entries(v)) if (!bad(k)) put(k, child);
  for (const [k, child] of Object.entries(v)) if (bad(k) && !Object.hasOwn(out, fix(k))) put(fix(k), child);
  return out;
}

export async function up(knex: Knex): Promise<void> {
  let after = '';
  for (;;) {
    const rows: { id: string; app_metadata: string; user_metadata: string }[] = await knex('users').where('id', '>', after).orderBy('id').limit(500).select('id', 'app_metadata', 'user_metadata');
    if (rows.length === 0) break;
    for (const r of rows) {
      const upd: Record<string, string> = {};
      for (const col of ['app_metadata', 'user_metadata'] as const) {
        let parsed: unknown;
        try { parsed = JSON.parse(r[col]); } catch { continue; }
        const repaired = JSON.stringify(repair(parsed));
        if (repaired !== JSON.stringify(parsed)) upd[col] = repaired;
      }
      // Only if the row is as it was read (another node may write during a rolling deploy).
      if (Object.keys(upd).length > 0) await knex('users').where({ id: r.id, app_metadata: r.app_metadata, user_metadata: r.user_metadata }).update(upd);
    }
    after = rows[rows.length - 1].id;
  }
}

export async function down(): Promise<void> {
  // A repair: the broken strings are not put back.
}
