import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startTestServer, freePort, ADMIN_ID, ADMIN_SECRET, type TestServer } from './helpers/server.ts';
import { ConfigError } from '../src/config/load.ts';

// Clients, resource servers (APIs), client grants and signing keys through /api/v2.

let ts: TestServer;
before(async () => { ts = await startTestServer(); });
after(async () => { await ts?.close(); });

const MGMT = () => `${ts.base}/api/v2/`;

function expect400(r: { status: number; body: any }, field: string) {
  assert.equal(r.status, 400, `expected 400 for ${field}, got ${r.status} ${JSON.stringify(r.body)}`);
  assert.equal(r.body.statusCode, 400);
  assert.match(r.body.message, new RegExp(field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), `message should name ${field}: ${r.body.message}`);
}

/** client_credentials at /oauth/token with HTTP Basic; returns status and body. */
async function tokenRequest(clientId: string, secret: string, audience: string) {
  const res = await fetch(`${ts.base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience }),
  });
  return { status: res.status, body: await res.json() as { access_token?: string; error?: string; scope?: string } };
}

async function api(identifier: string, scopes: string[]) {
  const r = await ts.api('POST', '/resource-servers', { name: identifier, identifier, scopes: scopes.map((value) => ({ value, description: value })) });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

test('clients: CRUD; the secret is shown on create and rotate only; rotation swaps which secret works', async () => {
  const created = await ts.api('POST', '/clients', {
    name: 'Backend', app_type: 'non_interactive', description: 'nightly jobs', client_metadata: { team: 'ops' }, jwt_configuration: { alg: 'RS256' },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const c = created.body;
  assert.ok(c.client_id);
  assert.ok(typeof c.client_secret === 'string' && c.client_secret.length >= 32);
  assert.deepEqual(c.grant_types, ['client_credentials']);
  assert.equal(c.token_endpoint_auth_method, 'client_secret_basic');
  assert.deepEqual(c.client_metadata, { team: 'ops' });
  assert.equal(c.jwt_configuration.alg, 'RS256');

  const got = await ts.api('GET', `/clients/${c.client_id}`);
  assert.equal(got.status, 200);
  assert.equal(got.body.client_secret, undefined);
  const list = await ts.api('GET', '/clients?per_page=100');
  assert.ok(list.body.some((x: { client_id: string }) => x.client_id === c.client_id));
  assert.ok(!JSON.stringify(list.body).includes(c.client_secret), 'no secret in the list');
  assert.ok(list.body.every((x: Record<string, unknown>) => !('client_secret' in x) && !('client_secret_sealed' in x)));
  const filtered = await ts.api('GET', '/clients?app_type=non_interactive&include_totals=true');
  assert.ok(filtered.body.clients.every((x: { app_type: string }) => x.app_type === 'non_interactive'));
  assert.equal(filtered.body.total, filtered.body.clients.length);

  const rs = await api('https://rotate.example/api', ['read:x']);
  assert.equal((await ts.api('POST', '/client-grants', { client_id: c.client_id, audience: rs.identifier, scope: ['read:x'] })).status, 201);
  assert.equal((await tokenRequest(c.client_id, c.client_secret, rs.identifier)).status, 200);

  const rotated = await ts.api('POST', `/clients/${c.client_id}/rotate-secret`);
  assert.equal(rotated.status, 200);
  assert.ok(rotated.body.client_secret && rotated.body.client_secret !== c.client_secret);
  const old = await tokenRequest(c.client_id, c.client_secret, rs.identifier);
  assert.equal(old.status, 401);
  assert.equal(old.body.error, 'invalid_client');
  assert.equal((await tokenRequest(c.client_id, rotated.body.client_secret, rs.identifier)).status, 200);
  assert.equal((await ts.api('GET', `/clients/${c.client_id}`)).body.client_secret, undefined);

  const patched = await ts.api('PATCH', `/clients/${c.client_id}`, { name: 'Backend v2', client_metadata: { team: 'platform' } });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.name, 'Backend v2');
  assert.equal(patched.body.client_secret, undefined);
  assert.equal((await tokenRequest(c.client_id, rotated.body.client_secret, rs.identifier)).status, 200, 'a PATCH keeps the secret');

  const spa = (await ts.api('POST', '/clients', { name: 'SPA', app_type: 'spa', callbacks: ['https://app.example.com/cb'], web_origins: ['https://app.example.com'] })).body;
  assert.equal(spa.client_secret, undefined, 'public clients have no secret');
  assert.equal(spa.token_endpoint_auth_method, 'none');
  assert.equal((await ts.api('POST', `/clients/${spa.client_id}/rotate-secret`)).status, 400);

  // A public client turned confidential gets a secret, shown once in that response; the
  // reverse drops it.
  const turned = await ts.api('PATCH', `/clients/${spa.client_id}`, { app_type: 'regular_web', token_endpoint_auth_method: 'client_secret_post' });
  assert.equal(turned.status, 200, JSON.stringify(turned.body));
  assert.ok(typeof turned.body.client_secret === 'string' && turned.body.client_secret.length >= 32);
  assert.equal((await ts.api('GET', `/clients/${spa.client_id}`)).body.client_secret, undefined);
  assert.equal((await ts.api('POST', `/clients/${spa.client_id}/rotate-secret`)).status, 200);
  const back = await ts.api('PATCH', `/clients/${spa.client_id}`, { app_type: 'spa', token_endpoint_auth_method: 'none' });
  assert.equal(back.status, 200, JSON.stringify(back.body));
  assert.equal(back.body.client_secret, undefined);
  assert.equal((await ts.api('POST', `/clients/${spa.client_id}/rotate-secret`)).status, 400);

  assert.equal((await ts.api('DELETE', `/clients/${c.client_id}`)).status, 204);
  assert.equal((await ts.api('GET', `/clients/${c.client_id}`)).status, 404);
  assert.equal((await tokenRequest(c.client_id, rotated.body.client_secret, rs.identifier)).status, 401);
  assert.deepEqual((await ts.api('GET', `/client-grants?client_id=${c.client_id}`)).body, [], 'its grants went with it');

  const system = await ts.api('DELETE', `/clients/${ADMIN_ID}`);
  assert.equal(system.status, 400);
  assert.match(system.body.message, /system/i);
  assert.equal((await ts.api('GET', `/clients/${ADMIN_ID}`)).status, 200);
  expect400(await ts.api('PATCH', `/clients/${ADMIN_ID}`, { grant_types: ['authorization_code'], callbacks: ['https://x.example/cb'] }), 'grant_types');
  expect400(await ts.api('PATCH', `/clients/${ADMIN_ID}`, { token_endpoint_auth_method: 'client_secret_post' }), 'token_endpoint_auth_method');
  assert.equal((await ts.api('PATCH', `/clients/${ADMIN_ID}`, { description: 'break-glass admin' })).status, 200);

  const everything = JSON.stringify((await ts.api('GET', '/logs?per_page=100')).body) + ts.logs.join('\n');
  assert.ok(!everything.includes(c.client_secret) && !everything.includes(rotated.body.client_secret), 'a client secret reached the logs');
  const rotateLog = (await ts.api('GET', `/logs?q=${encodeURIComponent(`client_id:"${ADMIN_ID}"`)}&per_page=100`)).body
    .filter((l: { description: string }) => l.description === 'Rotate a client secret');
  assert.deepEqual(rotateLog.map((l: { details: { target: unknown } }) => l.details.target),
    [{ type: 'client', id: spa.client_id }, { type: 'client', id: c.client_id }]);
});

test('clients: unsafe redirect URIs, grant types and auth methods are 400s naming the field', async () => {
  const base = { name: 'App', app_type: 'regular_web' };
  for (const uri of ['javascript:alert(1)', 'data:text/html,hi', 'http://evil.com/cb', 'https://*.example.com/cb', 'https://app.example.com/*',
    'https://app.example.com/cb#frag', 'https://user:pw@app.example.com/cb', '/relative/cb', 'https://app.example.com/c b', 'https://app.example.com/cb\n']) {
    expect400(await ts.api('POST', '/clients', { ...base, callbacks: [uri] }), 'callbacks');
  }
  expect400(await ts.api('POST', '/clients', { ...base, allowed_logout_urls: ['http://evil.com/'] }), 'allowed_logout_urls');
  expect400(await ts.api('POST', '/clients', { ...base, web_origins: ['https://app.example.com/path'] }), 'web_origins');
  expect400(await ts.api('POST', '/clients', { ...base, web_origins: ['*'] }), 'web_origins');
  expect400(await ts.api('POST', '/clients', { ...base, grant_types: ['implicit'] }), 'grant_types');
  expect400(await ts.api('POST', '/clients', { ...base, grant_types: ['password'] }), 'grant_types');
  expect400(await ts.api('POST', '/clients', { ...base, grant_types: ['urn:ietf:params:oauth:grant-type:device_code'] }), 'grant_types');
  expect400(await ts.api('POST', '/clients', { ...base, token_endpoint_auth_method: 'none' }), 'token_endpoint_auth_method');
  expect400(await ts.api('POST', '/clients', { name: 'S', app_type: 'spa', token_endpoint_auth_method: 'client_secret_basic' }), 'token_endpoint_auth_method');
  expect400(await ts.api('POST', '/clients', { name: 'S', app_type: 'spa', grant_types: ['client_credentials'] }), 'grant_types');
  expect400(await ts.api('POST', '/clients', { ...base, app_type: 'mainframe' }), 'app_type');
  expect400(await ts.api('POST', '/clients', { ...base, client_secret: 'password1' }), 'client_secret');
  expect400(await ts.api('POST', '/clients', { ...base, client_id: 'chosen' }), 'client_id');
  expect400(await ts.api('POST', '/clients', { ...base, callbacks: 'https://app.example.com/cb' }), 'callbacks');
  expect400(await ts.api('POST', '/clients', { ...base, client_metadata: { k: 1 } }), 'client_metadata');
  expect400(await ts.api('POST', '/clients', { ...base, name: '' }), 'name');
  expect400(await ts.api('POST', '/clients', { app_type: 'spa' }), 'name');
  expect400(await ts.api('POST', '/clients', { ...base, jwt_configuration: { alg: 'none' } }), 'jwt_configuration');
  expect400(await ts.api('POST', '/clients', { ...base, id_token_signed_response_alg: 'HS256' }), 'id_token_signed_response_alg');

  // What is allowed: loopback http, and a native app's private-use scheme.
  assert.equal((await ts.api('POST', '/clients', { ...base, callbacks: ['http://localhost:3000/cb', 'http://127.0.0.1:8080/cb'] })).status, 201);
  assert.equal((await ts.api('POST', '/clients', { name: 'Mobile', app_type: 'native', callbacks: ['com.example.app:/callback'] })).status, 201);

  // The same rules on PATCH, and the client is unchanged afterwards.
  const c = (await ts.api('POST', '/clients', { ...base, callbacks: ['https://ok.example.com/cb'] })).body;
  const path = `/clients/${c.client_id}`;
  expect400(await ts.api('PATCH', path, { callbacks: ['https://ok.example.com/cb', 'http://evil.com/cb'] }), 'callbacks');
  expect400(await ts.api('PATCH', path, { grant_types: ['authorization_code', 'implicit'] }), 'grant_types');
  expect400(await ts.api('PATCH', path, { token_endpoint_auth_method: 'none' }), 'token_endpoint_auth_method');
  expect400(await ts.api('PATCH', path, { client_secret: 'weak' }), 'client_secret');
  expect400(await ts.api('PATCH', path, { is_system: false }), 'is_system');
  expect400(await ts.api('PATCH', path, {}), 'body');
  const after = (await ts.api('GET', path)).body;
  assert.deepEqual(after.callbacks, ['https://ok.example.com/cb']);
  assert.deepEqual(after.grant_types, ['authorization_code', 'refresh_token']);
  assert.equal(after.token_endpoint_auth_method, 'client_secret_basic');

  const readOnly = await ts.adminToken('read:clients');
  assert.equal((await ts.api('GET', '/clients', undefined, readOnly)).status, 200);
  assert.equal((await ts.api('POST', '/clients', base, readOnly)).status, 403);
  assert.equal((await ts.api('PATCH', path, { name: 'x' }, readOnly)).status, 403);
  assert.equal((await ts.api('POST', `${path}/rotate-secret`, undefined, readOnly)).status, 403);
  assert.equal((await ts.api('DELETE', path, undefined, readOnly)).status, 403);
  assert.equal((await ts.api('GET', '/resource-servers', undefined, readOnly)).status, 403);
  assert.equal((await ts.api('GET', '/client-grants', undefined, readOnly)).status, 403);
  assert.equal((await ts.api('GET', '/keys/signing', undefined, readOnly)).status, 403);
  assert.equal((await ts.api('GET', path)).body.name, 'App');
});

test('resource servers: CRUD by id or identifier; the Management API itself is protected', async () => {
  const created = await ts.api('POST', '/resource-servers', {
    name: 'Orders', identifier: 'https://orders.example/api', scopes: [{ value: 'read:orders', description: 'Read' }, { value: 'write:orders' }],
    signing_alg: 'RS256', token_lifetime: 3600,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const rs = created.body;
  assert.deepEqual(rs.scopes.map((s: { value: string }) => s.value), ['read:orders', 'write:orders']);
  assert.equal(rs.token_lifetime, 3600);
  assert.equal(rs.signing_alg, 'RS256');

  assert.equal((await ts.api('GET', `/resource-servers/${rs.id}`)).body.identifier, rs.identifier);
  assert.equal((await ts.api('GET', `/resource-servers/${encodeURIComponent(rs.identifier)}`)).body.id, rs.id);
  // An API whose identifier is another API's id: the id always names the first (the lookup used
  // to match either column at once, and whichever row came first answered, or was changed).
  const shadow = (await ts.api('POST', '/resource-servers', { name: 'Shadow', identifier: rs.id })).body;
  for (let i = 0; i < 3; i++) assert.equal((await ts.api('GET', `/resource-servers/${rs.id}`)).body.name, 'Orders');
  assert.equal((await ts.api('GET', `/resource-servers/${shadow.id}`)).body.name, 'Shadow');
  assert.equal((await ts.api('DELETE', `/resource-servers/${shadow.id}`)).status, 204);
  const list = await ts.api('GET', '/resource-servers?include_totals=true');
  assert.equal(list.body.total, list.body.resource_servers.length);
  assert.ok(list.body.resource_servers.some((r: { id: string }) => r.id === rs.id));
  assert.ok(list.body.resource_servers.some((r: { identifier: string; is_system: boolean }) => r.identifier === MGMT() && r.is_system));

  assert.equal((await ts.api('POST', '/resource-servers', { name: 'dup', identifier: rs.identifier })).status, 409);
  assert.equal((await ts.api('POST', '/resource-servers', { name: 'mgmt', identifier: MGMT() })).status, 409);
  expect400(await ts.api('POST', '/resource-servers', { name: 'x', identifier: 'has space' }), 'identifier');
  expect400(await ts.api('POST', '/resource-servers', { name: 'x' }), 'identifier');
  expect400(await ts.api('POST', '/resource-servers', { name: 'x', identifier: 'https://x.example', token_lifetime: 10 }), 'token_lifetime');
  expect400(await ts.api('POST', '/resource-servers', { name: 'x', identifier: 'https://x.example', token_lifetime: '3600' }), 'token_lifetime');
  expect400(await ts.api('POST', '/resource-servers', { name: 'x', identifier: 'https://x.example', signing_alg: 'HS256' }), 'signing_alg');
  expect400(await ts.api('POST', '/resource-servers', { name: 'x', identifier: 'https://x.example', scopes: [{ value: 'two words' }] }), 'scopes');
  expect400(await ts.api('POST', '/resource-servers', { name: 'x', identifier: 'https://x.example', scopes: ['read'] }), 'scopes');
  expect400(await ts.api('POST', '/resource-servers', { name: 'x', identifier: 'https://x.example', is_system: true }), 'is_system');

  const patched = await ts.api('PATCH', `/resource-servers/${encodeURIComponent(rs.identifier)}`, { name: 'Orders API', scopes: [{ value: 'read:orders' }], token_lifetime: 600 });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.name, 'Orders API');
  assert.deepEqual(patched.body.scopes, [{ value: 'read:orders', description: '' }]);
  assert.equal(patched.body.token_lifetime, 600);
  expect400(await ts.api('PATCH', `/resource-servers/${rs.id}`, { identifier: 'https://new.example' }), 'identifier');

  const sys = encodeURIComponent(MGMT());
  const delSys = await ts.api('DELETE', `/resource-servers/${sys}`);
  assert.equal(delSys.status, 400);
  expect400(await ts.api('PATCH', `/resource-servers/${sys}`, { identifier: 'https://elsewhere.example/' }), 'identifier');
  expect400(await ts.api('PATCH', `/resource-servers/${sys}`, { scopes: [] }), 'scopes');
  assert.equal((await ts.api('GET', `/resource-servers/${sys}`)).body.identifier, MGMT());
  assert.equal((await ts.api('GET', '/users')).status, 200, 'the Management API still works');

  const m2m = (await ts.api('POST', '/clients', { name: 'orders bot', app_type: 'non_interactive' })).body;
  assert.equal((await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: rs.identifier, scope: ['read:orders'] })).status, 201);
  assert.equal((await ts.api('DELETE', `/resource-servers/${rs.id}`)).status, 204);
  assert.equal((await ts.api('GET', `/resource-servers/${rs.id}`)).status, 404);
  assert.deepEqual((await ts.api('GET', `/client-grants?audience=${encodeURIComponent(rs.identifier)}`)).body, []);
  const t = await tokenRequest(m2m.client_id, m2m.client_secret, rs.identifier);
  assert.notEqual(t.status, 200);
});

test('client grants: create, filter, narrow, delete; they decide what client_credentials gets', async () => {
  const rs = await api('https://inventory.example/api', ['read:stock', 'write:stock']);
  const m2m = (await ts.api('POST', '/clients', { name: 'stock bot', app_type: 'non_interactive' })).body;
  assert.equal((await tokenRequest(m2m.client_id, m2m.client_secret, rs.identifier)).status, 400, 'no grant, no token');

  const g = await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: rs.identifier, scope: ['read:stock', 'write:stock'] });
  assert.equal(g.status, 201, JSON.stringify(g.body));
  assert.match(g.body.id, /^cgr_/);
  assert.equal((await tokenRequest(m2m.client_id, m2m.client_secret, rs.identifier)).body.scope, 'read:stock write:stock');

  assert.equal((await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: rs.identifier, scope: [] })).status, 409);
  const unknownScope = await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: MGMT(), scope: ['read:everything'] });
  expect400(unknownScope, 'scope');
  const noApi = await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: 'https://nope.example', scope: [] });
  assert.equal(noApi.status, 404);
  assert.match(noApi.body.message, /audience/);
  const noClient = await ts.api('POST', '/client-grants', { client_id: 'ghost', audience: rs.identifier, scope: [] });
  assert.equal(noClient.status, 404);
  assert.match(noClient.body.message, /client_id/);
  expect400(await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: rs.identifier, scope: 'read:stock' }), 'scope');
  expect400(await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: rs.identifier }), 'scope');
  expect400(await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: rs.identifier, scope: [], extra: 1 }), 'extra');

  const byClient = await ts.api('GET', `/client-grants?client_id=${m2m.client_id}&include_totals=true`);
  assert.equal(byClient.body.total, 1);
  assert.equal(byClient.body.client_grants[0].id, g.body.id);
  const byAudience = await ts.api('GET', `/client-grants?audience=${encodeURIComponent(MGMT())}`);
  assert.deepEqual(byAudience.body.map((x: { client_id: string }) => x.client_id), [ADMIN_ID]);

  const narrowed = await ts.api('PATCH', `/client-grants/${g.body.id}`, { scope: ['read:stock'] });
  assert.deepEqual(narrowed.body.scope, ['read:stock']);
  expect400(await ts.api('PATCH', `/client-grants/${g.body.id}`, { scope: ['delete:stock'] }), 'scope');
  expect400(await ts.api('PATCH', `/client-grants/${g.body.id}`, { audience: MGMT() }), 'audience');
  // Fresh lookups (the grant cache lives 2 s, but writes through the API clear it).
  assert.equal((await tokenRequest(m2m.client_id, m2m.client_secret, rs.identifier)).body.scope, 'read:stock');

  assert.equal((await ts.api('DELETE', `/client-grants/${g.body.id}`)).status, 204);
  assert.equal((await ts.api('DELETE', `/client-grants/${g.body.id}`)).status, 404);
  assert.equal((await ts.api('PATCH', `/client-grants/${g.body.id}`, { scope: [] })).status, 404);
  const denied = await tokenRequest(m2m.client_id, m2m.client_secret, rs.identifier);
  assert.equal(denied.body.error, 'access_denied');
});

test('client grants: the bootstrap admin\'s Management API grant cannot be narrowed or deleted, and is restored at start if it went missing', async () => {
  // Regression: either call locked the bootstrap admin out for good (a restart did not repair it).
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-grant-'));
  const port = await freePort();
  let first: TestServer | undefined = await startTestServer({}, { at: { dir, port } });
  let second: TestServer | undefined;
  try {
    const mgmt = `${first.base}/api/v2/`;
    const [g] = (await first.api('GET', `/client-grants?client_id=${ADMIN_ID}&audience=${encodeURIComponent(mgmt)}`)).body;
    assert.ok(g, 'the bootstrap admin has its grant');
    const narrowed = await first.api('PATCH', `/client-grants/${g.id}`, { scope: ['read:users'] });
    assert.equal(narrowed.status, 400);
    assert.equal(narrowed.body.errorCode, 'operation_not_supported');
    assert.equal((await first.api('DELETE', `/client-grants/${g.id}`)).status, 400);
    assert.equal((await first.api('GET', '/users')).status, 200, 'still an admin');
    // Gone behind the API's back (in the database): the next start puts it back.
    await first.ctx.db('client_grants').where({ id: g.id }).delete();
    await first.close();
    first = undefined;
    await new Promise((r) => setTimeout(r, 100));
    second = await startTestServer({}, { at: { dir, port } });
    assert.equal((await second.api('GET', '/users')).status, 200, 'the restored grant gives a Management API token');
    // A grant made before a scope existed (here: one taken away in the database) gets it at the next start.
    const row = await second.ctx.db('client_grants').where({ client_id: ADMIN_ID }).first();
    await second.ctx.db('client_grants').where({ id: row.id }).update({ scope: JSON.stringify(JSON.parse(row.scope).filter((x: string) => x !== 'create:role_members')) });
    await second.close();
    second = undefined;
    await new Promise((r) => setTimeout(r, 100));
    second = await startTestServer({}, { at: { dir, port } });
    const [after] = (await second.api('GET', `/client-grants?client_id=${ADMIN_ID}&audience=${encodeURIComponent(mgmt)}`)).body;
    assert.ok(after.scope.includes('create:role_members'), after.scope.join(' '));
  } finally {
    await first?.close();
    await second?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the bootstrap admin takes the configured secret at start; one variable without the other is warned about; a wrong secrets key is said plainly', async () => {
  // Regression (README walk-through): a client made with a secret nobody kept locked the admin
  // out for good, a restart with a known secret changed nothing and said nothing.
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bootstrap-'));
  const port = await freePort();
  const basic = (secret: string) => `Basic ${Buffer.from(`${ADMIN_ID}:${secret}`).toString('base64')}`;
  const tokenWith = async (base: string, secret: string) => (await fetch(`${base}/oauth/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(secret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: `${base}/api/v2/` }),
  })).status;
  const lost = 'a-secret-nobody-kept-0123456789abcdef';
  let s: TestServer | undefined = await startTestServer({ bootstrapAdmin: { clientId: ADMIN_ID, clientSecret: lost } }, { at: { dir, port } });
  try {
    assert.equal(await tokenWith(s.base, lost), 200);
    const issuer = s.issuer;
    await s.close();
    s = undefined;
    // A CLI command run from a shell with another secret in its environment changes nothing
    // (review finding: any command rotated the running server's admin secret).
    const { execFile } = await import('node:child_process');
    await new Promise<void>((resolve, reject) => execFile(process.execPath, ['--no-node-snapshot', join(import.meta.dirname, '..', 'src', 'cli', 'main.ts'), 'keys', 'list'], {
      env: { PATH: process.env.PATH, GATEHOUSE_ISSUER: issuer, GATEHOUSE_DATA_DIR: dir, GATEHOUSE_DATABASE_URL: `sqlite:${join(dir, 'gatehouse.sqlite')}`, GATEHOUSE_LOG_LEVEL: 'silent',
        GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID: ADMIN_ID, GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET: ADMIN_SECRET },
    }, (err) => (err ? reject(err) : resolve())));
    s = await startTestServer({ bootstrapAdmin: { clientId: ADMIN_ID } }, { at: { dir, port } });
    assert.ok(s.logs.some((l) => /go together: with only one set/.test(l)), 'an ID without a secret is warned about');
    assert.equal(await tokenWith(s.base, lost), 200, 'the CLI left the secret alone');
    await s.close();
    s = undefined;
    s = await startTestServer({}, { at: { dir, port } });
    assert.equal(await tokenWith(s.base, ADMIN_SECRET), 200, 'the configured secret works after the restart');
    assert.equal(await tokenWith(s.base, lost), 401, 'the old one no longer does');
    assert.ok(s.logs.some((l) => /bootstrap admin client's secret differed/.test(l)), 'the change is logged');
    assert.ok(!s.logs.some((l) => l.includes(lost) || l.includes(ADMIN_SECRET)), 'no secret in the log');
    const audited = await s.ctx.db('audit_logs').where({ client_id: ADMIN_ID }).where('description', 'like', 'Bootstrap admin client secret set%').first();
    assert.ok(audited, 'and audited');
    // The Management API does not rotate it: the next start would undo that without a word.
    const rotated = await s.api('POST', `/clients/${ADMIN_ID}/rotate-secret`);
    assert.equal(rotated.status, 400);
    assert.equal(rotated.body.errorCode, 'operation_not_supported');
    assert.match(rotated.body.message, /GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET/);
    await s.close();
    s = undefined;
    // Another secrets key on the same database: a plain error, not a decipher stack trace.
    await assert.rejects(startTestServer({ secretsKey: randomBytes(32).toString('base64') }, { at: { dir, port } }),
      (e: Error) => e instanceof ConfigError && /does not open this database's sealed "cookie_keys"/.test(e.message));
  } finally {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('signing keys: list public halves, rotate; old tokens still verify and new ones use the new key', async () => {
  const rs = await api('https://keys.example/api', ['read:k']);
  const m2m = (await ts.api('POST', '/clients', { name: 'key bot', app_type: 'non_interactive' })).body;
  await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: rs.identifier, scope: ['read:k'] });
  const before = (await tokenRequest(m2m.client_id, m2m.client_secret, rs.identifier)).body.access_token!;
  const oldKid = decodeProtectedHeader(before).kid;
  const adminBefore = await ts.adminToken('read:signing_keys');

  const list = await ts.api('GET', '/keys/signing');
  assert.equal(list.status, 200);
  assert.ok(list.body.length >= 2);
  const text = JSON.stringify(list.body);
  for (const k of list.body) {
    assert.ok(k.kid && k.alg && k.created_at);
    assert.equal(k.status, 'current');
    assert.equal(k.current, true);
    assert.match(k.pem, /^-----BEGIN PUBLIC KEY-----/);
    for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k.jwk[priv], undefined, `private member ${priv} leaked`);
  }
  assert.ok(!/PRIVATE KEY|private_jwk|"d":/.test(text));
  assert.ok(list.body.some((k: { kid: string }) => k.kid === oldKid));
  assert.equal((await ts.api('GET', `/keys/signing/${oldKid}`)).body.kid, oldKid);
  assert.equal((await ts.api('GET', '/keys/signing/nope')).status, 404);

  assert.equal((await ts.api('POST', '/keys/signing/rotate', undefined, adminBefore)).status, 403);
  const rotated = await ts.api('POST', '/keys/signing/rotate');
  assert.equal(rotated.status, 201, JSON.stringify(rotated.body));
  const newKids = rotated.body.keys.map((k: { kid: string }) => k.kid);
  assert.ok(!newKids.includes(oldKid));

  const after = (await ts.api('GET', '/keys/signing')).body;
  assert.equal(after.find((k: { kid: string }) => k.kid === oldKid).status, 'previous');
  assert.ok(newKids.every((kid: string) => after.find((k: { kid: string; status: string }) => k.kid === kid)?.status === 'current'));

  const jwks = await (await fetch(`${ts.base}/.well-known/jwks.json`)).json() as { keys: { kid: string }[] };
  const published = jwks.keys.map((k) => k.kid);
  assert.ok(published.includes(oldKid!), 'the previous key stays published');
  assert.ok(newKids.every((kid: string) => published.includes(kid)));
  const keySet = createLocalJWKSet(jwks as never);
  const verified = await jwtVerify(before, keySet, { issuer: ts.issuer, audience: rs.identifier });
  assert.equal(verified.payload.client_id, m2m.client_id);

  const fresh = (await tokenRequest(m2m.client_id, m2m.client_secret, rs.identifier)).body.access_token!;
  const freshKid = decodeProtectedHeader(fresh).kid;
  assert.ok(newKids.includes(freshKid), `new tokens should carry a new kid, got ${freshKid}`);
  await jwtVerify(fresh, keySet, { issuer: ts.issuer, audience: rs.identifier });

  assert.equal((await ts.api('GET', '/keys/signing', undefined, adminBefore)).status, 200, 'admin tokens from before the rotation still work');
  const log = (await ts.api('GET', '/logs?q=type:sapi&per_page=100')).body.find((l: { description: string }) => l.description === 'Rotate the signing keys');
  assert.ok(log);
  assert.ok(!JSON.stringify(log).includes('"d"'));
});

test('a deleted client\'s Management API token is refused at once (regression: its client grant stayed cached for 2 s)', async () => {
  const c = (await ts.api('POST', '/clients', { name: 'short-lived m2m', app_type: 'non_interactive' })).body;
  assert.equal((await ts.api('POST', '/client-grants', { client_id: c.client_id, audience: `${ts.base}/api/v2/`, scope: ['read:users'] })).status, 201);
  const res = await fetch(`${ts.base}/oauth/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: c.client_id, client_secret: c.client_secret, audience: `${ts.base}/api/v2/` }),
  });
  const token = ((await res.json()) as { access_token: string }).access_token;
  assert.equal((await ts.api('GET', '/users', undefined, token)).status, 200);
  assert.equal((await ts.api('DELETE', `/clients/${c.client_id}`)).status, 204);
  assert.equal((await ts.api('GET', '/users', undefined, token)).status, 401);
});
