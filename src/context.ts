import type { Config } from './config/schema.ts';
import { acquireStartupLock, openDatabase, type Db } from './db/knex.ts';
import { migrateLatestLocked } from './db/migrate.ts';
import { createLogger, type Logger } from './shared/logger.ts';
import { createSecretBox } from './shared/secret-box.ts';
import { apiIdentifier, createUrls } from './shared/urls.ts';
import { createPasswordHasher, MAX_FLOOR_MS } from './users/passwords.ts';
import { createHashClasses } from './users/hash-classes.ts';
import { createUsers } from './users/users.ts';
import { createBruteForce } from './users/brute-force.ts';
import { createRequestLimits } from './users/request-limits.ts';
import { createRememberedBrowsers } from './mfa/remember.ts';
import { createPasswordLogin } from './users/password-login.ts';
import { createRoles } from './roles/roles.ts';
import { createPermissions } from './roles/permissions.ts';
import { createClients } from './clients/clients.ts';
import { createResourceServers } from './clients/resource-servers.ts';
import { createAudit } from './audit/audit.ts';
import { createKeyStore, keyActivationDelayMs } from './oidc/keys.ts';
import { createProvider } from './oidc/provider.ts';
import { createSettings, loadSecretsKey } from './settings.ts';
import { MANAGEMENT_SCOPES } from './management-api/scopes.ts';
import { createSandboxPool } from './actions/sandbox/index.ts';
import type { SandboxPool } from './actions/sandbox/types.ts';
import { createActionStore } from './actions/engine/store.ts';
import { createActionEngine } from './actions/engine/engine.ts';
import { createTriggerRunners } from './actions/triggers/run.ts';
import { createGrants } from './oidc/grants.ts';
import { triggerRegistry } from './actions/triggers/definitions.ts';
import { createProviderHooks } from './oidc/hooks.ts';
import { createMfa } from './mfa/mfa.ts';
import { queueCodeAlertMail } from './mail/notices.ts';
import { safeEqual } from './shared/safe-equal.ts';
import { createMailer, type Mailer } from './mail/mailer.ts';
import { createEmailTokens } from './users/email-tokens.ts';
import type { Context } from 'koa';
import type { User } from './users/users.ts';
import type { SafeHtml } from '../views/html.ts';
import { createClientCredentials } from './clients/credentials.ts';
import { createLogStreams } from './audit/log-streams.ts';
import { createEmailTemplates } from './mail/templates.ts';
import { createOrganizations } from './organizations/organizations.ts';
import { createBranding } from './branding/branding.ts';
import { createBackchannelLogout, type BackchannelLogout, type EndedSession } from './oidc/backchannel.ts';
import type { BackchannelInitiator } from './clients/clients.ts';

/** Renders the MFA part of /account (filled in by the MFA module); absent: no section. */
export type AccountMfaSection = (ctx: Context, user: User) => SafeHtml | undefined | Promise<SafeHtml | undefined>;

/**
 * The one composition root: config → db → queries/libraries → provider. Everything else
 * receives what it needs from here.
 *
 * `serving`: the server is starting (src/server.ts), not a CLI command: only then does the
 * bootstrap admin client take the configured secret (a CLI run from a shell with another value
 * in its environment must not change the running server's admin secret).
 */
