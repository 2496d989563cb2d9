/**
 * Types for Gatehouse Actions (Auth0 Actions' programming model). Reference this file from an
 * action for editor completion:
 *
 *   /// <reference path="node_modules/gatehouse/types/actions.d.ts" />
 *   exports.onExecutePostLogin = async (event: PostLoginEvent, api: PostLoginAPI) => { … };
 */

export interface User {
  user_id: string; email: string; email_verified: boolean; name: string; nickname: string; picture: string;
  /** Only when set. */
  given_name?: string; family_name?: string;
  created_at: string; updated_at: string; last_login: string | null; last_ip: string | null; logins_count: number;
  /** When the password last changed; absent until it has. */
  last_password_reset?: string;
  app_metadata: Record<string, unknown>; user_metadata: Record<string, unknown>;
  identities: { connection: string; provider: string; user_id: string; isSocial: boolean }[];
  /** `['otp']` when the user has enrolled an authenticator app. */
  multifactor: string[];
  enrolledFactors: { type: 'otp' }[];
}
export interface Client { client_id: string; name: string; metadata: Record<string, string> }
/** Auth0's `event.request.geoip`: present only when a CDN's location headers are configured (`http.geoipHeaders`) and gave a country. */
export interface GeoIp {
  countryCode: string; countryCode3?: string; countryName?: string; cityName?: string; continentCode?: string;
  subdivisionCode?: string; subdivisionName?: string; latitude?: number; longitude?: number; timeZone?: string;
}
export interface Request {
  ip: string; method: string; hostname: string; user_agent: string; language?: string;
  geoip?: GeoIp;
  query: Record<string, string>;
  /** The request body with sensitive fields (password, tokens, CSRF) removed. */
  body: Record<string, string>;
}
export interface Transaction {
  id?: string; protocol: 'oidc-basic-profile' | 'oauth2-refresh-token' | 'oauth2-device-code' | string; requested_scopes: string[];
  /** The language the pages were shown in. */
  locale: string;
  redirect_uri?: string; response_type?: string[]; response_mode?: string; state?: string; ui_locales: string[]; audience?: string;
  /** The authorization request's `acr_values`, one entry per value ([] when none). */
  acr_values: string[];
  /** post-login: what api.transaction.setMetadata set in this login so far ({} at its start). */
  metadata?: Record<string, string | number | boolean>;
  /** The authorization request's `prompt`, when it had one. */
  prompt?: string[];
  login_hint?: string;
}
export interface Connection { id: string; name: string; strategy: string; metadata: Record<string, string> }
export interface Tenant { id: string }
export type Secrets = Record<string, string>;
/** Always empty here: Auth0 fills it only for its Marketplace integrations (keep such values in secrets). */
export type Configuration = Record<string, string>;

export interface CacheEntry { value: string; expires_at: number }
/** What `cache.set` and `cache.delete` answer (Auth0's shape). */
export type CacheWriteResult =
  | { type: 'success'; record?: CacheEntry }
  | { type: 'error'; code: 'invalid_argument' | 'too_large' | string };
export interface CacheAPI {
  get(key: string): CacheEntry | undefined;
  /**
   * Keys up to 200 characters, values up to 4 KB (else an error result). `ttl` in milliseconds,
   * default 15 minutes, or `expires_at` (epoch ms). Best effort: values may be evicted early.
   */
  set(key: string, value: string, options?: { ttl?: number; expires_at?: number }): CacheWriteResult;
  delete(key: string): CacheWriteResult;
}

// ── post-login ────────────────────────────────────────────────────────────────
export interface PostLoginEvent {
  user: User; authorization: { roles: string[] }; client: Client; request: Request; transaction: Transaction;
  authentication: { methods: { name: 'pwd' | 'mfa' | string; timestamp: string }[] };
  stats: { logins_count: number }; session: Session; connection: Connection; tenant: Tenant; secrets: Secrets; configuration: Configuration;
  resource_server?: { identifier: string };
  /** The organization this login signs in to (`organization=` at /authorize), or the one the refresh token was issued in. */
  organization?: { id: string; name: string; display_name: string; metadata: Record<string, string> };
  /** On a refresh-token grant (`transaction.protocol` 'oauth2-refresh-token'): the token being exchanged. `id` identifies it (and stays while it rotates); it is not the token. */
  refresh_token?: {
    id: string; client_id: string; user_id: string; session_id?: string;
    /** The token family's first issue; `last_exchanged_at`: when this token was issued by an exchange (absent before the first). */
    created_at: string; last_exchanged_at?: string; rotating: boolean;
    /** `expires_at`: when the token family ends (its grant's end, or one an action set); `idle_expires_at`: when this token does unless exchanged first. */
    expires_at?: string; idle_expires_at?: string;
    /** `initial_*`: the code exchange that began the family; `last_*`: the exchange that issued this token. Absent for a token issued before devices were kept. */
    device?: { initial_ip: string; initial_user_agent: string; last_ip: string; last_user_agent: string };
    resource_servers: { audience: string; scopes: string[] }[];
    /** What api.refreshToken.setMetadata and the Management API kept with the token (as changed by the actions before this one). */
    metadata: Record<string, string>;
  };
}
/**
 * The OIDC session this login ends in (empty when there is none, e.g. a login as another account
 * than the browser's session). `device`: `initial_*` from the login that signed the session in,
 * `last_*` from the last login that succeeded on it (never a denied attempt); absent when unknown.
 */
