import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { MANAGEMENT_GRANT_CLAIM } from '../shared/current-user-scopes.ts';
import type { Config } from '../config/schema.ts';
import type { Users } from '../users/users.ts';
import type { Clients } from '../clients/clients.ts';
import type { Mfa } from '../mfa/mfa.ts';
import type { RememberedBrowsers } from '../mfa/remember.ts';
import { loginRef, type TriggerRunners } from '../actions/triggers/run.ts';
import { ChainRefusal } from '../actions/triggers/refusal.ts';
import { loginTransaction } from '../actions/triggers/events.ts';
import { randomId } from '../shared/ids.ts';
import { markLoaded } from './adapter.ts';
import { mfaRequiredByPolicy } from './mfa-policy.ts';
import { authorizationQuery } from './authorization-query.ts';
import type { ProviderHooks } from './provider.ts';
import { applySessionRequest, earlierStoredLifetime, sessionTtl, type LifetimeRequest, type RefreshTokenRequest } from './lifetimes.ts';
type ChainLifetimes = { session?: LifetimeRequest; refreshToken?: RefreshTokenRequest };

/**
 * What Gatehouse adds at oidc-provider's seams (src/oidc/provider.ts calls these): post-login
 * claims into ID tokens, userinfo and access tokens; credentials-exchange claims; post-login on
 * refresh (decided before the refresh token is consumed); the post-login and MFA prompt of an
 * authorization answered by a session; the scope changes a chain made, on the grant.
 */
