import Router from '@koa/router';
import type { Context } from 'koa';
import type { AppContext } from '../context.ts';
import type { Csrf } from '../http/koa-csrf.ts';
import type { User } from '../users/users.ts';
import { canonicalEmail } from '../users/email.ts';
import { checkPasswordPolicy } from '../users/passwords.ts';
import { toBool } from '../db/knex.ts';
import { passwordFingerprint, type EmailTokenPurpose, type TicketOptions, type TokenState } from '../users/email-tokens.ts';
import { createAccountSessions } from './account-sessions.ts';
import { verifyEmailMail } from '../../views/mail/verify-email.ts';
import { resetPasswordMail } from '../../views/mail/reset-password.ts';
import { queuePasswordChangedMail } from '../mail/notices.ts';
import type { EmailTemplate } from '../mail/templates.ts';
import { linkOutcomePage, resendVerificationPage, resetFormPage, resetRequestPage, verifyConfirmPage } from '../../views/lifecycle.ts';

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
/**
 * Mails per purpose and account per hour. Requests over the limit get the same answer and
 * send nothing: a per-account limit (SECURITY 3.6) that also stops anyone from flooding a
 * victim's inbox through the forms. A request never changes anything else (no lockout).
 */
const MAILS_PER_HOUR = 5;
const HOUR = 3600_000;

/** What the pages say about a link that cannot be used, per state. */
const LINK_PROBLEM: Record<Exclude<TokenState, 'valid'>, { title: string; verify: string; reset: string }> = {
  expired: {
    title: 'This link has expired',
    verify: 'This verification link has expired. Ask for a new one below.',
    reset: 'This password-reset link has expired. Ask for a new one below.',
  },
  used: {
    title: 'This link was already used',
    verify: 'This verification link was already used, or a newer link replaced it. If your address is verified you can log in; otherwise ask for a new link.',
    reset: 'This password-reset link was already used, or is no longer valid because a newer link was sent or the password was changed. Ask for a new one if you still need it.',
  },
  invalid: {
    title: 'This link is not valid',
    verify: 'This verification link is not valid. Check that you opened the whole link from the mail, or ask for a new one.',
    reset: 'This password-reset link is not valid. Check that you opened the whole link from the mail, or ask for a new one.',
  },
};

/** What a request refused by the per-address limits says. */
export function tooManyFromAddress(retryAfterSeconds: number): string {
  return `Too many requests from your network. Try again in ${Math.max(1, Math.ceil(retryAfterSeconds / 60))} minutes.`;
}

/**
 * Sends (after the response) a verification mail with a fresh link to the user's STORED
 * address. Called after signup, from the resend form and for a Management API job (`jobId`:
 * its row moves to completed, or failed when the account's hourly limit refused the link).
 * `request` only feeds the audit log.
 */
