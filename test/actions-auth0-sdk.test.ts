import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, createUser, type TestServer } from './helpers/server.ts';
import { bindActions, deployAction, latestExecution } from './helpers/actions.ts';

/*
 * require('auth0') in actions: Auth0's ManagementClient as actions use it (assign a role on the
 * first login, keep something in app_metadata, look a user up by e-mail), written in each of the
 * SDK's three call styles (v3, v4, v5+), against Gatehouse's own Management API through a real
 * login. The client authenticates with client credentials of an M2M client whose client grant
 * holds only the scopes the action needs, as an Auth0 tenant's would.
 */

let ts: TestServer;
let spa: { client_id: string };
let config: oidc.Configuration;
let roleId: string;
const CB = 'https://app.example/sdk-cb';
const PASSWORD = 'correct horse battery staple';
let secrets: { name: string; value: string }[];

before(async () => {
  ts = await startTestServer();
  spa = await ts.ctx.clients.create({ name: 'SDK SPA', app_type: 'spa', callbacks: [CB] });
  config = await discover(ts, spa.client_id);
  const m2m = await ts.api('POST', '/clients', { name: 'Actions M2M', app_type: 'non_interactive' });
  assert.equal(m2m.status, 201, JSON.stringify(m2m.body));
  const grant = await ts.api('POST', '/client-grants', {
    client_id: m2m.body.client_id, audience: `${ts.base}/api/v2/`,
    scope: ['read:users', 'update:users', 'read:roles', 'update:roles', 'create:role_members', 'delete:role_members', 'read:resource_servers'],
  });
  assert.equal(grant.status, 201, JSON.stringify(grant.body));
  const role = await ts.api('POST', '/roles', { name: 'member', description: 'Everyone who signed in once' });
  roleId = role.body.id;
  secrets = [
    { name: 'DOMAIN', value: new URL(ts.issuer).host },
    { name: 'CLIENT_ID', value: m2m.body.client_id },
    { name: 'CLIENT_SECRET', value: m2m.body.client_secret },
    { name: 'ROLE_ID', value: roleId },
  ];
});
after(async () => { await ts?.close(); });

async function login(email: string) {
  const r = await loginThroughForm(config, { redirectUri: CB, email, password: PASSWORD });
  assert.ok(r.callbackUrl, `no callback: ${r.status} ${r.loginPage?.slice(0, 300)}`);
  assert.equal(r.callbackUrl.searchParams.get('error'), null, r.callbackUrl.searchParams.get('error_description') ?? '');
  const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  return tokens.claims()!;
}

async function run(name: string, code: string, email: string) {
  await deployAction(ts, { name, trigger: 'post-login', code, secrets });
  await bindActions(ts, 'post-login', [name]);
  const user = await createUser(ts, email, PASSWORD);
  let claims;
  try { claims = await login(email); } catch (e) {
    throw new Error(`${(e as Error).message}: ${JSON.stringify((await latestExecution(ts, 'post-login'))?.results)}`);
  }
  const exe = await latestExecution(ts, 'post-login');
  assert.equal(exe.results[0].status, 'ok', JSON.stringify(exe.results[0]));
  return { user, claims, exe };
}

test('v4 style: assign a role on the first login, read the roles back from .data, app_metadata through users.update', async () => {
  const { user, claims } = await run('sdk-v4', `
const { ManagementClient } = require('auth0');
exports.onExecutePostLogin = async (event, api) => {
  const management = new ManagementClient({ domain: event.secrets.DOMAIN, clientId: event.secrets.CLIENT_ID, clientSecret: event.secrets.CLIENT_SECRET });
  if (event.stats.logins_count <= 1) {
    await management.users.assignRoles({ id: event.user.user_id }, { roles: [event.secrets.ROLE_ID] });
    await management.users.update({ id: event.user.user_id }, { app_metadata: { onboarded: true } });
  }
  const res = await management.users.getRoles({ id: event.user.user_id });
  api.idToken.setCustomClaim('https://example.com/roles', res.data.map((r) => r.name));
  api.idToken.setCustomClaim('https://example.com/status', res.status);
  const { data: me } = await management.users.get({ id: event.user.user_id });
  api.idToken.setCustomClaim('https://example.com/me', me.email);
};`, 'v4@example.com');
  assert.deepEqual(claims['https://example.com/roles'], ['member']);
  assert.equal(claims['https://example.com/status'], 200);
  assert.equal(claims['https://example.com/me'], 'v4@example.com');
  const stored = (await ts.api('GET', `/users/${encodeURIComponent(user.user_id)}`)).body;
  assert.deepEqual(stored.app_metadata, { onboarded: true });
  const roles = (await ts.api('GET', `/users/${encodeURIComponent(user.user_id)}/roles`)).body;
  assert.deepEqual(roles.map((r: { id: string }) => r.id), [roleId]);
});

