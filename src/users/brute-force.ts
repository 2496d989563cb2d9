import type { Db } from '../db/knex.ts';
import { toNum } from '../db/knex.ts';

export interface BruteForceConfig { maxFailuresPerAccount: number; maxFailuresPerIp: number; waitIncrementSeconds: number; maxWaitSeconds: number; failureResetSeconds: number }

/**
 * Keycloak-style brute-force detection. Failures are counted per account and per IP; each
 * time a counter reaches a multiple of its maximum, the key is locked for
 * `waitIncrement × (failures / max)` seconds, capped at `maxWait` (so the wait grows while
 * an attack goes on, and a victim is only ever locked out softly: a reset still works).
 * Counters forget failures older than `failureResetSeconds`.
 */
export function createBruteForce(db: Db, cfg: BruteForceConfig) {
  const acct = (email: string) => `acct:${email}`;
  const ipKey = (ip: string) => `ip:${ip}`;

  async function lockedUntil(key: string, now: number): Promise<number> {
    const row = await db('login_failures').where({ key }).first();
    const until = row ? toNum(row.locked_until) ?? 0 : 0;
    return until > now ? until : 0;
  }

  async function fail(key: string, max: number, now: number): Promise<{ failures: number; lockedUntil: number }> {
    const cutoff = now - cfg.failureResetSeconds * 1000;
    await db('login_failures').insert({ key, failures: 1, last_failure_at: now, locked_until: 0 }).onConflict('key').merge({
      failures: db.raw('CASE WHEN login_failures.last_failure_at < ? THEN 1 ELSE login_failures.failures + 1 END', [cutoff]),
      last_failure_at: now,
    });
    const row = await db('login_failures').where({ key }).first();
    const failures = Number(row.failures);
    let until = 0;
    if (failures >= max && failures % max === 0) {
      const wait = Math.min(cfg.maxWaitSeconds, cfg.waitIncrementSeconds * Math.floor(failures / max));
      until = now + wait * 1000;
      await db('login_failures').where({ key }).update({ locked_until: until });
    }
    return { failures, lockedUntil: until };
  }

  return {
    /** Whether a login for this account or from this IP must be refused now, and why. */
    async check(email: string, ip: string, now = Date.now()): Promise<{ locked: false } | { locked: true; scope: 'account' | 'ip'; until: number }> {
      const ipUntil = await lockedUntil(ipKey(ip), now);
      if (ipUntil) return { locked: true, scope: 'ip', until: ipUntil };
      const aUntil = await lockedUntil(acct(email), now);
      if (aUntil) return { locked: true, scope: 'account', until: aUntil };
      return { locked: false };
    },
    /** Counts a failure; reports a lock that this failure started. */
    async failure(email: string, ip: string, now = Date.now()) {
      const a = await fail(acct(email), cfg.maxFailuresPerAccount, now);
      const i = await fail(ipKey(ip), cfg.maxFailuresPerIp, now);
      return { account: a, ip: i };
    },
    /** A good password clears the account's counter (not the IP's: spraying stays visible). */
    async success(email: string) { await db('login_failures').where({ key: acct(email) }).delete(); },
  };
}
export type BruteForce = ReturnType<typeof createBruteForce>;
