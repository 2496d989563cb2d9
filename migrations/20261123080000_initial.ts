import type { Knex } from 'knex';

/*
 * Why: the foundation. Users with their canonical e-mail unique (the single source of truth
 * against duplicate signups, including concurrent ones), roles, OAuth clients, APIs
 * (resource servers) and the client grants that say which M2M client may get which API
 * scopes, signing keys sealed with the secrets key, one table for every oidc-provider model
 * (consumed with a conditional UPDATE), the audit log, brute-force counters and settings.
 * Timestamps that expire things are epoch milliseconds; user-facing ones are ISO strings.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.string('id', 64).primary();
    t.string('email', 320).notNullable().unique();
    t.boolean('email_verified').notNullable().defaultTo(false);
    t.text('password_hash');
    t.string('connection', 64).notNullable().defaultTo('Username-Password-Authentication');
    t.string('name', 300);
    t.string('nickname', 300);
    t.text('picture');
    t.text('app_metadata').notNullable().defaultTo('{}');
    t.text('user_metadata').notNullable().defaultTo('{}');
    t.boolean('blocked').notNullable().defaultTo(false);
    t.integer('logins_count').notNullable().defaultTo(0);
    t.string('last_login', 40);
    t.string('last_ip', 64);
    t.string('created_at', 40).notNullable();
    t.string('updated_at', 40).notNullable();
  });
  await knex.schema.createTable('roles', (t) => {
    t.string('id', 64).primary();
    t.string('name', 200).notNullable().unique();
    t.string('description', 1000).notNullable().defaultTo('');
    t.string('created_at', 40).notNullable();
  });
  await knex.schema.createTable('user_roles', (t) => {
    t.string('user_id', 64).notNullable().references('users.id').onDelete('CASCADE');
    t.string('role_id', 64).notNullable().references('roles.id').onDelete('CASCADE');
    t.primary(['user_id', 'role_id']);
    t.index(['role_id']);
  });
  await knex.schema.createTable('clients', (t) => {
    t.string('client_id', 128).primary();
    t.text('client_secret_sealed');
    t.string('name', 200).notNullable();
    t.text('description').notNullable().defaultTo('');
    t.string('app_type', 32).notNullable();
    t.string('token_endpoint_auth_method', 64).notNullable();
    t.text('grant_types').notNullable();
    t.text('callbacks').notNullable().defaultTo('[]');
    t.text('allowed_logout_urls').notNullable().defaultTo('[]');
    t.text('web_origins').notNullable().defaultTo('[]');
    t.text('client_metadata').notNullable().defaultTo('{}');
    t.boolean('is_first_party').notNullable().defaultTo(true);
    t.string('id_token_signed_response_alg', 16);
    t.boolean('is_system').notNullable().defaultTo(false);
    t.string('created_at', 40).notNullable();
    t.string('updated_at', 40).notNullable();
  });
  await knex.schema.createTable('resource_servers', (t) => {
    t.string('id', 64).primary();
    t.string('name', 200).notNullable();
    t.string('identifier', 600).notNullable().unique();
    t.text('scopes').notNullable().defaultTo('[]');
    t.string('signing_alg', 16).notNullable();
    t.integer('token_lifetime').notNullable();
    t.boolean('is_system').notNullable().defaultTo(false);
    t.string('created_at', 40).notNullable();
    t.string('updated_at', 40).notNullable();
  });
  await knex.schema.createTable('client_grants', (t) => {
    t.string('id', 64).primary();
    t.string('client_id', 128).notNullable().references('clients.client_id').onDelete('CASCADE');
    t.string('audience', 600).notNullable().references('resource_servers.identifier').onDelete('CASCADE').onUpdate('CASCADE');
    t.text('scope').notNullable().defaultTo('[]');
    t.string('created_at', 40).notNullable();
    t.unique(['client_id', 'audience']);
  });
  await knex.schema.createTable('signing_keys', (t) => {
    t.string('kid', 64).primary();
    t.string('alg', 16).notNullable();
    t.text('private_jwk_sealed').notNullable();
    t.text('public_jwk').notNullable();
    /** 'current' signs; 'previous' is published only, until tokens it signed have expired. */
    t.string('status', 16).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('rotated_at');
  });
  await knex.schema.createTable('oidc_payloads', (t) => {
    t.string('id', 255).notNullable();
    t.string('type', 40).notNullable();
    t.text('payload').notNullable();
    t.string('grant_id', 255);
    t.string('user_code', 255);
    t.string('uid', 255);
    t.bigInteger('expires_at');
    t.bigInteger('consumed_at');
    t.primary(['type', 'id']);
    t.index(['grant_id']);
    t.index(['uid']);
    t.index(['expires_at']);
  });
  await knex.schema.createTable('audit_logs', (t) => {
    t.increments('seq').primary();
    t.string('log_id', 64).notNullable().unique();
    t.string('date', 40).notNullable();
    t.string('type', 32).notNullable();
    t.text('description').notNullable().defaultTo('');
    t.string('user_id', 64);
    t.string('user_name', 320);
    t.string('client_id', 128);
    t.string('ip', 64);
    t.text('user_agent');
    t.text('details').notNullable().defaultTo('{}');
    t.index(['type']);
    t.index(['user_id']);
    t.index(['date']);
  });
  await knex.schema.createTable('login_failures', (t) => {
    /** `acct:<canonical email>` or `ip:<address>` */
    t.string('key', 400).primary();
    t.integer('failures').notNullable().defaultTo(0);
    t.bigInteger('last_failure_at').notNullable();
    t.bigInteger('locked_until').notNullable().defaultTo(0);
  });
  await knex.schema.createTable('settings', (t) => {
    t.string('key', 100).primary();
    t.text('value').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['settings', 'login_failures', 'audit_logs', 'oidc_payloads', 'signing_keys', 'client_grants',
    'resource_servers', 'clients', 'user_roles', 'roles', 'users']) {
    await knex.schema.dropTableIfExists(table);
  }
}
