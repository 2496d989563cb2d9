import { z } from 'zod';

/** Hosts (`host`, `host:port`, `[v6]` or `[v6]:port`) outgoing requests may reach besides public addresses (src/actions/sandbox/net-guard.ts). */
const hostAllowList = z.array(z.string().trim().min(1).max(260).regex(/^(\[[0-9A-Fa-f:.]+\]|[^:[\]/\s@]+)(:\d{1,5})?$/, 'must be a host name or [IPv6 address], optionally with :port (no scheme, user or path)')
  // As a URL would write it (what the address check compares): a port in range, IPv6 compressed, no trailing dot.
  .refine((e) => {
    // The port as a number (net-guard reads it so: 080 is 80); no wildcard, no empty label.
    const n = e.toLowerCase().replace(/:0+(?=\d+$)/, ':');
    if (/:0$/.test(n) || n.includes('*') || n.includes('..') || n.startsWith('.') || n.endsWith('.')) return false;
    try { return new URL(`http://${n}`).host === n.replace(/:80$/, ''); } catch { return false; }
  }, 'must be written as a URL writes it: port 1-65535, IPv6 compressed ([::1]), no wildcard or trailing dot'));

/**
 * Gatehouse configuration. Read from `config/default.json`, then `config/<NODE_ENV>.json`,
 * then environment variables (see `ENV_MAP`). Validated once at boot: an invalid value stops
 * the start with a message naming the key.
 */
