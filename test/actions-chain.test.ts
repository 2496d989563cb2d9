import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestServer, discover, loginThroughForm, type TestServer } from './helpers/server.ts';
import { createAction, deployVersion, deployAction, bindActions, latestExecution } from './helpers/actions.ts';

let ts: TestServer;
const API = 'https://chain.example.com';

before(async () => {
  ts = await startTestServer();
  await ts.api('POST', '/resource-servers', { name: 'Chain API', identifier: API, scopes: [{ value: 'read', description: 'r' }] });
});
after(async () => { await ts?.close(); });

async function m2mToken() {
  const c = (await ts.api('POST', '/clients', { name: `m2m-${Math.random()}`, app_type: 'non_interactive' })).body;
  await ts.api('POST', '/client-grants', { client_id: c.client_id, audience: API, scope: ['read'] });
  const res = await fetch(`${ts.base}/oauth/token`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: c.client_id, client_secret: c.client_secret, audience: API }),
  });
  return { status: res.status, body: await res.json() as Record<string, string> };
}

test('three post-login actions see each other\'s metadata in order; a deny in the second stops the third; rebinding reorders', async () => {
  const step = (n: number, deny = false) => `
    exports.onExecutePostLogin = async (event, api) => {
      const trail = event.user.app_metadata.trail || [];
      ${deny ? "if (event.user.email.startsWith('deny')) return api.access.deny('stopped by two');" : ''}
      api.user.setAppMetadata('trail', [...trail, ${n}]);
      api.idToken.setCustomClaim('https://x/seen${n}', trail);
    };`;
  for (const n of [1, 3]) await deployAction(ts, { name: `step${n}`, trigger: 'post-login', code: step(n) });
  await deployAction(ts, { name: 'step2', trigger: 'post-login', code: step(2, true) });
  await bindActions(ts, 'post-login', ['step1', 'step2', 'step3']);
  const spa = (await ts.api('POST', '/clients', { name: 'chain spa', app_type: 'spa', callbacks: ['https://app-1.example/cb'] })).body;
  const u = (await ts.api('POST', '/users', { email: 'ok@chain.example', password: 'chain-password-1' })).body;
  const config = await discover(ts, spa.client_id);
  let r = await loginThroughForm(config, { redirectUri: 'https://app-1.example/cb', email: 'ok@chain.example', password: 'chain-password-1' });
  let t = await oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.deepEqual(t.claims()!['https://x/seen1'], []);
  assert.deepEqual(t.claims()!['https://x/seen2'], [1]);
  assert.deepEqual(t.claims()!['https://x/seen3'], [1, 2]);
  assert.deepEqual((await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}`)).body.app_metadata.trail, [1, 2, 3]);

  const d = (await ts.api('POST', '/users', { email: 'deny@chain.example', password: 'chain-password-1' })).body;
  r = await loginThroughForm(config, { redirectUri: 'https://app-1.example/cb', email: 'deny@chain.example', password: 'chain-password-1' });
  assert.equal(r.callbackUrl!.searchParams.get('error'), 'access_denied');
  // Metadata from before the deny is written; the third action never ran.
  assert.deepEqual((await ts.api('GET', `/users/${encodeURIComponent(d.user_id)}`)).body.app_metadata.trail, [1]);
  const exe = await latestExecution(ts, 'post-login');
  assert.deepEqual(exe.results.map((x: { action_name: string }) => x.action_name), ['step1', 'step2']);
  assert.equal(exe.status, 'denied');

  await bindActions(ts, 'post-login', ['step3', 'step1']);
  r = await loginThroughForm(config, { redirectUri: 'https://app-1.example/cb', email: 'ok@chain.example', password: 'chain-password-1' });
  t = await oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.deepEqual(t.claims()!['https://x/seen3'], [1, 2, 3]);
  assert.deepEqual(t.claims()!['https://x/seen1'], [1, 2, 3, 3]);
  assert.equal(t.claims()!['https://x/seen2'], undefined);
  await bindActions(ts, 'post-login', []);
});

test('versions: v1, v2, rollback to v1; a draft edit changes nothing until deploy; bindings refuse undeployed or unknown actions', async () => {
  const code = (v: string) => `exports.onExecuteCredentialsExchange = async (e, api) => { api.accessToken.setCustomClaim('https://x/v', '${v}'); };`;
  const { id } = await createAction(ts, { name: 'versioned', trigger: 'credentials-exchange', code: code('one') });
  const undeployed = await ts.api('PATCH', '/actions/triggers/credentials-exchange/bindings', { bindings: [{ ref: { type: 'action_name', value: 'versioned' } }] });
  assert.equal(undeployed.status, 400);
  assert.match(undeployed.body.message, /not been deployed/);
  const unknown = await ts.api('PATCH', '/actions/triggers/credentials-exchange/bindings', { bindings: [{ ref: { type: 'action_id', value: 'act_nope' } }] });
  assert.equal(unknown.status, 400);
  const v1 = await deployVersion(ts, id);
  assert.equal(v1.number, 1);
  await bindActions(ts, 'credentials-exchange', ['versioned']);
  assert.equal(decodeJwt((await m2mToken()).body.access_token)['https://x/v'], 'one');

  assert.equal((await ts.api('PATCH', `/actions/actions/${id}`, { code: code('two') })).status, 200);
  assert.equal(decodeJwt((await m2mToken()).body.access_token)['https://x/v'], 'one', 'a draft edit must not change behaviour');
  assert.equal((await ts.api('GET', `/actions/actions/${id}`)).body.all_changes_deployed, false);
  const v2 = await deployVersion(ts, id);
  assert.equal(v2.number, 2);
  assert.equal(decodeJwt((await m2mToken()).body.access_token)['https://x/v'], 'two');

  // An edit not deployed yet: a rollback leaves it in the draft unless update_draft says otherwise (as on Auth0).
  assert.equal((await ts.api('PATCH', `/actions/actions/${id}`, { code: code('three') })).status, 200);
  const rb = await ts.api('POST', `/actions/actions/${id}/versions/${v1.id}/deploy`);
  assert.equal(rb.status, 202, 'Auth0 answers a deploy (and a rollback) with 202');
  assert.equal(rb.body.number, 3);
  assert.equal(rb.body.code, v1.code);
  assert.equal(decodeJwt((await m2mToken()).body.access_token)['https://x/v'], 'one');
  let draft = (await ts.api('GET', `/actions/actions/${id}`)).body;
  assert.equal(draft.code, code('three'), 'the undeployed edit survives the rollback');
  assert.equal(draft.all_changes_deployed, false);
  const rbKeep = await ts.api('POST', `/actions/actions/${id}/versions/${v1.id}/deploy`, { update_draft: false });
  assert.equal(rbKeep.status, 202);
  assert.equal((await ts.api('GET', `/actions/actions/${id}`)).body.code, code('three'));
  assert.equal((await ts.api('POST', `/actions/actions/${id}/versions/${v1.id}/deploy`, { update_draft: 'yes' })).status, 400);
  const rbDraft = await ts.api('POST', `/actions/actions/${id}/versions/${v2.id}/deploy`, { update_draft: true });
  assert.equal(rbDraft.status, 202);
  draft = (await ts.api('GET', `/actions/actions/${id}`)).body;
  assert.equal(draft.code, code('two'), 'update_draft: true puts that version in the draft');
  assert.equal(draft.all_changes_deployed, true);
  assert.equal(decodeJwt((await m2mToken()).body.access_token)['https://x/v'], 'two');
  const versions = (await ts.api('GET', `/actions/actions/${id}/versions`)).body.versions;
  assert.deepEqual(versions.map((v: { number: number }) => v.number), [5, 4, 3, 2, 1]);
  assert.equal((await ts.api('DELETE', `/actions/actions/${id}`)).status, 409, 'bound actions cannot be deleted');
  await bindActions(ts, 'credentials-exchange', []);
  assert.equal((await ts.api('DELETE', `/actions/actions/${id}`)).status, 204);
});

test('secrets reach the action as event.secrets and nowhere else: API, logs, executions, database file', async () => {
  const SECRET = 'sk_live_9f8e7d6c5b4a39281706';
  const { id } = await createAction(ts, { name: 'secretive', trigger: 'credentials-exchange', secrets: [{ name: 'API_KEY', value: SECRET }], code: `
    exports.onExecuteCredentialsExchange = async (event, api) => {
      console.log('the key is', event.secrets.API_KEY);
      api.accessToken.setCustomClaim('https://x/key_len', event.secrets.API_KEY.length);
      if (event.secrets.OTHER !== undefined) throw new Error('saw a secret that is not mine');
    };` });
  await createAction(ts, { name: 'other-secret-holder', trigger: 'credentials-exchange', code: 'exports.onExecuteCredentialsExchange = async () => {};', secrets: [{ name: 'OTHER', value: 'other-secret-value-123' }] });
  await deployVersion(ts, id);
  await bindActions(ts, 'credentials-exchange', ['secretive']);
  const tok = await m2mToken();
  assert.equal(tok.status, 200, JSON.stringify(tok.body));
  assert.equal(decodeJwt(tok.body.access_token)['https://x/key_len'], SECRET.length);
  const all = [
    JSON.stringify((await ts.api('GET', `/actions/actions/${id}`)).body),
    JSON.stringify((await ts.api('GET', '/actions/actions')).body),
    JSON.stringify((await ts.api('GET', `/actions/actions/${id}/versions`)).body),
    JSON.stringify((await ts.api('GET', '/actions/executions?limit=10')).body),
    JSON.stringify((await ts.api('GET', '/logs?per_page=100')).body),
    ts.logs.join('\n'),
  ];
  for (const text of all) assert.ok(!text.includes(SECRET), 'secret value leaked');
  assert.match(all[3], /the key is \[REDACTED\]/);
  assert.match(all[0], /API_KEY/, 'the secret name is listed');
  for (const f of readdirSync(ts.dir).filter((f) => f.startsWith('gatehouse.sqlite'))) {
    assert.ok(!readFileSync(join(ts.dir, f)).includes(Buffer.from(SECRET)), `secret in ${f}`);
  }
  await bindActions(ts, 'credentials-exchange', []);
});

test('a long secret with quotes, backslashes and newlines stays out of records when logged nested, as JSON, or thrown', async () => {
  // Regression: console formatting escapes and cuts strings (200 characters nested, 256 per
  // line) and JSON.stringify escapes them, before the server looked for the exact text: a PEM
  // key logged as part of an object reached the execution record, escaped or cut.
  const PEM = `-----BEGIN EC PRIVATE KEY-----\n${'MHcCAQEEIBv3k"q\\Zp\'9x'.repeat(24)}\n-----END EC PRIVATE KEY-----`;
  const secrets = [{ name: 'PEM', value: PEM }];
  const leaky = await createAction(ts, { name: 'pem-logger', trigger: 'credentials-exchange', secrets, code: `
    exports.onExecuteCredentialsExchange = async (event, api) => {
      console.log(event.secrets);
      console.log({ nested: { key: event.secrets.PEM } });
      console.log(JSON.stringify(event.secrets));
      console.log('%j', event.secrets);
      console.log(event.secrets.PEM);
      api.accessToken.setCustomClaim('https://x/pem', 'prefix ' + event.secrets.PEM);
      throw new Error('failed with ' + event.secrets.PEM);
    };` });
  await deployVersion(ts, leaky.id);
  await bindActions(ts, 'credentials-exchange', [{ name: 'pem-logger', on_error: 'allow' }]);
  const logsBefore = ts.logs.length;
  assert.equal((await m2mToken()).status, 200);
  await ts.ctx.actions.engine.flush();
  const exe = JSON.stringify((await ts.api('GET', '/actions/executions?limit=5')).body);
  assert.match(exe, /pem-logger/);
  assert.match(exe, /\[REDACTED\]/);
  // No 12-character piece of the secret's body, raw or escaped, anywhere.
  const body = PEM.split('\n')[1];
  const pieces = new Set<string>();
  for (const form of [body, JSON.stringify(body).slice(1, -1)]) for (let i = 0; i + 12 <= form.length; i += 5) pieces.add(form.slice(i, i + 12));
  const text = exe + ts.logs.slice(logsBefore).join('\n');
  const found = [...pieces].filter((p) => text.includes(p));
  assert.deepEqual(found, [], 'pieces of the secret in the record or the log');
  await bindActions(ts, 'credentials-exchange', []);
});

test('a deny that no longer fits under the recorded-calls cap fails the action instead of being dropped', async () => {
  // Regression: past the 100 KB cap every call was refused with a log line only, a deny too,
  // so an action that set large claims first and then denied let the token through.
  const { id } = await createAction(ts, { name: 'big-then-deny', trigger: 'credentials-exchange', code: `
    exports.onExecuteCredentialsExchange = async (event, api) => {
      // Fill the cap greedily: each call that still fits is recorded, so what is left at the end is smaller than the deny.
      for (let n = 65536; n >= 8; n = n >> 1) api.accessToken.setCustomClaim('https://x/f' + n, 'x'.repeat(n));
      api.access.deny('invalid_request', 'this client may not have a token');
    };` });
  await deployVersion(ts, id);
  await bindActions(ts, 'credentials-exchange', ['big-then-deny']);
  const tok = await m2mToken();
  assert.notEqual(tok.status, 200, JSON.stringify(tok.body).slice(0, 300));
  const exe = await latestExecution(ts, 'credentials-exchange');
  assert.equal(exe.results[0].status, 'runtime');
  assert.match(exe.results[0].error.message, /api\.access\.deny\(\) could not be recorded/);
  await bindActions(ts, 'credentials-exchange', []);
});

test('the custom-claims cap counts bytes: claims in a script of two-byte characters stop at 16 KB, not 16,000 characters', async () => {
  // Regression: sizes were counted in UTF-16 characters, so such claims could take up to three times the cap.
  const { id } = await createAction(ts, { name: 'wide-claims', trigger: 'credentials-exchange', code: `
    exports.onExecuteCredentialsExchange = async (event, api) => {
      api.accessToken.setCustomClaim('https://x/a', 'é'.repeat(6000));
      api.accessToken.setCustomClaim('https://x/b', 'é'.repeat(6000));
    };` });
  await deployVersion(ts, id);
  await bindActions(ts, 'credentials-exchange', ['wide-claims']);
  const tok = await m2mToken();
  assert.equal(tok.status, 200);
  const claims = decodeJwt(tok.body.access_token);
  assert.equal((claims['https://x/a'] as string).length, 6000, 'the first (12 KB) fits');
  assert.equal(claims['https://x/b'], undefined, 'the second would make 24 KB: refused');
  const exe = await latestExecution(ts, 'credentials-exchange');
  assert.match(JSON.stringify(exe.results[0]), /16384-byte limit/);
  await bindActions(ts, 'credentials-exchange', []);
});

test('a secret an action puts in a claim name or an error name is redacted in refusals, records and logs', async () => {
  const SECRET = 'sk_live_claimname_5566778899';
  const secrets = [{ name: 'API_KEY', value: SECRET }];
  const claim = await createAction(ts, { name: 'leaky-claim', trigger: 'credentials-exchange', secrets, code: `
    exports.onExecuteCredentialsExchange = async (event, api) => {
      // Refused as too large: the refusal quotes the claim's name.
      api.accessToken.setCustomClaim('https://x/' + event.secrets.API_KEY, 'x'.repeat(20000));
    };` });
  const thrower = await createAction(ts, { name: 'leaky-error', trigger: 'credentials-exchange', secrets, code: `
    exports.onExecuteCredentialsExchange = async (event) => {
      const e = new Error('plain message');
      e.name = 'Err' + event.secrets.API_KEY;
      throw e;
    };` });
  await deployVersion(ts, claim.id);
  await deployVersion(ts, thrower.id);
  await bindActions(ts, 'credentials-exchange', ['leaky-claim', 'leaky-error']);
  const logsBefore = ts.logs.length;
  const tok = await m2mToken();
  assert.equal(tok.status, 500, 'the throwing action blocks the token (on_error block)');
  const exe = JSON.stringify((await ts.api('GET', '/actions/executions?limit=5')).body);
  assert.match(exe, /leaky-claim/);
  assert.match(exe, /claim \\"https:\/\/x\/\[REDACTED\]\\" is larger than/, 'the refusal is recorded, the name in it redacted');
  assert.match(exe, /Err\[REDACTED\]/, 'the error name is recorded, redacted');
  for (const text of [exe, ts.logs.slice(logsBefore).join('\n')]) assert.ok(!text.includes(SECRET), 'secret value leaked');
  await ts.ctx.actions.engine.flush();
  for (const f of readdirSync(ts.dir).filter((f) => f.startsWith('gatehouse.sqlite'))) {
    assert.ok(!readFileSync(join(ts.dir, f)).includes(Buffer.from(SECRET)), `secret in ${f}`);
  }
  await bindActions(ts, 'credentials-exchange', []);
});

test('test endpoint runs the draft with no side effects and returns commands, logs and timing', async () => {
  const { id } = await createAction(ts, { name: 'draft-only', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      console.log('hello', event.user.email);
      api.user.setAppMetadata('x', 1);
      api.idToken.setCustomClaim('https://x/hi', 'there');
    };` });
  const r = await ts.api('POST', `/actions/actions/${id}/test`, { payload: { user: { email: 'a@b.example', app_metadata: {}, user_metadata: {} } } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.payload.status, 'ok');
  assert.deepEqual(r.body.payload.commands.map((c: { type: string }) => c.type), ['user.setAppMetadata', 'idToken.setCustomClaim']);
  assert.match(r.body.payload.logs, /hello a@b\.example/);
  assert.equal(typeof r.body.payload.stats.action_duration_ms, 'number');
  assert.equal((await ts.api('GET', '/actions/executions?triggerId=post-login&limit=100')).body.executions.filter((e: { results: { action_name: string }[] }) => e.results.some((x) => x.action_name === 'draft-only')).length, 0);
  // Regression: the test run returned the api calls' arguments as made, so a claim set from a
  // secret showed its value. Secret values are redacted at any depth, names and other values kept.
  const TEST_SECRET = 'test-run-secret-7f3a9c2e';
  const leaky = await createAction(ts, { name: 'draft-secret', trigger: 'post-login', secrets: [{ name: 'API_KEY', value: TEST_SECRET }], code: `
    exports.onExecutePostLogin = async (event, api) => {
      api.idToken.setCustomClaim('https://x/k', { key: event.secrets.API_KEY, nested: ['Bearer ' + event.secrets.API_KEY], plain: 'visible' });
    };` });
  const shown = await ts.api('POST', `/actions/actions/${leaky.id}/test`, { payload: { user: { email: 'a@b.example', app_metadata: {}, user_metadata: {} } } });
  assert.equal(shown.status, 200, JSON.stringify(shown.body));
  assert.ok(!JSON.stringify(shown.body).includes(TEST_SECRET), JSON.stringify(shown.body));
  assert.deepEqual(shown.body.payload.commands[0].args, ['https://x/k', { key: '[REDACTED]', nested: ['Bearer [REDACTED]'], plain: 'visible' }]);
  const bad = await ts.api('POST', '/actions/actions', { name: 'broken', supported_triggers: [{ id: 'post-login' }], code: 'exports.onExecutePostLogin = async (event, api) => { ' });
  assert.equal(bad.status, 400);
  assert.match(bad.body.message, /code:/);
  const none = await ts.api('POST', '/actions/actions', { name: 'no-handler', supported_triggers: [{ id: 'post-login' }], code: 'exports.somethingElse = 1;' });
  assert.equal(none.status, 400);
  const big = await ts.api('POST', '/actions/actions', { name: 'big', supported_triggers: [{ id: 'post-login' }], code: `// ${'x'.repeat(101 * 1024)}\nexports.onExecutePostLogin = async () => {};` });
  assert.equal(big.status, 400);
  assert.equal((await ts.api('GET', '/actions/actions', undefined, await ts.adminToken('read:users'))).status, 403);
});

