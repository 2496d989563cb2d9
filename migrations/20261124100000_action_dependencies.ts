import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: Auth0 actions declare the npm modules they require (`dependencies: [{name, version}]`),
 * and the Deploy CLI and Terraform send them with every action. The Management API refused any
 * declared dependency, so an exported action that requires axios (which Gatehouse provides) could
 * not be created unchanged. The list is kept with the draft and with each deployed version, as
 * Auth0 shows it; JSON text, `[]` for none.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('actions', (t) => { t.text('dependencies').notNullable().defaultTo('[]'); });
  await knex.schema.alterTable('action_versions', (t) => { t.text('dependencies').notNullable().defaultTo('[]'); });
}

export async function down(knex: Knex): Promise<void> {
  await dropColumns(knex, 'action_versions', ['dependencies']);
  await dropColumns(knex, 'actions', ['dependencies']);
}
