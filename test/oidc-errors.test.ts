import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, loginThroughForm, loginAt, spaAndWebClients, type TestServer } from './helpers/server.ts';
import { alertText } from './helpers/cookie-fetch.ts';
import { expectOAuthError, postForm, basic } from './helpers/oidc-assert.ts';

/*
 * Authorization and token request errors (SECURITY A1, A2, A4, A9–A13): redirect URIs match
 * exactly or the error stays at the server; PKCE is S256 only, required for public clients,
 * and a verifier without a challenge is a downgrade attempt.
 */

const SPA_CB = 'https://app.errors.example/cb';
const WEB_CB = 'https://web.errors.example/cb';
const PASSWORD = 'mistakes were made';
const EMAIL = 'errors.user@example.com';

let ts: TestServer;
let spa: { client_id: string };
let web: { client_id: string; client_secret?: string };
let spaConfig: oidc.Configuration;
let webConfig: oidc.Configuration;

before(async () => {
  ts = await startTestServer();
  ({ spa, web, spaConfig, webConfig } = await spaAndWebClients(ts, { name: 'Errors', spaCallback: SPA_CB, webCallback: WEB_CB, email: EMAIL, password: PASSWORD }));
});
after(async () => { await ts?.close(); });

function authorizeUrl(params: Record<string, string | undefined>) {
  const u = new URL(`${ts.base}/authorize`);
  const all: Record<string, string | undefined> = { response_type: 'code', scope: 'openid', state: oidc.randomState(), ...params };
  for (const [k, v] of Object.entries(all)) if (v !== undefined) u.searchParams.set(k, v);
  return u;
}

/** Logs in through the form for a hand-built authorization URL; returns the callback URL. */
async function callbackFor(url: URL, redirectUri: string) {
  const r = await loginAt(url, { redirectUri, email: EMAIL, password: PASSWORD });
  if (r.posted !== undefined) assert.equal(r.posted, 303, 'login accepted');
  assert.ok(r.callbackUrl, `expected the callback, ended at ${r.url}`);
  return r.callbackUrl;
}

const S256 = (v: string) => oidc.calculatePKCECodeChallenge(v);

test('an unregistered redirect_uri or any variant of the registered one: error page at the server, no redirect (A1, A2)', async () => {
  const variants = [
    'https://evil.example/cb',
    `${SPA_CB}/`,
    'https://APP.errors.example/cb',
    'https://app.errors.example/x/../cb',
    `${SPA_CB}?x=1`,
    `${SPA_CB}#frag`,
    'https://app.errors.example.evil.example/cb',
    'https://app.errors.example@evil.example/cb',
    'https://app.errors.example%2Fcb',
    'https://app.errors.example/%63b',
    'http://app.errors.example/cb',
    'https://app.errors.example:8443/cb',
    'javascript:alert(1)',
  ];
  const challenge = await S256(oidc.randomPKCECodeVerifier());
  for (const redirect_uri of variants) {
    const res = await fetch(authorizeUrl({ client_id: spa.client_id, redirect_uri, code_challenge: challenge, code_challenge_method: 'S256' }), { redirect: 'manual' });
    assert.equal(res.headers.get('location'), null, `${redirect_uri} must not be redirected to`);
    assert.equal(res.status, 400, redirect_uri);
    const body = await res.text();
    assert.match(alertText(body) ?? '', /redirect_uri/, `${redirect_uri}: ${body.slice(0, 300)}`);
    assert.ok(!body.includes('name="password"'), 'no login form for a bad redirect_uri');
  }
  // The exact registered URI goes on to the login page.
  const ok = await fetch(authorizeUrl({ client_id: spa.client_id, redirect_uri: SPA_CB, code_challenge: challenge, code_challenge_method: 'S256' }), { redirect: 'manual' });
  assert.equal(ok.status, 303);
  assert.match(ok.headers.get('location') ?? '', /\/interaction\//);
});

test('an unknown client_id: error page, no redirect', async () => {
  const res = await fetch(authorizeUrl({ client_id: 'no-such-client', redirect_uri: SPA_CB }), { redirect: 'manual' });
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('location'), null);
});

