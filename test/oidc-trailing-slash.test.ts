import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startTestServer, discover, loginThroughForm, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';

/*
 * An issuer ending in "/" (Auth0's form, which its SDKs expect as `iss`): discovery, tokens
 * and every URL built from it must come out right, with no "//" and no missing slash.
 */

const CB = 'https://app-5180.example/cb';
const API = 'https://api.slash.example';
const PASSWORD = 'slash and burn';

let ts: TestServer;
let spa: { client_id: string };
let config: oidc.Configuration;

before(async () => {
  ts = await startTestServer({}, { trailingSlash: true });
  spa = await ts.ctx.clients.create({ name: 'Slash SPA', app_type: 'spa', callbacks: [CB], allowed_logout_urls: [`${CB}/bye`] });
  await ts.ctx.resourceServers.create({ name: 'Slash API', identifier: API, scopes: [{ value: 'read:x', description: '' }] });
  await ts.ctx.users.create({ email: 'slash@example.com', password: PASSWORD });
  config = await discover(ts, spa.client_id);
});
after(async () => { await ts?.close(); });

test('discovery: the issuer keeps its slash and endpoints have no double slash', async () => {
  assert.ok(ts.issuer.endsWith('/'));
  const m = config.serverMetadata();
  assert.equal(m.issuer, ts.issuer);
  for (const [k, v] of Object.entries(m)) {
    if (typeof v === 'string' && v.startsWith('http')) assert.doesNotMatch(v.replace(/^https?:\/\//, ''), /\/\//, `${k}: ${v}`);
  }
  assert.equal(m.authorization_endpoint, `${ts.base}/authorize`);
  assert.equal(m.token_endpoint, `${ts.base}/oauth/token`);
  assert.equal(m.jwks_uri, `${ts.base}/.well-known/jwks.json`);
});

test('login works and the ID token and access token iss equal the issuer with its slash', async () => {
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'slash@example.com', password: PASSWORD, scope: 'openid email read:x', params: { audience: API } });
  assert.ok(r.callbackUrl, `login did not reach the callback: ${r.loginPage?.slice(0, 300)}`);
  const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.equal(tokens.claims()?.iss, ts.issuer);
  const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
  await jwtVerify(tokens.id_token!, jwks, { issuer: ts.issuer, audience: spa.client_id });
  const at = await jwtVerify(tokens.access_token, jwks, { issuer: ts.issuer, audience: API, typ: 'at+jwt' });
  assert.equal(at.payload.iss, ts.issuer);
});

test('the login page posts to a path without a double slash; /v2/logout redirects to /oidc/logout', async () => {
  const browser = new Browser();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: CB, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  });
  const { res, url: at } = await browser.follow(url);
  assert.doesNotMatch(at.pathname, /\/\//);
  const html = await res.text();
  assert.match(html, /action="\/interaction\/[^"/]+\/login"/);
  assert.match(html, /href="\/signup\?interaction=/);

  const out = await fetch(`${ts.base}/v2/logout?client_id=${spa.client_id}&returnTo=${encodeURIComponent(`${CB}/bye`)}`, { redirect: 'manual' });
  assert.equal(out.status, 303);
  const loc = new URL(out.headers.get('location')!);
  assert.equal(loc.origin + loc.pathname, `${ts.base}/oidc/logout`);
});

test('the Management API audience is /api/v2/ on the origin', async () => {
  const token = await ts.adminToken();
  const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  assert.equal(payload.aud, `${ts.base}/api/v2/`);
  assert.equal(payload.iss, ts.issuer);
});
