import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: password-reset tokens must die when the password changes by any route (the reset
 * itself, /account, the Management API, a future one), not only where a flow remembers to
 * invalidate them. A reset token therefore records a fingerprint of the password hash it was
 * issued against; a token whose fingerprint no longer matches is refused (SECURITY 3.6).
 *
 * The /account page keeps its own short re-authenticated session. Its cookie is signed, but a
 * signature alone cannot be revoked: "Sign out" and a password change must end the session on
 * the server (ASVS 5 7.4.1, 7.4.3), so each session is a row that the cookie names.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('email_tokens', (t) => {
    /** SHA-256 over the user's password hash when the token was issued (reset tokens only). */
    t.string('password_fp', 64);
  });
  await knex.schema.createTable('account_sessions', (t) => {
    /** SHA-256 of the random session id the cookie carries (the cookie value is never stored). */
    t.string('id_hash', 64).primary();
    t.string('user_id', 64).notNullable().references('users.id').onDelete('CASCADE');
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('created_at').notNullable();
    t.index(['user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('account_sessions');
  await dropColumns(knex, 'email_tokens', ['password_fp']);
}