test('a trigger\'s bindings are paged as on Auth0: {bindings, total, page, per_page}, so an SDK paging through them stops', async () => {
  // Regression: page was ignored and total missing, and Auth0's SDK asked for page after page forever.
  const names = ['paged-a', 'paged-b', 'paged-c'];
  for (const name of names) await deployAction(ts, { name, trigger: 'post-change-password', code: 'exports.onExecutePostChangePassword = async () => {};' });
  await bindActions(ts, 'post-change-password', names);
  const get = (q: string) => ts.api('GET', `/actions/triggers/post-change-password/bindings${q}`);
  const all = await get('');
  assert.equal(all.status, 200);
  assert.deepEqual({ ...all.body, bindings: all.body.bindings.map((b: { action: { name: string } }) => b.action.name) }, { bindings: names, total: 3, page: 0, per_page: 50 });
  const pages = [];
  for (let page = 0; page < 5; page++) {
    const r = await get(`?page=${page}&per_page=2`);
    assert.equal(r.status, 200);
    assert.equal(r.body.total, 3);
    pages.push(r.body.bindings.map((b: { action: { name: string } }) => b.action.name));
  }
  assert.deepEqual(pages, [['paged-a', 'paged-b'], ['paged-c'], [], [], []]);
  assert.equal((await get('?per_page=0')).status, 400);
  assert.equal((await get('?include_everything=true')).status, 400);
  await bindActions(ts, 'post-change-password', []);
});

