/**
 * How long sessions and refresh tokens live: the configured limits and what post-login actions
 * ask for (`api.session.setExpiresAt` / `setIdleExpiresAt`, `api.refreshToken.setExpiresAt` /
 * `setIdleExpiresAt`), as Auth0's "Inactivity timeout" and "Require log in after" do.
 *
 * A session slides: each save (each authorization it answers) gives it `idle` seconds more, never
 * past its absolute end, `max` seconds after the user last signed in on it (loginTs), or earlier
 * when an action set one. That end is kept on the session (`ghLifetime`, tied to the loginTs it
 * was set for: a new sign-in starts afresh). The sign-in's own chain sets it; every later chain
 * (a silent authorization, a refresh) can only bring it forward, and a save never takes back an
 * earlier end stored meanwhile (the adapter keeps the earlier: src/oidc/adapter.ts). A session
 * past its absolute end is not found (the adapter again), however often it is used.
 * An idle expiry an action sets holds for the save of that authorization only: the next
 * authorization slides the session on, and its own actions decide again. One already past ends
 * the session, as an absolute end would.
 *
 * A refresh token lives `idle` seconds from its issue (each rotation issues a new one) and never
 * past its family's end (`ghExpiresAt`, kept on the token and passed on to every token rotated
 * from it): `idle` seconds after the code exchange that began the family, or earlier when an
 * action set one, and never past the end of the grant it began under (a sign-in renews the
 * grant; a consent without one does not). Each family ends on its own: a grant renewed by a later sign-in does not
 * prolong the families issued before it.
 */
import type { MetadataChange } from './token-family.ts';

/** Times an action asked for, in epoch milliseconds (Auth0's unit). */
export interface LifetimeRequest { expiresAt?: number; idleExpiresAt?: number }

/** What post-login asked for the refresh token a request issues: its ends, and its metadata (token-family.ts). */
export interface RefreshTokenRequest extends LifetimeRequest { metadata?: MetadataChange }

/** Where a session keeps the absolute end an action set: for the sign-in at `loginTs` only. */
export interface SessionLifetime { loginTs: number; expiresAt: number }

type SessionLike = { loginTs?: unknown; ghLifetime?: unknown; [k: string]: unknown };

const epoch = (): number => Math.floor(Date.now() / 1000);
const seconds = (ms: number): number => Math.floor(ms / 1000);

/** The session's absolute end (epoch seconds), or undefined for one nobody signed in on. */
export function sessionAbsoluteEnd(s: SessionLike, maxTtl: number): number | undefined {
  if (typeof s.loginTs !== 'number') return undefined;
  let end = s.loginTs + maxTtl;
  const l = s.ghLifetime as Partial<SessionLifetime> | undefined;
  if (l && l.loginTs === s.loginTs && typeof l.expiresAt === 'number') end = Math.min(end, l.expiresAt);
  return end;
}

/**
 * The TTL (seconds) a session is saved with now: `idle` more, or less when an action set an
 * idle expiry in this request (`idleAt`, epoch seconds), never past its absolute end. At least
 * one second: oidc-provider requires a positive TTL, and a session past its end is not found.
 */
export function sessionTtl(s: SessionLike, cfg: { idle: number; max: number }, idleAt?: number): number {
  const now = epoch();
  let end = now + cfg.idle;
  if (idleAt !== undefined) end = Math.min(end, idleAt);
  const abs = sessionAbsoluteEnd(s, cfg.max);
  if (abs !== undefined) end = Math.min(end, abs);
  return Math.max(1, end - now);
}

/**
 * Applies what post-login asked for to a session about to be saved: the absolute end (kept,
 * tied to this sign-in) and this save's idle expiry (returned, epoch seconds). `signIn`: the
 * chain of the sign-in itself, which sets the end; any other only brings it forward.
 */
