import type { Db } from '../db/knex.ts';
import { addressKey } from '../shared/address-key.ts';
import { toNum } from '../db/knex.ts';

export interface BruteForceConfig { maxFailuresPerAccount: number; maxFailuresPerIp: number; waitIncrementSeconds: number; maxWaitSeconds: number; failureResetSeconds: number }
export type AttemptVerdict = { allowed: true } | { allowed: false; scope: 'account' | 'ip'; until: number };

/**
 * Keycloak-style brute-force detection, per account and per IP, safe under concurrency.
 *
 * Every attempt is counted BEFORE the password is checked (one atomic upsert), so a burst of
 * parallel guesses cannot slip past the limit between a check and a write. The first
 * `max - 1` attempts go through; from the `max`-th on, an attempt goes through only by
 * claiming the key's lock slot with a conditional UPDATE (`locked_until <= now`), which sets
 * the next wait: `waitIncrement × (attempts / max)` seconds, capped at `maxWait`. So at most
 * one guess gets through per wait, however many arrive at once, and the wait grows while an
 * attack goes on. A good password clears the account's counter (a reset does too: the
 * lockout is soft); the IP counter only gives back the attempt, so spraying stays visible.
 * Counters forget attempts older than `failureResetSeconds`.
 */
export function createBruteForce(db: Db, cfg: BruteForceConfig) {
  const acct = (email: string) => `acct:${email}`;
  // An IPv6 client is counted with its /64, which it may hop around in at will (address-key.ts).
  const ipKey = (ip: string) => `ip:${addressKey(ip)}`;

  async function count(key: string, now: number): Promise<{ failures: number; lockedUntil: number }> {
    const cutoff = now - cfg.failureResetSeconds * 1000;
    // One statement: the counted row comes back from the upsert itself (RETURNING, on SQLite
    // and PostgreSQL), not from a second read.
    const [row] = await db('login_failures').insert({ key, failures: 1, last_failure_at: now, locked_until: 0 }).onConflict('key').merge({
      failures: db.raw('CASE WHEN login_failures.last_failure_at < ? THEN 1 ELSE login_failures.failures + 1 END', [cutoff]),
      locked_until: db.raw('CASE WHEN login_failures.last_failure_at < ? THEN 0 ELSE login_failures.locked_until END', [cutoff]),
      last_failure_at: now,
    }).returning(['failures', 'locked_until']) as { failures: unknown; locked_until: unknown }[];
    return { failures: Number(row.failures), lockedUntil: toNum(row.locked_until) ?? 0 };
  }

  /** Counts one attempt on `key` and says whether it may be checked now. */
  async function admit(key: string, max: number, now: number): Promise<{ allowed: boolean; until: number; failures: number }> {
    const c = await count(key, now);
    if (c.lockedUntil > now) return { allowed: false, until: c.lockedUntil, failures: c.failures };
    if (c.failures < max) return { allowed: true, until: 0, failures: c.failures };
    const until = now + Math.min(cfg.maxWaitSeconds, cfg.waitIncrementSeconds * Math.max(1, Math.floor(c.failures / max))) * 1000;
    const claimed = await db('login_failures').where({ key }).andWhere('locked_until', '<=', now).update({ locked_until: until });
    if (claimed === 1) return { allowed: true, until, failures: c.failures };
    const row = await db('login_failures').where({ key }).first();
    return { allowed: false, until: Math.max(toNum(row?.locked_until) ?? 0, now + 1000), failures: c.failures };
  }

  return {
    /**
     * Counts a login attempt for this account and IP and decides whether the password may be
     * checked. Call it before verifying; on success call `success`.
     */
    async attempt(email: string, ip: string, now = Date.now()): Promise<AttemptVerdict & { accountFailures: number; lockStarted: boolean }> {
      const i = await admit(ipKey(ip), cfg.maxFailuresPerIp, now);
      // A request refused for its address is not counted against the account it names: the
      // address's limit is what caps how many accounts one address can lock (no password is
      // checked on these, so they say nothing about the account).
      if (!i.allowed) return { allowed: false, scope: 'ip', until: i.until, accountFailures: 0, lockStarted: false };
      const a = await admit(acct(email), cfg.maxFailuresPerAccount, now);
      const lockStarted = (a.allowed && a.until > 0) || (i.allowed && i.until > 0);
      if (!i.allowed) return { allowed: false, scope: 'ip', until: i.until, accountFailures: a.failures, lockStarted };
      if (!a.allowed) return { allowed: false, scope: 'account', until: a.until, accountFailures: a.failures, lockStarted };
      return { allowed: true, accountFailures: a.failures, lockStarted };
    },
    /**
     * Counts a failure that names no account it could be held against (a malformed e-mail or
     * password) for the IP only, and says whether the IP may go on.
     */
    async attemptAddress(ip: string, now = Date.now()): Promise<AttemptVerdict> {
      const i = await admit(ipKey(ip), cfg.maxFailuresPerIp, now);
      return i.allowed ? { allowed: true } : { allowed: false, scope: 'ip', until: i.until };
    },
    /** A good password: the account starts afresh; the IP gets this attempt back. */
    async success(email: string, ip?: string) {
      await db('login_failures').where({ key: acct(email) }).delete();
      if (ip) await db('login_failures').where({ key: ipKey(ip) }).andWhere('failures', '>', 0).update({ failures: db.raw('failures - 1') });
    },
  };
}
export type BruteForce = ReturnType<typeof createBruteForce>;