export function queueVerificationMail(app: AppContext, user: { user_id: string; email: string }, request?: { ip?: string; userAgent?: string }, jobId?: string, signup = false) {
  const { config, urls } = app;
  const jobDone = async (status: 'completed' | 'failed') => {
    if (jobId !== undefined) await app.db('jobs').where({ id: jobId }).update({ status, completed_at: Date.now() });
  };
  app.mail.later(async () => {
    try {
      // An admin's verify_email template: disabled, no verification mail goes out (as on Auth0;
      // the welcome mail then greets the new user at once); its link lifetime otherwise.
      const tpl = await app.emailTemplates.settings('verify_email');
      if (tpl && !tpl.enabled) {
        await app.audit.record({ type: 'fvr', description: 'Verification email not sent: the verify_email template is disabled', user_id: user.user_id, user_name: user.email, ip: request?.ip, user_agent: request?.userAgent });
        await jobDone('failed');
        if (signup) await sendWelcomeMail(app, user.user_id);
        return;
      }
      const ttlMs = tpl?.urlLifetimeInSeconds ? tpl.urlLifetimeInSeconds * 1000 : config.email.verificationTtlHours * HOUR;
      const token = await app.emailTokens.issue({ userId: user.user_id, email: user.email, purpose: 'verify_email', ttlMs, limit: { max: MAILS_PER_HOUR, windowMs: HOUR } });
      if (token === null) {
        await app.audit.record({ type: 'fvr', description: 'Verification email not sent: too many requests for this account', user_id: user.user_id, user_name: user.email, ip: request?.ip, user_agent: request?.userAgent });
        await jobDone('failed');
        return;
      }
      const link = `${urls.urlFor('/verify-email')}?token=${token}`;
      const content = await templated(app, tpl, user.user_id, link, ttlMs) ?? verifyEmailMail({ appName: config.appName, email: user.email, link, ttlHours: Math.round(ttlMs / HOUR * 10) / 10 });
      await app.mail.send({ to: user.email, ...content });
      await app.audit.record({ type: 'svr', description: 'Verification email accepted for delivery', user_id: user.user_id, user_name: user.email, ip: request?.ip, user_agent: request?.userAgent });
      await jobDone('completed');
    } catch (e) {
      // A job must not say pending for ever: it failed (the error is logged by mail.later).
      await jobDone('failed').catch(() => { /* the first error is the one to report */ });
      throw e;
    }
  }, 'verification email');
}

/**
 * Mails a password-reset link (after the response) when `email` has an account that is not
 * blocked, to its STORED address; nothing for an unknown address, and the caller answers alike
 * either way (SECURITY B10). The reset form and Auth0's /dbconnections/change_password use it.
 */
export function queueResetMail(app: AppContext, email: string, request: { ip?: string; userAgent?: string }) {
  const { users, emailTokens, audit, config, urls } = app;
  const { ip, userAgent } = request;
  app.mail.later(async () => {
    const row = await users.findRowByEmail(email);
    if (!row) {
      await audit.record({ type: 'fcpr', description: 'Password reset requested for an unknown email', user_name: email, ip, user_agent: userAgent });
      return;
    }
    const user = await users.get(row.id);
    if (!user || user.blocked) {
      await audit.record({ type: 'fcpr', description: 'Password reset requested for a blocked user', user_id: row.id, user_name: email, ip, user_agent: userAgent });
      return;
    }
    // An admin's reset_email template: disabled, no reset mail; its link lifetime otherwise.
    const tpl = await app.emailTemplates.settings('reset_email');
    if (tpl && !tpl.enabled) {
      await audit.record({ type: 'fcpr', description: 'Password reset email not sent: the reset_email template is disabled', user_id: row.id, user_name: email, ip, user_agent: userAgent });
      return;
    }
    const ttlMs = tpl?.urlLifetimeInSeconds ? tpl.urlLifetimeInSeconds * 1000 : config.email.resetTtlMinutes * 60_000;
    // Sent to the STORED address (row.email), never to what was typed (SECURITY B16).
    const token = await emailTokens.issue({
      userId: row.id, email: row.email, purpose: 'reset_password', ttlMs, passwordFp: passwordFingerprint(row.password_hash),
      limit: { max: MAILS_PER_HOUR, windowMs: HOUR },
    });
    if (token === null) {
      await audit.record({ type: 'fcpr', description: 'Password reset not sent: too many requests for this account', user_id: row.id, user_name: email, ip, user_agent: userAgent });
      return;
    }
    const link = `${urls.urlFor('/password/reset')}?token=${token}`;
    const content = await templated(app, tpl, row.id, link, ttlMs) ?? resetPasswordMail({ appName: config.appName, link, ttlMinutes: Math.round(ttlMs / 60_000) });
    await app.mail.send({ to: row.email, ...content });
    await audit.record({ type: 'scpr', description: 'Password reset email accepted for delivery', user_id: row.id, user_name: row.email, ip, user_agent: userAgent });
  }, 'password reset email');
}

