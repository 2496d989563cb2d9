import { apiIdentifier, apiIndicator, redirectsToThisDevice } from '../shared/urls.ts';
import { cookieSigner } from '../http/cookie-signer.ts';
import type { Permissions } from '../roles/permissions.ts';
import Provider, { errors, interactionPolicy } from 'oidc-provider';
import type { Configuration, KoaContextWithOIDC, Account, ResourceServer as ResourceServerInfo } from 'oidc-provider';
import { proxyHops, type Config } from '../config/schema.ts';
import type { Db } from '../db/knex.ts';
import type { Users } from '../users/users.ts';
import { DEVICE_CODE_GRANT, type Clients } from '../clients/clients.ts';
import type { ResourceServers, ResourceServer, ClientGrant } from '../clients/resource-servers.ts';
import type { Audit } from '../audit/audit.ts';
import type { Logger } from '../shared/logger.ts';
import type { Urls } from '../shared/urls.ts';
import { logKoaErrors } from '../http/koa-errors.ts';
import { createAdapterFactory, GRANT_LOADED_MEMBER, insertOnce, markLoaded } from './adapter.ts';
import { createHash } from 'node:crypto';
import { refreshTokenTtl, sessionTtl, type RefreshTokenRequest } from './lifetimes.ts';
import { stampFamily } from './token-family.ts';
import { stampDevice } from './token-device.ts';
import { withOAuthErrors } from './outcomes.ts';
import { QUERY_PARAM, carryUnknownParams } from './authorization-query.ts';
import { PROFILE_CLAIMS } from '../shared/profile-claims.ts';
import { CURRENT_USER_SCOPES } from '../shared/current-user-scopes.ts';
import { OPENID_SCOPES, OPENID_SCOPE_SET } from '../shared/openid-scopes.ts';
import { messagePage, logoutPage } from '../../views/pages.ts';
import { confirmDevicePage, userCodePage } from '../../views/device.ts';
import type { RequestLimits } from '../users/request-limits.ts';
import type { Organizations } from '../organizations/organizations.ts';
import { organizationPrompt, organizationRequired } from '../organizations/prompt.ts';
import { ISSUED } from './backchannel.ts';
import { isAllowedHost, parseFetchAllow } from '../actions/sandbox/net-guard.ts';
import { html } from '../../views/html.ts';

export interface ProviderDeps {
  config: Config; db: Db; users: Users; clients: Clients; resourceServers: ResourceServers; audit: Audit; logger: Logger; urls: Urls;
  /** RBAC: a user's permissions on an API that enforces them (src/roles/permissions.ts). */
  permissions: Pick<Permissions, 'effective'>;
  /** Organizations: the one an authorization signs in to (`organization=`), and its members. */
  organizations: Pick<Organizations, 'get' | 'byName' | 'isMember'>;
  /** The device flow's page counts wrong user codes per client address (RFC 8628 §5.1). */
  requestLimits: Pick<RequestLimits, 'hit' | 'refund'>;
  jwks: Record<string, unknown>[]; cookieKeys: string[];
  /** Extra claims for a token or for userinfo / the ID token (Actions plug in here). */
  hooks?: ProviderHooks;
}

/**
 * Gatehouse's hooks at oidc-provider's seams (src/oidc/hooks.ts). A chain's refusal is thrown as
 * a ChainRefusal; postLoginPending, beforeRefresh and extraTokenClaims are called through
 * withOAuthErrors (outcomes.ts), which turns it into the OAuth error. The others must not throw one.
 */
export interface ProviderHooks {
  /** Claims added to the ID token and userinfo, stored with the grant by post-login. */
  accountClaims?(ctx: KoaContextWithOIDC, accountId: string, use: string, grantId: string | undefined): Promise<Record<string, unknown> | undefined>;
  /** Claims added to JWT access tokens (post-login or credentials-exchange). */
  extraTokenClaims?(ctx: KoaContextWithOIDC, token: unknown): Record<string, unknown> | undefined | Promise<Record<string, unknown> | undefined>;
  /**
   * A refresh-token grant, after the token was checked and before it is consumed (rotated): the
   * place to run post-login for it, so that a deny or a failure (a ChainRefusal, which
   * withOAuthErrors turns into the OAuth error) leaves the refresh token usable for a retry.
   */
  beforeRefresh?(ctx: KoaContextWithOIDC): Promise<void>;
  /** Scope changes (post-login `accessToken.addScope/removeScope`) applied to the grant. */
  adjustGrant?(ctx: KoaContextWithOIDC, grant: InstanceType<Provider['Grant']>): Promise<void>;
  /**
   * Whether post-login actions still have to run for this authorization (an existing session
   * answered it, so no password step ran them). With prompt=none it may run them inline.
   */
  postLoginPending?(ctx: KoaContextWithOIDC): Promise<boolean>;
  /**
   * Whether a session may have been revoked by an action (api.session.revoke: only while
   * post-login actions are bound). The adapter checks a signed-in session's saves against the
   * revocations only then: every login saves its session, most with nothing bound.
   */
  sessionsMayBeRevoked?(): boolean;
  /** An authorization request was answered with a code or tokens (not an error): what waited for that is kept now, before the response goes out. */
  authorizationAnswered?(ctx: KoaContextWithOIDC): Promise<void>;
  /** A logout ended session `uid`. */
  sessionEnded?(uid: string): Promise<void>;
  /** What post-login asked for the refresh token this refresh-token grant issues (api.refreshToken.setExpiresAt / setIdleExpiresAt). */
  refreshTokenLifetime?(ctx: KoaContextWithOIDC): RefreshTokenRequest | undefined;
  /** What the authorization a code is issued in asked for the refresh token the code will issue (kept on the code). */
  codeRefreshLifetime?(ctx: KoaContextWithOIDC): RefreshTokenRequest | undefined;
}

/** oidc-provider's cookies (the session's, the interaction's): signed, not readable by scripts. */
export const COOKIE_OPTIONS = Object.freeze({ signed: true, httpOnly: true, sameSite: 'lax' as const });

export const ROUTES = {
  authorization: '/authorize',
  token: '/oauth/token',
  userinfo: '/userinfo',
  jwks: '/.well-known/jwks.json',
  end_session: '/oidc/logout',
  revocation: '/oauth/revoke',
  introspection: '/oauth/token/introspection',
  // The device flow (RFC 8628) at Auth0's paths: the device asks at the first, the user opens the second.
  device_authorization: '/oauth/device/code',
  code_verification: '/activate',
} as const;

/**
 * Custom claims from Actions ride along with an account's claims under this symbol.
 * oidc-provider keeps only claims named in its static `claims` configuration, and action
 * claims have names chosen at run time (`https://example.com/roles`), so `Claims#result` is
 * wrapped below to add them back: after the standard claims, which win on any clash.
 */
const CUSTOM_CLAIMS = Symbol('gatehouse.customClaims');

/** Per token request (on ctx.oidc): `audience` was sent more than once; the client grant's scopes. */
const AUDIENCE_REPEATED = Symbol('gatehouse.audienceRepeated');
const GRANT_SCOPES = Symbol('gatehouse.grantScopes');
const BODY = Symbol('gatehouse.body');
const audienceRepeated = () => new errors.InvalidRequest("'audience' parameter must not be provided twice");

/** A client assertion's longest lifetime (Auth0's), and the clock skew allowed on it. */
const ASSERTION_MAX_AGE = 300;
const CLOCK_TOLERANCE = 15;

const firstParty = (client: { [k: string]: unknown } | undefined) => client?.['urn:gatehouse:first_party'] === true;

/**
 * node-oidc-provider, configured (never forked): Auth0's paths, knex adapter, resource
 * indicators for APIs (RFC 9068 JWT access tokens, `audience=` accepted as Auth0 clients send
 * it), client credentials limited by client grants, refresh rotation with reuse detection,
 * consent skipped for first-party clients, our own pages for errors and logout.
 */