export async function createContext(config: Config, opts: { logger?: Logger; migrate?: boolean; serving?: boolean } = {}) {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const secretsKey = loadSecretsKey(config.secretsKey, config.dataDir, logger);
  const db: Db = openDatabase(config.databaseUrl);
  const box = createSecretBox(secretsKey);
  const settings = createSettings(db, box);
  // The steps that can find the database unusable (a failed migration, another secrets key)
  // come first, before anything starts a timer: a start that stops here closes the database
  // and leaves nothing running (a test process, or the CLI, exits).
  let cookieKeys: string[];
  let csrfKey: Buffer;
  const urls = createUrls(config.issuer);
  const hasher = createPasswordHasher(config.argon2, undefined, {
    onFloorCapped: (wantedMs) => logger.warn({ wanted_ms: wantedMs, floor_ms: MAX_FLOOR_MS }, 'imported password hashes verify slower than the floor allows: their users answer slower than an unknown address until they sign in (and get argon2id)'),
    onWorkerError: (err) => logger.error({ err }, 'a bcrypt worker thread failed: that sign-in was refused'),
  });
  const hashClasses = createHashClasses(db, hasher);
  // Back-channel logout needs the provider, built further down: the sessions Gatehouse ends are handed to it once it exists.
  let backchannel: BackchannelLogout | undefined;
  const sessionsEnded = (sessions: EndedSession[], initiator: BackchannelInitiator | BackchannelInitiator[]) => backchannel?.sessionsEnded(sessions, initiator);
  const users = createUsers(db, hasher, config.password, { sessionsEnded });
  const bruteForce = createBruteForce(db, config.bruteForce);
  const requestLimits = createRequestLimits(db, { ...config.bruteForce, userCodeFailuresPerIpPerHour: config.deviceFlow.userCodeFailuresPerIpPerHour });
  const roles = createRoles(db);
  const permissions = createPermissions(db);
  const clients = createClients(db, box, config.keys.defaultAlg);
  const clientCredentials = createClientCredentials(db, (id) => clients.forget(id));
  const logStreams = createLogStreams({ db, box, logger, allowHosts: config.logStreams.allowHosts });
  const emailTemplates = createEmailTemplates(db, logger);
  const organizations = createOrganizations(db);
  const branding = createBranding(db);
  const resourceServers = createResourceServers(db, { signingAlg: config.keys.defaultAlg, tokenLifetime: config.tokens.accessTokenTtl });
  const audit = createAudit(db, logger);
  const checkPassword = createPasswordLogin({ users, hasher, bruteForce, audit, maxPasswordBytes: config.password.maxLength * 4 });
  const mfa = createMfa(db, box, {
    maxFailures: config.mfa.maxFailures, lockSeconds: config.mfa.lockSeconds, issuerLabel: config.mfa.issuerLabel ?? config.appName,
    onReplay: (userId) => queueCodeAlertMail({ mail, config, urls, users }, userId, 'reused'),
    onLock: (userId) => queueCodeAlertMail({ mail, config, urls, users }, userId, 'locked'),
  });
  const keys = createKeyStore(db, box, { activationDelayMs: keyActivationDelayMs(config, db) });
  const emailTokens = createEmailTokens(db);

  // PostgreSQL: one node at a time from here until the system rows exist (acquireStartupLock).
  let releaseStartup: () => Promise<void> = async () => {};
  try {
    releaseStartup = await acquireStartupLock(db, (holder) => logger.warn({ holder }, 'waiting for another node to finish starting (migrations, first keys): start-up runs one node at a time'));
    if (opts.migrate !== false) {
      const applied = await migrateLatestLocked(db, (what) => logger.warn({ repaired: what }, 'database migration lock repaired (a run that ended early, or nodes that once started together)'));
      if (applied.length > 0) logger.info({ migrations: applied }, `database migrated: applied ${applied.length} migration${applied.length === 1 ? '' : 's'}`);
    }
    cookieKeys = JSON.parse(await settings.sealedOrCreate('cookie_keys', () => JSON.stringify([
      (globalThis.crypto.getRandomValues(new Uint8Array(32)) as Uint8Array).reduce((s, b) => s + b.toString(16).padStart(2, '0'), ''),
    ]))) as string[];
    // The pages' branding, read once before the first page (it is cached from there on).
    await branding.get();
    csrfKey = Buffer.from(await settings.sealedOrCreate('csrf_key', () => Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(32))).toString('base64')), 'base64');
    if (opts.serving) {
      // Users whose hashes verify in another time than the dummy's (imported, or older argon2
      // settings): every verify is held to the slowest of them (createPasswordHasher's floor).
      // Their parameter sets go to password_hash_classes, which every node reads again at each sweep.
      const foreign: string[] = await db('users').whereNotNull('password_hash').andWhere('password_hash', 'not like', `${hasher.ownPrefix}%`).pluck('password_hash');
      await hashClasses.prune(foreign);
      await hashClasses.record(foreign);
      const floorMs = await hashClasses.apply();
      if (floorMs > 0) logger.info({ users: foreign.length, floor_ms: floorMs }, 'users with imported or older password hashes (replaced at their next sign-in): every password check takes at least floor_ms meanwhile');
    }
    const demoted = await keys.ensure();
    if (demoted.length) logger.warn({ kids: demoted }, 'several current signing keys for one algorithm (nodes that started together on an earlier version): all but the newest are now previous');
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
    await releaseStartup();
  } catch (e) {
    await releaseStartup().catch(() => { /* the connection goes with the pool */ });
    await db.destroy().catch(() => { /* the first error is the one to report */ });
    throw e;
  }

  // Its queue's timer starts here; a start that fails after this closes it (the provider below).
  // Mail goes through SMTP when configured, else to <dataDir>/outbox/, by way of the mail_queue
  // table, which keeps a message until it was delivered (see src/mail/mailer.ts).
  let mail: Mailer;
  try {
    mail = createMailer({ smtpUrl: config.smtpUrl, from: config.email.from, dataDir: config.dataDir, logger, queue: { db, box } });
  } catch (e) {
    await db.destroy().catch(() => { /* the first error is the one to report */ });
    throw e;
  }

  // Actions: the sandbox pool (child processes) starts on first use, so CLI commands that
  // never run an action never spawn workers.
  let pool: SandboxPool | undefined;
  const sandbox = (): SandboxPool => (pool ??= createSandboxPool({
    workers: config.actions.workers, fetchAllow: config.actions.fetchAllow, issuer: config.issuer, logger,
  }));
  const lazyPool: SandboxPool = {
    runChain: (req) => sandbox().runChain(req),
    validate: (code, handlers, limits) => sandbox().validate(code, handlers, limits),
    stats: () => (pool ? pool.stats() : { workers: 0, ready: 0, restarts: 0, queued: 0 }),
    close: async () => { await pool?.close(); },
  };
  const actionStore = createActionStore(db, box, config.actions, async (compiled, handlers) => {
    // The module's top level gets what an execution gets (a top-level endless loop is refused
    // when that runs out): 2 s had failed a plain deploy on a machine busy enough (a CI run).
    const r = await lazyPool.validate(compiled, handlers, { actionTimeoutMs: config.actions.actionTimeoutMs, memoryMb: config.actions.memoryMb });
    return r.ok ? null : r.message;
  }, triggerRegistry);
  const actionEngine = createActionEngine({ db, store: actionStore, pool: lazyPool, logger, config: { ...config.actions, issuer: config.issuer }, triggers: triggerRegistry });
  const triggers = createTriggerRunners({
    db, engine: actionEngine, users, logger, issuer: config.issuer, sessionTtl: config.tokens.sessionTtl, sessionMaxTtl: config.tokens.sessionMaxTtl, roleNames: (id) => users.roleNames(id),
    memberRoleNames: async (org, id) => (await organizations.memberRoles(org, id)).map((r) => r.name), otpEnrolled: (id) => mfa.isEnrolled(id),
    sessionsEnded, organization: (id) => organizations.get(id),
  });
  const rememberedBrowsers = createRememberedBrowsers(db, csrfKey, config.mfa.rememberBrowserDays);
  const hooks = createProviderHooks({
    config, triggers, users, clients, mfa, rememberedBrowsers, managementAudience: urls.managementAudience,
    rbacApiScopes: async (indicator) => {
      const rs = await resourceServers.byIdentifier(apiIdentifier(indicator));
      return rs?.enforce_policies ? rs.scopes.map((x) => x.value) : undefined;
    },
  });
  backchannel = createBackchannelLogout({ provider: () => providerState.provider, audit, logger });
  // The version first, then the keys: a change in between makes the first poll rebuild (the
  // other order could tag old keys with the new version, and no poll would ever rebuild).
  let providerState: { provider: ReturnType<typeof createProvider>; keysVersion: string };
  try {
    const keysVersion = await keys.version();
    providerState = { provider: await buildProvider(), keysVersion };
  } catch (e) {
    await mail.close().catch(() => { /* the first error is the one to report */ });
    await db.destroy().catch(() => { /* the first error is the one to report */ });
    throw e;
  }

  async function buildProvider() {
    const provider = createProvider({
      config, db, users, clients, resourceServers, permissions, requestLimits, organizations, audit, logger, urls, hooks, cookieKeys,
      jwks: await keys.privateJwks(config.keys.defaultAlg),
    });
    backchannel!.inBackground(provider);
    return provider;
  }

  /**
   * Rebuilds the provider when signing keys changed (here or on another node). One at a time:
   * a poll's rebuild that read the keys before a rotation must not finish after the rotation's
   * own and put the old keys back.
   */
  let refreshing: Promise<void> = Promise.resolve();
  /** A poll queued behind a running refresh: later polls join it rather than pile up. */
  let queuedPoll: Promise<void> | null = null;
  let refreshGeneration = 0;
  function refreshKeys(force = false): Promise<void> {
    if (!force && queuedPoll) return queuedPoll;
    const run = refreshing.catch(() => {}).then(() => {
      if (!force) queuedPoll = null;
      // A query that never answers must not hold every later refresh (rotations' included).
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('signing key refresh timed out after 10 s')), 10_000); });
      const mine = ++refreshGeneration;
      const work = (async () => {
        const v = await keys.version();
        if (force || v !== providerState.keysVersion) {
          const provider = await buildProvider();
          // Timed out meanwhile and a later refresh ran: its keys are the newer ones.
          if (mine !== refreshGeneration) return;
          providerState.provider = provider;
          providerState.keysVersion = v;
          logger.info({ keys: v }, 'signing keys reloaded');
        }
      })();
      return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
    });
    if (!force) queuedPoll = run;
    refreshing = run;
    return run;
  }

  async function ensureBootstrapAdmin() {
    const { clientId, clientSecret } = config.bootstrapAdmin;
    if (!clientId || !clientSecret) {
      if (clientId || clientSecret) logger.warn({ client_id: clientId }, 'GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID and GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET go together: with only one set, no bootstrap admin client is made or checked');
      return;
    }
    if (await clients.get(clientId)) {
      // The environment's secret is the one that works: a client made with a secret nobody kept
      // takes the configured one when the server next starts (the Management API does not rotate
      // this client's secret: src/management-api/clients.ts).
      const stored = (await clients.findClientMetadata(clientId))?.client_secret;
      if (opts.serving && typeof stored === 'string' && !safeEqual(stored, clientSecret)) {
        await clients.rotateSecret(clientId, clientSecret);
        logger.warn({ client_id: clientId }, 'the bootstrap admin client\'s secret differed from GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET: it now takes the configured one');
        await audit.record({ type: 'sapi', description: 'Bootstrap admin client secret set from GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET at start', client_id: clientId, details: { secret_rotated: true } });
      } else if (typeof stored !== 'string') {
        logger.warn({ client_id: clientId }, 'the bootstrap admin client has no secret (it was made public): it cannot get Management API tokens');
      }
      // Its grant is protected in the Management API; one removed in the database is put back,
      // and scopes added to the Management API since it was made are added to it.
      const { client_grants: found } = await resourceServers.grants.list({ page: 0, perPage: 1, clientId, audience: urls.managementAudience });
      if (found.length === 0) {
        await resourceServers.grants.create({ client_id: clientId, audience: urls.managementAudience, scope: [...MANAGEMENT_SCOPES] });
        logger.warn({ client_id: clientId }, 'the bootstrap admin client had no Management API grant: restored it');
      } else if (MANAGEMENT_SCOPES.some((s) => !found[0].scope.includes(s))) {
        await resourceServers.grants.update(found[0].id, [...new Set([...found[0].scope, ...MANAGEMENT_SCOPES])]);
        logger.info({ client_id: clientId }, 'added new Management API scopes to the bootstrap admin\'s grant');
      }
      return;
    }
    await clients.create({ client_id: clientId, client_secret: clientSecret, name: 'Bootstrap admin', app_type: 'non_interactive' }, { system: true });
    await resourceServers.grants.create({ client_id: clientId, audience: urls.managementAudience, scope: [...MANAGEMENT_SCOPES] });
    logger.info({ client_id: clientId }, 'created the bootstrap admin client');
  }

  return {
    config, logger, db, box, urls, hasher, hashClasses, users, bruteForce, requestLimits, checkPassword, roles, permissions, clients, resourceServers, audit, keys, settings, hooks, csrfKey,
    /** Auth0's tenant branding for the pages (src/branding/branding.ts). */
    branding,
    /** Auth0's organizations, their members and member roles (src/organizations/organizations.ts). */
    organizations,
    /** Auth0's email templates (src/mail/templates.ts). */
    emailTemplates,
    /** Auth0's log streams: the audit log pushed to HTTP endpoints (src/audit/log-streams.ts). */
    logStreams,
    /** Applications' public keys for Private Key JWT (src/clients/credentials.ts). */
    clientCredentials,
    /** Back-channel logout for the sessions Gatehouse ends itself (an expiry, found by the sweep, for one). */
    backchannel,
    /** What users granted applications (oidc-provider Grants) and the tokens under each. */
    grants: createGrants(db),
    actions: { store: actionStore, engine: actionEngine, triggers, pool: lazyPool },
    mfa, mail, emailTokens, rememberedBrowsers,
    /** Set by the MFA module to render its part of the account page. */
    accountMfaSection: undefined as AccountMfaSection | undefined,
    /** Flow events other modules fire (the Management API's password change, for one). */
    events: {
      passwordChanged: async (userId: string, ctx?: Context) => {
        const u = await users.get(userId);
        if (u) triggers.postChangePassword(ctx, u);
      },
      /** A user created by an admin (Management API, CLI): post-user-registration, as for a sign-up. Never rejects. */
      userCreated: (user: User) => triggers.postUserRegistration(undefined, user),
    },
    get provider() { return providerState.provider; },
    /** The signing keys the provider was built with (src/oidc/keys.ts version): verifiers of our own tokens reload when it changes. */
    get keysVersion() { return providerState.keysVersion; },
    refreshKeys,
    async close() { await actionEngine.flush(); await mail.close(); await lazyPool.close(); await hasher.close(); await db.destroy(); },
  };
}
export type AppContext = Awaited<ReturnType<typeof createContext>>;
