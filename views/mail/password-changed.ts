import { html } from '../html.ts';
import { mailButton, mailFooter, mailLayout, type MailContent } from './layout.ts';

/**
 * Out-of-band notice after a credential change (ASVS 5 6.3.7): carries no token, only a link to
 * the reset page in case the change was not the account owner's doing.
 */
export function passwordChangedMail(o: { appName: string; email: string; when: Date; how: 'reset' | 'account' | 'admin'; resetUrl: string }): MailContent {
  const subject = `Your ${o.appName} password was changed`;
  const when = o.when.toUTCString();
  const how = { reset: 'with a password-reset link', account: 'from the account page', admin: 'by an administrator' }[o.how];
  const signedOut = o.how === 'account' ? 'You were signed out of every application, and of the account page everywhere but where you changed it.' : 'You were signed out everywhere; sign in again with the new password.';
  const notYou = 'If this was not you, reset your password now and check your account:';
  return {
    subject,
    text: [
      `The password of your ${o.appName} account ${o.email} was changed ${how} on ${when}.`,
      signedOut,
      '',
      notYou,
      o.resetUrl,
      '',
    ].join('\n'),
    html: mailLayout({
      appName: o.appName, title: 'Your password was changed',
      body: html`<p>The password of your ${o.appName} account <strong>${o.email}</strong> was changed ${how} on ${when}.</p>
<p>${signedOut}</p>
${mailFooter(notYou)}
${mailButton(o.resetUrl, 'Reset password')}`,
    }),
  };
}
