import type { CommandLimits, TriggerContract, TriggerRegistry } from '../engine/contract.ts';
export { AFTER_DENY, DENY_CALLS, FAIL_CLOSED_WHEN_REFUSED } from '../engine/contract.ts';
import { TX_METADATA_KEY_CHARS, TX_METADATA_VALUE_CHARS, SESSION_METADATA_CHARS, REFRESH_TOKEN_METADATA_CHARS, refreshTokenMetadataKeyOk } from '../engine/contract.ts';
import { PROFILE_CLAIMS } from '../../shared/profile-claims.ts';
import { metadataProblem } from '../../users/users.ts';
import { isJsonValue, userMetadataRefusal } from '../sandbox/types.ts';

/**
 * The five triggers: which handler they call, which `api` calls they allow, which calls
 * stop the chain, whether they block the flow. The sandbox builds the guest's `api` from
 * `apiMethods`; the host validates what comes back with `validateCommand`.
 */
export type TriggerId = 'post-login' | 'pre-user-registration' | 'post-user-registration' | 'post-change-password' | 'credentials-exchange';

export interface TriggerDef extends TriggerContract { id: TriggerId }

const CACHE = ['cache.get', 'cache.set', 'cache.delete'];

export const TRIGGERS: Record<TriggerId, TriggerDef> = {
  'post-login': {
    id: 'post-login', version: 'v3', handler: 'onExecutePostLogin', continueHandler: 'onContinuePostLogin', blocking: true, denyArgs: 'reason-message',
    apiMethods: [
      'access.deny', 'idToken.setCustomClaim', 'accessToken.setCustomClaim', 'accessToken.addScope', 'accessToken.removeScope',
      'authentication.challengeWith', 'authentication.challengeWithAny', 'authentication.enrollWith', 'authentication.enrollWithAny',
      'multifactor.enable', 'redirect.sendUserTo', 'redirect.encodeToken', 'redirect.validateToken', 'redirect.canRedirect',
      'user.setAppMetadata', 'user.setUserMetadata', 'session.revoke', 'refreshToken.revoke', 'rules.wasExecuted', 'transaction.setMetadata', ...CACHE,
      'session.setExpiresAt', 'session.setIdleExpiresAt', 'refreshToken.setExpiresAt', 'refreshToken.setIdleExpiresAt',
      'authentication.recordMethod', 'session.setMetadata', 'session.deleteMetadata', 'session.evictMetadata',
      'refreshToken.setMetadata', 'refreshToken.deleteMetadata', 'refreshToken.evictMetadata',
    ],
    stopOn: ['access.deny', 'session.revoke', 'refreshToken.revoke', 'redirect.sendUserTo', 'authentication.challengeWith', 'authentication.challengeWithAny', 'authentication.enrollWith', 'authentication.enrollWithAny'],
    unsupported: [
      'authentication.setPrimaryUser',
      'prompt.render', 'transaction.setResultUrl',
      ...['setAttribute', 'setAudience', 'setIssuer', 'setRecipient', 'setDestination', 'setNameIdentifierFormat', 'setNameIdentifierProbes',
        'setLifetimeInSeconds', 'setSignResponse', 'setSignatureAlgorithm', 'setDigestAlgorithm', 'setSigningCert', 'setCert', 'setKey',
        'setEncryptionCert', 'setEncryptionPublicKey', 'setCreateUpnClaim', 'setPassthroughClaimsWithNoMapping', 'setMapUnknownClaimsAsIs',
        'setMapIdentities', 'setAuthnContextClassRef', 'setIncludeAttributeNameFormat', 'setTypedAttributes', 'setRelayState'].map((m) => `samlResponse.${m}`),
    ],
  },
  'pre-user-registration': {
    id: 'pre-user-registration', version: 'v2', handler: 'onExecutePreUserRegistration', blocking: true, denyArgs: 'reason-message',
    apiMethods: ['access.deny', 'validation.error', 'user.setAppMetadata', 'user.setUserMetadata', ...CACHE],
    stopOn: ['access.deny', 'validation.error'],
  },
  'post-user-registration': {
    id: 'post-user-registration', version: 'v2', handler: 'onExecutePostUserRegistration', blocking: false, denyArgs: 'reason-message', apiMethods: [...CACHE], stopOn: [],
  },
  'post-change-password': {
    id: 'post-change-password', version: 'v2', handler: 'onExecutePostChangePassword', blocking: false, denyArgs: 'reason-message', apiMethods: [...CACHE], stopOn: [],
  },
  'credentials-exchange': {
    id: 'credentials-exchange', version: 'v2', handler: 'onExecuteCredentialsExchange', blocking: true, denyArgs: 'code-reason',
    apiMethods: ['access.deny', 'accessToken.setCustomClaim', ...CACHE],
    stopOn: ['access.deny'],
  },
};

