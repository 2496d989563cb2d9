import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: Auth0's bulk user import (POST /api/v2/jobs/users-imports) is a job whose answer says
 * what it was asked (connection, upsert, external id) and, once done, how many users were
 * inserted, updated and failed; GET /jobs/{id}/errors lists the users that failed and why.
 * Both are JSON beside the job's row (errors hold e-mails: they go with the job).
 *
 * password_hash_classes: the parameter sets of imported password hashes (bcrypt at cost 10,
 * argon2i with m=4096…) with a stand-in hash of each (made-up salt and digest, nothing of a
 * user's). Every node holds its password checks to the slowest of them (src/users/
 * passwords.ts), and learns of an import made on another node, or by the CLI, from here.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    /** JSON: connection_id, upsert, external_id, summary. */
    t.text('details');
    /** JSON array of Auth0's import errors ({user, errors}). */
    t.text('errors');
  });
  await knex.schema.createTable('password_hash_classes', (t) => {
    t.string('key', 64).primary();
    t.string('sample', 200).notNullable();
    t.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('password_hash_classes');
  await dropColumns(knex, 'jobs', ['details', 'errors']);
}
