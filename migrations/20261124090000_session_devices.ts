import type { Knex } from 'knex';

/*
 * Why: Auth0's post-login event.session carries the device a session started on and was last
 * used from (event.session.device.initial_ip, last_ip, initial_user_agent, last_user_agent).
 * Actions that answer a hijacked session with api.session.revoke compare them with the current
 * request; without them such an action saw undefined, and one testing `initial_ip !== ip`
 * revoked every session. oidc-provider's session keeps only its own fields, so the device lives
 * here, keyed by the session's uid (what event.session.id is), written when post-login runs.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('session_devices', (t) => {
    t.string('session_uid', 64).primary();
    t.string('initial_ip', 64).notNullable();
    t.string('initial_user_agent', 512).notNullable();
    t.string('last_ip', 64).notNullable();
    t.string('last_user_agent', 512).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable().index();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('session_devices');
}