export interface Session {
  id?: string; created_at?: string; updated_at?: string; authenticated_at?: string;
  /** `expires_at`: when the user must sign in again however active; `idle_expires_at`: when the session ends unless used first. */
  expires_at?: string; idle_expires_at?: string;
  /** What api.session.setMetadata kept with this session for this user (as changed by the actions before this one). */
  metadata?: Record<string, string>;
  clients?: { client_id: string }[];
  device?: { initial_ip: string; initial_user_agent: string; last_ip: string; last_user_agent: string };
}
export type Factor = { type: 'otp' };
export interface PostLoginAPI {
  access: { deny(reason: string): PostLoginAPI };
  /**
   * Reserved names (sub, iss, aud, exp, …) are refused, and so are the profile claims the ID token
   * takes from the user (email, email_verified, name, nickname, given_name, family_name, picture,
   * updated_at): update the
   * user, or use a namespaced claim. Each refusal is a line in the execution record.
   */
  idToken: { setCustomClaim(name: string, value: unknown): PostLoginAPI };
  accessToken: { setCustomClaim(name: string, value: unknown): PostLoginAPI; addScope(scope: string): PostLoginAPI; removeScope(scope: string): PostLoginAPI };
  authentication: {
    challengeWith(factor: Factor, options?: { additionalFactors?: Factor[] }): PostLoginAPI;
    challengeWithAny(factors: Factor[]): PostLoginAPI;
    enrollWith(factor: Factor, options?: { additionalFactors?: Factor[] }): PostLoginAPI;
    enrollWithAny(factors: Factor[]): PostLoginAPI;
    /**
     * In onContinuePostLogin: the outside authenticator at `providerUrl` verified the user. Once
     * this login finishes, later logins of this user in this session list it in
     * event.authentication.methods; a login that is denied or left unfinished records nothing.
     */
    recordMethod(providerUrl: string): PostLoginAPI;
  };
  /** 'guardian' asks for the authenticator app, as 'any' and 'google-authenticator' do. */
  multifactor: { enable(provider: 'any' | 'google-authenticator' | 'guardian' | 'none', options?: { allowRememberBrowser?: boolean }): PostLoginAPI };
  redirect: {
    sendUserTo(url: string, options?: { query?: Record<string, string> }): PostLoginAPI;
    encodeToken(options: { secret: string; payload: Record<string, unknown>; expiresInSeconds?: number }): string;
    validateToken(options: { secret: string; tokenParameterName?: string }): Record<string, unknown>;
    canRedirect(): boolean;
  };
  user: { setAppMetadata(name: string, value: unknown): PostLoginAPI; setUserMetadata(name: string, value: unknown): PostLoginAPI };
  /**
   * Denies this login (or refresh) with `reason`, as access.deny does, and ends the session
   * (`event.session.id`): the user must sign in again. The refresh tokens of the session's
   * applications end too, unless `preserveRefreshTokens`.
   */
  session: {
    revoke(reason: string, options?: { preserveRefreshTokens?: boolean }): PostLoginAPI;
    /**
     * When the user must sign in again on this session (ms since the epoch), within the configured
     * absolute lifetime from the sign-in. The sign-in's own actions set it (a later call replacing an
     * earlier one); later authorizations and refreshes can only bring it forward.
     */
    setExpiresAt(absolute: number): PostLoginAPI;
    /** When the session ends unless it answers another authorization first (ms since the epoch); the next authorization slides it on. */
    setIdleExpiresAt(absolute: number): PostLoginAPI;
    /** Keeps `value` under `key` with the session (strings of at most 255 characters, up to 25 keys): event.session.metadata. */
    setMetadata(key: string, value: string): PostLoginAPI;
    deleteMetadata(key: string): PostLoginAPI;
    /** Empties the session's metadata. */
    evictMetadata(): PostLoginAPI;
  };
  refreshToken: {
    /** On a refresh-token grant: denies it with `reason` and ends the refresh token being exchanged. Elsewhere a deny. */
    revoke(reason: string): PostLoginAPI;
    /** When the refresh token issued now (by this refresh, or by this login's code) and every one rotated from it end (ms since the epoch). */
    setExpiresAt(absolute: number): PostLoginAPI;
    /** By when the refresh token issued now (by this refresh, or by this login's code) must be used (ms since the epoch). */
    setIdleExpiresAt(absolute: number): PostLoginAPI;
    /**
     * Keeps a string with the refresh token issued now (by this refresh, or by this login's code)
     * and every one rotated from it: keys of 1 to 255 letters, digits, `_` or `-`, values of at most
     * 255 characters, up to 25 keys. Read back in `event.refresh_token.metadata` on later refreshes.
     */
    setMetadata(key: string, value: string): PostLoginAPI;
    /** Removes one key of the refresh token's metadata. */
    deleteMetadata(key: string): PostLoginAPI;
    /** Empties the refresh token's metadata. */
    evictMetadata(): PostLoginAPI;
  };
  /** Auth0's Rules-to-Actions migration asks whether a Rule already ran: there are no Rules here, so always false. */
  rules: { wasExecuted(ruleId: string): boolean };
  /** Up to 20 keys for this login, seen by later actions and after a redirect; null removes a key. */
  transaction: { setMetadata(key: string, value: string | number | boolean | null): PostLoginAPI };
  cache: CacheAPI;
}
export type OnExecutePostLogin = (event: PostLoginEvent, api: PostLoginAPI) => void | Promise<void>;
export type OnContinuePostLogin = (event: PostLoginEvent, api: PostLoginAPI) => void | Promise<void>;