export function applySessionRequest(s: SessionLike, req: LifetimeRequest | undefined, o: { signIn: boolean; max: number }): number | undefined {
  if (!req || typeof s.loginTs !== 'number') return undefined;
  const idleAt = req.idleExpiresAt !== undefined ? seconds(req.idleExpiresAt) : undefined;
  const ends: number[] = [];
  if (req.expiresAt !== undefined) ends.push(seconds(req.expiresAt));
  // An idle end already reached: over now, not one second more at each use.
  if (idleAt !== undefined && idleAt <= epoch()) ends.push(idleAt);
  if (ends.length > 0) {
    let end = Math.min(...ends);
    if (!o.signIn) end = Math.min(end, sessionAbsoluteEnd(s, o.max) ?? end);
    s.ghLifetime = { loginTs: s.loginTs, expiresAt: end } satisfies SessionLifetime;
  }
  return idleAt;
}

/** Whether a stored session is past its absolute end (then it is not found). */
export function sessionEnded(s: SessionLike, maxTtl: number): boolean {
  const end = sessionAbsoluteEnd(s, maxTtl);
  return end !== undefined && end <= epoch();
}

/**
 * The end to store when a session is saved over a stored copy of the same sign-in: the earlier
 * of the two (a request that loaded the session before a refresh's action brought its end
 * forward must not take that back). Undefined when the saved one stands.
 */
export function earlierStoredLifetime(saving: SessionLike, stored: SessionLike): SessionLifetime | undefined {
  const st = stored.ghLifetime as Partial<SessionLifetime> | undefined;
  if (!st || typeof st.expiresAt !== 'number' || st.loginTs !== saving.loginTs || typeof saving.loginTs !== 'number') return undefined;
  const mine = saving.ghLifetime as Partial<SessionLifetime> | undefined;
  if (mine && mine.loginTs === saving.loginTs && typeof mine.expiresAt === 'number' && mine.expiresAt <= st.expiresAt) return undefined;
  return { loginTs: saving.loginTs, expiresAt: st.expiresAt };
}

type RefreshLike = { ghExpiresAt?: unknown; iiat?: unknown };

/**
 * The TTL (seconds) a refresh token is issued with: `idle`, or less for its family's end (begun
 * now, or inherited from the token it was rotated from; an action's end brings it forward) and
 * for an idle expiry an action set in this exchange. Writes the family's end onto the token,
 * which saves it with the rest of its payload.
 */
export function refreshTokenTtl(token: RefreshLike, rotatedFrom: RefreshLike | undefined, idle: number, req: LifetimeRequest | undefined, grantEnd?: number): number {
  const now = epoch();
  let end = now + idle;
  let cap = typeof token.ghExpiresAt === 'number' ? token.ghExpiresAt : typeof rotatedFrom?.ghExpiresAt === 'number' ? rotatedFrom.ghExpiresAt : undefined;
  // The first of a family: the family's end. A token rotated from one issued before families had
  // an end takes the earlier of its grant's end and its family's first issue (iiat) plus the
  // lifetime: a sign-in that renewed the grant before this rotation cannot prolong it either.
  // A family begun by an authorization without a sign-in (a consent) is under a grant only a
  // sign-in renews: it ends with that grant, not later (a token that looked valid past it would
  // be refused by oidc-provider, which checks the grant).
  if (cap === undefined && rotatedFrom === undefined) cap = grantEnd !== undefined ? Math.min(now + idle, grantEnd) : now + idle;
  else if (cap === undefined) {
    const ends = [grantEnd, typeof rotatedFrom?.iiat === 'number' ? rotatedFrom.iiat + idle : undefined].filter((x): x is number => typeof x === 'number');
    if (ends.length > 0) cap = Math.min(...ends);
  }
  // An action only brings the family's end forward.
  if (req?.expiresAt !== undefined) cap = Math.min(cap ?? Infinity, seconds(req.expiresAt));
  if (cap !== undefined) {
    token.ghExpiresAt = cap;
    end = Math.min(end, cap);
  }
  if (req?.idleExpiresAt !== undefined) end = Math.min(end, seconds(req.idleExpiresAt));
  return Math.max(1, end - now);
}
