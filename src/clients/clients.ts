import type { Db } from '../db/knex.ts';
import { parseJson, toBool } from '../db/knex.ts';
import { badRequest, notFound } from '../shared/errors.ts';
import { newClientId, newClientSecret } from '../shared/ids.ts';
import type { SecretBox } from '../shared/secret-box.ts';
import { createTtlCache } from '../shared/ttl-cache.ts';
import { assertUsableCredentials, credentialIdsOf, jwksOf } from './credentials.ts';

export type AppType = 'spa' | 'regular_web' | 'non_interactive' | 'native';
/** RFC 8628's grant (Auth0's "Device Code"): sign-in on a device without a browser, confirmed on another one. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', DEVICE_CODE_GRANT] as const;

/**
 * What ends a session with a logout token to the client's back-channel URL (Auth0's names).
 * `rp-logout` and `idp-logout` (a logout at /oidc/logout or /v2/logout) always notify, as on Auth0.
 */
export const BACKCHANNEL_INITIATORS = ['rp-logout', 'idp-logout', 'password-changed', 'session-expired', 'session-revoked', 'account-deleted', 'account-deactivated'] as const;
export type BackchannelInitiator = typeof BACKCHANNEL_INITIATORS[number];
const ALWAYS_NOTIFY: readonly BackchannelInitiator[] = ['rp-logout', 'idp-logout'];
/** OpenID Connect Back-Channel Logout, in Auth0's shape (one URL, as Auth0 takes). */
export interface OidcLogout {
  backchannel_logout_urls: string[];
  backchannel_logout_initiators?: { mode?: 'custom' | 'all'; selected_initiators?: string[] };
  backchannel_logout_session_metadata?: { include: boolean };
}

/** Auth0's `client_authentication_methods` (private_key_jwt only). */
export interface ClientAuthenticationMethods { private_key_jwt: { credentials: { id: string }[] } }

export interface ClientInput {
  name: string; description?: string; app_type: AppType; callbacks?: string[]; allowed_logout_urls?: string[]; web_origins?: string[];
  grant_types?: string[]; token_endpoint_auth_method?: 'none' | 'client_secret_basic' | 'client_secret_post';
  /** Private Key JWT: the credentials (src/clients/credentials.ts) the client authenticates with; null goes back to a secret. */
  client_authentication_methods?: ClientAuthenticationMethods | null;
  client_metadata?: Record<string, string>; is_first_party?: boolean; id_token_signed_response_alg?: 'ES256' | 'RS256';
  client_id?: string; client_secret?: string; oidc_logout?: OidcLogout | null;
  /** Auth0's: whether the application signs users in to organizations (deny, the default; allow; require). */
  organization_usage?: 'deny' | 'allow' | 'require';
  /**
   * Auth0's, for `require` without `organization=`: refuse (no_prompt, the default), ask for the
   * organization's name before the login (pre_login_prompt), or let the user pick one of theirs
   * after the password (post_login_prompt).
   */
  organization_require_behavior?: OrganizationRequireBehavior;
}
export type OrganizationRequireBehavior = 'no_prompt' | 'pre_login_prompt' | 'post_login_prompt';

const SAFE_ALG = (a: unknown) => (a === 'RS256' || a === 'ES256' ? a : undefined);
const sealAad = (clientId: string) => `client-secret:${clientId}`;

