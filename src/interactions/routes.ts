import Router from '@koa/router';
import { markLoaded } from '../oidc/adapter.ts';
import type { Context } from 'koa';
import type { AppContext } from '../context.ts';
import type { Csrf } from '../http/koa-csrf.ts';
import { formFields, MALFORMED_FORM } from './form-fields.ts';
import { AppError } from '../shared/errors.ts';
import { registerAuth0Logout } from './auth0-logout.ts';
import { canonicalEmail } from '../users/email.ts';
import { redirectsToThisDevice } from '../shared/urls.ts';
import { consentPage, loginPage, messagePage, signupPage } from '../../views/pages.ts';
import { createPostLoginStep, isDeviceFlow } from './post-login.ts';
import { createOrganizationStep } from './organization-step.ts';
import { queueVerificationMail, tooManyFromAddress } from './lifecycle.ts';
import { verificationRequiredPage } from '../../views/lifecycle.ts';
import { loginTransaction } from '../actions/triggers/events.ts';

const GENERIC_LOGIN_ERROR = 'Wrong email or password.';
const TOO_MANY_FROM_IP = 'Too many failed sign-in attempts from your network. Try again later.';
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);


/**
 * Browser flows that oidc-provider hands to us through `interactions.url`: login, consent,
 * abort, signup. Every POST is CSRF-checked (signed double submit plus Origin and
 * Sec-Fetch-Site) on top of the interaction cookie oidc-provider binds to the uid.
 */
