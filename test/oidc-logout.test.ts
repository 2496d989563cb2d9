import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, silentAuthorization, type TestServer } from './helpers/server.ts';
import { Browser, alertText } from './helpers/cookie-fetch.ts';

/*
 * RP-initiated logout through /oidc/logout (OIDC) and /v2/logout (Auth0's URL, mapped onto
 * it). A logout must end the server session: a following prompt=none authorization gets
 * login_required. Unregistered return URLs and forged hints never redirect (A20, A21).
 */

const CB = 'https://app-5176.example/cb';
const LOGGED_OUT = 'https://app-5176.example/logged-out';
const PASSWORD = 'leaving so soon';
const EMAIL = 'logout.user@example.com';

/** What a browser sends; oidc-provider answers end_session errors as JSON to anything else. */
const HTML_ACCEPT = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

let ts: TestServer;
let spa: { client_id: string };
let config: oidc.Configuration;

before(async () => {
  ts = await startTestServer();
  spa = await ts.ctx.clients.create({ name: 'Logout SPA', app_type: 'spa', callbacks: [CB], allowed_logout_urls: [LOGGED_OUT] });
  await ts.ctx.users.create({ email: EMAIL, password: PASSWORD });
  config = await discover(ts, spa.client_id);
});
after(async () => { await ts?.close(); });

async function signedIn() {
  const r = await loginThroughForm(config, { browser: new Browser(HTML_ACCEPT), redirectUri: CB, email: EMAIL, password: PASSWORD });
  assert.ok(r.callbackUrl, `login did not reach the callback: ${r.loginPage?.slice(0, 300)}`);
  const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  return { browser: r.browser, idToken: tokens.id_token! };
}

/** A silent authorization (prompt=none) in `browser`: the callback's query parameters. */
async function silent(browser: Browser) {
  return (await silentAuthorization(config, browser, CB)).searchParams;
}

/** Confirms oidc-provider's logout page (the form is its own, xsrf-protected). */
async function confirmLogout(browser: Browser, page: { res: Response; url: URL }) {
  assert.equal(page.res.status, 200);
  const html = await page.res.text();
  assert.match(html, /op\.logoutForm/, html.slice(0, 500));
  return browser.submit(page.url, html, { logout: 'yes' }, { actionIncludes: '/oidc/logout/confirm' });
}

test('/oidc/logout with id_token_hint ends the session: prompt=none then gives login_required', async () => {
  const { browser, idToken } = await signedIn();
  assert.ok((await silent(browser)).get('code'), 'the session is live before logout');

  const state = oidc.randomState();
  const url = oidc.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: LOGGED_OUT, state });
  assert.equal(url.origin + url.pathname, `${ts.base}/oidc/logout`);
  const done = await confirmLogout(browser, await browser.follow(url));
  assert.equal(done.status, 303);
  const back = new URL(done.headers.get('location')!);
  assert.equal(back.origin + back.pathname, LOGGED_OUT);
  assert.equal(back.searchParams.get('state'), state);

  const after = await silent(browser);
  assert.equal(after.get('error'), 'login_required');
  assert.equal(after.get('code'), null);
});

test('/v2/logout (Auth0) with client_id and returnTo ends the session and returns to returnTo', async () => {
  const { browser } = await signedIn();
  assert.ok((await silent(browser)).get('code'));

  const start = await browser.request(`${ts.base}/v2/logout?client_id=${spa.client_id}&returnTo=${encodeURIComponent(LOGGED_OUT)}&federated`);
  assert.equal(start.status, 303);
  const to = new URL(start.headers.get('location')!, ts.base);
  assert.equal(to.pathname, '/oidc/logout');
  assert.equal(to.searchParams.get('client_id'), spa.client_id);
  assert.equal(to.searchParams.get('post_logout_redirect_uri'), LOGGED_OUT);

  const done = await confirmLogout(browser, await browser.follow(to));
  assert.equal(done.status, 303);
  assert.equal(done.headers.get('location'), LOGGED_OUT);
  assert.equal((await silent(browser)).get('error'), 'login_required');
});

test('/v2/logout without parameters signs out to the "signed out" page', async () => {
  const { browser } = await signedIn();
  const page = await browser.follow(`${ts.base}/v2/logout`);
  const done = await confirmLogout(browser, page);
  const end = await browser.follow(new URL(done.headers.get('location')!, ts.base));
  assert.equal(end.res.status, 200);
  assert.match(await end.res.text(), /signed out/i);
  assert.equal((await silent(browser)).get('error'), 'login_required');
});

test('an unregistered returnTo / post_logout_redirect_uri: error page, no redirect, still signed in (A21, B24)', async () => {
  const { browser, idToken } = await signedIn();
  // B24: open-redirect spellings, each a near miss of the registered http://localhost:5176/logged-out.
  const hostile = ['https://evil.example/', '//evil.example/', '/\\evil.example/', 'https:evil.example', 'javascript:alert(1)',
    `${LOGGED_OUT}@evil.example`, `${LOGGED_OUT}.evil.example`, `${LOGGED_OUT}/../../evil`, `${LOGGED_OUT}#x`, LOGGED_OUT.toUpperCase(), '/logged-out'];
  for (const url of [
    ...hostile.map((to) => `${ts.base}/v2/logout?client_id=${spa.client_id}&returnTo=${encodeURIComponent(to)}`),
    oidc.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: `${LOGGED_OUT}/x` }).href,
  ]) {
    const { res, url: at } = await browser.follow(url);
    assert.equal(res.status, 400, `${url} ended at ${at} with ${res.status}`);
    assert.equal(res.headers.get('location'), null);
    assert.match(alertText(await res.text()) ?? '', /post_logout_redirect_uri/);
  }
  assert.ok((await silent(browser)).get('code'), 'the session survives a refused logout');
});

test('a forged id_token_hint is refused and nobody is logged out (A20)', async () => {
  const { browser, idToken } = await signedIn();
  const [h, p] = idToken.split('.');
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: 'someone-else' })).toString('base64url')}.${idToken.split('.')[2]}`;
  const { res } = await browser.follow(oidc.buildEndSessionUrl(config, { id_token_hint: forged, post_logout_redirect_uri: LOGGED_OUT }));
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('location'), null);
  assert.ok((await silent(browser)).get('code'));
});

test('/v2/logout refuses a repeated parameter', async () => {
  const res = await fetch(`${ts.base}/v2/logout?client_id=a&client_id=b`, { redirect: 'manual' });
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('location'), null);
});

test('oidc-provider pages carry the security headers (A29): logout confirmation and /authorize errors', async () => {
  const { browser } = await signedIn();
  const page = await browser.follow(`${ts.base}/oidc/logout`);
  assert.equal(page.res.status, 200);
  const err = await fetch(`${ts.base}/authorize?client_id=nope&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(CB)}`, { redirect: 'manual' });
  assert.equal(err.status, 400);
  for (const res of [page.res, err]) {
    assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  }
});

test("logout without a session: oidc-provider's auto-submitting form is allowed by the CSP hash", async () => {
  const res = await fetch(`${ts.base}/oidc/logout`, { redirect: 'manual' });
  assert.equal(res.status, 200);
  const html = await res.text();
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1];
  assert.ok(script, 'the form_post page has its inline script');
  const { createHash } = await import('node:crypto');
  const hash = createHash('sha256').update(script).digest('base64');
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, new RegExp(`script-src [^;]*'sha256-${hash.replace(/[+/=]/g, (c) => `\\${c}`)}'`), csp);
  assert.match(csp, /frame-ancestors 'none'/);
});