test('v3 style: client methods, data as the result, a callback, users by e-mail', async () => {
  const { user, claims } = await run('sdk-v3', `
const ManagementClient = require('auth0').ManagementClient;
exports.onExecutePostLogin = async (event, api) => {
  const management = new ManagementClient({ domain: event.secrets.DOMAIN, clientId: event.secrets.CLIENT_ID, clientSecret: event.secrets.CLIENT_SECRET, scope: 'read:users update:users read:roles create:role_members' });
  await management.assignRolestoUser({ id: event.user.user_id }, { roles: [event.secrets.ROLE_ID] });
  await management.updateAppMetadata({ id: event.user.user_id }, { plan: 'gold' });
  const found = await management.getUsersByEmail(event.user.email);
  const roles = await new Promise((resolve, reject) => management.getUserRoles({ id: event.user.user_id }, (err, r) => (err ? reject(err) : resolve(r))));
  api.idToken.setCustomClaim('https://example.com/found', found.length + ':' + found[0].user_id);
  api.idToken.setCustomClaim('https://example.com/roles', roles.map((r) => r.name));
};`, 'v3@example.com');
  assert.equal(claims['https://example.com/found'], `1:${user.user_id}`);
  assert.deepEqual(claims['https://example.com/roles'], ['member']);
  assert.deepEqual((await ts.api('GET', `/users/${encodeURIComponent(user.user_id)}`)).body.app_metadata, { plan: 'gold' });
});

test('v5+ style: positional ids, list pages with .data and for await, .withRawResponse()', async () => {
  const { user, claims } = await run('sdk-v7', `
const { ManagementClient } = require('auth0');
exports.onExecutePostLogin = async (event, api) => {
  const client = new ManagementClient({ domain: event.secrets.DOMAIN, clientId: event.secrets.CLIENT_ID, clientSecret: event.secrets.CLIENT_SECRET });
  await client.users.roles.assign(event.user.user_id, { roles: [event.secrets.ROLE_ID] });
  await client.users.update(event.user.user_id, { user_metadata: { theme: 'dark' } });
  const page = await client.users.roles.list(event.user.user_id);
  const first = page.data.map((r) => r.id);
  const names = [];
  for await (const r of page) names.push(r.name);
  const byEmail = await client.users.listUsersByEmail({ email: event.user.email });
  const { data, rawResponse } = await client.users.get(event.user.user_id).withRawResponse();
  const roles = await client.roles.list({ per_page: 1 });
  let pages = 1;
  while (roles.hasNextPage() && pages < 10) { await roles.getNextPage(); pages++; }
  api.idToken.setCustomClaim('https://example.com/v7', { first, names, byEmail: byEmail.length, email: data.email, status: rawResponse.status, rolePages: pages });
};`, 'v7@example.com');
  const v7 = claims['https://example.com/v7'] as Record<string, unknown>;
  assert.deepEqual(v7.first, [roleId]);
  assert.deepEqual(v7.names, ['member']);
  assert.equal(v7.byEmail, 1);
  assert.equal(v7.email, 'v7@example.com');
  assert.equal(v7.status, 200);
  // As the SDK's offset pages do: a full page may have a next one, which then comes back empty.
  const total = (await ts.api('GET', '/roles?include_totals=true')).body.total;
  assert.equal(v7.rolePages, total + 1, 'one page per role at per_page=1, then the empty one');
  assert.deepEqual((await ts.api('GET', `/users/${encodeURIComponent(user.user_id)}`)).body.user_metadata, { theme: 'dark' });
});

