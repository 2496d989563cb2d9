import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: Auth0's role-based access control. An API's scopes are its permissions; roles and users
 * are given permissions (role_permissions, user_permissions). With `enforce_policies` on an API,
 * a user's token for it carries only the requested scopes the user holds a permission for; with
 * an `_authz` token dialect it also carries the user's permissions (`permissions` claim).
 * Permissions go with their role, user or API (foreign keys), and with the API's scope when it is
 * removed (src/clients/resource-servers.ts).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('resource_servers', (t) => {
    t.boolean('enforce_policies').notNullable().defaultTo(false);
    /** access_token | access_token_authz | rfc9068_profile | rfc9068_profile_authz (Auth0's names). */
    t.string('token_dialect', 32).notNullable().defaultTo('access_token');
  });
  await knex.schema.createTable('role_permissions', (t) => {
    t.string('role_id', 64).notNullable().references('roles.id').onDelete('CASCADE');
    t.string('resource_server_identifier', 600).notNullable().references('resource_servers.identifier').onDelete('CASCADE').onUpdate('CASCADE');
    t.string('permission_name', 280).notNullable();
    t.bigInteger('created_at').notNullable();
    t.primary(['role_id', 'resource_server_identifier', 'permission_name']);
    t.index(['resource_server_identifier']);
  });
  await knex.schema.createTable('user_permissions', (t) => {
    t.string('user_id', 64).notNullable().references('users.id').onDelete('CASCADE');
    t.string('resource_server_identifier', 600).notNullable().references('resource_servers.identifier').onDelete('CASCADE').onUpdate('CASCADE');
    t.string('permission_name', 280).notNullable();
    t.bigInteger('created_at').notNullable();
    t.primary(['user_id', 'resource_server_identifier', 'permission_name']);
    t.index(['resource_server_identifier']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('user_permissions');
  await knex.schema.dropTableIfExists('role_permissions');
  await dropColumns(knex, 'resource_servers', ['enforce_policies', 'token_dialect']);
}
