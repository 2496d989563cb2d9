import { html } from '../html.ts';
import { mailButton, mailFooter, mailLayout, type MailContent } from './layout.ts';

/** Out-of-band notice when a second factor is added or removed (OWASP MFA cheat sheet). */
export function mfaChangedMail(o: { appName: string; email: string; when: Date; change: 'enrolled' | 'removed' | 'recovery_codes'; accountUrl: string }): MailContent {
  const what = { enrolled: 'An authenticator app was added to', removed: 'The authenticator app was removed from', recovery_codes: 'New recovery codes were generated for' }[o.change];
  const subject = `${o.appName}: two-step verification changed`;
  const notYou = 'If this was not you, reset your password now and review your account:';
  return {
    subject,
    text: [`${what} your ${o.appName} account ${o.email} on ${o.when.toUTCString()}.`, '', notYou, o.accountUrl, ''].join('\n'),
    html: mailLayout({
      appName: o.appName, title: 'Two-step verification changed',
      body: html`<p>${what} your ${o.appName} account <strong>${o.email}</strong> on ${o.when.toUTCString()}.</p>
${mailFooter(notYou)}
${mailButton(o.accountUrl, 'Review your account')}`,
    }),
  };
}
