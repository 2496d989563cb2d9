import type { Knex } from 'knex';

/*
 * Why: Actions. An action has a draft (code + sealed secrets) and immutable numbered
 * versions made by deploy; bindings order deployed actions per trigger; executions keep
 * per-action results for 10 days; the per-trigger cache backs `api.cache`; claims and scope
 * changes from post-login are kept per (user, client) until the next login or refresh
 * replaces them; continuations hold a post-login chain paused by `api.redirect.sendUserTo`.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('actions', (t) => {
    t.string('id', 64).primary();
    t.string('name', 200).notNullable().unique();
    t.string('trigger_id', 64).notNullable();
    t.string('trigger_version', 16).notNullable().defaultTo('v3');
    t.text('code').notNullable();
    t.text('secrets_sealed').notNullable();
    t.string('runtime', 16).notNullable().defaultTo('node22');
    t.string('created_at', 40).notNullable();
    t.string('updated_at', 40).notNullable();
  });
  await knex.schema.createTable('action_versions', (t) => {
    t.string('id', 64).primary();
    t.string('action_id', 64).notNullable().references('actions.id').onDelete('CASCADE');
    t.integer('number').notNullable();
    t.text('code').notNullable();
    t.text('compiled').notNullable();
    t.text('secrets_sealed').notNullable();
    t.string('created_at', 40).notNullable();
    t.unique(['action_id', 'number']);
  });
  await knex.schema.table('actions', (t) => {
    t.string('deployed_version_id', 64);
  });
  await knex.schema.createTable('action_bindings', (t) => {
    t.string('trigger_id', 64).notNullable();
    t.integer('position').notNullable();
    t.string('action_id', 64).notNullable().references('actions.id');
    t.string('display_name', 200).notNullable();
    /** 'block' (fail closed) or 'allow' (a failing action is skipped), per binding. */
    t.string('on_error', 8).notNullable().defaultTo('block');
    t.primary(['trigger_id', 'position']);
  });
  await knex.schema.createTable('action_executions', (t) => {
    t.string('id', 64).primary();
    t.string('trigger_id', 64).notNullable();
    t.string('status', 16).notNullable();
    t.text('results').notNullable();
    t.bigInteger('created_at').notNullable();
    t.index(['created_at']);
  });
  await knex.schema.createTable('action_cache', (t) => {
    t.string('trigger_id', 64).notNullable();
    t.string('key', 200).notNullable();
    t.text('value').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.primary(['trigger_id', 'key']);
  });
  await knex.schema.createTable('action_login_claims', (t) => {
    t.string('account_id', 64).notNullable();
    t.string('client_id', 128).notNullable();
    t.text('id_token').notNullable().defaultTo('{}');
    t.text('access_token').notNullable().defaultTo('{}');
    t.text('scopes').notNullable().defaultTo('{"add":[],"remove":[]}');
    t.bigInteger('updated_at').notNullable();
    t.primary(['account_id', 'client_id']);
  });
  await knex.schema.createTable('action_continuations', (t) => {
    t.string('state', 64).primary();
    t.string('interaction_uid', 255).notNullable();
    t.text('payload').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('used_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['action_continuations', 'action_login_claims', 'action_cache', 'action_executions', 'action_bindings', 'action_versions', 'actions']) {
    await knex.schema.dropTableIfExists(table);
  }
}