/** `tpl` rendered for user `userId` with `link`, or undefined (no template, or it could not be rendered): Gatehouse's own mail then. */
async function templated(app: AppContext, tpl: EmailTemplate | undefined, userId: string, link: string | undefined, ttlMs?: number) {
  if (!tpl) return undefined;
  const u = await app.users.get(userId);
  if (!u) return undefined;
  return app.emailTemplates.render(tpl, {
    url: link, appName: app.config.appName, issuerHost: new URL(app.config.issuer).host, lifetimeSeconds: ttlMs !== undefined ? Math.round(ttlMs / 1000) : undefined,
    user: { user_id: u.user_id, email: u.email, name: u.name, nickname: u.nickname, given_name: u.given_name, family_name: u.family_name, user_metadata: u.user_metadata },
  });
}

/** Auth0's welcome mail: sent once an address is verified (or at sign-up when verify_email is disabled), only when an admin configured welcome_email. */
export async function sendWelcomeMail(app: AppContext, userId: string): Promise<void> {
  const tpl = await app.emailTemplates.settings('welcome_email');
  if (!tpl?.enabled) return;
  const content = await templated(app, tpl, userId, undefined);
  const u = await app.users.get(userId);
  if (!content || !u) return;
  await app.mail.send({ to: u.email, ...content });
  await app.audit.record({ type: 'sv', description: 'Welcome email accepted for delivery', user_id: u.user_id, user_name: u.email });
}

/**
 * Everything that follows a password change, wherever it happened: the user's sessions,
 * grants and tokens end (ASVS 5 7.4.3), outstanding reset links and /account sessions die,
 * post-change-password runs, and the owner is told by mail.
 */
export async function afterPasswordChange(app: AppContext, ctx: Context, user: User, how: 'reset' | 'account') {
  await app.emailTokens.invalidate(user.user_id, 'reset_password');
  const revoked = await app.users.revokeTokens(user.user_id, 'password-changed');
  app.actions.triggers.postChangePassword(ctx, user);
  queuePasswordChangedMail(app, user.email, how);
  return revoked;
}

/**
 * E-mail verification and password reset. Links are built from the configured issuer
 * (`urls.urlFor`), never from Host or X-Forwarded-Host (SECURITY B21). A link's GET only shows
 * a page; the change happens on that page's POST, so link scanners cannot use a token up.
 * Every POST is CSRF-checked. Pages carry `Referrer-Policy: no-referrer` (security headers
 * middleware, and the layout's meta tag) so a token in the URL does not leak (B22).
 */
