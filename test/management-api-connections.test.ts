import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createUser, startTestServer, type TestServer } from './helpers/server.ts';

/*
 * Auth0's read-only /connections (the one database connection, with the settings that apply)
 * and /users/{id}/logs, through the real server.
 */

let ts: TestServer;
before(async () => { ts = await startTestServer({ signup: { enabled: false } }); });
after(async () => { await ts?.close(); });

test('GET /connections lists the database connection with the configured settings; by id, strategy, name and fields', async () => {
  const list = await ts.api('GET', '/connections');
  assert.equal(list.status, 200, JSON.stringify(list.body));
  assert.equal(list.body.length, 1);
  const c = list.body[0];
  assert.equal(c.id, 'con_username_password');
  assert.equal(c.name, 'Username-Password-Authentication');
  assert.equal(c.strategy, 'auth0');
  assert.equal(c.options.disable_signup, true, 'sign-up is off in this server\'s configuration');
  assert.equal(c.options.password_complexity_options.min_length, ts.ctx.config.password.minLength);
  assert.deepEqual((await ts.api('GET', '/connections/con_username_password')).body, c);
  assert.equal((await ts.api('GET', '/connections/con_other')).status, 404);
  assert.equal((await ts.api('GET', '/connections?strategy=auth0&strategy=google-oauth2')).body.length, 1);
  assert.deepEqual((await ts.api('GET', '/connections?strategy=google-oauth2')).body, []);
  assert.deepEqual((await ts.api('GET', '/connections?name=Other')).body, []);
  assert.deepEqual((await ts.api('GET', '/connections?fields=id,name&include_fields=true')).body, [{ id: c.id, name: c.name }]);
  const totals = (await ts.api('GET', '/connections?include_totals=true')).body;
  assert.equal(totals.total, 1);
  assert.deepEqual((await ts.api('GET', '/connections?take=10')).body, { connections: [c] });
  assert.equal((await ts.api('GET', '/connections?name=a&name=b')).status, 400);
  assert.equal((await ts.api('GET', '/connections', undefined, await ts.adminToken('read:users'))).status, 403);
});

test('GET /users/{id}/logs pages a user\'s audit events; an unknown user is a 404', async () => {
  const u = await createUser(ts, 'logs.user@connections.example', 'a long enough password');
  await ts.api('PATCH', `/users/${encodeURIComponent(u.user_id)}`, { user_metadata: { a: 1 } });
  const r = await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}/logs?include_totals=true&per_page=1`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.ok(r.body.total >= 2, JSON.stringify(r.body));
  assert.equal(r.body.logs.length, 1);
  assert.ok(r.body.logs.every((l: { user_id: string }) => l.user_id === u.user_id));
  const oldestFirst = (await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}/logs?sort=date:1`)).body;
  const newestFirst = (await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}/logs`)).body;
  assert.deepEqual(oldestFirst.map((l: { log_id: string }) => l.log_id), newestFirst.map((l: { log_id: string }) => l.log_id).reverse());
  assert.equal((await ts.api('GET', '/users/auth0%7Cnobody/logs')).status, 404);
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}/logs`, undefined, await ts.adminToken('read:users'))).status, 403);
});
