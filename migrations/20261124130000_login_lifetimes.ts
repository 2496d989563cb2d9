import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: post-login actions can now set a session's and a refresh token's expiry
 * (api.session.setExpiresAt / setIdleExpiresAt, api.refreshToken.setExpiresAt / setIdleExpiresAt).
 * An interactive login runs its chain before the authorization resumes, possibly in parts (a
 * redirect, a second factor), and the session is saved only at that resume: what the chain asked
 * for travels with the login's claims until then. JSON text, null for nothing asked.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('action_login_claims', (t) => { t.text('lifetimes').nullable(); });
}

export async function down(knex: Knex): Promise<void> {
  await dropColumns(knex, 'action_login_claims', ['lifetimes']);
}