export function createLifecycleRoutes(app: AppContext, csrf: Csrf) {
  const { config, users, audit, urls, emailTokens } = app;
  const router = new Router({ prefix: urls.mountPath });
  const p = (path: string) => `${urls.mountPath}${path}`;
  const resendLink = { href: p('/verify-email/resend'), label: 'Send a new verification link' };
  const resetLink = { href: p('/password/reset'), label: 'Ask for a new password-reset link' };
  const reqInfo = (ctx: Context) => ({ ip: ctx.ip, userAgent: ctx.get('user-agent') });
  const accountSessions = createAccountSessions(app);

  function outcome(ctx: Context, status: number, title: string, message: string, o: { error?: boolean; link?: { href: string; label: string } } = {}) {
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = linkOutcomePage({ appName: config.appName, assetsBase: urls.mountPath, title, message, error: o.error ?? status >= 400, link: o.link });
  }

  /**
   * A Management API ticket's result_url, as Auth0 sends the user there once the ticket is
   * used: `success` and `message` added to its query, and `email` when the ticket asked.
   */
  function toResultUrl(ctx: Context, t: TicketOptions, message: string, email: string) {
    // Appended, not re-serialised: a signed result_url keeps its query as the admin wrote it.
    const add = new URLSearchParams({ success: 'true', message, ...(t.includeEmailInRedirect ? { email } : {}) }).toString();
    const hash = t.resultUrl!.indexOf('#');
    const base = hash < 0 ? t.resultUrl! : t.resultUrl!.slice(0, hash), fragment = hash < 0 ? undefined : t.resultUrl!.slice(hash + 1);
    ctx.redirect(`${base}${base.includes('?') ? (base.endsWith('?') || base.endsWith('&') ? '' : '&') : '?'}${add}${fragment !== undefined ? `#${fragment}` : ''}`);
    ctx.status = 303;
  }

  function linkProblem(ctx: Context, state: Exclude<TokenState, 'valid'>, purpose: EmailTokenPurpose) {
    const m = LINK_PROBLEM[state];
    outcome(ctx, state === 'invalid' ? 400 : 410, m.title, purpose === 'verify_email' ? m.verify : m.reset, { link: purpose === 'verify_email' ? resendLink : resetLink });
  }

  /**
   * A token whose user is gone, or whose user's address (or, for resets, password) changed since
   * it was issued, is dead; so is a reset link of a user blocked since it was sent (a block ends
   * what the user could do, as Keycloak refuses a disabled user's action tokens).
   */
  async function stillBound(row: { userId: string; email: string; passwordFp: string | null; purpose: EmailTokenPurpose }) {
    const u = await users.findRowByEmail(row.email);
    if (!u || u.id !== row.userId) return undefined;
    if (toBool(u.blocked)) return undefined;
    if (row.purpose === 'reset_password' && row.passwordFp !== passwordFingerprint(u.password_hash)) return undefined;
    return u;
  }

  /**
   * A request that would mail an address the caller names, over this client address's hourly
   * limit (src/users/request-limits.ts): the message to show (with Retry-After set), audited.
   */
  async function overLimit(ctx: Context, what: string, auditType: 'fcpr' | 'fvr'): Promise<string | null> {
    const v = await app.requestLimits.hit('mail', ctx.ip);
    if (v.allowed) return null;
    ctx.set('Retry-After', String(v.retryAfterSeconds));
    await audit.record({ type: auditType, description: `${what} request refused: too many from this address`, ip: ctx.ip, user_agent: ctx.get('user-agent') });
    return tooManyFromAddress(v.retryAfterSeconds);
  }

  // ---- E-mail verification ----

  router.get('/verify-email', async function showVerifyEmail(ctx) {
    const token = str(ctx.query.token);
    const peek = await emailTokens.peek(token, 'verify_email');
    if (peek.state !== 'valid') return linkProblem(ctx, peek.state, 'verify_email');
    if (!(await stillBound(peek.row!))) return linkProblem(ctx, 'invalid', 'verify_email');
    ctx.type = 'html';
    ctx.body = verifyConfirmPage({ appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), action: p('/verify-email'), token: token!, email: peek.row!.email });
  });

  router.post('/verify-email', csrf.verify, async function confirmVerifyEmail(ctx) {
    const body = ctx.request.body as Record<string, unknown>;
    const r = await emailTokens.consume(body.token, 'verify_email');
    if (!r.ok) {
      await audit.record({ type: 'fv', description: `Email verification failed: link ${r.state}`, ip: ctx.ip, user_agent: ctx.get('user-agent') });
      return linkProblem(ctx, r.state, 'verify_email');
    }
    const row = await stillBound(r.row);
    // Verified now for the first time (the welcome mail, once), or already (a second ticket).
    const first = !!row && await users.markVerifiedFirst(row.id, r.row.email);
    if (!row || (!first && !(await users.markVerified(row.id, r.row.email)))) {
      await audit.record({ type: 'fv', description: 'Email verification failed: the account or its address changed since the link was sent', user_id: r.row.userId, ip: ctx.ip, user_agent: ctx.get('user-agent') });
      return linkProblem(ctx, 'invalid', 'verify_email');
    }
    await audit.record({ type: 'sv', description: r.row.ticket ? 'Email verified with a verification ticket' : 'Email verified', user_id: row.id, user_name: row.email, ip: ctx.ip, user_agent: ctx.get('user-agent') });
    if (first) app.mail.later(() => sendWelcomeMail(app, row.id), 'welcome email');
    if (r.row.ticket?.resultUrl) return toResultUrl(ctx, r.row.ticket, 'Your email was verified. You can continue using the application.', row.email);
    // A mailed link: where the verify_email template sends the user (Auth0's "Redirect To"); a ticket keeps its own.
    const tpl = r.row.ticket ? undefined : await app.emailTemplates.settings('verify_email');
    if (tpl?.enabled && tpl.resultUrl) return toResultUrl(ctx, { resultUrl: tpl.resultUrl, includeEmailInRedirect: tpl.includeEmailInRedirect }, 'Your email was verified. You can continue using the application.', row.email);
    outcome(ctx, 200, 'Email verified', `Your email address ${row.email} is verified. Return to your application to continue.`);
  });

  function renderResend(ctx: Context, o: { error?: string; info?: string; status?: number } = {}) {
    ctx.status = o.status ?? 200;
    ctx.type = 'html';
    ctx.body = resendVerificationPage({ appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), action: p('/verify-email/resend'), error: o.error, info: o.info });
  }

  router.get('/verify-email/resend', async function showResend(ctx) { renderResend(ctx); });

  router.post('/verify-email/resend', csrf.verify, async function submitResend(ctx) {
    const email = canonicalEmail(str((ctx.request.body as Record<string, unknown>).email));
    if (!email) return renderResend(ctx, { status: 400, error: 'Enter a valid email address.' });
    const limited = await overLimit(ctx, 'Verification link', 'fvr');
    if (limited) return renderResend(ctx, { status: 429, error: limited });
    // The same answer whether or not the address has an account or is already verified; the
    // look-up and the mail happen after the response (SECURITY B10).
    renderResend(ctx, { info: 'If an account with that address is waiting for verification, we have sent it a new link. Check your inbox.' });
    const info = reqInfo(ctx);
    app.mail.later(async () => {
      const row = await users.findRowByEmail(email);
      if (!row) return;
      const user = await users.get(row.id);
      if (!user || user.email_verified || user.blocked) return;
      queueVerificationMail(app, user, info);
    }, 'verification email');
  });

  // ---- Password reset ----

  function renderResetRequest(ctx: Context, o: { error?: string; info?: string; status?: number } = {}) {
    ctx.status = o.status ?? 200;
    ctx.type = 'html';
    ctx.body = resetRequestPage({ appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), action: p('/password/reset'), error: o.error, info: o.info });
  }

  router.get('/password/reset', async function showPasswordReset(ctx) {
    if (ctx.query.token === undefined) return renderResetRequest(ctx);
    const token = str(ctx.query.token);
    const peek = await emailTokens.peek(token, 'reset_password');
    if (peek.state !== 'valid') return linkProblem(ctx, peek.state, 'reset_password');
    if (!(await stillBound(peek.row!))) return linkProblem(ctx, 'used', 'reset_password');
    ctx.type = 'html';
    ctx.body = resetFormPage({ appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), action: p('/password/reset/complete'), token: token!, email: peek.row!.email, minLength: config.password.minLength });
  });

  router.post('/password/reset', csrf.verify, async function requestPasswordReset(ctx) {
    const email = canonicalEmail(str((ctx.request.body as Record<string, unknown>).email));
    if (!email) return renderResetRequest(ctx, { status: 400, error: 'Enter a valid email address.' });
    // Whatever the address: the answer says nothing about it (SECURITY B10).
    const limited = await overLimit(ctx, 'Password reset', 'fcpr');
    if (limited) return renderResetRequest(ctx, { status: 429, error: limited });
    // One answer for every address (SECURITY B10): the look-up, the token and the mail all
    // happen after the response is written, so neither body, status nor time tells whether
    // the account exists. An unknown address gets no mail at all.
    const tpl = await app.emailTemplates.settings('reset_email');
    const minutes = tpl?.urlLifetimeInSeconds ? Math.round(tpl.urlLifetimeInSeconds / 60) : config.email.resetTtlMinutes;
    renderResetRequest(ctx, { info: `If an account exists for that address, we have sent it a link to choose a new password. The link works once, for ${minutes} minutes.` });
    queueResetMail(app, email, reqInfo(ctx));
  });

  router.post('/password/reset/complete', csrf.verify, async function completePasswordReset(ctx) {
    const body = ctx.request.body as Record<string, unknown>;
    const token = str(body.token);
    const newPassword = body.new_password;
    const fail = async (description: string, userId?: string) => {
      await audit.record({ type: 'fcp', description, user_id: userId ?? null, ip: ctx.ip, user_agent: ctx.get('user-agent') });
    };
    const peek = await emailTokens.peek(token, 'reset_password');
    if (peek.state !== 'valid') {
      await fail(`Password reset failed: link ${peek.state}`, peek.row?.userId);
      return linkProblem(ctx, peek.state, 'reset_password');
    }
    const problem = checkPasswordPolicy(newPassword, config.password);
    if (problem) {
      await fail(`Password reset failed: ${problem}`, peek.row!.userId);
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = resetFormPage({ appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), action: p('/password/reset/complete'), token: token!, email: peek.row!.email, minLength: config.password.minLength, error: problem });
      return;
    }
    // Hash before consuming (a slow hash must not sit between the check and the write of the
    // single-use token); the conditional UPDATE in consume() decides which request wins.
    const hash = await app.hasher.hash(newPassword as string);
    const r = await emailTokens.consume(token, 'reset_password');
    if (!r.ok) {
      await fail(`Password reset failed: link ${r.state}`, peek.row!.userId);
      return linkProblem(ctx, r.state, 'reset_password');
    }
    const row = await stillBound(r.row);
    if (!row) {
      await fail('Password reset failed: the password or address changed since the link was sent', r.row.userId);
      return linkProblem(ctx, 'used', 'reset_password');
    }
    await users.setPasswordHash(row.id, hash);
    // A mailed link reached this address and was used from it: the address is proven. A
    // Management API ticket went wherever the admin sent it: only when it says so. Enrolled
    // authenticators stay, unverified address or not: a reset never bypasses MFA (SECURITY.md
    // 6.4.3); losing a second factor takes identity proofing (an admin removes it). An
    // authenticator a squatter enrolled before the owner proved the address keeps the squatter
    // out as much as the owner (the squatter lacks the new password); the owner goes to an admin.
    const ticket = r.row.ticket;
    // Only while the address is still the one the link was for (an admin may change it meanwhile).
    if (!ticket || ticket.markEmailVerified) await users.markVerified(row.id, r.row.email);
    const user = await users.require(row.id);
    await accountSessions.endAll(row.id);
    // The owner proved control of the mailbox: a brute-force lock on the account (which an
    // attacker may have caused, SECURITY B8) no longer needs to stand in their way.
    await app.bruteForce.success(row.email);
    const revoked = await afterPasswordChange(app, ctx, user, 'reset');
    await audit.record({ type: 'scp', description: ticket ? 'Password changed with a password-change ticket' : 'Password changed with a reset link', user_id: row.id, user_name: row.email, ip: ctx.ip, user_agent: ctx.get('user-agent'), details: { revoked_token_count: revoked } });
    // No automatic login, and so no way around MFA (ASVS 5 6.4.3): the next login asks for everything.
    if (ticket?.resultUrl) return toResultUrl(ctx, ticket, 'You can now login to the application with the new password.', row.email);
    const tpl = ticket ? undefined : await app.emailTemplates.settings('reset_email');
    if (tpl?.enabled && tpl.resultUrl) return toResultUrl(ctx, { resultUrl: tpl.resultUrl, includeEmailInRedirect: tpl.includeEmailInRedirect }, 'You can now login to the application with the new password.', row.email);
    outcome(ctx, 200, 'Password changed', 'Your password was changed and you were signed out everywhere. Return to your application and log in with your new password.');
  });

  return router;
}