// ── pre-user-registration ─────────────────────────────────────────────────────
export interface PreUserRegistrationEvent {
  user: { email: string; app_metadata: Record<string, unknown>; user_metadata: Record<string, unknown>; email_verified: boolean };
  /** The application the sign-up came through; empty (`{}`) for a sign-up outside a login. */
  request: Request; client: Client | Record<string, never>; connection: Connection; tenant: Tenant; secrets: Secrets; configuration: Configuration; transaction: Partial<Transaction>;
}
export interface PreUserRegistrationAPI {
  access: { deny(reason: string, userMessage?: string): PreUserRegistrationAPI };
  validation: { error(code: string, message: string): PreUserRegistrationAPI };
  user: { setAppMetadata(name: string, value: unknown): PreUserRegistrationAPI; setUserMetadata(name: string, value: unknown): PreUserRegistrationAPI };
  cache: CacheAPI;
}
export type OnExecutePreUserRegistration = (event: PreUserRegistrationEvent, api: PreUserRegistrationAPI) => void | Promise<void>;

// ── post-user-registration / post-change-password ────────────────────────────
export interface PostUserEvent { user: User; request: Request; connection: Connection; tenant: Tenant; secrets: Secrets; configuration: Configuration }
export interface CacheOnlyAPI { cache: CacheAPI }
export type OnExecutePostUserRegistration = (event: PostUserEvent, api: CacheOnlyAPI) => void | Promise<void>;
export type OnExecutePostChangePassword = (event: PostUserEvent, api: CacheOnlyAPI) => void | Promise<void>;

// ── credentials-exchange ──────────────────────────────────────────────────────
export interface CredentialsExchangeEvent {
  client: Client; request: Request; tenant: Tenant; secrets: Secrets; configuration: Configuration; transaction: { requested_scopes: string[] };
  resource_server?: { identifier: string }; accessToken: { scope: string[]; customClaims: Record<string, unknown> };
}
export interface CredentialsExchangeAPI {
  access: { deny(code: 'invalid_scope' | 'invalid_request' | 'server_error', reason: string): CredentialsExchangeAPI };
  accessToken: { setCustomClaim(name: string, value: unknown): CredentialsExchangeAPI };
  cache: CacheAPI;
}
export type OnExecuteCredentialsExchange = (event: CredentialsExchangeEvent, api: CredentialsExchangeAPI) => void | Promise<void>;

/*
 * The sandbox's globals (console, timers, URL, TextEncoder/TextDecoder, atob/btoa, crypto,
 * structuredClone, fetch, Headers, Response, performance) are the standard ones: a project whose
 * TypeScript setup has the DOM lib or @types/node already knows them. One with neither
 * (`"lib": ["es2022"]`, `"types": []`) adds `globals.d.ts`, next to this file.
 */