test('secret names: __proto__, constructor and prototype are refused with the name; names of other Object.prototype members are secrets like any other', async () => {
  const code = 'exports.onExecuteCredentialsExchange = async (event, api) => { api.accessToken.setCustomClaim("https://x/names", Object.keys(event.secrets).sort()); };';
  for (const name of ['__proto__', 'constructor', 'prototype']) {
    const refused = await ts.api('POST', '/actions/actions', { name: `reserved-${name.replace(/_/g, '')}`, supported_triggers: [{ id: 'credentials-exchange' }], code, secrets: [{ name, value: 'hunter2-value' }, { name: 'OTHER', value: 'other-value' }] });
    assert.equal(refused.status, 400, name);
    assert.match(refused.body.message, new RegExp(`"${name}" is not a valid secret name`));
  }
  assert.equal((await ts.api('GET', '/actions/actions')).body.actions.filter((a: { name: string }) => a.name.startsWith('reserved-')).length, 0, 'nothing created');
  // An update naming a secret it does not send keeps the stored value; an inherited member of a
  // plain object is no stored value ("needs a value", not a function taken for one).
  const made = await ts.api('POST', '/actions/actions', { name: 'named-secrets', supported_triggers: [{ id: 'credentials-exchange' }], code, secrets: [{ name: 'hasOwnProperty', value: 'h-value' }] });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const noValue = await ts.api('PATCH', `/actions/actions/${made.body.id}`, { secrets: [{ name: 'hasOwnProperty' }, { name: 'toString' }] });
  assert.equal(noValue.status, 400);
  assert.match(noValue.body.message, /toString needs a value/);
  const kept = await ts.api('PATCH', `/actions/actions/${made.body.id}`, { secrets: [{ name: 'hasOwnProperty' }, { name: 'toString', value: 't-value' }] });
  assert.equal(kept.status, 200, JSON.stringify(kept.body));
  assert.deepEqual(kept.body.secrets.map((s: { name: string }) => s.name).sort(), ['hasOwnProperty', 'toString']);
  const tested = await ts.api('POST', `/actions/actions/${made.body.id}/test`, { payload: {} });
  assert.equal(tested.status, 200, JSON.stringify(tested.body));
  assert.deepEqual(tested.body.payload.commands[0].args[1], ['hasOwnProperty', 'toString']);
});

