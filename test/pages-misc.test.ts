import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, loginWithRefreshToken, authorizationRequest, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';
import { sweepExpired } from '../src/oidc/adapter.ts';

/*
 * Odds and ends of the pages and the token endpoint: the configured app name on the pages,
 * sign-up switched off, CORS at the token endpoint by the client's web_origins, audit rows for
 * failed token requests, and the sweep of expired oidc-provider rows.
 */

const APP_NAME = 'Acme Test Portal';
// Not a loopback address: what this file tests does not depend on how a redirect to this device is treated.
const CB = 'https://misc.app.example/cb';
const ORIGIN = 'https://misc.app.example';
const API = 'https://misc-api.example.com';
const PASSWORD = 'pages-misc-password-1';
const EMAIL = 'misc.user@example.com';

let ts: TestServer;
let spa: { client_id: string };
let config: oidc.Configuration;

before(async () => {
  ts = await startTestServer({ appName: APP_NAME });
  spa = (await ts.api('POST', '/clients', { name: 'Misc SPA', app_type: 'spa', callbacks: [CB], web_origins: [ORIGIN] })).body;
  config = await discover(ts, spa.client_id);
  assert.equal((await ts.api('POST', '/resource-servers', { name: 'Misc API', identifier: API, scopes: [{ value: 'read:things', description: 'r' }] })).status, 201);
  assert.equal((await ts.api('POST', '/users', { email: EMAIL, password: PASSWORD })).status, 201);
});
after(async () => { await ts?.close(); });

/** Opens the login page of a new authorization request of `cfg`'s client at `server`; the page, its URL and the browser. */
async function openLogin(cfg: oidc.Configuration, browser = new Browser()) {
  const { url } = await authorizationRequest(cfg, { redirectUri: CB, scope: 'openid email' });
  const { res, url: pageUrl } = await browser.follow(url);
  const html = await res.text();
  assert.equal(res.status, 200, html.slice(0, 500));
  assert.match(html, /name="password"/);
  return { html, pageUrl, browser, uid: pageUrl.pathname.split('/')[2] };
}

const showsAppName = (html: string, name: string) => html.includes(`<span class="app-name">${name}</span>`) && new RegExp(`<title>[^<]* · ${name}</title>`).test(html);

test('the configured app name is on the login, sign-up and error pages', async () => {
  const login = await openLogin(config);
  assert.ok(showsAppName(login.html, APP_NAME), `login page: ${login.html.slice(0, 800)}`);

  const signup = await fetch(`${ts.base}/signup`);
  assert.equal(signup.status, 200);
  assert.ok(showsAppName(await signup.text(), APP_NAME), 'sign-up page');

  // oidc-provider's error page (an unknown client) and the server's own (an unknown page).
  const oidcError = await fetch(`${ts.base}/authorize?client_id=nobody&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(CB)}`, { redirect: 'manual' });
  assert.equal(oidcError.status, 400);
  const oidcErrorHtml = await oidcError.text();
  assert.ok(showsAppName(oidcErrorHtml, APP_NAME), `authorization error page: ${oidcErrorHtml.slice(0, 800)}`);
  const notFound = await fetch(`${ts.base}/interaction/no-such-interaction`, { headers: { accept: 'text/html' } });
  assert.ok(notFound.status >= 400, `an error: ${notFound.status}`);
  assert.ok(showsAppName(await notFound.text(), APP_NAME), 'interaction error page');
});

test('with sign-up switched off, /signup is a 404 and the login page has no sign-up link', async () => {
  // Switched on (this file's server): the link is there.
  assert.match((await openLogin(config)).html, /<a href="[^"]*\/signup\?interaction=/);

  const off = await startTestServer({ signup: { enabled: false } });
  try {
    const c = (await off.api('POST', '/clients', { name: 'No Signup SPA', app_type: 'spa', callbacks: [CB] })).body;
    const login = await openLogin(await discover(off, c.client_id));
    assert.doesNotMatch(login.html, /\/signup/, 'no sign-up link');
    assert.doesNotMatch(login.html, /Sign up/);
    const page = await fetch(`${off.base}/signup`);
    assert.equal(page.status, 404);
    assert.match(await page.text(), /Sign-up is disabled/);
    assert.equal((await fetch(`${off.base}/signup?interaction=${login.uid}`)).status, 404);
    // Posting the form anyway creates nobody.
    const b = login.browser;
    const posted = await b.request(`${off.base}/signup`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: off.base },
      body: new URLSearchParams({ email: 'nosignup@example.com', password: PASSWORD }),
    });
    assert.ok(posted.status >= 400, `refused: ${posted.status}`);
    assert.equal((await off.api('GET', '/users?q=email:"nosignup@example.com"')).body.length, 0);
  } finally {
    await off.close();
  }
});

