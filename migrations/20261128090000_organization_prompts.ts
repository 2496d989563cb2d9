import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: Auth0's organization prompts. An application that requires an organization but does not
 * know which one (a shared login button) asks the user: for the organization's name before the
 * login (`pre_login_prompt`), or to pick one of theirs after the password (`post_login_prompt`).
 * The application's choice is kept with it; a login whose password was checked and which waits
 * for that pick is kept, bound to its interaction, until the user picks.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.string('organization_require_behavior', 24);
  });
  await knex.schema.createTable('organization_pending', (t) => {
    t.string('interaction_uid', 255).primary();
    t.string('user_id', 64).notNullable().references('users.id').onDelete('CASCADE');
    // The password was checked by the sign-up form (a new account), not the login form.
    t.boolean('signup').notNullable().defaultTo(false);
    // When the password was checked: a password change after it ends the login (src/oidc/provider.ts endStaleLogins).
    t.bigInteger('checked_at').notNullable();
    t.bigInteger('expires_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('organization_pending');
  await dropColumns(knex, 'clients', ['organization_require_behavior']);
}