export function createProviderHooks(d: {
  config: Config; triggers: TriggerRunners; users: Users; clients: Clients; mfa: Mfa; rememberedBrowsers: RememberedBrowsers; managementAudience: string;
  /** Every scope of an API that enforces RBAC (its answer in this request is cut to the user's permissions); undefined for any other. */
  rbacApiScopes(indicator: string): Promise<string[] | undefined>;
}): ProviderHooks {
  const { config, triggers, users, clients, mfa, rememberedBrowsers, managementAudience } = d;
  /**
   * post-login's outcome for a refresh-token grant, decided in beforeRefresh (before oidc-provider
   * consumes the refresh token) and used by extraTokenClaims of the same request: one run per refresh.
   */
  const refreshOutcomes = new WeakMap<object, Awaited<ReturnType<typeof triggers.postLoginRefresh>> | null>();
  /** What this authorization's post-login asked for the refresh token its code will issue (codeRefreshLifetime puts it on the code). */
  const codeLifetimes = new WeakMap<object, RefreshTokenRequest>();
  /** What a silent authorization keeps once it is answered (authorizationAnswered). */
  const whenAnswered = new WeakMap<object, () => Promise<void>>();
  /** Requests whose login's claims were adopted already (adoptLoginClaims runs from two hooks). */
  const adopted = new WeakSet<object>();
  /**
   * The login a token belongs to: the session uid every code (a device code too), access and
   * refresh token of it carries, and the APIs of the authorization it came from (the code's,
   * which its refresh tokens keep; an access token for userinfo has none).
   */
  function tokenLoginRef(ctx: KoaContextWithOIDC, token?: { sessionUid?: string }) {
    const e = ctx.oidc.entities as Record<string, { sessionUid?: string; resource?: unknown } | undefined>;
    const from = e.AuthorizationCode ?? e.DeviceCode ?? e.RefreshToken ?? e.AccessToken;
    const uid = token?.sessionUid ?? from?.sessionUid;
    return uid ? loginRef.session(uid, from?.resource) : undefined;
  }
  /** The login an authorization request belongs to: its session, and the APIs its code will carry. */
  function authorizationLoginRef(ctx: KoaContextWithOIDC, uid: string) {
    return loginRef.session(uid, Object.keys(ctx.oidc.resourceServers ?? {}));
  }
  /** An authorization resumes from the interaction that ran post-login: that login's claims become its session's. */
  async function adoptLoginClaims(ctx: KoaContextWithOIDC) {
    // A second factor added to a session that answered keeps the sign-in's time (ts), and
    // oidc-provider checks max_age only when the result has no login: here, at every resume (also
    // after a consent step, or one followed late), a sign-in older than the request's max_age
    // cannot answer, and the application's retry asks for the password.
    const ts = (ctx.oidc.result as { login?: { ts?: unknown } } | undefined)?.login?.ts;
    const maxAge = (ctx.oidc.params as Record<string, unknown> | undefined)?.max_age;
    if (typeof ts === 'number' && maxAge !== undefined && ts + Number(maxAge) < Math.floor(Date.now() / 1000)) {
      throw new errors.LoginRequired('the sign-in is older than max_age allows: sign in again');
    }
    const g = (ctx.oidc.result as { gatehouse?: { claimsRef?: unknown; signIn?: unknown; lifetimes?: ChainLifetimes } } | undefined)?.gatehouse;
    const ref = g?.claimsRef;
    const accountId = ctx.oidc.session?.accountId;
    const clientId = ctx.oidc.client?.clientId;
    const uid = ctx.oidc.session?.uid;
    if (typeof ref !== 'string' || !accountId || !clientId || !uid || !g || adopted.has(ctx)) return;
    adopted.add(ctx);
    const moved = await triggers.bindLoginClaims(accountId, clientId, ref, authorizationLoginRef(ctx, uid), uid);
    // What the login's chain asked for stays in the interaction result: a later prompt of the
    // same authorization (consent) merges it into its own, and that resume applies it again
    // (it signs the user in again there, and issues the code).
    if (moved) g.lifetimes = moved;
    const lifetimes = g.lifetimes;
    const signIn = g.signIn === true;
    // oidc-provider gives a resumed session a new id, and its save deletes the stored copy before
    // the adapter could read it (adapter.ts keeps an earlier end stored meanwhile): an end a
    // refresh brought forward while the user was on the interaction's pages is taken over now.
    if (!signIn && ctx.oidc.session && triggers.hasPostLogin() !== false) {
      const stored = await ctx.oidc.provider.Session.findByUid(uid) as unknown as Record<string, unknown> | undefined;
      const earlier = stored ? earlierStoredLifetime(ctx.oidc.session as never, stored) : undefined;
      if (earlier) (ctx.oidc.session as unknown as { ghLifetime?: unknown }).ghLifetime = earlier;
    }
    // This resume saves the session: with the expiry the login's actions set (lifetimes.ts). A
    // sign-in's own chain sets its end; an authorization the session answered only brings it forward.
    applyToSession(ctx.oidc.session, lifetimes?.session, signIn);
    // And the code it issues carries the refresh-token request (provider.ts ttl.AuthorizationCode).
    if (lifetimes?.refreshToken) codeLifetimes.set(ctx, lifetimes.refreshToken);
  }
  /** api.session.setExpiresAt / setIdleExpiresAt on the session this request saves when it ends (oidc-provider's session middleware). */
  function applyToSession(session: unknown, req: LifetimeRequest | undefined, signIn: boolean) {
    if (!req || !session) return;
    const idleAt = applySessionRequest(session as never, req, { signIn, max: config.tokens.sessionMaxTtl });
    if (idleAt !== undefined) (session as { ghIdleAt?: number }).ghIdleAt = idleAt;
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
  type TokenForClaims = { kind?: string; accountId?: string; grantId?: string; sessionUid?: string; scope?: string; resourceServer?: { identifier?: string; audience?: string } };
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
  /**
   * The scope changes the post-login chain of this authorization's login stored (addScope,
   * removeScope), applied to its grant; also with none, which undoes an earlier login's removals.
   */
  async function applyStoredScopeChanges(ctx: KoaContextWithOIDC, grant: unknown) {
    const accountId = ctx.oidc.session?.accountId;
    const clientId = ctx.oidc.client?.clientId;
    if (!accountId || !clientId) return;
    // Runs before the prompt checks: bind a just-finished login's claims first, so its scopes count.
    await adoptLoginClaims(ctx);
    const uid = ctx.oidc.session?.uid;
    const s = (await triggers.loginClaims(accountId, clientId, uid ? authorizationLoginRef(ctx, uid) : undefined))?.scopes;
    // Also with no changes: a removal an earlier login of this session made is undone.
    applyScopeChanges(grant, Object.keys(ctx.oidc.resourceServers ?? {}), s);
    // addScope grants a scope the client did not ask for too, as Auth0 does, when the API the
    // token is for defines it: oidc-provider issues the requested scopes the grant holds, so
    // the added ones join the request's. (Not OpenID scopes: those would change the ID token.)
    if (s?.add.length) {
      // On an API that enforces RBAC this request's answer holds the user's permissions only,
      // and addScope overrides them (Auth0's rule): its own list of scopes decides there.
      const defined = new Set<string>();
      for (const [indicator, rs] of Object.entries(ctx.oidc.resourceServers ?? {})) {
        for (const x of (await d.rbacApiScopes(indicator)) ?? String((rs as { scope?: string }).scope ?? '').split(' ')) defined.add(x);
      }
      const params = ctx.oidc.params as Record<string, unknown>;
      const requested = new Set(String(params.scope ?? '').split(' ').filter(Boolean));
      const extra = s.add.filter((x) => defined.has(x) && !requested.has(x));
      if (extra.length) params.scope = [...requested, ...extra].join(' ');
    }
  }

  return {
    async accountClaims(ctx, accountId, use) {
      const clientId = ctx.oidc.client?.clientId;
      if (!clientId || (use !== 'id_token' && use !== 'userinfo')) return undefined;
      // A refresh's ID token: what the chain that ran for it (beforeRefresh) decided, not a read
      // of the row it just wrote.
      if (refreshOutcomes.has(ctx)) { const o = refreshOutcomes.get(ctx); return o ? { ...o.idTokenClaims } : undefined; }
      return (await triggers.loginClaims(accountId, clientId, tokenLoginRef(ctx)))?.idToken;
    },
    extraTokenClaims(ctx, token) {
      const t = token as TokenForClaims;
      if (t.kind !== 'ClientCredentials') {
        // A user's own Management API token names its grant (MANAGEMENT_GRANT_CLAIM), after any action's claims.
        if (t.kind === 'AccessToken' && t.resourceServer?.audience === managementAudience && typeof t.grantId === 'string') {
          const grantId = t.grantId;
          return userTokenClaims(ctx, t).then((c) => ({ ...c, [MANAGEMENT_GRANT_CLAIM]: grantId }));
        }
        return userTokenClaims(ctx, t);
      }
      // The system client's Management API token is how every recovery starts (as its secret and
      // grant cannot be changed through the API): no action can deny it or add to it, or one bad
      // credentials-exchange action would lock the administrators out of undoing it.
      if ((ctx.oidc.client as unknown as Record<string, unknown> | undefined)?.['urn:gatehouse:system'] === true && t.resourceServer?.audience === managementAudience) return undefined;
      // Not async: client_credentials with nothing bound answers at once.
      return triggers.credentialsExchange(ctx, t);
    },
    async beforeRefresh(ctx) {
      // A deny or a failure throws (a ChainRefusal, access_denied to the client) from here, while the refresh token is still unused.
      const e = ctx.oidc.entities as { RefreshToken?: { accountId?: string }; Grant?: { resources?: Record<string, unknown> } };
      const accountId = e.RefreshToken?.accountId;
      if (!accountId || !ctx.oidc.client) return;
      const o = (await triggers.postLoginRefresh(ctx, accountId)) ?? null;
      refreshOutcomes.set(ctx, o);
      // No browser session in this request: the session the refresh token belongs to is changed
      // where it is stored. Only brought forward: a refresh is not the browser's activity, so it
      // does not give the session more idle time.
      const sessionUid = (e.RefreshToken as { sessionUid?: string } | undefined)?.sessionUid;
      if (o?.lifetimes?.session && sessionUid) {
        const session = await ctx.oidc.provider.Session.findByUid(sessionUid) as unknown as ({ save(ttl: number): Promise<unknown>; loginTs?: number; exp?: number; ghIdleAt?: number } | undefined);
        if (session && session.loginTs !== undefined && typeof session.exp === 'number') {
          const left = session.exp - Math.floor(Date.now() / 1000);
          applyToSession(session, o.lifetimes.session, false);
          await session.save(Math.max(1, Math.min(left, sessionTtl(session, { idle: config.tokens.sessionTtl, max: config.tokens.sessionMaxTtl }, session.ghIdleAt))));
        }
      }
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
        user, client, ctx: ctx as never, canRedirect: false, loginRef: authorizationLoginRef(ctx, session.uid), authParams: authorizationQuery(p), sessionId: session.uid,
        methods: [{ name: 'pwd', timestamp: at }, ...(amr.includes('otp') ? [{ name: 'mfa', timestamp: at }] : [])],
        // No interaction to name it after: an id of its own, as Auth0 gives every transaction one.
        transaction: loginTransaction(p, randomId()),
      });
      if (o.blocked) {
        if (o.blocked.kind === 'denied' && o.blocked.revoke) {
          try {
            await triggers.applyRevocation(o, { sessionUid: session.uid, userId: accountId! });
          } finally {
            // oidc-provider must not save this request's copy of the session back when it ends
            // (also when the revocation failed part-way: the request answers with an error then).
            if (o.blocked.revoke.session) (ctx.oidc.session as unknown as { destroyed: boolean }).destroyed = true;
          }
        }
        throw new ChainRefusal({ error: 'access_denied', description: o.blocked.kind === 'denied' ? o.blocked.reason : 'a post-login action failed' });
      }
      // multifactor.enable that allows remembering the browser: a remembered one stands in for
      // the code, as at login (src/interactions/post-login.ts needMfa). Without it, every silent
      // renewal of a session a remembered browser made would need interaction.
      const enableNeeds = !!o.mfa.enable && !(o.mfa.enable.allowRememberBrowser && await rememberedBrowsers.isRemembered(ctx as never, accountId!));
      const mfaNeeded = (o.mfa.pauseAfter !== undefined || enableNeeds) && !amr.includes('otp');
      const needsUser = !!o.redirect || mfaNeeded;
      // The session answers this silent authorization: its last device is this request's.
      if (!needsUser) {
        const req = o.event.request as { ip?: unknown; user_agent?: unknown } | undefined;
        await triggers.recordSessionDevice(session.uid, String(req?.ip ?? ''), String(req?.user_agent ?? ''));
        applyToSession(ctx.oidc.session, o.lifetimes?.session, false);
        if (o.lifetimes?.refreshToken) codeLifetimes.set(ctx, o.lifetimes.refreshToken);
        // Written once the authorization is answered (a consent still missing ends it in consent_required).
        if (o.sessionMetadata) { const sm = o.sessionMetadata; whenAnswered.set(ctx, () => triggers.writeSessionMetadata(session.uid, accountId!, sm)); }
        // This chain's scope changes (stored by it just now) on the grant the code will come from:
        // adjustGrant left them for now (see there).
        // Only the grant loadExistingGrant answered with (it has an id): the placeholder oidc-provider
        // makes for an application the user never consented to stays empty (consent_required).
        const grant = ctx.oidc.grant as unknown as { jti?: string; save(): Promise<unknown> } | undefined;
        if (grant?.jti) {
          markLoaded(grant);
          await applyStoredScopeChanges(ctx, grant);
          await grant.save();
        }
      }
      return needsUser;
    },
    // Bound post-login actions are what can revoke (a binding made in the last second may not be
    // seen yet: hasPostLogin's cache; a pending answer counts as bound).
    sessionsMayBeRevoked: () => triggers.hasPostLogin() !== false,
    sessionEnded: (uid) => triggers.forgetSession(uid),
    async authorizationAnswered(ctx) {
      const write = whenAnswered.get(ctx);
      whenAnswered.delete(ctx);
      if (write) await write();
    },
    refreshTokenLifetime: (ctx) => refreshOutcomes.get(ctx)?.lifetimes?.refreshToken,
    codeRefreshLifetime: (ctx) => codeLifetimes.get(ctx),
    async adjustGrant(ctx, grant) {
      // A silent authorization whose own chain runs inline (postLoginPending): its scopes come
      // from that chain, applied once it has run. What the session's previous chain stored (in
      // another organization, or before a change the chain would no longer make) is not this
      // authorization's.
      // Likewise any authorization before its chain ran (interactive: the post-login step runs it,
      // and this request's params, extended here, would be stored in its interaction).
      const ran = (ctx.oidc.result as { gatehouse?: { postLogin?: boolean } } | undefined)?.gatehouse?.postLogin === true;
      if (!ran && await triggers.hasPostLogin()) return;
      await applyStoredScopeChanges(ctx, grant);
    },
  };
}
