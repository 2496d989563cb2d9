import { html } from '../html.ts';
import { mailFooter, mailLayout, type MailContent } from './layout.ts';

/**
 * Out-of-band notice to the address an account had, when an administrator changes it (ASVS 5
 * 6.3.7): the owner hears of it at the address they still read. No link, no token.
 */
export function emailChangedMail(o: { appName: string; oldEmail: string; newEmail: string; when: Date }): MailContent {
  const subject = `The email address of your ${o.appName} account was changed`;
  const line = `An administrator changed the email address of your ${o.appName} account from ${o.oldEmail} to ${o.newEmail} on ${o.when.toUTCString()}.`;
  const notYou = 'If you did not ask for this, contact the administrator of this service.';
  return {
    subject,
    text: [line, '', notYou, ''].join('\n'),
    html: mailLayout({
      appName: o.appName, title: 'Your email address was changed',
      body: html`<p>An administrator changed the email address of your ${o.appName} account from <strong>${o.oldEmail}</strong> to <strong>${o.newEmail}</strong> on ${o.when.toUTCString()}.</p>
${mailFooter(notYou)}`,
    }),
  };
}