/** POSTs a form to the token endpoint with `origin`. */
function tokenRequest(body: Record<string, string>, origin?: string) {
  return fetch(`${ts.base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(origin ? { origin } : {}) },
    body: new URLSearchParams(body),
  });
}

test('the token endpoint answers CORS for an origin in the client\'s web_origins, and not for a foreign one', async () => {
  const r = await loginThroughForm(config, { redirectUri: CB, email: EMAIL, password: PASSWORD, scope: 'openid email' });
  const code = r.callbackUrl?.searchParams.get('code');
  assert.ok(code, `a code: ${r.callbackUrl?.href ?? r.status}`);
  const exchange = { grant_type: 'authorization_code', code, redirect_uri: CB, client_id: spa.client_id, code_verifier: r.verifier };

  const foreign = await tokenRequest(exchange, 'https://evil.example');
  const foreignBody = await foreign.json() as { error?: string; access_token?: string };
  assert.equal(foreign.headers.get('access-control-allow-origin'), null, 'no CORS grant for a foreign origin');
  assert.equal(foreignBody.access_token, undefined);
  assert.equal(foreign.status, 400, JSON.stringify(foreignBody));
  assert.equal(foreignBody.error, 'invalid_request');

  // The code was not spent by the refused request: the allowed origin redeems it.
  const allowed = await tokenRequest(exchange, ORIGIN);
  const allowedBody = await allowed.json() as { access_token?: string; error?: string };
  assert.equal(allowed.status, 200, JSON.stringify(allowedBody));
  assert.ok(allowedBody.access_token);
  assert.equal(allowed.headers.get('access-control-allow-origin'), ORIGIN, 'the allowed origin is echoed');
});

/** The audit rows of `type` for `clientId`, newest first. */
async function logsOf(type: string, clientId: string): Promise<{ log_id: string; type: string; client_id: string; description: string }[]> {
  const r = await ts.api('GET', `/logs?per_page=100&q=${encodeURIComponent(`type:${type} AND client_id:"${clientId}"`)}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}
/** Waits a little (the event is written after the answer) for a row of `type` for `clientId` not in `seen`. */
async function newLog(type: string, clientId: string, seen: { log_id: string }[]) {
  for (let i = 0; i < 30; i++) {
    const fresh = (await logsOf(type, clientId)).filter((l) => !seen.some((s) => s.log_id === l.log_id));
    if (fresh.length) return fresh;
    await new Promise((res) => setTimeout(res, 100));
  }
  return [];
}

test('token-issuance failures are audited: a wrong PKCE verifier (feacft) and client_credentials without a client grant (feccft)', async () => {
  const r = await loginThroughForm(config, { redirectUri: CB, email: EMAIL, password: PASSWORD, scope: 'openid email' });
  const code = r.callbackUrl?.searchParams.get('code');
  assert.ok(code);
  const seen = await logsOf('feacft', spa.client_id);
  const wrong = await tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: CB, client_id: spa.client_id, code_verifier: oidc.randomPKCECodeVerifier() });
  assert.equal(wrong.status, 400);
  assert.equal((await wrong.json() as { error?: string }).error, 'invalid_grant');
  const exchangeLogs = await newLog('feacft', spa.client_id, seen);
  assert.equal(exchangeLogs.length, 1, JSON.stringify(exchangeLogs));
  assert.match(exchangeLogs[0].description, /^invalid_grant: code_verifier/);

  const m2m = (await ts.api('POST', '/clients', { name: 'Ungranted M2M', app_type: 'non_interactive' })).body;
  assert.deepEqual(await logsOf('feccft', m2m.client_id), []);
  const cc = await fetch(`${ts.base}/oauth/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${m2m.client_id}:${m2m.client_secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: API }),
  });
  const ccBody = await cc.json() as { error?: string; access_token?: string };
  assert.equal(ccBody.access_token, undefined, 'no token without a client grant');
  assert.equal(cc.status, 400, JSON.stringify(ccBody));
  assert.equal(ccBody.error, 'access_denied');
  const ccLogs = await newLog('feccft', m2m.client_id, []);
  assert.equal(ccLogs.length, 1, JSON.stringify(ccLogs));
  assert.ok(ccLogs[0].description.startsWith(`${ccBody.error}:`), `${ccLogs[0].description} names the error the client got (${ccBody.error})`);
});

test('sweepExpired removes expired codes, refresh tokens and interactions; live rows stay and work', async () => {
  const payloads = () => ts.ctx.db('oidc_payloads');
  // Two logins with refresh tokens: the first one's rows are made to expire, the second one's stay live.
  const expiring = await loginWithRefreshToken(config, { redirectUri: CB, email: EMAIL, password: PASSWORD, audience: API });
  const live = await loginWithRefreshToken(config, { redirectUri: CB, email: EMAIL, password: PASSWORD, audience: API });
  const grantOf = async (refreshToken: string) => {
    const row = await payloads().where({ type: 'RefreshToken', id: refreshToken }).first();
    assert.ok(row, 'the refresh token is stored under its value');
    return String(row.grant_id);
  };
  const expiringGrant = await grantOf(expiring.tokens.refresh_token!);
  const liveGrant = await grantOf(live.tokens.refresh_token!);
  // Two interactions waiting at the login page.
  const staleLogin = await openLogin(config);
  const liveLogin = await openLogin(config);
  for (const [type, grant] of [['AuthorizationCode', expiringGrant], ['AuthorizationCode', liveGrant], ['RefreshToken', expiringGrant], ['RefreshToken', liveGrant]]) {
    assert.ok(await payloads().where({ type, grant_id: grant }).first(), `a ${type} row of grant ${grant}`);
  }
  assert.ok(await payloads().where({ type: 'Interaction', id: staleLogin.uid }).first());
  assert.ok(await payloads().where({ type: 'Interaction', id: liveLogin.uid }).first());

  const past = Date.now() - 60_000;
  await payloads().whereIn('type', ['AuthorizationCode', 'RefreshToken']).andWhere({ grant_id: expiringGrant }).update({ expires_at: past });
  await payloads().where({ type: 'Interaction', id: staleLogin.uid }).update({ expires_at: past });

  const swept = await sweepExpired(ts.ctx.db, (sessions) => ts.ctx.backchannel.sessionsEnded(sessions, 'session-expired'));
  assert.ok(swept >= 3, `at least the three expired rows were swept: ${swept}`);

  for (const type of ['AuthorizationCode', 'RefreshToken']) {
    assert.equal(await payloads().where({ type, grant_id: expiringGrant }).first(), undefined, `the expired ${type} is gone`);
    assert.ok(await payloads().where({ type, grant_id: liveGrant }).first(), `the live ${type} stays`);
  }
  assert.equal(await payloads().where({ type: 'Interaction', id: staleLogin.uid }).first(), undefined, 'the expired interaction is gone');
  assert.ok(await payloads().where({ type: 'Interaction', id: liveLogin.uid }).first(), 'the live interaction stays');
  assert.equal(await payloads().where('expires_at', '<=', Date.now()).first(), undefined, 'no expired row is left');

  // The live rows still do their job.
  const refreshed = await oidc.refreshTokenGrant(config, live.tokens.refresh_token!);
  assert.ok(refreshed.access_token);
  const submitted = await liveLogin.browser.submit(liveLogin.pageUrl, liveLogin.html, { email: EMAIL, password: PASSWORD });
  assert.equal(submitted.status, 303, 'the live interaction still takes the login');
});
