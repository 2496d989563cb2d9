import { createHash, createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Context } from 'koa';
import type { AppContext } from '../context.ts';
import type { UserRow } from '../users/users.ts';
import { passwordFingerprint } from '../users/email-tokens.ts';
import { cookieName } from '../http/cookie-names.ts';

const SESSION_TTL_MS = 15 * 60_000;
const CODE_STEP_TTL_MS = 5 * 60_000;
/** `__Host-gh_account` and `__Host-gh_account_mfa` over TLS (cookie-names.ts). */
const SESSION_COOKIE = (ctx: Context) => cookieName(ctx, 'gh_account', 'host');
const CODE_COOKIE = (ctx: Context) => cookieName(ctx, 'gh_account_mfa', 'host');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * The /account page's own short sessions (ASVS 5 7.5.1: sensitive changes need a fresh
 * re-authentication, not the long-lived login session of the apps). The cookie is
 * `base64url({u: user id, e: expiry, s: session id}).HMAC`, where the HMAC also covers a
 * fingerprint of the user's CURRENT password hash, so any password change, by any route,
 * voids every cookie issued before it. The session id names a row, so "Sign out" and
 * `endAll` end a session on the server too (ASVS 5 7.4.1), not only in the browser.
 * HttpOnly, SameSite=Strict (no cross-site request carries it). Over TLS `__Host-`, Secure and on
 * path / (the prefix requires it; a sibling subdomain cannot plant a session of its own then);
 * over plain http path-scoped to /account. 15 minutes, not renewed.
 *
 * Stateless apart from the table and a key in `settings`: any module may build one to check
 * the same cookies (the MFA pages under /account do).
 */
export function createAccountSessions(app: AppContext) {
  const { db, urls } = app;
  let key: Promise<KeyObject> | undefined;
  const getKey = () => (key ??= app.settings.sealedOrCreate('account_cookie_key', () => randomBytes(32).toString('base64')).then((k) => createSecretKey(Buffer.from(k, 'base64'))));
  const cookiePath = `${urls.mountPath}/account`;
  const cookieOpts = (ctx: Context, maxAge?: number) => ({ httpOnly: true, sameSite: 'strict' as const, secure: ctx.secure, path: ctx.secure ? '/' : cookiePath, overwrite: true, ...(maxAge ? { maxAge } : {}) });

  async function seal(kind: string, payload: Record<string, unknown>, fp: string): Promise<string> {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${createHmac('sha256', await getKey()).update(`${kind}:${body}:${fp}`).digest('base64url')}`;
  }

  /** Reads a sealed cookie: the payload when the MAC (over the user's current password fingerprint) holds and it has not expired. */
  async function open(ctx: Context, name: (ctx: Context) => string, kind: string): Promise<{ payload: { u: string; e: number; s?: string }; row: UserRow } | undefined> {
    const raw = ctx.cookies.get(name(ctx));
    if (!raw || raw.length > 1024) return undefined;
    const [body, mac, extra] = raw.split('.');
    if (!body || !mac || extra !== undefined) return undefined;
    let payload: { u?: unknown; e?: unknown; s?: unknown };
    try { payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')); } catch { return undefined; }
    if (typeof payload?.u !== 'string' || typeof payload.e !== 'number' || payload.e <= Date.now()) return undefined;
    const row: UserRow | undefined = await db('users').where({ id: payload.u }).first();
    if (!row) return undefined;
    const want = createHmac('sha256', await getKey()).update(`${kind}:${body}:${passwordFingerprint(row.password_hash)}`).digest();
    const got = Buffer.from(mac, 'base64url');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
    return { payload: payload as { u: string; e: number; s?: string }, row };
  }

  return {
    /** Starts a session for `row` (after password, and code when enrolled) and sets the cookie. */
    async start(ctx: Context, row: UserRow): Promise<void> {
      const now = Date.now();
      const sid = randomBytes(32).toString('base64url');
      await db('account_sessions').where('expires_at', '<', now).delete();
      await db('account_sessions').insert({ id_hash: sha256(sid), user_id: row.id, expires_at: now + SESSION_TTL_MS, created_at: now });
      ctx.cookies.set(SESSION_COOKIE(ctx), await seal('account', { u: row.id, e: now + SESSION_TTL_MS, s: sid }, passwordFingerprint(row.password_hash)), cookieOpts(ctx, SESSION_TTL_MS));
      ctx.cookies.set(CODE_COOKIE(ctx), '', { ...cookieOpts(ctx), maxAge: 0 });
    },
    /** The signed-in user of this request's account session, if any. */
    async current(ctx: Context): Promise<{ row: UserRow; sid: string; expires: number } | undefined> {
      const o = await open(ctx, SESSION_COOKIE, 'account');
      if (!o || typeof o.payload.s !== 'string') return undefined;
      const live = await db('account_sessions').where({ id_hash: sha256(o.payload.s), user_id: o.row.id }).where('expires_at', '>', Date.now()).first();
      return live ? { row: o.row, sid: o.payload.s, expires: o.payload.e } : undefined;
    },
    /**
     * After this browser changed the password: every other account session ends, this one is
     * re-sealed over the new password fingerprint (same expiry; not extended).
     */
    async keepOnlyThis(ctx: Context, userId: string, sid: string, expires: number): Promise<void> {
      await db('account_sessions').where({ user_id: userId }).whereNot({ id_hash: sha256(sid) }).delete();
      const row: UserRow = await db('users').where({ id: userId }).first();
      ctx.cookies.set(SESSION_COOKIE(ctx), await seal('account', { u: userId, e: expires, s: sid }, passwordFingerprint(row.password_hash)), cookieOpts(ctx, Math.max(1000, expires - Date.now())));
    },
    async end(ctx: Context): Promise<void> {
      const o = await open(ctx, SESSION_COOKIE, 'account');
      if (o && typeof o.payload.s === 'string') await db('account_sessions').where({ id_hash: sha256(o.payload.s) }).delete();
      ctx.cookies.set(SESSION_COOKIE(ctx), '', { ...cookieOpts(ctx), maxAge: 0 });
    },
    async endAll(userId: string): Promise<void> { await db('account_sessions').where({ user_id: userId }).delete(); },
    /** Password verified, code still to come: a 5-minute sealed marker, bound to the password like the session. */
    async startCodeStep(ctx: Context, row: UserRow): Promise<void> {
      const e = Date.now() + CODE_STEP_TTL_MS;
      ctx.cookies.set(CODE_COOKIE(ctx), await seal('account-code', { u: row.id, e }, passwordFingerprint(row.password_hash)), cookieOpts(ctx, CODE_STEP_TTL_MS));
    },
    async codeStep(ctx: Context): Promise<UserRow | undefined> { return (await open(ctx, CODE_COOKIE, 'account-code'))?.row; },
  };
}
export type AccountSessions = ReturnType<typeof createAccountSessions>;
