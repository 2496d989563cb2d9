import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestServer, createUser, discover, loginThroughForm, authorizationRequest, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';
import { deployAction, bindActions } from './helpers/actions.ts';

/*
 * Auth0's role-based access control: an API's scopes given as permissions to roles and users;
 * with enforce_policies a user's token carries only the scopes the user holds, and with an
 * `_authz` token dialect it carries `permissions` too. Through the Management API and real logins.
 */

const API = 'https://rbac.api.example';
const OPEN_API = 'https://open.api.example';
const CB = 'https://app-5178.example/cb';
const PASSWORD = 'rbac-test-password-1';
let ts: TestServer;
let config: oidc.Configuration;
let editorRole: string;
let editor: string;
let nobody: string;

const SCOPES = ['read:docs', 'write:docs', 'delete:docs'].map((value) => ({ value, description: `${value} (description)` }));
const perm = (permission_name: string, resource_server_identifier = API) => ({ resource_server_identifier, permission_name });
const scopesOf = (at: string) => String(decodeJwt(at).scope ?? '').split(' ').filter(Boolean).sort();

before(async () => {
  ts = await startTestServer();
  const api = await ts.api('POST', '/resource-servers', { name: 'Docs API', identifier: API, scopes: SCOPES, enforce_policies: true, token_dialect: 'access_token_authz' });
  assert.equal(api.status, 201, JSON.stringify(api.body));
  assert.deepEqual([api.body.enforce_policies, api.body.token_dialect], [true, 'access_token_authz']);
  assert.equal((await ts.api('POST', '/resource-servers', { name: 'Open API', identifier: OPEN_API, scopes: SCOPES })).status, 201);
  const spa = (await ts.api('POST', '/clients', { name: 'RBAC SPA', app_type: 'spa', callbacks: [CB] })).body;
  config = await discover(ts, spa.client_id);
  editorRole = (await ts.api('POST', '/roles', { name: 'editor' })).body.id;
  editor = (await createUser(ts, 'editor@rbac.example', PASSWORD)).user_id;
  nobody = (await createUser(ts, 'nobody@rbac.example', PASSWORD)).user_id;
  assert.equal((await ts.api('POST', `/roles/${editorRole}/permissions`, { permissions: [perm('read:docs'), perm('write:docs')] })).status, 201);
  assert.equal((await ts.api('POST', `/users/${encodeURIComponent(editor)}/roles`, { roles: [editorRole] })).status, 204);
});
after(async () => { await ts?.close(); });

async function login(email: string, audience = API, scope = 'openid offline_access read:docs write:docs delete:docs', browser?: Browser) {
  // prompt=consent: oidc-provider's condition for a refresh token (offline_access).
  const r = await loginThroughForm(config, { browser, redirectUri: CB, email, password: PASSWORD, scope, params: { audience, prompt: 'consent' } });
  assert.ok(r.callbackUrl && !r.callbackUrl.searchParams.get('error'), r.callbackUrl?.href ?? r.loginPage?.slice(0, 300));
  return oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
}