test('errors carry the status and the Management API\'s errorCode; a scope the grant lacks is a 403', async () => {
  const { claims } = await run('sdk-errors', `
const { ManagementClient, ManagementApiError, ManagementError } = require('auth0');
exports.onExecutePostLogin = async (event, api) => {
  const management = new ManagementClient({ domain: event.secrets.DOMAIN, clientId: event.secrets.CLIENT_ID, clientSecret: event.secrets.CLIENT_SECRET });
  const seen = {};
  try { await management.users.get({ id: 'auth0|nobody' }); } catch (e) {
    seen.missing = { status: e.statusCode, code: e.errorCode, bodyCode: e.body.errorCode, parsed: JSON.parse(e.body).statusCode, v4: e instanceof ManagementApiError, v5: e instanceof ManagementError, message: e.message };
  }
  try { await management.users.delete(event.user.user_id); } catch (e) { seen.scope = { status: e.statusCode, message: e.message }; }
  const bad = new ManagementClient({ domain: event.secrets.DOMAIN, clientId: event.secrets.CLIENT_ID, clientSecret: 'wrong' });
  try { await bad.users.get(event.user.user_id); } catch (e) { seen.token = { name: e.name, status: e.statusCode, error: e.error }; }
  api.idToken.setCustomClaim('https://example.com/errors', seen);
};`, 'errors@example.com');
  const seen = claims['https://example.com/errors'] as Record<string, Record<string, unknown>>;
  assert.equal(seen.missing.status, 404);
  assert.equal(seen.missing.code, 'inexistent_user');
  assert.equal(seen.missing.bodyCode, 'inexistent_user');
  assert.equal(seen.missing.parsed, 404);
  assert.equal(seen.missing.v4, true);
  assert.equal(seen.missing.v5, true);
  assert.match(String(seen.missing.message), /user/i);
  assert.equal(seen.scope.status, 403, 'delete:users is not in the client grant');
  assert.equal(seen.token.name, 'AuthApiError');
  assert.equal(seen.token.status, 401);
  assert.equal(seen.token.error, 'invalid_client');
});

test('the token is asked for once and kept across executions until it nears expiry', async () => {
  await deployAction(ts, { name: 'sdk-token', trigger: 'post-login', secrets, code: `
const { ManagementClient } = require('auth0');
exports.onExecutePostLogin = async (event, api) => {
  const management = new ManagementClient({ domain: event.secrets.DOMAIN, clientId: event.secrets.CLIENT_ID, clientSecret: event.secrets.CLIENT_SECRET });
  const { data } = await management.users.get({ id: event.user.user_id });
  api.idToken.setCustomClaim('https://example.com/count', data.logins_count);
};` });
  await bindActions(ts, 'post-login', ['sdk-token']);
  await createUser(ts, 'tokens@example.com', PASSWORD);
  // Each login's own code exchange is one token request; the action's client credentials are
  // asked for once (twice at most: each sandbox worker keeps its own).
  const before = await countTokenRequests();
  for (let i = 0; i < 5; i++) assert.equal((await login('tokens@example.com'))['https://example.com/count'], i + 1);
  const clientCredentials = await countTokenRequests() - before - 5;
  assert.ok(clientCredentials >= 1 && clientCredentials <= 2, `client credentials requests for five logins: ${clientCredentials}`);
});

async function countTokenRequests(): Promise<number> {
  const m = await (await fetch(`${ts.base}/metrics`)).text();
  let n = 0;
  for (const line of m.split('\n')) if (line.startsWith('gatehouse_http_requests_total{route="/oauth/token"')) n += Number(line.split(' ').pop());
  return n;
}

// ---- review findings ----