test('user metadata the engine refuses (NUL, over 16 KB, a control character in the name) is not shown to the next action; accepted writes and removals are', async () => {
  await deployAction(ts, { name: 'md-writer', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.user.setAppMetadata('role', 'admin\\u0000');
    api.user.setAppMetadata('big', 'x'.repeat(20000));
    api.user.setAppMetadata('bad\\nname', 'v');
    api.user.setAppMetadata('plan', 'gold');
    api.user.setAppMetadata('kept', undefined);
  };` });
  await deployAction(ts, { name: 'md-reader', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    const m = event.user.app_metadata;
    api.idToken.setCustomClaim('https://x/seen', { role: m.role ?? null, big: m.big ? m.big.length : null, bad: m['bad\\nname'] ?? null, plan: m.plan ?? null, kept: m.kept ?? null });
  };` });
  await bindActions(ts, 'post-login', ['md-writer', 'md-reader']);
  const cb = 'https://md.example/cb';
  const spa = (await ts.api('POST', '/clients', { name: 'md spa', app_type: 'spa', callbacks: [cb] })).body;
  const config = await discover(ts, spa.client_id);
  const u = (await ts.api('POST', '/users', { email: 'md@example.com', password: 'md password 12345', app_metadata: { kept: 'yes' }, connection: 'Username-Password-Authentication' })).body;
  const r = await loginThroughForm(config, { redirectUri: cb, email: 'md@example.com', password: 'md password 12345' });
  const t = await oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  // (undefined removes, as null does: the call records the value as JSON.)
  assert.deepEqual(t.claims()!['https://x/seen'], { role: null, big: null, bad: null, plan: 'gold', kept: null });
  assert.deepEqual((await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}`)).body.app_metadata, { plan: 'gold' });
  await bindActions(ts, 'post-login', []);
});

test('a metadata write that would take the object past 16 KB is refused; the chain\'s other writes land and are what later actions see', async () => {
  // Regression of a review: each value was checked, not the object as a whole, so later actions
  // saw a write the store then refused, and with it the whole chain's change was dropped.
  await deployAction(ts, { name: 'md-big-writer', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.user.setAppMetadata('approved', true);
    api.user.setAppMetadata('a', 'x'.repeat(9000));
    api.user.setAppMetadata('b', 'y'.repeat(9000));
  };` });
  await deployAction(ts, { name: 'md-big-reader', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    const m = event.user.app_metadata;
    api.idToken.setCustomClaim('https://x/seen-big', { approved: m.approved ?? null, a: m.a ? m.a.length : null, b: m.b ? m.b.length : null });
  };` });
  await bindActions(ts, 'post-login', ['md-big-writer', 'md-big-reader']);
  const cb = 'https://md-big.example/cb';
  const spa = (await ts.api('POST', '/clients', { name: 'md big spa', app_type: 'spa', callbacks: [cb] })).body;
  const config = await discover(ts, spa.client_id);
  const u = (await ts.api('POST', '/users', { email: 'md-big@example.com', password: 'md password 12345', connection: 'Username-Password-Authentication' })).body;
  const r = await loginThroughForm(config, { redirectUri: cb, email: 'md-big@example.com', password: 'md password 12345' });
  const t = await oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.deepEqual(t.claims()!['https://x/seen-big'], { approved: true, a: 9000, b: null });
  const stored = (await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}`)).body.app_metadata;
  assert.deepEqual({ approved: stored.approved, a: stored.a?.length, b: stored.b }, { approved: true, a: 9000, b: undefined });
  const exe = await latestExecution(ts, 'post-login');
  assert.match(JSON.stringify(exe.results[0].rejected_commands), /metadata \\"b\\" refused: app_metadata would be larger than 16384 bytes/);
  await bindActions(ts, 'post-login', []);
});

