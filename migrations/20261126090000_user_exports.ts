import type { Knex } from 'knex';

/*
 * Why: Auth0's bulk user export (POST /api/v2/jobs/users-exports) is a job whose finished answer
 * gives a link to a gzip file of the users (NDJSON or CSV). The file is made once, when the job
 * runs, and kept in the database beside its job (every node can serve it, and it goes when the
 * job is swept, 7 days on), not on one node's disk.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('job_files', (t) => {
    t.string('job_id', 64).primary().references('jobs.id').onDelete('CASCADE');
    /** The gzip file as served. */
    t.binary('content').notNullable();
    t.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('job_files');
}
