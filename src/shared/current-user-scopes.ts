/**
 * What a user's own token for the Management API may carry (Auth0's Management API tokens for
 * single-page apps): a user signing in with `audience=` the Management API gets these and
 * nothing else, and they reach only that user's own record. Admin scopes come only from client
 * grants. Auth0 lists more (linking identities, device credentials): those endpoints do not
 * exist here, so neither do their scopes.
 */
export const CURRENT_USER_SCOPES = ['read:current_user', 'update:current_user_metadata', 'create:current_user_metadata'] as const;

/**
 * The claim of such a token naming the authorization (oidc-provider's Grant) it was issued
 * under: the Management API takes the token only while that grant lives, so revoking it, a
 * password change or ending the user's sessions ends the token, and a later sign-in (a new
 * grant) does not bring it back. Written after an action's claims, so none replaces it.
 */
export const MANAGEMENT_GRANT_CLAIM = 'gh_grant';
