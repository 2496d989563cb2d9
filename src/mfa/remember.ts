import { createHash, createHmac, createSecretKey } from 'node:crypto';
import { safeEqual } from '../shared/safe-equal.ts';
import type { Context } from 'koa';
import type { Db } from '../db/knex.ts';
import { cookieName } from '../http/cookie-names.ts';

/** `__Host-gh_mfa_remember` over TLS (cookie-names.ts). */
const COOKIE = (ctx: Context) => cookieName(ctx, 'gh_mfa_remember', 'host');

/**
 * "Remember this browser" at the second factor (Auth0's allowRememberBrowser): a cookie holding
 * the user, an expiry and a binding, signed with the server's own key. Read by the login's MFA
 * decision (src/interactions) and by silent authorizations answered from a session
 * (src/oidc/hooks.ts), so both treat a remembered browser alike.
 *
 * The binding is the confirmed authenticator and the user's remember counter, which every
 * password change and an admin's invalidate-remember-browser raise (src/users/users.ts; not a
 * rehash of the same password). Removing or replacing the authenticator, or either of those,
 * changes it, and with it every remembered browser of the user asks for a code again.
 */
export function createRememberedBrowsers(db: Db, key: Buffer, days: number) {
  const secret = createSecretKey(key); // a KeyObject: cheaper to key an HMAC with than a Buffer
  const sign = (v: string) => createHmac('sha256', secret).update(`mfa-remember:${v}`).digest('base64url');

  /** Null without a confirmed authenticator. */
  async function binding(userId: string): Promise<string | null> {
    const [factor, user] = await Promise.all([
      db('mfa_factors').where({ user_id: userId, type: 'otp', confirmed: true }).first('id'),
      db('users').where({ id: userId }).first('mfa_remember_epoch'),
    ]);
    if (!factor || !user) return null;
    return createHash('sha256').update(`mfa-remember:${factor.id}:${Number(user.mfa_remember_epoch)}`).digest('base64url');
  }

  return {
    /**
     * Whether this browser was remembered for `userId`. `ctx` may be oidc-provider's: the cookie
     * is read unsigned by its keys (it carries its own signature).
     */
    async isRemembered(ctx: Context, userId: string): Promise<boolean> {
      const v = ctx.cookies.get(COOKIE(ctx), { signed: false });
      if (!v) return false;
      const [payload, sig] = v.split('.');
      if (!payload || !sig) return false;
      if (!safeEqual(sig, sign(payload))) return false;
      let claims: { u?: unknown; exp?: unknown; b?: unknown };
      try { claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as typeof claims; } catch { return false; }
      if (claims.u !== userId || typeof claims.exp !== 'number' || claims.exp <= Date.now() || typeof claims.b !== 'string') return false;
      return claims.b === await binding(userId);
    },
    /** Remembers this browser for `userId` (after a passed challenge); nothing without a confirmed authenticator. */
    async remember(ctx: Context, userId: string): Promise<void> {
      const b = await binding(userId);
      if (b === null) return;
      const payload = Buffer.from(JSON.stringify({ u: userId, exp: Date.now() + days * 86400_000, b })).toString('base64url');
      ctx.cookies.set(COOKIE(ctx), `${payload}.${sign(payload)}`, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: days * 86400_000, overwrite: true });
    },
  };
}
export type RememberedBrowsers = ReturnType<typeof createRememberedBrowsers>;