export function createProvider(d: ProviderDeps): Provider {
  const { config, users, clients, resourceServers, urls } = d;
  const t = config.tokens;

  // oidc-provider looks the account up several times per request (grant checks, then claims
  // for each token): one read per request is enough.
  const accountsOfRequest = new WeakMap<object, Map<string, Promise<Awaited<ReturnType<Users['get']>>>>>();
  /** A user, read once per request (the resume's stale-login check and findAccount ask for the same one). */
  function userOfRequest(ctx: object | undefined, sub: string) {
    if (!ctx) return users.get(sub);
    let seen = accountsOfRequest.get(ctx);
    if (!seen) { seen = new Map(); accountsOfRequest.set(ctx, seen); }
    let lookup = seen.get(sub);
    if (!lookup) { lookup = users.get(sub); seen.set(sub, lookup); }
    return lookup;
  }
  async function findAccount(ctx: KoaContextWithOIDC, sub: string, token?: { grantId?: string }): Promise<Account | undefined> {
    const u = await userOfRequest(ctx, sub);
    if (!u || u.blocked) return undefined;
    return {
      accountId: sub,
      async claims(use: string) {
        const base: Record<string, unknown> = {
          sub, email: u.email, email_verified: u.email_verified, name: u.name, nickname: u.nickname,
          given_name: u.given_name, family_name: u.family_name,
          picture: u.picture || undefined, updated_at: Math.floor(Date.parse(u.updated_at) / 1000),
        };
        if (use === 'id_token') { const org = organizationOf(ctx); if (org) base.org_id = org; }
        const grantId = token?.grantId ?? (ctx.oidc.entities as { Grant?: { jti: string } }).Grant?.jti;
        const extra = await d.hooks?.accountClaims?.(ctx, sub, use, grantId);
        if (extra && Object.keys(extra).length) Object.defineProperty(base, CUSTOM_CLAIMS, { value: extra, enumerable: true });
        return base as { sub: string };
      },
    };
  }

  /**
   * What getResourceServerInfo answers, per cached API object and client grant (both are new
   * objects after any change): user flows get the API's scopes, client credentials the grant's,
   * and a user's token for the Management API the current-user scopes only.
   */
  const infos = new WeakMap<object, WeakMap<object, ResourceServerInfo>>();
  const USER_FLOWS = {};
  const CURRENT_USER = {};
  function infoFor(rs: ResourceServer, grant: ClientGrant | undefined, currentUser = false): ResourceServerInfo {
    let byGrant = infos.get(rs);
    if (!byGrant) { byGrant = new WeakMap(); infos.set(rs, byGrant); }
    const key = grant ?? (currentUser ? CURRENT_USER : USER_FLOWS);
    let info = byGrant.get(key);
    if (!info) {
      info = Object.freeze({
        scope: grant ? grant.scope.join(' ') : currentUser ? CURRENT_USER_SCOPES.join(' ') : rs.scopes.map((s) => s.value).join(' '),
        audience: rs.identifier, accessTokenFormat: 'jwt' as const,
        accessTokenTTL: currentUser ? Math.min(rs.token_lifetime, config.managementApi.currentUserTokenTtl) : rs.token_lifetime,
        jwt: Object.freeze({ sign: Object.freeze({ alg: rs.signing_alg }) }),
      });
      byGrant.set(key, info);
    }
    return info;
  }

  /**
   * RBAC (an API's `enforce_policies`), as Auth0 applies it: a user's token carries the scopes
   * asked for that the user holds as permissions (directly or through roles), and post-login's
   * scope changes come after (an action may add one the permissions did not give). So the
   * permissions decide the grant's scopes when the authorization is made: this answer limits
   * what oidc-provider and loadExistingGrant put in the grant (and what a consent page asks
   * for), then the chain adjusts the grant, and the token endpoint issues what the grant holds.
   * A refresh decides again with the permissions held then (permitAtRefresh). Before the
   * user is known (the authorization request's first pass) and at the token endpoint, every
   * scope of the API stands.
   */
  function permittedInfo(ctx: KoaContextWithOIDC, rs: ResourceServer): ResourceServerInfo | Promise<ResourceServerInfo> {
    const base = infoFor(rs, undefined);
    const accountId = ctx.oidc.route === 'token' ? undefined : ctx.oidc.session?.accountId;
    if (!accountId) return base;
    // Signing in to an organization: the roles the user has as its member. On /authorize this
    // runs before organizationParam has made the parameter an id (oidc-provider checks resources
    // before extra parameters), so a name is looked up here too; an unknown one holds nothing
    // (and organizationParam refuses it next).
    const org = (ctx.oidc.params as Record<string, unknown> | undefined)?.organization;
    const orgId = typeof org === 'string' && org ? findOrganization(org).then((o) => o?.id ?? '') : undefined;
    return (orgId ?? Promise.resolve(undefined)).then((o) => d.permissions.effective(accountId, rs.identifier, o)).then((held) => {
      const allowed = new Set(held);
      return Object.freeze({ ...base, scope: rs.scopes.map((s) => s.value).filter((v) => allowed.has(v)).join(' ') });
    });
  }

  /**
   * `permissions` for an access token to an API with an `_authz` token dialect (Auth0's "Add
   * Permissions in the Access Token"): for a user, every permission the user holds on the API
   * (not only the scopes asked for; in an organization, through its member roles); for a client
   * credentials token, the scopes its client grant gave. Undefined (no claim, nothing to wait
   * for) for every other token.
   */
  function permissionsClaim(token: unknown, org: string | undefined): Promise<string[] | undefined> | undefined {
    const t = token as { kind?: string; accountId?: string; scope?: string; resourceServer?: { audience?: string } };
    const audience = t.resourceServer?.audience;
    if (!audience || audience === urls.managementAudience) return undefined;
    const rs = resourceServers.byIdentifier(audience);
    const claimFor = (api: ResourceServer | undefined): Promise<string[]> | undefined => {
      if (!api?.token_dialect.endsWith('_authz')) return undefined;
      if (t.kind === 'ClientCredentials') return Promise.resolve((t.scope ?? '').split(' ').filter(Boolean).sort());
      if (t.kind === 'AccessToken' && t.accountId) return d.permissions.effective(t.accountId, api.identifier, org);
      return undefined;
    };
    return rs instanceof Promise ? rs.then(claimFor) : claimFor(rs);
  }

  /**
   * A grant's scopes on the APIs that enforce RBAC, cut to what the user holds now, at an
   * authorization (an existing grant keeps what earlier sign-ins were given until this trim; the
   * request's APIs, whose answers here hold the permissions already read: permittedInfo). A
   * permission taken away is gone from the next token; one given later comes with the next
   * sign-in that asks for it. (A refresh: permitAtRefresh.)
   */
  async function trimToPermissions(grant: unknown, heldOn: (indicator: string, rs: ResourceServer) => string[] | Promise<string[]>, indicators?: string[]): Promise<boolean> {
    const g = grant as { resources?: Record<string, string> } | undefined;
    if (!g?.resources) return false;
    let changed = false;
    for (const indicator of indicators ?? Object.keys(g.resources)) {
      if (g.resources[indicator] === undefined) continue;
      const rs = await resourceServers.byIdentifier(apiIdentifier(indicator));
      if (!rs?.enforce_policies) continue;
      const held = new Set(await heldOn(indicator, rs));
      const before = String(g.resources[indicator] ?? '');
      const after = before.split(' ').filter((x) => held.has(x)).join(' ');
      if (after !== before) { g.resources[indicator] = after; changed = true; }
    }
    return changed;
  }

  /**
   * At a refresh, the grant's scopes on the refresh token's APIs that enforce RBAC become what
   * the user holds now where the token was issued (its organization, or none), for this request
   * only (a refresh does not save the grant): the access token gets the refresh token's own
   * scopes cut to those. Not the stored grant's scopes cut to them: a browser session has one
   * grant per application, which each login narrows to its own organization's (or the user's
   * own) permissions, and signing in to an organization must not take from the tokens issued
   * outside it, nor the other way round. The refresh token's scopes were the grant's in its own
   * organization when it was issued, so nothing of another one's comes through.
   */
  async function permitAtRefresh(grant: unknown, token: { resource?: unknown; ghApiScopes?: unknown }, heldOn: (rs: ResourceServer) => Promise<string[]>): Promise<void> {
    const g = grant as { resources?: Record<string, string> } | undefined;
    if (!g) return;
    const issued = token.ghApiScopes !== null && typeof token.ghApiScopes === 'object' ? token.ghApiScopes as Record<string, unknown> : undefined;
    let recorded: Record<string, string> | undefined;
    for (const indicator of [token.resource].flat()) {
      if (typeof indicator !== 'string' || !indicator) continue;
      const rs = await resourceServers.byIdentifier(apiIdentifier(indicator));
      if (!rs?.enforce_policies) continue;
      const held = await heldOn(rs);
      // Bounded by the API scopes its login issued (recorded per API: the refresh token's own
      // scope list mixes OpenID scopes and API scopes, and an API may name one `email`). A token
      // from before that record: its own scopes, an OpenID name only where the stored grant
      // holds it for this API; the bound found is recorded on it, and its rotations carry it.
      const stored = new Set(String(g.resources?.[indicator] ?? '').split(' '));
      const bound = issued ? String(issued[indicator] ?? '').split(' ')
        : String((token as { scope?: unknown }).scope ?? '').split(' ').filter((s) => s !== '' && (!OPENID_SCOPE_SET.has(s) || stored.has(s)));
      if (!issued) (recorded ??= {})[indicator] = bound.join(' ');
      const allowed = new Set(bound);
      (g.resources ??= {})[indicator] = held.filter((s) => allowed.has(s)).join(' ');
      // The removals an action made at this token's login are already out of its record; the
      // ones another login of the session left on the grant are not this token's.
      const rejected = (g as { rejected?: { resources?: Record<string, string> } }).rejected;
      if (rejected?.resources) delete rejected.resources[indicator];
    }
    if (recorded) (token as { ghApiScopes?: unknown }).ghApiScopes = recorded;
  }

  /**
   * The API scopes a code (or device code) issues, per API: what its access token gets from the
   * grant as the authorization left it (in its own organization). Refresh tokens carry them on,
   * and permitAtRefresh keeps a refresh within them.
   */
  function issuedApiScopes(grant: unknown, resource: unknown, scopes: Iterable<string>): Record<string, string> | undefined {
    const g = grant as { getResourceScopeFiltered?(indicator: string, scopes: string[]): string } | undefined;
    if (typeof g?.getResourceScopeFiltered !== 'function') return undefined;
    const asked = [...scopes];
    const out: Record<string, string> = {};
    for (const indicator of [resource].flat()) {
      if (typeof indicator !== 'string' || !indicator) continue;
      out[indicator] = g.getResourceScopeFiltered(indicator, asked);
    }
    return out;
  }

  /**
   * A refresh's `resource` (or `audience`) that oidc-provider will refuse, refused here first.
   * It resolves the resource only after it has consumed the presented refresh token (rotation),
   * so a request naming an API the token was not issued for (auth0-spa-js sends its audience
   * with every refresh) used the token up, and the retry, seen as a reuse, revoked the whole
   * grant. Same outcome as oidc-provider's own check (invalid_target), before anything is spent.
   */
  async function refusedTarget(ctx: KoaContextWithOIDC): Promise<void> {
    if ((ctx.oidc as unknown as Record<symbol, unknown>)[AUDIENCE_REPEATED]) throw audienceRepeated();
    const r = (ctx.oidc.params as Record<string, unknown> | undefined)?.resource;
    const token = (ctx.oidc.entities as { RefreshToken?: { resource?: unknown; resourceIndicators?: Set<unknown> } }).RefreshToken;
    const named = r !== undefined && r !== null && r !== '';
    if (named && !token?.resourceIndicators?.has(r)) throw new errors.InvalidTarget();
    // The API the refresh is for: the one named, else the token's own, which must be one and must still exist.
    const targets = (named ? [r] : [token?.resource].flat()).filter((x) => x !== undefined && x !== null && x !== '');
    if (targets.length > 1 || targets.some((x) => typeof x !== 'string')) throw new errors.InvalidTarget('only a single resource indicator value must be requested/resolved during Access Token Request');
    for (const id of (targets as string[]).map(apiIdentifier)) if (!(await resourceServers.byIdentifier(id))) throw new errors.InvalidTarget(`no API with identifier ${id}`);
    // Users' own Management API tokens turned off since the login: refused before the token is spent.
    if (!config.managementApi.currentUserTokens && (targets as string[]).includes(urls.managementAudience)) {
      throw new errors.InvalidTarget('the Management API issues tokens to users only when managementApi.currentUserTokens is on');
    }
  }

  /**
   * `organization=` (an id, or a name as Auth0 takes it): allowed as the application says
   * (Auth0's organization_usage: deny, allow, require), and known; kept as the organization's id
   * for the rest of the authorization (and for post-login's event.organization).
   */
  async function organizationParam(ctx: KoaContextWithOIDC, value: unknown, client: unknown) {
    const usage = (client as Record<string, unknown> | undefined)?.['urn:gatehouse:organization_usage'] ?? 'deny';
    if (value === undefined || value === null || value === '') {
      // An application that lets the user say which (Auth0's organization prompts) may leave it
      // out of a browser's authorization: the 'organization' prompt asks (routes.ts). A device
      // has no such step here.
      if (usage === 'require' && (ctx.oidc.route === 'device_authorization' || organizationPrompt(client) === undefined)) {
        throw new errors.InvalidRequest('this application signs users in to an organization: the organization parameter is required');
      }
      return;
    }
    if (typeof value !== 'string') throw new errors.InvalidRequest("'organization' parameter must be a string");
    if (usage === 'deny') throw new errors.InvalidRequest('this application does not take organization logins (its organization_usage is deny)');
    const org = await findOrganization(value);
    if (!org) throw new errors.InvalidRequest('no organization found by that id or name');
    (ctx.oidc.params as Record<string, unknown>).organization = org.id;
  }
  /** An organization as `organization=` names it: an id, else a name (a name may itself begin with org_). */
  async function findOrganization(value: string) {
    return (value.startsWith('org_') ? await d.organizations.get(value) : undefined) ?? await d.organizations.byName(value);
  }
  async function requireMembership(org: unknown, accountId: string | undefined) {
    if (typeof org === 'string' && org && accountId && !(await d.organizations.isMember(org, accountId))) {
      throw new errors.AccessDenied('the user is not a member of the organization');
    }
  }
  /** The organization the token being issued belongs to: its code's, device code's or refresh token's. */
  function organizationOf(ctx: KoaContextWithOIDC): string | undefined {
    const e = ctx.oidc.entities as Record<string, { ghOrg?: unknown } | undefined>;
    const org = (e.AuthorizationCode ?? e.DeviceCode ?? e.RefreshToken)?.ghOrg;
    return typeof org === 'string' ? org : undefined;
  }

  // Auth0 runs post-login on every authorization, also when an existing session answers it:
  // a prompt after `login` makes that happen (interactively, or inline for prompt=none).
  const policy = interactionPolicy.base();
  // A redirect to the user's own device (a localhost callback) can be taken by any program there:
  // consent is asked every time, first party or not, as oidc-provider does for native clients and
  // Auth0 for localhost. Without it, another local program could get the signed-in user's code
  // with prompt=none (consent_required then).
  policy.get('consent')!.checks.splice(1, 0, new interactionPolicy.Check('loopback_redirect', 'a redirect to this device can be claimed by any program on it', 'consent_required',
    (ctx: KoaContextWithOIDC) => (redirectsToThisDevice(ctx.oidc.params?.redirect_uri) && ctx.oidc.params?.response_type !== 'none' && !ctx.oidc.result?.consent
      ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT)));
  // A session whose account can no longer sign in (blocked or deleted since) is asked to log in
  // again, as one without an account: oidc-provider would otherwise go on to its consent check
  // with no grant loaded and fail with a server error.
  policy.get('login')!.checks.splice(1, 0, new interactionPolicy.Check('account_unavailable', 'the account of this session can no longer sign in', 'login_required',
    (ctx: KoaContextWithOIDC) => (ctx.oidc.session?.accountId && !ctx.oidc.account ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT)));
  policy.add(new interactionPolicy.Prompt({ name: 'actions', requestable: false },
    new interactionPolicy.Check('post_login_actions', 'post-login actions or a second factor must run for this authorization',
      async (ctx: KoaContextWithOIDC) => (d.hooks?.postLoginPending ? withOAuthErrors(() => d.hooks!.postLoginPending!(ctx)) : false))), 1);
  // An organization the user names (organizationPrompt): its name before the login ('pre'), or a
  // pick among theirs once the login is settled ('post': a session that answers, or a login asked
  // for again; a login with a password picks it within the login step, before its second factor
  // and actions: src/interactions/organization-step.ts). An application that requires one reaches
  // these without one only through its prompts (the authorization request is refused otherwise),
  // or when it changed its setting since: the first prompt then refuses the login rather than
  // letting it through without an organization.
  const organizationCheck = (afterLogin: boolean) => new interactionPolicy.Check('organization_required', 'the user must say which organization to sign in to', 'interaction_required',
    (ctx: KoaContextWithOIDC) => organizationRequired(ctx.oidc.client) && !ctx.oidc.params?.organization && (organizationPrompt(ctx.oidc.client) === 'post') === afterLogin);
  policy.add(new interactionPolicy.Prompt({ name: 'organization', requestable: false }, organizationCheck(true)), 1);
  policy.add(new interactionPolicy.Prompt({ name: 'organization', requestable: false }, organizationCheck(false)), 0);

  // The same host matching as the actions' fetch and log streams (one schema for the three lists).
  const backchannelAllow = parseFetchAllow(config.backchannelLogout.allowHosts);
  const Adapter = createAdapterFactory(d.db, clients, d.hooks?.sessionsMayBeRevoked, t.sessionMaxTtl);
  const configuration: Configuration = {
    adapter: Adapter as unknown as Configuration['adapter'],
    clients: [],
    findAccount: findAccount as Configuration['findAccount'],
    jwks: { keys: d.jwks as never },
    cookies: {
      // keygrip's interface and signatures, without its per-check double HMAC (cookie-signer.ts).
      keys: cookieSigner(d.cookieKeys) as unknown as string[],
      long: { ...COOKIE_OPTIONS },
      short: { ...COOKIE_OPTIONS },
    },
    claims: {
      // null: always available when set (oidc-provider's defaults, plus amr for MFA logins)
      acr: null, amr: null, auth_time: null, sid: null, iss: null,
      // The organization an authorization signed in to (Auth0's org_id): whenever there is one.
      org_id: null,
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'nickname', 'given_name', 'family_name', 'picture', 'updated_at'],
    },
    scopes: [...OPENID_SCOPES],
    conformIdTokenClaims: false,
    // Auth0's value for a multi-factor login; set on the login result only after MFA ran.
    acrValues: ['http://schemas.openid.net/pape/policies/2007/06/multi-factor'],
    responseTypes: ['code'],
    routes: ROUTES,
    // QUERY_PARAM: the authorization request's unknown parameters, for post-login's event.request.query (set by its validator, never the client's).
    // (QUERY_PARAM's validator runs on every authorization request, after its redirect_uri was checked.)
    extraParams: { audience: null, organization: organizationParam, [QUERY_PARAM]: (ctx) => { webMessageOriginAllowed(ctx); carryUnknownParams(ctx); } },
    extraClientMetadata: { properties: ['urn:gatehouse:web_origins', 'urn:gatehouse:first_party', 'urn:gatehouse:app_type', 'urn:gatehouse:metadata', 'urn:gatehouse:system', 'urn:gatehouse:backchannel_initiators', 'urn:gatehouse:organization_usage', 'urn:gatehouse:organization_require_behavior'] },
    // Outgoing requests (back-channel logout tokens): oidc-provider's SSRF guard refuses special-use
    // addresses; the hosts backchannelLogout.allowHosts names are reached wherever they resolve.
    fetch(url, options) {
      const u = new URL(url);
      if (isAllowedHost(backchannelAllow, u)) {
        const { dispatcher: _guarded, ...rest } = options as RequestInit & { dispatcher?: unknown };
        return fetch(u, rest);
      }
      return fetch(u, options);
    },
    clientBasedCORS(_ctx, origin, client) {
      const origins = (client as unknown as Record<string, unknown>)['urn:gatehouse:web_origins'];
      return Array.isArray(origins) && origins.some((o) => String(o).replace(/\/$/, '') === origin);
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // A client may introspect or revoke only what was issued to it. oidc-provider's default
      // lets any confidential client introspect every token (its sub, scope, client): here
      // APIs verify JWT access tokens against the JWKS, so no client needs to see another's.
      introspection: {
        enabled: true,
        async allowedPolicy(_ctx, client, token) { return token.clientId === client.clientId; },
      },
      revocation: {
        enabled: true,
        async allowedPolicy(_ctx, client, token) { return token.clientId === client.clientId; },
      },
      userinfo: { enabled: true },
      // OpenID Connect Back-Channel Logout 1.0: applications with a back-channel URL (Auth0's
      // oidc_logout) get a logout token when a logout here ends their session; the other ends
      // (src/oidc/backchannel.ts) notify them too.
      backchannelLogout: { enabled: true },
      // The device authorization grant (RFC 8628), for native clients that list it in their
      // grant_types: Auth0's user codes (eight letters of a 20-letter alphabet without vowels,
      // XXXX-XXXX) and our own pages for entering and confirming them.
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        async userCodeInputSource(ctx, _form, out, err) {
          const e = err as (Error & { userCode?: string; cause?: { error_description?: string } }) | undefined;
          let error: string | undefined;
          switch (e?.name) {
            case undefined: break;
            case 'NotFoundError': error = 'That code is not valid. Check the code your device shows and try again.'; ctx.status = 400; break;
            case 'ExpiredError': error = 'That code has expired. Start again on your device to get a new one.'; ctx.status = 400; break;
            // (Also a code confirmed in a browser whose sign-in was left unfinished: oidc-provider holds it from the confirmation on.)
            case 'AlreadyUsedError': error = 'That code was already entered in a browser. Finish signing in there, or start again on your device.'; ctx.status = 400; break;
            case 'TooManyUserCodesError':
              error = 'Too many wrong codes were entered from your network. Try again later.';
              ctx.status = 429;
              ctx.set('Retry-After', String((e as unknown as { retryAfterSeconds: number }).retryAfterSeconds));
              break;
            case 'NoCodeError': error = 'Enter the code your device shows.'; ctx.status = 400; break;
            case 'AbortedError': {
              // A refusal (a post-login action's deny) says why, as the device is told; a cancel says so.
              const why = e.cause?.error_description;
              error = why && why !== 'End-User aborted interaction' ? `The sign-in was refused: ${why}` : 'The sign-in was cancelled. Your device was told; start again there if you want to.';
              break;
            }
            default:
              // oidc-provider's xsrf check: the page was opened again since (another tab), or the form is old.
              error = /xsrf|form details/.test(String(out?.error_description)) ? 'This form has expired (the page was opened again since, perhaps in another tab). Enter the code again.'
                : out?.error_description ? String(out.error_description) : 'The request could not be completed.';
          }
          ctx.type = 'html';
          ctx.body = userCodePage({
            appName: config.appName, assetsBase: urls.mountPath, action: ctx.oidc.urlFor('code_verification'), xsrf: sessionXsrf(ctx),
            code: e?.name === 'NotFoundError' ? e.userCode : undefined, error,
          });
        },
        async userCodeConfirmSource(ctx, _form, client, _deviceInfo, userCode) {
          ctx.type = 'html';
          ctx.body = confirmDevicePage({
            appName: config.appName, assetsBase: urls.mountPath, action: ctx.oidc.urlFor('code_verification'), xsrf: sessionXsrf(ctx),
            clientName: client.clientName ?? client.clientId, userCode,
          });
        },
        async successSource(ctx) {
          const name = ctx.oidc.client?.clientName;
          ctx.type = 'html';
          ctx.body = messagePage({ appName: config.appName, assetsBase: urls.mountPath, title: 'Device connected', message: `You are signed in on your device${name ? ` to ${name}` : ''}. You can close this page.` });
        },
      },
      // `response_mode=web_message`: how auth0-spa-js (and Auth0's React, Vue and Angular SDKs on
      // it) renews tokens in a hidden iframe with prompt=none, and answers `loginWithPopup`. The
      // answer page posts the code to the redirect_uri's origin only (a registered callback);
      // oidc-provider lifts frame-ancestors for that page alone, every other page stays unframable.
      webMessageResponseMode: { enabled: true, ack: 'individual-draft-01' },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          const clientName = (ctx.oidc.client as { clientName?: string } | undefined)?.clientName;
          ctx.type = 'html';
          ctx.body = logoutPage({ appName: config.appName, assetsBase: urls.mountPath, form, clientName });
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = messagePage({ appName: config.appName, assetsBase: urls.mountPath, title: 'Signed out', message: 'You have been signed out.' });
        },
      },
      resourceIndicators: {
        enabled: true,
        async defaultResource(ctx, _client, oneOf) {
          if (oneOf) return oneOf;
          if ((ctx.oidc as unknown as Record<symbol, unknown>)[AUDIENCE_REPEATED]) throw audienceRepeated();
          const params = ctx.oidc.params as Record<string, unknown> | undefined;
          const aud = params?.audience;
          if (typeof aud === 'string' && aud) return apiIndicator(aud);
          // client_credentials for no API would be an opaque token nothing accepts (Auth0 refuses it alike).
          if (ctx.oidc.route === 'token' && params?.grant_type === 'client_credentials') {
            throw new errors.AccessDenied('No audience parameter was provided, and no default audience has been configured');
          }
          return undefined;
        },
        useGrantedResource: async () => true,
        // Not async: with the API and the client grant in their caches (every token request asks)
        // the answer is a value, built once per (API, grant) and frozen; a cache miss returns a promise.
        getResourceServerInfo(ctx, resource, client) {
          // The API's identifier (a non-URI one arrives as its URN: apiIndicator).
          const indicator = apiIdentifier(resource);
          const oidc = ctx.oidc as unknown as Record<symbol, unknown>;
          if (oidc[AUDIENCE_REPEATED]) throw audienceRepeated();
          const params = ctx.oidc.params as Record<string, unknown> | undefined;
          // One API per authorization, as Auth0's one audience: oidc-provider grants every
          // `resource` sent to /authorize, and post-login judges the one the login is for; with
          // several, a token could later be asked for one the actions never saw.
          if (Array.isArray(params?.resource) && new Set(params.resource).size > 1) {
            throw new errors.InvalidTarget('only one API (resource or audience) may be requested per authorization');
          }
          const clientCredentials = ctx.oidc.route === 'token' && params?.grant_type === 'client_credentials';
          const withApi = (rs: ResourceServer | undefined) => {
            if (!rs) throw new errors.InvalidTarget(`no API with identifier ${indicator}`);
            // Management API scopes come only from client grants: a user signing in to some app
            // must never be able to ask for `delete:users` on /api/v2/. A user's token gets the
            // current-user scopes only (Auth0's tokens for single-page apps), which reach that
            // user's own record (src/management-api/auth.ts checks again).
            if (indicator === urls.managementAudience && !clientCredentials) {
              if (!config.managementApi.currentUserTokens) {
                throw new errors.InvalidTarget('the Management API issues tokens to users only when managementApi.currentUserTokens is on (GATEHOUSE_CURRENT_USER_TOKENS=true)');
              }
              return infoFor(rs, undefined, true);
            }
            if (!clientCredentials) return rs.enforce_policies ? permittedInfo(ctx, rs) : infoFor(rs, undefined);
            const withGrant = (grant: ClientGrant | undefined) => {
              if (!grant) {
                throw new errors.AccessDenied(`Client is not authorized to access "${indicator}". You need to create a "client-grant" associated to this API.`);
              }
              // No scope asked for: every scope the grant allows, as Auth0 does (see auth0TokenParams).
              if (params?.scope === undefined) oidc[GRANT_SCOPES] = grant.scope;
              // Scopes asked for of which the grant allows none: refused, not a token without any
              // scope (which oidc-provider issues, leaving `scope` out of the answer). Some of them
              // allowed: those are issued, and the answer's `scope` says which.
              else if (typeof params.scope === 'string') {
                const asked = params.scope.split(' ').filter(Boolean);
                if (asked.length > 0 && !asked.some((x) => grant.scope.includes(x))) {
                  throw new errors.AccessDenied(`Client has not been granted scopes: ${asked.join(' ').slice(0, 500)}`);
                }
              }
              return infoFor(rs, grant);
            };
            const grant = resourceServers.grants.find(client.clientId, indicator);
            return grant instanceof Promise ? grant.then(withGrant) : withGrant(grant);
          };
          const rs = resourceServers.byIdentifier(indicator);
          return rs instanceof Promise ? rs.then(withApi) : withApi(rs);
        },
      },
    },
    // What the Management API can register (src/management-api/clients.ts): discovery advertises
    // only these, and a JWT client assertion is refused as unknown rather than checked.
    // private_key_jwt: RFC 7523 client assertions signed with a key the application registered
    // (src/clients/credentials.ts), as Auth0's Private Key JWT; its algorithms are Auth0's.
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    // A client assertion lives at most 5 minutes (Auth0's limit): one captured before use must not
    // stay valid for years, nor keep its replay record as long.
    async assertJwtClientAuthClaimsAndHeader(_ctx, claims) {
      const { exp, iat } = claims as { exp?: unknown; iat?: unknown };
      const now = Math.floor(Date.now() / 1000);
      if (typeof exp !== 'number' || !Number.isFinite(exp) || exp > now + ASSERTION_MAX_AGE + CLOCK_TOLERANCE) {
        throw new errors.InvalidClientAuth(`the client assertion must expire within ${ASSERTION_MAX_AGE} seconds`);
      }
      if (typeof iat === 'number' && exp - iat > ASSERTION_MAX_AGE) throw new errors.InvalidClientAuth(`the client assertion may live at most ${ASSERTION_MAX_AGE} seconds (exp - iat)`);
    },
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    // Always rotate; the checks and the hook run first, while the presented refresh token is still unused.
    async rotateRefreshToken(ctx) {
      await refusedTarget(ctx);
      const e = ctx.oidc.entities as { RefreshToken?: { accountId?: string; resource?: unknown }; Grant?: unknown };
      const accountId = e.RefreshToken?.accountId;
      const org = (e.RefreshToken as { ghOrg?: unknown } | undefined)?.ghOrg;
      if (accountId && e.RefreshToken) await permitAtRefresh(e.Grant, e.RefreshToken, (rs) => d.permissions.effective(accountId, rs.identifier, typeof org === 'string' ? org : undefined));
      // A member taken out of the organization the token was issued for: its refresh ends there, before the token is spent.
      if (typeof org === 'string' && accountId && !(await d.organizations.isMember(org, accountId))) throw new errors.InvalidGrant('the user is no longer a member of the organization');
      // ...nor once the application stopped taking organization logins (organization_usage deny).
      if (typeof org === 'string' && (ctx.oidc.client as unknown as Record<string, unknown> | undefined)?.['urn:gatehouse:organization_usage'] === 'deny') {
        throw new errors.InvalidGrant('the application no longer takes organization logins');
      }
      await withOAuthErrors(() => d.hooks?.beforeRefresh?.(ctx));
      return true;
    },
    async issueRefreshToken(_ctx, client, code) {
      return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
    },
    async loadExistingGrant(ctx) {
      webMessageOriginAllowed(ctx);
      const client = ctx.oidc.client!;
      // Signing in to an organization takes being one of its members (checked whenever a session answers, a new sign-in included).
      await requireMembership(ctx.oidc.params?.organization, ctx.oidc.session?.accountId);
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(client.clientId);
      const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (existing) markLoaded(existing);
      // A new sign-in renews the grant's lifetime, which is where the refresh tokens issued under
      // it end: those of this login live their own time, not what is left of the first sign-in's.
      const signIn = (ctx.oidc.result as { gatehouse?: { signIn?: unknown } } | undefined)?.gatehouse?.signIn === true;
      if (existing && signIn) (existing as unknown as { exp?: number }).exp = undefined;
      const answered = ctx.oidc.resourceServers ?? {};
      const trimmed = existing ? await trimToPermissions(existing, (indicator) => String((answered[indicator] as { scope?: string } | undefined)?.scope ?? '').split(' '), Object.keys(answered)) : false;
      if (!firstParty(client as never)) {
        if (existing && d.hooks?.adjustGrant) await d.hooks.adjustGrant(ctx, existing);
        if (existing && (signIn || trimmed || d.hooks?.adjustGrant)) await existing.save();
        return existing;
      }
      // First-party applications get the requested scopes without a consent screen (Auth0 does the same).
      const grant = existing ?? new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: ctx.oidc.session!.accountId! });
      const requested = [...ctx.oidc.requestParamScopes];
      grant.addOIDCScope(requested.filter((s) => OPENID_SCOPE_SET.has(s)).join(' '));
      for (const [indicator, rs] of Object.entries(ctx.oidc.resourceServers ?? {})) {
        const allowed = new Set((rs as { scope?: string }).scope?.split(' ') ?? []);
        grant.addResourceScope(indicator, requested.filter((s) => allowed.has(s)).join(' '));
      }
      await d.hooks?.adjustGrant?.(ctx, grant);
      await grant.save();
      return grant;
    },
    interactions: {
      policy,
      url: (_ctx, interaction) => `${urls.mountPath}/interaction/${interaction.uid}`,
    },
    // Not async: with nothing to add the hook answers at once (oidc-provider awaits either way).
    extraTokenClaims(ctx, token) {
      const claims = withOAuthErrors(() => d.hooks?.extraTokenClaims?.(ctx, token)) as Promise<Record<string, unknown> | undefined>;
      const org = (token as { kind?: string }).kind === 'AccessToken' ? organizationOf(ctx) : undefined;
      const perms = permissionsClaim(token, org);
      if (!perms && !org) return claims;
      // A code (or device code) redeemed after its user left the organization: no tokens for it (a refresh is checked before it rotates).
      const t = token as { accountId?: string };
      const gt = (ctx.oidc.params as Record<string, unknown> | undefined)?.grant_type;
      if (org && t.accountId && gt !== 'refresh_token') {
        return d.organizations.isMember(org, t.accountId).then((member) => {
          if (!member) throw new errors.InvalidGrant('the user is no longer a member of the organization');
          return Promise.all([claims, perms]).then(([c, p]) => ({ ...c, ...(p ? { permissions: p } : {}), org_id: org }));
        });
      }
      // org_id after an action's claims: the organization is the sign-in's, not an action's to change.
      return Promise.all([claims, perms]).then(([c, p]) => ({ ...c, ...(p ? { permissions: p } : {}), ...(org ? { org_id: org } : {}) }));
    },
    async renderError(ctx, out, error) {
      ctx.type = 'html';
      // A sign-in that can no longer resume (expired, ended by a password change or a block, or
      // opened in another browser): oidc-provider's own words name its internals.
      const message = (error as { name?: string } | undefined)?.name === 'SessionNotFound'
        ? 'This sign-in has expired or was ended. Go back to the application and sign in again.'
        : out.error_description ? `${out.error_description}` : 'The request could not be completed.';
      ctx.body = messagePage({
        appName: config.appName, assetsBase: urls.mountPath, title: 'Something went wrong', message, error: true,
        extra: html`<p class="sub mono">${out.error}</p>`,
      });
    },
    ttl: {
      AccessToken: (_ctx, token) => (token as { resourceServer?: { accessTokenTTL?: number } }).resourceServer?.accessTokenTTL ?? t.accessTokenTtl,
      ClientCredentials: (_ctx, token) => (token as { resourceServer?: { accessTokenTTL?: number } }).resourceServer?.accessTokenTTL ?? t.accessTokenTtl,
      // A code carries what its login's post-login asked for the refresh token it will issue (lifetimes.ts).
      AuthorizationCode: (ctx, code) => {
        const l = ctx ? d.hooks?.codeRefreshLifetime?.(ctx) : undefined;
        if (l) (code as { ghRefreshLifetime?: RefreshTokenRequest }).ghRefreshLifetime = l;
        // (And the organization its authorization signed in to: its tokens carry org_id.)
        const org = ctx?.oidc?.params?.organization;
        if (typeof org === 'string' && org) (code as { ghOrg?: string }).ghOrg = org;
        // (And the API scopes it issues, which bound its refresh tokens: permitAtRefresh.)
        const c = code as { resource?: unknown; scopes?: Set<string>; ghApiScopes?: Record<string, string> };
        const issued = ctx && c.resource !== undefined && c.scopes ? issuedApiScopes(ctx.oidc.grant, c.resource, c.scopes) : undefined;
        if (issued) c.ghApiScopes = issued;
        return t.codeTtl;
      },
      IdToken: t.idTokenTtl,
      // See lifetimes.ts: the configured limits and what post-login asked for.
      RefreshToken: (ctx, token) => {
        const e = ctx?.oidc?.entities as { RotatedRefreshToken?: never; Grant?: { exp?: number }; AuthorizationCode?: { ghRefreshLifetime?: RefreshTokenRequest }; DeviceCode?: { ghRefreshLifetime?: RefreshTokenRequest } } | undefined;
        // (Computed once, as the token is saved: also where its device is recorded, token-device.ts.)
        if (ctx) stampDevice(token as never, e?.RotatedRefreshToken, ctx.ip, ctx.get('user-agent'));
        // What post-login asked for it: this refresh's chain, or the login whose code is exchanged (the code carries it).
        const asked = ctx ? d.hooks?.refreshTokenLifetime?.(ctx) ?? (e?.AuthorizationCode ?? e?.DeviceCode)?.ghRefreshLifetime : undefined;
        // Its family and metadata (token-family.ts): passed on from the token it was rotated from
        // (its metadata as stored when it was consumed: a PATCH meanwhile is kept), changed as asked.
        if (ctx) {
          // The organization of the code or device code it comes from, or of the token it rotates.
          const src = (e?.AuthorizationCode ?? (e as { DeviceCode?: unknown } | undefined)?.DeviceCode ?? e?.RotatedRefreshToken) as { ghOrg?: unknown; ghApiScopes?: unknown } | undefined;
          if (typeof src?.ghOrg === 'string') (token as { ghOrg?: string }).ghOrg = src.ghOrg;
          if (src?.ghApiScopes !== null && typeof src?.ghApiScopes === 'object') (token as { ghApiScopes?: unknown }).ghApiScopes = src.ghApiScopes;
          const rotated = e?.RotatedRefreshToken as { jti?: string; ghMetadata?: unknown } | undefined;
          const stored = rotated?.jti ? Adapter.takeConsumed(rotated.jti) : undefined;
          stampFamily(token as never, rotated && stored ? { ...rotated, ghMetadata: stored.ghMetadata } : rotated, asked?.metadata);
        }
        return refreshTokenTtl(token as never, e?.RotatedRefreshToken, t.refreshTokenTtl, asked, e?.Grant?.exp);
      },
      Session: (_ctx, session) => sessionTtl(session as never, { idle: t.sessionTtl, max: t.sessionMaxTtl }, (session as { ghIdleAt?: number }).ghIdleAt),
      Interaction: t.interactionTtl,
      Grant: t.refreshTokenTtl,
      DeviceCode: config.deviceFlow.codeTtl,
    },
    enabledJWA: { idTokenSigningAlgValues: ['ES256', 'RS256'], userinfoSigningAlgValues: ['ES256', 'RS256'], clientAuthSigningAlgValues: ['RS256', 'RS384', 'PS256'] } as Configuration['enabledJWA'],
  };

  const provider = new Provider(config.issuer, configuration);
  // The same proxy rule as the app's (src/app.ts): only the trusted hops of X-Forwarded-For count.
  provider.proxy = proxyHops(config.http.trustProxy) > 0;
  provider.maxIpsCount = proxyHops(config.http.trustProxy);
  const ClaimsModel = (provider as unknown as { Claims: { prototype: { result(): Promise<Record<string, unknown>>; available: Record<PropertyKey, unknown> } } }).Claims;
  const standardResult = ClaimsModel.prototype.result;
  ClaimsModel.prototype.result = async function resultWithActionClaims(this: { available: Record<PropertyKey, unknown> }) {
    const claims = await standardResult.call(this);
    // amr/acr/auth_time describe how this login happened (pwd, otp): ID tokens carry them
    // whenever the login set them, as Auth0's do, not only when a claims request asks.
    // org_id likewise: the organization the sign-in was to (findAccount puts it in for ID tokens).
    for (const k of ['amr', 'acr', 'auth_time', 'org_id']) if (claims[k] === undefined && this.available[k] !== undefined) claims[k] = this.available[k];
    const custom = this.available[CUSTOM_CLAIMS] as Record<string, unknown> | undefined;
    if (!custom) return claims;
    // A profile claim comes from the profile only, never from a stored custom claim (one kept
    // from before actions were refused them would otherwise fill in where the scope left it out).
    return { ...Object.fromEntries(Object.entries(custom).filter(([k]) => !PROFILE_CLAIMS.has(k))), ...claims };
  };

  auth0TokenParams(provider);
  issuerAudienceEitherWay(provider);
  // A jti (client assertion, DPoP proof) is recorded with one conditional insert: a lookup then a
  // save let concurrent requests with one assertion all through.
  (provider.ReplayDetection as unknown as { unique(iss: string, jti: string, exp: number): Promise<boolean> }).unique = async function uniqueJti(iss, jti, exp) {
    const id = createHash('sha256').update(`${iss}${jti}`).digest('base64url');
    return insertOnce(d.db, 'ReplayDetection', id, { jti: id, iss, exp, kind: 'ReplayDetection' }, exp * 1000);
  };

  // The ends actions set (lifetimes.ts) are kept with the session and the refresh token: their
  // models store only the members they list, so these join the lists.
  for (const [model, extra] of [[provider.Session, 'ghLifetime'], [provider.RefreshToken, 'ghExpiresAt'], [provider.RefreshToken, 'ghDevice'], [provider.RefreshToken, 'ghFamily'], [provider.RefreshToken, 'ghMetadata'], [provider.AuthorizationCode, 'ghRefreshLifetime'], [provider.DeviceCode, 'ghRefreshLifetime'], [provider.AuthorizationCode, 'ghOrg'], [provider.DeviceCode, 'ghOrg'], [provider.RefreshToken, 'ghOrg'], [provider.AuthorizationCode, 'ghApiScopes'], [provider.DeviceCode, 'ghApiScopes'], [provider.RefreshToken, 'ghApiScopes'], [provider.Grant, GRANT_LOADED_MEMBER]] as const) {
    const members = [...(model as unknown as { IN_PAYLOAD: string[] }).IN_PAYLOAD, extra];
    Object.defineProperty(model, 'IN_PAYLOAD', { configurable: true, get: () => members });
  }

  // A device code is made when the device asks and gets its login where the user confirms it
  // (the device_resume route): what that login's post-login asked for the refresh token goes on
  // it then, as ttl.AuthorizationCode puts it on a code.
  const DeviceCodeProto = provider.DeviceCode.prototype as unknown as { save(...args: unknown[]): Promise<unknown>; ghRefreshLifetime?: RefreshTokenRequest };
  const saveDeviceCode = DeviceCodeProto.save;
  DeviceCodeProto.save = function saveDeviceCodeWithLifetime(this: typeof DeviceCodeProto, ...args: unknown[]) {
    const ctx = (Provider as unknown as { ctx?: KoaContextWithOIDC }).ctx;
    if (ctx?.oidc?.route === 'device_resume' && this.ghRefreshLifetime === undefined) {
      const l = d.hooks?.codeRefreshLifetime?.(ctx);
      if (l) this.ghRefreshLifetime = l;
    }
    const org = ctx?.oidc?.route === 'device_resume' ? ctx.oidc.params?.organization : undefined;
    if (typeof org === 'string' && org) (this as { ghOrg?: string }).ghOrg = org;
    const dc = this as { resource?: unknown; scopes?: Set<string>; ghApiScopes?: Record<string, string> };
    const issued = ctx?.oidc?.route === 'device_resume' && dc.resource !== undefined && dc.scopes ? issuedApiScopes(ctx.oidc.grant, dc.resource, dc.scopes) : undefined;
    if (issued) dc.ghApiScopes = issued;
    return saveDeviceCode.apply(this, args);
  };

  // oidc-provider finds a stored client by hashing its whole metadata (JSON.stringify + SHA-256)
  // on every request, to reuse the Client built from it. clients.findClientMetadata already
  // answers with the same object while its cache entry lives (and a new one after any change),
  // so the Client built for that object is reused directly: one hash per cache refresh, not
  // per token request (it was about 2% of a client_credentials request's CPU).
  const ClientModel = provider.Client as unknown as { find(id: string): Promise<unknown> };
  const findClient = ClientModel.find.bind(ClientModel);
  const built = new Map<string, { meta: object; client: unknown }>();
  const buildClient = async (id: string, meta: object) => {
    const client = await findClient(id);
    if (client) built.set(id, { meta, client });
    if (built.size > 10_000) built.delete(built.keys().next().value!);
    return client;
  };
  ClientModel.find = function findCachedClient(id: string) {
    if (typeof id !== 'string' || !id.length || id.includes('\u0000')) return Promise.resolve(undefined);
    const found = clients.findClientMetadata(id);
    const pick = (meta: Record<string, unknown> | undefined) => {
      if (!meta) { built.delete(id); return undefined; }
      const hit = built.get(id);
      return hit?.meta === meta ? hit.client : buildClient(id, meta);
    };
    return found instanceof Promise ? found.then(pick) : Promise.resolve(pick(found));
  };

  provider.on('grant.error', (ctx: KoaContextWithOIDC, err: { error?: string; error_description?: string; error_detail?: string; message?: string }) => {
    const gt = (ctx.oidc?.params as Record<string, unknown> | undefined)?.grant_type;
    // A device polling while its user has not answered yet is the protocol working, not a failure.
    if (err.error === 'authorization_pending' || err.error === 'slow_down') return;
    void d.audit.record({
      type: gt === 'client_credentials' ? 'feccft' : gt === 'refresh_token' ? 'fertft' : gt === DEVICE_CODE_GRANT ? 'fede' : 'feacft',
      // (error_detail: oidc-provider's reason behind a generic description, such as why a grant was refused.)
      description: `${err.error ?? 'error'}: ${err.error_detail ?? err.error_description ?? err.message ?? ''}`,
      client_id: ctx.oidc?.client?.clientId ?? null, ip: ctx.ip, user_agent: ctx.get('user-agent'),
      details: { grant_type: gt },
    });
  });
  // oidc-provider says when an authorization is answered (not an error); its own middleware
  // around every request then runs the hook before the response is sent.
  const answered = new WeakSet<object>();
  provider.on('authorization.success', (ctx: KoaContextWithOIDC) => {
    answered.add(ctx);
    // The session answered this application: from now on it is told when the session ends
    // (back-channel logout, src/oidc/backchannel.ts). The session is saved after this event.
    const clientId = ctx.oidc.client?.clientId;
    const container = clientId ? (ctx.oidc.session as unknown as { authorizations?: Record<string, Record<string, unknown> | undefined> } | undefined)?.authorizations?.[clientId] : undefined;
    if (container) container[ISSUED] = true;
  });
  // Only the authorization endpoint and its resume answer authorizations: every other request
  // (a token, userinfo, JWKS) passes straight through, without an async frame of its own.
  provider.use(function afterAuthorizationAnswered(ctx, next) {
    // oidc-provider's router takes any case (/AUTHORIZE is /authorize too). The device flow answers
    // its authorization where the user confirmed it: /activate/:uid.
    const path = ctx.path.toLowerCase();
    const authorization = path.startsWith(ROUTES.authorization) || path.startsWith(`${ROUTES.code_verification}/`);
    // (/activate?user_code=… answers with oidc-provider's auto-submitting form: its script hash too.)
    if (!authorization && !path.startsWith(ROUTES.end_session) && path !== ROUTES.code_verification) return next();
    return next().then(async () => {
      onlyTheScriptHash(ctx);
      if (!authorization || !answered.has(ctx)) return;
      try {
        await d.hooks?.authorizationAnswered?.(ctx as KoaContextWithOIDC);
      } catch (err) {
        d.logger.error({ err }, 'could not keep what an answered authorization wrote');
      }
    });
  });
  deviceFlowLimits(provider, d);
  endStaleLogins(provider, (sub) => userOfRequest((Provider as unknown as { ctx?: object }).ctx, sub));
  // A logout that ended the session: what Gatehouse keeps beside it (device, recorded methods, metadata) goes too.
  provider.on('end_session.success', (ctx: KoaContextWithOIDC) => {
    const s = ctx.oidc.session as unknown as { destroyed?: boolean; uid?: string } | undefined;
    if (s?.destroyed && typeof s.uid === 'string') d.hooks?.sessionEnded?.(s.uid)?.catch((err: unknown) => d.logger.error({ err }, 'could not forget an ended session'));
  });
  provider.on('server_error', (_ctx: unknown, err: Error) => d.logger.error({ err }, 'oidc server error'));
  // The provider is a Koa app: errors that reach Koa itself go to the log, not to stderr.
  (provider as unknown as NodeJS.EventEmitter).on('error', logKoaErrors(d.logger, 'oidc request'));
  return provider;
}