test('metadata written by an admin while a login is paused at a redirect: the continuation sees it, and its writes that no longer fit are refused on their own', async () => {
  // Regression of a review: the continuation ran on the metadata of the pause, and its change
  // was merged into the stored metadata as a whole: past the cap, all of it was dropped, the
  // small writes and the other object's included, with no word in the execution record.
  await deployAction(ts, { name: 'redir-writer', trigger: 'post-login', code: `
  exports.onExecutePostLogin = async (event, api) => { api.redirect.sendUserTo('https://ext.example/verify'); };
  exports.onContinuePostLogin = async (event, api) => {
    api.user.setUserMetadata('verified_at', 'now');
    api.user.setAppMetadata('approved', true);
    api.user.setAppMetadata('profile', 'p'.repeat(6000));
    api.idToken.setCustomClaim('https://x/seen-c', event.user.app_metadata.c ? event.user.app_metadata.c.length : null);
  };` });
  await bindActions(ts, 'post-login', ['redir-writer']);
  const cb = 'https://md-redir.example/cb';
  const spa = (await ts.api('POST', '/clients', { name: 'md redir spa', app_type: 'spa', callbacks: [cb] })).body;
  const config = await discover(ts, spa.client_id);
  const u = (await ts.api('POST', '/users', { email: 'md-redir@example.com', password: 'md password 12345', connection: 'Username-Password-Authentication', app_metadata: { a: 'x'.repeat(9000) } })).body;
  try {
    const r = await loginThroughForm(config, { redirectUri: cb, email: 'md-redir@example.com', password: 'md password 12345', stop: (x) => x.host === 'ext.example' });
    assert.equal(r.url?.host, 'ext.example', String(r.url));
    // The admin writes while the user is away.
    assert.equal((await ts.api('PATCH', `/users/${encodeURIComponent(u.user_id)}`, { app_metadata: { c: 'z'.repeat(4000) } })).status, 200);
    const back = await r.browser.follow(new URL(`${ts.issuer}/continue?state=${encodeURIComponent(r.url!.searchParams.get('state')!)}`), {}, (x) => x.href.startsWith(cb));
    const t = await oidc.authorizationCodeGrant(config, back.url, { pkceCodeVerifier: r.verifier, expectedState: r.state });
    assert.equal(t.claims()!['https://x/seen-c'], 4000, 'the continuation sees the metadata stored now');
    const stored = (await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}`)).body;
    assert.deepEqual({ verified_at: stored.user_metadata.verified_at, approved: stored.app_metadata.approved, c: stored.app_metadata.c?.length, profile: stored.app_metadata.profile },
      { verified_at: 'now', approved: true, c: 4000, profile: undefined });
    const exe = await latestExecution(ts, 'post-login');
    assert.match(JSON.stringify(exe.results.map((x: { rejected_commands: unknown }) => x.rejected_commands)), /metadata \\"profile\\" refused/);
  } finally {
    await bindActions(ts, 'post-login', []);
  }
});

test('the store merges the actions\' metadata key by key into what it holds now: a key that no longer fits is skipped, the rest lands', async () => {
  const u = (await ts.api('POST', '/users', { email: 'md-store@example.com', password: 'md password 12345', connection: 'Username-Password-Authentication', app_metadata: { a: 'x'.repeat(9000) } })).body;
  const r = await ts.ctx.users.patchMetadata(u.user_id, { app: { approved: true, big: 'y'.repeat(8000), gone: null }, user: { visited: true } });
  assert.deepEqual(r, { saved: true, skipped: ['app_metadata.big'] });
  const stored = (await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}`)).body;
  assert.deepEqual({ app: Object.keys(stored.app_metadata).sort(), user: stored.user_metadata }, { app: ['a', 'approved'], user: { visited: true } });
  assert.deepEqual(await ts.ctx.users.patchMetadata('auth0|nobody', { app: { x: 1 } }), { saved: false, skipped: [] });
});

