import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, loginAt, authorizationRequest, spaAndWebClients, type TestServer } from './helpers/server.ts';
import { expectOAuthError } from './helpers/oidc-assert.ts';

/*
 * Refresh tokens: issued for offline_access only with prompt=consent (oidc-provider's rule;
 * first-party clients approve consent without a screen), rotated on every use, and a reused
 * rotated token revokes the whole grant (RFC 9700 §4.14.2, SECURITY A23).
 */

const SPA_CB = 'https://app-5174.example/cb';
const WEB_CB = 'https://web.refresh.example/cb';
const PASSWORD = 'refresh me please';
const EMAIL = 'refresh.user@example.com';

let ts: TestServer;
let web: { client_id: string; client_secret?: string };
let spaConfig: oidc.Configuration;
let webConfig: oidc.Configuration;

before(async () => {
  ts = await startTestServer();
  ({ web, spaConfig, webConfig } = await spaAndWebClients(ts, { name: 'Refresh', spaCallback: SPA_CB, webCallback: WEB_CB, email: EMAIL, password: PASSWORD }));
});
after(async () => { await ts?.close(); });

async function tokensFor(config: oidc.Configuration, redirectUri: string, params: Record<string, string> = { prompt: 'consent' }) {
  const r = await loginThroughForm(config, { redirectUri, email: EMAIL, password: PASSWORD, scope: 'openid email offline_access', params });
  assert.ok(r.callbackUrl, `login did not reach the callback: ${r.loginPage?.slice(0, 300)}`);
  return oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
}

test('offline_access without prompt=consent issues no refresh token (A27)', async () => {
  const tokens = await tokensFor(spaConfig, SPA_CB, {});
  assert.ok(tokens.access_token);
  assert.equal(tokens.refresh_token, undefined);
});

test('refresh tokens rotate; reusing a rotated one is invalid_grant and revokes the grant (A23)', async () => {
  const first = await tokensFor(spaConfig, SPA_CB);
  assert.ok(first.refresh_token, 'prompt=consent + offline_access must give a refresh token');

  const second = await oidc.refreshTokenGrant(spaConfig, first.refresh_token);
  assert.ok(second.refresh_token);
  assert.notEqual(second.refresh_token, first.refresh_token, 'the refresh token rotates');
  assert.notEqual(second.access_token, first.access_token);
  assert.equal(second.claims()?.sub, first.claims()?.sub);
  // The rotated-in token is live until the reuse below.
  assert.ok((await oidc.fetchUserInfo(spaConfig, second.access_token, oidc.skipSubjectCheck)).sub);

  await expectOAuthError(oidc.refreshTokenGrant(spaConfig, first.refresh_token), 'invalid_grant', 400);

  // Reuse means the token leaked: the whole grant goes, including the newest refresh token
  // and the access tokens issued from it.
  await expectOAuthError(oidc.refreshTokenGrant(spaConfig, second.refresh_token!), 'invalid_grant', 400);
  const res = await fetch(`${ts.base}/userinfo`, { headers: { authorization: `Bearer ${second.access_token}` } });
  assert.equal(res.status, 401);
});

test('confidential client: refresh works with its secret, not without it', async () => {
  const first = await tokensFor(webConfig, WEB_CB);
  assert.ok(first.refresh_token);
  const noSecret = await discover(ts, web.client_id);
  await expectOAuthError(oidc.refreshTokenGrant(noSecret, first.refresh_token), 'invalid_client', 401);
  const next = await oidc.refreshTokenGrant(webConfig, first.refresh_token);
  assert.ok(next.access_token);
  assert.ok(next.refresh_token);
});

test('a refresh token is bound to its client and cannot widen the scope (A24)', async () => {
  const first = await tokensFor(spaConfig, SPA_CB);
  assert.ok(first.refresh_token);
  await expectOAuthError(oidc.refreshTokenGrant(webConfig, first.refresh_token), 'invalid_grant', 400);
  await expectOAuthError(oidc.refreshTokenGrant(spaConfig, first.refresh_token, { scope: 'openid email profile offline_access' }), 'invalid_scope', 400);
  // Narrowing is allowed, and the token still works afterwards (nothing above consumed it).
  const narrow = await oidc.refreshTokenGrant(spaConfig, first.refresh_token, { scope: 'openid offline_access' });
  assert.ok(narrow.access_token);
  assert.ok(!String(narrow.scope).split(' ').includes('email'), `scope was ${narrow.scope}`);
});

test('a revoked refresh token stops working', async () => {
  const first = await tokensFor(webConfig, WEB_CB);
  assert.ok(first.refresh_token);
  await oidc.tokenRevocation(webConfig, first.refresh_token);
  await expectOAuthError(oidc.refreshTokenGrant(webConfig, first.refresh_token), 'invalid_grant', 400);
});