/**
 * A login finished in an interaction waits there, as its result, until the browser resumes the
 * authorization (which then signs the session in without asking again). It ends instead when
 * the account changed meanwhile: blocked or deleted, or its password changed after the password
 * this login rests on was checked (`gatehouse.passwordAt`, post-login.ts loginResult). Otherwise
 * someone who had the old password could park logins and finish them after the owner changed it
 * (users.revokeTokens ends sessions and tokens, not results waiting here). oidc-provider finds
 * no interaction then and answers that the login expired.
 */
function endStaleLogins(provider: Provider, userOf: Users['get']): void {
  const Interaction = provider.Interaction as unknown as { find(uid: string, ...rest: unknown[]): Promise<StoredInteraction | undefined> };
  const find = Interaction.find.bind(Interaction);
  Interaction.find = async function findLiveInteraction(uid: string, ...rest: unknown[]) {
    const i = await find(uid, ...rest);
    const accountId = i?.result?.login?.accountId;
    if (!i || typeof accountId !== 'string') return i;
    const u = await userOf(accountId);
    const at = i.result?.gatehouse?.passwordAt;
    // (In the same millisecond: which came first is unknown, so the login does not stand.)
    const changed = typeof at === 'number' && typeof u?.last_password_reset === 'string' && Date.parse(u.last_password_reset) >= at;
    if (u && !u.blocked && !changed) return i;
    await i.destroy();
    return undefined;
  };
}
type StoredInteraction = { result?: { login?: { accountId?: unknown }; gatehouse?: { passwordAt?: unknown } }; destroy(): Promise<void> };

