import { html } from './html.ts';
import { alert, layout, notice } from './layout.ts';

interface Base { appName: string; assetsBase?: string; csrf: string }

/**
 * The link in a verification mail opens this page; only its button (a POST) verifies, so a
 * mail scanner that fetches every link does not use the token up.
 */
export function verifyConfirmPage(o: Base & { action: string; token: string; email: string }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Verify your email',
    body: html`<h1 id="page-title">Verify your email</h1>
<p class="sub">Confirm that <strong>${o.email}</strong> is your email address.</p>
<form method="post" action="${o.action}">
<input type="hidden" name="_csrf" value="${o.csrf}">
<input type="hidden" name="token" value="${o.token}">
<button type="submit">Verify email address</button>
</form>`,
  });
}

export function resendVerificationPage(o: Base & { action: string; error?: string; info?: string }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Send a new verification link',
    body: html`<h1 id="page-title">Send a new verification link</h1>
<p class="sub">Enter the email address of your account and we will send it a new link.</p>
${alert(o.error)}${notice(o.info)}
<form method="post" action="${o.action}" novalidate>
<input type="hidden" name="_csrf" value="${o.csrf}">
<label for="email">Email address<input id="email" name="email" type="email" autocomplete="email" required autofocus></label>
<button type="submit">Send link</button>
</form>`,
  });
}

/** The forgot-password form. It never echoes the address, so every answer reads the same. */
export function resetRequestPage(o: Base & { action: string; error?: string; info?: string }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Reset your password',
    body: html`<h1 id="page-title">Reset your password</h1>
<p class="sub">Enter the email address of your account and we will send it a link to choose a new password.</p>
${alert(o.error)}${notice(o.info)}
<form method="post" action="${o.action}" novalidate>
<input type="hidden" name="_csrf" value="${o.csrf}">
<label for="email">Email address<input id="email" name="email" type="email" autocomplete="email" required autofocus></label>
<button type="submit">Send reset link</button>
</form>`,
  });
}

/** Reached from the reset mail; the token rides in a hidden field, not in any later URL. */
export function resetFormPage(o: Base & { action: string; token: string; email: string; minLength: number; error?: string }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Choose a new password',
    body: html`<h1 id="page-title">Choose a new password</h1>
<p class="sub">For ${o.email}. Passwords need at least ${o.minLength} characters; very common passwords are refused.</p>
${alert(o.error)}
<form method="post" action="${o.action}" novalidate>
<input type="hidden" name="_csrf" value="${o.csrf}">
<input type="hidden" name="token" value="${o.token}">
<input type="text" name="username" autocomplete="username" value="${o.email}" hidden readonly>
<label for="new_password">New password<input id="new_password" name="new_password" type="password" autocomplete="new-password" required minlength="${o.minLength}" autofocus></label>
<button type="submit">Set new password</button>
</form>`,
  });
}

/** An outcome page with a follow-up link (expired link → ask for a new one, and so on). */
export function linkOutcomePage(o: { appName: string; assetsBase?: string; title: string; message: string; error?: boolean; link?: { href: string; label: string } }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: o.title,
    body: html`<h1 id="page-title">${o.title}</h1>
${o.error ? alert(o.message) : html`<p role="status">${o.message}</p>`}
${o.link ? html`<div class="links"><a href="${o.link.href}">${o.link.label}</a></div>` : ''}`,
  });
}

/** A correct password for an address not verified yet, while verification is required. */
export function verificationRequiredPage(o: { appName: string; assetsBase?: string; email: string; resendUrl: string; loginUrl?: string }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Verify your email',
    body: html`<h1 id="page-title">Verify your email</h1>
${alert(`Verify your email address ${o.email} before you log in. Use the link we sent you, or ask for a new one.`)}
<div class="links"><a href="${o.resendUrl}">Send a new verification link</a>${o.loginUrl ? html`<a href="${o.loginUrl}">Back to log in</a>` : ''}</div>`,
  });
}