test('a refresh naming an API the token was not issued for is invalid_target and spends nothing: the retry works, the login survives', async () => {
  // Regression (outside probe): oidc-provider resolves `resource` after it has consumed the token,
  // so auth0-spa-js's refresh (it sends its audience every time) used the token up, and the retry
  // without it, seen as a reuse, revoked the whole grant.
  await ts.api('POST', '/resource-servers', { name: 'Refresh target', identifier: 'https://target.refresh.example', scopes: [{ value: 'read:t', description: 'r' }] });
  const tokens = await tokensFor(spaConfig, SPA_CB);
  const send = (extra: Record<string, string>) => fetch(`${ts.base}/oauth/token`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'refresh_token', client_id: spaConfig.clientMetadata().client_id, refresh_token: tokens.refresh_token, scope: 'openid email offline_access', ...extra }),
  });
  for (const extra of [{ audience: 'https://target.refresh.example' }, { resource: 'https://nowhere.refresh.example' }, { resource: '/relative' }] as Record<string, string>[]) {
    const res = await send(extra);
    assert.equal(res.status, 400, JSON.stringify(extra));
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_target', JSON.stringify(extra));
  }
  const ok = await send({});
  assert.equal(ok.status, 200, 'the refresh token was not spent by the refused requests');
  const body = await ok.json() as { access_token: string; refresh_token: string };
  assert.ok(body.refresh_token && body.refresh_token !== tokens.refresh_token, 'rotated once, now');
  assert.equal((await fetch(`${ts.base}/userinfo`, { headers: { authorization: `Bearer ${body.access_token}` } })).status, 200, 'the grant lives');
});

test('a refresh for an API deleted since is invalid_target and spends nothing: with the API back, the token works', async () => {
  // Regression (review): with no audience named, oidc-provider takes the token's own API, after
  // consuming the token; the retry was a reuse and revoked the grant.
  const api = 'https://deleted.refresh.example';
  const rs = (await ts.api('POST', '/resource-servers', { name: 'Deleted later', identifier: api, scopes: [{ value: 'read:d', description: 'r' }] })).body;
  const r = await loginThroughForm(spaConfig, { redirectUri: SPA_CB, email: EMAIL, password: PASSWORD, scope: 'openid offline_access read:d', params: { prompt: 'consent', audience: api } });
  const tokens = await oidc.authorizationCodeGrant(spaConfig, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.ok(tokens.refresh_token);
  assert.equal((await ts.api('DELETE', `/resource-servers/${rs.id}`)).status, 204);
  await expectOAuthError(oidc.refreshTokenGrant(spaConfig, tokens.refresh_token!), 'invalid_target', 400);
  await expectOAuthError(oidc.refreshTokenGrant(spaConfig, tokens.refresh_token!), 'invalid_target', 400);
  assert.equal((await ts.api('POST', '/resource-servers', { name: 'Back again', identifier: api, scopes: [{ value: 'read:d', description: 'r' }] })).status, 201);
  const again = await oidc.refreshTokenGrant(spaConfig, tokens.refresh_token!);
  assert.ok(again.access_token, 'the refused refreshes spent nothing');
});

test('two APIs in one authorization are invalid_target; a refresh naming an API its token is not for is invalid_target and spends nothing', async () => {
  // One API per authorization, as Auth0's one audience (post-login judges the one the login is
  // for; oidc-provider would grant them all). A refresh token for two APIs cannot arise then.
  const [a, b] = ['https://two-a.refresh.example', 'https://two-b.refresh.example'];
  for (const id of [a, b]) await ts.api('POST', '/resource-servers', { name: id, identifier: id, scopes: [{ value: 'read:two', description: 'r' }] });
  const req = await authorizationRequest(spaConfig, { redirectUri: SPA_CB, scope: 'openid offline_access read:two', params: { prompt: 'consent', resource: a } });
  req.url.searchParams.append('resource', b);
  const r = await loginAt(req.url, { redirectUri: SPA_CB, email: EMAIL, password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), 'invalid_target', r.callbackUrl?.href);
  // Regression (review): oidc-provider refused a refresh for an API outside the token only after
  // consuming the token, and the retry was a reuse that revoked the grant.
  const one = await authorizationRequest(spaConfig, { redirectUri: SPA_CB, scope: 'openid offline_access read:two', params: { prompt: 'consent', resource: a } });
  const r1 = await loginAt(one.url, { redirectUri: SPA_CB, email: EMAIL, password: PASSWORD });
  const tokens = await oidc.authorizationCodeGrant(spaConfig, r1.callbackUrl!, { pkceCodeVerifier: one.verifier, expectedState: one.state }, { resource: a });
  assert.ok(tokens.refresh_token);
  await expectOAuthError(oidc.refreshTokenGrant(spaConfig, tokens.refresh_token!, { resource: b }), 'invalid_target', 400);
  const again = await oidc.refreshTokenGrant(spaConfig, tokens.refresh_token!, { resource: a });
  assert.ok(again.access_token, 'the refused refresh spent nothing');
});
