import type { Db } from '../db/knex.ts';
import type { PasswordHasher } from './passwords.ts';

/**
 * The parameter sets of the imported password hashes, shared by every node through the
 * database (table password_hash_classes): an import records those of its hashes before it
 * inserts a user, each node calibrates its hasher's floor from them at start and then every
 * sweep (a small read; sets already measured are skipped), so no node answers an unknown
 * address faster than a migrated account for longer than a sweep after an import elsewhere.
 */
export function createHashClasses(db: Db, hasher: PasswordHasher) {
  return {
    /** Records the parameter sets of `hashes` that are not the hasher's own (stand-ins only, no user's hash). */
    async record(hashes: Iterable<string>): Promise<void> {
      const rows = new Map<string, { key: string; sample: string; created_at: number }>();
      for (const h of hashes) {
        const c = hasher.classOf(h);
        if (c && !rows.has(c.key)) rows.set(c.key, { ...c, created_at: Date.now() });
      }
      // A set recorded again is fresh again: prune's hour of grace counts from its last import.
      if (rows.size > 0) await db('password_hash_classes').insert([...rows.values()]).onConflict('key').merge(['created_at']);
    },
    /**
     * At start: forgets the sets no stored user's hash has any more (all rehashed, or recorded
     * by an import whose users were refused), except those recorded in the last hour (an import
     * may be under way on another node).
     */
    async prune(stored: Iterable<string>): Promise<void> {
      const keep = new Set<string>();
      for (const h of stored) { const c = hasher.classOf(h); if (c) keep.add(c.key); }
      const q = db('password_hash_classes').where('created_at', '<', Date.now() - 3_600_000);
      await (keep.size > 0 ? q.whereNotIn('key', [...keep]) : q).delete();
    },
    /** Calibrates this node's hasher from every recorded set; its floor in ms. */
    async apply(): Promise<number> {
      const rows: { sample: string }[] = await db('password_hash_classes').select('sample');
      return rows.length > 0 ? hasher.calibrate(rows.map((r) => r.sample)) : hasher.floorMs;
    },
  };
}
export type HashClasses = ReturnType<typeof createHashClasses>;