/** The device flow's form value oidc-provider checks (its session-bound xsrf secret). */
function sessionXsrf(ctx: KoaContextWithOIDC): string {
  return String((ctx.oidc.session as unknown as { state?: { secret?: unknown } } | undefined)?.state?.secret ?? '');
}

/**
 * What RFC 8628 leaves to the server, done as Auth0 does it:
 * - user codes are short (about 34 bits), so wrong ones are counted per client address and hour
 *   (`deviceFlow.userCodeFailuresPerIpPerHour`). Counted where a user code is looked up on the
 *   verification page (its entry, confirm and cancel all look it up), whatever spelling of the
 *   path oidc-provider's router took: each lookup is counted before it runs (a burst in parallel
 *   cannot slip past the limit) and given back once its code turned out to exist, so only wrong
 *   codes are held against the address;
 * - the device is told how often to poll (`interval`), and a pending device code polled again
 *   sooner gets `slow_down` (§3.5). The last poll of each code is kept in this process: behind a
 *   load balancer each node enforces it for the polls it sees.
 */
function deviceFlowLimits(provider: Provider, d: ProviderDeps): void {
  const { interval, codeTtl } = d.config.deviceFlow;
  const currentCtx = () => (Provider as unknown as { ctx?: KoaContextWithOIDC }).ctx;
  // Not async: every other request (a token, most of all) passes straight through, without a frame of its own.
  provider.use(function devicePages(ctx, next) {
    // oidc-provider's router takes any case and a trailing slash: /ACTIVATE/ is /activate too.
    const path = ctx.path.toLowerCase();
    if (path !== ROUTES.code_verification && !path.startsWith(`${ROUTES.code_verification}/`)) return next();
    return devicePage(ctx, next);
  });
  async function devicePage(ctx: Parameters<Parameters<Provider['use']>[0]>[0], next: () => Promise<unknown>) {
    // The pages hold the session's xsrf value, and oidc-provider marks only some of its answers uncacheable.
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (err) {
      // oidc-provider renders a refused post (its xsrf check) on the page again, with a new xsrf
      // value in a session it then cannot save when the browser had none stored (no cookie, or
      // a session that ended): its TypeError would be a bare 500. The page says what to do instead.
      if (!(err instanceof TypeError && /previously persisted Sessions/.test(err.message))) throw err;
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = messagePage({
        appName: d.config.appName, assetsBase: d.urls.mountPath, title: 'Activate a device', error: true,
        message: 'This page has expired or was opened in another browser. Open the activation page again and enter the code.',
        extra: html`<p><a href="${ctx.oidc.urlFor('code_verification')}">Open the activation page</a></p>`,
      });
    }
  }
  provider.on('device_authorization.success', (_ctx: unknown, body: Record<string, unknown>) => { body.interval = interval; });

  const DeviceCode = provider.DeviceCode as unknown as {
    find(jti: unknown, opts?: unknown): Promise<{ clientId?: string; accountId?: string; error?: string; isExpired?: boolean } | undefined>;
    findByUserCode(userCode: unknown, opts?: unknown): Promise<unknown>;
  };
  const findByUserCode = DeviceCode.findByUserCode.bind(DeviceCode);
  DeviceCode.findByUserCode = async function findCountedUserCode(userCode, opts) {
    const ctx = currentCtx();
    if (ctx?.oidc?.route !== 'code_verification') return findByUserCode(userCode, opts);
    const ip = ctx.ip, now = Date.now();
    const verdict = await d.requestLimits.hit('user_code', ip, now);
    if (!verdict.allowed) throw tooManyUserCodes(verdict.retryAfterSeconds);
    const code = await findByUserCode(userCode, opts);
    if (code) await d.requestLimits.refund('user_code', ip, now).catch((err: unknown) => d.logger.error({ err }, 'could not count a device code attempt'));
    return code;
  };

  const lastPoll = new Map<string, number>();
  const find = DeviceCode.find.bind(DeviceCode);
  DeviceCode.find = async function findPolledDeviceCode(jti, opts) {
    const code = await find(jti, opts);
    const ctx = currentCtx();
    // Only a pending code's own client's polls: a guess by another client is refused (invalid_grant) as it was.
    if (!code || typeof jti !== 'string' || ctx?.oidc?.route !== 'token' || code.clientId !== ctx.oidc.client?.clientId || code.accountId || code.error || code.isExpired) return code;
    const now = Date.now();
    const last = lastPoll.get(jti);
    lastPoll.delete(jti);
    lastPoll.set(jti, now);
    // Oldest polls first (re-inserted on each poll): drop the ones no pending code can still need.
    for (const [k, at] of lastPoll) { if (at > now - codeTtl * 1000 && lastPoll.size <= 100_000) break; lastPoll.delete(k); }
    // (A little slack for timers: a device that waited the interval after the last answer is never early.)
    if (last !== undefined && now - last < interval * 1000 - 100) throw new errors.SlowDown(`poll at most every ${interval} seconds`);
    return code;
  };
}

