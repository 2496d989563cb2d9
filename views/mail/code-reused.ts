import { html } from '../html.ts';
import { mailButton, mailFooter, mailLayout, type MailContent } from './layout.ts';

/**
 * Out-of-band notice when a sign-in code that was already used (TOTP or recovery) is sent again
 * (ASVS 4 2.8.5: a reused time-based code is logged, refused, and its holder notified). Whoever sends it
 * got past the password and saw a code from the owner's app, unless the owner sent the same form
 * twice: the mail says both.
 */
export function codeReusedMail(o: { appName: string; email: string; when: Date; resetUrl: string }): MailContent {
  const subject = `${o.appName}: a sign-in code was used twice`;
  const when = o.when.toUTCString();
  const what = `A code that had already been used (from your authenticator app, or one of your recovery codes) was sent again for your ${o.appName} account ${o.email} on ${when}. It was refused.`;
  const yours = 'If you sent the same code twice (a form submitted again, a second tab), there is nothing to do.';
  const notYou = 'If not, someone knows your password and saw one of your codes: reset your password now, and make new recovery codes on your account page.';
  return {
    subject,
    text: [`${what}`, '', yours, notYou, o.resetUrl, ''].join('\n'),
    html: mailLayout({
      appName: o.appName, title: 'A sign-in code was used twice',
      body: html`<p>${what}</p>
<p>${yours}</p>
${mailFooter(notYou)}
${mailButton(o.resetUrl, 'Reset password')}`,
    }),
  };
}
