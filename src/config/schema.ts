import { z } from 'zod';

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
  signup: z.object({ enabled: z.boolean() }),
  /** argon2id parameters; OWASP minimum is m=19 MiB, t=2, p=1. */
  argon2: z.object({
    memoryKiB: z.number().int().min(19456),
    timeCost: z.number().int().min(2),
    parallelism: z.number().int().min(1),
    /** Concurrent hashes allowed: each one holds memoryKiB. */
    maxConcurrent: z.number().int().min(1),
  }),
  password: z.object({ minLength: z.number().int().min(8), maxLength: z.number().int().min(64).max(1024) }),
  /** Keycloak-style brute-force detection with per-account and per-IP counters. */
  bruteForce: z.object({
    maxFailuresPerAccount: z.number().int().min(1),
    maxFailuresPerIp: z.number().int().min(1),
    waitIncrementSeconds: z.number().int().min(1),
    maxWaitSeconds: z.number().int().min(1),
    failureResetSeconds: z.number().int().min(1),
  }),
  tokens: z.object({
    accessTokenTtl: z.number().int().min(60),
    idTokenTtl: z.number().int().min(60),
    refreshTokenTtl: z.number().int().min(60),
    codeTtl: z.number().int().min(10).max(600),
    sessionTtl: z.number().int().min(60),
    interactionTtl: z.number().int().min(60),
  }),
  keys: z.object({ defaultAlg: z.enum(['ES256', 'RS256']) }),
  http: z.object({ bodyLimitBytes: z.number().int().min(1024), trustProxy: z.boolean() }),
  actions: z.object({ fetchAllow: z.array(z.string()).default([]) }).default({ fetchAllow: [] }),
  smtpUrl: z.string().optional(),
  nodeEnv: z.string().default('development'),
});

export type Config = z.infer<typeof configSchema>;
