import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { SignJWT, generateKeyPair, importJWK } from 'jose';
import { startTestServer, discover, loginThroughForm, ADMIN_ID, type TestServer } from './helpers/server.ts';

// Users, roles, logs and the Management API's authentication. Clients, APIs, grants and keys
// are in management-api-clients.test.ts.

let ts: TestServer;
before(async () => { ts = await startTestServer(); });
after(async () => { await ts?.close(); });

const PASSWORD = 'correct horse battery';
const CB = 'https://app-5173.example/cb';
let seq = 0;
const uniqueEmail = (tag: string) => `${tag}-${++seq}@example.com`;

async function createUser(tag: string, extra: Record<string, unknown> = {}) {
  const r = await ts.api('POST', '/users', { email: uniqueEmail(tag), password: PASSWORD, ...extra });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body as { user_id: string; email: string };
}

function expect400(r: { status: number; body: any }, field: string) {
  assert.equal(r.status, 400, `expected 400 for ${field}, got ${r.status} ${JSON.stringify(r.body)}`);
  assert.equal(r.body.statusCode, 400);
  assert.equal(r.body.error, 'Bad Request');
  assert.ok(typeof r.body.errorCode === 'string');
  assert.match(r.body.message, new RegExp(field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), `message should name ${field}: ${r.body.message}`);
}

/** A refresh token for `email` through the real login form (regular web app, offline_access). */
async function refreshTokenFor(email: string) {
  const web = (await ts.api('POST', '/clients', { name: 'Web', app_type: 'regular_web', callbacks: [CB] })).body;
  const config = await discover(ts, web.client_id, web.client_secret);
  const r = await loginThroughForm(config, { redirectUri: CB, email, password: PASSWORD, scope: 'openid offline_access', params: { prompt: 'consent' } });
  assert.ok(r.callbackUrl, `login failed: ${r.loginPage?.slice(0, 300)}`);
  const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.ok(tokens.refresh_token, 'no refresh token issued');
  return { config, refreshToken: tokens.refresh_token };
}

async function refreshWorks(config: oidc.Configuration, rt: string) {
  try {
    await oidc.refreshTokenGrant(config, rt);
    return true;
  } catch (e) {
    assert.equal((e as { error?: string }).error, 'invalid_grant', String(e));
    return false;
  }
}

async function oidcRows(userId: string) {
  const rows = await ts.ctx.db('oidc_payloads').select('payload');
  return rows.filter((r: { payload: string }) => JSON.parse(r.payload).accountId === userId).length;
}

