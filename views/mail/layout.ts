import { html, type SafeHtml } from '../html.ts';

/** A rendered message: both parts are always sent, so text-only clients get the link too. */
export interface MailContent { subject: string; text: string; html: string }

/**
 * The HTML frame of every mail: inline styles only (mail clients drop stylesheets), no
 * images or remote content, the link repeated as text under the button so it can be copied.
 */
export function mailLayout(o: { appName: string; title: string; body: SafeHtml }): string {
  return `<!doctype html>${html`<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer"><title>${o.title}</title></head>
<body style="margin:0;padding:24px;background:#f3f5f8;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1f24">
<div style="max-width:32rem;margin:0 auto;background:#fff;border:1px solid #d0d5dd;border-radius:10px;padding:24px">
<p style="margin:0 0 16px;font-weight:600;color:#3451d1">${o.appName}</p>
<h1 style="font-size:20px;margin:0 0 12px">${o.title}</h1>
${o.body}
</div>
</body>
</html>`.value}`;
}

/** A call-to-action button plus the same URL as text. */
export const mailButton = (href: string, label: string) => html`<p style="margin:20px 0"><a href="${href}" style="display:inline-block;background:#3451d1;color:#fff;text-decoration:none;font-weight:600;padding:10px 16px;border-radius:8px">${label}</a></p>
<p style="font-size:13px;color:#5b6470">If the button does not work, copy this address into your browser:<br><span style="word-break:break-all">${href}</span></p>`;

export const mailFooter = (text: string) => html`<p style="font-size:13px;color:#5b6470;margin-top:20px">${text}</p>`;
