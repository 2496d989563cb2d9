import { apiIdentifier } from '../../shared/urls.ts';
import type { Context } from 'koa';
import { createHash } from 'node:crypto';
import { ChainRefusal } from './refusal.ts';
import type { Db } from '../../db/knex.ts';
import type { EndedSession } from '../../oidc/backchannel.ts';
import { isSqlite, parseJson } from '../../db/knex.ts';
import type { Logger } from '../../shared/logger.ts';
import { METADATA_MAX_BYTES, metadataBytes, type User, type Users } from '../../users/users.ts';
import type { ActionEngine, ActionRef, ChainOutcome } from '../engine/engine.ts';
import { CONNECTION, clientInfo, requestInfo, tenant, userInfo } from './events.ts';
import { randomId } from '../../shared/ids.ts';
import { sessionDevices, sessionFacts } from './session-facts.ts';
import { applyMetadataChange, type MetadataChange } from '../../oidc/token-family.ts';
import { refreshTokenFacts, type StoredRefreshToken } from './refresh-token-facts.ts';
import { SESSION_METADATA_KEYS } from '../engine/contract.ts';

type Obj = Record<string, unknown>;
/** What Gatehouse keeps beside an OIDC session, by its uid: its device, recorded methods and metadata. */
const SESSION_SIDE_TABLES = ['session_devices', 'session_methods', 'session_metadata'] as const;

/**
 * Which login a row of post-login claims belongs to: the interaction that ran the chain, until
 * the authorization it belongs to resumes; then the OIDC session, whose uid every code, access
 * and refresh token of that login carries (`sessionUid`), and the APIs that authorization was
 * for (the `resource` its code and refresh tokens carry): one session answers authorizations
 * for several APIs, often at once (an SPA asking for a token per API), and each runs the chain
 * for its own API. Keyed by the session alone, the run that finished last decided the claims of
 * every code not exchanged yet.
 */
export const loginRef = {
  interaction: (uid: string) => `interaction:${uid}`,
  session: (uid: string, resources?: unknown) => {
    const list = resourceList(resources);
    // Hashed: API identifiers are URLs of any length, and the column holds 255 characters.
    return list.length === 0 ? `session:${uid}` : `session:${uid}:${createHash('sha256').update(list.join('\n')).digest('base64url').slice(0, 22)}`;
  },
};

/** An authorization's APIs as a sorted list: oidc-provider keeps one as a string and several as an array. */
function resourceList(r: unknown): string[] {
  if (typeof r === 'string') return r === '' ? [] : [r];
  if (!Array.isArray(r)) return [];
  return [...new Set(r.filter((x): x is string => typeof x === 'string' && x !== ''))].sort();
}

/** What post-login decided for the tokens and the session of one login (action_login_claims). */
interface LoginClaims { idToken: Obj; accessToken: Obj; scopes: { add: string[]; remove: string[] }; lifetimes?: ChainOutcome['lifetimes']; methods?: string[]; sessionMetadata?: ChainOutcome['sessionMetadata'] }
type CcToken = { scope?: string; resourceServer?: { identifier?: string; audience?: string } };

/**
 * What the token-endpoint triggers read of oidc-provider's request context (src/oidc passes its
 * own, which has these and more): the triggers do not import oidc-provider (DESIGN.md).
 */
interface TokenRequestContext extends Context {
  oidc: { client?: { clientId: string }; requestParamScopes?: Set<string>; entities: object; params?: object };
}
type PostLoginArgs = { user: User; client?: { client_id: string; name: string; client_metadata?: Record<string, string> }; ctx: Context; transaction: Obj; sessionId?: string; authParams?: Obj; methods: { name: string; timestamp: string }[]; loginRef: string; startAt?: number; resumeOf?: ActionRef & { index: number }; continueFirst?: boolean; event?: Obj; redirectState?: string; nextRedirectState?: string; canRedirect?: boolean; deadlineAt?: number; signIn?: boolean };

interface Deps {
  db: Db; engine: ActionEngine; users: Users; logger: Logger; issuer: string; sessionTtl: number; sessionMaxTtl: number; roleNames(userId: string): Promise<string[]>;
  /** The names of the roles a user has as a member of an organization. */
  memberRoleNames?(orgId: string, userId: string): Promise<string[]>; otpEnrolled?(userId: string): Promise<boolean>;
  /** Sessions just revoked (their stored payloads), for back-channel logout (src/oidc/backchannel.ts). */
  sessionsEnded?(sessions: EndedSession[], initiator: 'session-revoked'): void;
  /** An organization by id, for event.organization (a login to one: `organization=`, or a refresh token issued in one). */
  organization?(id: string): Promise<{ id: string; name: string; display_name: string; metadata: Record<string, string> } | undefined>;
}

/**
 * The call sites' side of each trigger: build the Auth0-shaped `event`, run the chain, and
 * turn the outcome into what the flow does next. Flows call these (Kratos' rule: the flow
 * owns its hooks); the engine never imports a flow.
 */
