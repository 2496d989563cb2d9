import type { Knex } from 'knex';

/*
 * Why: Auth0's api.authentication.recordMethod(providerUrl), called in onContinuePostLogin after
 * a redirect to an outside authenticator, marks that method done in the session: later logins
 * there see it in event.authentication.methods, which is how such actions know not to send the
 * user again. oidc-provider's session keeps only its own fields, so the methods live here, keyed
 * by the session's uid (event.session.id), as its device does (session_devices).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('session_methods', (t) => {
    t.string('session_uid', 64).notNullable();
    t.string('name', 512).notNullable();
    t.bigInteger('recorded_at').notNullable().index();
    t.primary(['session_uid', 'name']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('session_methods');
}
