import type Provider from 'oidc-provider';
import type { Config } from './config/schema.ts';
import { openDatabase, type Db } from './db/knex.ts';
import { migrateLatest } from './db/migrate.ts';
import { createLogger, type Logger } from './shared/logger.ts';
import { createSecretBox } from './shared/secret-box.ts';
import { createUrls } from './shared/urls.ts';
import { createPasswordHasher } from './users/passwords.ts';
import { createUsers } from './users/users.ts';
import { createBruteForce } from './users/brute-force.ts';
import { createRoles } from './roles/roles.ts';
import { createClients } from './clients/clients.ts';
import { createResourceServers } from './clients/resource-servers.ts';
import { createAudit } from './audit/audit.ts';
import { createKeyStore } from './oidc/keys.ts';
import { createProvider, type ProviderHooks } from './oidc/provider.ts';
import { createSettings, loadSecretsKey } from './settings.ts';
import { MANAGEMENT_SCOPES } from './management-api/scopes.ts';

/**
 * The one composition root: config → db → queries/libraries → provider. Everything else
 * receives what it needs from here.
 */
export async function createContext(config: Config, opts: { logger?: Logger; migrate?: boolean } = {}) {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const db: Db = openDatabase(config.databaseUrl);
  if (opts.migrate !== false) await migrateLatest(db);
  const secretsKey = loadSecretsKey(config.secretsKey, config.dataDir, logger);
  const box = createSecretBox(secretsKey);
  const urls = createUrls(config.issuer);
  const settings = createSettings(db, box);
  const hasher = createPasswordHasher(config.argon2);
  const users = createUsers(db, hasher, config.password);
  const bruteForce = createBruteForce(db, config.bruteForce);
  const roles = createRoles(db);
  const clients = createClients(db, box);
  const resourceServers = createResourceServers(db, { signingAlg: config.keys.defaultAlg, tokenLifetime: config.tokens.accessTokenTtl });
  const audit = createAudit(db, logger);
  const keys = createKeyStore(db, box);
  await keys.ensure();
  const cookieKeys = JSON.parse(await settings.sealedOrCreate('cookie_keys', () => JSON.stringify([
    (globalThis.crypto.getRandomValues(new Uint8Array(32)) as Uint8Array).reduce((s, b) => s + b.toString(16).padStart(2, '0'), ''),
  ]))) as string[];
  const csrfKey = Buffer.from(await settings.sealedOrCreate('csrf_key', () => Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(32))).toString('base64')), 'base64');

  // The Management API is an API like any other: its audience is /api/v2/ on the issuer's origin.
  if (!(await resourceServers.byIdentifier(urls.managementAudience))) {
    await resourceServers.create({
      name: 'Gatehouse Management API', identifier: urls.managementAudience,
      scopes: MANAGEMENT_SCOPES.map((value) => ({ value, description: value })), token_lifetime: 86400,
    }, { system: true });
  } else {
    const rs = (await resourceServers.byIdentifier(urls.managementAudience))!;
    const have = new Set(rs.scopes.map((s) => s.value));
    if (MANAGEMENT_SCOPES.some((s) => !have.has(s))) {
      await resourceServers.update(rs.id, { scopes: MANAGEMENT_SCOPES.map((value) => ({ value, description: value })) });
    }
  }
  await ensureBootstrapAdmin();

  const hooks: ProviderHooks = {};
  const providerState: { provider: Provider; keysVersion: string } = { provider: await buildProvider(), keysVersion: await keys.version() };

  async function buildProvider() {
    return createProvider({
      config, db, users, clients, resourceServers, audit, logger, urls, hooks, cookieKeys,
      jwks: await keys.privateJwks(config.keys.defaultAlg),
    });
  }

  /** Rebuilds the provider when signing keys changed (here or on another node). */
  async function refreshKeys(force = false) {
    const v = await keys.version();
    if (force || v !== providerState.keysVersion) {
      providerState.provider = await buildProvider();
      providerState.keysVersion = v;
      logger.info({ keys: v }, 'signing keys reloaded');
    }
  }

  async function ensureBootstrapAdmin() {
    const { clientId, clientSecret } = config.bootstrapAdmin;
    if (!clientId || !clientSecret) return;
    if (await clients.get(clientId)) return;
    await clients.create({ client_id: clientId, client_secret: clientSecret, name: 'Bootstrap admin', app_type: 'non_interactive' }, { system: true });
    await resourceServers.grants.create({ client_id: clientId, audience: urls.managementAudience, scope: [...MANAGEMENT_SCOPES] });
    logger.info({ client_id: clientId }, 'created the bootstrap admin client');
  }

  return {
    config, logger, db, box, urls, hasher, users, bruteForce, roles, clients, resourceServers, audit, keys, settings, hooks, csrfKey,
    get provider() { return providerState.provider; },
    refreshKeys,
    async close() { await db.destroy(); },
  };
}
export type AppContext = Awaited<ReturnType<typeof createContext>>;