test('a user\'s token carries the requested scopes the user holds as permissions (through a role or directly), and its permissions', async () => {
  const t = await login('editor@rbac.example');
  assert.deepEqual(scopesOf(t.access_token), ['read:docs', 'write:docs'], 'delete:docs was asked for, not held');
  assert.deepEqual(decodeJwt(t.access_token).permissions, ['read:docs', 'write:docs']);
  // Permissions are all the user holds, not only the scopes this login asked for.
  const narrow = await login('editor@rbac.example', API, 'openid read:docs');
  assert.deepEqual(scopesOf(narrow.access_token), ['read:docs']);
  assert.deepEqual(decodeJwt(narrow.access_token).permissions, ['read:docs', 'write:docs']);
  // Without any permission: no scope of the API, and an empty list.
  const none = await login('nobody@rbac.example');
  assert.deepEqual(scopesOf(none.access_token).filter((s) => s.endsWith(':docs')), []);
  assert.deepEqual(decodeJwt(none.access_token).permissions, []);
  // An API without RBAC: what was asked for, and no permissions claim (token_dialect access_token).
  const open = await login('nobody@rbac.example', OPEN_API);
  assert.deepEqual(scopesOf(open.access_token).filter((s) => s.endsWith(':docs')), ['delete:docs', 'read:docs', 'write:docs']);
  assert.equal(decodeJwt(open.access_token).permissions, undefined);

  // A permission given to the user directly adds to the role's.
  assert.equal((await ts.api('POST', `/users/${encodeURIComponent(editor)}/permissions`, { permissions: [perm('delete:docs'), perm('read:docs')] })).status, 201);
  const more = await login('editor@rbac.example');
  assert.deepEqual(scopesOf(more.access_token), ['delete:docs', 'read:docs', 'write:docs']);
  const listed = await ts.api('GET', `/users/${encodeURIComponent(editor)}/permissions`);
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.body.map((p: { permission_name: string; sources: { source_type: string; source_name: string }[] }) => [p.permission_name, p.sources.map((s) => `${s.source_type}:${s.source_name}`).sort()]), [
    ['delete:docs', ['DIRECT:']], ['read:docs', ['DIRECT:', 'ROLE:editor']], ['write:docs', ['ROLE:editor']],
  ]);
  assert.equal(listed.body[0].resource_server_name, 'Docs API');
  assert.equal(listed.body[0].description, 'delete:docs (description)');
  assert.equal((await ts.api('DELETE', `/users/${encodeURIComponent(editor)}/permissions`, { permissions: [perm('delete:docs'), perm('read:docs')] })).status, 204);
});

