import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { createAction, deployAction, bindActions, latestExecution } from './helpers/actions.ts';

/*
 * The Actions Management API (ACTIONS.md "Management API"): which scope each route needs
 * (read:actions for reading, create/update/delete:actions for changes), the triggers list, the
 * list filters and one execution by id.
 */

const API = 'https://scopes-api.example.com';
let ts: TestServer;

before(async () => {
  ts = await startTestServer();
  assert.equal((await ts.api('POST', '/resource-servers', { name: 'Scopes API', identifier: API, scopes: [{ value: 'read:things', description: 'r' }] })).status, 201);
});
after(async () => { await ts?.close(); });

const CX_CODE = `exports.onExecuteCredentialsExchange = async (event, api) => { console.log('cx ran for', event.client.client_id); };`;

test('a token with only read:actions can read but gets 403 on create, PATCH, deploy, DELETE, bindings PATCH and /test; nothing changes', async () => {
  const readOnly = await ts.adminToken('read:actions');
  assert.equal(decodeJwt(readOnly).scope, 'read:actions', 'the token carries read:actions alone');

  // An action that exists (created with the full admin token), so that a missing scope check would answer 2xx, not 404.
  const a = await createAction(ts, { name: 'scoped-action', trigger: 'post-login', code: 'exports.onExecutePostLogin = async () => {};' });

  // Reading works with read:actions.
  assert.equal((await ts.api('GET', '/actions/actions', undefined, readOnly)).status, 200);
  assert.equal((await ts.api('GET', `/actions/actions/${a.id}`, undefined, readOnly)).status, 200);
  assert.equal((await ts.api('GET', '/actions/triggers/post-login/bindings', undefined, readOnly)).status, 200);

  const refused: [string, string, unknown][] = [
    ['POST', '/actions/actions', { name: 'made-read-only', supported_triggers: [{ id: 'post-login' }], code: 'exports.onExecutePostLogin = async () => {};' }],
    ['PATCH', `/actions/actions/${a.id}`, { code: 'exports.onExecutePostLogin = async (e, api) => { api.access.deny("patched"); };' }],
    ['POST', `/actions/actions/${a.id}/deploy`, undefined],
    ['DELETE', `/actions/actions/${a.id}`, undefined],
    ['PATCH', '/actions/triggers/post-login/bindings', { bindings: [{ ref: { type: 'action_name', value: 'scoped-action' } }] }],
    ['POST', `/actions/actions/${a.id}/test`, { payload: { user: { email: 'x@example.com' } } }],
  ];
  for (const [method, path, body] of refused) {
    const r = await ts.api(method, path, body, readOnly);
    assert.equal(r.status, 403, `${method} ${path} with read:actions only: ${r.status} ${JSON.stringify(r.body)}`);
  }

  // None of it happened.
  const unchanged = await ts.api('GET', `/actions/actions/${a.id}`);
  assert.equal(unchanged.status, 200, 'the action was not deleted');
  assert.equal(unchanged.body.code, 'exports.onExecutePostLogin = async () => {};', 'the draft was not patched');
  assert.equal(unchanged.body.deployed_version, undefined, 'nothing was deployed');
  assert.equal((await ts.api('GET', `/actions/actions/${a.id}/versions`)).body.total, 0);
  assert.equal((await ts.api('GET', '/actions/actions?actionName=made-read-only')).body.total, 0, 'nothing was created');
  assert.equal((await ts.api('GET', '/actions/triggers/post-login/bindings')).body.total, 0, 'nothing was bound');
  await ts.api('DELETE', `/actions/actions/${a.id}`);
});

test('a token with every actions scope but read:actions gets 403 on the list and on reads', async () => {
  const noRead = await ts.adminToken('create:actions update:actions delete:actions');
  assert.doesNotMatch(String(decodeJwt(noRead).scope), /read:actions/);
  const list = await ts.api('GET', '/actions/actions', undefined, noRead);
  assert.equal(list.status, 403, JSON.stringify(list.body));
  assert.equal((await ts.api('GET', '/actions/triggers', undefined, noRead)).status, 403);
  assert.equal((await ts.api('GET', '/actions/executions', undefined, noRead)).status, 403);
  // The same token may create (create:actions), so the 403 above is about read:actions.
  const made = await ts.api('POST', '/actions/actions', { name: 'made-by-writer', supported_triggers: [{ id: 'post-login' }], code: 'exports.onExecutePostLogin = async () => {};' }, noRead);
  assert.equal(made.status, 201, JSON.stringify(made.body));
  assert.equal((await ts.api('DELETE', `/actions/actions/${made.body.id}`, undefined, noRead)).status, 204);
});

