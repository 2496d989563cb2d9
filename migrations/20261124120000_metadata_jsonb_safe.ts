import type { Knex } from 'knex';

/*
 * Why: user metadata is searched as PostgreSQL jsonb (GET /api/v2/users?q=app_metadata.…), and
 * jsonb refuses a NUL and a lone UTF-16 surrogate, which metadata could hold before they were
 * refused on write: one such row makes every metadata search on the table fail. Such strings
 * (values and keys) are repaired in place: NULs dropped, lone surrogates replaced by U+FFFD, as
 * String.prototype.toWellFormed does. Rows without them are not touched; there is nothing to undo.
 */
const bad = (s: string) => s.includes('\u0000') || !s.isWellFormed();
const fix = (s: string) => s.replaceAll('\u0000', '').toWellFormed();

function repair(v: unknown): unknown {
  if (typeof v === 'string') return bad(v) ? fix(v) : v;
  if (Array.isArray(v)) return v.map(repair);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, child] of Object.entries(v)) {
    const key = bad(k) ? fix(k) : k;
    // Two keys that become one: the first keeps it.
    if (!Object.hasOwn(out, key)) Object.defineProperty(out, key, { value: repair(child), enumerable: true, writable: true, configurable: true });
  }
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
      if (Object.keys(upd).length > 0) await knex('users').where({ id: r.id }).update(upd);
    }
    after = rows[rows.length - 1].id;
  }
}

export async function down(): Promise<void> {
  // A repair: the broken strings are not put back.
}
