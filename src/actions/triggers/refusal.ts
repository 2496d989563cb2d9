/**
 * How an Actions chain stops a protocol flow, as a value the triggers throw and src/oidc turns
 * into oidc-provider's OAuth error (src/oidc/outcomes.ts, the one table). The triggers do not
 * import oidc-provider (DESIGN.md: only src/oidc does).
 */
export type FlowRefusal =
  /** post-login on a refresh or a prompt=none authorization: a deny or a failure; on a refresh also a step that needs the user. */
  | { error: 'access_denied'; description: string }
  /** credentials-exchange: `api.access.deny('invalid_scope', reason)`, with the scope asked for. */
  | { error: 'invalid_scope'; description: string; scope: string }
  /** credentials-exchange: `api.access.deny('invalid_request', reason)`. */
  | { error: 'invalid_request'; description: string }
  /** credentials-exchange: `api.access.deny('server_error', reason)`, or a chain that failed. */
  | { error: 'server_error'; description: string }
  /** post-login on a refresh: a second factor asked for that the login did not have (Auth0's error for it). */
  | { error: 'mfa_required'; description: string };

export class ChainRefusal extends Error {
  readonly refusal: FlowRefusal;
  constructor(refusal: FlowRefusal) {
    super(refusal.description);
    this.name = 'ChainRefusal';
    this.refusal = refusal;
  }
}
