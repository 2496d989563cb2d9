import { apiIdentifier } from '../../shared/urls.ts';
import { tokenDevice, type TokenDevice } from '../../oidc/token-device.ts';
import { tokenFamily, tokenMetadata } from '../../oidc/token-family.ts';
import { OPENID_SCOPE_SET } from '../../shared/openid-scopes.ts';

/** A RefreshToken payload as oidc-provider stores it, with Gatehouse's members (provider.ts IN_PAYLOAD). */
export interface StoredRefreshToken {
  jti?: unknown; iat?: unknown; iiat?: unknown; exp?: unknown; rotations?: unknown; sessionUid?: unknown; resource?: unknown; scope?: unknown;
  accountId?: unknown; clientId?: unknown; grantId?: unknown; ghExpiresAt?: unknown; ghDevice?: unknown; ghFamily?: unknown; ghMetadata?: unknown;
  /** The API scopes its login issued, per API (src/oidc/provider.ts issuedApiScopes). */
  ghApiScopes?: unknown;
}

/** What both event.refresh_token (post-login on a refresh) and the Management API's refresh token read from a token. */
export interface RefreshTokenFacts {
  id: string; client_id: string; user_id: string; session_id?: string;
  created_at: string; expires_at?: string; idle_expires_at?: string; last_exchanged_at?: string;
  rotating: true; device?: TokenDevice;
  resource_servers: { audience: string; scopes: string[] }[];
  metadata: Record<string, string>;
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/**
 * Auth0's fields as far as oidc-provider keeps them: the family (token-family.ts: its id stays
 * while the token rotates), its first issue (iiat), the last exchange (this token was issued by
 * it, when rotated), its ends (the family's: its grant's end or an earlier one an action set,
 * lifetimes.ts; this token's own: its expiry), where it was issued, its API and scopes.
 * `grantExp`: its grant's end (epoch seconds), when known.
 */
export function refreshTokenFacts(rt: StoredRefreshToken, o: { clientId: string; userId: string; grantExp?: number }): RefreshTokenFacts | undefined {
  const id = tokenFamily(rt);
  if (id === undefined) return undefined;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const ends = [o.grantExp, num(rt.ghExpiresAt)].filter((x): x is number => x !== undefined);
  const exp = num(rt.exp);
  const absoluteEnd = ends.length ? Math.min(...ends) : exp;
  const iat = num(rt.iat);
  const device = tokenDevice(rt);
  const scope = typeof rt.scope === 'string' ? rt.scope : '';
  // The API's scopes as its login issued them (recorded per API); for a token from before that
  // record, its scope list without OpenID Connect's names (openid, profile, email, …: the ID
  // token's), which also drops an API scope that shares one.
  const recorded = typeof rt.resource === 'string' && rt.ghApiScopes !== null && typeof rt.ghApiScopes === 'object' ? (rt.ghApiScopes as Record<string, unknown>)[rt.resource] : undefined;
  const apiScopes = typeof recorded === 'string' ? recorded.split(' ').filter(Boolean) : scope.split(' ').filter((x) => x && !OPENID_SCOPE_SET.has(x));
  return {
    id, client_id: o.clientId, user_id: o.userId,
    ...(typeof rt.sessionUid === 'string' ? { session_id: rt.sessionUid } : {}),
    created_at: iso(num(rt.iiat) ?? iat ?? 0),
    ...(absoluteEnd !== undefined ? { expires_at: iso(absoluteEnd) } : {}),
    ...(exp !== undefined ? { idle_expires_at: iso(Math.min(exp, absoluteEnd ?? exp)) } : {}),
    ...((num(rt.rotations) ?? 0) > 0 && iat !== undefined ? { last_exchanged_at: iso(iat) } : {}),
    rotating: true,
    // Where the family began and this token was issued (none for a token issued before they were kept).
    ...(device ? { device } : {}),
    resource_servers: typeof rt.resource === 'string' ? [{ audience: apiIdentifier(rt.resource), scopes: apiScopes }] : [],
    metadata: tokenMetadata(rt),
  };
}
