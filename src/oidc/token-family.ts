import { createHash, randomBytes } from 'node:crypto';
import { REFRESH_TOKEN_METADATA_CHARS, refreshTokenMetadataKeyOk, REFRESH_TOKEN_METADATA_KEYS } from '../actions/engine/contract.ts';

/**
 * A refresh-token family: the token a code exchange issued and every token rotated from it.
 * Auth0 shows a rotating refresh token as one object whose id stays while it rotates
 * (`last_exchanged_at` moves): here that object is the family, and its id (`rt_…`) is drawn when
 * the family begins, never a token itself (an opaque refresh token is its own id). A family
 * begun before ids were kept goes by a digest of its token, as post-login's event showed it.
 * The id is kept on every token of the family (`ghFamily`, in its payload, and in the row's
 * indexed `uid` column: src/oidc/adapter.ts), so the Management API finds the family's live
 * token by it (src/management-api/refresh-tokens.ts).
 *
 * Its metadata (`ghMetadata`): Auth0's refresh-token metadata, string keys of letters, digits,
 * `_` and `-` with string values of at most 255 characters, up to 25 keys. Post-login actions
 * change it with api.refreshToken.setMetadata / deleteMetadata / evictMetadata; the change is
 * applied to the token issued by that login's code exchange or by that refresh, and each
 * rotation passes it on.
 */


/** What a chain asked for a refresh token's metadata: `evict` empties it first; `null` removes a key. */
export interface MetadataChange { evict: boolean; set: Record<string, string | null> }

type FamilyToken = { jti?: unknown; ghFamily?: unknown; ghMetadata?: unknown };

/** The id of a family begun before ids were kept: a digest of its token `jti`. */
export function familyIdOf(jti: string): string {
  return `rt_${createHash('sha256').update(jti).digest('base64url').slice(0, 22)}`;
}

/** The family a stored token belongs to (one issued before families were kept: its own). */
export function tokenFamily(token: FamilyToken): string | undefined {
  if (typeof token.ghFamily === 'string') return token.ghFamily;
  return typeof token.jti === 'string' ? familyIdOf(token.jti) : undefined;
}

/** The metadata a stored token carries (only well-formed members). */
export function tokenMetadata(token: FamilyToken | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const m = token?.ghMetadata;
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return out;
  for (const [k, v] of Object.entries(m)) if (refreshTokenMetadataKeyOk(k) && typeof v === 'string') out[k] = v;
  return out;
}

/**
 * Stamps a token as it is issued: its family (the one it was rotated from, or a new one) and
 * its metadata (the rotated token's, changed by what this request's post-login asked for).
 */
export function stampFamily(token: FamilyToken, rotatedFrom: FamilyToken | undefined, change: MetadataChange | undefined): void {
  // A new family's id is drawn here: the TTL is asked before oidc-provider draws the token's own id.
  const family = rotatedFrom ? tokenFamily(rotatedFrom) : typeof token.ghFamily === 'string' ? token.ghFamily : `rt_${randomBytes(16).toString('base64url')}`;
  if (family !== undefined) token.ghFamily = family;
  const md = applyMetadataChange(tokenMetadata(rotatedFrom ?? token), change);
  if (Object.keys(md).length > 0) token.ghMetadata = md;
  else delete token.ghMetadata;
}

/**
 * `md` changed by `change`. `change.set` holds each key's last call, not their order (and an
 * object lists integer-like keys first), so the deletions go first: the engine counted the calls
 * in order against the same metadata, and whatever order they came in, the keys left then are
 * these. Keys past the limit (the metadata changed meanwhile) are not added.
 */
export function applyMetadataChange(md: Record<string, string>, change: MetadataChange | undefined): Record<string, string> {
  if (!change) return md;
  const out: Record<string, string> = change.evict ? {} : { ...md };
  const set = Object.entries(change.set ?? {}).filter(([k]) => refreshTokenMetadataKeyOk(k));
  for (const [k, v] of set) if (v === null) delete out[k];
  for (const [k, v] of set) {
    if (typeof v !== 'string' || v.length > REFRESH_TOKEN_METADATA_CHARS) continue;
    if (!Object.hasOwn(out, k) && Object.keys(out).length >= REFRESH_TOKEN_METADATA_KEYS) continue;
    out[k] = v;
  }
  return out;
}
