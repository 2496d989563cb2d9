import { html } from '../html.ts';
import { mailButton, mailFooter, mailLayout, type MailContent } from './layout.ts';

/** Sent after signup and on "send a new link": confirms the address belongs to the person. */
export function verifyEmailMail(o: { appName: string; email: string; link: string; ttlHours: number }): MailContent {
  const subject = `Verify your email address for ${o.appName}`;
  const hours = `${o.ttlHours} hour${o.ttlHours === 1 ? '' : 's'}`;
  const ignore = `If you did not create an account with ${o.appName}, ignore this message: nothing happens until the link is used.`;
  return {
    subject,
    text: [
      `Confirm that ${o.email} is your email address for ${o.appName} by opening this link:`,
      '',
      o.link,
      '',
      `The page that opens asks you to confirm. The link works once and expires in ${hours}.`,
      '',
      ignore,
      '',
    ].join('\n'),
    html: mailLayout({
      appName: o.appName, title: 'Verify your email address',
      body: html`<p>Confirm that <strong>${o.email}</strong> is your email address for ${o.appName}.</p>
${mailButton(o.link, 'Verify email address')}
<p>The page that opens asks you to confirm. The link works once and expires in ${hours}.</p>
${mailFooter(ignore)}`,
    }),
  };
}
