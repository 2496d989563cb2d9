import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestServer, discover, loginThroughForm, authorizationRequest, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';
import { deployAction, bindActions } from './helpers/actions.ts';

/*
 * A refresh's API scopes when logins in and out of an organization share one browser session
 * (and so one grant per application, which each login narrows to its own context): a refresh
 * takes what is held now within what its own login issued (recorded per API on the code and the
 * refresh tokens), whatever another login left on the grant. Regressions of the reviews of the
 * organization roles change.
 */
const CB = 'https://rev.example/callback';
const API = 'https://rev.api.example';
const PASSWORD = 'correct horse battery';
let ts: TestServer;
let config: oidc.Configuration;
let user: string;
let org: { id: string };
const SCOPE = 'openid offline_access read:own read:org admin:x';
const scopes = (t: { access_token: string }) => String(decodeJwt(t.access_token).scope ?? '').split(' ').filter((x) => x.includes(':')).sort();
const perm = (p: string) => ({ resource_server_identifier: API, permission_name: p });

before(async () => {
  ts = await startTestServer();
  assert.equal((await ts.api('POST', '/resource-servers', { name: 'Rev API', identifier: API, enforce_policies: true, token_dialect: 'access_token',
    scopes: [{ value: 'read:own', description: '' }, { value: 'read:org', description: '' }, { value: 'admin:x', description: '' }] })).status, 201);
  const app = (await ts.api('POST', '/clients', { name: 'Rev app', app_type: 'regular_web', callbacks: [CB], organization_usage: 'allow', organization_require_behavior: 'no_prompt' })).body;
  config = await discover(ts, app.client_id, app.client_secret);
  user = (await ts.api('POST', '/users', { email: 'u@rev.example', password: PASSWORD })).body.user_id;
  org = (await ts.api('POST', '/organizations', { name: 'revorg' })).body;
  await ts.api('POST', `/organizations/${org.id}/members`, { members: [user] });
  const ownRole = (await ts.api('POST', '/roles', { name: 'own' })).body.id;
  const orgRole = (await ts.api('POST', '/roles', { name: 'org' })).body.id;
  await ts.api('POST', `/roles/${ownRole}/permissions`, { permissions: [perm('read:own')] });
  await ts.api('POST', `/roles/${orgRole}/permissions`, { permissions: [perm('read:org')] });
  await ts.api('POST', `/users/${encodeURIComponent(user)}/roles`, { roles: [ownRole] });
  await ts.api('POST', `/organizations/${org.id}/members/${encodeURIComponent(user)}/roles`, { roles: [orgRole] });
});
after(async () => { await ts?.close(); });

const formLogin = async (browser: Browser, params: Record<string, string>) => {
  const r = await loginThroughForm(config, { browser, redirectUri: CB, email: 'u@rev.example', password: PASSWORD, scope: SCOPE, params: { prompt: 'consent', audience: API, ...params } });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null, r.callbackUrl?.searchParams.get('error_description') ?? r.loginPage?.slice(0, 300));
  return oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
};
const silentLogin = async (browser: Browser, params: Record<string, string>) => {
  const { url, verifier, state } = await authorizationRequest(config, { redirectUri: CB, scope: SCOPE, params: { audience: API, prompt: 'none', ...params } });
  const { url: cb } = await browser.follow(url, {}, (u) => u.href.startsWith(CB));
  assert.equal(cb.searchParams.get('error'), null, cb.searchParams.get('error_description') ?? '');
  return oidc.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, expectedState: state });
};
const payloadOf = async (rt: string) => JSON.parse((await ts.ctx.db('oidc_payloads').where({ type: 'RefreshToken', id: rt }).first()).payload);

test('a refresh token from before the record keeps its scopes after an organization login in the same browser, and gains the record when it rotates', async () => {
  const b = new Browser();
  const plain = await formLogin(b, {});
  assert.deepEqual(scopes(plain), ['read:own']);
  // Made a token from before the record: its payload without it.
  const p = await payloadOf(plain.refresh_token!);
  assert.deepEqual(p.ghApiScopes, { [API]: 'read:own' });
  delete p.ghApiScopes;
  await ts.ctx.db('oidc_payloads').where({ type: 'RefreshToken', id: plain.refresh_token! }).update({ payload: JSON.stringify(p) });
  // An organization login in the same browser narrows the session's one grant to its own context.
  assert.deepEqual(scopes(await silentLogin(b, { organization: org.id })), ['read:org']);
  const refreshed = await oidc.refreshTokenGrant(config, plain.refresh_token!);
  const rotated = await payloadOf(refreshed.refresh_token!);
  assert.deepEqual(rotated.ghApiScopes, { [API]: 'read:own' }, 'the rotated token carries the bound found');
  assert.deepEqual(scopes(refreshed), ['read:own'], 'the plain login\'s token keeps its own scope');
});

test('prompt=none: a silent authorization takes its own chain\'s scope changes, not those an earlier login of the session stored in an organization (regression)', async () => {
  await deployAction(ts, { name: 'org-admin', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { if (event.organization) api.accessToken.addScope('admin:x'); };` });
  await bindActions(ts, 'post-login', ['org-admin']);
  try {
    const b = new Browser();
    const inOrg = await formLogin(b, { organization: org.id });
    assert.deepEqual(scopes(inOrg), ['admin:x', 'read:org'], 'the action adds admin:x to organization logins');
    const plain = await silentLogin(b, {});
    assert.deepEqual(scopes(plain), ['read:own'], 'a login outside the organization: its own chain adds nothing');
  } finally {
    await bindActions(ts, 'post-login', []);
  }
});

test('prompt=none, one context: a scope an earlier login\'s action added is not in a silent login whose chain no longer adds it (regression)', async () => {
  await deployAction(ts, { name: 'flag-admin', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { if (event.user.app_metadata.admin) api.accessToken.addScope('admin:x'); };` });
  await bindActions(ts, 'post-login', ['flag-admin']);
  try {
    await ts.api('PATCH', `/users/${encodeURIComponent(user)}`, { app_metadata: { admin: true } });
    const b = new Browser();
    assert.deepEqual(scopes(await formLogin(b, {})), ['admin:x', 'read:own']);
    await ts.api('PATCH', `/users/${encodeURIComponent(user)}`, { app_metadata: { admin: null } });
    assert.deepEqual(scopes(await silentLogin(b, {})), ['read:own'], 'this authorization\'s chain added nothing');
  } finally {
    await bindActions(ts, 'post-login', []);
  }
});

test('scopes another login of the session removed (an action\'s removeScope) do not cut this token\'s refresh', async () => {
  // read:own held in both contexts.
  const role = (await ts.api('POST', '/roles', { name: 'org-own' })).body.id;
  await ts.api('POST', `/roles/${role}/permissions`, { permissions: [perm('read:own')] });
  await ts.api('POST', `/organizations/${org.id}/members/${encodeURIComponent(user)}/roles`, { roles: [role] });
  const b = new Browser();
  const plain = await formLogin(b, {});
  assert.deepEqual(scopes(plain), ['read:own']);
  await deployAction(ts, { name: 'org-no-own', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { if (event.organization) api.accessToken.removeScope('read:own'); };` });
  await bindActions(ts, 'post-login', ['org-no-own']);
  const inOrg = await formLogin(b, { organization: org.id });
  assert.deepEqual(scopes(inOrg), ['read:org']);
  await bindActions(ts, 'post-login', []);
  assert.deepEqual(scopes(await oidc.refreshTokenGrant(config, plain.refresh_token!)), ['read:own'], 'the plain login\'s token, issued read:own and holding it');
});
