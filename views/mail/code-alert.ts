import { html } from '../html.ts';
import { mailButton, mailFooter, mailLayout, type MailContent } from './layout.ts';

/**
 * Out-of-band notices about the second factor of a sign-in whose password was right:
 * - `reused`: a code already used (TOTP or recovery) was sent again (ASVS 4 2.8.5: a reused
 *   time-based code is logged, refused, and its holder notified). Whoever sent it got past the
 *   password and saw a code from the owner's app, unless the owner sent the same form twice: the
 *   mail says both.
 * - `locked`: wrong codes paused sign-in with a code (the lock of the mfa module). Codes are
 *   asked only after the right password, so someone who is not the owner may know it.
 */
export type CodeAlert = 'reused' | 'locked';

const TEXT: Record<CodeAlert, { subject: string; title: string; what: (app: string, email: string, when: string) => string; yours: string; notYou: string }> = {
  reused: {
    subject: 'a sign-in code was used twice',
    title: 'A sign-in code was used twice',
    what: (app, email, when) => `A code that had already been used (from your authenticator app, or one of your recovery codes) was sent again for your ${app} account ${email} on ${when}. It was refused.`,
    yours: 'If you sent the same code twice (a form submitted again, a second tab), there is nothing to do.',
    notYou: 'If not, someone knows your password and saw one of your codes: reset your password now, and make new recovery codes on your account page.',
  },
  locked: {
    subject: 'sign-in paused after wrong codes',
    title: 'Sign-in paused after wrong codes',
    what: (app, email, when) => `The right password for your ${app} account ${email} was followed by several wrong codes from the authenticator app, until ${when}. Signing in with a code is paused for a few minutes.`,
    yours: 'If that was you, wait a few minutes and enter the current code from your app (or a recovery code).',
    notYou: 'If not, someone knows your password: reset it now.',
  },
};

export function codeAlertMail(o: { appName: string; email: string; when: Date; resetUrl: string; kind: CodeAlert }): MailContent {
  const t = TEXT[o.kind];
  const what = t.what(o.appName, o.email, o.when.toUTCString());
  return {
    subject: `${o.appName}: ${t.subject}`,
    text: [what, '', t.yours, t.notYou, o.resetUrl, ''].join('\n'),
    html: mailLayout({
      appName: o.appName, title: t.title,
      body: html`<p>${what}</p>
<p>${t.yours}</p>
${mailFooter(t.notYou)}
${mailButton(o.resetUrl, 'Reset password')}`,
    }),
  };
}
