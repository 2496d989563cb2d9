import type { Knex } from 'knex';
import { createHash } from 'node:crypto';

/*
 * Why: the Management API's refresh-token endpoints (GET, PATCH and DELETE /refresh-tokens/{id})
 * find a token by the id post-login actions see as event.refresh_token.id: its family's
 * (src/oidc/token-family.ts), kept from now on in the row's indexed uid column, which refresh
 * tokens did not use. A row whose payload names its family (ghFamily: a down and up again) gets
 * that; a refresh token issued before families were kept is the first of its own as far as anyone
 * can tell: its id is a digest of itself, as the event showed it, and tokens rotated from it
 * inherit that id. No new column: uid is indexed already.
 *
 * PostgreSQL does it in one statement (sha256 in SQL); SQLite, which has no digest function, in
 * batches walked by id (each batch starts where the last one ended, not at the start again).
 */
/** token-family.ts familyIdOf as of this migration (kept here: a migration does not change with the code). */
const familyIdOf = (jti: string) => `rt_${createHash('sha256').update(jti).digest('base64url').slice(0, 22)}`;
const FAMILY_IN_PAYLOAD = /"ghFamily":"(rt_[A-Za-z0-9_-]{22})"/;

export async function up(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'pg') {
    await knex.raw(`update oidc_payloads set uid = coalesce(substring(payload from ?), 'rt_' || left(translate(encode(sha256(convert_to(id, 'UTF8')), 'base64'), '+/', '-_'), 22))
      where type = 'RefreshToken' and uid is null`, [FAMILY_IN_PAYLOAD.source]);
    return;
  }
  let after = '';
  for (;;) {
    const rows: { id: string; payload: string }[] = await knex('oidc_payloads').where({ type: 'RefreshToken' }).whereNull('uid').andWhere('id', '>', after)
      .orderBy('id').limit(1000).select('id', 'payload');
    if (rows.length === 0) break;
    for (const r of rows) await knex('oidc_payloads').where({ type: 'RefreshToken', id: r.id }).update({ uid: FAMILY_IN_PAYLOAD.exec(r.payload)?.[1] ?? familyIdOf(r.id) });
    after = rows[rows.length - 1].id;
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex('oidc_payloads').where({ type: 'RefreshToken' }).update({ uid: null });
}
