import type { Knex } from 'knex';

/*
 * Why: post-login claims were one row per (user, client), marked with the login they belonged
 * to. Two logins of one user at one client (two devices) shared that row: a login paused at an
 * action's redirect or an MFA step lost its first part (claims, scope removals) when the other
 * login or a refresh wrote the row meanwhile. A row per (user, client, login) keeps them apart;
 * rows not written for a refresh token's lifetime are swept (src/server.ts).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('action_login_claims_per_login', (t) => {
    t.string('account_id', 64).notNullable();
    t.string('client_id', 128).notNullable();
    t.string('login_ref', 255).notNullable();
    t.text('id_token').notNullable().defaultTo('{}');
    t.text('access_token').notNullable().defaultTo('{}');
    t.text('scopes').notNullable().defaultTo('{"add":[],"remove":[]}');
    t.bigInteger('updated_at').notNullable();
    t.primary(['account_id', 'client_id', 'login_ref']);
    t.index(['updated_at']);
  });
  await knex.raw(`insert into action_login_claims_per_login (account_id, client_id, login_ref, id_token, access_token, scopes, updated_at)
    select account_id, client_id, login_ref, id_token, access_token, scopes, updated_at from action_login_claims where login_ref is not null`);
  await knex.schema.dropTable('action_login_claims');
  await knex.schema.renameTable('action_login_claims_per_login', 'action_login_claims');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.createTable('action_login_claims_per_client', (t) => {
    t.string('account_id', 64).notNullable();
    t.string('client_id', 128).notNullable();
    t.text('id_token').notNullable().defaultTo('{}');
    t.text('access_token').notNullable().defaultTo('{}');
    t.text('scopes').notNullable().defaultTo('{"add":[],"remove":[]}');
    t.bigInteger('updated_at').notNullable();
    t.string('login_ref', 255);
    t.primary(['account_id', 'client_id']);
  });
  // One row per (user, client) again: the most recently written login's.
  await knex.raw(`insert into action_login_claims_per_client (account_id, client_id, id_token, access_token, scopes, updated_at, login_ref)
    select account_id, client_id, id_token, access_token, scopes, updated_at, login_ref from action_login_claims n
    where not exists (select 1 from action_login_claims m where m.account_id = n.account_id and m.client_id = n.client_id
      and (m.updated_at > n.updated_at or (m.updated_at = n.updated_at and m.login_ref > n.login_ref)))`);
  await knex.schema.dropTable('action_login_claims');
  await knex.schema.renameTable('action_login_claims_per_client', 'action_login_claims');
}
