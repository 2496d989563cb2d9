import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: a "remember this browser" cookie was bound to the user alone, so it kept skipping the
 * second factor after the authenticator was removed or replaced, after a password change, and
 * nothing could revoke it. The cookie now also carries a fingerprint of the confirmed factor
 * and this counter, which every password change and Auth0's
 * `POST /users/{id}/multifactor/actions/invalidate-remember-browser` raise to forget every
 * remembered browser of the user at once.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => { t.integer('mfa_remember_epoch').notNullable().defaultTo(0); });
}

export async function down(knex: Knex): Promise<void> {
  await dropColumns(knex, 'users', ['mfa_remember_epoch']);
}