/** Past the limit on wrong user codes: the verification page says so (userCodeInputSource), with 429 and Retry-After. */
function tooManyUserCodes(retryAfterSeconds: number): Error {
  return Object.assign(new Error('too_many_attempts'), {
    name: 'TooManyUserCodesError', expose: true, status: 429, statusCode: 429, retryAfterSeconds,
    error_description: 'too many wrong user codes from this address',
  });
}

/**
 * response_mode=web_message posts the answer to the redirect_uri's origin, where any of its pages
 * may be listening, not only the callback: as on Auth0, that origin must be one of the client's
 * web origins. Checked when the request arrives (before any login page) and again when the
 * grant is loaded, which a resume after the login page does too (web_origins may have changed
 * meanwhile). The refusal, invalid_request, is itself posted to that origin: it carries the
 * error, its description, state and iss, and comes before anything that depends on the session.
 */
function webMessageOriginAllowed(ctx: KoaContextWithOIDC): void {
  const params = ctx.oidc.params as Record<string, unknown>;
  const mode = params.response_mode;
  if (typeof mode !== 'string' || !mode.startsWith('web_message')) return;
  const uri = params.redirect_uri;
  const origin = typeof uri === 'string' && URL.canParse(uri) ? new URL(uri).origin : undefined;
  const origins = (ctx.oidc.client as unknown as Record<string, unknown> | undefined)?.['urn:gatehouse:web_origins'];
  if (!origin || !Array.isArray(origins) || !origins.some((o) => String(o).replace(/\/$/, '') === origin)) {
    throw new errors.InvalidRequest('response_mode=web_message needs the redirect_uri\'s origin among the client\'s web origins (web_origins)');
  }
}