/** Defaults per app type, as Auth0 applies them. */
function defaults(t: AppType) {
  switch (t) {
    case 'spa': return { grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'none' as const };
    case 'native': return { grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'none' as const };
    case 'regular_web': return { grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'client_secret_basic' as const };
    case 'non_interactive': return { grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' as const };
  }
}

/**
 * Redirect and logout URLs: absolute, no fragment, no wildcard; https, or http only on
 * loopback (RFC 9700 §2.1, §4.1.3) or for native apps' custom schemes.
 */
export function checkRedirectUri(field: string, uri: string, appType: AppType) {
  // The URL parser silently drops tabs, newlines and surrounding spaces; the stored string is
  // what oidc-provider matches exactly, so refuse them instead.
  if (uri.length > 2000 || /[\s\u0000-\u001f\u007f]/.test(uri)) throw badRequest(`${field}: "${uri.slice(0, 100)}" must not contain whitespace or control characters`);
  let u: URL;
  try { u = new URL(uri); } catch { throw badRequest(`${field}: "${uri}" is not an absolute URL`); }
  if (uri.includes('*')) throw badRequest(`${field}: wildcards are not allowed`);
  if (u.hash || uri.includes('#')) throw badRequest(`${field}: fragments are not allowed`);
  if (u.username || u.password) throw badRequest(`${field}: credentials in URLs are not allowed`);
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
  if (u.protocol === 'https:') return;
  if (u.protocol === 'http:' && loopback) return;
  if (appType === 'native' && /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(u.protocol)) return;
  throw badRequest(`${field}: "${uri}" must use https (http is allowed only on localhost)`);
}

export function checkWebOrigin(o: string) {
  let u: URL;
  try { u = new URL(o); } catch { throw badRequest(`web_origins: "${o}" is not an origin`); }
  if (u.origin !== o.replace(/\/$/, '')) throw badRequest(`web_origins: "${o}" must be an origin (scheme://host[:port])`);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname))) {
    throw badRequest(`web_origins: "${o}" must use https (http is allowed only on localhost)`);
  }
}

/**
 * `defaultIdTokenAlg` signs ID tokens of clients that did not choose: the configured default
 * (ES256), except single-page apps, which get RS256 because Auth0's SPA SDK accepts only that.
 */
