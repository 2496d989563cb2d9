import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: Auth0's user carries given_name and family_name (its SDKs send them when creating a user,
 * and OIDC's profile scope names them); the Management API refused them as unknown fields.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => { t.string('given_name', 150); t.string('family_name', 150); });
}

export async function down(knex: Knex): Promise<void> {
  await dropColumns(knex, 'users', ['given_name', 'family_name']);
}
