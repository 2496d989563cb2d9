import { html, type SafeHtml } from './html.ts';
import { alert, layout, notice } from './layout.ts';

interface Base { appName: string; assetsBase?: string; csrf: string }

/** The account page's own sign-in: sensitive changes need a fresh password (ASVS 5 7.5.1). */
export function accountLoginPage(o: Base & { action: string; resetUrl: string; email?: string; error?: string; info?: string; link?: { href: string; label: string } }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Your account',
    body: html`<h1 id="page-title">Your account</h1>
<p class="sub">Enter your password to manage your account.</p>
${alert(o.error)}${notice(o.info)}
${o.link ? html`<p><a href="${o.link.href}">${o.link.label}</a></p>` : ''}
<form method="post" action="${o.action}" novalidate>
<input type="hidden" name="_csrf" value="${o.csrf}">
<label for="email">Email address<input id="email" name="email" type="email" autocomplete="username" required value="${o.email ?? ''}" ${o.email ? '' : 'autofocus'}></label>
<label for="password">Password<input id="password" name="password" type="password" autocomplete="current-password" required ${o.email ? 'autofocus' : ''}></label>
<button type="submit">Continue</button>
</form>
<div class="links"><a href="${o.resetUrl}">Forgot password?</a></div>`,
  });
}

/** Second step for users with an authenticator: the code (TOTP or a recovery code). */
export function accountCodePage(o: Base & { action: string; error?: string }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Your account',
    body: html`<h1 id="page-title">Enter your code</h1>
<p class="sub">Open your authenticator app and enter the 6-digit code, or one of your recovery codes.</p>
${alert(o.error)}
<form method="post" action="${o.action}" novalidate>
<input type="hidden" name="_csrf" value="${o.csrf}">
<label for="code">Code<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required autofocus></label>
<button type="submit">Continue</button>
</form>`,
  });
}

/** One application the user gave access to, as the account page lists it. */
export interface AppAccess { clientId: string; name: string; scopes: string[]; apis: string[]; since: Date; offline: boolean }

/** "Apps with access": what each application may do, and a button to take it back (SECURITY.md 3.1). */
function appsSection(o: { csrf: string; apps: AppAccess[]; revokeAction: string }) {
  const rows = o.apps.map((a) => html`<li class="app" data-client-id="${a.clientId}">
<p><strong>${a.name}</strong> · since ${a.since.toISOString().slice(0, 10)}${a.offline ? ' · keeps access while you are away (refresh token)' : ''}</p>
<p class="sub">${a.scopes.length ? a.scopes.join(', ') : 'sign-in only'}${a.apis.length ? html` · APIs: ${a.apis.join(', ')}` : ''}</p>
<form method="post" action="${o.revokeAction}">
<input type="hidden" name="_csrf" value="${o.csrf}">
<input type="hidden" name="client_id" value="${a.clientId}">
<button type="submit" class="secondary" aria-label="Revoke access for ${a.name}">Revoke access</button>
</form>
</li>`);
  return html`<section id="apps" aria-labelledby="apps-title">
<h2 id="apps-title">Apps with access</h2>
${o.apps.length ? html`<ul class="apps">${rows}</ul>
<p class="sub">Revoking ends the app's tokens, including any that keep it working while you are away. An app made by someone else must then ask for your permission again; this service's own apps sign you in again while you are signed in here.</p>` : html`<p class="sub">No application has access to your account.</p>`}
</section>`;
}

export function accountPage(o: Base & {
  email: string; emailVerified: boolean; passwordAction: string; logoutAction: string; resendUrl: string; minLength: number;
  error?: string; info?: string; mfaSection?: SafeHtml; apps?: AppAccess[]; revokeAction?: string;
}) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Your account',
    body: html`<h1 id="page-title">Your account</h1>
${alert(o.error)}${notice(o.info)}
<section id="profile" aria-labelledby="profile-title">
<h2 id="profile-title">Email</h2>
<p><span id="account-email">${o.email}</span> · <span id="email-verified" data-verified="${o.emailVerified ? 'true' : 'false'}">${o.emailVerified ? 'verified' : 'not verified'}</span></p>
${o.emailVerified ? '' : html`<p><a href="${o.resendUrl}">Send a new verification link</a></p>`}
</section>
<section id="password-section" aria-labelledby="password-title">
<h2 id="password-title">Change password</h2>
<form method="post" action="${o.passwordAction}" novalidate>
<input type="hidden" name="_csrf" value="${o.csrf}">
<input type="text" name="username" autocomplete="username" value="${o.email}" hidden readonly>
<label for="password">Current password<input id="password" name="password" type="password" autocomplete="current-password" required></label>
<label for="new_password">New password<input id="new_password" name="new_password" type="password" autocomplete="new-password" required minlength="${o.minLength}"></label>
<button type="submit">Change password</button>
</form>
<p class="sub">Changing your password signs you out of every other session.</p>
</section>
${o.mfaSection ? html`<section id="mfa" aria-label="Multi-factor authentication">${o.mfaSection}</section>` : ''}
${o.apps && o.revokeAction ? appsSection({ csrf: o.csrf, apps: o.apps, revokeAction: o.revokeAction }) : ''}
<form method="post" action="${o.logoutAction}">
<input type="hidden" name="_csrf" value="${o.csrf}">
<button type="submit" class="secondary">Sign out of account page</button>
</form>`,
  });
}