export const isTriggerId = (s: unknown): s is TriggerId => typeof s === 'string' && Object.hasOwn(TRIGGERS, s);

/** Claims an action may never set (ACTIONS.md; SECURITY.md §0 item 2). */
export const RESERVED_CLAIMS = new Set(['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'jti', 'nonce', 'auth_time', 'azp', 'acr', 'amr',
  'at_hash', 'c_hash', 's_hash', 'sid', 'client_id', 'scope', 'cnf', 'gty', 'typ', 'act', 'may_act', 'events', 'token_type',
  // The rest of the claims Auth0 restricts (its "Create Custom Claims" page): an action setting
  // one gets the same token as on Auth0, without it.
  'active', 'ath', 'attest', 'authorization_details', 'cty', 'dest', 'entitlements', 'groups', 'htm', 'htu', 'internalService',
  'jcard', 'jku', 'jwe', 'jwk', 'kid', 'mky', 'object_id', 'org_id', 'org_name', 'orig', 'origid', 'permissions', 'roles', 'rph',
  'sip_callid', 'sip_cseq_num', 'sip_date', 'sip_from_tag', 'sip_via_branch', 'sub_jwk', 'toe', 'txn', 'uuid', 'vot', 'vtm', 'x5t#S256']);
// PROFILE_CLAIMS in an ID token: the action's value was either overridden without a word (scope
// email or profile asked) or went out in its place (not asked): refused either way, with the
// reason in the execution record. Access tokens carry no profile claims, so there they are custom.
const BAD_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Characters no name an action gives may hold: controls, line and paragraph separators, bidi and zero-width marks. */
export const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029\u202a-\u202e\u200b-\u200f]/;



function checkName(kind: string, name: unknown): string | null {
  if (typeof name !== 'string' || name.length === 0) return `${kind} name must be a non-empty string`;
  if (name.length > 256) return `${kind} name is longer than 256 characters`;
  if (CONTROL.test(name)) return `${kind} name contains control characters`;
  if (BAD_KEYS.has(name)) return `${kind} name "${name}" is not allowed`;
  return null;
}

function checkRedirectUrl(url: unknown, allowHttpLocalhost: boolean, allow: string[] | undefined): string | null {
  if (typeof url !== 'string' || CONTROL.test(url)) return 'redirect URL must be a string without control characters';
  let u: URL;
  try { u = new URL(url); } catch { return 'redirect URL must be absolute'; }
  if (u.protocol === 'https:' && !u.username && !u.password) {
    if (!allow || allow.length === 0) return null;
    // URL drops https's default port: `partner.example:443` on the list is `partner.example`.
    const host = u.host.toLowerCase();
    return allow.some((h) => h.toLowerCase().replace(/:443$/, '') === host) ? null
      : `redirect host ${u.host} is not on the redirect allow list (actions.redirectAllow)`;
  }
  if (allowHttpLocalhost && u.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname)) return null;
  return `redirect URL must use https${allowHttpLocalhost ? ' (or http://localhost)' : ''}`;
}

/**
 * Checks one recorded command against the trigger's contract. Returns null when valid, or
 * the reason it is refused (the reason goes into the execution log; the flow goes on
 * without the command).
 */
