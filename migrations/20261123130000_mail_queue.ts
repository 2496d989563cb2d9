import type { Knex } from 'knex';

/*
 * Why: SECURITY F2. Mail was sent once, after the writes it follows had committed: a relay that
 * was down, or a crash between the commit and the SMTP exchange, lost the message (the user
 * could only ask for another). Every message now goes into this queue first and is deleted once
 * the relay accepted it; what failed is retried with backoff, by whichever node runs next.
 * The subject and bodies are sealed with the secrets key: they hold live links.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('mail_queue', (t) => {
    t.string('id', 64).primary();
    t.string('recipient', 320).notNullable();
    t.text('message_sealed').notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    /** When the next delivery may start; a node that takes a message pushes it ahead (its lease). */
    t.bigInteger('next_attempt_at').notNullable();
    t.string('last_error', 300);
    t.bigInteger('created_at').notNullable();
    t.index(['next_attempt_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('mail_queue');
}
