import { apiIdentifier } from '../../shared/urls.ts';
import type { Context } from 'koa';
import type { User } from '../../users/users.ts';
import { geoipOf } from '../../http/geoip.ts';

type Obj = Record<string, unknown>;
const SENSITIVE = /pass(word)?|secret|token|code|assertion|_csrf/i;
/** Authorization parameters an action has no use for and that are secrets of the flow (PKCE's challenge is not one). */
const SENSITIVE_QUERY = /secret|password|^code$|code_verifier|assertion|_csrf/i;

/**
 * `event.request`, with sensitive fields (password, tokens, secrets, codes, CSRF) removed. The
 * address, agent and language are the current request's. `over` names the request the event is
 * about when that is not the current one: a login's authorization request (its parameters as
 * `query`, as Auth0 gives them whatever page posted the password). At the token endpoint the
 * body is the token request's form, which oidc-provider parsed (not Koa).
 */
export function requestInfo(ctx: Context | undefined, over: { query?: Obj; body?: Obj; method?: string } = {}): Obj {
  if (!ctx) return {};
  const body = over.body ?? (ctx as unknown as { oidc?: { body?: unknown } }).oidc?.body ?? (ctx.request as { body?: unknown }).body;
  const safeBody: Obj = {};
  if (body && typeof body === 'object') for (const [k, v] of Object.entries(body)) if (!SENSITIVE.test(k) && typeof v === 'string') safeBody[k] = v;
  const query: Obj = {};
  for (const [k, v] of Object.entries(over.query ?? ctx.query)) if (typeof v === 'string' && !(over.query && SENSITIVE_QUERY.test(k))) query[k] = v;
  const geoip = geoipOf(ctx.req);
  return {
    ip: ctx.ip, method: over.method ?? ctx.method, hostname: ctx.hostname, user_agent: ctx.get('user-agent'),
    language: ctx.get('accept-language').split(',')[0] || undefined, query, body: safeBody, ...(geoip ? { geoip } : {}),
  };
}

/** `event.user` in Auth0's shape, with MFA enrollment when known. */
export function userInfo(u: User, opts: { otpEnrolled?: boolean } = {}): Obj {
  return {
    user_id: u.user_id, email: u.email, email_verified: u.email_verified, name: u.name, nickname: u.nickname, picture: u.picture,
    given_name: u.given_name, family_name: u.family_name,
    created_at: u.created_at, updated_at: u.updated_at, last_login: u.last_login, last_ip: u.last_ip, logins_count: u.logins_count,
    ...(u.last_password_reset !== undefined ? { last_password_reset: u.last_password_reset } : {}),
    app_metadata: u.app_metadata, user_metadata: u.user_metadata, identities: u.identities,
    multifactor: opts.otpEnrolled ? ['otp'] : [], enrolledFactors: opts.otpEnrolled ? [{ type: 'otp' }] : [],
  };
}

/** A space-separated authorization parameter as Auth0's event gives it: an array of its words. */
function words(v: unknown): string[] {
  return typeof v === 'string' ? v.split(' ').filter((w) => w !== '') : [];
}

/**
 * `event.transaction` of a login (post-login, and pre-user-registration when the sign-up started
 * from one) in Auth0's shape, from the authorization request's parameters: the space-separated
 * ones (`scope`, `response_type`, `ui_locales`, `acr_values`, `prompt`) as arrays. `locale` is
 * the language the pages were shown in (English: they have no other).
 */
function resourceOf(r: unknown): string | undefined {
  const first = Array.isArray(r) ? r[0] : r;
  return typeof first === 'string' && first !== '' ? apiIdentifier(first) : undefined;
}

/** `device`: the authorization is a device flow's (RFC 8628), which Auth0 names `oauth2-device-code`. */
export function loginTransaction(params: Obj, id?: string, device = false): Obj {
  const t: Obj = {
    ...(id !== undefined ? { id } : {}),
    protocol: device ? 'oauth2-device-code' : 'oidc-basic-profile', locale: 'en',
    requested_scopes: words(params.scope), response_type: words(params.response_type), ui_locales: words(params.ui_locales),
    acr_values: words(params.acr_values), redirect_uri: params.redirect_uri, state: params.state,
    // The API the token will be for: `resource` when sent (oidc-provider takes it over `audience`),
    // as its identifier (a non-URI one travels as a URN: src/shared/urls.ts).
    audience: resourceOf(params.resource) ?? params.audience,
  };
  if (typeof params.response_mode === 'string') t.response_mode = params.response_mode;
  if (typeof params.prompt === 'string') t.prompt = words(params.prompt);
  if (typeof params.login_hint === 'string') t.login_hint = params.login_hint;
  return t;
}

export function clientInfo(c: { client_id: string; name: string; client_metadata?: Record<string, string> } | undefined): Obj {
  return c ? { client_id: c.client_id, name: c.name, metadata: c.client_metadata ?? {} } : {};
}

/** The one database connection, in Auth0's shape (`metadata`: none is kept, but actions read it unguarded). */
export const CONNECTION = Object.freeze({ id: 'con_username_password', name: 'Username-Password-Authentication', strategy: 'auth0', metadata: Object.freeze({}) });
const tenantIds = new Map<string, string>();
/** `event.tenant`: the issuer's host name (parsed once per issuer; every execution sends it). */
export function tenant(issuer: string): { id: string } {
  let id = tenantIds.get(issuer);
  if (id === undefined) { id = new URL(issuer).hostname; tenantIds.set(issuer, id); }
  return { id };
}
