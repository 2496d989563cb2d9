import { apiIdentifier } from '../shared/urls.ts';
import Router from '@koa/router';
import type { Context } from 'koa';
import { codeRefusal } from './code-refusal.ts';
import type { AppContext } from '../context.ts';
import type { Csrf } from '../http/koa-csrf.ts';
import { formFields, MALFORMED_FORM } from './form-fields.ts';
import type { User, UserRow } from '../users/users.ts';
import { checkPasswordPolicy } from '../users/passwords.ts';
import { afterPasswordChange } from './lifecycle.ts';
import { createAccountSessions } from './account-sessions.ts';
import { accountCodePage, accountLoginPage, accountPage, type AppAccess } from '../../views/account.ts';
import { queueMfaChangedMail } from '../mail/notices.ts';

const GENERIC_LOGIN_ERROR = 'Wrong email or password.';
const TOO_MANY_FROM_IP = 'Too many failed sign-in attempts from your network. Try again later.';
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/**
 * /account: a short re-authentication (password, then the code when the user has an
 * authenticator), then the account page: email and its verification state, a password
 * change that needs the current password, the MFA section the MFA module renders, and a
 * sign-out. Failures count toward the same brute-force limits as the login page.
 */
export function createAccountRoutes(app: AppContext, csrf: Csrf) {
  const { config, users, audit, urls } = app;
  const router = new Router({ prefix: urls.mountPath });
  const p = (path: string) => `${urls.mountPath}${path}`;
  const sessions = createAccountSessions(app);
  const ua = (ctx: Context) => ctx.get('user-agent');

  function renderLogin(ctx: Context, o: { email?: string; error?: string; info?: string; status?: number; link?: { href: string; label: string } } = {}) {
    ctx.status = o.status ?? 200;
    ctx.type = 'html';
    ctx.body = accountLoginPage({ appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), action: p('/account/login'), resetUrl: p('/password/reset'), email: o.email, error: o.error, info: o.info, link: o.link });
  }

  function renderCode(ctx: Context, error?: string, status = 200) {
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = accountCodePage({ appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), action: p('/account/code'), error });
  }

  /** The applications this user gave access to, one entry per application. */
  async function appsOf(userId: string): Promise<AppAccess[]> {
    const byClient = new Map<string, AppAccess>();
    for (const g of await app.grants.list({ userId })) {
      let a = byClient.get(g.clientId);
      if (!a) {
        const client = await app.clients.get(g.clientId);
        // An application deleted since: its grants are inert, nothing to show or revoke.
        if (!client) continue;
        a = { clientId: g.clientId, name: client.name, scopes: [], apis: [], since: new Date(g.createdAt), offline: false };
        byClient.set(g.clientId, a);
      }
      for (const s of g.scopes) if (!a.scopes.includes(s)) a.scopes.push(s);
      for (const [indicator, scopes] of Object.entries(g.resources)) {
        const api = apiIdentifier(indicator);
        if (!a.apis.includes(api)) a.apis.push(api);
        for (const s of scopes) if (!a.scopes.includes(s)) a.scopes.push(s);
      }
      if (g.createdAt < a.since.getTime()) a.since = new Date(g.createdAt);
      a.offline ||= g.offline;
    }
    return [...byClient.values()].sort((x, y) => x.name.localeCompare(y.name));
  }

  async function renderAccount(ctx: Context, user: User, o: { error?: string; info?: string; status?: number } = {}) {
    const mfaSection = (await app.accountMfaSection?.(ctx, user)) ?? undefined;
    const apps = await appsOf(user.user_id);
    ctx.status = o.status ?? 200;
    ctx.type = 'html';
    ctx.body = accountPage({
      appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), email: user.email, emailVerified: user.email_verified,
      passwordAction: p('/account/password'), logoutAction: p('/account/logout'), resendUrl: p('/verify-email/resend'),
      minLength: config.password.minLength, error: o.error, info: o.info, mfaSection, apps, revokeAction: p('/account/apps/revoke'),
    });
  }

  /**
   * The second factor, when enrolled: `app.mfa.verify` (replay-safe, with its own lock). Null when
   * it passed, else what to tell the user (the password was right: saying why the code failed
   * tells nothing new) and the status.
   */
  async function checkCode(ctx: Context, row: UserRow, code: unknown): Promise<{ error: string; status: number } | null> {
    const r = await app.mfa.verify(row.id, code);
    if (r.ok) {
      if (r.method === 'recovery') {
        // A recovery code stood in for the authenticator: the owner hears of it, as at login (SECURITY.md 3.5).
        await audit.record({ type: 'gd_recovery_succeed', description: `Account page: signed in with a recovery code (${r.remainingRecoveryCodes} left)`, user_id: row.id, user_name: row.email, ip: ctx.ip, user_agent: ua(ctx) });
        queueMfaChangedMail(app, row.email, 'recovery_used', r.remainingRecoveryCodes);
      }
      return null;
    }
    const refusal = codeRefusal(r);
    await audit.record({ type: refusal.auditType, description: `Account page: second factor refused (${refusal.auditReason})`, user_id: row.id, user_name: row.email, ip: ctx.ip, user_agent: ua(ctx) });
    return { error: refusal.message, status: refusal.status };
  }

  async function signedIn(ctx: Context, row: UserRow) {
    await sessions.start(ctx, row);
    await audit.record({ type: 's', description: 'Successful login to the account page', user_id: row.id, user_name: row.email, ip: ctx.ip, user_agent: ua(ctx) });
    ctx.status = 303;
    ctx.redirect(p('/account'));
  }

  router.get('/account', async function showAccount(ctx) {
    const s = await sessions.current(ctx);
    if (!s) return renderLogin(ctx);
    const user = await users.get(s.row.id);
    if (!user || user.blocked) { await sessions.end(ctx); return renderLogin(ctx); }
    await renderAccount(ctx, user);
  });

  router.get('/account/login', async function accountLoginRedirect(ctx) { ctx.status = 303; ctx.redirect(p('/account')); });

  router.post('/account/login', csrf.verify, async function accountLogin(ctx) {
    const body = ctx.request.body as Record<string, unknown>;
    if (!formFields(body, ['email', 'password'])) return renderLogin(ctx, { error: MALFORMED_FORM, status: 400 });
    const rawEmail = str(body.email) ?? '';
    const password = str(body.password) ?? '';
    const fail = () => renderLogin(ctx, { email: rawEmail.slice(0, 320), error: GENERIC_LOGIN_ERROR });
    const r = await app.checkPassword(rawEmail, password, { ip: ctx.ip, userAgent: ua(ctx), where: 'Account page' });
    if (!r.ok) {
      if (r.reason === 'throttled_ip') {
        ctx.set('Retry-After', String(r.retryAfterSeconds));
        return renderLogin(ctx, { email: rawEmail.slice(0, 320), error: TOO_MANY_FROM_IP, status: 429 });
      }
      if (r.reason === 'blocked') return renderLogin(ctx, { email: rawEmail.slice(0, 320), error: 'Your account is blocked. Contact the administrator.', status: 403 });
      return fail();
    }
    const { row, user } = r;
    const email = user.email;
    if (config.email.requireVerification && !user.email_verified) {
      // After the password, so it tells nothing to someone who does not know it. An
      // unverified account (maybe registered by someone else with this address) must not
      // enrol MFA or change anything before the owner proved the mailbox.
      await audit.record({ type: 'f', description: 'Account page login refused: email not verified', user_id: row.id, user_name: email, ip: ctx.ip, user_agent: ua(ctx) });
      return renderLogin(ctx, { email: rawEmail.slice(0, 320), status: 403, error: 'Verify your email address before you continue. Use the link we sent you, or ask for a new one.', link: { href: p('/verify-email/resend'), label: 'Send a new verification link' } });
    }
    if (await app.mfa.isEnrolled(row.id)) {
      if (body.code !== undefined && body.code !== '') {
        const refused = await checkCode(ctx, row, body.code);
        if (refused) return renderLogin(ctx, { email: rawEmail.slice(0, 320), ...refused });
        return signedIn(ctx, row);
      }
      await sessions.startCodeStep(ctx, row);
      return renderCode(ctx);
    }
    await signedIn(ctx, row);
  });

  router.post('/account/code', csrf.verify, async function accountCode(ctx) {
    const row = await sessions.codeStep(ctx);
    if (!row) return renderLogin(ctx, { status: 401, error: 'Your sign-in took too long. Enter your email and password again.' });
    const refused = await checkCode(ctx, row, (ctx.request.body as Record<string, unknown>).code);
    if (refused) return renderCode(ctx, refused.error, refused.status);
    await signedIn(ctx, row);
  });

  router.post('/account/password', csrf.verify, async function changePassword(ctx) {
    const s = await sessions.current(ctx);
    if (!s) return renderLogin(ctx, { status: 401, error: 'Your account session ended. Sign in again to continue.' });
    const user = await users.get(s.row.id);
    if (!user || user.blocked) { await sessions.end(ctx); return renderLogin(ctx, { status: 401 }); }
    const body = ctx.request.body as Record<string, unknown>;
    const current = str(body.password) ?? '';
    const next = body.new_password;
    const refuse = async (error: string, description: string) => {
      await audit.record({ type: 'fcp', description, user_id: user.user_id, user_name: user.email, ip: ctx.ip, user_agent: ua(ctx) });
      await renderAccount(ctx, user, { error, status: 400 });
    };
    // The current password is checked like a login: counted, and refused while throttled.
    const check = await app.checkPassword(user.email, current, { ip: ctx.ip, userAgent: ua(ctx), where: 'Account page password change' });
    if (!check.ok || check.user.user_id !== user.user_id) return refuse('Your current password is not correct.', 'Password change refused: wrong current password');
    const problem = checkPasswordPolicy(next, config.password);
    if (problem) return refuse(problem, `Password change refused: ${problem}`);
    await users.setPasswordHash(user.user_id, await app.hasher.hash(next as string));
    await sessions.keepOnlyThis(ctx, user.user_id, s.sid, s.expires);
    // The user as stored now: post-change-password sees the new last_password_reset and updated_at.
    const changed = (await users.get(user.user_id)) ?? user;
    const revoked = await afterPasswordChange(app, ctx, changed, 'account');
    await audit.record({ type: 'scp', description: 'Password changed on the account page', user_id: user.user_id, user_name: user.email, ip: ctx.ip, user_agent: ua(ctx), details: { revoked_token_count: revoked } });
    await renderAccount(ctx, user, { info: 'Your password was changed. You stay signed in to this page; everywhere else, applications in this browser included, you were signed out.' });
  });

  router.post('/account/apps/revoke', csrf.verify, async function revokeApp(ctx) {
    const s = await sessions.current(ctx);
    if (!s) return renderLogin(ctx, { status: 401, error: 'Your account session ended. Sign in again to continue.' });
    const user = await users.get(s.row.id);
    if (!user || user.blocked) { await sessions.end(ctx); return renderLogin(ctx, { status: 401 }); }
    const clientId = str((ctx.request.body as Record<string, unknown>).client_id);
    // Only an application the page lists: one that exists and holds a grant of this user's (none revoked: 0 rows).
    // A value no client id has (a NUL, which PostgreSQL refuses in text, or a control character) is none.
    const client = clientId && /^[\x21-\x7e]{1,128}$/.test(clientId) ? await app.clients.get(clientId) : undefined;
    const removed = client ? await app.grants.revokeClient(user.user_id, client.client_id) : 0;
    if (!client || removed === 0) return renderAccount(ctx, user, { error: 'That application has no access to your account.', status: 400 });
    await audit.record({
      type: 'srrt', description: `Access revoked for ${client.name} on the account page`, user_id: user.user_id, user_name: user.email,
      client_id: client.client_id, ip: ctx.ip, user_agent: ua(ctx), details: { revoked_token_count: removed },
    });
    await renderAccount(ctx, user, { info: `${client.name} no longer has access to your account.` });
  });

  router.post('/account/logout', csrf.verify, async function accountLogout(ctx) {
    await sessions.end(ctx);
    renderLogin(ctx, { info: 'You signed out of the account page.' });
  });

  return router;
}