test('authentication: 401 without a valid token for /api/v2/, 403 without the scope', async () => {
  const noToken = await fetch(`${ts.base}/api/v2/users`);
  assert.equal(noToken.status, 401);
  const body = await noToken.json() as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['error', 'errorCode', 'message', 'statusCode']);
  assert.equal((await ts.api('GET', '/users', undefined, 'not-a-jwt')).status, 401);

  // alg none, and a well-formed token signed by a key that is not ours.
  const claims = { sub: ADMIN_ID, client_id: ADMIN_ID, scope: 'read:users', iss: ts.issuer, aud: `${ts.base}/api/v2/` };
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const none = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ ...claims, exp: Math.floor(Date.now() / 1000) + 600 })}.`;
  assert.equal((await ts.api('GET', '/users', undefined, none)).status, 401);
  const foreign = await generateKeyPair('ES256');
  const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: (await ts.ctx.keys.list())[0].kid })
    .setIssuedAt().setExpirationTime('10m').sign(foreign.privateKey);
  assert.equal((await ts.api('GET', '/users', undefined, forged)).status, 401);

  // Our own key, but expired.
  const jwks = await ts.ctx.keys.privateJwks('ES256');
  const key = await importJWK(jwks[0] as never, 'ES256');
  const expired = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: jwks[0].kid as string })
    .setIssuedAt(Math.floor(Date.now() / 1000) - 7200).setExpirationTime(Math.floor(Date.now() / 1000) - 3600).sign(key);
  const exp = await ts.api('GET', '/users', undefined, expired);
  assert.equal(exp.status, 401);
  assert.match(exp.body.message, /expired/i);

  // A valid token of ours, for another API.
  const api = await ts.api('POST', '/resource-servers', { name: 'Other', identifier: 'https://other.example/api', scopes: [{ value: 'read:users' }] });
  assert.equal(api.status, 201);
  assert.equal((await ts.api('POST', '/client-grants', { client_id: ADMIN_ID, audience: 'https://other.example/api', scope: ['read:users'] })).status, 201);
  const res = await fetch(`${ts.base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${ADMIN_ID}:bootstrap-admin-secret-0123456789`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: 'https://other.example/api' }),
  });
  const other = (await res.json() as { access_token: string }).access_token;
  const wrongAud = await ts.api('GET', '/users', undefined, other);
  assert.equal(wrongAud.status, 401);
  assert.match(wrongAud.body.message, /audience/i);

  // Scopes: a token limited to read:users reads users but cannot create or delete them, nor read roles.
  const readOnly = await ts.adminToken('read:users');
  assert.equal((await ts.api('GET', '/users', undefined, readOnly)).status, 200);
  const denied = await ts.api('POST', '/users', { email: uniqueEmail('denied'), password: PASSWORD }, readOnly);
  assert.equal(denied.status, 403);
  assert.equal(denied.body.errorCode, 'insufficient_scope');
  assert.match(denied.body.message, /create:users/);
  assert.equal((await ts.api('GET', '/roles', undefined, readOnly)).status, 403);
  assert.equal((await ts.api('GET', '/logs', undefined, readOnly)).status, 403);
  const u = await createUser('scoped');
  assert.equal((await ts.api('DELETE', `/users/${encodeURIComponent(u.user_id)}`, undefined, readOnly)).status, 403);
  assert.equal((await ts.api('PATCH', `/users/${encodeURIComponent(u.user_id)}`, { name: 'x' }, readOnly)).status, 403);
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}`)).status, 200, 'the user survived the denied calls');

  // Role membership and authentication methods have scopes of their own (Auth0's): a token
  // that may edit profiles can neither hand out roles nor remove a user's second factor.
  const editor = await ts.adminToken('update:users read:users');
  const role = (await ts.api('POST', '/roles', { name: 'scoped-role' })).body;
  const path = `/users/${encodeURIComponent(u.user_id)}`;
  assert.equal((await ts.api('POST', `${path}/roles`, { roles: [role.id] }, editor)).status, 403);
  assert.equal((await ts.api('POST', `/roles/${role.id}/users`, { users: [u.user_id] }, editor)).status, 403);
  assert.equal((await ts.api('DELETE', `${path}/authentication-methods`, undefined, editor)).status, 403);
  assert.equal((await ts.api('GET', `${path}/authentication-methods`, undefined, editor)).status, 403);
  const members = await ts.adminToken('create:role_members delete:role_members read:role_members');
  assert.equal((await ts.api('POST', `${path}/roles`, { roles: [role.id] }, members)).status, 204);
  assert.equal((await ts.api('GET', `/roles/${role.id}/users`, undefined, members)).status, 200);
  assert.equal((await ts.api('DELETE', `${path}/roles`, { roles: [role.id] }, members)).status, 204);
  assert.equal((await ts.api('DELETE', `/roles/${role.id}`)).status, 204);
});