test('GET /actions/triggers lists the five triggers', async () => {
  const r = await ts.api('GET', '/actions/triggers', undefined, await ts.adminToken('read:actions'));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.triggers.map((t: { id: string }) => t.id).sort(),
    ['credentials-exchange', 'post-change-password', 'post-login', 'post-user-registration', 'pre-user-registration']);
  for (const t of r.body.triggers) assert.equal(typeof t.version, 'string', `${t.id} has a version`);
});

test('the list filters triggerId and actionName narrow the list', async () => {
  await createAction(ts, { name: 'filter-login-a', trigger: 'post-login', code: 'exports.onExecutePostLogin = async () => {};' });
  await createAction(ts, { name: 'filter-login-b', trigger: 'post-login', code: 'exports.onExecutePostLogin = async () => {};' });
  await createAction(ts, { name: 'filter-cx', trigger: 'credentials-exchange', code: CX_CODE });
  const names = async (query: string) => {
    const r = await ts.api('GET', `/actions/actions${query}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.total, r.body.actions.length);
    return r.body.actions.map((a: { name: string }) => a.name).sort();
  };
  assert.deepEqual(await names(''), ['filter-cx', 'filter-login-a', 'filter-login-b']);
  assert.deepEqual(await names('?triggerId=post-login'), ['filter-login-a', 'filter-login-b']);
  assert.deepEqual(await names('?triggerId=credentials-exchange'), ['filter-cx']);
  assert.deepEqual(await names('?triggerId=post-change-password'), []);
  assert.deepEqual(await names('?actionName=filter-login-b'), ['filter-login-b']);
  assert.deepEqual(await names('?actionName=filter-cx&triggerId=post-login'), []);
  for (const a of (await ts.api('GET', '/actions/actions')).body.actions) await ts.api('DELETE', `/actions/actions/${a.id}`);
});

test('GET /actions/executions/{id} returns one execution with its timestamps and logs', async () => {
  await deployAction(ts, { name: 'exe-by-id', trigger: 'credentials-exchange', code: CX_CODE });
  await bindActions(ts, 'credentials-exchange', ['exe-by-id']);
  try {
    const m2m = (await ts.api('POST', '/clients', { name: 'Exe M2M', app_type: 'non_interactive' })).body;
    assert.equal((await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: API, scope: ['read:things'] })).status, 201);
    const before = Date.now();
    const res = await fetch(`${ts.base}/oauth/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${m2m.client_id}:${m2m.client_secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', audience: API }),
    });
    assert.equal(res.status, 200, await res.text());
    const listed = await latestExecution(ts, 'credentials-exchange');
    assert.ok(listed?.id, 'the token request recorded an execution');

    const r = await ts.api('GET', `/actions/executions/${listed.id}`, undefined, await ts.adminToken('read:actions'));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.id, listed.id);
    assert.equal(r.body.trigger_id, 'credentials-exchange');
    assert.equal(r.body.status, 'final');
    for (const k of ['created_at', 'updated_at']) {
      const t = Date.parse(r.body[k]);
      assert.ok(Number.isFinite(t) && t >= before - 1000 && t <= Date.now() + 1000, `${k} ${r.body[k]} is the time it ran`);
      assert.equal(new Date(t).toISOString(), r.body[k], `${k} is an ISO time`);
    }
    assert.equal(r.body.results.length, 1);
    const [one] = r.body.results;
    assert.equal(one.action_name, 'exe-by-id');
    assert.equal(one.status, 'ok');
    assert.match(one.logs, new RegExp(`cx ran for ${m2m.client_id}`));
    assert.ok(Date.parse(one.started_at) >= before - 1000 && Date.parse(one.ended_at) >= Date.parse(one.started_at), JSON.stringify(one));

    const missing = await ts.api('GET', '/actions/executions/exe_000000000000nothere');
    assert.equal(missing.status, 404, JSON.stringify(missing.body));
    assert.equal((await ts.api('GET', `/actions/executions/${listed.id}`, undefined, await ts.adminToken('update:actions'))).status, 403);
  } finally {
    await bindActions(ts, 'credentials-exchange', []);
  }
});
