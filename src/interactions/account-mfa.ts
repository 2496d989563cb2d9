import { createHash } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import { codeRefusal } from './code-refusal.ts';
import QRCode from 'qrcode';
import type { AppContext } from '../context.ts';
import type { Csrf } from '../http/koa-csrf.ts';
import type { User } from '../users/users.ts';
import { createAccountSessions } from './account-sessions.ts';
import { html } from '../../views/html.ts';
import { enrollPage, recoveryCodesPage } from '../../views/mfa.ts';
import { accountPage } from '../../views/account.ts';
import { queueMfaChangedMail } from '../mail/notices.ts';

/**
 * The authenticator app on `/account`: enroll (QR code, first code, recovery codes once),
 * remove it or regenerate recovery codes, each only after a current code (re-authentication
 * with the factor itself, OWASP MFA cheat sheet), each audited and notified by mail.
 */
export function createAccountMfaRoutes(app: AppContext, csrf: Csrf) {
  const { config, mfa, audit, urls } = app;
  const router = new Router({ prefix: urls.mountPath });
  const sessions = createAccountSessions(app);
  const p = (path: string) => `${urls.mountPath}${path}`;
  const binding = (sid: string) => `account:${createHash('sha256').update(sid).digest('hex')}`;

  async function signedIn(ctx: Context) {
    const s = await sessions.current(ctx);
    const user = s ? await app.users.get(s.row.id) : undefined;
    if (!s || !user || user.blocked) { ctx.status = 303; ctx.redirect(p('/account')); return undefined; }
    return { s, user };
  }

  const notify = (user: User, change: 'enrolled' | 'removed' | 'recovery_codes') => queueMfaChangedMail(app, user.email, change);

  app.accountMfaSection = async (ctx: Context, user: User) => {
    const factors = await mfa.factors(user.user_id);
    const token = csrf.token(ctx);
    // What an authenticator does at sign-in depends on the MFA policy: say only what is true.
    // With `never`, only an application or an action that asks for a second factor uses it.
    const use = config.mfa.policy === 'never'
      ? 'Add an authenticator app: applications that ask for a second factor will then ask you for a code from it.'
      : 'Add an authenticator app so a stolen password is not enough to sign in.';
    if (!factors.length) {
      return html`<h2>Two-step verification</h2>
<p>Off. ${use}</p>
<form method="post" action="${p('/account/mfa/enroll')}"><input type="hidden" name="_csrf" value="${token}"><button type="submit">Set up authenticator app</button></form>`;
    }
    return html`<h2>Two-step verification</h2>
<p>On: authenticator app added ${factors[0].created_at.slice(0, 10)}.${config.mfa.policy === 'never' ? ' You are asked for a code when an application requires a second factor.' : ' You are asked for a code each time you sign in.'}</p>
<form method="post" action="${p('/account/mfa/recovery-codes')}"><input type="hidden" name="_csrf" value="${token}">
<label for="code-regen">Current code<input id="code-regen" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="40" required></label>
<button type="submit" class="secondary">New recovery codes</button></form>
<form method="post" action="${p('/account/mfa/remove')}"><input type="hidden" name="_csrf" value="${token}">
<label for="code-remove">Current code<input id="code-remove" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="40" required></label>
<button type="submit" class="secondary">Remove authenticator app</button></form>`;
  };

  async function renderEnroll(ctx: Context, user: User, sid: string, error?: string) {
    const e = (await mfa.pendingEnrollment(user.user_id, user.email, binding(sid))) ?? (await mfa.beginEnrollment(user.user_id, user.email, binding(sid)));
    const qrSvg = await QRCode.toString(e.uri, { type: 'svg', margin: 0, errorCorrectionLevel: 'M' });
    ctx.type = 'html';
    ctx.body = enrollPage({ appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), action: p('/account/mfa/confirm'), error, qrSvg, secret: e.secret, accountLabel: user.email, issuerLabel: config.mfa.issuerLabel ?? config.appName });
  }

  function showCodes(ctx: Context, codes: string[]) {
    ctx.type = 'html';
    ctx.body = recoveryCodesPage({ appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), action: p('/account/mfa/done'), codes, continueLabel: 'Back to your account' });
  }

  async function requireCode(ctx: Context, user: User, what: string): Promise<boolean> {
    const r = await mfa.verify(user.user_id, (ctx.request.body as Record<string, unknown>)?.code);
    if (r.ok) return true;
    const refusal = codeRefusal(r);
    await audit.record({ type: refusal.auditType, description: `Account page: ${what} refused (${refusal.auditReason})`, user_id: user.user_id, user_name: user.email, ip: ctx.ip, user_agent: ctx.get('user-agent') });
    ctx.status = refusal.status;
    ctx.type = 'html';
    ctx.body = accountPage({
      appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), email: user.email, emailVerified: user.email_verified,
      passwordAction: p('/account/password'), logoutAction: p('/account/logout'), resendUrl: p('/verify-email/resend'), minLength: config.password.minLength,
      error: refusal.message,
      mfaSection: await app.accountMfaSection!(ctx, user),
    });
    return false;
  }

  router.post('/account/mfa/enroll', csrf.verify, async function accountEnroll(ctx) {
    const a = await signedIn(ctx);
    if (!a) return;
    if (await mfa.isEnrolled(a.user.user_id)) { ctx.status = 303; ctx.redirect(p('/account')); return; }
    await renderEnroll(ctx, a.user, a.s.sid);
  });

  router.post('/account/mfa/confirm', csrf.verify, async function accountConfirm(ctx) {
    const a = await signedIn(ctx);
    if (!a) return;
    const r = await mfa.confirmEnrollment(a.user.user_id, binding(a.s.sid), (ctx.request.body as Record<string, unknown>)?.code);
    if (!r.ok) {
      if (r.reason === 'no_pending') { ctx.status = 303; ctx.redirect(p('/account')); return; }
      ctx.status = r.reason === 'locked' ? 429 : 400;
      return renderEnroll(ctx, a.user, a.s.sid, r.reason === 'locked' ? 'Too many wrong codes. Wait a few minutes, then try again.' : 'That code did not match. Check the app and enter the current 6-digit code.');
    }
    await audit.record({ type: 'gd_enrollment_complete', description: 'Authenticator app enrolled from the account page', user_id: a.user.user_id, user_name: a.user.email, ip: ctx.ip });
    notify(a.user, 'enrolled');
    showCodes(ctx, r.recoveryCodes);
  });

  router.post('/account/mfa/recovery-codes', csrf.verify, async function accountRegenerate(ctx) {
    const a = await signedIn(ctx);
    if (!a || !(await requireCode(ctx, a.user, 'new recovery codes'))) return;
    const codes = await mfa.regenerateRecoveryCodes(a.user.user_id);
    await audit.record({ type: 'gd_recovery_rotate', description: 'Recovery codes regenerated', user_id: a.user.user_id, user_name: a.user.email, ip: ctx.ip });
    notify(a.user, 'recovery_codes');
    showCodes(ctx, codes);
  });

  router.post('/account/mfa/remove', csrf.verify, async function accountRemove(ctx) {
    const a = await signedIn(ctx);
    if (!a || !(await requireCode(ctx, a.user, 'removing the authenticator'))) return;
    await mfa.remove(a.user.user_id);
    await audit.record({ type: 'gd_unenroll', description: 'Authenticator app removed from the account page', user_id: a.user.user_id, user_name: a.user.email, ip: ctx.ip });
    notify(a.user, 'removed');
    ctx.status = 303;
    ctx.redirect(p('/account'));
  });

  router.post('/account/mfa/done', csrf.verify, async function accountMfaDone(ctx) { ctx.status = 303; ctx.redirect(p('/account')); });

  return router;
}
