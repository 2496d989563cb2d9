import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { AppContext } from '../context.ts';
import type { ActionRef, ChainOutcome } from '../actions/engine/engine.ts';
import { AppError } from '../shared/errors.ts';
import { cookieName } from '../http/cookie-names.ts';
import { isSqlite } from '../db/knex.ts';
import { loginTransaction, requestInfo } from '../actions/triggers/events.ts';
import { loginRef } from '../actions/triggers/run.ts';
import { createMfaStep, type PendingMfa } from './mfa-step.ts';
import { MFA_ACR, mfaRequiredByPolicy } from '../oidc/mfa-policy.ts';
import { loginSessionUid } from '../oidc/login-session.ts';
import { authorizationQuery } from '../oidc/authorization-query.ts';

type Details = Awaited<ReturnType<AppContext['provider']['interactionDetails']>>;
/** An interaction the device flow started (oidc-provider names its device code on it). */
export const isDeviceFlow = (d: Details): boolean => typeof (d as unknown as { deviceCode?: unknown }).deviceCode === 'string';
type Obj = Record<string, unknown>;
const CONTINUE_TTL_MS = 10 * 60 * 1000;
const MFA_TTL_MS = 15 * 60 * 1000;
export { MFA_ACR };
/** `resumeAt`/`resumeAction`: where the paused chain goes on after the second factor, and the action that paused it. */
export interface MfaNeed { mode: 'challenge' | 'enroll'; resumeAt: number | null; resumeAction?: ActionRef; allowRememberBrowser: boolean }

/**
 * A second factor the chain asked for before it paused at a redirect, owed when it resumes
 * (`/continue`) whatever the rest of the chain does: `enable` (multifactor.enable before or in
 * the redirecting action), `challenge` (the redirecting action itself also asked for a
 * challenge or an enrollment; the chain has moved past it, so it is a plain requirement that a
 * remembered browser does not skip).
 */
interface OwedMfa { enable?: { provider: string; allowRememberBrowser: boolean }; challenge?: boolean }

/**
 * A chain paused by `api.redirect.sendUserTo`, as its continuation row keeps it.
 *
 * `posted`: forms POSTed to /continue for this state (kept here, not put in a URL), by a random
 * id that only the poster's browser holds (a cookie scoped to the interaction's resume path): a
 * stranger who learnt the state can add a form, but not make the user's resume read it.
 */
interface Continuation { userId: string; actionIndex: number; action?: ActionRef; event: Obj; methods: Obj[]; mfa?: OwedMfa; posted?: Record<string, Record<string, string>> }
/** What a POST to /continue may bring back (the body parser's own limit is larger), and how many such forms one state keeps. */
const POSTED_MAX_CHARS = 16 * 1024;
const POSTED_MAX_FORMS = 4;
/** The cookie naming the form this browser POSTed to /continue (see Continuation.posted); `__Secure-gh_continue` over TLS (path-scoped: cookie-names.ts). */
const POSTED_COOKIE = (ctx: Context) => cookieName(ctx, 'gh_continue', 'path');
/** Fields of a posted form an action is never given (ACTIONS.md: sensitive fields removed). Tokens stay: they are the action's own. */
const POSTED_DROP = /pass(word|wd)?|secret|^_csrf$|^state$|^posted$/i;

function owedMfa(o: ChainOutcome): OwedMfa | undefined {
  const owed: OwedMfa = {};
  if (o.mfa.enable) owed.enable = o.mfa.enable;
  if (o.mfa.pauseAfter !== undefined) owed.challenge = true;
  return owed.enable || owed.challenge ? owed : undefined;
}

/**
 * Adds what the first part of the chain asked for to the resumed part's outcome, before MFA is
 * decided. The resumed part may change the options of multifactor.enable, never drop the
 * requirement (an enable('none') after the redirect does not cancel one made before it).
 */
function applyOwedMfa(o: ChainOutcome, owed: OwedMfa | undefined) {
  if (!owed) return;
  const enable = o.mfa.enable ?? owed.enable ?? { provider: 'any', allowRememberBrowser: false };
  o.mfa.enable = owed.challenge ? { ...enable, allowRememberBrowser: false } : enable;
}

/**
 * The event a paused chain resumes with, its user's metadata as stored now: the earlier part's
 * writes were stored at the pause, and an admin's (or another login's) since then count too, for
 * what the actions see and for the cap their writes are checked against.
 */
function withStoredMetadata(event: Obj, user: { app_metadata?: unknown; user_metadata?: unknown }): Obj {
  const u = event.user;
  if (u === null || typeof u !== 'object') return event;
  return { ...event, user: { ...(u as Obj), app_metadata: user.app_metadata ?? {}, user_metadata: user.user_metadata ?? {} } };
}

