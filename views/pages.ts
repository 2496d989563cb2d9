import { html, SafeHtml } from './html.ts';
import { alert, layout, notice } from './layout.ts';

interface Base { appName: string; assetsBase?: string; csrf: string }

export function loginPage(o: Base & { action: string; clientName: string; email?: string; error?: string; info?: string; signupUrl?: string; resetUrl?: string }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Log in',
    body: html`<h1 id="page-title">Log in</h1>
<p class="sub">to continue to ${o.clientName}</p>
${alert(o.error)}${notice(o.info)}
<form method="post" action="${o.action}" novalidate>
<input type="hidden" name="_csrf" value="${o.csrf}">
<label for="email">Email address<input id="email" name="email" type="email" autocomplete="username" required value="${o.email ?? ''}" ${o.email ? '' : 'autofocus'}></label>
<label for="password">Password<input id="password" name="password" type="password" autocomplete="current-password" required ${o.email ? 'autofocus' : ''}></label>
<button type="submit">Continue</button>
</form>
<div class="links">${o.signupUrl ? html`<span>No account? <a href="${o.signupUrl}">Sign up</a></span>` : ''}${o.resetUrl ? html`<a href="${o.resetUrl}">Forgot password?</a>` : ''}</div>`,
  });
}

export interface SignupField { name: string; label: string; type: 'text' | 'checkbox'; required: boolean; maxLength: number }

export function signupPage(o: Base & { action: string; email?: string; error?: string; loginUrl?: string; minLength: number; fields?: SignupField[]; values?: Record<string, string> }) {
  const extra = (o.fields ?? []).map((f) => {
    const id = `field-${f.name}`;
    const v = o.values?.[f.name] ?? '';
    return f.type === 'checkbox'
      // No value attribute: a ticked box posts "on", as in Auth0's sign-up partials (actions test `=== 'on'`).
      ? html`<label for="${id}" class="check"><input id="${id}" name="${f.name}" type="checkbox"${v === 'on' ? html` checked` : ''}${f.required ? html` required` : ''}> ${f.label}</label>`
      : html`<label for="${id}">${f.label}${f.required ? '' : ' (optional)'}<input id="${id}" name="${f.name}" type="text" maxlength="${f.maxLength}" value="${v}"${f.required ? html` required` : ''}></label>`;
  });
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Sign up',
    body: html`<h1 id="page-title">Create your account</h1>
<p class="sub">Passwords need at least ${o.minLength} characters.</p>
${alert(o.error)}
<form method="post" action="${o.action}" novalidate>
<input type="hidden" name="_csrf" value="${o.csrf}">
<label for="email">Email address<input id="email" name="email" type="email" autocomplete="email" required value="${o.email ?? ''}" autofocus></label>
<label for="password">Password<input id="password" name="password" type="password" autocomplete="new-password" required minlength="${o.minLength}"></label>
${extra}
<button type="submit">Sign up</button>
</form>
<div class="links">${o.loginUrl ? html`<span>Have an account? <a href="${o.loginUrl}">Log in</a></span>` : ''}</div>`,
  });
}

export function consentPage(o: Base & { action: string; abortUrl: string; clientName: string; scopes: string[] }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Authorize',
    body: html`<h1 id="page-title">Authorize ${o.clientName}</h1>
<p class="sub">${o.clientName} is asking for access to your account:</p>
<ul class="scopes">${o.scopes.map((s) => html`<li>${s}</li>`)}</ul>
<form method="post" action="${o.action}">
<input type="hidden" name="_csrf" value="${o.csrf}">
<div class="actions"><a class="button secondary" href="${o.abortUrl}">Deny</a><button type="submit">Allow</button></div>
</form>`,
  });
}

/**
 * Auth0's organization prompts: the organization's name, asked before the login (`name`); or
 * the organizations the signed-in user belongs to, one button each (`pick`).
 */
export function organizationPage(o: Base & { action: string; clientName: string; error?: string } & (
  { mode: 'name'; value?: string } | { mode: 'pick'; organizations: { id: string; label: string }[]; more: number; abortUrl: string }
)) {
  const form = o.mode === 'name'
    ? html`<form method="post" action="${o.action}" novalidate>
<input type="hidden" name="_csrf" value="${o.csrf}">
<label for="organization">Organization name<input id="organization" name="organization" type="text" autocomplete="organization" required maxlength="50" value="${o.value ?? ''}" autofocus></label>
<button type="submit">Continue</button>
</form>`
    : html`<form method="post" action="${o.action}">
<input type="hidden" name="_csrf" value="${o.csrf}">
<ul class="orgs" aria-label="Your organizations">${o.organizations.map((g) => html`<li><button type="submit" class="secondary" name="organization" value="${g.id}">${g.label}</button></li>`)}</ul>
</form>
${o.more > 0 ? html`<p class="sub">…and ${o.more} more, not listed here. To sign in to one of those, ask your administrator for the application's link to it.</p>` : ''}
<div class="links"><a href="${o.abortUrl}">Cancel</a></div>`;
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Organization',
    body: html`<h1 id="page-title">${o.mode === 'name' ? 'Enter your organization' : 'Choose an organization'}</h1>
<p class="sub">${o.mode === 'name' ? html`to continue to ${o.clientName}` : html`to sign in to ${o.clientName} with`}</p>
${alert(o.error)}
${form}`,
  });
}

export function messagePage(o: { appName: string; assetsBase?: string; title: string; message: string; error?: boolean; extra?: SafeHtml }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: o.title,
    body: html`<h1 id="page-title">${o.title}</h1>
${o.error ? alert(o.message) : html`<p>${o.message}</p>`}${o.extra ?? ''}`,
  });
}

/** oidc-provider's RP-initiated logout confirmation; `form` is the provider's own xsrf-protected form. */
export function logoutPage(o: { appName: string; assetsBase?: string; form: string; clientName?: string }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Log out',
    body: html`<h1 id="page-title">Log out</h1>
<p class="sub">Do you want to sign out${o.clientName ? html` of ${o.clientName}` : ''}?</p>
${new SafeHtml(o.form)}
<div class="actions"><button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, log out</button><button class="secondary" type="submit" form="op.logoutForm">No, stay signed in</button></div>`,
  });
}
