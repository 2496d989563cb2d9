import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { COOKIE_OPTIONS } from './provider.ts';

type SessionLike = { uid: string; id: string; exp?: number; accountId?: string; save(ttl: number): Promise<unknown> };

/**
 * The uid of the OIDC session a login of `accountId` in this browser will end in, for
 * post-login's `event.session.id` (the uid its refresh tokens carry; not the ID token's `sid`,
 * which oidc-provider makes per client).
 *
 * oidc-provider makes a browser's first session only when the authorization resumes after the
 * login, so while the post-login chain runs there is none yet and its event had no session id.
 * Here the session is made and stored now, with its cookie, the way oidc-provider's own session
 * middleware does it (same cookie name, keys and options); the resume then finds it by the
 * cookie, signs the user in on it and, as for every existing session, gives it a new cookie
 * value (resetIdentifier) while its uid, the one the chain saw, stays. A browser with a stored
 * session keeps it and its uid.
 *
 * `ttlSeconds`: how long the anonymous session may wait for its login (the interaction's
 * lifetime); the login saves it again with the session's own lifetime. A login that does not
 * finish (a deny, an abandoned second factor) leaves it without an account: it grants nothing,
 * and oidc-provider keeps it like any session of this browser until it expires.
 */
export async function loginSessionUid(provider: Provider, ctx: Context, accountId: string, ttlSeconds: number): Promise<string | undefined> {
  const session = await provider.Session.get(ctx as never) as unknown as SessionLike;
  // Loaded from the store (it has an expiry): this browser's session already. Signed in as
  // someone else (another tab since), the resume asks to end it and the login ends in a new
  // one, whose uid is not known yet: no id then.
  if (typeof session.exp === 'number') return !session.accountId || session.accountId === accountId ? session.uid : undefined;
  const p = provider as unknown as { createContext(req: unknown, res: unknown): { cookies: { secure?: boolean; set(name: string, value: string, opts: object): void } } };
  const cookies = p.createContext(ctx.req, ctx.res).cookies;
  if (ctx.secure) cookies.secure = true;
  cookies.set(provider.cookieName('session'), session.id, COOKIE_OPTIONS);
  await session.save(ttlSeconds);
  return session.uid;
}
