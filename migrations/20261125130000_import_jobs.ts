import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: Auth0's bulk user import (POST /api/v2/jobs/users-imports) is a job whose answer says
 * what it was asked (connection, upsert, external id) and, once done, how many users were
 * inserted, updated and failed; GET /jobs/{id}/errors lists the users that failed and why.
 * Both are JSON beside the job's row (errors hold e-mails: they go with the job).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    /** JSON: connection_id, upsert, external_id, summary. */
    t.text('details');
    /** JSON array of Auth0's import errors ({user, errors}). */
    t.text('errors');
  });
}

export async function down(knex: Knex): Promise<void> {
  await dropColumns(knex, 'jobs', ['details', 'errors']);
}
