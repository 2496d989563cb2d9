import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, authorizationRequest, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';

// response_mode=web_message (OAuth 2.0 Web Message Response Mode): how auth0-spa-js renews
// tokens in a hidden iframe (prompt=none) and answers loginWithPopup. The answer is a page
// whose one script posts the authorization response to the redirect_uri's origin; only that
// page may be framed. test/browser.test.ts runs auth0-spa-js's own iframe against it.

let ts: TestServer;
before(async () => { ts = await startTestServer(); });
after(async () => { await ts?.close(); });

const PASSWORD = 'correct horse battery';
const ORIGIN = 'https://app-5173.example';
const CB = `${ORIGIN}/`;
let seq = 0;

async function spaAndUser(webOrigins = [ORIGIN]) {
  const spa = await ts.api('POST', '/clients', { name: `Silent SPA ${++seq}`, app_type: 'spa', callbacks: [CB], web_origins: webOrigins });
  assert.equal(spa.status, 201, JSON.stringify(spa.body));
  const email = `silent-${seq}@example.com`;
  assert.equal((await ts.api('POST', '/users', { email, password: PASSWORD })).status, 201);
  return { config: await discover(ts, spa.body.client_id), email };
}

/** The authorization response a web_message page posts, and where it posts it. */
function posted(html: string): { response: Record<string, string>; redirect_uri: string } {
  const m = /var data = (\{.*?\});\n/s.exec(html);
  assert.ok(m, `not a web_message page: ${html.slice(0, 400)}`);
  return JSON.parse(m[1]) as { response: Record<string, string>; redirect_uri: string };
}

test('discovery lists web_message among the response modes', async () => {
  const meta = await (await fetch(`${ts.issuer}/.well-known/openid-configuration`)).json() as { response_modes_supported: string[] };
  assert.ok(meta.response_modes_supported.includes('web_message'), meta.response_modes_supported.join(' '));
});

test('prompt=none with web_message: a signed-in browser gets a page that posts the code to the callback\'s origin; the code redeems', async () => {
  const { config, email } = await spaAndUser();
  const login = await loginThroughForm(config, { redirectUri: CB, email, password: PASSWORD, scope: 'openid email' });
  assert.ok(login.callbackUrl);

  const { url, verifier, state } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid email', params: { prompt: 'none', response_mode: 'web_message' } });
  const res = await login.browser.request(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  // Framable (that is the point), and its one inline script allowed by hash, nothing else.
  assert.equal(res.headers.get('x-frame-options'), null);
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.doesNotMatch(csp, /frame-ancestors/);
  assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/, csp);
  assert.match(csp, /default-src 'none'/);
  // The path in any case (oidc-provider's router takes /AUTHORIZE too) gets the same header
  // (regression: Gatehouse's after-answer step matched the exact path only).
  const shouting = new URL((await authorizationRequest(config, { redirectUri: CB, scope: 'openid email', params: { prompt: 'none', response_mode: 'web_message' } })).url);
  shouting.pathname = '/AUTHORIZE';
  const loud = await login.browser.request(shouting);
  assert.equal(loud.status, 200);
  assert.match(loud.headers.get('content-security-policy') ?? '', /script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
  await loud.text();
  const data = posted(await res.text());
  assert.equal(data.redirect_uri, CB, 'postMessage goes to the registered callback\'s origin only');
  assert.equal(data.response.state, state);
  assert.ok(data.response.code, JSON.stringify(data.response));

  const callback = new URL(CB);
  for (const [k, v] of Object.entries(data.response)) callback.searchParams.set(k, v);
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
  assert.equal(tokens.claims()?.email, email);
});

test('prompt=none with web_message and no session: login_required is posted, not a login page', async () => {
  const { config } = await spaAndUser();
  const { url, state } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid', params: { prompt: 'none', response_mode: 'web_message' } });
  const res = await new Browser().request(url);
  const data = posted(await res.text());
  assert.equal(data.response.error, 'login_required');
  assert.equal(data.response.state, state);
  assert.equal(data.response.code, undefined);
});

test('an unregistered redirect_uri gets the error page, unframable, and nothing is posted', async () => {
  const { config } = await spaAndUser();
  const { url } = await authorizationRequest(config, { redirectUri: 'https://evil.example/', scope: 'openid', params: { prompt: 'none', response_mode: 'web_message' } });
  const res = await new Browser().request(url);
  const html = await res.text();
  assert.equal(res.status, 400);
  assert.doesNotMatch(html, /postMessage/);
  assert.doesNotMatch(html, /evil\.example/);
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
});

test('an interactive web_message authorization (loginWithPopup) keeps its login page unframable and posts the code at the end', async () => {
  const { config, email } = await spaAndUser();
  const { url, state } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid', params: { response_mode: 'web_message' } });
  const browser = new Browser();
  const { res, url: at } = await browser.follow(url);
  assert.match(at.pathname, /^\/interaction\//);
  assert.equal(res.headers.get('x-frame-options'), 'DENY', 'the login page itself never goes in a frame');
  const page = await res.text();
  const submitted = await browser.submit(at, page, { email, password: PASSWORD });
  assert.equal(submitted.status, 303);
  const { res: end } = await browser.follow(new URL(submitted.headers.get('location')!, at));
  const data = posted(await end.text());
  assert.equal(data.response.state, state);
  assert.ok(data.response.code);
});

test('web_message needs the callback\'s origin among the client\'s web origins (as on Auth0): otherwise invalid_request, no code', async () => {
  const { config, email } = await spaAndUser([]);
  const login = await loginThroughForm(config, { redirectUri: CB, email, password: PASSWORD, scope: 'openid' });
  assert.ok(login.callbackUrl?.searchParams.get('code'), 'the same client logs in with the query response mode');
  const { url } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid', params: { prompt: 'none', response_mode: 'web_message' } });
  const html = await (await login.browser.request(url)).text();
  assert.doesNotMatch(html, /"code"/);
  const data = posted(html);
  assert.equal(data.response.error, 'invalid_request');
  assert.match(data.response.error_description, /web_origins/);
});

test('web_message is checked again at the resume: web_origins emptied while the user is on the login page means no code', async () => {
  const spa = await ts.api('POST', '/clients', { name: `Shrinking SPA ${++seq}`, app_type: 'spa', callbacks: [CB], web_origins: [ORIGIN] });
  const email = `shrinking-${seq}@example.com`;
  assert.equal((await ts.api('POST', '/users', { email, password: PASSWORD })).status, 201);
  const config = await discover(ts, spa.body.client_id);
  const { url, state } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid', params: { response_mode: 'web_message' } });
  const browser = new Browser();
  const { res, url: at } = await browser.follow(url);
  const page = await res.text();
  assert.equal((await ts.api('PATCH', `/clients/${spa.body.client_id}`, { web_origins: [] })).status, 200);
  const submitted = await browser.submit(at, page, { email, password: PASSWORD });
  const { res: end } = await browser.follow(new URL(submitted.headers.get('location')!, at));
  const html = await end.text();
  assert.doesNotMatch(html, /"code"/);
  const data = posted(html);
  assert.equal(data.response.error, 'invalid_request');
  assert.equal(data.response.state, state);
});