test('a public client without code_challenge is refused at authorization (A9)', async () => {
  const res = await fetch(authorizeUrl({ client_id: spa.client_id, redirect_uri: SPA_CB }), { redirect: 'manual' });
  const loc = new URL(res.headers.get('location') ?? 'about:blank');
  assert.equal(loc.origin + loc.pathname, SPA_CB);
  assert.equal(loc.searchParams.get('error'), 'invalid_request');
  assert.match(loc.searchParams.get('error_description') ?? '', /PKCE/);
  assert.equal(loc.searchParams.get('code'), null);
});

test('code_challenge_method=plain is refused (A10)', async () => {
  for (const client of [spa.client_id, web.client_id]) {
    const cb = client === spa.client_id ? SPA_CB : WEB_CB;
    const res = await fetch(authorizeUrl({ client_id: client, redirect_uri: cb, code_challenge: oidc.randomPKCECodeVerifier(), code_challenge_method: 'plain' }), { redirect: 'manual' });
    const loc = new URL(res.headers.get('location') ?? 'about:blank');
    assert.equal(loc.searchParams.get('error'), 'invalid_request', `${client}: ${loc}`);
    assert.match(loc.searchParams.get('error_description') ?? '', /code_challenge_method/);
  }
});

test('a wrong or missing code_verifier is invalid_grant (A11)', async () => {
  const r = await loginThroughForm(spaConfig, { redirectUri: SPA_CB, email: EMAIL, password: PASSWORD });
  assert.ok(r.callbackUrl);
  const code = r.callbackUrl.searchParams.get('code')!;
  const base = { grant_type: 'authorization_code', code, redirect_uri: SPA_CB, client_id: spa.client_id };
  const missing = await postForm(`${ts.base}/oauth/token`, base);
  assert.equal(missing.body.error, 'invalid_grant', JSON.stringify(missing.body));
  await expectOAuthError(oidc.authorizationCodeGrant(spaConfig, r.callbackUrl, { pkceCodeVerifier: oidc.randomPKCECodeVerifier(), expectedState: r.state }), 'invalid_grant', 400);
  // Malformed verifiers (too short, too long, characters outside the unreserved set) (A13), each
  // sent with a code whose challenge was made from that very verifier: only the verifier's format
  // can refuse them. (Regression of the test: it sent them for another verifier's challenge, so
  // they would have been refused without any format check.)
  for (const v of ['a'.repeat(42), 'a'.repeat(129), `${'a'.repeat(43)}+/=`]) {
    const own = await loginThroughForm(spaConfig, { redirectUri: SPA_CB, email: EMAIL, password: PASSWORD, params: { code_challenge: await oidc.calculatePKCECodeChallenge(v) } });
    assert.ok(own.callbackUrl?.searchParams.get('code'), `${v.length}: a code for this challenge`);
    const res = await postForm(`${ts.base}/oauth/token`, { ...base, code: own.callbackUrl!.searchParams.get('code')!, code_verifier: v });
    assert.ok(['invalid_grant', 'invalid_request'].includes(String(res.body.error)), `${v.length}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.access_token, undefined);
  }
});

test('a code_verifier without a code_challenge (PKCE downgrade) is invalid_grant (A12)', async () => {
  const cb = await callbackFor(authorizeUrl({ client_id: web.client_id, redirect_uri: WEB_CB }), WEB_CB);
  const code = cb.searchParams.get('code')!;
  const res = await postForm(`${ts.base}/oauth/token`, {
    grant_type: 'authorization_code', code, redirect_uri: WEB_CB, code_verifier: oidc.randomPKCECodeVerifier(),
  }, { authorization: basic(web.client_id, web.client_secret!) });
  assert.equal(res.status, 400);
  assert.equal(res.body.error, 'invalid_grant');
  assert.equal(res.body.access_token, undefined);
});

test('a confidential client without PKCE still works (PKCE is recommended, required only for public clients)', async () => {
  const cb = await callbackFor(authorizeUrl({ client_id: web.client_id, redirect_uri: WEB_CB }), WEB_CB);
  const res = await postForm(`${ts.base}/oauth/token`, {
    grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: WEB_CB,
  }, { authorization: basic(web.client_id, web.client_secret!) });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.ok(res.body.id_token);
});

test('the token request must repeat the exact redirect_uri (A4)', async () => {
  // Two callbacks: with a single registered one oidc-provider fills an omitted redirect_uri in
  // (allowOmittingSingleRegisteredRedirectUri), which is still compared with the code's.
  const two = await ts.ctx.clients.create({ name: 'Errors Two Callbacks', app_type: 'regular_web', callbacks: [WEB_CB, `${WEB_CB}/other`] });
  const verifier = oidc.randomPKCECodeVerifier();
  const url = authorizeUrl({ client_id: two.client_id, redirect_uri: WEB_CB, code_challenge: await S256(verifier), code_challenge_method: 'S256' });
  const cb = await callbackFor(url, WEB_CB);
  const code = cb.searchParams.get('code')!;
  const auth = { authorization: basic(two.client_id, two.client_secret!) };
  const other = await postForm(`${ts.base}/oauth/token`, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: `${WEB_CB}/other` }, auth);
  assert.equal(other.body.error, 'invalid_grant', JSON.stringify(other.body));
  const none = await postForm(`${ts.base}/oauth/token`, { grant_type: 'authorization_code', code, code_verifier: verifier }, auth);
  assert.equal(none.body.error, 'invalid_request', JSON.stringify(none.body));
  assert.equal(none.body.access_token, undefined);
});

test("client B cannot redeem client A's code (A7)", async () => {
  const r = await loginThroughForm(webConfig, { redirectUri: WEB_CB, email: EMAIL, password: PASSWORD });
  assert.ok(r.callbackUrl);
  const other = await ts.ctx.clients.create({ name: 'Errors Other Web', app_type: 'regular_web', callbacks: [WEB_CB] });
  const res = await postForm(`${ts.base}/oauth/token`, {
    grant_type: 'authorization_code', code: r.callbackUrl.searchParams.get('code')!, code_verifier: r.verifier, redirect_uri: WEB_CB,
  }, { authorization: basic(other.client_id, other.client_secret!) });
  assert.equal(res.body.error, 'invalid_grant');
});

test('response types other than code are refused (A16)', async () => {
  for (const response_type of ['token', 'id_token token', 'id_token']) {
    const res = await fetch(authorizeUrl({ client_id: spa.client_id, redirect_uri: SPA_CB, response_type, nonce: 'n' }), { redirect: 'manual' });
    const loc = res.headers.get('location');
    assert.ok(loc, `${response_type}: expected an error redirect, got ${res.status}`);
    const u = new URL(loc);
    const params = new URLSearchParams(u.hash ? u.hash.slice(1) : u.search);
    assert.equal(params.get('error') ?? u.searchParams.get('error'), 'unsupported_response_type', `${response_type}: ${loc}`);
    assert.equal(params.get('access_token'), null);
  }
});

test('duplicate parameters are invalid_request; unknown ones are ignored (A17, A18)', async () => {
  const challenge = await S256(oidc.randomPKCECodeVerifier());
  const u = authorizeUrl({ client_id: spa.client_id, redirect_uri: SPA_CB, code_challenge: challenge, code_challenge_method: 'S256' });
  u.searchParams.append('scope', 'email');
  const dup = await fetch(u, { redirect: 'manual' });
  const loc = new URL(dup.headers.get('location') ?? 'about:blank');
  assert.equal(loc.searchParams.get('error'), 'invalid_request');
  assert.match(loc.searchParams.get('error_description') ?? '', /scope/);

  const extra = authorizeUrl({ client_id: spa.client_id, redirect_uri: SPA_CB, code_challenge: challenge, code_challenge_method: 'S256', made_up_param: 'x' });
  const res = await fetch(extra, { redirect: 'manual' });
  assert.equal(res.status, 303);
  assert.match(res.headers.get('location') ?? '', /\/interaction\//);
});
