import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { startTestServer, discover, loginThroughForm, type TestServer } from './helpers/server.ts';
import { expectOAuthError, postForm, basic } from './helpers/oidc-assert.ts';

/*
 * The main OIDC flows, with openid-client 6 as the relying party and the real login form:
 * discovery, authorization code + PKCE, tokens verified against the published JWKS, a
 * confidential web client, userinfo, introspection, revocation, client credentials.
 */

const API = 'https://api.flows.example';
const SPA_CB = 'https://app-5173.example/cb';
const WEB_CB = 'https://web.flows.example/callback';
const PASSWORD = 'correct horse battery';

let ts: TestServer;
let spa: { client_id: string };
let web: { client_id: string; client_secret?: string };
let m2m: { client_id: string; client_secret?: string };
let m2mNoGrant: { client_id: string; client_secret?: string };
let userId: string;

before(async () => {
  ts = await startTestServer();
  spa = await ts.ctx.clients.create({ name: 'Flows SPA', app_type: 'spa', callbacks: [SPA_CB], web_origins: ['http://localhost:5173'] });
  web = await ts.ctx.clients.create({ name: 'Flows Web', app_type: 'regular_web', callbacks: [WEB_CB] });
  m2m = await ts.ctx.clients.create({ name: 'Flows M2M', app_type: 'non_interactive' });
  m2mNoGrant = await ts.ctx.clients.create({ name: 'Flows M2M without grant', app_type: 'non_interactive' });
  await ts.ctx.resourceServers.create({ name: 'Flows API', identifier: API, scopes: [{ value: 'read:things', description: '' }, { value: 'write:things', description: '' }] });
  await ts.ctx.resourceServers.grants.create({ client_id: m2m.client_id, audience: API, scope: ['read:things'] });
  userId = (await ts.ctx.users.create({ email: 'flow.user@example.com', password: PASSWORD })).user_id;
});
after(async () => { await ts?.close(); });

test('discovery publishes the issuer, S256 only and Auth0 paths', async () => {
  const config = await discover(ts, spa.client_id);
  const m = config.serverMetadata();
  assert.equal(m.issuer, ts.issuer);
  assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
  assert.equal(m.authorization_endpoint, `${ts.base}/authorize`);
  assert.equal(m.token_endpoint, `${ts.base}/oauth/token`);
  assert.equal(m.userinfo_endpoint, `${ts.base}/userinfo`);
  assert.equal(m.jwks_uri, `${ts.base}/.well-known/jwks.json`);
  assert.equal(m.end_session_endpoint, `${ts.base}/oidc/logout`);
  assert.equal(m.revocation_endpoint, `${ts.base}/oauth/revoke`);
  assert.equal(m.introspection_endpoint, `${ts.base}/oauth/token/introspection`);
  assert.ok(!m.response_types_supported?.some((t) => t.includes('token')), 'implicit response types must not be offered');
  assert.ok(!m.id_token_signing_alg_values_supported?.includes('none'));
  // Only what a client can be registered with (regression, outside probe: the JWT client
  // assertions were advertised, and no client could use them).
  // (private_key_jwt: Auth0's Private Key JWT, with its algorithms: test/client-private-key-jwt.test.ts.)
  assert.deepEqual([...(m.token_endpoint_auth_methods_supported ?? [])].sort(), ['client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt']);
  // (Introspection and revocation take the same methods: discovery leaves them out when equal.)
  for (const k of ['introspection_endpoint_auth_methods_supported', 'revocation_endpoint_auth_methods_supported'] as const) {
    if (m[k] !== undefined) assert.deepEqual([...(m[k] as string[])].sort(), ['client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt'], k);
  }
  assert.deepEqual(m.token_endpoint_auth_signing_alg_values_supported, ['RS256', 'RS384', 'PS256']);
});

