import { html, SafeHtml } from './html.ts';
import { alert, layout } from './layout.ts';

interface Base { appName: string; assetsBase?: string; csrf: string; action: string; error?: string }

/** Enrollment: QR code of the otpauth:// URI, the base32 secret for manual entry, and the first code. */
export function enrollPage(o: Base & { qrSvg: string; secret: string; accountLabel: string; issuerLabel: string }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Set up two-step verification',
    body: html`<h1 id="page-title">Set up two-step verification</h1>
<p class="sub">Scan this code with an authenticator app (Google Authenticator, 1Password, Authy…). It will show up as <strong>${o.issuerLabel}</strong> (${o.accountLabel}).</p>
${alert(o.error)}
<figure class="qr" aria-label="QR code for your authenticator app">${new SafeHtml(o.qrSvg)}</figure>
<p>Can't scan it? Enter this key by hand:</p>
<p><code id="totp-secret" class="secret" data-secret="${o.secret}">${o.secret}</code></p>
<form method="post" action="${o.action}" novalidate>
<input type="hidden" name="_csrf" value="${o.csrf}">
<label for="code">6-digit code from the app<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="12" required autofocus></label>
<button type="submit">Verify and continue</button>
</form>`,
  });
}

/** Challenge: a TOTP code or one recovery code. */
export function challengePage(o: Base & { rememberDays?: number }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Two-step verification',
    body: html`<h1 id="page-title">Two-step verification</h1>
<p class="sub">Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>
${alert(o.error)}
<form method="post" action="${o.action}" novalidate>
<input type="hidden" name="_csrf" value="${o.csrf}">
<label for="code">Code<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="40" required autofocus></label>
${o.rememberDays ? html`<label class="check"><input type="checkbox" name="remember" value="1"> Remember this browser for ${o.rememberDays} days</label>` : ''}
<button type="submit">Verify</button>
</form>`,
  });
}

/** Recovery codes, shown once after enrollment or regeneration. */
export function recoveryCodesPage(o: Base & { codes: string[]; continueLabel?: string }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Save your recovery codes',
    body: html`<h1 id="page-title">Save your recovery codes</h1>
<p class="sub">Each code signs you in once if you lose your authenticator. They are shown only now: store them somewhere safe.</p>
<ol class="codes" id="recovery-codes">${o.codes.map((c) => html`<li><code>${c}</code></li>`)}</ol>
<form method="post" action="${o.action}">
<input type="hidden" name="_csrf" value="${o.csrf}">
<button type="submit">${o.continueLabel ?? 'I have saved them, continue'}</button>
</form>`,
  });
}