/**
 * oidc-provider's pages with one inline script (web_message, form_post, a logout's auto-submit)
 * add its hash to `script-src 'none'` (src/http/koa-security-headers.ts). Browsers then ignore
 * 'none', as CSP3 says, but Chromium logs an error for it in the app's console (the web_message
 * page lives in the app's hidden iframe): the hash alone says the same.
 */
function onlyTheScriptHash(ctx: { response: { get(name: string): unknown }; set(name: string, value: string): void }): void {
  const csp = ctx.response.get('content-security-policy');
  if (typeof csp === 'string' && csp.includes("script-src 'none' 'sha256-")) {
    ctx.set('content-security-policy', csp.replace("script-src 'none' 'sha256-", "script-src 'sha256-"));
  }
}

/**
 * A client assertion's `aud` may name the issuer with or without its trailing slash: Auth0's SDKs
 * send `https://<domain>/` (Auth0's issuer ends in one), and an issuer configured without it is
 * the same server. oidc-provider's other accepted audiences (the token endpoint, the endpoint
 * called) stay.
 */
function issuerAudienceEitherWay(provider: Provider): void {
  const proto = (provider as unknown as { OIDCContext: { prototype: { clientJwtAuthExpectedAudience?(): Set<string> } } }).OIDCContext.prototype;
  const expected = proto.clientJwtAuthExpectedAudience;
  if (typeof expected !== 'function') throw new Error('oidc-provider\'s OIDCContext changed: review issuerAudienceEitherWay');
  proto.clientJwtAuthExpectedAudience = function expectedAudience(this: { issuer: string }) {
    const accepted = expected.call(this);
    accepted.add(this.issuer.endsWith('/') ? this.issuer.slice(0, -1) : `${this.issuer}/`);
    return accepted;
  };
}

