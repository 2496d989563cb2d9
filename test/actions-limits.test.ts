import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { createAction, deployAction, deployVersion, bindActions, latestExecution } from './helpers/actions.ts';

/*
 * ACTIONS.md "Rules that protect users", the limits with their defaults, through the real
 * server: 20 actions per trigger, 30 secrets per action, secret values of 4 KB, 50 versions kept
 * per action, executions kept 10 days; the cache's 15-minute default TTL; and the codes
 * credentials-exchange's api.access.deny takes besides invalid_scope.
 */

const API = 'https://limits-api.example.com';
let ts: TestServer;
let m2m: { client_id: string; client_secret: string };

before(async () => {
  ts = await startTestServer();
  assert.equal((await ts.api('POST', '/resource-servers', { name: 'Limits API', identifier: API, scopes: [{ value: 'read:things', description: 'r' }] })).status, 201);
  m2m = (await ts.api('POST', '/clients', { name: 'Limits M2M', app_type: 'non_interactive' })).body;
  assert.equal((await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: API, scope: ['read:things'] })).status, 201);
});
after(async () => { await ts?.close(); });

/** A client_credentials request of the M2M client: status and JSON body. */
async function m2mToken() {
  const res = await fetch(`${ts.base}/oauth/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${m2m.client_id}:${m2m.client_secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: API }),
  });
  return { status: res.status, body: await res.json() as { access_token?: string; error?: string; error_description?: string } };
}

const NOOP_LOGIN = 'exports.onExecutePostLogin = async () => {};';

test('a trigger takes at most 20 bound actions: 21 is 400 and leaves the bindings as they were', async () => {
  const names: string[] = [];
  for (let i = 0; i < 21; i++) {
    names.push(`bind-limit-${i}`);
    await deployAction(ts, { name: names[i], trigger: 'post-login', code: NOOP_LOGIN });
  }
  const bindings = (list: string[]) => ({ bindings: list.map((value) => ({ ref: { type: 'action_name', value } })) });
  const tooMany = await ts.api('PATCH', '/actions/triggers/post-login/bindings', bindings(names));
  assert.equal(tooMany.status, 400, JSON.stringify(tooMany.body));
  assert.match(JSON.stringify(tooMany.body), /20/);
  assert.equal((await ts.api('GET', '/actions/triggers/post-login/bindings')).body.total, 0, 'nothing was bound');
  // 20 is allowed.
  const twenty = await ts.api('PATCH', '/actions/triggers/post-login/bindings', bindings(names.slice(0, 20)));
  assert.equal(twenty.status, 200, JSON.stringify(twenty.body));
  assert.equal(twenty.body.bindings.length, 20);
  await bindActions(ts, 'post-login', []);
});

test('an action takes at most 30 secrets, each value at most 4 KB: 31 secrets or a 4097-byte value is 400', async () => {
  const secrets = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `S${i}`, value: `value-${i}` }));
  const create = (name: string, s: { name: string; value: string }[]) => ts.api('POST', '/actions/actions', { name, supported_triggers: [{ id: 'post-login' }], code: NOOP_LOGIN, secrets: s });

  const thirtyOne = await create('secrets-31', secrets(31));
  assert.equal(thirtyOne.status, 400, JSON.stringify(thirtyOne.body));
  assert.match(JSON.stringify(thirtyOne.body), /30/);
  assert.equal((await ts.api('GET', '/actions/actions?actionName=secrets-31')).body.total, 0, 'nothing was created');
  const thirty = await create('secrets-30', secrets(30));
  assert.equal(thirty.status, 201, JSON.stringify(thirty.body));
  assert.equal(thirty.body.secrets.length, 30);
  // A 31st added by PATCH is refused as well; the draft keeps its 30.
  const patched = await ts.api('PATCH', `/actions/actions/${thirty.body.id}`, { secrets: secrets(31) });
  assert.equal(patched.status, 400, JSON.stringify(patched.body));
  assert.equal((await ts.api('GET', `/actions/actions/${thirty.body.id}`)).body.secrets.length, 30);

  const big = await create('secret-4097', [{ name: 'BIG', value: 'x'.repeat(4097) }]);
  assert.equal(big.status, 400, JSON.stringify(big.body));
  assert.match(JSON.stringify(big.body), /BIG/);
  // Bytes, not characters: 2049 two-byte characters are 4098 bytes.
  const wide = await create('secret-wide', [{ name: 'WIDE', value: 'é'.repeat(2049) }]);
  assert.equal(wide.status, 400, JSON.stringify(wide.body));
  const exact = await create('secret-4096', [{ name: 'EXACT', value: 'x'.repeat(4096) }]);
  assert.equal(exact.status, 201, JSON.stringify(exact.body));
});

test('after 52 deploys an action keeps 50 versions, numbers 3 to 52', async () => {
  const a = await createAction(ts, { name: 'many-versions', trigger: 'post-login', code: NOOP_LOGIN });
  let last;
  for (let i = 0; i < 52; i++) last = await deployVersion(ts, a.id);
  assert.equal(last!.number, 52);
  const r = await ts.api('GET', `/actions/actions/${a.id}/versions?per_page=100`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.total, 50);
  const numbers: number[] = r.body.versions.map((v: { number: number }) => v.number);
  assert.equal(numbers.length, 50);
  assert.equal(Math.min(...numbers), 3);
  assert.equal(Math.max(...numbers), 52);
  assert.equal(Number((await ts.ctx.db('action_versions').where({ action_id: a.id }).count({ n: '*' }))[0].n), 50, 'the older versions are gone from the database');
  // The deployed version is the newest one.
  assert.equal((await ts.api('GET', `/actions/actions/${a.id}`)).body.deployed_version.number, 52);
});

test('executions older than 10 days are swept; a 9-day-old one stays', async () => {
  await deployAction(ts, { name: 'sweep-cx', trigger: 'credentials-exchange', code: `exports.onExecuteCredentialsExchange = async () => { console.log('swept?'); };` });
  await bindActions(ts, 'credentials-exchange', ['sweep-cx']);
  const ids: string[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal((await m2mToken()).status, 200);
      const exe = await latestExecution(ts, 'credentials-exchange');
      assert.ok(exe && !ids.includes(exe.id), 'a new execution was recorded');
      ids.push(exe.id);
    }
  } finally {
    await bindActions(ts, 'credentials-exchange', []);
  }
  const [old, nineDays, fresh] = ids;
  const day = 86_400_000;
  await ts.ctx.db('action_executions').where({ id: old }).update({ created_at: Date.now() - 10 * day - 60_000 });
  await ts.ctx.db('action_executions').where({ id: nineDays }).update({ created_at: Date.now() - 9 * day });
  // Both still there before the sweep.
  assert.equal((await ts.api('GET', `/actions/executions/${old}`)).status, 200);

  await ts.ctx.actions.engine.sweep();

  assert.equal((await ts.api('GET', `/actions/executions/${old}`)).status, 404, 'the 10-day-old execution was swept');
  const kept = await ts.api('GET', `/actions/executions/${nineDays}`);
  assert.equal(kept.status, 200, 'the 9-day-old execution stays');
  assert.match(kept.body.results[0].logs, /swept\?/);
  assert.equal((await ts.api('GET', `/actions/executions/${fresh}`)).status, 200);
});

test('api.cache.set without a ttl keeps the entry 15 minutes; with a ttl, that long', async () => {
  await deployAction(ts, { name: 'cache-ttl', trigger: 'credentials-exchange', code: `
    exports.onExecuteCredentialsExchange = async (event, api) => {
      api.cache.set('default-ttl', 'a');
      api.cache.set('short-ttl', 'b', { ttl: 60000 });
    };` });
  await bindActions(ts, 'credentials-exchange', ['cache-ttl']);
  try {
    const before = Date.now();
    assert.equal((await m2mToken()).status, 200);
    const done = Date.now();
    const rows = await ts.ctx.db('action_cache').where({ trigger_id: 'credentials-exchange' }).select('key', 'value', 'expires_at');
    const byKey = Object.fromEntries(rows.map((r) => [r.key, r]));
    assert.ok(byKey['default-ttl'], `the entry was stored: ${JSON.stringify(rows)}`);
    const expires = Number(byKey['default-ttl'].expires_at);
    assert.ok(expires >= before + 900_000 - 1000 && expires <= done + 900_000 + 1000,
      `expires_at is about now + 900 s: ${expires - before} ms after the request`);
    const short = Number(byKey['short-ttl'].expires_at);
    assert.ok(short >= before + 60_000 - 1000 && short <= done + 60_000 + 1000, `a 60 s ttl: ${short - before} ms`);
  } finally {
    await bindActions(ts, 'credentials-exchange', []);
  }
});

test('credentials-exchange api.access.deny with invalid_request or server_error gives that OAuth error with the action\'s description', async () => {
  await deployAction(ts, { name: 'cx-deny-code', trigger: 'credentials-exchange', code: `
    exports.onExecuteCredentialsExchange = async (event, api) => {
      api.access.deny(event.secrets.CODE, 'denied with ' + event.secrets.CODE);
    };`, secrets: [{ name: 'CODE', value: 'invalid_request' }] });
  await bindActions(ts, 'credentials-exchange', ['cx-deny-code']);
  try {
    const asInvalidRequest = await m2mToken();
    assert.equal(asInvalidRequest.status, 400, JSON.stringify(asInvalidRequest.body));
    assert.equal(asInvalidRequest.body.error, 'invalid_request');
    assert.equal(asInvalidRequest.body.error_description, 'denied with invalid_request');
    assert.equal(asInvalidRequest.body.access_token, undefined);

    const id = (await ts.api('GET', '/actions/actions?actionName=cx-deny-code')).body.actions[0].id;
    assert.equal((await ts.api('PATCH', `/actions/actions/${id}`, { secrets: [{ name: 'CODE', value: 'server_error' }] })).status, 200);
    await deployVersion(ts, id);
    const asServerError = await m2mToken();
    assert.equal(asServerError.body.error, 'server_error', JSON.stringify(asServerError.body));
    assert.equal(asServerError.body.error_description, 'denied with server_error');
    assert.equal(asServerError.status, 500);
    assert.equal(asServerError.body.access_token, undefined);
  } finally {
    await bindActions(ts, 'credentials-exchange', []);
  }
});
