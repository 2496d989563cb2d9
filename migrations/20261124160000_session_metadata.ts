import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: Auth0's session metadata (api.session.setMetadata / deleteMetadata / evictMetadata,
 * event.session.metadata, session_metadata on the Management API's sessions) keeps a few strings
 * with a browser session, for the actions of its later logins and for the systems that end
 * sessions. oidc-provider's session keeps only its own fields: the metadata lives here, keyed by
 * the session's uid and kept for the user it was written for. An interactive login's chain runs
 * before the authorization resumes in the session, so what it wrote travels with the login's
 * claims until then (action_login_claims.session_metadata), as its recorded methods do.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('session_metadata', (t) => {
    t.string('session_uid', 64).primary();
    t.string('user_id', 128).notNullable().index();
    t.text('metadata').notNullable();
    t.bigInteger('updated_at').notNullable().index();
  });
  await knex.schema.alterTable('action_login_claims', (t) => { t.text('session_metadata').nullable(); });
}

export async function down(knex: Knex): Promise<void> {
  await dropColumns(knex, 'action_login_claims', ['session_metadata']);
  await knex.schema.dropTable('session_metadata');
}
