import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: Auth0's Management API makes password-change and e-mail-verification tickets (a link
 * an admin hands to a user: invitations, support) and verification-email jobs (the mail sent
 * again, then polled). A ticket is an e-mail token like the mailed links, plus what the admin
 * asked for when it is used (where to send the user, whether the address counts as verified);
 * a job is a row whose status the mail queue moves on.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('email_tokens', (t) => {
    /** JSON of a Management API ticket's options (result_url, …); null for a mailed link. */
    t.text('ticket');
  });
  await knex.schema.createTable('jobs', (t) => {
    t.string('id', 64).primary();
    t.string('type', 32).notNullable();
    /** pending → completed, or failed (the mail was not queued: the account's hourly limit). */
    t.string('status', 16).notNullable();
    t.string('user_id', 64).references('users.id').onDelete('CASCADE');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('completed_at');
    t.index(['created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('jobs');
  await dropColumns(knex, 'email_tokens', ['ticket']);
}
