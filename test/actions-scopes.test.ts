import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestServer, createUser, discover, loginThroughForm, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';
import { deployAction, bindActions } from './helpers/actions.ts';

/*
 * post-login's accessToken.removeScope / addScope: what reaches the API's access token, at
 * login, on refresh, and on the next login in the same session.
 */

const API = 'https://scopes.api.example';
const CB = 'https://app-5177.example/cb';
const PASSWORD = 'scopes-test-password-1';
const EMAIL = 'scoped@scopes.example';
let ts: TestServer;
let config: oidc.Configuration;
let userId: string;

before(async () => {
  ts = await startTestServer();
  assert.equal((await ts.api('POST', '/resource-servers', { name: 'Scopes API', identifier: API, scopes: [{ value: 'read:x', description: 'r' }, { value: 'write:x', description: 'w' }] })).status, 201);
  const spa = (await ts.api('POST', '/clients', { name: 'Scopes SPA', app_type: 'spa', callbacks: [CB] })).body;
  config = await discover(ts, spa.client_id);
  userId = (await createUser(ts, EMAIL, PASSWORD)).user_id;
  await deployAction(ts, { name: 'read-only-users', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.user.app_metadata.readonly) api.accessToken.removeScope('write:x');
    };` });
  await bindActions(ts, 'post-login', ['read-only-users']);
});
after(async () => { await ts?.close(); });

const scopesOf = (at: string) => String(decodeJwt(at).scope ?? '').split(' ').filter(Boolean).sort();
const setReadonly = async (v: boolean | null) => assert.equal((await ts.api('PATCH', `/users/${encodeURIComponent(userId)}`, { app_metadata: { readonly: v } })).status, 200);

async function login(browser = new Browser()) {
  const r = await loginThroughForm(config, { browser, redirectUri: CB, email: EMAIL, password: PASSWORD, scope: 'openid offline_access read:x write:x', params: { prompt: 'consent', audience: API } });
  assert.ok(r.callbackUrl && !r.callbackUrl.searchParams.get('error'), r.callbackUrl?.href ?? r.loginPage?.slice(0, 300));
  const t = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  return { t, browser };
}

test('removeScope takes the scope out of the access token at login, on refresh, and only while the action removes it', async () => {
  const first = await login();
  assert.deepEqual(scopesOf(first.t.access_token), ['read:x', 'write:x']);

  await setReadonly(true);
  const second = await login();
  assert.deepEqual(scopesOf(second.t.access_token), ['read:x'], 'at login');
  const refreshed = await oidc.refreshTokenGrant(config, first.t.refresh_token!, { resource: API } as never);
  assert.deepEqual(scopesOf(refreshed.access_token), ['read:x'], 'on refresh the chain runs again and its removal applies');

  await setReadonly(null);
  const third = await login(second.browser);
  assert.deepEqual(scopesOf(third.t.access_token), ['read:x', 'write:x'], 'the next login in the same session: the removal does not stick');
});

test('addScope grants a scope of the API the client did not ask for (as Auth0 does), never an undefined one', async () => {
  // Regression: addScope only restored scopes the request already named; a scope the action
  // added otherwise never reached the token (nothing in rejected_commands either).
  await deployAction(ts, { name: 'grant-write', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.user.app_metadata.editor) { api.accessToken.addScope('write:x'); api.accessToken.addScope('admin:everything'); }
    };` });
  await bindActions(ts, 'post-login', ['grant-write']);
  try {
    const ask = async (browser = new Browser()) => {
      const r = await loginThroughForm(config, { browser, redirectUri: CB, email: EMAIL, password: PASSWORD, scope: 'openid offline_access read:x', params: { prompt: 'consent', audience: API } });
      assert.ok(r.callbackUrl && !r.callbackUrl.searchParams.get('error'), r.callbackUrl?.href ?? r.loginPage?.slice(0, 300));
      return oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
    };
    assert.deepEqual(scopesOf((await ask()).access_token), ['read:x'], 'nothing added: what was asked');
    assert.equal((await ts.api('PATCH', `/users/${encodeURIComponent(userId)}`, { app_metadata: { editor: true } })).status, 200);
    const t = await ask();
    assert.deepEqual(scopesOf(t.access_token), ['read:x', 'write:x'], 'the API\'s write:x added; a scope no API defines is not');
    const refreshed = await oidc.refreshTokenGrant(config, t.refresh_token!, { resource: API } as never);
    assert.deepEqual(scopesOf(refreshed.access_token), ['read:x', 'write:x'], 'kept on refresh');
    assert.equal((await ts.api('PATCH', `/users/${encodeURIComponent(userId)}`, { app_metadata: { editor: null } })).status, 200);
    assert.deepEqual(scopesOf((await ask()).access_token), ['read:x'], 'not sticky: the next login without it');
  } finally {
    await bindActions(ts, 'post-login', ['read-only-users']);
  }
});
