import { html } from './html.ts';
import { alert, layout, notice } from './layout.ts';

/**
 * The device flow's pages (RFC 8628), on the browser of the user whose TV or command-line tool
 * shows a code. The forms post to oidc-provider's own verification endpoint and carry its
 * session-bound `xsrf` value.
 */
interface DeviceForm { appName: string; assetsBase?: string; action: string; xsrf: string }

/** Where the user types the code the device shows (`verification_uri`). */
export function userCodePage(o: DeviceForm & { code?: string; error?: string; info?: string }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Activate a device',
    body: html`<h1 id="page-title">Activate a device</h1>
<p class="sub">Enter the code shown on your device.</p>
${alert(o.error)}${notice(o.info)}
<form method="post" action="${o.action}" novalidate>
<input type="hidden" name="xsrf" value="${o.xsrf}">
<label for="user_code">Code<input id="user_code" name="user_code" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false" required maxlength="32" value="${o.code ?? ''}"${o.error ? html` aria-invalid="true" aria-describedby="error"` : ''} autofocus></label>
<button type="submit">Continue</button>
</form>`,
  });
}

/**
 * Before the user signs in for it: which application asks, and the code to compare with the
 * device's (RFC 8628 §5.4: someone may have sent the user a code of their own device).
 */
export function confirmDevicePage(o: DeviceForm & { clientName: string; userCode: string }) {
  return layout({
    appName: o.appName, assetsBase: o.assetsBase, title: 'Confirm the device',
    body: html`<h1 id="page-title">Confirm the device</h1>
<p class="sub">${o.clientName} on a device asks to sign in with your account.</p>
<p>Check that your device shows this code:</p>
<p class="device-code"><code id="device-code">${o.userCode}</code></p>
<p>Continue only if you started this sign-in yourself, on a device you have in front of you. If someone sent you this code or link, cancel.</p>
<form method="post" action="${o.action}">
<input type="hidden" name="xsrf" value="${o.xsrf}">
<input type="hidden" name="user_code" value="${o.userCode}">
<div class="actions"><button class="secondary" type="submit" name="abort" value="yes">Cancel</button><button type="submit" name="confirm" value="yes">Continue</button></div>
</form>`,
  });
}