test('SPA: code + PKCE through the login form; ID token and JWT access token verify against the JWKS', async () => {
  const config = await discover(ts, spa.client_id);
  const nonce = oidc.randomNonce();
  const r = await loginThroughForm(config, {
    redirectUri: SPA_CB, email: 'flow.user@example.com', password: PASSWORD,
    scope: 'openid email profile read:things', params: { audience: API, nonce },
  });
  assert.ok(r.callbackUrl, `login did not reach the callback: ${r.loginPage?.slice(0, 300)}`);
  const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state, expectedNonce: nonce });
  const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));

  const id = await jwtVerify(tokens.id_token!, jwks, { issuer: ts.issuer, audience: spa.client_id });
  assert.equal(id.payload.sub, userId);
  assert.equal(id.payload.nonce, nonce);
  assert.equal(id.payload.email, 'flow.user@example.com');

  const at = await jwtVerify(tokens.access_token, jwks, { issuer: ts.issuer, audience: API, typ: 'at+jwt' });
  assert.equal(decodeProtectedHeader(tokens.access_token).typ, 'at+jwt');
  assert.equal(at.payload.sub, userId);
  assert.equal(at.payload.client_id, spa.client_id);
  const scopes = String(at.payload.scope).split(' ');
  assert.ok(scopes.includes('read:things'), `scope was ${at.payload.scope}`);
  assert.ok(!scopes.includes('write:things'), 'only the requested API scope is granted');

  // Known limitation: with `audience` the access token is a JWT for that API, not for
  // /userinfo (oidc-provider serves userinfo only to its opaque tokens). Ask without
  // `audience` for a userinfo token; the ID token carries the same claims.
  const ui = await fetch(`${ts.base}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(ui.status, 401);
});

test('userinfo refuses a token in the query string and a made-up token (A28)', async () => {
  const config = await discover(ts, spa.client_id);
  const r = await loginThroughForm(config, { redirectUri: SPA_CB, email: 'flow.user@example.com', password: PASSWORD });
  assert.ok(r.callbackUrl);
  const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.equal((await fetch(`${ts.base}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 200);
  const query = await fetch(`${ts.base}/userinfo?access_token=${encodeURIComponent(tokens.access_token)}`);
  assert.ok(query.status === 400 || query.status === 401, `query-string token answered ${query.status}`);
  // Alter the token for sure (a fixed suffix could equal the real one's ending).
  const altered = `${tokens.access_token.slice(0, -2)}${tokens.access_token.endsWith('xx') ? 'yy' : 'xx'}`;
  const made = await fetch(`${ts.base}/userinfo`, { headers: { authorization: `Bearer ${altered}` } });
  assert.equal(made.status, 401, `a made-up token answered ${made.status}`);
});

