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

export async function up(knex: Knex): Promise<void> {
  const pg = knex.client.config.client === 'pg';
  // Walked by id along the primary key (each batch starts where the last one ended).
  let after = '';
  for (;;) {
    const rows: { id: string; payload: string }[] = await knex('oidc_payloads').where({ type: 'RefreshToken' }).andWhere('id', '>', after).whereNull('uid')
      .orderBy('id').limit(1000).select('id', 'payload');
    if (rows.length === 0) break;
    after = rows[rows.length - 1].id;
    if (pg) {
      await knex.raw(`update oidc_payloads as o set uid = v.uid from (values ${rows.map(() => '(?, ?)').join(', ')}) as v(id, uid) where o.type = 'RefreshToken' and o.id = v.id`,
        rows.flatMap((r) => [r.id, familyOf(r.id, r.payload)]));
    } else {
      for (const r of rows) await knex('oidc_payloads').where({ type: 'RefreshToken', id: r.id }).update({ uid: familyOf(r.id, r.payload) });
    }
  }
  // The index last, the old one dropped at the very end: on PostgreSQL the drop locks the table
  // against reads until this migration commits, which it does right after (nodes of the version
  // before keep serving meanwhile during a rolling upgrade).
  await knex.schema.alterTable('oidc_payloads', (t) => { t.index(['type', 'uid']); });
  await knex.schema.alterTable('oidc_payloads', (t) => { t.dropIndex(['uid']); });
}

export async function down(knex: Knex): Promise<void> {
  await knex('oidc_payloads').where({ type: 'RefreshToken' }).update({ uid: null });
  await knex.schema.alterTable('oidc_payloads', (t) => {
    t.dropIndex(['type', 'uid']);
    t.index(['uid']);
  });
}