export function createClients(db: Db, box: SecretBox, defaultIdTokenAlg: 'ES256' | 'RS256' = 'ES256') {
  /** The alg a client's ID tokens are signed with: its own choice, else RS256 for SPAs (what their SDKs expect), else the default. */
  const idTokenAlg = (c: { id_token_signed_response_alg?: string | null; app_type: string }): 'ES256' | 'RS256' =>
    SAFE_ALG(c.id_token_signed_response_alg) ?? (c.app_type === 'spa' ? 'RS256' : defaultIdTokenAlg);
  /** oidc-provider metadata, cached briefly: every token request looks its client up. */
  const cache = createTtlCache(2000, loadClientMetadata);

  function toApi(r: Record<string, unknown>, secret?: string) {
    return {
      client_id: r.client_id as string, name: r.name as string, description: r.description as string, app_type: r.app_type as AppType,
      token_endpoint_auth_method: r.token_endpoint_auth_method as string, grant_types: parseJson<string[]>(r.grant_types, []),
      callbacks: parseJson<string[]>(r.callbacks, []), allowed_logout_urls: parseJson<string[]>(r.allowed_logout_urls, []),
      web_origins: parseJson<string[]>(r.web_origins, []), client_metadata: parseJson<Record<string, string>>(r.client_metadata, {}),
      is_first_party: toBool(r.is_first_party), id_token_signed_response_alg: (r.id_token_signed_response_alg as string | null) ?? undefined,
      is_system: toBool(r.is_system), created_at: r.created_at as string, updated_at: r.updated_at as string,
      ...(r.oidc_logout ? { oidc_logout: parseJson<OidcLogout>(r.oidc_logout, { backchannel_logout_urls: [] }) } : {}),
      organization_usage: ((r.organization_usage as string | null) ?? 'deny') as 'deny' | 'allow' | 'require',
      organization_require_behavior: ((r.organization_require_behavior as string | null) ?? 'no_prompt') as OrganizationRequireBehavior,
      ...(r.client_authentication_methods ? { client_authentication_methods: { private_key_jwt: { credentials: credentialIdsOf(r.client_authentication_methods as string).map((id) => ({ id })) } } } : {}),
      ...(secret ? { client_secret: secret } : {}),
    };
  }
  type ApiClient = ReturnType<typeof toApi>;

  function validate(c: Omit<ApiClient, 'client_id' | 'created_at' | 'updated_at' | 'is_system'>) {
    for (const g of c.grant_types) {
      if (g === 'implicit' || g === 'password') throw badRequest(`grant_types: "${g}" is disabled (RFC 9700 §2.1.2, §2.4); use authorization_code with PKCE`);
      if (!(GRANT_TYPES as readonly string[]).includes(g)) throw badRequest(`grant_types: "${g}" is not supported (allowed: ${GRANT_TYPES.join(', ')})`);
    }
    if (c.grant_types.includes('refresh_token') && !c.grant_types.includes('authorization_code') && !c.grant_types.includes(DEVICE_CODE_GRANT)) throw badRequest(`grant_types: refresh_token needs authorization_code or ${DEVICE_CODE_GRANT}`);
    // As on Auth0: the device flow is for native applications (a TV, a CLI), which are public
    // clients; whoever holds the device code gets the tokens, so no secret would add anything.
    if (c.grant_types.includes(DEVICE_CODE_GRANT) && c.app_type !== 'native') throw badRequest(`grant_types: ${DEVICE_CODE_GRANT} is for native applications (app_type native)`);
    const isPublic = c.token_endpoint_auth_method === 'none';
    if (isPublic && c.grant_types.includes('client_credentials')) throw badRequest('grant_types: client_credentials needs a confidential client (token_endpoint_auth_method other than none)');
    if (!isPublic && (c.app_type === 'spa' || c.app_type === 'native')) throw badRequest(c.token_endpoint_auth_method === 'private_key_jwt' ? `client_authentication_methods: ${c.app_type} clients are public: Private Key JWT is for regular_web and non_interactive applications` : `token_endpoint_auth_method: ${c.app_type} clients are public and must use "none"`);
    if (c.token_endpoint_auth_method === 'private_key_jwt' && !c.client_authentication_methods) throw badRequest('client_authentication_methods: private_key_jwt needs the credentials it authenticates with');
    if (isPublic && (c.app_type === 'regular_web' || c.app_type === 'non_interactive')) throw badRequest(`token_endpoint_auth_method: ${c.app_type} clients are confidential and cannot use "none"`);
    for (const u of c.callbacks) checkRedirectUri('callbacks', u, c.app_type);
    for (const u of c.allowed_logout_urls) checkRedirectUri('allowed_logout_urls', u, c.app_type);
    for (const o of c.web_origins) checkWebOrigin(o);
    if (c.oidc_logout) checkOidcLogout(c.oidc_logout);
  }

  /** The initiators a client's back-channel URL hears from, with the two that always notify; Auth0's default is those two. */
  function checkOidcLogout(l: OidcLogout) {
    if (l.backchannel_logout_urls.length > 1) throw badRequest('oidc_logout.backchannel_logout_urls: one URL per application (as on Auth0)');
    for (const u of l.backchannel_logout_urls) checkRedirectUri('oidc_logout.backchannel_logout_urls', u, 'regular_web');
    const selected = l.backchannel_logout_initiators?.selected_initiators ?? [];
    for (const i of selected) {
      if (!(BACKCHANNEL_INITIATORS as readonly string[]).includes(i)) throw badRequest(`oidc_logout.backchannel_logout_initiators.selected_initiators: "${i.slice(0, 60)}" is not one Gatehouse sends (it sends: ${BACKCHANNEL_INITIATORS.join(', ')})`);
    }
  }

  async function row(clientId: string) { return db('clients').where({ client_id: clientId }).first(); }

  return {
    toApi,
    idTokenAlg,
    async create(input: ClientInput, opts: { system?: boolean } = {}) {
      const d = defaults(input.app_type);
      const c = {
        name: input.name, description: input.description ?? '', app_type: input.app_type,
        token_endpoint_auth_method: input.token_endpoint_auth_method ?? d.token_endpoint_auth_method,
        grant_types: input.grant_types ?? d.grant_types, callbacks: input.callbacks ?? [], allowed_logout_urls: input.allowed_logout_urls ?? [],
        web_origins: input.web_origins ?? [], client_metadata: input.client_metadata ?? {}, is_first_party: input.is_first_party ?? true,
        id_token_signed_response_alg: input.id_token_signed_response_alg, oidc_logout: normalOidcLogout(input.oidc_logout),
        organization_usage: input.organization_usage ?? 'deny', organization_require_behavior: input.organization_require_behavior ?? 'no_prompt',
      };
      if (input.client_authentication_methods) throw badRequest('client_authentication_methods: create the application first, then its credentials (POST /clients/{id}/credentials), then name them here with PATCH');
      validate(c);
      const clientId = input.client_id ?? newClientId();
      const secret = c.token_endpoint_auth_method === 'none' ? undefined : (input.client_secret ?? newClientSecret());
      const ts = new Date().toISOString();
      await db('clients').insert({
        client_id: clientId, client_secret_sealed: secret ? box.seal(secret, sealAad(clientId)) : null, name: c.name, description: c.description,
        app_type: c.app_type, token_endpoint_auth_method: c.token_endpoint_auth_method, grant_types: JSON.stringify(c.grant_types),
        callbacks: JSON.stringify(c.callbacks), allowed_logout_urls: JSON.stringify(c.allowed_logout_urls), web_origins: JSON.stringify(c.web_origins),
        client_metadata: JSON.stringify(c.client_metadata), is_first_party: c.is_first_party, id_token_signed_response_alg: c.id_token_signed_response_alg ?? null,
        is_system: opts.system ?? false, created_at: ts, updated_at: ts, oidc_logout: c.oidc_logout ? JSON.stringify(c.oidc_logout) : null,
        organization_usage: c.organization_usage, organization_require_behavior: c.organization_require_behavior,
      });
      return toApi((await row(clientId))!, secret);
    },
    async get(clientId: string) { const r = await row(clientId); return r ? toApi(r) : undefined; },
    async require(clientId: string) {
      const r = await row(clientId);
      if (!r) throw notFound('The client does not exist', 'inexistent_client');
      return toApi(r);
    },
    async list(opts: { page: number; perPage: number; appType?: AppType[]; isFirstParty?: boolean }) {
      const q = db('clients');
      if (opts.appType?.length) q.whereIn('app_type', opts.appType);
      if (opts.isFirstParty !== undefined) q.where({ is_first_party: opts.isFirstParty });
      const [{ n }] = await q.clone().count({ n: '*' });
      const rows = await q.orderBy('created_at').orderBy('client_id').limit(opts.perPage).offset(opts.page * opts.perPage);
      return { clients: rows.map((r) => toApi(r)), total: Number(n) };
    },
    /**
     * Applies `patch` (no id or secret in it) and re-validates the whole client. A client that
     * turns confidential gets a new secret, returned once in `client_secret`; one that turns
     * public loses its secret.
     */
    async update(clientId: string, patch: Partial<Omit<ClientInput, 'client_id' | 'client_secret'>>) {
      const r = await row(clientId);
      if (!r) throw notFound('The client does not exist', 'inexistent_client');
      const cur = toApi(r);
      const clean = Object.fromEntries(Object.entries(patch).filter(([k, v]) => v !== undefined && k !== 'client_id' && k !== 'client_secret'));
      const next = { ...cur, ...clean } as ApiClient;
      // null (or no URL) turns back-channel logout off.
      if ('oidc_logout' in patch) next.oidc_logout = normalOidcLogout(patch.oidc_logout);
      // Private Key JWT on (the credentials named): the secret goes. Off (null, or a secret method
      // chosen instead): the application gets a new secret, shown once, as when it turns confidential.
      if (patch.client_authentication_methods) {
        const ids = patch.client_authentication_methods.private_key_jwt.credentials.map((x) => x.id);
        await assertUsableCredentials(db, clientId, ids);
        next.client_authentication_methods = { private_key_jwt: { credentials: [...new Set(ids)].map((id) => ({ id })) } };
        next.token_endpoint_auth_method = 'private_key_jwt';
      } else if (patch.client_authentication_methods === null || (patch.token_endpoint_auth_method && cur.token_endpoint_auth_method === 'private_key_jwt')) {
        next.client_authentication_methods = undefined;
        if (next.token_endpoint_auth_method === 'private_key_jwt') next.token_endpoint_auth_method = defaults(next.app_type).token_endpoint_auth_method;
      }
      validate(next);
      const becomesPublic = next.token_endpoint_auth_method === 'none';
      const usesKey = next.token_endpoint_auth_method === 'private_key_jwt';
      const secret = !becomesPublic && !usesKey && !r.client_secret_sealed ? newClientSecret() : undefined;
      await db('clients').where({ client_id: clientId }).update({
        name: next.name, description: next.description, app_type: next.app_type, token_endpoint_auth_method: next.token_endpoint_auth_method,
        grant_types: JSON.stringify(next.grant_types), callbacks: JSON.stringify(next.callbacks), allowed_logout_urls: JSON.stringify(next.allowed_logout_urls),
        web_origins: JSON.stringify(next.web_origins), client_metadata: JSON.stringify(next.client_metadata), is_first_party: next.is_first_party,
        id_token_signed_response_alg: next.id_token_signed_response_alg ?? null, updated_at: new Date().toISOString(),
        oidc_logout: next.oidc_logout ? JSON.stringify(next.oidc_logout) : null,
        client_authentication_methods: next.client_authentication_methods ? JSON.stringify(next.client_authentication_methods) : null,
        organization_usage: next.organization_usage, organization_require_behavior: next.organization_require_behavior,
        ...(secret ? { client_secret_sealed: box.seal(secret, sealAad(clientId)) } : {}),
        ...(becomesPublic || usesKey ? { client_secret_sealed: null } : {}),
      });
      cache.delete(clientId);
      const updated = await this.require(clientId);
      return secret ? { ...updated, client_secret: secret } : updated;
    },
    /** New secret (random unless given: the bootstrap admin's comes from the environment), returned once. */
    async rotateSecret(clientId: string, secret = newClientSecret()) {
      const cur = await this.require(clientId);
      if (cur.token_endpoint_auth_method === 'none') throw badRequest('public clients have no secret');
      if (cur.token_endpoint_auth_method === 'private_key_jwt') throw badRequest('this application authenticates with Private Key JWT and has no secret: set token_endpoint_auth_method to use one');
      await db('clients').where({ client_id: clientId }).update({ client_secret_sealed: box.seal(secret, sealAad(clientId)), updated_at: new Date().toISOString() });
      cache.delete(clientId);
      return { ...(await this.require(clientId)), client_secret: secret };
    },
    /** Its cached oidc-provider metadata is stale (its credentials changed). */
    forget(clientId: string) { cache.delete(clientId); },
    async remove(clientId: string) {
      cache.delete(clientId);
      return (await db('clients').where({ client_id: clientId }).delete()) > 0;
    },
    /**
     * Whether some client lists `origin` among its web origins (a CORS preflight does not say
     * which client it is for): looked up, not listed.
     */
    async knownWebOrigin(origin: string): Promise<boolean> {
      if (origin.length > 300 || /["%\\]/.test(origin)) return false;
      const bare = (o: string) => o.replace(/\/$/, '');
      // The origin as a whole JSON string in the list, with or without a trailing slash.
      const o = bare(origin).replace(/_/g, '\\_');
      const rows: { web_origins: string }[] = await db('clients').where((w) => w.whereRaw("web_origins like ? escape '\\'", [`%"${o}"%`]).orWhereRaw("web_origins like ? escape '\\'", [`%"${o}/"%`])).select('web_origins');
      // Compared exactly too: SQLite's LIKE ignores ASCII case.
      return rows.some((r) => { try { return (JSON.parse(r.web_origins) as string[]).some((w) => bare(w) === bare(origin)); } catch { return false; } });
    },
    /**
     * oidc-provider Client metadata (for the adapter's `Client.find`). A cached answer comes back
     * as a plain value, not a promise: every token request asks, and callers await it anyway.
     */
    findClientMetadata(clientId: string): Record<string, unknown> | undefined | Promise<Record<string, unknown> | undefined> {
      return cache.get(clientId);
    },
  };

  async function loadClientMetadata(clientId: string): Promise<Record<string, unknown> | undefined> {
    const r = await row(clientId);
    if (!r) return undefined;
    const c = toApi(r);
    return {
      client_id: c.client_id, client_name: c.name,
      ...(r.client_secret_sealed ? { client_secret: box.open(r.client_secret_sealed, sealAad(c.client_id)) } : {}),
      token_endpoint_auth_method: c.token_endpoint_auth_method, grant_types: c.grant_types,
      // Private Key JWT: the credentials the client named that have not ended (the cache holds this 2 s).
      ...(c.token_endpoint_auth_method === 'private_key_jwt' ? { jwks: { keys: await jwksOf(db, c.client_id, credentialIdsOf(r.client_authentication_methods as string)) } } : {}),
      response_types: c.grant_types.includes('authorization_code') ? ['code'] : [],
      redirect_uris: c.callbacks, post_logout_redirect_uris: c.allowed_logout_urls,
      application_type: c.app_type === 'native' ? 'native' : 'web',
      id_token_signed_response_alg: idTokenAlg(c),
      'urn:gatehouse:web_origins': c.web_origins, 'urn:gatehouse:first_party': c.is_first_party,
      'urn:gatehouse:app_type': c.app_type, 'urn:gatehouse:metadata': c.client_metadata,
      'urn:gatehouse:system': c.is_system, 'urn:gatehouse:organization_usage': c.organization_usage,
      'urn:gatehouse:organization_require_behavior': c.organization_require_behavior,
      // Back-channel logout: the logout token names the session (sid), as Auth0's does.
      ...(c.oidc_logout?.backchannel_logout_urls[0] ? {
        backchannel_logout_uri: c.oidc_logout.backchannel_logout_urls[0], backchannel_logout_session_required: true,
        'urn:gatehouse:backchannel_initiators': backchannelInitiators(c.oidc_logout),
      } : {}),
    };
  }
}
export type Clients = ReturnType<typeof createClients>;

/** Auth0's defaults filled in: `custom` with the two that always notify; those two are always among the selected. An empty URL list is no setting. */
function normalOidcLogout(l: OidcLogout | null | undefined): OidcLogout | undefined {
  if (!l || l.backchannel_logout_urls.length === 0) return undefined;
  const mode = l.backchannel_logout_initiators?.mode ?? 'custom';
  const selected = [...new Set([...ALWAYS_NOTIFY, ...(l.backchannel_logout_initiators?.selected_initiators ?? [])])];
  return { backchannel_logout_urls: l.backchannel_logout_urls, backchannel_logout_initiators: mode === 'all' ? { mode } : { mode, selected_initiators: selected } };
}

/** The ends that notify a client's back-channel URL. */
export function backchannelInitiators(l: OidcLogout): BackchannelInitiator[] {
  const i = l.backchannel_logout_initiators;
  if (i?.mode === 'all') return [...BACKCHANNEL_INITIATORS];
  return BACKCHANNEL_INITIATORS.filter((x) => ALWAYS_NOTIFY.includes(x) || (i?.selected_initiators ?? []).includes(x));
}
