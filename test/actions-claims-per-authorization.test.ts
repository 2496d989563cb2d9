import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestServer, discover, loginThroughForm, authorizationRequest, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';
import { deployAction, bindActions } from './helpers/actions.ts';

/*
 * The claims post-login decides belong to the authorization it ran for. An SPA that asks one
 * session for tokens for two APIs (auth0-spa-js's getTokenSilently for two audiences, at once)
 * runs the chain once per authorization: each code's tokens must carry what its own run decided,
 * not what the run that finished last decided for the other API.
 */

const API_X = 'https://x.claims.example';
const API_Y = 'https://y.claims.example';
const CB = 'https://app-5178.example/cb';
const EMAIL = 'two-apis@claims.example';
const PASSWORD = 'claims-per-authorization-1';
const CLAIM = 'https://claims.example/api';
let ts: TestServer;
let config: oidc.Configuration;

before(async () => {
  ts = await startTestServer();
  for (const identifier of [API_X, API_Y]) {
    const r = await ts.api('POST', '/resource-servers', { name: identifier, identifier, scopes: [{ value: 'read:data', description: 'read' }] });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  const spa = (await ts.api('POST', '/clients', { name: 'Two APIs SPA', app_type: 'spa', callbacks: [CB] })).body;
  config = await discover(ts, spa.client_id);
  assert.equal((await ts.api('POST', '/users', { email: EMAIL, password: PASSWORD })).status, 201);
  await deployAction(ts, { name: 'api-claim', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      const aud = event.resource_server ? event.resource_server.identifier : 'none';
      api.idToken.setCustomClaim('${CLAIM}', aud);
      api.accessToken.setCustomClaim('${CLAIM}', aud);
    };` });
  await bindActions(ts, 'post-login', ['api-claim']);
});
after(async () => { await ts?.close(); });

/** An authorization for `audience` in `browser`'s session, up to its callback (not exchanged yet). */
async function silentCode(browser: Browser, audience: string) {
  const req = await authorizationRequest(config, { redirectUri: CB, scope: 'openid read:data', params: { prompt: 'none', audience } });
  const { url } = await browser.follow(req.url, {}, (u) => u.href.startsWith(CB));
  assert.ok(url.href.startsWith(CB) && url.searchParams.get('code'), `prompt=none for ${audience} ended at ${url.href}`);
  return { callbackUrl: url, verifier: req.verifier, state: req.state };
}

test('two authorizations of one session for two APIs: each code\'s tokens carry the claims its own post-login run decided', async () => {
  const browser = new Browser();
  // Sign in (consent for both APIs once, so that the silent requests need no page).
  for (const audience of [API_X, API_Y]) {
    const r = await loginThroughForm(config, { browser, redirectUri: CB, email: EMAIL, password: PASSWORD, scope: 'openid read:data', params: { prompt: 'consent', audience } });
    assert.ok(r.callbackUrl?.searchParams.get('code'), r.callbackUrl?.href ?? r.loginPage?.slice(0, 300));
    const t = await oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
    assert.equal(decodeJwt(t.access_token)[CLAIM], audience, 'an interactive login: its run\'s claim');
    assert.equal(decodeJwt(t.id_token!)[CLAIM], audience);
  }
  // Both authorizations run their chain before either code is exchanged, as parallel
  // getTokenSilently calls do; the one for Y runs last.
  const x = await silentCode(browser, API_X);
  const y = await silentCode(browser, API_Y);
  const tx = await oidc.authorizationCodeGrant(config, x.callbackUrl, { pkceCodeVerifier: x.verifier, expectedState: x.state });
  const ty = await oidc.authorizationCodeGrant(config, y.callbackUrl, { pkceCodeVerifier: y.verifier, expectedState: y.state });
  assert.equal(decodeJwt(tx.access_token).aud, API_X);
  assert.equal(decodeJwt(tx.access_token)[CLAIM], API_X, 'the access token for X carries the claim of the run for X');
  assert.equal(decodeJwt(tx.id_token!)[CLAIM], API_X, 'so does the ID token of that code');
  assert.equal(decodeJwt(ty.access_token).aud, API_Y);
  assert.equal(decodeJwt(ty.access_token)[CLAIM], API_Y);
  assert.equal(decodeJwt(ty.id_token!)[CLAIM], API_Y);

  // An authorization with no API in the same session has its own claims too, also at userinfo.
  const plain = await authorizationRequest(config, { redirectUri: CB, scope: 'openid', params: { prompt: 'none' } });
  const { url } = await browser.follow(plain.url, {}, (u) => u.href.startsWith(CB));
  const tp = await oidc.authorizationCodeGrant(config, url, { pkceCodeVerifier: plain.verifier, expectedState: plain.state });
  assert.equal(decodeJwt(tp.id_token!)[CLAIM], 'none');
  const info = await oidc.fetchUserInfo(config, tp.access_token, decodeJwt(tp.id_token!).sub!);
  assert.equal(info[CLAIM], 'none');
});
