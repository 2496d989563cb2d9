import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import { acquireStartupLock, isSqlite, type Db } from './knex.ts';

const MIGRATIONS_DIR = join(import.meta.dirname, '..', '..', 'migrations');

interface MigrationModule { up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void>; config?: { transaction?: boolean } }

/**
 * Loads `migrations/*.ts` in name order (timestamped names), so knex tracks them by file name.
 * A migration that runs outside a transaction for PostgreSQL's sake (`config.transaction =
 * false`: CONCURRENTLY, long backfills) still runs in one on SQLite: once any pending migration
 * opts out, knex takes its lock row in a transaction of its own, and SQLite has no start-up lock
 * whose repair would release it (repairKnexLock), so a process killed mid-way would leave every
 * later start refused ("Migration table is already locked", found in a review).
 */
function migrationSourceFor(db: Db): Knex.MigrationSource<string> {
  const sqlite = isSqlite(db);
  return {
    async getMigrations() {
      return readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{14}_[\w-]+\.ts$/.test(f)).sort();
    },
    getMigrationName: (name) => name,
    async getMigration(name) {
      const m = (await import(pathToFileURL(join(MIGRATIONS_DIR, name)).href)) as MigrationModule;
      return sqlite && m.config?.transaction === false ? { up: m.up, down: m.down, config: { ...m.config, transaction: true } } : m;
    },
  };
}

const optionsFor = (db: Db) => ({ migrationSource: migrationSourceFor(db), tableName: 'knex_migrations' });
const LOCK_TABLE = 'knex_migrations_lock';

/**
 * Applies every pending migration, one node at a time on PostgreSQL (acquireStartupLock: knex's
 * own lock table does not serialise nodes starting together on an empty database).
 */
export async function migrateLatest(db: Db, report: Report = {}): Promise<string[]> {
  return underStartupLock(db, report, () => migrateLatestLocked(db, report.repaired));
}

/** Runs a migration command under the start-up lock (acquireStartupLock), reporting a wait. */
async function underStartupLock<T>(db: Db, report: Report, fn: () => Promise<T>): Promise<T> {
  const release = await acquireStartupLock(db, report.waiting);
  try {
    return await fn();
  } finally {
    await release();
  }
}

/** What the CLI says while it works: a wait for another node's start-up, a repaired knex lock. */
export interface Report { waiting?: (holder: string) => void; repaired?: (what: string) => void }

/**
 * migrateLatest for a caller that holds the start-up lock already. On PostgreSQL, under that
 * lock no other node is migrating, so knex's lock table is put right first: the extra rows that
 * nodes racing on an empty database left (with two, knex took every later run for locked), and
 * a lock a run that died mid-way never released. `repaired` says what was done.
 */
export async function migrateLatestLocked(db: Db, repaired: (what: string) => void = () => {}): Promise<string[]> {
  await repairKnexLock(db, repaired);
  const [, applied] = await db.migrate.latest(optionsFor(db));
  return applied as string[];
}

/** See migrateLatestLocked; for every migration command, under the start-up lock. */
async function repairKnexLock(db: Db, repaired: (what: string) => void = () => {}): Promise<void> {
  if (!isSqlite(db) && await db.schema.hasTable(LOCK_TABLE)) {
    const rows = await db(LOCK_TABLE).select('index', 'is_locked').orderBy('index') as { index: number; is_locked: number }[];
    if (rows.length > 1) {
      await db(LOCK_TABLE).where('index', '>', rows[0].index).delete();
      repaired(`removed ${rows.length - 1} extra row(s) from ${LOCK_TABLE}`);
    }
    if (rows.length > 0 && Number(rows[0].is_locked) !== 0) {
      await db(LOCK_TABLE).update({ is_locked: 0 });
      repaired(`released the migration lock a run that ended early left taken`);
    }
  }
}

/** Rolls back every migration (tests and `gatehouse migrate --down`). */
export async function migrateRollbackAll(db: Db, report: Report = {}): Promise<string[]> {
  return underStartupLock(db, report, async () => {
    await repairKnexLock(db, report.repaired);
    const [, undone] = await db.migrate.rollback(optionsFor(db), true);
    return undone as string[];
  });
}

/** Undoes the newest `steps` migrations, newest first (`gatehouse migrate --down --steps N`). */
export async function migrateDown(db: Db, steps: number, report: Report = {}): Promise<string[]> {
  return underStartupLock(db, report, async () => {
    await repairKnexLock(db, report.repaired);
    const undone: string[] = [];
    for (let i = 0; i < steps; i++) {
      const [, names] = await db.migrate.down(optionsFor(db));
      if ((names as string[]).length === 0) break;
      undone.push(...(names as string[]));
    }
    return undone;
  });
}

/** Done and pending migrations. Under the start-up lock: knex creates its tables on the way. */
export async function migrationStatus(db: Db, report: Report = {}) {
  return underStartupLock(db, report, async () => {
    const [done, pending] = await db.migrate.list(optionsFor(db));
    return { done: (done as { name: string }[]).map((d) => d.name ?? d), pending: (pending as string[]) };
  });
}
