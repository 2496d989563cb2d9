import { html } from '../html.ts';
import { mailButton, mailFooter, mailLayout, type MailContent } from './layout.ts';

/** The password-reset link (SECURITY 3.6): single use, short-lived, nothing changes until used. */
export function resetPasswordMail(o: { appName: string; link: string; ttlMinutes: number }): MailContent {
  const subject = `Reset your ${o.appName} password`;
  const ignore = 'If you did not ask for this, ignore this message: your password stays as it is.';
  return {
    subject,
    text: [
      `Someone (hopefully you) asked to reset the password of your ${o.appName} account.`,
      'To choose a new password, open this link:',
      '',
      o.link,
      '',
      `The link works once and expires in ${o.ttlMinutes} minutes.`,
      '',
      ignore,
      '',
    ].join('\n'),
    html: mailLayout({
      appName: o.appName, title: 'Reset your password',
      body: html`<p>Someone (hopefully you) asked to reset the password of your ${o.appName} account.</p>
${mailButton(o.link, 'Choose a new password')}
<p>The link works once and expires in ${o.ttlMinutes} minutes.</p>
${mailFooter(ignore)}`,
    }),
  };
}