export function validateCommand(trigger: TriggerContract, type: string, args: unknown[], limits: CommandLimits): string | null {
  if (!trigger.apiMethods.includes(type)) return `api.${type} is not available in ${trigger.id}`;
  const [a, b] = args;
  switch (type) {
    case 'idToken.setCustomClaim':
    case 'accessToken.setCustomClaim': {
      const bad = checkName('claim', a);
      if (bad) return bad;
      if (RESERVED_CLAIMS.has(a as string)) return `claim "${a}" is reserved and cannot be set by an action`;
      if (type === 'idToken.setCustomClaim' && PROFILE_CLAIMS.has(a as string)) return `claim "${a}" comes from the user's profile and cannot be set by an action in the ID token (update the user, or use a namespaced claim)`;
      // Without a value (the action passed undefined, a function or a Symbol): the claim is left out.
      if (args.length < 2) return null;
      if (!isJsonValue(b)) return `claim "${a}" must be a JSON value`;
      if (Buffer.byteLength(JSON.stringify(b)) > limits.claimsBytes) return `claim "${a}" is larger than ${limits.claimsBytes} bytes`;
      return null;
    }
    case 'transaction.setMetadata': {
      if (typeof a !== 'string' || a === '' || a.length > TX_METADATA_KEY_CHARS || BAD_KEYS.has(a) || CONTROL.test(a)) return `transaction metadata keys are strings of 1 to ${TX_METADATA_KEY_CHARS} characters`;
      if (!(b === null || typeof b === 'boolean' || (typeof b === 'number' && Number.isFinite(b)) || (typeof b === 'string' && b.length <= TX_METADATA_VALUE_CHARS))) return `transaction metadata "${a}" must be a string of at most ${TX_METADATA_VALUE_CHARS} characters, a number, a boolean or null`;
      return null;
    }
    case 'user.setAppMetadata':
    case 'user.setUserMetadata':
      // (NUL and lone surrogates, which PostgreSQL's jsonb refuses, are refused too: the user search reads metadata as jsonb.)
      return userMetadataRefusal(a, b);
    case 'access.deny':
      if (trigger.id === 'credentials-exchange') {
        if (!['invalid_scope', 'invalid_request', 'server_error'].includes(a as string)) return 'access.deny code must be invalid_scope, invalid_request or server_error';
        if (b !== undefined && typeof b !== 'string') return 'access.deny reason must be a string';
        return null;
      }
      if (a !== undefined && typeof a !== 'string') return 'access.deny reason must be a string';
      if (b !== undefined && typeof b !== 'string') return 'access.deny user message must be a string';
      return null;
    case 'validation.error':
      return typeof a === 'string' && typeof b === 'string' ? null : 'validation.error needs (code, message) strings';
    case 'session.revoke': {
      if (a !== undefined && typeof a !== 'string') return 'session.revoke reason must be a string';
      if (b === undefined || b === null) return null;
      if (typeof b !== 'object' || Array.isArray(b)) return 'session.revoke options must be an object';
      const keep = (b as { preserveRefreshTokens?: unknown }).preserveRefreshTokens;
      return keep === undefined || typeof keep === 'boolean' ? null : 'session.revoke options.preserveRefreshTokens must be a boolean';
    }
    case 'session.setExpiresAt': case 'session.setIdleExpiresAt':
    case 'refreshToken.setExpiresAt': case 'refreshToken.setIdleExpiresAt':
      // Auth0's unit: milliseconds since the epoch (Date.now() + …). Seconds (under 1e11: before
      // 1973 as milliseconds) are refused rather than read as a time long gone.
      return typeof a === 'number' && Number.isFinite(a) && a >= 1e11 && a <= 8.64e15 ? null : `${type} needs a time in milliseconds since the epoch (as Date.now() gives)`;
    case 'session.setMetadata':
    case 'session.deleteMetadata': {
      if (typeof a !== 'string' || a === '' || a.length > SESSION_METADATA_CHARS || BAD_KEYS.has(a) || CONTROL.test(a) || metadataProblem(a)) return `session metadata keys are strings of 1 to ${SESSION_METADATA_CHARS} characters`;
      if (type === 'session.setMetadata' && (typeof b !== 'string' || b.length > SESSION_METADATA_CHARS || metadataProblem(b))) return `session metadata "${a}" must be a string of at most ${SESSION_METADATA_CHARS} characters`;
      return null;
    }
    case 'refreshToken.setMetadata':
    case 'refreshToken.deleteMetadata': {
      if (!refreshTokenMetadataKeyOk(a)) return `refresh token metadata keys are 1 to ${REFRESH_TOKEN_METADATA_CHARS} letters, digits, _ or -`;
      if (type === 'refreshToken.setMetadata' && (typeof b !== 'string' || b.length > REFRESH_TOKEN_METADATA_CHARS)) return `refresh token metadata "${a}" must be a string of at most ${REFRESH_TOKEN_METADATA_CHARS} characters`;
      if (type === 'refreshToken.setMetadata' && metadataProblem(b)) return `refresh token metadata "${a}" must not contain NUL characters or lone surrogates`;
      return null;
    }
    case 'authentication.recordMethod': {
      // Auth0's provider URL: the outside authenticator's identity, shown back in event.authentication.methods.
      if (typeof a !== 'string' || a.length > 512 || CONTROL.test(a)) return 'authentication.recordMethod needs the provider\'s URL (at most 512 characters)';
      try {
        const u = new URL(a);
        if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'authentication.recordMethod needs an http(s) URL';
      } catch { return 'authentication.recordMethod needs an absolute URL'; }
      return null;
    }
    case 'refreshToken.revoke':
      return a === undefined || typeof a === 'string' ? null : 'refreshToken.revoke reason must be a string';
    case 'accessToken.addScope':
    case 'accessToken.removeScope':
      return typeof a === 'string' && /^[\x21\x23-\x5b\x5d-\x7e]{1,280}$/.test(a) ? null : 'scope must be a single scope token';
    case 'authentication.challengeWith':
    case 'authentication.enrollWith': {
      const t = (a as { type?: unknown } | null)?.type;
      return t === 'otp' ? null : `factor type ${JSON.stringify(t)} is not supported (only "otp")`;
    }
    case 'authentication.challengeWithAny':
    case 'authentication.enrollWithAny':
      return Array.isArray(a) && a.length > 0 && a.some((f) => (f as { type?: unknown })?.type === 'otp') ? null : 'the factor list must include {type: "otp"}';
    case 'multifactor.enable':
      // 'guardian' (Auth0's own authenticator app, which gives codes too: two marketplace templates
      // and much code from Rules ask for it) is the authenticator app here, as 'any' is.
      return ['any', 'google-authenticator', 'guardian', 'none'].includes(a as string) ? null : 'multifactor.enable provider must be any, google-authenticator, guardian or none';
    case 'redirect.sendUserTo': {
      const bad = checkRedirectUrl(a, limits.redirectAllowHttpLocalhost, limits.redirectAllow);
      if (bad) return bad;
      const q = (b as { query?: unknown } | undefined)?.query;
      if (q !== undefined && (typeof q !== 'object' || q === null || Object.values(q).some((v) => typeof v !== 'string'))) return 'redirect query values must be strings';
      return null;
    }
    case 'cache.set':
      if (typeof a !== 'string' || a.length > 200) return 'cache key must be a string of at most 200 characters';
      return typeof b === 'string' && b.length <= 4096 ? null : 'cache value must be a string of at most 4 KB';
    case 'cache.delete':
      return typeof a === 'string' ? null : 'cache key must be a string';
    default:
      // Calls with return values (canRedirect, encodeToken, validateToken, cache.get, rules.wasExecuted) are not commands.
      return null;
  }
}

/** The five triggers as the engine and the store get them (src/context.ts passes this). */
export const triggerRegistry: TriggerRegistry = {
  get: (id) => (isTriggerId(id) ? TRIGGERS[id] : undefined),
  ids: () => Object.keys(TRIGGERS),
  validate: validateCommand,
};