export function createTriggerRunners(d: Deps) {
  const { db, engine, users, logger } = d;

  /**
   * Merges the keys the chain set into the user's stored metadata: keys it did not touch keep
   * what is stored now (an admin may have changed them while a login was paused at a redirect).
   */
  async function writeMetadata(userId: string, o: ChainOutcome) {
    if (!o.metadataPatch) return;
    const r = await users.patchMetadata(userId, o.metadataPatch);
    if (!r.saved) logger.warn({ user_id: userId, execution: o.executionId }, 'metadata set by actions not saved: the user is gone');
    // (The names only: a value may be anything an action wrote.)
    else if (r.skipped.length > 0) logger.warn({ user_id: userId, execution: o.executionId, keys: r.skipped }, `metadata set by actions not saved for ${r.skipped.length} key(s): the metadata stored now would pass its ${METADATA_MAX_BYTES}-byte limit`);
  }

  /**
   * One row per (user, client, login `ref`): another login of the same user at the same client
   * (another device), or a refresh there, never touches this login's claims.
   */
  async function storeLoginClaims(accountId: string, clientId: string, ref: string, o: ChainOutcome) {
    await db('action_login_claims').insert({
      account_id: accountId, client_id: clientId, id_token: JSON.stringify(o.idTokenClaims), access_token: JSON.stringify(o.accessTokenClaims),
      scopes: JSON.stringify({ add: o.scopesAdd, remove: o.scopesRemove }), lifetimes: o.lifetimes ? JSON.stringify(o.lifetimes) : null,
      methods: o.recordedMethods?.length ? JSON.stringify(o.recordedMethods) : null,
      session_metadata: o.sessionMetadata ? JSON.stringify(o.sessionMetadata) : null, updated_at: Date.now(), login_ref: ref,
    }).onConflict(['account_id', 'client_id', 'login_ref']).merge();
  }

  /**
   * What api.session.revoke and api.refreshToken.revoke asked for along with their deny, applied
   * when the deny is decided, never later (a client must not be able to skip it by not following
   * a redirect). The session: unless `preserveRefreshTokens`, every grant its applications hold
   * (and the refresh token's own, for a refresh whose session is gone) with the refresh and
   * access tokens and codes issued under them; its device record; and the session itself, or,
   * `keepSessionRow` (an interactive login, whose authorization must still resume on it to carry
   * the deny back to the application), its account and applications, which signs it out. The
   * refresh token: the one being exchanged, which no later exchange may use.
   */
  async function applyRevocation(o: ChainOutcome, at: { sessionUid?: string; refreshTokenId?: string; grantId?: string; userId: string; keepSessionRow?: boolean }) {
    const r = o.blocked?.kind === 'denied' ? o.blocked.revoke : undefined;
    if (!r) return;
    if (r.session) await revokeSession(at.sessionUid, r.session.preserveRefreshTokens, at, o.executionId);
    if (r.refreshToken && at.refreshTokenId) {
      await db('oidc_payloads').where({ type: 'RefreshToken', id: at.refreshTokenId }).delete();
      logger.info({ user_id: at.userId, execution: o.executionId }, 'refresh token revoked by a post-login action');
    }
  }
  async function revokeSession(uid: string | undefined, preserveRefreshTokens: boolean, at: { grantId?: string; userId: string; keepSessionRow?: boolean }, executionId: string | null, by = 'a post-login action') {
    const ended: EndedSession[] = [];
    await db.transaction(async (trx) => {
      const rows: { id: string; payload: string; expires_at: unknown }[] = uid ? await trx('oidc_payloads').where({ type: 'Session', uid }).select('id', 'payload', 'expires_at') : [];
      const grantIds = new Set<string>(at.grantId ? [at.grantId] : []);
      for (const row of rows) {
        const p = parseJson<{ accountId?: unknown; authorizations?: Record<string, { grantId?: unknown } | null> }>(row.payload, {});
        // Only this user's: a session the browser holds for someone else is not the login's to end.
        if (p.accountId !== undefined && p.accountId !== at.userId) return;
        for (const a of Object.values(p.authorizations ?? {})) if (typeof a?.grantId === 'string') grantIds.add(a.grantId);
        ended.push(p as EndedSession);
      }
      let tokens = 0;
      if (!preserveRefreshTokens) {
        const ids = [...grantIds];
        for (let i = 0; i < ids.length; i += 200) {
          // The tokens and codes issued under them (not the interaction under way, which shares the grant id).
          tokens += await trx('oidc_payloads').whereIn('grant_id', ids.slice(i, i + 200)).whereIn('type', ['RefreshToken', 'AccessToken', 'AuthorizationCode']).delete();
          await trx('oidc_payloads').where({ type: 'Grant' }).whereIn('id', ids.slice(i, i + 200)).delete();
        }
      }
      if (uid) {
        await forgetSession(uid, trx);
        // A request that loaded this session before now must not save its copy back when it
        // ends (src/oidc/adapter.ts refuses to save a revoked login), for as long as the session lives.
        if (rows.length > 0) {
          const until = Math.max(...rows.map((r) => Number(r.expires_at) || 0), Date.now() + 86_400_000);
          await trx('oidc_payloads').insert({ id: uid, type: 'RevokedSession', payload: JSON.stringify({ revokedAt: Date.now() }), grant_id: null, user_code: null, uid: null, account_id: null, expires_at: until, consumed_at: null })
            .onConflict(['type', 'id']).merge();
        }
        if (!at.keepSessionRow) await trx('oidc_payloads').where({ type: 'Session', uid }).delete();
        else {
          for (const row of rows) {
            const p = parseJson<Record<string, unknown>>(row.payload, {});
            for (const k of ['accountId', 'authorizations', 'loginTs', 'amr', 'acr']) delete p[k];
            await trx('oidc_payloads').where({ type: 'Session', id: row.id }).update({ payload: JSON.stringify(p), account_id: null });
          }
        }
      }
      logger.info({ user_id: at.userId, execution: executionId, grants: preserveRefreshTokens ? 0 : grantIds.size, tokens, refresh_tokens_kept: preserveRefreshTokens }, `session revoked by ${by}`);
    });
    // Once it is stored: the applications that signed in on it hear of it (back-channel logout).
    d.sessionsEnded?.(ended, 'session-revoked');
  }

  /** A login finished on session `uid` from this request: its device (the first one, and the last). */
  async function recordSessionDevice(uid: string, ip: string, userAgent: string) {
    const now = Date.now();
    const v = { last_ip: ip.slice(0, 64), last_user_agent: userAgent.slice(0, 512), updated_at: now };
    await db('session_devices').insert({ session_uid: uid, initial_ip: v.last_ip, initial_user_agent: v.last_user_agent, created_at: now, ...v }).onConflict('session_uid').merge(v);
  }

  async function credentialsExchange(ctx: TokenRequestContext, token: CcToken, bound: boolean | Promise<boolean>) {
    if (!(await bound)) return undefined;
    const c = ctx.oidc.client!;
    const audience = token.resourceServer?.audience ?? token.resourceServer?.identifier;
    const event: Obj = {
      client: clientInfo({ client_id: c.clientId, name: String((c as unknown as Obj).clientName ?? ''), client_metadata: (c as unknown as Obj)['urn:gatehouse:metadata'] as Record<string, string> }),
      request: requestInfo(ctx as unknown as Context), tenant: tenant(d.issuer),
      transaction: { requested_scopes: [...(ctx.oidc.requestParamScopes ?? [])] },
      resource_server: audience ? { identifier: audience } : undefined,
      accessToken: { scope: token.scope ? token.scope.split(' ') : [], customClaims: {} },
    };
    const o = await engine.run('credentials-exchange', event);
    if (o.blocked?.kind === 'denied') {
      if (o.blocked.code === 'invalid_scope') throw new ChainRefusal({ error: 'invalid_scope', description: o.blocked.reason, scope: token.scope ?? '' });
      if (o.blocked.code === 'invalid_request') throw new ChainRefusal({ error: 'invalid_request', description: o.blocked.reason });
      throw new ChainRefusal({ error: 'server_error', description: o.blocked.reason });
    }
    if (o.blocked) throw new ChainRefusal({ error: 'server_error', description: 'a credentials-exchange action failed' });
    return { ...o.accessTokenClaims };
  }

  /**
   * Auth0's event.session: the OIDC session's times and applications, and the device it started
   * on and was last signed in from (session_devices, kept here: oidc-provider's session holds only
   * its own fields), as before this request: a login records its request only once it succeeded
   * (recordSessionDevice), so a denied attempt never becomes the session's last device.
   */
  async function sessionInfo(uid: string, o: { ip: string; userAgent: string; loginAt: string; signIn: boolean; userId: string }): Promise<Obj> {
    const row: { payload: string } | undefined = await db('oidc_payloads').where({ type: 'Session', uid }).first('payload');
    const f = sessionFacts(row?.payload, d.sessionMaxTtl);
    const signedIn = f.signedIn;
    const dev = (await sessionDevices(db, [uid])).get(uid);
    // A session this login signs in starts on this device. A signed-in session with no record
    // (signed in before a post-login action was bound, or swept) has an unknown one: left out,
    // never guessed from the request (which may be the one to judge).
    const device = dev ?? (signedIn ? undefined : { initial_ip: o.ip.slice(0, 64), initial_user_agent: o.userAgent.slice(0, 512), last_ip: o.ip.slice(0, 64), last_user_agent: o.userAgent.slice(0, 512) });
    const now = Date.now();
    const loginAt = Math.floor(Date.parse(o.loginAt) / 1000);
    // This login signs the user in on the session (a password just now, the caller says): its
    // times are the ones the session will have once the authorization resumes.
    const signIn = (o.signIn || !signedIn) && loginAt > 0;
    const iso = (s: number) => new Date(s * 1000).toISOString();
    const ends = signIn
      ? { expires_at: iso(loginAt + d.sessionMaxTtl), idle_expires_at: iso(Math.min(Math.floor(now / 1000) + d.sessionTtl, loginAt + d.sessionMaxTtl)) }
      : { ...(f.expires_at ? { expires_at: f.expires_at } : {}), ...(f.idle_expires_at ? { idle_expires_at: f.idle_expires_at } : {}) };
    return {
      id: uid, created_at: f.created_at ?? new Date(now).toISOString(), updated_at: new Date(now).toISOString(),
      // The last time the user signed in on this session: this login when it signs in.
      authenticated_at: signIn ? iso(loginAt) : f.authenticated_at ?? o.loginAt,
      ...ends,
      // api.session.setMetadata: what this user's logins on this session kept (none for another user's).
      metadata: await sessionMetadataOf(uid, o.userId),
      clients: f.clients,
      ...(device ? { device: { initial_ip: device.initial_ip, initial_user_agent: device.initial_user_agent, last_ip: device.last_ip, last_user_agent: device.last_user_agent } } : {}),
    };
  }

  async function postLoginEvent(user: User, o: { client?: { client_id: string; name: string; client_metadata?: Record<string, string> }; ctx?: Context; transaction: Obj; sessionId?: string; methods: { name: string; timestamp: string }[]; authParams?: Obj; refreshToken?: Obj; signIn?: boolean; organizationId?: string }) {
    const request = o.authParams ? requestInfo(o.ctx, { query: o.authParams, body: {}, method: 'GET' }) : requestInfo(o.ctx);
    const session = o.sessionId
      ? await sessionInfo(o.sessionId, { ip: String(request.ip ?? ''), userAgent: String(request.user_agent ?? ''), loginAt: o.methods[0]?.timestamp ?? new Date().toISOString(), signIn: o.signIn === true, userId: user.user_id })
      : {};
    // Methods actions recorded in this session (api.authentication.recordMethod), after the login's own.
    const recorded: { name: string; recorded_at: unknown }[] = o.sessionId ? await db('session_methods').where({ session_uid: o.sessionId, user_id: user.user_id }).orderBy('recorded_at').select('name', 'recorded_at') : [];
    const methods = [...o.methods, ...recorded.filter((m) => !o.methods.some((x) => x.name === m.name)).map((m) => ({ name: m.name, timestamp: new Date(Number(m.recorded_at)).toISOString() }))];
    const organization = await organizationOf(o.organizationId ?? (typeof o.authParams?.organization === 'string' ? o.authParams.organization : undefined));
    return {
      user: userInfo(user, { otpEnrolled: await d.otpEnrolled?.(user.user_id) }),
      // Signed in to an organization: the roles the user has as its member, which are the ones
      // that apply there (Auth0's, as for the access token's permissions).
      authorization: { roles: organization && d.memberRoleNames ? await d.memberRoleNames(organization.id, user.user_id) : await d.roleNames(user.user_id) },
      // Auth0's transaction metadata starts empty for each login (api.transaction.setMetadata).
      client: clientInfo(o.client), request, transaction: { ...o.transaction, metadata: {} },
      authentication: { methods }, stats: { logins_count: user.logins_count },
      session, connection: CONNECTION, tenant: tenant(d.issuer),
      organization,
      resource_server: typeof o.transaction.audience === 'string' ? { identifier: o.transaction.audience } : undefined,
      ...(o.refreshToken ? { refresh_token: o.refreshToken } : {}),
    } as Obj;
  }

  /** event.organization in Auth0's shape, for the organization a login signs in to (none: undefined). */
  async function organizationOf(id: string | undefined) {
    const org = id ? await d.organization?.(id) : undefined;
    return org ? { id: org.id, name: org.name, display_name: org.display_name, metadata: { ...org.metadata } } : undefined;
  }

  /** A non-blocking trigger after a user write committed: never rejects, failures are logged. */
  async function afterCommit(trigger: 'post-user-registration' | 'post-change-password', ctx: Context | undefined, user: User): Promise<void> {
    try {
      if (!(await engine.hasBindings(trigger))) return;
      await engine.run(trigger, { user: userInfo(user, { otpEnrolled: await d.otpEnrolled?.(user.user_id) }), request: requestInfo(ctx), connection: CONNECTION, tenant: tenant(d.issuer) });
    } catch (err) {
      logger.error({ err }, `${trigger} failed`);
    }
  }

  /**
   * Adds what an earlier part of the same login decided under this part's. (Claims and scope
   * changes are not added here: the engine's run goes on from them, RunOpts.earlier.)
   */
  function addEarlierPart(o: ChainOutcome, prev: LoginClaims) {
    // A later call replaces an earlier one, across the parts of a login as within one.
    const l = prev.lifetimes;
    if (l) {
      const md = mergeMetadataChanges(l.refreshToken?.metadata, o.lifetimes?.refreshToken?.metadata);
      o.lifetimes = { session: { ...l.session, ...o.lifetimes?.session }, refreshToken: { ...l.refreshToken, ...o.lifetimes?.refreshToken, ...(md ? { metadata: md } : {}) } };
    }
    if (prev.methods?.length) o.recordedMethods = [...new Set([...prev.methods, ...(o.recordedMethods ?? [])])];
    o.sessionMetadata = mergeMetadataChanges(prev.sessionMetadata, o.sessionMetadata);
  }
  /** A later part's metadata change after an earlier one's: an evict in the later one drops what came before. */
  function mergeMetadataChanges(earlier: MetadataChange | undefined, later: MetadataChange | undefined): MetadataChange | undefined {
    if (!earlier || later?.evict) return later;
    return { evict: earlier.evict, set: Object.assign(Object.create(null) as Record<string, string | null>, earlier.set, later?.set) };
  }
  const claimsOf = (o: ChainOutcome): LoginClaims => ({ idToken: o.idTokenClaims, accessToken: o.accessTokenClaims, scopes: { add: o.scopesAdd, remove: o.scopesRemove }, lifetimes: o.lifetimes, methods: o.recordedMethods, sessionMetadata: o.sessionMetadata });
  /** A stored row of action_login_claims, read. */
  const claimsRow = (r: { id_token: string; access_token: string; scopes: string; lifetimes?: string | null; methods?: string | null; session_metadata?: string | null }): LoginClaims => ({
    idToken: parseJson<Obj>(r.id_token, {}), accessToken: parseJson<Obj>(r.access_token, {}),
    scopes: parseJson<{ add: string[]; remove: string[] }>(r.scopes, { add: [], remove: [] }),
    lifetimes: r.lifetimes ? parseJson<NonNullable<ChainOutcome['lifetimes']>>(r.lifetimes, {}) : undefined,
    methods: r.methods ? parseJson<string[]>(r.methods, []) : undefined,
    sessionMetadata: r.session_metadata ? parseJson<NonNullable<ChainOutcome['sessionMetadata']>>(r.session_metadata, { evict: false, set: {} }) : undefined,
  });
  /** The metadata session `uid` keeps for `userId` (none when it was written for another user of the session). */
  async function sessionMetadataOf(uid: string, userId: string): Promise<Record<string, string>> {
    const row: { user_id: string; metadata: string } | undefined = await db('session_metadata').where({ session_uid: uid }).first('user_id', 'metadata');
    return row && row.user_id === userId ? parseJson<Record<string, string>>(row.metadata, {}) : {};
  }
  /**
   * What a chain wrote to the session's metadata (api.session.setMetadata…), applied to session
   * `uid` for `userId` (metadata kept for another user of that session is not theirs: replaced).
   */
  async function writeSessionMetadata(uid: string, userId: string, change: NonNullable<ChainOutcome['sessionMetadata']>) {
    // One write at a time per session (two logins of one session at once, a PATCH): the row is
    // made first if missing, then read locked (PostgreSQL; SQLite writes one at a time anyway).
    await db.transaction(async (trx) => {
      await trx('session_metadata').insert({ session_uid: uid, user_id: userId, metadata: '{}', updated_at: Date.now() }).onConflict('session_uid').ignore();
      const q = trx('session_metadata').where({ session_uid: uid });
      const row: { user_id: string; metadata: string } | undefined = await (isSqlite(trx) ? q : q.forUpdate()).first('user_id', 'metadata');
      const cur: Record<string, string> = row && row.user_id === userId && !change.evict ? parseJson<Record<string, string>>(row.metadata, {}) : {};
      // Each key's last call: deletions first, so a key set after another was deleted fits the cap as it did for the engine.
      const entries = Object.entries(change.set ?? {});
      for (const [k, v] of entries) if (v === null) delete cur[k];
      for (const [k, v] of entries) if (typeof v === 'string' && (Object.hasOwn(cur, k) || Object.keys(cur).length < SESSION_METADATA_KEYS)) cur[k] = v;
      if (Object.keys(cur).length === 0) { await trx('session_metadata').where({ session_uid: uid }).delete(); return; }
      // An upsert, not an update: a writer that deleted the row between the insert and the locked
      // read (an evict, a PATCH with {}) left nothing to update, and this write must still land.
      const v = { user_id: userId, metadata: JSON.stringify(cur), updated_at: Date.now() };
      await trx('session_metadata').insert({ session_uid: uid, ...v }).onConflict('session_uid').merge(v);
    });
  }
  /** A session ended (a logout, a revocation): what Gatehouse kept beside it goes too (`q`: the revocation's transaction). */
  async function forgetSession(uid: string, q: Db = db) {
    for (const table of SESSION_SIDE_TABLES) await q(table).where({ session_uid: uid }).delete();
  }

  /**
   * One part of a post-login chain: from `startAt` (0) to its end, a deny, a redirect or a pause
   * for MFA. `earlier`: the part before it in this same request (merged in memory); otherwise a
   * resumed part merges what its login stored. `store`: keep the claims under the login now.
   */
  async function postLoginPart(args: PostLoginArgs, o2: { store: boolean; earlier?: ChainOutcome }): Promise<ChainOutcome> {
    const event = args.event ?? await postLoginEvent(args.user, args);
    // A resumed chain (after a redirect or an MFA pause) adds to what the first part
    // produced, also when it resumes at the first action (startAt 0): that action's
    // onExecutePostLogin may have set claims before it redirected.
    const prev = o2.earlier ? claimsOf(o2.earlier)
      : args.startAt !== undefined && args.client ? await db('action_login_claims').where({ account_id: args.user.user_id, client_id: args.client.client_id, login_ref: args.loginRef }).first().then((r) => (r ? claimsRow(r) : undefined))
        : undefined;
    const pendingRt = prev?.lifetimes?.refreshToken?.metadata;
    const o = await engine.run('post-login', event, {
      startAt: args.startAt, resumeOf: args.resumeOf, continueFirst: args.continueFirst, canRedirect: args.canRedirect ?? true, redirectState: args.redirectState, nextRedirectState: args.nextRedirectState, deadlineAt: args.deadlineAt,
      ...(pendingRt ? { pendingRefreshTokenMetadata: applyMetadataChange({}, pendingRt) } : {}),
      ...(prev ? { earlier: { idTokenClaims: prev.idToken, accessTokenClaims: prev.accessToken, scopesAdd: prev.scopes.add, scopesRemove: prev.scopes.remove } } : {}),
    });
    await writeMetadata(args.user.user_id, o);
    if (o.blocked || !args.client) return o;
    // Nothing is bound: this login's tokens carry no action claims. Nothing to write, and no
    // earlier login's row to clear: loginClaims reads none while nothing is bound, and the store
    // drops them all when the last post-login binding goes.
    if (args.startAt === undefined && o.results.length === 0) return o;
    if (prev) addEarlierPart(o, prev);
    if (o2.store) await storeLoginClaims(args.user.user_id, args.client.client_id, args.loginRef, o);
    return o;
  }

  return {
    hasPostLogin: () => engine.hasBindings('post-login'),

    /** See applyRevocation and recordSessionDevice above; the call sites (interactions, src/oidc/hooks.ts) apply them. */
    applyRevocation,
    recordSessionDevice,
    writeSessionMetadata,
    forgetSession,
    /** Ends a user's session as api.session.revoke does (its applications' grants and tokens with it): the Management API's DELETE /sessions/{id}. */
    endSession: (uid: string, userId: string) => revokeSession(uid, false, { userId }, null, 'the Management API'),

    /**
     * post-login during an interactive login (or inline for prompt=none). Writes metadata once
     * at the end (also after a deny) and keeps the claims for the tokens of this login (`loginRef`).
     * A resumed chain passes `resumeOf`, the action that paused it (see the engine's RunOpts).
     */
    async postLogin(args: PostLoginArgs): Promise<ChainOutcome> {
      // Without interaction (prompt=none) a chain that stops at a redirect or a second factor
      // cannot resume: the authorization ends with interaction_required. So such a run stores
      // its claims once, at the end, only when the chain ran to it: a partial result must not
      // replace the session's complete claims. An interactive login stores each part (it resumes).
      const inline = args.canRedirect === false;
      let o = await postLoginPart(args, { store: !inline });
      // Whether anything ran (a last part after a pause by the chain's last action runs nothing).
      const ran = args.startAt !== undefined || o.results.length > 0;
      // A chain pauses after an action that asks for a second factor (challengeWith,
      // enrollWith). When this login already has one (a session that did MFA, a second pause
      // after the MFA step, /continue after it), there is nothing to ask: the rest of the chain
      // runs now. Finishing the login there instead would skip the later actions (a deny among
      // them). Each part starts after the one before, so this ends.
      while (!o.blocked && !o.redirect && o.mfa.pauseAfter !== undefined && args.methods.some((m) => m.name === 'mfa')) {
        const at = o.mfa.pauseAfter;
        o = await postLoginPart({
          ...args, event: o.event, startAt: at + 1, resumeOf: { index: at, actionId: o.mfa.pauseAction?.actionId ?? '', versionId: o.mfa.pauseAction?.versionId ?? '' },
          continueFirst: false, redirectState: args.nextRedirectState ?? args.redirectState, nextRedirectState: undefined,
          // One chain, one time budget: the parts share the first one's deadline.
          deadlineAt: o.deadlineAt,
        }, { store: !inline, earlier: o });
      }
      if (inline && ran && args.client && !o.blocked && !o.redirect && o.mfa.pauseAfter === undefined) {
        await storeLoginClaims(args.user.user_id, args.client.client_id, args.loginRef, o);
        // (Its session metadata is written by the caller once the authorization is answered: src/oidc/hooks.ts.)
      }
      return o;
    },

    /**
     * The claims post-login decided for this user at this client in the login `ref` (the
     * session the token or request belongs to), for ID token / userinfo / access token. None
     * when the row belongs to another login, or when no post-login action is bound any more
     * (claims of an unbound action must not ride on later tokens: nothing is read then, and the
     * store drops every row when the last post-login binding goes).
     */
    async loginClaims(accountId: string, clientId: string, ref: string | undefined) {
      // Unbound: no read (a login with nothing bound runs no SQL for claims; see the store).
      if (ref === undefined || !(await engine.hasBindings('post-login'))) return undefined;
      const r = await db('action_login_claims').where({ account_id: accountId, client_id: clientId, login_ref: ref }).first();
      return r ? claimsRow(r) : undefined;
    },

    /**
     * The authorization that ran post-login in interaction `fromRef` resumed in a session: the
     * claims of that login are now the session's (its tokens carry its uid). Idempotent. Answers
     * the session and refresh-token lifetimes that login's chain asked for, when it moved its claims.
     */
    async bindLoginClaims(accountId: string, clientId: string, fromRef: string, toRef: string, sessionUid: string): Promise<ChainOutcome['lifetimes']> {
      if (!(await engine.hasBindings('post-login'))) return undefined;
      const from = { account_id: accountId, client_id: clientId, login_ref: fromRef };
      const row = await db('action_login_claims').where(from).first('lifetimes', 'methods', 'session_metadata');
      if (!row) return undefined;
      // The session's earlier login there (a re-authentication in the same session) gives way.
      await db('action_login_claims').where({ account_id: accountId, client_id: clientId, login_ref: toRef }).delete();
      await db('action_login_claims').where(from).update({ login_ref: toRef, methods: null, session_metadata: null });
      // api.session.setMetadata…: the login finished in this user's session, which keeps it now.
      const sm = row.session_metadata ? parseJson<NonNullable<ChainOutcome['sessionMetadata']>>(row.session_metadata, { evict: false, set: {} }) : undefined;
      if (sm) await writeSessionMetadata(sessionUid, accountId, sm);
      // api.authentication.recordMethod: the login finished in this user's session, so the
      // methods it did are the session's now, for this user (a chain that denied, or a login
      // left unfinished, never gets here).
      const now = Date.now();
      for (const name of row.methods ? parseJson<string[]>(row.methods, []) : []) {
        if (typeof name !== 'string') continue;
        await db('session_methods').insert({ session_uid: sessionUid, user_id: accountId, name, recorded_at: now }).onConflict(['session_uid', 'name']).merge(['user_id', 'recorded_at']);
      }
      return row.lifetimes ? parseJson<NonNullable<ChainOutcome['lifetimes']>>(row.lifetimes, {}) : undefined;
    },

    /**
     * Drops claims no token can ask for any more (rows not written for `maxAgeMs`, a refresh
     * token's lifetime), devices of sessions unused that long, and what ended sessions left.
     */
    async sweepLoginClaims(maxAgeMs: number) {
      // The sessions' devices go with them: a session not used for its whole lifetime has expired.
      await db('session_devices').where('updated_at', '<', Date.now() - maxAgeMs).delete();
      // A session's recorded methods and metadata live as long as the session, however long ago
      // they were written (a new sign-in on it extends its life): swept once its row is gone.
      for (const table of SESSION_SIDE_TABLES.filter((t) => t !== 'session_devices')) {
        await db(table).whereNotExists(db('oidc_payloads').where({ type: 'Session' }).whereRaw('oidc_payloads.uid = ??', [`${table}.session_uid`])).delete();
      }
      return db('action_login_claims').where('updated_at', '<', Date.now() - maxAgeMs).delete();
    },

    /**
     * post-login again on a refresh-token grant: no redirect or MFA (canRedirect() is false).
     * Runs before the refresh token is consumed (rotateRefreshToken), so a failure leaves it usable.
     */
    async postLoginRefresh(ctx: TokenRequestContext, accountId: string) {
      const user = await users.get(accountId);
      const client = ctx.oidc.client ? { client_id: ctx.oidc.client.clientId, name: String((ctx.oidc.client as unknown as Obj).clientName ?? ''), client_metadata: (ctx.oidc.client as unknown as Obj)['urn:gatehouse:metadata'] as Record<string, string> } : undefined;
      if (!user || !client) return undefined;
      if (!(await engine.hasBindings('post-login'))) {
        // Refreshed tokens carry what the chain bound now decides, as they do when one is
        // bound: with none, the claims of an earlier login (perhaps from an action since
        // unbound) must not ride along, and loginClaims reads none while nothing is bound.
        return undefined;
      }
      // The login the refresh token came from: how it authenticated (an action that asks for a
      // second factor unless the login had one must see it had), its session, and the API and
      // scopes this refresh asks for (the token's own when the request names none).
      const entities = ctx.oidc.entities as { RefreshToken?: StoredRefreshToken & { jti?: string; grantId?: string; amr?: string[]; authTime?: number; sessionUid?: string; scope?: string; ghOrg?: string }; Grant?: { exp?: number } };
      const rt = entities.RefreshToken;
      const at = new Date((rt?.authTime ?? Math.floor(Date.now() / 1000)) * 1000).toISOString();
      const amr = Array.isArray(rt?.amr) ? rt.amr : ['pwd'];
      const p = ctx.oidc.params as Record<string, unknown> | undefined;
      const scopes = typeof p?.scope === 'string' && p.scope !== '' ? p.scope : rt?.scope ?? '';
      const resource = typeof p?.resource === 'string' ? p.resource : typeof rt?.resource === 'string' ? rt.resource : undefined;
      const audience = resource === undefined ? undefined : apiIdentifier(resource);
      // The token being exchanged as Auth0 shows it (refresh-token-facts.ts): its family's id, never its value.
      const facts = rt ? refreshTokenFacts(rt, { clientId: client.client_id, userId: user.user_id, grantExp: entities.Grant?.exp }) : undefined;
      const event = await postLoginEvent(user, {
        client, ctx: ctx as unknown as Context, sessionId: rt?.sessionUid,
        refreshToken: facts ? { ...facts } : undefined, organizationId: typeof rt?.ghOrg === 'string' ? rt.ghOrg : undefined,
        methods: [{ name: 'pwd', timestamp: at }, ...(amr.includes('otp') ? [{ name: 'mfa', timestamp: at }] : [])],
        transaction: { id: randomId(), protocol: 'oauth2-refresh-token', locale: 'en', requested_scopes: scopes.split(' ').filter(Boolean), acr_values: [], ui_locales: [], ...(audience ? { audience } : {}) },
      });
      let o = await engine.run('post-login', event, { canRedirect: false });
      await writeMetadata(user.user_id, o);
      // A second factor asked for (challengeWith, enrollWith) that the login already had: the rest
      // of the chain runs now, as it does at login (run's postLogin above).
      const hadMfa = amr.includes('otp');
      while (hadMfa && !o.blocked && !o.redirect && o.mfa.pauseAfter !== undefined) {
        const at = o.mfa.pauseAfter;
        const rest = await engine.run('post-login', o.event, {
          canRedirect: false, startAt: at + 1, deadlineAt: o.deadlineAt,
          resumeOf: { index: at, actionId: o.mfa.pauseAction?.actionId ?? '', versionId: o.mfa.pauseAction?.versionId ?? '' },
        });
        await writeMetadata(user.user_id, rest);
        addEarlierPart(rest, claimsOf(o));
        o = rest;
      }
      if (o.blocked) {
        await applyRevocation(o, { sessionUid: rt?.sessionUid, refreshTokenId: rt?.jti, grantId: rt?.grantId, userId: user.user_id });
        throw new ChainRefusal({ error: 'access_denied', description: o.blocked.kind === 'denied' ? o.blocked.reason : 'a post-login action failed' });
      }
      if (o.redirect) {
        throw new ChainRefusal({ error: 'access_denied', description: 'a post-login action requires interaction, which a refresh token grant cannot provide' });
      }
      // A second factor (asked for by challengeWith, enrollWith or multifactor.enable) that the
      // login this refresh token came from did not have: refused with Auth0's mfa_required, or a
      // refresh token from a password-only login would keep working where a new login now needs
      // the second factor. That includes a login a remembered browser let through without a
      // code (nothing in the token can tell it from one before MFA was asked for): as on Auth0,
      // an action that allows remembered browsers skips refreshes itself
      // (`if (event.transaction.protocol === 'oauth2-refresh-token') return;`).
      if (o.mfa.pauseAfter !== undefined || (o.mfa.enable && !hadMfa)) {
        throw new ChainRefusal({ error: 'mfa_required', description: 'a post-login action requires a second factor, which the login this refresh token came from did not have: sign in again' });
      }
      // The refresh's own tokens take the outcome in memory (src/oidc/hooks.ts refreshOutcomes); the
      // row is what later reads of this login find (userinfo), and it keeps the row from the sweep.
      // Without a session (none such here) there is no login to keep claims under.
      if (rt?.sessionUid) await storeLoginClaims(user.user_id, client.client_id, loginRef.session(rt.sessionUid, rt.resource), o);
      // The session the refresh token was issued in keeps its metadata, while it lives.
      if (rt?.sessionUid && o.sessionMetadata && await db('oidc_payloads').where({ type: 'Session', uid: rt.sessionUid, account_id: user.user_id }).first('id')) {
        await writeSessionMetadata(rt.sessionUid, user.user_id, o.sessionMetadata);
      }
      return o;
    },

    /**
     * credentials-exchange inside extraTokenClaims: custom claims, or a ChainRefusal (src/oidc maps it to the OAuth error). With nothing
     * bound (known from the cached chain) the answer is undefined at once, not a promise: this
     * runs on every client_credentials token request.
     */
    credentialsExchange(ctx: TokenRequestContext, token: CcToken) {
      const bound = engine.hasBindings('credentials-exchange');
      return bound === false ? undefined : credentialsExchange(ctx, token, bound);
    },

    /** pre-user-registration: deny (nothing written), validation error, or metadata for the new user. */
    /** `transaction`: the login the sign-up started from (loginTransaction), if any. */
    async preUserRegistration(ctx: Context, email: string, client?: { client_id: string; name: string; client_metadata?: Record<string, string> }, transaction: Obj = {}, profile: { user_metadata?: Obj; name?: string; given_name?: string; family_name?: string; nickname?: string; picture?: string } = {}) {
      if (!(await engine.hasBindings('pre-user-registration'))) return { ok: true as const };
      // `profile`: what a sign-up through Auth0's /dbconnections/signup sent (its user_metadata among it).
      const { user_metadata: givenMetadata, ...names } = profile;
      const event: Obj = {
        user: { email, ...names, app_metadata: {}, user_metadata: { ...(givenMetadata ?? {}) }, email_verified: false }, request: requestInfo(ctx), client: clientInfo(client),
        connection: CONNECTION, tenant: tenant(d.issuer), transaction,
      };
      const o = await engine.run('pre-user-registration', event);
      if (o.blocked?.kind === 'denied') return { ok: false as const, userMessage: o.blocked.userMessage ?? 'Sign-up is not allowed.' };
      if (o.validationError) return { ok: false as const, userMessage: o.validationError.message };
      if (o.blocked) return { ok: false as const, userMessage: 'We could not create your account right now. Try again later.' };
      // A new user's metadata has the cap every metadata object has (an action copying form fields
      // could store ~100 KB): the engine refuses each call that would pass it; this is the backstop.
      const tooBig = [o.appMetadata, o.userMetadata].some((m) => m !== undefined && metadataBytes(m) > METADATA_MAX_BYTES);
      if (tooBig) {
        logger.warn({ execution: o.executionId }, `pre-user-registration: the metadata the actions set is larger than ${METADATA_MAX_BYTES} bytes; sign-up refused`);
        return { ok: false as const, userMessage: 'We could not create your account right now. Try again later.' };
      }
      return { ok: true as const, appMetadata: o.appMetadata, userMetadata: o.userMetadata };
    },

    /** After the user row committed: never blocks the user, failures are logged. */
    postUserRegistration(ctx: Context | undefined, user: User): Promise<void> {
      return afterCommit('post-user-registration', ctx, user);
    },

    /** After a password change or reset committed, from every place a password changes. */
    postChangePassword(ctx: Context | undefined, user: User) {
      void afterCommit('post-change-password', ctx, user);
    },
  };
}
export type TriggerRunners = ReturnType<typeof createTriggerRunners>;