/**
 * Auth0's token-request parameters, inside oidc-provider's own parsing of the body (so a form
 * body reaches it untouched, whatever its encoding):
 * - `audience=` is RFC 8707 `resource=` (when both are sent, `resource` wins); sent twice it is
 *   `invalid_request`, raised where the resource is resolved (it used to be dropped silently);
 * - client_credentials without `scope` asks for every scope the client grant allows, as Auth0
 *   does: getResourceServerInfo, which reads the grant before the requested scopes are taken,
 *   leaves them on the context for `requestParamScopes`.
 * Both through OIDCContext, the class oidc-provider exposes for this: `body` (which its body
 * parser assigns) becomes an accessor for the token route, and `requestParamScopes` falls back
 * to the grant's scopes only when the request has no `scope`.
 */
function auth0TokenParams(provider: Provider): void {
  const proto = (provider as unknown as { OIDCContext: { prototype: object } }).OIDCContext.prototype;
  const scopesOf = Object.getOwnPropertyDescriptor(proto, 'requestParamScopes')?.get;
  if (!scopesOf || Object.getOwnPropertyDescriptor(proto, 'body')) throw new Error('oidc-provider\'s OIDCContext changed: review auth0TokenParams');
  type Ctx = Record<symbol, unknown> & { route?: string; params?: Record<string, unknown> };
  Object.defineProperty(proto, 'body', {
    configurable: true,
    get(this: Ctx) { return this[BODY]; },
    set(this: Ctx, body: Record<string, unknown> | undefined) {
      if (this.route === 'token' && body && typeof body === 'object' && body.audience !== undefined) {
        if (Array.isArray(body.audience)) this[AUDIENCE_REPEATED] = true;
        else if (body.resource === undefined) body.resource = typeof body.audience === 'string' ? apiIndicator(body.audience) : body.audience;
        delete body.audience;
      }
      this[BODY] = body;
    },
  });
  Object.defineProperty(proto, 'requestParamScopes', {
    configurable: true,
    get(this: Ctx) {
      const granted = this[GRANT_SCOPES] as string[] | undefined;
      return granted !== undefined && this.params?.scope === undefined ? new Set(granted) : scopesOf.call(this);
    },
  });
}
