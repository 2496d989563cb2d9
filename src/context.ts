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
import { createPasswordLogin } from './users/password-login.ts';
import { createRoles } from './roles/roles.ts';
import { createClients } from './clients/clients.ts';
import { createResourceServers } from './clients/resource-servers.ts';
import { createAudit } from './audit/audit.ts';
import { createKeyStore } from './oidc/keys.ts';
import { createProvider, type ProviderHooks } from './oidc/provider.ts';
import { createSettings, loadSecretsKey } from './settings.ts';
import { MANAGEMENT_SCOPES } from './management-api/scopes.ts';
import { createSandboxPool } from './actions/sandbox/index.ts';
import type { SandboxPool } from './actions/sandbox/types.ts';
import { createActionStore } from './actions/engine/store.ts';
import { createActionEngine } from './actions/engine/engine.ts';
import { createTriggerRunners } from './actions/triggers/run.ts';
import { createMfa } from './mfa/mfa.ts';
import { createMailer } from './mail/mailer.ts';
import { createEmailTokens } from './users/email-tokens.ts';
import type { Context } from 'koa';
import type { User } from './users/users.ts';
import type { SafeHtml } from '../views/html.ts';

/** Renders the MFA part of /account (filled in by the MFA module); absent: no section. */
export type AccountMfaSection = (ctx: Context, user: User) => SafeHtml | undefined | Promise<SafeHtml | undefined>;

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
  const checkPassword = createPasswordLogin({ users, hasher, bruteForce, audit, maxPasswordBytes: config.password.maxLength * 4 });
  const mfa = createMfa(db, box, { maxFailures: config.mfa.maxFailures, lockSeconds: config.mfa.lockSeconds, issuerLabel: config.mfa.issuerLabel ?? config.appName });
  const keys = createKeyStore(db, box);
  await keys.ensure();
  // Mail goes through SMTP when configured, else to <dataDir>/outbox/ (see src/mail/mailer.ts).
  const mail = createMailer({ smtpUrl: config.smtpUrl, from: config.email.from, dataDir: config.dataDir, logger });
  const emailTokens = createEmailTokens(db);
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

  // Actions: the sandbox pool (child processes) starts on first use, so CLI commands that
  // never run an action never spawn workers.
  let pool: SandboxPool | undefined;
  const sandbox = (): SandboxPool => (pool ??= createSandboxPool({
    workers: config.actions.workers, fetchAllow: config.actions.fetchAllow, logger,
  }));
  const lazyPool: SandboxPool = {
    runChain: (req) => sandbox().runChain(req),
    validate: (code, handlers, limits) => sandbox().validate(code, handlers, limits),
    stats: () => (pool ? pool.stats() : { workers: 0, restarts: 0, queued: 0 }),
    close: async () => { await pool?.close(); },
  };
  const actionStore = createActionStore(db, box, config.actions, async (compiled, handlers) => {
    const r = await lazyPool.validate(compiled, handlers, { actionTimeoutMs: Math.min(config.actions.actionTimeoutMs, 2000), memoryMb: config.actions.memoryMb });
    return r.ok ? null : r.message;
  });
  const actionEngine = createActionEngine({ db, store: actionStore, pool: lazyPool, logger, config: { ...config.actions, issuer: config.issuer } });
  const triggers = createTriggerRunners({
    db, engine: actionEngine, users, logger, issuer: config.issuer, roleNames: (id) => users.roleNames(id), otpEnrolled: (id) => mfa.isEnrolled(id),
  });
  const hooks: ProviderHooks = {
    async accountClaims(ctx, accountId, use) {
      const clientId = ctx.oidc.client?.clientId;
      if (!clientId || (use !== 'id_token' && use !== 'userinfo')) return undefined;
      return (await triggers.loginClaims(accountId, clientId))?.idToken;
    },
    async extraTokenClaims(ctx, token) {
      const t = token as { kind?: string; accountId?: string; scope?: string; resourceServer?: { identifier?: string; audience?: string } };
      if (t.kind === 'ClientCredentials') return triggers.credentialsExchange(ctx, t);
      if (t.kind === 'AccessToken' && t.accountId && ctx.oidc.client) {
        if ((ctx.oidc.params as Record<string, unknown> | undefined)?.grant_type === 'refresh_token') {
          const o = await triggers.postLoginRefresh(ctx, t.accountId);
          if (o) return { ...o.accessTokenClaims };
        }
        return (await triggers.loginClaims(t.accountId, ctx.oidc.client.clientId))?.accessToken;
      }
      return undefined;
    },
    async postLoginPending(ctx) {
      if ((ctx.oidc.result as { gatehouse?: { postLogin?: boolean } } | undefined)?.gatehouse?.postLogin) return false;
      if (!(await triggers.hasPostLogin())) return false;
      if (!ctx.oidc.prompts.has('none')) return true;
      // prompt=none: run the chain now, without redirects or MFA (those need the user).
      const accountId = ctx.oidc.session?.accountId;
      const user = accountId ? await users.get(accountId) : undefined;
      const client = ctx.oidc.client ? await clients.get(ctx.oidc.client.clientId) : undefined;
      if (!user || !client) return true;
      const amr = (ctx.oidc.session as unknown as { amr?: string[] } | undefined)?.amr ?? ['pwd'];
      const at = new Date(((ctx.oidc.session as unknown as { loginTs?: number })?.loginTs ?? Date.now() / 1000) * 1000).toISOString();
      const p = ctx.oidc.params as Record<string, unknown>;
      const o = await triggers.postLogin({
        user, client, ctx: ctx as never, canRedirect: false,
        methods: [{ name: 'pwd', timestamp: at }, ...(amr.includes('otp') ? [{ name: 'mfa', timestamp: at }] : [])],
        transaction: { protocol: 'oidc-basic-profile', requested_scopes: typeof p.scope === 'string' ? p.scope.split(' ') : [], redirect_uri: p.redirect_uri, state: p.state, audience: p.audience ?? p.resource },
      });
      if (o.blocked) {
        const { errors } = await import('oidc-provider');
        throw new errors.AccessDenied(o.blocked.kind === 'denied' ? o.blocked.reason : 'a post-login action failed');
      }
      const mfaNeeded = (o.mfa.pauseAfter !== undefined || !!o.mfa.enable) && !amr.includes('otp');
      return !!o.redirect || mfaNeeded;
    },
    async adjustGrant(ctx, grant) {
      const accountId = ctx.oidc.session?.accountId;
      const clientId = ctx.oidc.client?.clientId;
      if (!accountId || !clientId) return;
      const s = (await triggers.loginClaims(accountId, clientId))?.scopes;
      if (!s || (!s.add.length && !s.remove.length)) return;
      for (const indicator of Object.keys(ctx.oidc.resourceServers ?? {})) {
        if (s.add.length) grant.addResourceScope(indicator, s.add.join(' '));
        if (s.remove.length) grant.rejectResourceScope(indicator, s.remove.join(' '));
      }
    },
  };
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
    config, logger, db, box, urls, hasher, users, bruteForce, checkPassword, roles, clients, resourceServers, audit, keys, settings, hooks, csrfKey,
    actions: { store: actionStore, engine: actionEngine, triggers, pool: lazyPool },
    mfa, mail, emailTokens,
    /** Set by the MFA module to render its part of the account page. */
    accountMfaSection: undefined as AccountMfaSection | undefined,
    /** Flow events other modules fire (the Management API's password change, for one). */
    events: {
      passwordChanged: async (userId: string) => {
        const u = await users.get(userId);
        if (u) triggers.postChangePassword(undefined, u);
      },
    },
    get provider() { return providerState.provider; },
    refreshKeys,
    async close() { await mail.close(); await lazyPool.close(); await db.destroy(); },
  };
}
export type AppContext = Awaited<ReturnType<typeof createContext>>;
