/**
 * The OpenID Connect scopes this provider offers (its `scopes`). A token's one scope list mixes
 * them with an API's, which may reuse a name (an API's own `email`): where the two must be told
 * apart, a name in this list is an OpenID scope unless a record of the API's scopes says otherwise.
 */
export const OPENID_SCOPES: readonly string[] = Object.freeze(['openid', 'offline_access', 'profile', 'email']);
export const OPENID_SCOPE_SET: ReadonlySet<string> = new Set(OPENID_SCOPES);
