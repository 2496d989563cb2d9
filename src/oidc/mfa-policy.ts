/** The `acr` Auth0 uses for multi-factor logins; clients may ask for it with `acr_values`. */
export const MFA_ACR = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';

export type MfaPolicy = 'never' | 'if-enrolled' | 'always';

/**
 * Whether this login needs a second factor before any action asks for one: the server's policy
 * (`always`; `if-enrolled` and the user is enrolled) or the authorization request
 * (`acr_values` naming {@link MFA_ACR}). The one rule for every place that decides: after the
 * password (post-login step) and when an existing session answers (the `actions` prompt's
 * check, hooks.postLoginPending), where a session whose `amr` lacks `otp` must not answer alone.
 * `enrolled` is only called when the policy depends on it.
 */
export async function mfaRequiredByPolicy(o: { policy: MfaPolicy; acrValues: unknown; enrolled: () => Promise<boolean> }): Promise<boolean> {
  const acr = typeof o.acrValues === 'string' ? o.acrValues.split(' ') : [];
  if (acr.includes(MFA_ACR) || o.policy === 'always') return true;
  return o.policy === 'if-enrolled' && await o.enrolled();
}
