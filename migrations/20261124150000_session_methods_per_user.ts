import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: a method recorded with api.authentication.recordMethod was written to the session when
 * the continued chain returned, before the login finished, keyed by the session alone: a session
 * with no account yet (a first login) could carry one user's method to the next user who signed
 * in on it, letting a stolen password skip the outside authenticator. Methods are now recorded
 * only when the authorization resumes in the user's session (they travel with the login's claims
 * until then: action_login_claims.methods) and are kept per user; rows from before are dropped,
 * as nothing says whose they were.
 */
export async function up(knex: Knex): Promise<void> {
  await knex('session_methods').delete();
  await knex.schema.alterTable('session_methods', (t) => { t.string('user_id', 128).notNullable().defaultTo('').index(); });
  await knex.schema.alterTable('action_login_claims', (t) => { t.text('methods').nullable(); });
}

export async function down(knex: Knex): Promise<void> {
  await dropColumns(knex, 'action_login_claims', ['methods']);
  await knex.schema.alterTable('session_methods', (t) => { t.dropIndex(['user_id']); });
  await dropColumns(knex, 'session_methods', ['user_id']);
}
