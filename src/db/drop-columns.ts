import type { Knex } from 'knex';

/**
 * Drops columns in a migration's `down`. On SQLite knex rebuilds the table to drop a column,
 * inside the migration's transaction, where SQLite ignores turning foreign keys off: dropping
 * the old `users` table then cascaded through every `ON DELETE CASCADE` reference, and one step
 * down emptied user_roles, mfa_factors, recovery codes, links and sessions. SQLite's own
 * `ALTER TABLE … DROP COLUMN` (3.35+) leaves the table and its references alone; the columns
 * dropped this way carry no index or constraint of their own (drop an index first).
 */
export async function dropColumns(knex: Knex | Knex.Transaction, table: string, columns: string[]): Promise<void> {
  if (knex.client.config.client === 'better-sqlite3') {
    for (const c of columns) await knex.raw('alter table ?? drop column ??', [table, c]);
    return;
  }
  await knex.schema.alterTable(table, (t) => { for (const c of columns) t.dropColumn(c); });
}