test('authentication: an end user cannot use a token for the Management API audience (current-user tokens are off by default)', async () => {
  const u = await createUser('enduser');
  const spa = (await ts.api('POST', '/clients', { name: 'SPA', app_type: 'spa', callbacks: [CB] })).body;
  const config = await discover(ts, spa.client_id);
  const r = await loginThroughForm(config, {
    redirectUri: CB, email: u.email, password: PASSWORD, scope: 'openid read:users delete:users read:current_user', params: { audience: `${ts.base}/api/v2/` },
  });
  // The authorization server refuses the audience outright: no token is ever minted. (With
  // managementApi.currentUserTokens on, a user gets the current-user scopes alone:
  // test/management-api-current-user.test.ts.)
  assert.ok(r.callbackUrl);
  assert.equal(r.callbackUrl.searchParams.get('error'), 'invalid_target');
  assert.equal(r.callbackUrl.searchParams.get('code'), null);
  // And a token for another audience is refused by the API: the user's ordinary login token
  // (no audience) carries no Management API audience.
  const plain = await loginThroughForm(config, { redirectUri: CB, email: u.email, password: PASSWORD, scope: 'openid' });
  const tokens = await oidc.authorizationCodeGrant(config, plain.callbackUrl!, { pkceCodeVerifier: plain.verifier, expectedState: plain.state });
  assert.equal((await ts.api('GET', '/users', undefined, tokens.access_token)).status, 401);
  assert.equal((await ts.api('DELETE', `/users/${encodeURIComponent(u.user_id)}`, undefined, tokens.access_token)).status, 401);
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}`)).status, 200, 'the user survived the refused calls');
});

test('authentication: deleting a client grant ends that client\'s Management API access at once', async () => {
  const m2m = (await ts.api('POST', '/clients', { name: 'ops bot', app_type: 'non_interactive' })).body;
  const grant = (await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: `${ts.base}/api/v2/`, scope: ['read:users', 'read:roles'] })).body;
  const config = await discover(ts, m2m.client_id, m2m.client_secret);
  const token = (await oidc.clientCredentialsGrant(config, { audience: `${ts.base}/api/v2/` } as never)).access_token;
  assert.equal((await ts.api('GET', '/users', undefined, token)).status, 200);
  assert.equal((await ts.api('GET', '/clients', undefined, token)).status, 403);
  // Narrowing the grant narrows the live token.
  assert.equal((await ts.api('PATCH', `/client-grants/${grant.id}`, { scope: ['read:roles'] })).status, 200);
  assert.equal((await ts.api('GET', '/users', undefined, token)).status, 403);
  assert.equal((await ts.api('GET', '/roles', undefined, token)).status, 200);
  assert.equal((await ts.api('DELETE', `/client-grants/${grant.id}`)).status, 204);
  assert.equal((await ts.api('GET', '/roles', undefined, token)).status, 401);
});

test('users: create, read, update and delete in Auth0\'s shape; ids with | in the path', async () => {
  const email = uniqueEmail('Carol');
  const created = await ts.api('POST', '/users', {
    email: email.toUpperCase(), password: PASSWORD, connection: 'Username-Password-Authentication', email_verified: true,
    name: 'Carol C', nickname: 'cc', picture: 'https://example.com/c.png', user_metadata: { theme: 'dark' }, app_metadata: { plan: 'pro' },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const u = created.body;
  assert.match(u.user_id, /^auth0\|/);
  assert.equal(u.email, email.toLowerCase());
  assert.equal(u.email_verified, true);
  assert.equal(u.name, 'Carol C');
  assert.deepEqual(u.user_metadata, { theme: 'dark' });
  assert.deepEqual(u.app_metadata, { plan: 'pro' });
  assert.equal(u.identities[0].provider, 'auth0');
  assert.equal(u.password, undefined);
  assert.equal(u.password_hash, undefined);

  const encoded = `/users/${encodeURIComponent(u.user_id)}`;
  assert.ok(encoded.includes('%7C'));
  const got = await ts.api('GET', encoded);
  assert.equal(got.status, 200);
  assert.equal(got.body.user_id, u.user_id);
  assert.ok(!JSON.stringify(got.body).includes('argon2'), 'no hash in responses');
  assert.equal((await ts.api('GET', `/users/${u.user_id}`)).body.user_id, u.user_id, 'a raw | works too');

  const patched = await ts.api('PATCH', encoded, { name: 'Carol D', user_metadata: { theme: null, lang: 'fr' }, app_metadata: { plan: 'team' } });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.name, 'Carol D');
  assert.deepEqual(patched.body.user_metadata, { lang: 'fr' });
  assert.deepEqual(patched.body.app_metadata, { plan: 'team' });

  // A new address is unverified unless the caller says so.
  const newEmail = uniqueEmail('carol-new');
  const moved = await ts.api('PATCH', encoded, { email: newEmail });
  assert.equal(moved.body.email, newEmail);
  assert.equal(moved.body.email_verified, false);

  assert.equal((await ts.api('DELETE', encoded)).status, 204);
  const gone = await ts.api('GET', encoded);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.errorCode, 'inexistent_user');
  assert.equal((await ts.api('DELETE', encoded)).status, 404);
  assert.equal((await ts.api('PATCH', encoded, { name: 'x' })).status, 404);
});

test('users: bad bodies are 400s naming the field; duplicates are 409', async () => {
  const good = { email: uniqueEmail('v'), password: PASSWORD };
  expect400(await ts.api('POST', '/users', { ...good, email: 'not-an-email' }), 'email');
  expect400(await ts.api('POST', '/users', { ...good, email: '"victim@x.com x"@attacker.com' }), 'email');
  expect400(await ts.api('POST', '/users', { ...good, email: 'mıke@example.com' }), 'email');
  expect400(await ts.api('POST', '/users', { ...good, email: { $ne: null } }), 'email');
  expect400(await ts.api('POST', '/users', { ...good, email: ['a@x.com', 'b@x.com'] }), 'email');
  expect400(await ts.api('POST', '/users', { password: PASSWORD }), 'email');
  expect400(await ts.api('POST', '/users', { ...good, password: 'short' }), 'password');
  expect400(await ts.api('POST', '/users', { ...good, password: 'x'.repeat(100_000) }), 'password');
  expect400(await ts.api('POST', '/users', { ...good, password: 12345678901 }), 'password');
  expect400(await ts.api('POST', '/users', { ...good, email_verified: 'yes' }), 'email_verified');
  expect400(await ts.api('POST', '/users', { ...good, connection: 'google-oauth2' }), 'connection');
  expect400(await ts.api('POST', '/users', { ...good, name: 'evil\u202Egnp.exe' }), 'name');
  expect400(await ts.api('POST', '/users', { ...good, name: 'a\r\nBcc: x@y.z' }), 'name');
  expect400(await ts.api('POST', '/users', { ...good, picture: 'javascript:alert(1)' }), 'picture');
  expect400(await ts.api('POST', '/users', { ...good, user_metadata: 'x' }), 'user_metadata');
  // The JSON parser itself refuses __proto__ keys; constructor/prototype are ours to refuse.
  assert.equal((await ts.api('POST', '/users', { ...good, user_metadata: { a: { ['__proto__']: { admin: true } } } })).status, 400);
  expect400(await ts.api('POST', '/users', { ...good, user_metadata: { a: { constructor: { prototype: { admin: true } } } } }), 'user_metadata');
  expect400(await ts.api('POST', '/users', { ...good, app_metadata: { big: 'x'.repeat(20_000) } }), 'app_metadata');
  expect400(await ts.api('POST', '/users', { ...good, is_admin: true }), 'is_admin');
  expect400(await ts.api('POST', '/users', { ...good, user_id: 'auth0|mine' }), 'user_id');
  expect400(await ts.api('POST', '/users', [good]), 'body');

  const u = await createUser('massassign');
  const path = `/users/${encodeURIComponent(u.user_id)}`;
  for (const field of ['password_hash', 'user_id', 'id', 'created_at', 'logins_count', 'mfa_secret', 'role', 'is_admin', 'tenant_id']) {
    expect400(await ts.api('PATCH', path, { [field]: 'x' }), field);
  }
  expect400(await ts.api('PATCH', path, {}), 'body');
  expect400(await ts.api('PATCH', path, { blocked: 'true' }), 'blocked');
  expect400(await ts.api('PATCH', path, { password: 'short' }), 'password');
  const after = (await ts.api('GET', path)).body;
  assert.equal(after.user_id, u.user_id);
  assert.equal(after.blocked, false);

  const rawBody = await fetch(`${ts.base}/api/v2/users`, {
    method: 'POST', headers: { authorization: `Bearer ${await ts.adminToken()}`, 'content-type': 'application/json' }, body: '{"email":',
  });
  assert.equal(rawBody.status, 400);

  const dup = await ts.api('POST', '/users', { email: u.email.toUpperCase(), password: PASSWORD });
  assert.equal(dup.status, 409);
  assert.equal(dup.body.statusCode, 409);
  const other = await createUser('other');
  const clash = await ts.api('PATCH', `/users/${encodeURIComponent(other.user_id)}`, { email: u.email });
  assert.equal(clash.status, 409);
});

test('users: metadata PATCHes merge into what is stored, concurrently too, and the merged object has the same size cap as a body', async () => {
  const u = await createUser('merge');
  const path = `/users/${encodeURIComponent(u.user_id)}`;
  // Twenty PATCHes at once, each with its own key: every key lands (the merge reads and writes in one transaction).
  const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => ts.api('PATCH', path, { app_metadata: { [`k${i}`]: i } })));
  assert.deepEqual(rs.map((r) => r.status), Array(20).fill(200));
  const merged = (await ts.api('GET', path)).body.app_metadata;
  assert.deepEqual(Object.keys(merged).sort(), Array.from({ length: 20 }, (_, i) => `k${i}`).sort());
  // Each body is under 16 KB, but the stored object would grow past it: refused, naming the field, nothing written.
  assert.equal((await ts.api('PATCH', path, { user_metadata: { a: 'x'.repeat(9000) } })).status, 200);
  const big = await ts.api('PATCH', path, { user_metadata: { b: 'y'.repeat(9000) }, name: 'Not Saved' });
  expect400(big, 'user_metadata');
  const after = (await ts.api('GET', path)).body;
  assert.deepEqual(Object.keys(after.user_metadata), ['a']);
  assert.notEqual(after.name, 'Not Saved');
  // Deleting a key makes room again.
  assert.equal((await ts.api('PATCH', path, { user_metadata: { a: null, b: 'y'.repeat(9000) } })).status, 200);
});

test('users: pagination, include_totals, q=email:"…", email= and /users-by-email', async () => {
  const tag = `page${Date.now()}`;
  const made = [];
  for (let i = 0; i < 3; i++) made.push(await createUser(tag));
  const all = (await ts.api('GET', '/users?per_page=100&include_totals=true')).body;
  assert.equal(all.total, all.users.length);
  assert.equal(all.start, 0);
  assert.equal(all.limit, 100);
  assert.ok(all.total >= 3);

  const p0 = await ts.api('GET', '/users?per_page=2&page=0&include_totals=true');
  const p1 = await ts.api('GET', '/users?per_page=2&page=1&include_totals=true');
  assert.equal(p0.body.users.length, 2);
  assert.equal(p1.body.start, 2);
  assert.equal(p0.body.total, all.total);
  const ids = [...p0.body.users, ...p1.body.users].map((x: { user_id: string }) => x.user_id);
  assert.equal(new Set(ids).size, ids.length, 'pages do not overlap');
  assert.deepEqual(ids, all.users.slice(0, ids.length).map((x: { user_id: string }) => x.user_id));
  const plain = await ts.api('GET', '/users?per_page=1');
  assert.ok(Array.isArray(plain.body));
  assert.equal(plain.body.length, 1);

  for (const bad of ['per_page=101', 'per_page=10000000', 'per_page=0', 'per_page=-1', 'page=-1', 'page=abc', 'per_page=1.5', 'include_totals=yes', 'sort=password_hash:1', 'per_page=1&per_page=2', 'bogus=1']) {
    const r = await ts.api('GET', `/users?${bad}`);
    expect400(r, bad.split('=')[0]);
  }

  const target = made[1];
  const byQ = await ts.api('GET', `/users?q=${encodeURIComponent(`email:"${target.email}"`)}&search_engine=v3`);
  assert.equal(byQ.status, 200);
  assert.deepEqual(byQ.body.map((x: { user_id: string }) => x.user_id), [target.user_id]);
  const byQBare = await ts.api('GET', `/users?q=${encodeURIComponent(`email:${target.email.toUpperCase()}`)}`);
  assert.deepEqual(byQBare.body.map((x: { user_id: string }) => x.user_id), [target.user_id]);
  const byEmail = await ts.api('GET', `/users?email=${encodeURIComponent(target.email)}&include_totals=true`);
  assert.equal(byEmail.body.total, 1);
  const byId = await ts.api('GET', `/users?q=${encodeURIComponent(`user_id:"${target.user_id}"`)}`);
  assert.deepEqual(byId.body.map((x: { user_id: string }) => x.user_id), [target.user_id]);
  const injected = await ts.api('GET', `/users?q=${encodeURIComponent(`email:"' OR '1'='1' --"`)}`);
  assert.equal(injected.status, 200);
  assert.deepEqual(injected.body, []);
  expect400(await ts.api('GET', `/users?q=${encodeURIComponent('password_hash:"x"')}`), 'q');

  const be = await ts.api('GET', `/users-by-email?email=${encodeURIComponent(target.email)}`);
  assert.deepEqual(be.body.map((x: { user_id: string }) => x.user_id), [target.user_id]);
  assert.deepEqual((await ts.api('GET', '/users-by-email?email=nobody%40example.com')).body, []);
  expect400(await ts.api('GET', '/users-by-email'), 'email');

  const sorted = (await ts.api('GET', '/users?sort=email:-1&per_page=100')).body.map((x: { email: string }) => x.email);
  assert.deepEqual(sorted, [...sorted].sort().reverse());
});

test('roles: CRUD, role members, and /users/{id}/roles', async () => {
  const admin = await ts.api('POST', '/roles', { name: 'admin', description: 'Administrators' });
  assert.equal(admin.status, 200, JSON.stringify(admin.body));
  assert.match(admin.body.id, /^rol_/);
  const editor = (await ts.api('POST', '/roles', { name: 'editor' })).body;
  assert.equal((await ts.api('POST', '/roles', { name: 'admin' })).status, 409);
  expect400(await ts.api('POST', '/roles', { name: '' }), 'name');
  expect400(await ts.api('POST', '/roles', { name: 'x', permissions: [] }), 'permissions');

  const list = await ts.api('GET', '/roles?include_totals=true');
  assert.deepEqual(list.body.roles.map((r: { name: string }) => r.name), ['admin', 'editor']);
  assert.equal(list.body.total, 2);
  assert.deepEqual((await ts.api('GET', '/roles?name_filter=edi')).body.map((r: { name: string }) => r.name), ['editor']);
  // name_filter: case-insensitive (as Auth0's), and % _ \ match only themselves (they used to be
  // dropped: read_only was not found by its own name, and % matched every role).
  assert.equal((await ts.api('POST', '/roles', { name: 'read_only' })).status, 200);
  assert.equal((await ts.api('POST', '/roles', { name: 'readXonly' })).status, 200);
  const names = async (f: string) => (await ts.api('GET', `/roles?name_filter=${encodeURIComponent(f)}`)).body.map((r: { name: string }) => r.name);
  assert.deepEqual(await names('read_only'), ['read_only']);
  assert.deepEqual(await names('EDI'), ['editor']);
  assert.deepEqual(await names('%'), []);
  // Twenty creations of one name at once: one is created, the others are conflicts (never a 500).
  const same = await Promise.all(Array.from({ length: 20 }, () => ts.api('POST', '/roles', { name: 'raced' })));
  assert.deepEqual(same.map((r) => r.status).sort(), [200, ...Array(19).fill(409)], JSON.stringify(same.map((r) => r.body)));
  assert.equal((await ts.api('GET', `/roles/${admin.body.id}`)).body.description, 'Administrators');
  const renamed = await ts.api('PATCH', `/roles/${editor.id}`, { name: 'writer', description: 'Writes' });
  assert.equal(renamed.body.name, 'writer');
  assert.equal((await ts.api('PATCH', `/roles/${editor.id}`, { name: 'admin' })).status, 409);

  const u = await createUser('roles');
  const path = `/users/${encodeURIComponent(u.user_id)}/roles`;
  assert.equal((await ts.api('POST', path, { roles: [admin.body.id, editor.id] })).status, 204);
  assert.equal((await ts.api('POST', path, { roles: [admin.body.id] })).status, 204, 'assigning twice is harmless');
  assert.deepEqual((await ts.api('GET', path)).body.map((r: { name: string }) => r.name), ['admin', 'writer']);
  const withTotals = (await ts.api('GET', `${path}?include_totals=true&per_page=1`)).body;
  assert.equal(withTotals.total, 2);
  assert.equal(withTotals.roles.length, 1);
  assert.deepEqual((await ts.ctx.users.roleNames(u.user_id)).sort(), ['admin', 'writer']);
  const missing = await ts.api('POST', path, { roles: ['rol_nope'] });
  assert.equal(missing.status, 404);
  assert.match(missing.body.message, /roles/);
  expect400(await ts.api('POST', path, { roles: 'admin' }), 'roles');
  expect400(await ts.api('POST', path, { roles: [] }), 'roles');
  assert.equal((await ts.api('POST', `/users/${encodeURIComponent('auth0|nobody')}/roles`, { roles: [admin.body.id] })).status, 404);

  const members = await ts.api('GET', `/roles/${admin.body.id}/users?include_totals=true`);
  assert.equal(members.body.total, 1);
  assert.equal(members.body.users[0].user_id, u.user_id);
  const u2 = await createUser('roles2');
  assert.equal((await ts.api('POST', `/roles/${admin.body.id}/users`, { users: [u2.user_id] })).status, 204);
  assert.equal((await ts.api('GET', `/roles/${admin.body.id}/users`)).body.length, 2);
  assert.equal((await ts.api('POST', `/roles/${admin.body.id}/users`, { users: ['auth0|ghost'] })).status, 404);

  assert.equal((await ts.api('DELETE', path, { roles: [admin.body.id] })).status, 204);
  assert.deepEqual((await ts.api('GET', path)).body.map((r: { name: string }) => r.name), ['writer']);
  expect400(await ts.api('DELETE', path, { roles: 'x' }), 'roles');

  assert.equal((await ts.api('DELETE', `/roles/${editor.id}`)).status, 204);
  assert.equal((await ts.api('GET', `/roles/${editor.id}`)).status, 404);
  assert.deepEqual((await ts.api('GET', path)).body, [], 'deleting a role removes it from its users');
});

test('deleting or blocking a user revokes their refresh tokens and sessions', async () => {
  const a = await createUser('block');
  const b = await createUser('delete');
  const ra = await refreshTokenFor(a.email);
  const rb = await refreshTokenFor(b.email);
  assert.ok(await oidcRows(a.user_id) > 0);

  // Block A: A's refresh token dies and stays dead after unblocking (revoked, not just hidden).
  assert.equal((await ts.api('PATCH', `/users/${encodeURIComponent(a.user_id)}`, { blocked: true })).status, 200);
  assert.equal(await oidcRows(a.user_id), 0);
  assert.equal(await refreshWorks(ra.config, ra.refreshToken), false);
  assert.equal((await ts.api('PATCH', `/users/${encodeURIComponent(a.user_id)}`, { blocked: false })).status, 200);
  assert.equal(await refreshWorks(ra.config, ra.refreshToken), false);

  // B was untouched by A's block; deleting B ends B's.
  assert.ok(await oidcRows(b.user_id) > 0);
  const rotated = await oidc.refreshTokenGrant(rb.config, rb.refreshToken);
  assert.ok(rotated.refresh_token);
  assert.equal((await ts.api('DELETE', `/users/${encodeURIComponent(b.user_id)}`)).status, 204);
  assert.equal(await oidcRows(b.user_id), 0);
  assert.equal(await refreshWorks(rb.config, rotated.refresh_token!), false);
  // A user created later with the same address does not inherit anything.
  const again = await ts.api('POST', '/users', { email: b.email, password: PASSWORD });
  assert.equal(again.status, 201);
  assert.notEqual(again.body.user_id, b.user_id);
  assert.equal(await refreshWorks(rb.config, rotated.refresh_token!), false);
});

test('PATCH password: new password works, old sessions end, the post-change-password seam fires', async () => {
  const u = await createUser('pw');
  const r = await refreshTokenFor(u.email);
  const seen: string[] = [];
  const events = (ts.ctx as { events?: { passwordChanged?: (id: string) => Promise<void> } }).events;
  const original = events?.passwordChanged;
  if (events) events.passwordChanged = async (id) => { seen.push(id); await original?.(id); };
  try {
    const res = await ts.api('PATCH', `/users/${encodeURIComponent(u.user_id)}`, { password: 'a brand new passphrase', connection: 'Username-Password-Authentication' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  } finally {
    if (events) events.passwordChanged = original;
  }
  if (events) assert.deepEqual(seen, [u.user_id]);
  assert.equal(await refreshWorks(r.config, r.refreshToken), false);
  const row = await ts.ctx.users.findRowByEmail(u.email);
  assert.equal(await ts.ctx.hasher.verify(row!.password_hash, 'a brand new passphrase'), true);
  assert.equal(await ts.ctx.hasher.verify(row!.password_hash, PASSWORD), false);
});

test('logs: every change is a sapi event with actor, target and changes, and no secret anywhere', async () => {
  const secretPassword = 'never-log-this-passphrase-42';
  const u = await createUser('audited', { password: secretPassword });
  await ts.api('PATCH', `/users/${encodeURIComponent(u.user_id)}`, { name: 'Audited Person', password: `${secretPassword}-2` });

  const logs = await ts.api('GET', `/logs?q=${encodeURIComponent(`type:sapi AND user_id:"${u.user_id}"`)}&include_totals=true`);
  assert.equal(logs.status, 200);
  assert.equal(logs.body.total, 2);
  const [update, create] = logs.body.logs;
  assert.equal(create.description, 'Create a user');
  assert.equal(create.type, 'sapi');
  assert.equal(create.client_id, ADMIN_ID);
  assert.deepEqual(create.details.actor, { sub: ADMIN_ID, client_id: ADMIN_ID });
  assert.deepEqual(create.details.target, { type: 'user', id: u.user_id });
  assert.equal(update.description, 'Update a user');
  const nameChange = update.details.changes.find((c: { field: string }) => c.field === 'name');
  assert.equal(nameChange.to, 'Audited Person');
  assert.equal(update.details.password_changed, true);

  const one = await ts.api('GET', `/logs/${update.log_id}`);
  assert.equal(one.body.log_id, update.log_id);
  assert.equal((await ts.api('GET', '/logs/nope')).status, 404);

  const asc = (await ts.api('GET', '/logs?sort=date:1&per_page=100')).body;
  const desc = (await ts.api('GET', '/logs?per_page=100')).body;
  assert.equal(asc[0].log_id, desc[desc.length - 1].log_id);
  expect400(await ts.api('GET', '/logs?q=description:x'), 'q');
  expect400(await ts.api('GET', '/logs?per_page=1000'), 'per_page');

  const everything = JSON.stringify((await ts.api('GET', '/logs?per_page=100')).body) + ts.logs.join('\n');
  assert.ok(!everything.includes(secretPassword), 'a password reached the logs');

  // The count of revoked tokens is a number in the record (its old key, revoked_tokens, looked
  // like a secret to the redactor and was stored as "[redacted]").
  assert.equal((await ts.api('DELETE', `/users/${encodeURIComponent(u.user_id)}`)).status, 204);
  const deleted = (await ts.api('GET', `/logs?q=${encodeURIComponent(`type:sapi AND user_id:"${u.user_id}"`)}`)).body.find((l: { description: string }) => l.description === 'Delete a user');
  assert.equal(typeof deleted.details.revoked_token_count, 'number', JSON.stringify(deleted.details));
});

test('E6: the Management API answers no cross-origin request: no CORS headers, preflight or not', async () => {
  const token = await ts.adminToken();
  const pre = await fetch(`${ts.base}/api/v2/users`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
  assert.equal(pre.headers.get('access-control-allow-origin'), null);
  assert.equal(pre.headers.get('access-control-allow-credentials'), null);
  const res = await fetch(`${ts.base}/api/v2/users`, { headers: { origin: 'https://evil.example', authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), null, 'a browser on another origin cannot read the answer');
  // And no cookie stands in for the token.
  const cookieOnly = await fetch(`${ts.base}/api/v2/users`, { headers: { origin: 'https://evil.example', cookie: '_session=x; _interaction=y' } });
  assert.equal(cookieOnly.status, 401);
});

test('grants: list a user\'s, delete one (its refresh token stops working) or all; scopes enforced', async () => {
  const { expectOAuthError } = await import('./helpers/oidc-assert.ts');
  const u = await createUser('grants');
  const apps = [];
  for (const name of ['Grant App A', 'Grant App B']) {
    const c = (await ts.api('POST', '/clients', { name, app_type: 'spa', callbacks: [CB] })).body;
    const cfg = await discover(ts, c.client_id);
    const r = await loginThroughForm(cfg, { redirectUri: CB, email: u.email, password: PASSWORD, scope: 'openid email offline_access', params: { prompt: 'consent' } });
    const t = await oidc.authorizationCodeGrant(cfg, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
    apps.push({ c, cfg, refresh: t.refresh_token! });
  }
  const list = await ts.api('GET', `/grants?user_id=${encodeURIComponent(u.user_id)}`);
  assert.equal(list.status, 200, JSON.stringify(list.body));
  assert.deepEqual(list.body.map((g: { clientID: string }) => g.clientID).sort(), apps.map((a) => a.c.client_id).sort());
  for (const g of list.body) {
    assert.equal(g.user_id, u.user_id);
    assert.equal(g.audience, `${ts.issuer}/userinfo`);
    assert.deepEqual(g.scope, ['openid', 'email', 'offline_access']);
    assert.equal(g.offline_access, true);
  }
  const paged = await ts.api('GET', `/grants?user_id=${encodeURIComponent(u.user_id)}&per_page=1&include_totals=true`);
  assert.equal(paged.body.total, 2);
  assert.equal(paged.body.grants.length, 1);
  // Paged in SQL: the second page holds the other grant, and the two pages are the whole list.
  const second = await ts.api('GET', `/grants?user_id=${encodeURIComponent(u.user_id)}&per_page=1&page=1&include_totals=true`);
  assert.deepEqual([paged.body.grants[0].id, second.body.grants[0].id].sort(), list.body.map((g: { id: string }) => g.id).sort());
  const byAudience = await ts.api('GET', `/grants?user_id=${encodeURIComponent(u.user_id)}&audience=${encodeURIComponent(`${ts.issuer}/userinfo`)}`);
  assert.equal(byAudience.body.length, 2, 'the audience filter (read after the query) finds both');
  assert.equal((await ts.api('GET', '/grants', undefined, await ts.adminToken('read:users'))).status, 403);
  assert.equal((await ts.api('DELETE', `/grants/${list.body[0].id}`, undefined, await ts.adminToken('read:grants'))).status, 403);

  const first = apps.find((a) => a.c.client_id === list.body[0].clientID)!;
  const other = apps.find((a) => a !== first)!;
  assert.equal((await ts.api('DELETE', `/grants/${list.body[0].id}`)).status, 204);
  await expectOAuthError(oidc.refreshTokenGrant(first.cfg, first.refresh), 'invalid_grant', 400);
  const kept = await oidc.refreshTokenGrant(other.cfg, other.refresh);
  assert.ok(kept.access_token, 'the other grant is untouched');
  assert.equal((await ts.api('DELETE', `/grants/${list.body[0].id}`)).status, 404);
  assert.equal((await ts.api('DELETE', '/grants')).status, 400);
  assert.equal((await ts.api('DELETE', `/grants?user_id=${encodeURIComponent(u.user_id)}`)).status, 204);
  assert.deepEqual((await ts.api('GET', `/grants?user_id=${encodeURIComponent(u.user_id)}`)).body, []);
  await expectOAuthError(oidc.refreshTokenGrant(other.cfg, kept.refresh_token!), 'invalid_grant', 400);
  const logs = (await ts.api('GET', '/logs?per_page=100')).body as { description: string }[];
  assert.ok(logs.some((l) => l.description === 'Delete a grant'));
});

test('grants by an API\'s audience are paged in SQL: a page of one reads a page, not every grant (regression: the whole table, and a refresh-token lookup per grant)', async () => {
  const AUD = 'https://paged.grants.example/';
  const rows = Array.from({ length: 600 }, (_, i) => ({
    id: `paged-grant-${i}`, type: 'Grant', grant_id: null, user_code: null, uid: null, account_id: `auth0|paged${i}`, consumed_at: null, expires_at: Date.now() + 86_400_000 + i,
    payload: JSON.stringify({ accountId: `auth0|paged${i}`, clientId: 'paged-app', openid: { scope: 'openid' }, resources: i % 3 === 2 ? { 'https://other.example/': 'x' } : { [AUD]: 'read:x' }, rejected: i === 5 ? { resources: { 'https://other.example/': 'x' } } : undefined, iat: Math.floor(Date.now() / 1000) }),
  }));
  // One names the API among its rejected scopes only: a stray of the prefilter, never listed.
  rows.push({ ...rows[2], id: 'paged-grant-stray', account_id: 'auth0|stray', payload: JSON.stringify({ accountId: 'auth0|stray', clientId: 'paged-app', resources: {}, rejected: { resources: { [AUD]: 'read:x' } }, iat: 1 }) });
  for (let i = 0; i < rows.length; i += 100) await ts.ctx.db('oidc_payloads').insert(rows.slice(i, i + 100));
  let read = 0;
  const count = (resp: unknown, q: { sql?: string }) => { if (/oidc_payloads/.test(q.sql ?? '') && Array.isArray(resp)) read += resp.length; };
  ts.ctx.db.on('query-response', count);
  const r = await ts.api('GET', `/grants?audience=${encodeURIComponent(AUD)}&per_page=2&include_totals=true`);
  ts.ctx.db.removeListener('query-response', count);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.grants.length, 2);
  assert.ok(r.body.grants.every((g: { audiences: string[] }) => g.audiences.includes(AUD)));
  assert.ok(r.body.total >= 400 && r.body.total <= 401, `total ${r.body.total}`);
  assert.ok(read < 20, `a page of two read ${read} rows`);
  const all = await ts.api('GET', `/grants?audience=${encodeURIComponent(AUD)}&per_page=100&page=3&include_totals=true`);
  assert.ok(all.body.grants.every((g: { id: string }) => g.id !== 'paged-grant-stray'), 'the stray is never listed');
  await ts.ctx.db('oidc_payloads').where('id', 'like', 'paged-grant-%').delete();
});
