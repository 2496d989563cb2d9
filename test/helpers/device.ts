import assert from 'node:assert/strict';
import { Browser } from './cookie-fetch.ts';
import type { TestServer } from './server.ts';

/*
 * The browser half of the device flow (RFC 8628), as a person does it: open /activate, enter the
 * code the device shows, confirm, sign in through the real login form, allow.
 */

/** Opens /activate in `browser` and submits `userCode`: the answer (the confirmation, or the form with an error). */
export async function enterCode(ts: TestServer, browser: Browser, userCode: string) {
  const page = await browser.request(`${ts.base}/activate`);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /<label for="user_code">/, 'the code field has a label');
  return browser.submit(new URL(`${ts.base}/activate`), html, { user_code: userCode });
}

/**
 * Enters the code (`typed`, else `userCode`), checks the confirmation names `clientName` and
 * shows `userCode`, confirms, signs in and allows: the last page, with where it is.
 */
export async function activate(ts: TestServer, o: { userCode: string; clientName: string; email: string; password: string; typed?: string; browser?: Browser }) {
  const browser = o.browser ?? new Browser();
  const confirm = await enterCode(ts, browser, o.typed ?? o.userCode);
  const confirmHtml = await confirm.text();
  assert.equal(confirm.status, 200, confirmHtml.slice(0, 500));
  assert.ok(confirmHtml.includes(o.clientName), 'the confirmation names the application');
  assert.match(confirmHtml, new RegExp(`id="device-code">${o.userCode}<`), 'and shows the code to compare');
  const confirmed = await browser.submit(new URL(`${ts.base}/activate`), confirmHtml, { confirm: 'yes' });
  assert.equal(confirmed.status, 303);
  let { res, url } = await browser.follow(new URL(confirmed.headers.get('location')!, ts.base));
  const login = await res.text();
  assert.match(login, /name="password"/, `the login page, got ${res.status} at ${url}`);
  const posted = await browser.submit(url, login, { email: o.email, password: o.password });
  assert.equal(posted.status, 303);
  ({ res, url } = await browser.follow(new URL(posted.headers.get('location')!, url)));
  let html = await res.text();
  // A native application's consent is asked every time (RFC 8252 §8.6), the device flow's too.
  if (/action="[^"]*\/confirm"/.test(html)) {
    const allowed = await browser.submit(url, html, {}, { actionIncludes: '/confirm' });
    ({ res, url } = await browser.follow(new URL(allowed.headers.get('location')!, url)));
    html = await res.text();
  }
  return { status: res.status, html, url, browser };
}
