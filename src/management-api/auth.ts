import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Middleware } from 'koa';
import type { AppContext } from '../context.ts';
import { AppError } from '../shared/errors.ts';
import { CURRENT_USER_SCOPES, MANAGEMENT_GRANT_CLAIM } from '../shared/current-user-scopes.ts';

export interface ManagementCaller {
  sub: string; clientId: string; scopes: Set<string>;
  /** A user's own token (current-user scopes only): that user's id. Absent for a client grant's token. */
  user?: string;
}

const CURRENT_USER = new Set<string>(CURRENT_USER_SCOPES);

/**
 * Bearer JWT access tokens issued by this server for the Management API audience
 * (`/api/v2/` on the issuer's origin), verified against our own published keys
 * (ES256/RS256 only, `typ: at+jwt`). 401 without a valid token for that audience.
 */
export function managementAuth(app: AppContext): Middleware {
  let jwks: ReturnType<typeof createLocalJWKSet> | undefined;
  let loadedAt = 0;
  let loadedVersion: string | undefined;
  async function keySet(force = false) {
    // Reloaded when this node's provider took other keys (a rotation or a revocation here, or one
    // another node made, seen by its key check), and once a minute regardless.
    if (!jwks || force || loadedVersion !== app.keysVersion || Date.now() - loadedAt > 60_000) {
      loadedVersion = app.keysVersion;
      jwks = createLocalJWKSet({ keys: (await app.keys.list()).map((k) => k.public_jwk) as never });
      loadedAt = Date.now();
    }
    return jwks;
  }
  const unauthorized = (message: string) => new AppError(401, 'invalid_token', message);

  return async function requireManagementToken(ctx, next) {
    const header = ctx.get('authorization');
    const m = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(header);
    if (!m) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw unauthorized('Missing authentication');
    }
    let payload: JWTPayload;
    const opts = { issuer: app.config.issuer, audience: app.urls.managementAudience, algorithms: ['ES256', 'RS256'], typ: 'at+jwt' };
    try {
      ({ payload } = await jwtVerify(m[1], await keySet(), opts));
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_JWKS_NO_MATCHING_KEY') {
        try { ({ payload } = await jwtVerify(m[1], await keySet(true), opts)); } catch { throw unauthorized('Invalid token'); }
      } else if ((e as { code?: string }).code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && (e as { claim?: string }).claim === 'aud') {
        throw unauthorized('Bad audience: the token is not for the Management API');
      } else {
        throw unauthorized((e as { code?: string }).code === 'ERR_JWT_EXPIRED' ? 'Expired token' : 'Invalid token');
      }
    }
    // Only client-credentials tokens (sub = client_id) are admin tokens. A user's token (sub = the
    // user) counts for the current-user scopes alone, whatever else it carries, and reaches only
    // that user's own record (requireScopeOrSelf).
    const clientId = typeof payload.client_id === 'string' ? payload.client_id : '';
    if (!clientId || typeof payload.sub !== 'string' || !payload.sub) throw unauthorized('Invalid token');
    if (payload.sub !== clientId) {
      if (!app.config.managementApi.currentUserTokens) {
        throw new AppError(403, 'access_denied', 'The Management API does not take users\' own tokens here (managementApi.currentUserTokens is off)');
      }
      const grantId = payload[MANAGEMENT_GRANT_CLAIM];
      if (typeof grantId !== 'string') throw unauthorized('The token does not name the authorization it was issued under: sign in again for a new one');
      const [user, client, grant] = await Promise.all([
        app.users.get(payload.sub), app.clients.get(clientId), app.grants.get(grantId),
      ]);
      if (!user) throw unauthorized('The user of this token no longer exists');
      if (user.blocked) throw unauthorized('The user of this token is blocked');
      if (!client) throw unauthorized('The application this token was issued to no longer exists');
      // A password change, or the user's authorization of the application revoked (from their
      // account page, the Management API, or by ending their sessions), ends the token at once,
      // not when it expires: it is a browser's token and the way back from a stolen one. The
      // token names the authorization it was issued under; a sign-in after a revocation makes a
      // new one, which does not bring older tokens back. (A password change also revokes the
      // grants; its own check is to the second, as `iat` is.)
      const iat = typeof payload.iat === 'number' ? payload.iat : undefined;
      if (iat === undefined) throw unauthorized('Invalid token');
      if (user.last_password_reset && iat < Math.floor(Date.parse(user.last_password_reset) / 1000)) throw unauthorized('The password changed after this token was issued');
      const live = grant !== undefined && grant.accountId === payload.sub && grant.clientId === clientId && (grant.expiresAt === null || grant.expiresAt > Date.now());
      const held = new Set(live ? grant.resources[app.urls.managementAudience] ?? [] : []);
      if (held.size === 0) throw unauthorized('The authorization this token was issued under was revoked (a password change, a block, the user\'s sessions ended or the application\'s access revoked): sign in again');
      const scopes = new Set((typeof payload.scope === 'string' ? payload.scope.split(' ') : []).filter((s) => CURRENT_USER.has(s) && held.has(s)));
      ctx.state.caller = { sub: payload.sub, clientId, scopes, user: payload.sub } satisfies ManagementCaller;
      return next();
    }
    // The client grant as it is now bounds the token's scopes, so deleting a client or narrowing
    // its grant takes effect at once rather than when already issued tokens expire.
    const grant = await app.resourceServers.grants.find(clientId, app.urls.managementAudience);
    if (!grant) throw unauthorized('The client is no longer authorized for the Management API');
    const granted = new Set(grant.scope);
    const scopes = new Set((typeof payload.scope === 'string' ? payload.scope.split(' ') : []).filter((s) => granted.has(s)));
    ctx.state.caller = { sub: String(payload.sub), clientId, scopes } satisfies ManagementCaller;
    await next();
  };
}

/** 403 unless the caller's token carries `scope` (Auth0: "Insufficient scope, expected any of: …"). */
export function requireScope(...anyOf: string[]): Middleware {
  return async function checkScope(ctx, next) {
    const caller = ctx.state.caller as ManagementCaller | undefined;
    if (!caller || !anyOf.some((s) => caller.scopes.has(s))) {
      throw new AppError(403, 'insufficient_scope', `Insufficient scope, expected any of: ${anyOf.join(',')}`);
    }
    await next();
  };
}

/**
 * A route a user's own token may take for its own record (Auth0's current-user scopes): passes
 * with any of `adminScopes`, or for a user's token whose user is `:id` with any of `selfScopes`.
 */
export function requireScopeOrSelf(adminScopes: string[], selfScopes: string[]): Middleware {
  return async function checkScopeOrSelf(ctx, next) {
    const caller = ctx.state.caller as ManagementCaller | undefined;
    if (caller && adminScopes.some((s) => caller.scopes.has(s))) return next();
    if (caller?.user !== undefined) {
      if (!selfScopes.some((s) => caller.scopes.has(s))) {
        throw new AppError(403, 'insufficient_scope', `Insufficient scope, expected any of: ${selfScopes.join(',')}`);
      }
      if (ctx.params.id !== caller.user) {
        throw new AppError(403, 'insufficient_scope', 'A user\'s token reaches only that user\'s own record');
      }
      return next();
    }
    throw new AppError(403, 'insufficient_scope', `Insufficient scope, expected any of: ${adminScopes.join(',')}`);
  };
}
