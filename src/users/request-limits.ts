import type { Db } from '../db/knex.ts';
import { addressKey } from '../shared/address-key.ts';

export interface RequestLimitsConfig {
  /** Password-reset and verification-link requests (each may send a mail) per client address and hour. */
  mailRequestsPerIpPerHour: number;
  /** Sign-ups (each sends a mail) per client address and hour. */
  signupsPerIpPerHour: number;
  /** Wrong user codes entered on the device flow's page per client address and hour. */
  userCodeFailuresPerIpPerHour: number;
}
export type LimitedRequest = 'mail' | 'signup' | 'user_code';
export type LimitVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

const HOUR = 3600_000;

/**
 * Per-address limits on the requests that make Gatehouse send mail to an address the caller
 * names (password reset, verification link, sign-up). Each account already gets at most a few
 * such mails an hour; this caps how many accounts one address can make Gatehouse write to (mail
 * bombing, and a relay's sending quota spent by a stranger), as Auth0's per-IP limits do.
 *
 * One counter row per (kind, address, hour) in the brute-force counters' table, counted with one
 * atomic upsert, so concurrent requests and several server processes share it. Its
 * `locked_until` is the end of its hour: the sweep (src/server.ts) keeps it until then.
 */
export function createRequestLimits(db: Db, cfg: RequestLimitsConfig) {
  const max: Record<LimitedRequest, number> = { mail: cfg.mailRequestsPerIpPerHour, signup: cfg.signupsPerIpPerHour, user_code: cfg.userCodeFailuresPerIpPerHour };
  const windowOf = (now: number) => (Math.floor(now / HOUR) + 1) * HOUR;
  // (An IPv6 client is counted with its /64: address-key.ts.)
  const keyOf = (kind: LimitedRequest, ip: string, windowEnd: number) => `rate:${kind}:${addressKey(ip)}:${windowEnd}`;
  return {
    /** Takes back one request of `kind` counted by `hit` (for limits on failures: counted first, given back on success). */
    async refund(kind: LimitedRequest, ip: string, now = Date.now()): Promise<void> {
      await db('login_failures').where({ key: keyOf(kind, ip, windowOf(now)) }).where('failures', '>', 0).decrement('failures', 1);
    },
    /** Counts one request of `kind` from `ip`, and says whether it may go on. */
    async hit(kind: LimitedRequest, ip: string, now = Date.now()): Promise<LimitVerdict> {
      const windowEnd = windowOf(now);
      const key = keyOf(kind, ip, windowEnd);
      const [row] = await db('login_failures').insert({ key, failures: 1, last_failure_at: now, locked_until: windowEnd })
        .onConflict('key').merge({ failures: db.raw('login_failures.failures + 1'), last_failure_at: now })
        .returning(['failures']) as { failures: unknown }[];
      return Number(row.failures) <= max[kind] ? { allowed: true } : { allowed: false, retryAfterSeconds: Math.ceil((windowEnd - now) / 1000) };
    },
  };
}
export type RequestLimits = ReturnType<typeof createRequestLimits>;
