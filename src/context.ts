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
import { createTriggerRunners, loginRef } from './actions/triggers/run.ts';
import { createGrants } from './oidc/grants.ts';
import { ChainRefusal } from './actions/triggers/refusal.ts';
import { triggerRegistry } from './actions/triggers/definitions.ts';
import { mfaRequiredByPolicy } from './interactions/mfa-policy.ts';
import { createMfa } from './mfa/mfa.ts';
import { createMailer } from './mail/mailer.ts';
import { createEmailTokens } from './users/email-tokens.ts';
import type { Context } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
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
  const clients = createClients(db, box, config.keys.defaultAlg);
  const resourceServers = createResourceServers(db, { signingAlg: config.keys.defaultAlg, tokenLifetime: config.tokens.accessTokenTtl });
  const audit = createAudit(db, logger);
  const checkPassword = createPasswordLogin({ users, hasher, bruteForce, audit, maxPasswordBytes: config.password.maxLength * 4 });
  const mfa = createMfa(db, box, { maxFailures: config.mfa.maxFailures, lockSeconds: config.mfa.lockSeconds, issuerLabel: config.mfa.issuerLabel ?? config.appName });
  const keys = createKeyStore(db, box);
  await keys.ensure();
  // Mail goes through SMTP when configured, else to <dataDir>/outbox/, by way of the mail_queue
  // table, which keeps a message until it was delivered (see src/mail/mailer.ts).
  const mail = createMailer({ smtpUrl: config.smtpUrl, from: config.email.from, dataDir: config.dataDir, logger, queue: { db, box } });
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
    stats: () => (pool ? pool.stats() : { workers: 0, ready: 0, restarts: 0, queued: 0 }),
    close: async () => { await pool?.close(); },
  };
  const actionStore = createActionStore(db, box, config.actions, async (compiled, handlers) => {
    const r = await lazyPool.validate(compiled, handlers, { actionTimeoutMs: Math.min(config.actions.actionTimeoutMs, 2000), memoryMb: config.actions.memoryMb });
    return r.ok ? null : r.message;
  }, triggerRegistry);
  const actionEngine = createActionEngine({ db, store: actionStore, pool: lazyPool, logger, config: { ...config.actions, issuer: config.issuer }, triggers: triggerRegistry });
  const triggers = createTriggerRunners({
    db, engine: actionEngine, users, logger, issuer: config.issuer, roleNames: (id) => users.roleNames(id), otpEnrolled: (id) => mfa.isEnrolled(id),
  });
  /**
   * post-login's outcome for a refresh-token grant, decided in beforeRefresh (before oidc-provider
   * consumes the refresh token) and used by extraTokenClaims of the same request: one run per refresh.
   */
  const refreshOutcomes = new WeakMap<object, Awaited<ReturnType<typeof triggers.postLoginRefresh>> | null>();
  /** The login a token belongs to, by the session uid every code, access and refresh token of it carries. */
  function tokenLoginRef(ctx: KoaContextWithOIDC, token?: { sessionUid?: string }) {
    const e = ctx.oidc.entities as Record<string, { sessionUid?: string } | undefined>;
    const uid = token?.sessionUid ?? e.AuthorizationCode?.sessionUid ?? e.RefreshToken?.sessionUid ?? e.AccessToken?.sessionUid;
    return uid ? loginRef.session(uid) : undefined;
  }
  /** An authorization resumes from the interaction that ran post-login: that login's claims become its session's. */
  async function adoptLoginClaims(ctx: KoaContextWithOIDC) {
    const ref = (ctx.oidc.result as { gatehouse?: { claimsRef?: unknown } } | undefined)?.gatehouse?.claimsRef;
    const accountId = ctx.oidc.session?.accountId;
    const clientId = ctx.oidc.client?.clientId;
    const uid = ctx.oidc.session?.uid;
    if (typeof ref === 'string' && accountId && clientId && uid) await triggers.bindLoginClaims(accountId, clientId, ref, loginRef.session(uid));
  }
  /**
   * A post-login chain's scope changes on a grant, for the resource servers of this request:
   * removals replace the ones an earlier login made (Gatehouse rejects scopes on a grant only
   * for actions: removeScope holds for the login that asked, not for the session after it), and
   * additions are added.
   */
  function applyScopeChanges(grant: unknown, indicators: string[], s: { add: string[]; remove: string[] } | undefined) {
    const g = grant as { rejected?: { resources?: Record<string, unknown> }; addResourceScope(i: string, s: string): void; rejectResourceScope(i: string, s: string): void };
    for (const indicator of indicators) {
      if (g.rejected?.resources) delete g.rejected.resources[indicator];
      if (s?.add.length) g.addResourceScope(indicator, s.add.join(' '));
      if (s?.remove.length) g.rejectResourceScope(indicator, s.remove.join(' '));
    }
  }
  type TokenForClaims = { kind?: string; accountId?: string; sessionUid?: string; scope?: string; resourceServer?: { identifier?: string; audience?: string } };
  /** Claims post-login gave a user's access token (for a refresh: decided in beforeRefresh). */
  async function userTokenClaims(ctx: KoaContextWithOIDC, t: TokenForClaims) {
    if (t.kind === 'AccessToken' && t.accountId && ctx.oidc.client) {
      if ((ctx.oidc.params as Record<string, unknown> | undefined)?.grant_type === 'refresh_token') {
        // Normally decided in beforeRefresh; run here only if that hook did not run for this request.
        const o = refreshOutcomes.has(ctx) ? refreshOutcomes.get(ctx) : await triggers.postLoginRefresh(ctx, t.accountId);
        return o ? { ...o.accessTokenClaims } : undefined;
      }
      return (await triggers.loginClaims(t.accountId, ctx.oidc.client.clientId, tokenLoginRef(ctx, t)))?.accessToken;
    }
    return undefined;
  }
  const hooks: ProviderHooks = {
    async accountClaims(ctx, accountId, use) {
      const clientId = ctx.oidc.client?.clientId;
      if (!clientId || (use !== 'id_token' && use !== 'userinfo')) return undefined;
      return (await triggers.loginClaims(accountId, clientId, tokenLoginRef(ctx)))?.idToken;
    },
    extraTokenClaims(ctx, token) {
      const t = token as TokenForClaims;
      // Not async: client_credentials with nothing bound answers at once.
      return t.kind === 'ClientCredentials' ? triggers.credentialsExchange(ctx, t) : userTokenClaims(ctx, t);
    },
    async beforeRefresh(ctx) {
      // A deny or a failure throws (AccessDenied) from here, while the refresh token is still unused.
      const e = ctx.oidc.entities as { RefreshToken?: { accountId?: string }; Grant?: { resources?: Record<string, unknown> } };
      const accountId = e.RefreshToken?.accountId;
      if (!accountId || !ctx.oidc.client) return;
      const o = (await triggers.postLoginRefresh(ctx, accountId)) ?? null;
      refreshOutcomes.set(ctx, o);
      // The chain that ran for this refresh decides its scopes, as at login: oidc-provider reads
      // the access token's scopes from this Grant after this hook (changed here, not saved).
      if (o && e.Grant) applyScopeChanges(e.Grant, Object.keys(e.Grant.resources ?? {}), { add: o.scopesAdd, remove: o.scopesRemove });
    },
    async postLoginPending(ctx) {
      if ((ctx.oidc.result as { gatehouse?: { postLogin?: boolean } } | undefined)?.gatehouse?.postLogin) {
        await adoptLoginClaims(ctx);
        return false;
      }
      const accountId = ctx.oidc.session?.accountId;
      const session = ctx.oidc.session as unknown as { amr?: string[]; loginTs?: number; uid: string } | undefined;
      const amr = session?.amr ?? ['pwd'];
      const p = ctx.oidc.params as Record<string, unknown>;
      // A session answers this authorization: it must already have the second factor that the
      // policy or acr_values require (the rule needMfa applies after the password), bindings or
      // not. Interactive: the post-login step runs the (possibly empty) chain and asks for it;
      // prompt=none: interaction_required.
      if (accountId && !amr.includes('otp') && await mfaRequiredByPolicy({ policy: config.mfa.policy, acrValues: p.acr_values, enrolled: () => mfa.isEnrolled(accountId) })) return true;
      if (!(await triggers.hasPostLogin())) return false;
      if (!ctx.oidc.prompts.has('none')) return true;
      // prompt=none: run the chain now, without redirects or MFA (those need the user).
      const user = accountId ? await users.get(accountId) : undefined;
      const client = ctx.oidc.client ? await clients.get(ctx.oidc.client.clientId) : undefined;
      if (!user || !client || !session) return true;
      const at = new Date((session.loginTs ?? Date.now() / 1000) * 1000).toISOString();
      const o = await triggers.postLogin({
        user, client, ctx: ctx as never, canRedirect: false, loginRef: loginRef.session(session.uid),
        methods: [{ name: 'pwd', timestamp: at }, ...(amr.includes('otp') ? [{ name: 'mfa', timestamp: at }] : [])],
        transaction: { protocol: 'oidc-basic-profile', requested_scopes: typeof p.scope === 'string' ? p.scope.split(' ') : [], redirect_uri: p.redirect_uri, state: p.state, audience: p.audience ?? p.resource },
      });
      if (o.blocked) throw new ChainRefusal({ error: 'access_denied', description: o.blocked.kind === 'denied' ? o.blocked.reason : 'a post-login action failed' });
      const mfaNeeded = (o.mfa.pauseAfter !== undefined || !!o.mfa.enable) && !amr.includes('otp');
      return !!o.redirect || mfaNeeded;
    },
    async adjustGrant(ctx, grant) {
      const accountId = ctx.oidc.session?.accountId;
      const clientId = ctx.oidc.client?.clientId;
      if (!accountId || !clientId) return;
      // Runs before the prompt checks: bind a just-finished login's claims first, so its scopes count.
      await adoptLoginClaims(ctx);
      const uid = ctx.oidc.session?.uid;
      const s = (await triggers.loginClaims(accountId, clientId, uid ? loginRef.session(uid) : undefined))?.scopes;
      // Also with no changes: a removal an earlier login of this session made is undone.
      applyScopeChanges(grant, Object.keys(ctx.oidc.resourceServers ?? {}), s);
      // addScope grants a scope the client did not ask for too, as Auth0 does, when the API the
      // token is for defines it: oidc-provider issues the requested scopes the grant holds, so
      // the added ones join the request's. (Not OpenID scopes: those would change the ID token.)
      if (s?.add.length) {
        const defined = new Set(Object.values(ctx.oidc.resourceServers ?? {}).flatMap((rs) => String((rs as { scope?: string }).scope ?? '').split(' ')));
        const params = ctx.oidc.params as Record<string, unknown>;
        const requested = new Set(String(params.scope ?? '').split(' ').filter(Boolean));
        const extra = s.add.filter((x) => defined.has(x) && !requested.has(x));
        if (extra.length) params.scope = [...requested, ...extra].join(' ');
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
    if (await clients.get(clientId)) {
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
    config, logger, db, box, urls, hasher, users, bruteForce, checkPassword, roles, clients, resourceServers, audit, keys, settings, hooks, csrfKey,
    /** What users granted applications (oidc-provider Grants) and the tokens under each. */
    grants: createGrants(db),
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
      /** A user created by an admin (Management API, CLI): post-user-registration, as for a sign-up. Never rejects. */
      userCreated: (user: User) => triggers.postUserRegistration(undefined, user),
    },
    get provider() { return providerState.provider; },
    refreshKeys,
    async close() { await actionEngine.flush(); await mail.close(); await lazyPool.close(); await db.destroy(); },
  };
}
export type AppContext = Awaited<ReturnType<typeof createContext>>;
