import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: with several nodes, a rotation's new key signs only once every node publishes it
 * (src/oidc/keys.ts). When it may sign is decided once, by the database's clock at the
 * rotation, and kept with the key: each node working it out from its own clock and its own
 * setting could disagree on which key signs. Null: signs from its creation (a first key).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('signing_keys', (t) => { t.bigInteger('activates_at'); });
}

export async function down(knex: Knex): Promise<void> {
  await dropColumns(knex, 'signing_keys', ['activates_at']);
}
