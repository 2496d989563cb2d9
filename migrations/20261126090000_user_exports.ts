import type { Knex } from 'knex';

/*
 * Why: Auth0's bulk user export (POST /api/v2/jobs/users-exports) is a job whose finished answer
 * gives a link to a gzip file of the users (NDJSON or CSV). The file is made once, when the job
 * runs, and kept in the database beside its job (every node can serve it, and it goes when the
 * job is swept, 7 days on), not on one node's disk; in pieces of a few MB, so that neither the
 * export nor a download holds it whole (PostgreSQL returns a bytea as text twice its size).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('job_files', (t) => {
    t.string('job_id', 64).notNullable().references('jobs.id').onDelete('CASCADE');
    /** The piece's place in the file, from 0. */
    t.integer('seq').notNullable();
    /** A piece of the gzip file as served (a few MB: never read or held whole). */
    t.binary('content').notNullable();
    t.bigInteger('created_at').notNullable();
    t.primary(['job_id', 'seq']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('job_files');
}
