import type { Knex } from 'knex';
import { createHash } from 'node:crypto';

/*
 * Why: the Management API's refresh-token endpoints (GET, PATCH and DELETE /refresh-tokens/{id})
 * find a token by the id post-login actions see as event.refresh_token.id: its family's
 * (src/oidc/token-family.ts), kept from now on in the row's uid column, which refresh tokens did
 * not use. A row whose payload names its family (ghFamily, at the top level: a down and up again)
 * gets that; a refresh token issued before families were kept is the first of its own as far as
 * anyone can tell: its id is a digest of itself, as the event showed it, and tokens rotated from
 * it inherit that id.
 *
 * The uid index becomes (type, uid): every lookup by uid names its type, and the rows of one type
 * without a uid (refresh tokens written by a node of the version before, during a rolling
 * upgrade, which the Management API files when it meets them) are found without reading the
 * rest. The backfill walks refresh tokens a thousand at a time (on PostgreSQL one UPDATE each).
 */
/** token-family.ts familyIdOf as of this migration (kept here: a migration does not change with the code). */
const familyIdOf = (jti: string) => `rt_${createHash('sha256').update(jti).digest('base64url').slice(0, 22)}`;
const FAMILY = /^rt_[A-Za-z0-9_-]{22}$/;

function familyOf(id: string, payload: string): string {
  try {
    const f = (JSON.parse(payload) as { ghFamily?: unknown }).ghFamily;
    if (typeof f === 'string' && FAMILY.test(f)) return f;
  } catch { /* not JSON: its own */ }
  return familyIdOf(id);
}

/*
 * Not one transaction: on PostgreSQL a transaction that updated rows holds them until it ends,
 * and a node of the version before that writes one of them (a refresh's consume, its sweep)
 * then waits on that row while holding the table lock the index build needs: a deadlock (seen
 * in a review, with the migration or the refresh cancelled). Each batch commits on its own, the
 * indexes are built and dropped CONCURRENTLY (no lock against writes), and every step can run
 * again: a run cut short is finished by the next start. (On SQLite src/db/migrate.ts runs it in a
 * transaction all the same: there a run cut short leaves nothing done.)
 */
export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  const pg = knex.client.config.client === 'pg';
  // Without statistics (just restored, say) PostgreSQL plans each batch's join as a scan of the
  // whole table (78.8 s for 400,000 rows in a review, 7.8 s once analysed).
  if (pg) await knex.raw('analyze oidc_payloads');
  // Walked by id along the primary key (each batch starts where the last one ended).
  let after = '';
  for (;;) {
    const rows: { id: string; payload: string }[] = await knex('oidc_payloads').where({ type: 'RefreshToken' }).andWhere('id', '>', after).whereNull('uid')
      .orderBy('id').limit(1000).select('id', 'payload');
    if (rows.length === 0) break;
    after = rows[rows.length - 1].id;
    if (pg) {
      await knex.raw(`update oidc_payloads as o set uid = v.uid from (values ${rows.map(() => '(?, ?)').join(', ')}) as v(id, uid) where o.type = 'RefreshToken' and o.id = v.id and o.uid is null`,
        rows.flatMap((r) => [r.id, familyOf(r.id, r.payload)]));
    } else {
      await knex.transaction(async (trx) => {
        for (const r of rows) await trx('oidc_payloads').where({ type: 'RefreshToken', id: r.id }).whereNull('uid').update({ uid: familyOf(r.id, r.payload) });
      });
    }
  }
  await swapIndex(knex, { build: ['oidc_payloads_type_uid_index', '(type, uid)'], drop: 'oidc_payloads_uid_index' });
}

export async function down(knex: Knex): Promise<void> {
  await knex('oidc_payloads').where({ type: 'RefreshToken' }).update({ uid: null });
  await swapIndex(knex, { build: ['oidc_payloads_uid_index', '(uid)'], drop: 'oidc_payloads_type_uid_index' });
}

/** Builds one index on oidc_payloads and drops another, each step skipped when done already. */
async function swapIndex(knex: Knex, o: { build: [string, string]; drop: string }): Promise<void> {
  const [name, columns] = o.build;
  if (knex.client.config.client === 'pg') {
    // A concurrent build cut short leaves an invalid index under the name: built again.
    const found = await knex.raw('select i.indisvalid as valid from pg_index i where i.indexrelid = to_regclass(?)', [name]);
    if (found.rows.length > 0 && !found.rows[0].valid) await knex.raw(`drop index concurrently if exists ${name}`);
    await knex.raw(`create index concurrently if not exists ${name} on oidc_payloads ${columns}`);
    await knex.raw(`drop index concurrently if exists ${o.drop}`);
    return;
  }
  await knex.raw(`create index if not exists ${name} on oidc_payloads ${columns}`);
  await knex.raw(`drop index if exists ${o.drop}`);
}