test('an action that deletes a large key before a larger value elsewhere: both calls land, as the engine accepted them', async () => {
  // Regression of a review: the store applied the chain's change in the order of each key's first
  // call, so the large value met the key not yet deleted, was skipped, and the deletion landed.
  await deployAction(ts, { name: 'md-replace', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.user.setUserMetadata('profile', 'pending');
    api.user.setUserMetadata('legacy', null);
    api.user.setUserMetadata('profile', 'y'.repeat(10000));
  };` });
  await bindActions(ts, 'post-login', ['md-replace']);
  const cb = 'https://md-replace.example/cb';
  const spa = (await ts.api('POST', '/clients', { name: 'md replace spa', app_type: 'spa', callbacks: [cb] })).body;
  const config = await discover(ts, spa.client_id);
  const u = (await ts.api('POST', '/users', { email: 'md-replace@example.com', password: 'md password 12345', connection: 'Username-Password-Authentication', user_metadata: { legacy: 'b'.repeat(10000) } })).body;
  try {
    const r = await loginThroughForm(config, { redirectUri: cb, email: 'md-replace@example.com', password: 'md password 12345' });
    assert.ok(r.callbackUrl);
    const stored = (await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}`)).body.user_metadata;
    assert.deepEqual({ profile: stored.profile?.length, legacy: stored.legacy }, { profile: 10000, legacy: undefined });
    assert.deepEqual((await latestExecution(ts, 'post-login')).results[0].rejected_commands, []);
  } finally {
    await bindActions(ts, 'post-login', []);
  }
});

