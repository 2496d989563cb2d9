import { errors } from 'oidc-provider';
import { ChainRefusal, type FlowRefusal } from '../actions/triggers/refusal.ts';

/**
 * The one table from an Actions chain's refusal to the OAuth error the client gets (DESIGN.md:
 * results are values; one table maps them to HTTP/OAuth outcomes). Interactive logins answer
 * `access_denied` through the interaction result instead (src/interactions/post-login.ts).
 */
export function oauthErrorFor(r: FlowRefusal): Error {
  switch (r.error) {
    case 'access_denied': return new errors.AccessDenied(r.description);
    case 'invalid_scope': return new errors.InvalidScope(r.description, r.scope);
    case 'invalid_request': return new errors.InvalidRequest(r.description);
    case 'server_error': return Object.assign(new errors.CustomOIDCProviderError('server_error', r.description), { status: 500, statusCode: 500 });
    // Auth0's answer (403) when a refresh meets a second factor it cannot ask for: SDKs know it.
    case 'mfa_required': return Object.assign(new errors.CustomOIDCProviderError('mfa_required', r.description), { status: 403, statusCode: 403 });
  }
}

const mapped = (e: unknown): never => { throw e instanceof ChainRefusal ? oauthErrorFor(e.refusal) : e; };

/**
 * Runs a hook, turning a chain's refusal into its OAuth error (anything else passes through). A
 * hook that answers at once is answered at once (no promise made: extraTokenClaims runs on every
 * client_credentials token).
 */
export function withOAuthErrors<T>(fn: () => T): T {
  let r: T;
  try { r = fn(); } catch (e) { return mapped(e); }
  return r instanceof Promise ? (r.catch(mapped) as T) : r;
}