/** Where a resumed chain must find the action that paused it (engine RunOpts.resumeOf); a row without one never matches. */
const resumeOf = (index: number, action: ActionRef | undefined) => ({ index, actionId: action?.actionId ?? '', versionId: action?.versionId ?? '' });

/**
 * The post-login step of an interactive login: runs the bound post-login chain after the
 * password (before the code is issued) and acts on the outcome: deny → `access_denied` to
 * the client; `redirect.sendUserTo` → the user leaves with a single-use `state` bound to this
 * interaction and comes back through `/continue`; otherwise the interaction finishes.
 */
export function createPostLoginStep(app: AppContext) {
  const { db, urls } = app;

  async function finish(ctx: Context, result: Obj, merge = false) {
    const redirectTo = await app.provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    ctx.status = 303;
    ctx.redirect(redirectTo);
  }

  const transaction = (d: Details): Obj => loginTransaction(d.params as Obj, d.uid, isDeviceFlow(d));

  async function act(ctx: Context, d: Details, userId: string, o: ChainOutcome, state: string, methods: Obj[]) {
    if (o.blocked) {
      const description = o.blocked.kind === 'denied' ? o.blocked.reason
        : o.blocked.kind === 'changed' ? o.blocked.message
          : 'Login was stopped because a post-login action failed';
      await app.audit.record({ type: 'f', description: `Login denied by post-login action: ${description}`, user_id: userId, client_id: String(d.params.client_id), ip: ctx.ip, details: { execution: o.executionId } });
      await finish(ctx, { error: 'access_denied', error_description: description });
      // api.session.revoke, now that the deny is stored for the resume: the session's grants and
      // tokens go, and the session is signed out but kept, for oidc-provider to resume the
      // authorization on it (it checks the interaction's session is still there) and send the
      // deny back to the application. Whether the browser follows that redirect changes nothing.
      const uid = sessionUidOf(o.event);
      if (o.blocked.kind === 'denied' && o.blocked.revoke) await app.actions.triggers.applyRevocation(o, { sessionUid: uid, userId, keepSessionRow: true });
      return;
    }
    if (o.redirect) {
      // A second factor asked for so far is owed after /continue: it is kept with the continuation.
      const saved: Continuation = { userId, actionIndex: o.redirect.actionIndex, action: o.redirect.action, event: o.event, methods, mfa: owedMfa(o) };
      await db('action_continuations').insert({
        state, interaction_uid: d.uid, expires_at: Date.now() + CONTINUE_TTL_MS, used_at: null, payload: JSON.stringify(saved),
      });
      const target = new URL(o.redirect.url);
      for (const [k, v] of Object.entries(o.redirect.query)) target.searchParams.set(k, v);
      target.searchParams.set('state', state);
      ctx.status = 303;
      ctx.redirect(target.href);
      return;
    }
    const need = await needMfa(ctx, d, userId, o, methods);
    if (need) return startMfa(ctx, d, userId, need, o.event, methods);
    await loginDone(ctx, sessionUidOf(o.event));
    return finish(ctx, loginResult(d, userId, methods), d.prompt.name === 'actions');
  }

  const sessionUidOf = (event: Obj | undefined): string | undefined => {
    const id = (event?.session as { id?: unknown } | undefined)?.id;
    return typeof id === 'string' ? id : undefined;
  };
  /** A login on session `uid` succeeded from this request: it is the session's last device (event.session.device). */
  async function loginDone(ctx: Context, uid: string | undefined) {
    if (!uid) return;
    const r = requestInfo(ctx);
    await app.actions.triggers.recordSessionDevice(uid, String(r.ip ?? ''), String(r.user_agent ?? ''));
  }

  /**
   * The interaction result. A password login (prompt `login`) logs in, with `amr`/`acr` claiming
   * MFA only when this login performed it. When an existing session answered (prompt
   * `actions`), it only records that post-login ran, unless MFA just happened: then the
   * session is refreshed with the stronger `amr`. `claimsRef` names the login whose post-login
   * claims this is: when the authorization resumes, they become its session's (adoptLoginClaims in src/oidc/hooks.ts).
   */
  function loginResult(d: Details, userId: string, methods: Obj[]) {
    const mfa = methods.some((m) => m.name === 'mfa');
    // A password was entered in this interaction (prompt `login`): a sign-in, which starts the
    // session's absolute lifetime afresh and renews its grant (src/oidc/lifetimes.ts, provider.ts).
    // A second factor added to a session that answered (prompt `actions`) is not: it keeps the
    // sign-in's time, or whoever holds the cookie could renew the session forever by enrolling.
    const signIn = d.prompt.name !== 'actions';
    // When the password this login rests on was checked: a password changed since ends the login
    // before it resumes (src/oidc/provider.ts, findLiveInteraction).
    const pwd = methods.find((m) => m.name === 'pwd');
    const passwordAt = typeof pwd?.timestamp === 'string' ? Date.parse(pwd.timestamp) : undefined;
    const gatehouse = { postLogin: true, claimsRef: loginRef.interaction(d.uid), signIn, ...(passwordAt ? { passwordAt } : {}) };
    if (!signIn && !mfa) return { gatehouse };
    // (Its max_age is checked when the authorization resumes: src/oidc/hooks.ts adoptLoginClaims.)
    const ts = signIn ? undefined : (d.session as { loginTs?: number } | undefined)?.loginTs;
    return { login: { accountId: userId, amr: mfa ? ['pwd', 'otp'] : ['pwd'], ...(mfa ? { acr: MFA_ACR } : {}), remember: true, ...(ts !== undefined ? { ts } : {}) }, gatehouse };
  }

  /**
   * Whether this login needs a second factor now: a post-login action asked for it
   * (challenge/enroll pause the chain; `multifactor.enable` at its end), the client asked with
   * `acr_values`, or the global policy says so (mfaRequiredByPolicy, the rule the session-reuse
   * check shares). Challenge when enrolled, else enroll. A remembered browser skips only what
   * an action's multifactor.enable asked for, never a pause, the policy or acr_values.
   */
  async function needMfa(ctx: Context, d: Details, userId: string, o: ChainOutcome | undefined, methods: Obj[]): Promise<MfaNeed | null> {
    if (methods.some((m) => m.name === 'mfa')) return null;
    const enrolled = await app.mfa.isEnrolled(userId);
    const paused = o?.mfa.pauseAfter !== undefined;
    const byPolicy = await mfaRequiredByPolicy({ policy: app.config.mfa.policy, acrValues: d.params.acr_values, enrolled: async () => enrolled });
    if (!paused && !o?.mfa.enable && !byPolicy) return null;
    const allowRememberBrowser = !paused && !byPolicy && !!o?.mfa.enable?.allowRememberBrowser;
    if (enrolled && allowRememberBrowser && await app.rememberedBrowsers.isRemembered(ctx, userId)) return null;
    return {
      mode: enrolled ? 'challenge' : 'enroll', resumeAt: paused ? o!.mfa.pauseAfter! + 1 : null,
      ...(paused ? { resumeAction: o!.mfa.pauseAction } : {}), allowRememberBrowser,
    };
  }

  async function startMfa(ctx: Context, d: Details, userId: string, need: MfaNeed, event: Obj | undefined, methods: Obj[]) {
    await db('mfa_pending').insert({
      interaction_uid: d.uid, user_id: userId, expires_at: Date.now() + MFA_TTL_MS,
      payload: JSON.stringify({ ...need, event: need.resumeAt !== null ? event : undefined, sessionUid: sessionUidOf(event), methods, verified: false }),
    }).onConflict('interaction_uid').merge();
    await app.audit.record({ type: 'gd_start', description: `Second factor required (${need.mode})`, user_id: userId, client_id: String(d.params.client_id), ip: ctx.ip, user_agent: ctx.get('user-agent') });
    ctx.status = 303;
    ctx.redirect(`${urls.mountPath}/interaction/${encodeURIComponent(d.uid)}/mfa`);
  }

  const mfaStep = createMfaStep(app, {
    /** After the second factor: the rest of a paused chain runs, then the login finishes. */
    async verified(ctx, d, userId, pending: PendingMfa) {
      const methods = [...pending.methods, { name: 'mfa', timestamp: new Date().toISOString() }];
      if (pending.resumeAt !== null && pending.event) {
        const user = await app.users.require(userId);
        const client = await app.clients.get(String(d.params.client_id));
        // The login's authorization request, as before the pause (not the code form's POST).
        const event = { ...withStoredMetadata(pending.event, user), authentication: { methods }, request: pending.event.request ?? requestInfo(ctx) };
        const state = randomBytes(24).toString('base64url');
        const o = await app.actions.triggers.postLogin({
          user, client, ctx, transaction: transaction(d), methods: methods as never, startAt: pending.resumeAt, resumeOf: resumeOf(pending.resumeAt - 1, pending.resumeAction),
          event, redirectState: state, loginRef: loginRef.interaction(d.uid),
        });
        return act(ctx, d, userId, o, state, methods);
      }
      const sid = (pending as unknown as { sessionUid?: unknown }).sessionUid;
      await loginDone(ctx, typeof sid === 'string' ? sid : undefined);
      return finish(ctx, loginResult(d, userId, methods), d.prompt.name === 'actions');
    },
  });

  /**
   * A sign-in to an organization (`organization=`) by someone who is not one of its members ends
   * here, before a second factor or any post-login action runs (as on Auth0), audited as a failed
   * login; the application gets access_denied. True when it was refused.
   */
  async function organizationRefused(ctx: Context, d: Details, userId: string, userName?: string): Promise<boolean> {
    const org = d.params.organization;
    if (typeof org !== 'string' || !org || await app.organizations.isMember(org, userId)) return false;
    await app.audit.record({ type: 'f', description: `Login refused: not a member of organization ${org}`, user_id: userId, user_name: userName ?? null, client_id: String(d.params.client_id), ip: ctx.ip, user_agent: ctx.get('user-agent'), details: { organization: org } });
    await finish(ctx, { error: 'access_denied', error_description: 'the user is not a member of the organization' });
    return true;
  }

  return {
    mfaStep,
    organizationRefused,

    /** An existing session answered the authorization: run post-login without asking for the password. */
    async afterSession(ctx: Context, d: Details) {
      const userId = d.session?.accountId;
      if (!userId) throw new AppError(400, 'session_not_found', 'Your session has ended. Go back to the application and sign in again.');
      if (await organizationRefused(ctx, d, userId)) return;
      const user = await app.users.get(userId);
      if (!user || user.blocked) throw new AppError(403, 'blocked', 'This account cannot sign in. Contact the administrator.');
      const client = await app.clients.get(String(d.params.client_id));
      const s = d.session as unknown as { amr?: string[]; loginTs?: number } | undefined;
      const at = new Date((s?.loginTs ?? Date.now() / 1000) * 1000).toISOString();
      // (d.session carries loginTs: src/interactions/routes.ts fills it in from the stored session.)
      const methods: Obj[] = [{ name: 'pwd', timestamp: at }, ...(s?.amr?.includes('otp') ? [{ name: 'mfa', timestamp: at }] : [])];
      const state = randomBytes(24).toString('base64url');
      const o = await app.actions.triggers.postLogin({ user, client, ctx, transaction: transaction(d), authParams: authorizationQuery(d.params as Obj), sessionId: d.session?.uid, methods: methods as never, redirectState: state, loginRef: loginRef.interaction(d.uid) });
      return act(ctx, d, userId, o, state, methods);
    },
    /**
     * After the password was verified for `userId` in interaction `d`; `checkedAt`: when its
     * hash was read (what a later password change is compared with, see loginResult).
     */
    async afterPassword(ctx: Context, d: Details, userId: string, checkedAt = Date.now()) {
      // (Its callers, the login and sign-up forms, have refused a non-member of the organization first: organizationRefused.)
      if (!(await app.actions.triggers.hasPostLogin())) {
        // Tokens of this login carry what this login's chain decided: with nothing bound, none
        // (loginClaims reads no stored claims then, and the store dropped them at the unbind).
        const methods = [{ name: 'pwd', timestamp: new Date(checkedAt).toISOString() }];
        const need = await needMfa(ctx, d, userId, undefined, methods);
        if (need) return startMfa(ctx, d, userId, need, undefined, methods);
        return finish(ctx, loginResult(d, userId, methods), d.prompt.name === 'actions');
      }
      const user = await app.users.require(userId);
      const client = await app.clients.get(String(d.params.client_id));
      const methods = [{ name: 'pwd', timestamp: new Date(checkedAt).toISOString() }];
      const state = randomBytes(24).toString('base64url');
      // The session this login ends in, made now when the browser has none (event.session.id).
      // A session of another account is ended on resume (oidc-provider asks first): no id then.
      const sessionId = d.session
        ? (d.session.accountId === userId ? d.session.uid : undefined)
        : await loginSessionUid(app.provider, ctx, userId, app.config.tokens.interactionTtl);
      const o = await app.actions.triggers.postLogin({ user, client, ctx, transaction: transaction(d), authParams: authorizationQuery(d.params as Obj), sessionId, methods, redirectState: state, loginRef: loginRef.interaction(d.uid), signIn: true });
      return act(ctx, d, userId, o, state, methods);
    },

    /** `/continue?state=…`: find the interaction the state belongs to and resume there (its cookie is path-bound). */
    async continueEntry(ctx: Context) {
      const state = typeof ctx.query.state === 'string' ? ctx.query.state : (ctx.request.body as Obj | undefined)?.state;
      if (typeof state !== 'string' || !/^[A-Za-z0-9_-]{16,64}$/.test(state)) throw new AppError(400, 'invalid_state', 'This link is missing its state or the state is malformed. Start the login again from your application.');
      const row = await db('action_continuations').where({ state }).first();
      if (!row || row.used_at !== null || Number(row.expires_at) < Date.now()) throw new AppError(400, 'invalid_state', 'This login step has expired or was already used. Start the login again from your application.');
      // A GET's query goes on in the URL (it came in one). A POST's body (a session_token, say)
      // must not be moved into a URL, where browser history and proxy logs keep it: it is kept
      // with the continuation, bound to its state, and given back as event.request.body.
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(ctx.query)) if (typeof v === 'string') params.set(k, v);
      params.set('state', state);
      const resumePath = `${urls.mountPath}/interaction/${encodeURIComponent(row.interaction_uid)}/continue`;
      if (ctx.method === 'POST') {
        const form: Record<string, string> = {};
        let bytes = 0;
        for (const [k, v] of Object.entries((ctx.request.body as Obj | undefined) ?? {})) {
          if (typeof v !== 'string' || POSTED_DROP.test(k)) continue;
          bytes += k.length + v.length;
          if (bytes > POSTED_MAX_CHARS) throw new AppError(413, 'too_large', 'This login step sent back more data than it may. Start the login again from your application.');
          form[k] = v;
        }
        const id = randomBytes(16).toString('base64url');
        const stored = await db.transaction(async (trx) => {
          const q = trx('action_continuations').where({ state }).whereNull('used_at');
          const cur = await (isSqlite(trx) ? q : q.forUpdate()).first();
          if (!cur) return false;
          const saved = JSON.parse(cur.payload) as Continuation;
          // A few forms per state, then no more (rather than pushing out one already posted).
          if (Object.keys(saved.posted ?? {}).length >= POSTED_MAX_FORMS) return false;
          await trx('action_continuations').where({ state }).whereNull('used_at').update({ payload: JSON.stringify({ ...saved, posted: { ...saved.posted, [id]: form } }) });
          return true;
        });
        if (!stored) throw new AppError(429, 'too_many', 'This login step was answered too many times. Start the login again from your application.');
        ctx.cookies.set(POSTED_COOKIE(ctx), id, { path: resumePath, httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: CONTINUE_TTL_MS, overwrite: true });
      }
      ctx.status = 303;
      ctx.redirect(`${resumePath}?${params}`);
    },

    /**
     * Resumes the chain: the redirecting action's onContinuePostLogin, then the rest. Single use.
     * Fails closed when another action (or version) now stands where the login paused, and
     * keeps any second factor the first part asked for.
     */
    async resume(ctx: Context, d: Details) {
      const state = typeof ctx.query.state === 'string' ? ctx.query.state : '';
      const used = await db('action_continuations').where({ state, interaction_uid: d.uid }).whereNull('used_at').andWhere('expires_at', '>', Date.now()).update({ used_at: Date.now() });
      if (used !== 1) throw new AppError(400, 'invalid_state', 'This login step has expired, was already used, or belongs to another login. Start again from your application.');
      const row = await db('action_continuations').where({ state }).first();
      const saved = JSON.parse(row.payload) as Continuation;
      const user = await app.users.require(saved.userId);
      const client = await app.clients.get(String(d.params.client_id));
      // The form this browser POSTed to /continue, by the id only its cookie holds.
      const postedId = ctx.cookies.get(POSTED_COOKIE(ctx));
      if (postedId !== undefined) ctx.cookies.set(POSTED_COOKIE(ctx), '', { path: ctx.path, httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: 0, overwrite: true });
      const form = postedId !== undefined && saved.posted && Object.hasOwn(saved.posted, postedId) ? saved.posted[postedId] : undefined;
      const request = requestInfo(ctx);
      const event = { ...withStoredMetadata(saved.event, user), request: form ? { ...request, method: 'POST', body: form } : request };
      const next = randomBytes(24).toString('base64url');
      // onContinuePostLogin validates tokens bound to the state being resumed; an action after
      // it that redirects again must bind its token to the state it will come back with.
      const o = await app.actions.triggers.postLogin({
        user, client, ctx, transaction: transaction(d), methods: saved.methods as never, startAt: saved.actionIndex, resumeOf: resumeOf(saved.actionIndex, saved.action),
        continueFirst: true, event, redirectState: state, nextRedirectState: next, loginRef: loginRef.interaction(d.uid),
      });
      applyOwedMfa(o, saved.mfa);
      return act(ctx, d, saved.userId, o, next, saved.methods);
    },
  };
}
