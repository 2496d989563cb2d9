import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/knex.ts';
import { isSqlite, toNum } from '../db/knex.ts';

export type EmailTokenPurpose = 'verify_email' | 'reset_password';
export type TokenState = 'valid' | 'expired' | 'used' | 'invalid';
/** What a Management API ticket asked for when it is used (null for a mailed link). */
export interface TicketOptions { resultUrl?: string; markEmailVerified?: boolean; includeEmailInRedirect?: boolean }
export interface EmailTokenRow { userId: string; email: string; purpose: EmailTokenPurpose; passwordFp: string | null; expiresAt: number; createdAt: number; ticket: TicketOptions | null }

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
/** 32 random bytes in base64url are exactly 43 characters from this alphabet. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Fingerprint of a password hash: a reset token (and the /account session) is bound to the
 * password as it was, so any password change, by whichever route, invalidates it. The hash is
 * hashed again so the fingerprint can sit next to other data without being an argon2 hash.
 */
export const passwordFingerprint = (passwordHash: string | null | undefined) => sha256(`gatehouse-password-fp:${passwordHash ?? ''}`);

/**
 * Single-use e-mail link tokens (verification, password reset), following the OWASP Forgot
 * Password cheat sheet and SECURITY 3.6: 256 random bits, only a SHA-256 of the token stored
 * (a database leak gives no usable links), tied to the user and to the address the link was
 * sent to, short-lived, consumed with a conditional UPDATE whose row count decides (two
 * concurrent uses of one link: exactly one wins), and issuing a new token of a purpose
 * invalidates the user's older ones.
 */
export function createEmailTokens(db: Db) {
  const sqlite = isSqlite(db);
  const rowOf = (r: Record<string, unknown>): EmailTokenRow => ({
    userId: r.user_id as string, email: r.email as string, purpose: r.purpose as EmailTokenPurpose,
    passwordFp: (r.password_fp as string | null) ?? null, expiresAt: toNum(r.expires_at)!, createdAt: toNum(r.created_at)!,
    ticket: typeof r.ticket === 'string' ? JSON.parse(r.ticket) as TicketOptions : null,
  });
  const stateOf = (r: Record<string, unknown>, now: number): TokenState => {
    if (toNum(r.used_at) !== null) return 'used';
    return toNum(r.expires_at)! <= now ? 'expired' : 'valid';
  };

  return {
    /** Whether `token` even looks like one of ours; anything else is refused before a lookup. */
    wellFormed: (token: unknown): token is string => typeof token === 'string' && TOKEN_SHAPE.test(token),

    /**
     * Issues a token and returns it (the only time it exists in clear). Older unused tokens of
     * the same purpose for this user are marked used in the same transaction.
     */
    /**
     * A new link, replacing the user's older ones of that purpose. With `limit`: null, and
     * nothing issued, when `max` were issued in the last `windowMs`. The count and the insert are
     * one step, the user's row held (FOR UPDATE on PostgreSQL; SQLite has one writer), so a burst
     * of requests cannot all pass the count before any inserts (a flooded inbox).
     */
    async issue(o: { userId: string; email: string; purpose: EmailTokenPurpose; ttlMs: number; passwordFp?: string | null; limit?: { max: number; windowMs: number }; ticket?: TicketOptions }): Promise<string | null> {
      const token = randomBytes(32).toString('base64url');
      const now = Date.now();
      let issued = true;
      await db.transaction(async (trx) => {
        if (o.limit) {
          if (!sqlite) await trx('users').where({ id: o.userId }).forUpdate().first();
          // Links mailed on request only: an admin's tickets do not use up the user's own.
          const [{ n }] = await trx('email_tokens').where({ user_id: o.userId, purpose: o.purpose }).whereNull('ticket').where('created_at', '>=', now - o.limit.windowMs).count({ n: '*' });
          if (Number(n) >= o.limit.max) { issued = false; return; }
        }
        // A new link replaces the older ones; a link anyone may ask for by address never
        // replaces an admin's ticket (an anonymous request would void an invitation), a newer
        // ticket does. A password change voids them all (invalidate).
        const older = trx('email_tokens').where({ user_id: o.userId, purpose: o.purpose }).whereNull('used_at');
        if (!o.ticket) older.whereNull('ticket');
        await older.update({ used_at: now });
        await trx('email_tokens').insert({
          token_hash: sha256(token), user_id: o.userId, purpose: o.purpose, email: o.email,
          password_fp: o.passwordFp ?? null, expires_at: now + o.ttlMs, used_at: null, created_at: now,
          ticket: o.ticket ? JSON.stringify(o.ticket) : null,
        });
      });
      return issued ? token : null;
    },

    /** Looks at a token without consuming it (the GET pages that show a confirm button). */
    async peek(token: unknown, purpose: EmailTokenPurpose, now = Date.now()): Promise<{ state: TokenState; row?: EmailTokenRow }> {
      if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) return { state: 'invalid' };
      const r = await db('email_tokens').where({ token_hash: sha256(token), purpose }).first();
      if (!r) return { state: 'invalid' };
      return { state: stateOf(r, now), row: rowOf(r) };
    },

    /**
     * Consumes a token once: only the request whose UPDATE changed a row gets `ok`. On failure
     * the reason says why (unknown, expired or already used/replaced), for a clear message.
     */
    async consume(token: unknown, purpose: EmailTokenPurpose, now = Date.now()): Promise<{ ok: true; row: EmailTokenRow } | { ok: false; state: Exclude<TokenState, 'valid'> }> {
      if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) return { ok: false, state: 'invalid' };
      const hash = sha256(token);
      const n = await db('email_tokens').where({ token_hash: hash, purpose }).whereNull('used_at').where('expires_at', '>', now).update({ used_at: now });
      const r = await db('email_tokens').where({ token_hash: hash, purpose }).first();
      if (!r) return { ok: false, state: 'invalid' };
      if (n !== 1) {
        const s = stateOf(r, now);
        return { ok: false, state: s === 'valid' ? 'used' : s };
      }
      return { ok: true, row: rowOf(r) };
    },

    /** Marks every unused token of the user (of one purpose, or all) as used. Returns the count. */
    async invalidate(userId: string, purpose?: EmailTokenPurpose): Promise<number> {
      const q = db('email_tokens').where({ user_id: userId }).whereNull('used_at');
      if (purpose) q.where({ purpose });
      return q.update({ used_at: Date.now() });
    },
  };
}
export type EmailTokens = ReturnType<typeof createEmailTokens>;
