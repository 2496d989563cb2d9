import type { AppContext } from '../context.ts';
import { passwordChangedMail } from '../../views/mail/password-changed.ts';
import { mfaChangedMail, type MfaChange } from '../../views/mail/mfa-changed.ts';
import { emailChangedMail } from '../../views/mail/email-changed.ts';
import { codeAlertMail, type CodeAlert } from '../../views/mail/code-alert.ts';

/**
 * Out-of-band notices to an account's owner (ASVS 5 6.3.7; SECURITY.md C9 and 3.5), sent after
 * the response: the flows and the Management API call these, whoever made the change.
 */
type Deps = Pick<AppContext, 'mail' | 'config' | 'urls'>;
type Content = Omit<Parameters<Deps['mail']['send']>[0], 'to'>;

/** Sends `content` to `to` after the response (mail.later logs a failure under `what`). */
function notice(app: Deps, to: string, content: Content, what: string): void {
  app.mail.later(async () => { await app.mail.send({ to, ...content }); }, what);
}

/** The password changed: by a reset link, on the account page, or by an administrator. */
export function queuePasswordChangedMail(app: Deps, email: string, how: 'reset' | 'account' | 'admin'): void {
  notice(app, email, passwordChangedMail({ appName: app.config.appName, email, when: new Date(), how, resetUrl: app.urls.urlFor('/password/reset') }), 'password changed notification');
}

/** A second factor was added, removed or replaced, or a recovery code stood in for it (`remaining`: codes left). */
export function queueMfaChangedMail(app: Deps, email: string, change: MfaChange, remaining?: number): void {
  notice(app, email, mfaChangedMail({ appName: app.config.appName, email, when: new Date(), change, accountUrl: app.urls.urlFor('/account'), remaining }), 'MFA notification mail');
}

/** An administrator changed the address: the owner hears of it at the one they had. */
export function queueEmailChangedMail(app: Deps, oldEmail: string, newEmail: string): void {
  notice(app, oldEmail, emailChangedMail({ appName: app.config.appName, oldEmail, newEmail, when: new Date() }), 'address changed notification');
}

/**
 * About the second factor of a sign-in whose password was right (views/mail/code-alert.ts): a
 * code already used was sent again and refused (ASVS 4 2.8.5), or wrong codes locked the code
 * step; wherever it happened (login, account page). The user is looked up after the response.
 */
export function queueCodeAlertMail(app: Deps & Pick<AppContext, 'users'>, userId: string, kind: CodeAlert): void {
  app.mail.later(async () => {
    const user = await app.users.get(userId);
    if (user) await app.mail.send({ to: user.email, ...codeAlertMail({ appName: app.config.appName, email: user.email, when: new Date(), resetUrl: app.urls.urlFor('/password/reset'), kind }) });
  }, kind === 'reused' ? 'reused code notification' : 'code lock notification');
}
