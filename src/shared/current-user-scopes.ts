/**
 * What a user's own token for the Management API may carry (Auth0's Management API tokens for
 * single-page apps): a user signing in with `audience=` the Management API gets these and
 * nothing else, and they reach only that user's own record. Admin scopes come only from client
 * grants. Auth0 lists more (linking identities, device credentials): those endpoints do not
 * exist here, so neither do their scopes.
 */
export const CURRENT_USER_SCOPES = ['read:current_user', 'update:current_user_metadata', 'create:current_user_metadata'] as const;