test('a permission taken away is gone from the next token, a refresh\'s and the same session\'s included; an action can still add a scope', async () => {
  const browser = new Browser();
  const t = await login('editor@rbac.example', API, undefined, browser);
  assert.deepEqual(scopesOf(t.access_token), ['read:docs', 'write:docs']);
  assert.equal((await ts.api('DELETE', `/roles/${editorRole}/permissions`, { permissions: [perm('write:docs')] })).status, 204);
  const refreshed = await oidc.refreshTokenGrant(config, t.refresh_token!, { resource: API } as never);
  assert.deepEqual(scopesOf(refreshed.access_token), ['read:docs'], 'the refresh reads the permissions again');
  assert.deepEqual(decodeJwt(refreshed.access_token).permissions, ['read:docs']);
  // The same browser, signed in: its grant (which held write:docs) is cut to what is held now.
  const again = await authorizationRequest(config, { redirectUri: CB, scope: 'openid read:docs write:docs', params: { audience: API, prompt: 'none' } });
  const { url: cb } = await browser.follow(again.url, {}, (u) => u.href.startsWith(CB));
  assert.ok(cb.searchParams.get('code'), cb.href);
  const silent = await oidc.authorizationCodeGrant(config, cb, { pkceCodeVerifier: again.verifier, expectedState: again.state });
  assert.deepEqual(scopesOf(silent.access_token), ['read:docs'], 'an existing grant does not keep a permission taken away');
  assert.equal((await ts.api('POST', `/roles/${editorRole}/permissions`, { permissions: [perm('write:docs')] })).status, 201);

  // Actions run after RBAC, as on Auth0: addScope gives what the permissions did not.
  await deployAction(ts, { name: 'grant-delete', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { if (event.resource_server && event.resource_server.identifier === ${JSON.stringify(API)}) api.accessToken.addScope('delete:docs'); };` });
  await bindActions(ts, 'post-login', ['grant-delete']);
  try {
    const withAction = await login('nobody@rbac.example');
    assert.deepEqual(scopesOf(withAction.access_token).filter((s) => s.endsWith(':docs')), ['delete:docs']);
    // Also when the application did not ask for it (addScope adds to the request, as on Auth0).
    const unasked = await login('nobody@rbac.example', API, 'openid read:docs');
    assert.deepEqual(scopesOf(unasked.access_token).filter((s) => s.endsWith(':docs')), ['delete:docs']);
  } finally {
    await bindActions(ts, 'post-login', []);
  }
});

test('a third-party application\'s consent page asks only for scopes the user holds, and its token carries those', async () => {
  const partner = await ts.ctx.clients.create({ name: 'Partner app', app_type: 'spa', callbacks: [CB], is_first_party: false });
  const partnerConfig = await discover(ts, partner.client_id);
  const browser = new Browser();
  const r = await loginThroughForm(partnerConfig, { browser, redirectUri: CB, email: 'editor@rbac.example', password: PASSWORD, scope: 'openid read:docs write:docs delete:docs', params: { audience: API } });
  assert.ok(r.url && r.loginPage, 'the consent page');
  assert.match(r.loginPage, /write:docs/);
  assert.doesNotMatch(r.loginPage, /delete:docs/, 'not asked for what the user does not hold');
  const agreed = await browser.submit(r.url, r.loginPage, {});
  const done = await browser.follow(new URL(agreed.headers.get('location')!, r.url), {}, (u) => u.href.startsWith(CB));
  const t = await oidc.authorizationCodeGrant(partnerConfig, done.url, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.deepEqual(scopesOf(t.access_token), ['read:docs', 'write:docs']);
});

test('client credentials on an _authz API: permissions are the scopes the client grant gave', async () => {
  const m2m = (await ts.api('POST', '/clients', { name: 'RBAC worker', app_type: 'non_interactive' })).body;
  assert.equal((await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: API, scope: ['read:docs'] })).status, 201);
  const res = await fetch(`${ts.base}/oauth/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: m2m.client_id, client_secret: m2m.client_secret, audience: API }),
  });
  assert.equal(res.status, 200);
  const at = ((await res.json()) as { access_token: string }).access_token;
  assert.deepEqual(decodeJwt(at).permissions, ['read:docs']);
  // An API without an _authz dialect: no claim.
  assert.equal((await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: OPEN_API, scope: ['read:docs'] })).status, 201);
  const open = await fetch(`${ts.base}/oauth/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: m2m.client_id, client_secret: m2m.client_secret, audience: OPEN_API }),
  });
  assert.equal(decodeJwt(((await open.json()) as { access_token: string }).access_token).permissions, undefined);
});

test('role and user permissions through the Management API: checked against the API\'s scopes, paged, scoped; they go with the scope or the API', async () => {
  const r = await ts.api('GET', `/roles/${editorRole}/permissions?include_totals=true`);
  assert.equal(r.status, 200);
  assert.equal(r.body.total, 2);
  assert.deepEqual(r.body.permissions[0], { resource_server_identifier: API, permission_name: 'read:docs', resource_server_name: 'Docs API', description: 'read:docs (description)' });

  // Auth0's answer to a POST: 201 with nothing in it.
  const given = await fetch(`${ts.base}/api/v2/users/${encodeURIComponent(nobody)}/permissions`, { method: 'POST', headers: { authorization: `Bearer ${await ts.adminToken()}`, 'content-type': 'application/json' }, body: JSON.stringify({ permissions: [perm('read:docs'), perm('write:docs'), perm('delete:docs')] }) });
  assert.equal(given.status, 201);
  assert.equal(await given.text(), '');
  const page2 = await ts.api('GET', `/users/${encodeURIComponent(nobody)}/permissions?page=1&per_page=2&include_totals=true`);
  assert.deepEqual([page2.body.total, page2.body.permissions.map((x: { permission_name: string }) => x.permission_name)], [3, ['write:docs']]);
  // A stored permission whose scope went behind the API's back (another node's change mid-way) is left out, not an error.
  await ts.ctx.db('user_permissions').insert({ user_id: nobody, resource_server_identifier: API, permission_name: 'gone:docs', created_at: Date.now() });
  const listed = await ts.api('GET', `/users/${encodeURIComponent(nobody)}/permissions`);
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.body.map((x: { permission_name: string }) => x.permission_name), ['delete:docs', 'read:docs', 'write:docs']);
  assert.equal((await ts.api('DELETE', `/users/${encodeURIComponent(nobody)}/permissions`, { permissions: [perm('read:docs'), perm('write:docs'), perm('delete:docs')] })).status, 204);
  await ts.ctx.db('user_permissions').where({ user_id: nobody }).delete();

  const bad = await ts.api('POST', `/roles/${editorRole}/permissions`, { permissions: [perm('fly:docs')] });
  assert.equal(bad.status, 400);
  assert.match(bad.body.message, /"fly:docs" is not a scope of https:\/\/rbac\.api\.example/);
  assert.equal((await ts.api('POST', `/roles/${editorRole}/permissions`, { permissions: [perm('read:docs', 'https://nope.example')] })).status, 404);
  assert.equal((await ts.api('POST', `/roles/${editorRole}/permissions`, { permissions: [] })).status, 400);
  assert.equal((await ts.api('POST', '/roles/rol_nosuchrole/permissions', { permissions: [perm('read:docs')] })).status, 404);
  assert.equal((await ts.api('POST', `/roles/${editorRole}/permissions`, { permissions: [perm('read:docs')] }, await ts.adminToken('read:roles'))).status, 403, 'needs update:roles');
  assert.equal((await ts.api('POST', `/users/${encodeURIComponent(nobody)}/permissions`, { permissions: [perm('read:docs')] }, await ts.adminToken('read:users'))).status, 403, 'needs update:users');
  assert.equal((await ts.api('GET', `/roles/${editorRole}/permissions`, undefined, await ts.adminToken('read:users'))).status, 403, 'needs read:roles');

  // The API's scope removed: no one holds it any more. The API deleted: its permissions go.
  const scratch = (await ts.api('POST', '/resource-servers', { name: 'Scratch', identifier: 'https://scratch.example', scopes: SCOPES, enforce_policies: true })).body;
  assert.equal((await ts.api('POST', `/users/${encodeURIComponent(nobody)}/permissions`, { permissions: [perm('read:docs', scratch.identifier), perm('write:docs', scratch.identifier)] })).status, 201);
  assert.equal((await ts.api('PATCH', `/resource-servers/${scratch.id}`, { scopes: [SCOPES[0]] })).status, 200);
  assert.deepEqual((await ts.api('GET', `/users/${encodeURIComponent(nobody)}/permissions`)).body.map((p: { permission_name: string }) => p.permission_name), ['read:docs']);
  assert.equal((await ts.api('DELETE', `/resource-servers/${scratch.id}`)).status, 204);
  assert.deepEqual((await ts.api('GET', `/users/${encodeURIComponent(nobody)}/permissions`)).body, []);

  // A role or a user deleted: its permissions go with it.
  const temp = (await ts.api('POST', '/roles', { name: 'temporary' })).body.id;
  const tempUser = (await createUser(ts, 'temp@rbac.example', PASSWORD)).user_id;
  await ts.api('POST', `/roles/${temp}/permissions`, { permissions: [perm('read:docs')] });
  await ts.api('POST', `/users/${encodeURIComponent(tempUser)}/permissions`, { permissions: [perm('read:docs')] });
  assert.equal((await ts.api('DELETE', `/roles/${temp}`)).status, 204);
  assert.equal((await ts.api('DELETE', `/users/${encodeURIComponent(tempUser)}`)).status, 204);
  assert.equal(await ts.ctx.db('role_permissions').where({ role_id: temp }).first(), undefined);
  assert.equal(await ts.ctx.db('user_permissions').where({ user_id: tempUser }).first(), undefined);

  // Settings: validated; the system Management API keeps its own.
  assert.equal((await ts.api('PATCH', `/resource-servers/${encodeURIComponent(OPEN_API)}`, { token_dialect: 'jwt_please' })).status, 400);
  const mgmt = (await ts.api('GET', '/resource-servers')).body.find((x: { is_system: boolean }) => x.is_system);
  assert.equal((await ts.api('PATCH', `/resource-servers/${mgmt.id}`, { enforce_policies: true })).status, 400);
});

test('a refresh stays within the API scopes its login issued: an API scope named like an OpenID scope and given later is not added (regression of a review fix)', async () => {
  // The refresh token's scope list mixes OpenID and API scopes: bounded by it alone, a refresh
  // gave the API's `email` (given to the user after the login, never consented to) because the
  // login had asked for OpenID `email`.
  const COLLIDE = 'https://collide.api.example';
  assert.equal((await ts.api('POST', '/resource-servers', {
    name: 'Collide API', identifier: COLLIDE, enforce_policies: true, token_dialect: 'access_token',
    scopes: [{ value: 'read:docs', description: '' }, { value: 'email', description: 'send mail as the user' }],
  })).status, 201);
  const u = (await createUser(ts, 'collide@rbac.example', PASSWORD)).user_id;
  await ts.api('POST', `/users/${encodeURIComponent(u)}/permissions`, { permissions: [perm('read:docs', COLLIDE)] });
  const partner = await ts.ctx.clients.create({ name: 'Partner app', app_type: 'regular_web', callbacks: [CB], is_first_party: false } as never);
  const cfg = await discover(ts, partner.client_id, partner.client_secret);
  const browser = new Browser();
  const r = await loginThroughForm(cfg, { browser, redirectUri: CB, email: 'collide@rbac.example', password: PASSWORD, scope: 'openid email offline_access read:docs', params: { audience: COLLIDE, prompt: 'consent' } });
  assert.ok(r.url && r.loginPage, 'the consent page');
  const agreed = await browser.submit(r.url, r.loginPage, {});
  const done = await browser.follow(new URL(agreed.headers.get('location')!, r.url), {}, (x) => x.href.startsWith(CB));
  const t = await oidc.authorizationCodeGrant(cfg, done.url, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.deepEqual(scopesOf(t.access_token), ['read:docs']);
  assert.equal((await ts.api('POST', `/users/${encodeURIComponent(u)}/permissions`, { permissions: [perm('email', COLLIDE)] })).status, 201);
  const refreshed = await oidc.refreshTokenGrant(cfg, t.refresh_token!);
  assert.deepEqual(scopesOf(refreshed.access_token), ['read:docs'], 'no API scope the login did not issue');
  // Still cut at a refresh when a permission is taken away.
  await ts.api('DELETE', `/users/${encodeURIComponent(u)}/permissions`, { permissions: [perm('read:docs', COLLIDE)] });
  assert.deepEqual(scopesOf((await oidc.refreshTokenGrant(cfg, refreshed.refresh_token!)).access_token), []);
});

test('a refresh token\'s API scopes as its login issued them, an API scope named like an OpenID one included (the Management API; event.refresh_token reads the same facts)', async () => {
  const NAMED = 'https://named.api.example';
  assert.equal((await ts.api('POST', '/resource-servers', {
    name: 'Named API', identifier: NAMED, enforce_policies: true, token_dialect: 'access_token',
    scopes: [{ value: 'read:docs', description: '' }, { value: 'email', description: 'send mail as the user' }],
  })).status, 201);
  const u = (await createUser(ts, 'named@rbac.example', PASSWORD)).user_id;
  await ts.api('POST', `/users/${encodeURIComponent(u)}/permissions`, { permissions: [perm('read:docs', NAMED), perm('email', NAMED)] });
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'named@rbac.example', password: PASSWORD, scope: 'openid email offline_access read:docs', params: { audience: NAMED, prompt: 'consent' } });
  const t = await oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.ok(scopesOf(t.access_token).includes('email') && scopesOf(t.access_token).includes('read:docs'), scopesOf(t.access_token).join(' '));
  const listed = (await ts.api('GET', `/users/${encodeURIComponent(u)}/refresh-tokens`)).body.tokens as { resource_servers: { audience: string; scopes: string }[] }[];
  assert.deepEqual(listed.map((x) => x.resource_servers), [[{ audience: NAMED, scopes: 'email read:docs' }]], 'the API\'s email is its own scope');
});
