import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: Auth0's user carries last_password_reset, the time its password last changed (a reset, a
 * change on the account page, an admin setting it). Actions that make users rotate old passwords
 * read it (Auth0's marketplace template "check last password reset"); without it they fell back
 * to created_at and denied users who had just changed their password. Existing users start
 * without one, as on Auth0 for a user whose password never changed.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => { t.string('last_password_reset', 40); });
}

export async function down(knex: Knex): Promise<void> {
  await dropColumns(knex, 'users', ['last_password_reset']);
}