test('an action that shrinks a key, sets another and then grows the first: every call the engine accepted lands', async () => {
  // Regression of a review: the store applied the sets in the order of the last calls and
  // checked the cap after each, so the new key met the first one at its old size and was
  // skipped, though the whole fitted.
  await deployAction(ts, { name: 'md-shrink', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.user.setUserMetadata('b', 'x');
    api.user.setUserMetadata('a', 'a'.repeat(7000));
    api.user.setUserMetadata('b', 'c'.repeat(8000));
  };` });
  await bindActions(ts, 'post-login', ['md-shrink']);
  const cb = 'https://md-shrink.example/cb';
  const spa = (await ts.api('POST', '/clients', { name: 'md shrink spa', app_type: 'spa', callbacks: [cb] })).body;
  const config = await discover(ts, spa.client_id);
  const u = (await ts.api('POST', '/users', { email: 'md-shrink@example.com', password: 'md password 12345', connection: 'Username-Password-Authentication', user_metadata: { b: 'b'.repeat(10000) } })).body;
  try {
    const r = await loginThroughForm(config, { redirectUri: cb, email: 'md-shrink@example.com', password: 'md password 12345' });
    assert.ok(r.callbackUrl);
    assert.deepEqual((await latestExecution(ts, 'post-login')).results[0].rejected_commands, []);
    const stored = (await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}`)).body.user_metadata;
    assert.deepEqual({ a: stored.a?.length, b: stored.b?.length }, { a: 7000, b: 8000 });
  } finally {
    await bindActions(ts, 'post-login', []);
  }
});