export const configSchema = z.object({
  /** OIDC issuer URL. May end with `/` (Auth0 style); every URL built from it goes through `urlFor`. */
  issuer: z.string().url().refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL'),
  /** TCP port to listen on. */
  port: z.coerce.number().int().min(0).max(65535),
  /** `sqlite:<path>` (embedded default) or `postgres://…`. */
  databaseUrl: z.string().regex(/^(sqlite:|postgres(ql)?:\/\/)/, 'must start with sqlite: or postgres://'),
  /** Where the generated secrets key, the SQLite file and the mail outbox live. */
  dataDir: z.string().min(1),
  /** Base64 of 32 random bytes. Encrypts secrets at rest. Generated into dataDir when unset (not in production). */
  secretsKey: z.string().optional(),
  /** Shown on every page. */
  appName: z.string().min(1).max(100),
  logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']),
  bootstrapAdmin: z.object({ clientId: z.string().min(1).optional(), clientSecret: z.string().min(16).optional() }).default({}),
  signup: z.object({
    enabled: z.boolean(),
    /**
     * Extra fields on the sign-up form (Auth0's custom sign-up fields, named `ulp-…` there): text
     * or a checkbox, checked here (required, length) and handed to pre-user-registration in
     * event.request.body, where an action stores them (api.user.setUserMetadata).
     */
    fields: z.array(z.object({
      name: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,62}$/, 'a letter, then letters, digits, - or _ (at most 63)')
        // The form's own names. Profile names (name, picture, …) stay allowed: /dbconnections/signup
        // applies its own rule for those members first (src/interactions/dbconnections.ts).
        .refine((n) => !['email', 'password', '_csrf', 'interaction', 'client_id', 'connection'].includes(n), 'that name is the form\'s own'),
      label: z.string().min(1).max(200),
      type: z.enum(['text', 'checkbox']).default('text'),
      required: z.boolean().default(false),
      maxLength: z.number().int().min(1).max(1000).default(100),
    })).max(10).default([])
      .refine((fs) => new Set(fs.map((f) => f.name)).size === fs.length, 'field names must differ'),
  }),
  /** argon2id parameters; OWASP minimum is m=19 MiB, t=2, p=1. */
  argon2: z.object({
    // At most what a stored hash is read back with (src/users/passwords.ts hashKind): 4 GiB, 100, 64.
    memoryKiB: z.number().int().min(19456).max(4_194_304),
    timeCost: z.number().int().min(2).max(100),
    parallelism: z.number().int().min(1).max(64),
    /** Concurrent hashes allowed: each one holds memoryKiB. */
    maxConcurrent: z.number().int().min(1),
  }),
  password: z.object({
    minLength: z.number().int().min(8), maxLength: z.number().int().min(64).max(1024),
    /** Refuse passwords from the bundled list of common and breached passwords. */
    rejectCommon: z.boolean().default(true),
  }),
  /** Keycloak-style brute-force detection with per-account and per-IP counters. */
  bruteForce: z.object({
    maxFailuresPerAccount: z.number().int().min(1),
    maxFailuresPerIp: z.number().int().min(1),
    waitIncrementSeconds: z.number().int().min(1),
    maxWaitSeconds: z.number().int().min(1),
    failureResetSeconds: z.number().int().min(1),
    /** Password-reset and verification-link requests per client address and hour (src/users/request-limits.ts). */
    mailRequestsPerIpPerHour: z.number().int().min(1).default(30),
    /** Sign-ups per client address and hour. */
    signupsPerIpPerHour: z.number().int().min(1).default(30),
  }),
  tokens: z.object({
    accessTokenTtl: z.number().int().min(60),
    idTokenTtl: z.number().int().min(60),
    refreshTokenTtl: z.number().int().min(60),
    codeTtl: z.number().int().min(10).max(600),
    /** A session's idle lifetime: each authorization it answers gives it this long again (Auth0's "Inactivity timeout"). */
    sessionTtl: z.number().int().min(60),
    /** A session's absolute lifetime, counted from the last sign-in on it (Auth0's "Require log in after", Keycloak's "SSO Session Max"). */
    sessionMaxTtl: z.number().int().min(60).default(2592000),
    interactionTtl: z.number().int().min(60),
  }),
  keys: z.object({
    defaultAlg: z.enum(['ES256', 'RS256']),
    /** A rotation's new key signs only after this long (every node publishes it first); default 0 on SQLite, 10 on PostgreSQL. */
    activationDelaySeconds: z.number().int().min(0).max(3600).optional(),
  }),
  /**
   * `headersTimeoutMs`: a client must send its request headers within this (slowloris);
   * `requestTimeoutMs`: and its whole request, body included.
   */
  /**
   * `trustProxy`: how many reverse proxies stand in front (true = one). Only that many entries,
   * counted from the right of X-Forwarded-For (the ones those proxies appended), are believed:
   * the client's address is the leftmost of them. Anything further left the client wrote itself.
   */
  http: z.object({
    bodyLimitBytes: z.number().int().min(1024), trustProxy: z.union([z.boolean(), z.number().int().min(0).max(16)]),
    headersTimeoutMs: z.number().int().min(1000).max(120_000).default(15_000),
    requestTimeoutMs: z.number().int().min(1000).max(300_000).default(30_000),
    /** Whose location headers give actions `event.request.geoip` (src/http/geoip.ts); only behind a trusted proxy. */
    geoipHeaders: z.enum(['none', 'cloudflare', 'cloudfront']).default('none'),
  }).refine((h) => h.requestTimeoutMs >= h.headersTimeoutMs, { message: 'requestTimeoutMs must be at least headersTimeoutMs', path: ['requestTimeoutMs'] })
    .refine((h) => h.geoipHeaders === 'none' || proxyHops(h.trustProxy) > 0, {
      message: 'geoipHeaders needs http.trustProxy: a client can send these headers itself; only a proxy that sets them makes them true', path: ['geoipHeaders'],
    }),
  /**
   * A user's own token for the Management API: Auth0's current-user scopes, with which a
   * single-page app reads its user's profile and keeps user_metadata (src/shared/current-user-scopes.ts).
   * Off by default: on, user_metadata is the user's to write, so no action may base a decision on
   * it (app_metadata is for that). `currentUserTokenTtl`: such a token's lifetime (Auth0's
   * "token lifetime for web", 2 hours), never longer than the Management API's own.
   */
  managementApi: z.object({
    currentUserTokens: z.boolean().default(false),
    currentUserTokenTtl: z.number().int().min(60).max(86_400).default(7200),
  }).prefault({}),
  /**
   * The device authorization grant (RFC 8628; a native client lists it in grant_types): how long a
   * device code and its user code live (Auth0's 15 minutes), the polling interval a device is
   * told (faster polls get `slow_down`), and how many wrong user codes one client address may
   * enter an hour (RFC 8628 §5.1: the user code is short, so guessing must be throttled).
   */
  deviceFlow: z.object({
    codeTtl: z.number().int().min(60).max(1800).default(900),
    interval: z.number().int().min(1).max(60).default(5),
    userCodeFailuresPerIpPerHour: z.number().int().min(1).max(1000).default(30),
  }).prefault({}),
  /**
   * OpenID Connect Back-Channel Logout. oidc-provider posts logout tokens only to public
   * addresses (it refuses loopback, private and other special-use ones: SSRF); `allowHosts`
   * (`host` or `host:port`, as the URL writes it) are reached wherever they resolve, for
   * applications on the same network as Gatehouse.
   */
  backchannelLogout: z.object({
    allowHosts: hostAllowList.default([]),
  }).prefault({}),
  /** Log streams (src/audit/log-streams.ts): hosts on private or loopback addresses their endpoints may be on. */
  logStreams: z.object({
    allowHosts: hostAllowList.default([]),
  }).prefault({}),
  /** Actions limits (ACTIONS.md "Rules that protect users"). */
  actions: z.object({
    /** Hosts (`host`, `host:port`, `[v6]` or `[v6]:port`) actions' fetch may reach besides public addresses (net-guard.ts). */
    fetchAllow: hostAllowList.default([]),
    workers: z.number().int().min(1).max(16).default(2),
    actionTimeoutMs: z.number().int().min(10).max(30_000).default(5000),
    chainTimeoutMs: z.number().int().min(10).max(60_000).default(20_000),
    /**
     * isolated-vm's memoryLimit per isolate. Soft: V8 may go past it before it stops the isolate,
     * and some allocation patterns stall instead; the pool's watchdog then kills the worker.
     */
    memoryMb: z.number().int().min(8).max(1024).default(64),
    consoleBytes: z.number().int().min(256).default(4096),
    resultBytes: z.number().int().min(1024).default(100 * 1024),
    claimsBytes: z.number().int().min(256).default(16 * 1024),
    maxActionsPerTrigger: z.number().int().min(1).default(20),
    maxSecrets: z.number().int().min(0).default(30),
    secretValueBytes: z.number().int().min(16).default(4096),
    maxVersions: z.number().int().min(1).default(50),
    executionRetentionDays: z.number().int().min(1).default(10),
    /** Allow `http://localhost` redirect targets: default true, false when NODE_ENV=production. */
    redirectAllowHttpLocalhost: z.boolean().default(true),
    /**
     * Hosts (`host` or `host:port`) `api.redirect.sendUserTo` may send users to. Empty: any
     * https host, as Auth0 allows, each new one logged as a warning; set it in production.
     */
    redirectAllow: z.array(z.string().min(1).max(253).regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be a host name, optionally with :port')).default([]),
  }).prefault({}),
  /** SMTP URL (`smtp://user:pass@host:port`); unset: mail goes to the log and `<dataDir>/outbox/`. */
  smtpUrl: z.string().regex(/^smtps?:\/\//, 'must start with smtp:// or smtps://').optional(),
  email: z.object({
    /** From address of every mail. */
    from: z.string().min(3).default('Gatehouse <no-reply@localhost>'),
    /** Refuse logins until the address is verified. */
    requireVerification: z.boolean().default(false),
    verificationTtlHours: z.number().int().min(1).max(24 * 14).default(24),
    /** Password-reset links: 30 minutes, single use. */
    resetTtlMinutes: z.number().int().min(5).max(24 * 60).default(30),
  }).prefault({}),
  mfa: z.object({
    /** `never`: only when an action asks; `if-enrolled`: challenge enrolled users; `always`: everyone (enrol first). */
    policy: z.enum(['never', 'if-enrolled', 'always']).default('never'),
    /** Label shown in the authenticator app (defaults to appName). */
    issuerLabel: z.string().max(100).optional(),
    rememberBrowserDays: z.number().int().min(1).max(365).default(30),
    /** Wrong codes before the MFA step is locked, with Keycloak-style growing waits. */
    maxFailures: z.number().int().min(1).max(100).default(5),
    lockSeconds: z.number().int().min(1).default(300),
  }).prefault({}),
  nodeEnv: z.string().default('development'),
});

/** Trusted proxy hops from `http.trustProxy` (0: X-Forwarded-* are ignored). */
export function proxyHops(trustProxy: boolean | number): number {
  return trustProxy === true ? 1 : trustProxy === false ? 0 : trustProxy;
}

export type Config = z.infer<typeof configSchema>;
