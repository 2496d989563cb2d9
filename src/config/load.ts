import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema, type Config } from './schema.ts';

/** Thrown when configuration is invalid; the message names the key. */
export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
      ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}

function readJson(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${path}: ${(err as Error).message}`);
  }
}

/**
 * Loads configuration: defaults file, NODE_ENV file, environment, then `overrides` (tests).
 * This is the only place that reads `process.env`.
 */
/** Config keys set from the environment, by the variable that sets them (see loadConfig). */
const ENV_NAMES: Record<string, string> = {
  issuer: 'GATEHOUSE_ISSUER', port: 'PORT', databaseUrl: 'GATEHOUSE_DATABASE_URL', dataDir: 'GATEHOUSE_DATA_DIR',
  secretsKey: 'GATEHOUSE_SECRETS_KEY', smtpUrl: 'GATEHOUSE_SMTP_URL', logLevel: 'GATEHOUSE_LOG_LEVEL', nodeEnv: 'NODE_ENV',
  'bootstrapAdmin.clientId': 'GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID', 'bootstrapAdmin.clientSecret': 'GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET',
  'bootstrapAdmin': 'GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID', 'actions.fetchAllow': 'GATEHOUSE_ACTIONS_FETCH_ALLOW', 'actions.redirectAllow': 'GATEHOUSE_ACTIONS_REDIRECT_ALLOW',
  'managementApi.currentUserTokens': 'GATEHOUSE_CURRENT_USER_TOKENS',
};

export function loadConfig(opts: { env?: Env; configDir?: string; overrides?: Record<string, unknown> } = {}): Config {
  const env = opts.env ?? process.env;
  const dir = opts.configDir ?? join(import.meta.dirname, '..', '..', 'config');
  const nodeEnv = env.NODE_ENV ?? 'development';
  let raw = deepMerge(readJson(join(dir, 'default.json')), readJson(join(dir, `${nodeEnv}.json`)));
  const fromEnv: Record<string, unknown> = { nodeEnv };
  if (env.GATEHOUSE_ISSUER) fromEnv.issuer = env.GATEHOUSE_ISSUER;
  if (env.PORT) fromEnv.port = env.PORT;
  if (env.GATEHOUSE_DATABASE_URL) fromEnv.databaseUrl = env.GATEHOUSE_DATABASE_URL;
  if (env.GATEHOUSE_DATA_DIR) fromEnv.dataDir = env.GATEHOUSE_DATA_DIR;
  if (env.GATEHOUSE_SECRETS_KEY) fromEnv.secretsKey = env.GATEHOUSE_SECRETS_KEY;
  if (env.GATEHOUSE_SMTP_URL) fromEnv.smtpUrl = env.GATEHOUSE_SMTP_URL;
  if (env.GATEHOUSE_LOG_LEVEL) fromEnv.logLevel = env.GATEHOUSE_LOG_LEVEL;
  if (env.GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID || env.GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET) {
    fromEnv.bootstrapAdmin = { clientId: env.GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID, clientSecret: env.GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET };
  }
  const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);
  if (env.GATEHOUSE_ACTIONS_FETCH_ALLOW || env.GATEHOUSE_ACTIONS_REDIRECT_ALLOW) {
    fromEnv.actions = {
      ...(env.GATEHOUSE_ACTIONS_FETCH_ALLOW ? { fetchAllow: list(env.GATEHOUSE_ACTIONS_FETCH_ALLOW) } : {}),
      ...(env.GATEHOUSE_ACTIONS_REDIRECT_ALLOW ? { redirectAllow: list(env.GATEHOUSE_ACTIONS_REDIRECT_ALLOW) } : {}),
    };
  }
  const flag = env.GATEHOUSE_CURRENT_USER_TOKENS;
  // true or false; anything else is left as the text it is, for the schema to refuse by name.
  if (flag) fromEnv.managementApi = { currentUserTokens: flag === 'true' ? true : flag === 'false' ? false : flag };
  raw = deepMerge(deepMerge(raw, fromEnv), opts.overrides ?? {});
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    // Name the key as the operator set it: the environment variable when that is where it came
    // from, else the config file key (INTERFACES.md: the message names the key).
    const msgs = parsed.error.issues.map((i) => {
      const key = i.path.join('.') || '(root)';
      // The longest prefix that a variable sets: `actions.redirectAllow.0` is GATEHOUSE_ACTIONS_REDIRECT_ALLOW's.
      let envName: string | undefined;
      for (let n = i.path.length; n > 0 && !envName; n--) envName = ENV_NAMES[i.path.slice(0, n).join('.')];
      const where = envName && env[envName] !== undefined ? `${envName} (${key})` : key;
      return `${where}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration: ${msgs.join('; ')}`);
  }
  const config = parsed.data;
  // http://localhost redirect targets for actions are a development convenience only.
  const actionsRaw = (raw.actions ?? {}) as Record<string, unknown>;
  if (config.nodeEnv === 'production' && actionsRaw.redirectAllowHttpLocalhost === undefined) config.actions.redirectAllowHttpLocalhost = false;
  if (config.nodeEnv === 'production' && !config.secretsKey) {
    throw new ConfigError('invalid configuration: secretsKey: GATEHOUSE_SECRETS_KEY is required when NODE_ENV=production');
  }
  if (config.secretsKey !== undefined && Buffer.from(config.secretsKey, 'base64').length !== 32) {
    throw new ConfigError('invalid configuration: secretsKey: GATEHOUSE_SECRETS_KEY must be 32 bytes, base64-encoded');
  }
  return config;
}