export function createInteractionRoutes(app: AppContext, csrf: Csrf) {
  const { config, users, audit, urls } = app;
  const router = new Router({ prefix: urls.mountPath });
  const p = (path: string) => `${urls.mountPath}${path}`;
  const postLogin = createPostLoginStep(app);

  /**
   * A login (or a sign-up) whose password was checked goes on: a non-member of the organization
   * named stops here, not counted as a successful login; then the second factor and post-login.
   */
  async function passwordDone(ctx: Context, d: Awaited<ReturnType<typeof details>>, userId: string, email: string, o: { signup: boolean; checkedAt: number }) {
    if (await postLogin.organizationRefused(ctx, d, userId, email)) return;
    await users.recordLogin(userId, ctx.ip);
    if (!o.signup) await audit.record({ type: 's', description: 'Successful login', user_id: userId, user_name: email, client_id: str(d.params.client_id) ?? null, ip: ctx.ip, user_agent: ctx.get('user-agent') });
    await postLogin.afterPassword(ctx, d, userId, o.checkedAt);
  }
  // Auth0's organization prompts (an application that requires one and lets the user say which).
  const organizationStep = createOrganizationStep(app, csrf, {
    async picked(ctx, d, userId, o) {
      const u = await users.get(userId);
      if (!u || u.blocked) throw new AppError(403, 'blocked', 'This account cannot sign in. Contact the administrator.');
      await passwordDone(ctx, d, userId, u.email, o);
    },
  });

  async function details(ctx: Context) {
    let d;
    try {
      d = await app.provider.interactionDetails(ctx.req, ctx.res);
    } catch {
      throw new AppError(400, 'session_not_found', 'This sign-in session has expired or was opened in another browser. Go back to the application and start again.');
    }
    if (d.uid !== ctx.params.uid) throw new AppError(400, 'session_not_found', 'This sign-in session does not match. Go back to the application and start again.');
    // oidc-provider's interaction keeps the session's account, uid and amr, not when the user
    // signed in on it: a session that answers (prompt 'actions') needs that time for
    // event.authentication and event.session, and a second factor added keeps it (post-login.ts loginResult).
    if (d.prompt.name === 'actions' && d.session?.uid) {
      const s = await app.provider.Session.findByUid(d.session.uid) as unknown as { loginTs?: unknown } | undefined;
      if (typeof s?.loginTs === 'number') (d.session as { loginTs?: number }).loginTs = s.loginTs;
    }
    return d;
  }

  async function clientName(clientId: unknown) {
    // The cached metadata oidc-provider uses: no query per page view.
    const c = typeof clientId === 'string' ? await app.clients.findClientMetadata(clientId) : undefined;
    return typeof c?.client_name === 'string' ? c.client_name : 'the application';
  }

  function renderLogin(ctx: Context, uid: string, name: string, extra: { email?: string; error?: string; info?: string } = {}) {
    ctx.type = 'html';
    ctx.body = loginPage({
      appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), action: p(`/interaction/${uid}/login`), clientName: name,
      signupUrl: config.signup.enabled ? p(`/signup?interaction=${encodeURIComponent(uid)}`) : undefined,
      resetUrl: p('/password/reset'), ...extra,
    });
  }

  router.get('/interaction/:uid', async function showInteraction(ctx) {
    const d = await details(ctx);
    const name = await clientName(d.params.client_id);
    if (d.prompt.name === 'login') {
      renderLogin(ctx, d.uid, name, { email: str(d.params.login_hint) });
      return;
    }
    if (d.prompt.name === 'consent') {
      const client = await app.clients.get(String(d.params.client_id));
      // A native app's redirect (a custom scheme, a loopback port) can be claimed by any other
      // app on the device: oidc-provider asks consent of native clients every time, and the
      // user must see it, first party or not (RFC 8252 §8.6), or another app would get the code.
      // The same for any application's redirect to localhost (provider.ts, loopback_redirect).
      if (client?.is_first_party && client.app_type !== 'native' && !redirectsToThisDevice(d.params.redirect_uri)) return grantConsent(ctx, d);
      const det = d.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
      const missing = [...(det.missingOIDCScope ?? []), ...Object.values(det.missingResourceScopes ?? {}).flat()];
      // Asked every time (native, localhost): what the application asks for, granted before or not.
      const scopes = missing.length > 0 ? missing : String(d.params.scope ?? '').split(' ').filter(Boolean);
      ctx.type = 'html';
      ctx.body = consentPage({ appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), action: p(`/interaction/${d.uid}/confirm`), abortUrl: p(`/interaction/${d.uid}/abort`), clientName: name, scopes });
      return;
    }
    if (d.prompt.name === 'actions') return postLogin.afterSession(ctx, d);
    if (d.prompt.name === 'organization') return organizationStep.show(ctx, d);
    throw new AppError(400, 'unsupported_prompt', `Unsupported step: ${d.prompt.name}`);
  });

  router.post('/interaction/:uid/login', csrf.verify, async function submitLogin(ctx) {
    const d = await details(ctx);
    if (d.prompt.name !== 'login') throw new AppError(400, 'invalid_step', 'You are already signed in. Go back to the application.');
    const body = ctx.request.body as Record<string, unknown>;
    const name = await clientName(d.params.client_id);
    // Arrays or objects (email[]=…, repeated fields, email[$ne]=…) are not a login attempt: 400,
    // nothing checked or counted (SECURITY B12).
    if (!formFields(body, ['email', 'password'])) {
      ctx.status = 400;
      return renderLogin(ctx, d.uid, name, { error: MALFORMED_FORM });
    }
    const rawEmail = str(body.email) ?? '';
    const password = str(body.password) ?? '';
    const ip = ctx.ip;
    const clientId = str(d.params.client_id) ?? null;
    const ua = ctx.get('user-agent');
    // Before the account's hash is read: a password changed after this ends the login (post-login.ts loginResult).
    const checkedAt = Date.now();
    const r = await app.checkPassword(rawEmail, password, { ip, userAgent: ua, clientId, where: 'Login' });
    if (!r.ok) {
      ctx.type = 'html';
      // An address throttled for spraying gets a plain 429 (SECURITY B6): it says nothing about
      // any account, since it answers every e-mail alike. A throttled account looks exactly
      // like a wrong password (B7), so a lockout does not confirm that the account exists.
      if (r.reason === 'throttled_ip') {
        ctx.set('Retry-After', String(r.retryAfterSeconds));
        ctx.status = 429;
      }
      const error = r.reason === 'throttled_ip' ? TOO_MANY_FROM_IP : r.reason === 'blocked' ? 'Your account is blocked. Contact the administrator.' : GENERIC_LOGIN_ERROR;
      return renderLogin(ctx, d.uid, name, { email: rawEmail.slice(0, 320), error });
    }
    const { row, user } = r;
    const email = user.email;
    if (config.email.requireVerification && !user.email_verified) {
      // Checked only after the password, so it reveals nothing to someone who lacks it.
      await audit.record({ type: 'f', description: 'Login refused: email not verified', user_id: row.id, user_name: email, client_id: clientId, ip, user_agent: ua });
      ctx.status = 403;
      ctx.type = 'html';
      ctx.body = verificationRequiredPage({ appName: config.appName, assetsBase: urls.mountPath, email: user.email, resendUrl: p('/verify-email/resend'), loginUrl: p(`/interaction/${d.uid}`) });
      return;
    }
    // An application that lets the user pick the organization after the password: the picker first.
    if (await organizationStep.afterPassword(ctx, d, row.id, { signup: false, checkedAt })) return;
    await passwordDone(ctx, d, row.id, email, { signup: false, checkedAt });
  });

  router.get('/interaction/:uid/organization', async function showOrganization(ctx) {
    await organizationStep.show(ctx, await details(ctx));
  });
  router.post('/interaction/:uid/organization', csrf.verify, async function submitOrganization(ctx) {
    await organizationStep.submit(ctx, await details(ctx));
  });

  async function grantConsent(ctx: Context, d: Awaited<ReturnType<typeof details>>) {
    const { Grant } = app.provider;
    const det = d.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    // A grant revoked since the prompt was shown is gone: the consent given now starts a new one.
    const found = d.grantId ? await Grant.find(d.grantId) : undefined;
    if (found) markLoaded(found);
    const grant = found ?? new Grant({ accountId: d.session!.accountId, clientId: String(d.params.client_id) });
    if (det.missingOIDCScope) grant.addOIDCScope(det.missingOIDCScope.join(' '));
    if (det.missingOIDCClaims) grant.addOIDCClaims(det.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(det.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    const redirectTo = await app.provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(redirectTo);
  }

  router.post('/interaction/:uid/confirm', csrf.verify, async function confirmConsent(ctx) {
    const d = await details(ctx);
    if (d.prompt.name !== 'consent') throw new AppError(400, 'invalid_step', 'Nothing to confirm here. Go back to the application.');
    await grantConsent(ctx, d);
  });

  router.get('/interaction/:uid/abort', async function abortInteraction(ctx) {
    await details(ctx);
    const redirectTo = await app.provider.interactionResult(ctx.req, ctx.res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(redirectTo);
  });

  // Signup: linked from the login page as /signup?interaction=<uid>; the form posts under the
  // interaction's path so the interaction cookie comes along and the new user is signed in.
  // The second factor, when an action, the client's acr_values or the MFA policy asks for it.
  router.get('/interaction/:uid/mfa', async function showMfa(ctx) {
    const d = await details(ctx);
    await postLogin.mfaStep.show(ctx, d, csrf.token(ctx));
  });
  router.post('/interaction/:uid/mfa', csrf.verify, async function submitMfa(ctx) {
    const d = await details(ctx);
    await postLogin.mfaStep.submit(ctx, d, csrf.token(ctx));
  });
  router.post('/interaction/:uid/mfa/done', csrf.verify, async function finishMfa(ctx) {
    const d = await details(ctx);
    await postLogin.mfaStep.done(ctx, d);
  });

  // Resuming a post-login chain after `api.redirect.sendUserTo` (Auth0's /continue).
  router.get('/continue', async function continueGet(ctx) { await postLogin.continueEntry(ctx); });
  router.post('/continue', async function continuePost(ctx) { await postLogin.continueEntry(ctx); });
  router.get('/interaction/:uid/continue', async function resumePostLogin(ctx) {
    const d = await details(ctx);
    await postLogin.resume(ctx, d);
  });

  router.get('/signup', async function showSignup(ctx) {
    if (!config.signup.enabled) throw new AppError(404, 'signup_disabled', 'Sign-up is disabled. Ask an administrator for an account.');
    const uid = str(ctx.query.interaction);
    const safeUid = uid && /^[A-Za-z0-9_-]{1,64}$/.test(uid) ? uid : undefined;
    ctx.type = 'html';
    ctx.body = signupPage({
      appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), minLength: config.password.minLength,
      action: safeUid ? p(`/interaction/${safeUid}/signup`) : p('/signup'), loginUrl: safeUid ? p(`/interaction/${safeUid}`) : undefined,
      fields: config.signup.fields,
    });
  });

  async function signup(ctx: Context, from?: { uid: string; params: Record<string, unknown>; device?: boolean }) {
    const uid = from?.uid;
    const clientId = typeof from?.params.client_id === 'string' ? from.params.client_id : undefined;
    if (!config.signup.enabled) throw new AppError(404, 'signup_disabled', 'Sign-up is disabled. Ask an administrator for an account.');
    const body = ctx.request.body as Record<string, unknown>;
    const rawEmail = str(body.email) ?? '';
    const password = body.password;
    // The configured extra fields, as sent (kept to redisplay the form), each checked below.
    const values: Record<string, string> = {};
    for (const f of config.signup.fields) values[f.name] = (str(body[f.name]) ?? '').trim().slice(0, f.maxLength + 1);
    const render = (error: string, status = 400) => {
      ctx.status = status;
      ctx.type = 'html';
      ctx.body = signupPage({
        appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), minLength: config.password.minLength, email: rawEmail.slice(0, 320), error,
        action: uid ? p(`/interaction/${uid}/signup`) : p('/signup'), loginUrl: uid ? p(`/interaction/${uid}`) : undefined,
        fields: config.signup.fields, values,
      });
    };
    const email = canonicalEmail(rawEmail);
    if (!email) return render('Enter a valid email address (letters, digits and . _ + - before the @).');
    for (const f of config.signup.fields) {
      const v = values[f.name];
      if (f.type === 'checkbox' && v !== '' && v !== 'on') return render(`${f.label}: tick the box or leave it.`);
      if (f.required && v === '') return render(f.type === 'checkbox' ? `${f.label}: this is required.` : `Enter ${f.label.toLowerCase()}.`);
      if (v.length > f.maxLength) return render(`${f.label}: at most ${f.maxLength} characters.`);
      // What was checked is what the action sees in event.request.body (trimmed; '' when left out).
      body[f.name] = v;
    }
    // Each sign-up mails the address given: capped per client address and hour (src/users/request-limits.ts).
    const limit = await app.requestLimits.hit('signup', ctx.ip);
    if (!limit.allowed) {
      ctx.set('Retry-After', String(limit.retryAfterSeconds));
      await audit.record({ type: 'fs', description: 'Signup refused: too many from this address', user_name: email, ip: ctx.ip, user_agent: ctx.get('user-agent') });
      return render(tooManyFromAddress(limit.retryAfterSeconds), 429);
    }
    const pre = await app.actions.triggers.preUserRegistration(ctx, email, clientId ? await app.clients.get(clientId) : undefined, from ? loginTransaction(from.params, from.uid, from.device) : {});
    if (!pre.ok) {
      await audit.record({ type: 'fs', description: `Signup denied by pre-user-registration action: ${pre.userMessage}`, user_name: email, ip: ctx.ip, user_agent: ctx.get('user-agent') });
      return render(pre.userMessage, 403);
    }
    try {
      const user = await users.create({ email, password: typeof password === 'string' ? password : '', app_metadata: pre.appMetadata, user_metadata: pre.userMetadata });
      void app.actions.triggers.postUserRegistration(ctx, user);
      queueVerificationMail(app, user, { ip: ctx.ip, userAgent: ctx.get('user-agent') }, undefined, true);
      await audit.record({ type: 'ss', description: 'Successful signup', user_id: user.user_id, user_name: email, ip: ctx.ip, user_agent: ctx.get('user-agent') });
      return user;
    } catch (e) {
      if (e instanceof AppError && (e.status === 409 || e.status === 400)) {
        await audit.record({ type: 'fs', description: `Signup failed: ${e.status === 409 ? 'email already registered' : e.message}`, user_name: email, ip: ctx.ip, user_agent: ctx.get('user-agent') });
        return render(e.status === 409 ? 'An account with this email already exists. Log in instead.' : e.message.replace(/^password: /, ''), e.status);
      }
      throw e;
    }
  }

  router.post('/signup', csrf.verify, async function submitSignup(ctx) {
    const user = await signup(ctx);
    if (!user) return;
    ctx.type = 'html';
    ctx.body = messagePage({ appName: config.appName, assetsBase: urls.mountPath, title: 'Account created', message: `Your account ${user.email} is ready. We sent a link to that address to verify it${config.email.requireVerification ? '; open it, then return' : '. Return'} to your application to log in.` });
  });

  router.post('/interaction/:uid/signup', csrf.verify, async function submitInteractionSignup(ctx) {
    const d = await details(ctx);
    // Only a login step may be answered by a new account: on any other step (an existing
    // session's post-login, consent) it would finish someone else's login.
    if (d.prompt.name !== 'login') throw new AppError(400, 'invalid_step', 'You are already signed in. Go back to the application.');
    const user = await signup(ctx, { uid: d.uid, params: d.params as Record<string, unknown>, device: isDeviceFlow(d) });
    if (!user) return;
    if (config.email.requireVerification) {
      ctx.type = 'html';
      ctx.body = messagePage({ appName: config.appName, assetsBase: urls.mountPath, title: 'Check your email', message: `Your account ${user.email} was created. Open the link we sent to that address to verify it, then return to your application to log in.` });
      return;
    }
    // A new account is nobody's member yet: a sign-up in an organization's sign-in ends here as a login would.
    const checkedAt = Date.now();
    if (await organizationStep.afterPassword(ctx, d, user.user_id, { signup: true, checkedAt })) return;
    await passwordDone(ctx, d, user.user_id, user.email, { signup: true, checkedAt });
  });

  registerAuth0Logout(router, urls);

  return router;
}
