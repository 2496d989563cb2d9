import type { Knex } from 'knex';

/*
 * Why: Auth0's email templates. Teams send their own wording and design (Liquid, with the link and
 * the user's fields) for the verification and password-reset mails, and a welcome mail, instead of
 * Gatehouse's; and choose the link's lifetime and where the user lands after using it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('email_templates', (t) => {
    t.string('template', 64).primary();
    t.text('body').notNullable();
    t.string('subject', 500).notNullable();
    t.string('from', 320);
    t.string('result_url', 2048);
    t.integer('url_lifetime_seconds');
    t.boolean('include_email_in_redirect').notNullable().defaultTo(false);
    t.boolean('enabled').notNullable().defaultTo(true);
    t.string('created_at', 40).notNullable();
    t.string('updated_at', 40).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('email_templates');
}