test('confidential web client: code grant with client_secret_basic, userinfo, introspection and revocation', async () => {
  const config = await discover(ts, web.client_id, web.client_secret);
  const r = await loginThroughForm(config, { redirectUri: WEB_CB, email: 'flow.user@example.com', password: PASSWORD });
  assert.ok(r.callbackUrl, `login did not reach the callback: ${r.loginPage?.slice(0, 300)}`);
  const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.equal(tokens.claims()?.sub, userId);

  // Without `audience` the access token is the opaque one /userinfo accepts.
  const info = await oidc.fetchUserInfo(config, tokens.access_token, userId);
  assert.equal(info.email, 'flow.user@example.com');
  assert.equal(info.email_verified, false);

  const live = await oidc.tokenIntrospection(config, tokens.access_token);
  assert.equal(live.active, true);
  assert.equal(live.sub, userId);
  assert.equal(live.client_id, web.client_id);

  // Another confidential client learns nothing about this token and cannot revoke it.
  const stranger = await discover(ts, m2m.client_id, m2m.client_secret);
  assert.deepEqual(await oidc.tokenIntrospection(stranger, tokens.access_token), { active: false });
  await oidc.tokenRevocation(stranger, tokens.access_token);
  assert.equal((await oidc.tokenIntrospection(config, tokens.access_token)).active, true);

  await oidc.tokenRevocation(config, tokens.access_token);
  const dead = await oidc.tokenIntrospection(config, tokens.access_token);
  assert.equal(dead.active, false);
  const res = await fetch(`${ts.base}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate') ?? '', /invalid_token/);
});

test('the code grant fails with a wrong client secret or none: 401 invalid_client', async () => {
  const wrong = await discover(ts, web.client_id, 'not-the-secret');
  const r = await loginThroughForm(wrong, { redirectUri: WEB_CB, email: 'flow.user@example.com', password: PASSWORD });
  assert.ok(r.callbackUrl);
  await expectOAuthError(oidc.authorizationCodeGrant(wrong, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state }), 'invalid_client', 401);
  const none = await postForm(`${ts.base}/oauth/token`, { grant_type: 'authorization_code', code: r.callbackUrl.searchParams.get('code')!, code_verifier: r.verifier, redirect_uri: WEB_CB, client_id: web.client_id });
  assert.equal(none.status, 401);
  assert.equal(none.body.error, 'invalid_client');
  // The same code is still redeemable by the real client: a failed authentication consumed nothing.
  const right = await discover(ts, web.client_id, web.client_secret);
  const tokens = await oidc.authorizationCodeGrant(right, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.ok(tokens.access_token);
});

test('client credentials: a client grant gives a JWT for the API; wrong secret is 401 invalid_client', async () => {
  const config = await discover(ts, m2m.client_id, m2m.client_secret);
  const cc = await oidc.clientCredentialsGrant(config, { audience: API });
  const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
  const at = await jwtVerify(cc.access_token, jwks, { issuer: ts.issuer, audience: API, typ: 'at+jwt' });
  assert.equal(at.payload.scope, 'read:things');
  assert.equal(at.payload.client_id, m2m.client_id);
  assert.equal(cc.refresh_token, undefined);

  // A scope outside the client grant is dropped (oidc-provider narrows, RFC 6749 §3.3), never granted.
  const wider = await postForm(`${ts.base}/oauth/token`, { grant_type: 'client_credentials', audience: API, scope: 'read:things write:things' }, { authorization: basic(m2m.client_id, m2m.client_secret!) });
  const widerScope = wider.body.access_token ? (await jwtVerify(String(wider.body.access_token), jwks, { issuer: ts.issuer, audience: API })).payload.scope : '';
  assert.ok(!String(widerScope).split(' ').includes('write:things'), `scope was ${widerScope}`);

  const bad = await discover(ts, m2m.client_id, 'wrong-secret-wrong-secret');
  await expectOAuthError(oidc.clientCredentialsGrant(bad, { audience: API }), 'invalid_client', 401);
  const empty = await postForm(`${ts.base}/oauth/token`, { grant_type: 'client_credentials', audience: API, client_id: m2m.client_id, client_secret: '' });
  assert.equal(empty.status, 401);
  assert.equal(empty.body.error, 'invalid_client');

  // The rest of A22: two authentication methods at once, a Basic header that is not base64 of
  // id:secret, and a public client sending a secret. None gets a token. Two methods and a broken
  // header are invalid_request (400), as oidc-provider answers: RFC 6749 2.3 forbids more than one
  // method per request, and a header that does not parse authenticates no client.
  const cases: [string, Record<string, string>, Record<string, string>, number, string][] = [
    ['Basic and body secret', { client_id: m2m.client_id, client_secret: m2m.client_secret! }, { authorization: basic(m2m.client_id, m2m.client_secret!) }, 400, 'invalid_request'],
    ['Basic with bad base64', {}, { authorization: 'Basic %%%not-base64%%%' }, 400, 'invalid_request'],
    ['Basic without a colon', {}, { authorization: `Basic ${Buffer.from(m2m.client_id).toString('base64')}` }, 400, 'invalid_request'],
    ['a public client sending a secret', { client_id: spa.client_id, client_secret: 'anything-at-all-0123456789' }, {}, 401, 'invalid_client'],
  ];
  for (const [name, body, headers, status, error] of cases) {
    const r = await postForm(`${ts.base}/oauth/token`, { grant_type: 'client_credentials', audience: API, ...body }, headers);
    assert.equal(r.body.access_token, undefined, name);
    assert.equal(`${r.status} ${r.body.error}`, `${status} ${error}`, `${name}: ${JSON.stringify(r.body)}`);
  }
});

test('client credentials without a client grant for the API: an error and no token', async () => {
  const config = await discover(ts, m2mNoGrant.client_id, m2mNoGrant.client_secret);
  const err = await expectOAuthError(oidc.clientCredentialsGrant(config, { audience: API }), 'access_denied');
  assert.match(err.error_description ?? '', /client-grant/);
  const raw = await postForm(`${ts.base}/oauth/token`, { grant_type: 'client_credentials', audience: API }, { authorization: basic(m2mNoGrant.client_id, m2mNoGrant.client_secret!) });
  assert.equal(raw.body.access_token, undefined);
  assert.ok(raw.status >= 400);
});

test('a public client cannot use client credentials', async () => {
  const raw = await postForm(`${ts.base}/oauth/token`, { grant_type: 'client_credentials', audience: API, client_id: spa.client_id });
  assert.ok(raw.status >= 400);
  assert.equal(raw.body.access_token, undefined);
});
