import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: Auth0's organizations. A business customer of an app is an organization; its people are
 * members (with roles of their own there), and an app signs them in "to" it (`organization=` at
 * /authorize, `org_id` in the tokens), which Auth0 B2B apps rely on to keep customers apart.
 * Each application says whether it takes organization logins (deny, allow or require).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('organizations', (t) => {
    t.string('id', 64).primary();
    t.string('name', 50).notNullable().unique();
    t.string('display_name', 255).notNullable().defaultTo('');
    t.text('branding').notNullable().defaultTo('{}');
    t.text('metadata').notNullable().defaultTo('{}');
    t.string('created_at', 40).notNullable();
    t.string('updated_at', 40).notNullable();
  });
  await knex.schema.createTable('organization_members', (t) => {
    t.string('org_id', 64).notNullable().references('organizations.id').onDelete('CASCADE');
    t.string('user_id', 64).notNullable().references('users.id').onDelete('CASCADE');
    t.string('created_at', 40).notNullable();
    t.primary(['org_id', 'user_id']);
    t.index(['user_id']);
  });
  await knex.schema.createTable('organization_member_roles', (t) => {
    t.string('org_id', 64).notNullable();
    t.string('user_id', 64).notNullable();
    t.string('role_id', 64).notNullable().references('roles.id').onDelete('CASCADE');
    t.primary(['org_id', 'user_id', 'role_id']);
    // A member's roles go when the membership does.
    t.foreign(['org_id', 'user_id']).references(['org_id', 'user_id']).inTable('organization_members').onDelete('CASCADE');
  });
  await knex.schema.alterTable('clients', (t) => {
    t.string('organization_usage', 16);
  });
}

export async function down(knex: Knex): Promise<void> {
  await dropColumns(knex, 'clients', ['organization_usage']);
  await knex.schema.dropTable('organization_member_roles');
  await knex.schema.dropTable('organization_members');
  await knex.schema.dropTable('organizations');
}