/** Runs `body` in a post-login draft through the Management API's test endpoint, with a ManagementClient `m`. */
async function runDraft(body: string) {
  const code = `const { ManagementClient } = require('auth0');
exports.onExecutePostLogin = async (event, api) => {
  const m = new ManagementClient({ domain: event.secrets.DOMAIN, clientId: event.secrets.CLIENT_ID, clientSecret: event.secrets.CLIENT_SECRET });
  ${body}
};`;
  const created = await ts.api('POST', '/actions/actions', { name: `draft-${Math.random().toString(36).slice(2)}`, supported_triggers: [{ id: 'post-login' }], code, secrets });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const r = await ts.api('POST', `/actions/actions/${created.body.id}/test`, { payload: { user: { user_id: 'auth0|x', email: 'x@example.com' } } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const claim = r.body.payload.commands.find((c: { type: string }) => c.type === 'idToken.setCustomClaim');
  return { status: r.body.payload.status, value: claim?.args[1] };
}

test('a failing request awaited through .withRawResponse() can be caught (it failed the action as an unhandled rejection)', async () => {
  const r = await runDraft(`try { await m.users.get('auth0|nobody').withRawResponse(); } catch (e) { api.idToken.setCustomClaim('https://x/caught', e.statusCode); }`);
  assert.deepEqual(r, { status: 'ok', value: 404 });
});

test('a list in a query is the parameter repeated, as the SDK sends it: resourceServers.getAll({identifiers}) finds them', async () => {
  assert.equal((await ts.api('POST', '/resource-servers', { name: 'SDK listed', identifier: 'https://sdk-listed.example/', scopes: [] })).status, 201);
  const r = await runDraft(`
  const res = await m.resourceServers.getAll({ identifiers: ['https://sdk-listed.example/', 'https://nothing.example/'] });
  api.idToken.setCustomClaim('https://x/n', res.data.map((s) => s.identifier));`);
  assert.deepEqual(r, { status: 'ok', value: ['https://sdk-listed.example/'] });
});

test('create(data, requestOptions) sends the data (v5+\'s second argument is request options)', async () => {
  const r = await runDraft(`
  try { const u = await m.users.create({ email: 'created@sdk.example', password: 'correct horse battery staple', connection: 'Username-Password-Authentication' }, { timeoutInSeconds: 5 });
    api.idToken.setCustomClaim('https://x/email', u.email); } catch (e) { api.idToken.setCustomClaim('https://x/email', e.statusCode + ' ' + e.message); }`);
  // The grant lacks create:users: the data reached the API (403 for the scope, not 400 for the options as a body).
  assert.equal(r.status, 'ok');
  assert.match(String(r.value), /^403 /);
});

// ---- from a probe of 35 real actions ----

test('Auth0 endpoints Gatehouse lacks answer as the server does (a 404 ManagementError), not "is not a function"; permissions are empty lists; organizations need their scope', async () => {
  const user = await createUser(ts, 'no-perms@example.com', PASSWORD);
  const r = await runDraft(`
  const out = {};
  const id = ${JSON.stringify(user.user_id)};
  const calls = {
    link: () => m.users.link({ id }, { provider: 'auth0', user_id: 'y' }),
    linkUsers: () => m.linkUsers({ id }, { provider: 'auth0', user_id: 'y' }),
    v5identities: () => m.users.identities.link(id, { provider: 'auth0', user_id: 'y' }),
    org: () => m.organizations.get({ id: 'org_x' }),
    orgsOfUser: async () => (await m.users.getUserOrganizations({ id })).data,
    permissions: async () => (await m.users.getPermissions({ id })).data,
    rolePermissions: async () => (await m.roles.getPermissions({ id: event.secrets.ROLE_ID })).data,
    missingRole: () => m.roles.getPermissions({ id: 'rol_nope' }),
  };
  for (const [k, f] of Object.entries(calls)) { try { out[k] = await f(); } catch (e) { out[k] = e.name + ' ' + e.statusCode; } }
  api.idToken.setCustomClaim('https://x/missing', out);`);
  assert.equal(r.status, 'ok');
  assert.deepEqual(r.value, {
    // read:organizations is not in this client's grant: the scope is checked first (a user's organizations too, as on Auth0).
    link: 'ManagementApiError 404', linkUsers: 'ManagementApiError 404', v5identities: 'ManagementApiError 404', org: 'ManagementApiError 403',
    orgsOfUser: 'ManagementApiError 403', permissions: [], rolePermissions: [], missingRole: 'ManagementApiError 404',
  });
  const orgs = await ts.api('GET', '/organizations?include_totals=true');
  assert.deepEqual(orgs.body, { organizations: [], start: 0, limit: 50, length: 0, total: 0 });
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(user.user_id)}/permissions`)).status, 200);
  assert.equal((await ts.api('GET', '/users/auth0%7Cnobody/permissions')).status, 404);
});

test('RBAC permissions through ManagementClient in its v3, v4 and v5+ spellings: given to a role and a user, listed, taken away', async () => {
  const api = await ts.api('POST', '/resource-servers', { name: 'SDK RBAC', identifier: 'https://sdk-rbac.example/', scopes: [{ value: 'read:a', description: '' }, { value: 'write:a', description: '' }] });
  assert.equal(api.status, 201);
  const user = await createUser(ts, 'perms@sdk.example', PASSWORD);
  const r = await runDraft(`
  const id = ${JSON.stringify(user.user_id)};
  const role = event.secrets.ROLE_ID;
  const p = (name) => ({ permissions: [{ resource_server_identifier: 'https://sdk-rbac.example/', permission_name: name }] });
  const names = (list) => list.map((x) => x.permission_name).sort();
  const out = {};
  await m.roles.addPermissions({ id: role }, p('read:a'));                 // v4
  await m.roles.permissions.add(role, p('write:a'));                       // v5+
  out.role = names((await m.roles.getPermissions({ id: role })).data);
  await m.roles.permissions.delete(role, p('write:a'));
  await m.removePermissionsFromRole({ id: role }, p('read:a'));            // v3
  out.roleAfter = names((await m.roles.getPermissions({ id: role })).data);
  await m.users.assignPermissions({ id }, p('read:a'));                    // v4
  await m.users.permissions.create(id, p('write:a'));                      // v5+
  await m.assignPermissionsToUser({ id }, p('write:a'));                   // v3 (again: no duplicate)
  out.user = names((await m.users.getPermissions({ id })).data);
  await m.users.deletePermissions({ id }, p('read:a'));
  await m.users.permissions.delete(id, p('write:a'));
  out.userAfter = names((await m.users.getPermissions({ id })).data);
  api.idToken.setCustomClaim('https://x/perms', out);`);
  assert.equal(r.status, 'ok', JSON.stringify(r));
  assert.deepEqual(r.value, { role: ['read:a', 'write:a'], roleAfter: [], user: ['read:a', 'write:a'], userAfter: [] });
});

test('a user\'s second factors through ManagementClient: enrollments (v4 and v5 spellings) and authentication methods reach their routes', async () => {
  const user = await createUser(ts, 'factors@sdk.example', PASSWORD);
  const r = await runDraft(`
  const id = ${JSON.stringify(user.user_id)};
  const out = {};
  const calls = {
    v4: async () => (await m.users.getEnrollments({ id })).data,
    v5: async () => { const x = await m.users.enrollments.get(id); return x.data ?? x; },
    methods: () => m.users.getAuthenticationMethods({ id }),
    v5methods: () => m.users.authenticationMethods.list(id),
    missing: () => m.users.getEnrollments({ id: 'auth0|nobody' }),
  };
  for (const [k, f] of Object.entries(calls)) { try { out[k] = await f(); } catch (e) { out[k] = e.name + ' ' + e.statusCode; } }
  api.idToken.setCustomClaim('https://x/factors', out);`);
  assert.equal(r.status, 'ok');
  // The grant has read:users (enrollments) but not read:authentication_methods: a 403 from the
  // route's scope check, which a path that did not exist would answer with a 404.
  assert.deepEqual(r.value, { v4: [], v5: [], methods: 'ManagementApiError 403', v5methods: 'ManagementApiError 403', missing: 'ManagementApiError 404' });
});

test('the v3 scope option is not sent (v4+ dropped it): a scope the grant lacks does not break the client', async () => {
  const r = await runDraft(`
  const narrow = new (require('auth0').ManagementClient)({ domain: event.secrets.DOMAIN, clientId: event.secrets.CLIENT_ID, clientSecret: event.secrets.CLIENT_SECRET, scope: 'update:roles' });
  const roles = await narrow.getRoles();
  api.idToken.setCustomClaim('https://x/roles', roles.map((x) => x.name).includes('member'));`);
  assert.deepEqual(r, { status: 'ok', value: true });
});
