import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import type { Db } from './knex.ts';

const MIGRATIONS_DIR = join(import.meta.dirname, '..', '..', 'migrations');

interface MigrationModule { up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void> }

/** Loads `migrations/*.ts` in name order (timestamped names), so knex tracks them by file name. */
const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    return readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{14}_[\w-]+\.ts$/.test(f)).sort();
  },
  getMigrationName: (name) => name,
  async getMigration(name) {
    return (await import(pathToFileURL(join(MIGRATIONS_DIR, name)).href)) as MigrationModule;
  },
};

const options = { migrationSource, tableName: 'knex_migrations' };

/** Applies every pending migration; knex's migration lock serialises concurrent runs. */
export async function migrateLatest(db: Db): Promise<string[]> {
  const [, applied] = await db.migrate.latest(options);
  return applied as string[];
}

/** Rolls back every migration (tests and `gatehouse migrate --down`). */
export async function migrateRollbackAll(db: Db): Promise<string[]> {
  const [, undone] = await db.migrate.rollback(options, true);
  return undone as string[];
}

export async function migrationStatus(db: Db) {
  const [done, pending] = await db.migrate.list(options);
  return { done: (done as { name: string }[]).map((d) => d.name ?? d), pending: (pending as string[]) };
}
