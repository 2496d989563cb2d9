import type { Knex } from 'knex';
import { createHash } from 'node:crypto';

/*
 * Why: the Management API's refresh-token endpoints (GET, PATCH and DELETE /refresh-tokens/{id})
 * find a token by the id post-login actions see as event.refresh_token.id: its family's
 * (src/oidc/token-family.ts), kept from now on in the row's indexed uid column, which refresh
 * tokens did not use. A refresh token issued before is the first of its family as far as anyone
 * can tell: its id is a digest of itself, as the event showed it, and tokens rotated from it
 * inherit that id. No new column: uid is indexed already.
 */
/** token-family.ts familyIdOf as of this migration (kept here: a migration does not change with the code). */
const familyIdOf = (jti: string) => `rt_${createHash('sha256').update(jti).digest('base64url').slice(0, 22)}`;

export async function up(knex: Knex): Promise<void> {
  for (;;) {
    const rows: { id: string }[] = await knex('oidc_payloads').where({ type: 'RefreshToken' }).whereNull('uid').limit(500).select('id');
    if (rows.length === 0) break;
    for (const r of rows) await knex('oidc_payloads').where({ type: 'RefreshToken', id: r.id }).update({ uid: familyIdOf(r.id) });
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex('oidc_payloads').where({ type: 'RefreshToken' }).update({ uid: null });
}
