import { html } from '../html.ts';
import { mailButton, mailFooter, mailLayout, type MailContent } from './layout.ts';

/**
 * Out-of-band notice when a second factor is added, removed (by the user or an administrator) or
 * stood in for by a recovery code (OWASP MFA cheat sheet; ASVS 4 2.5.x, SECURITY.md C9).
 */
export type MfaChange = 'enrolled' | 'removed' | 'removed_by_admin' | 'recovery_codes' | 'recovery_used';
export function mfaChangedMail(o: { appName: string; email: string; when: Date; change: MfaChange; accountUrl: string; remaining?: number }): MailContent {
  const what = {
    enrolled: 'An authenticator app was added to', removed: 'The authenticator app was removed from',
    removed_by_admin: 'An administrator removed the authenticator app from', recovery_codes: 'New recovery codes were generated for',
    recovery_used: `A recovery code${o.remaining === undefined ? '' : ` (${o.remaining} left)`} was used to sign in to`,
  }[o.change];
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
