/**
 * The ID-token (and userinfo) claims Gatehouse takes from the user's profile
 * (src/oidc/provider.ts findAccount). The profile is their only source: an action may not set
 * them (src/actions/triggers/definitions.ts), and a stored custom claim of that name is never
 * sent in their place.
 */
export const PROFILE_CLAIMS: ReadonlySet<string> = new Set(['email', 'email_verified', 'name', 'nickname', 'picture', 'updated_at', 'given_name', 'family_name']);
