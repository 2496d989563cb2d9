import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { deployVersion } from './helpers/actions.ts';

/*
 * Declared npm dependencies (`dependencies: [{name, version}]`), which Auth0's Deploy CLI and
 * Terraform send with every action: kept with the draft and each deployed version, and refused
 * with a message naming the module when Gatehouse does not provide it. Before, any declared
 * dependency was refused, so an exported action requiring axios could not be created unchanged.
 */

let ts: TestServer;
before(async () => { ts = await startTestServer(); });
after(async () => { await ts?.close(); });

const AXIOS_CODE = `const axios = require('axios');
exports.onExecuteCredentialsExchange = async (event, api) => {
  api.accessToken.setCustomClaim('https://example.com/axios', typeof axios.get + ' ' + typeof axios.create);
};`;

test('an action declaring axios is created, deployed with its dependencies and runs', async () => {
  const deps = [{ name: 'axios', version: '1.6.2' }];
  const created = await ts.api('POST', '/actions/actions', { name: 'with-axios', supported_triggers: [{ id: 'credentials-exchange', version: 'v2' }], code: AXIOS_CODE, dependencies: deps, runtime: 'node22' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.deepEqual(created.body.dependencies, deps);
  const id = created.body.id as string;

  const v1 = await deployVersion(ts, id);
  assert.deepEqual(v1.dependencies, deps, 'the version carries the dependencies it was deployed with');
  let a = (await ts.api('GET', `/actions/actions/${id}`)).body;
  assert.equal(a.all_changes_deployed, true);

  const run = await ts.api('POST', `/actions/actions/${id}/test`, { payload: { client: { client_id: 'c1', name: 'C', metadata: {} } } });
  assert.equal(run.status, 200, JSON.stringify(run.body));
  assert.match(JSON.stringify(run.body), /function function/, 'require(\'axios\') gave the stand-in');

  // A change of the declared list is a change of the draft: not deployed until deploy.
  const patched = await ts.api('PATCH', `/actions/actions/${id}`, { dependencies: [{ name: 'axios', version: '^1.7.0' }] });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.deepEqual(patched.body.dependencies, [{ name: 'axios', version: '^1.7.0' }]);
  a = (await ts.api('GET', `/actions/actions/${id}`)).body;
  assert.equal(a.all_changes_deployed, false);
  const logged = (await ts.api('GET', '/logs?per_page=20')).body.find((l: { description: string }) => l.description === 'Update an action (draft)');
  const change = logged?.details?.changes?.find((c: { field: string }) => c.field === 'dependencies');
  assert.deepEqual(change?.to, ['axios@^1.7.0'], `the audit record says what the list became: ${JSON.stringify(logged?.details)}`);
  assert.deepEqual(a.deployed_version.dependencies, deps);

  const v2 = await deployVersion(ts, id);
  assert.deepEqual(v2.dependencies, [{ name: 'axios', version: '^1.7.0' }]);
  // Rolling back with update_draft brings the old version's list back into the draft.
  const back = await ts.api('POST', `/actions/actions/${id}/versions/${v1.id}/deploy`, { update_draft: true });
  assert.ok(back.status === 200 || back.status === 202, JSON.stringify(back.body));
  a = (await ts.api('GET', `/actions/actions/${id}`)).body;
  assert.deepEqual(a.dependencies, deps);
  assert.deepEqual(a.deployed_version.dependencies, deps);

  const plain = await ts.api('POST', '/actions/actions', { name: 'no-deps', supported_triggers: [{ id: 'credentials-exchange' }], code: 'exports.onExecuteCredentialsExchange = async () => {};' });
  assert.deepEqual(plain.body.dependencies, [], 'none declared reads as []');
});

test('a module Gatehouse does not provide is refused, naming it and what exists; the draft is kept as it was', async () => {
  const body = (deps: unknown) => ({ name: `deps-${Math.random().toString(36).slice(2)}`, supported_triggers: [{ id: 'post-login' }], code: 'exports.onExecutePostLogin = async () => {};', dependencies: deps });
  const stripe = await ts.api('POST', '/actions/actions', body([{ name: 'lodash', version: '4.17.21' }, { name: 'stripe', version: '14.0.0' }]));
  assert.equal(stripe.status, 400, JSON.stringify(stripe.body));
  assert.match(stripe.body.message, /stripe is not available/);
  assert.match(stripe.body.message, /axios/);
  assert.match(stripe.body.message, /lodash 4, the real module/);
  assert.match(stripe.body.message, /dependencies/, 'the field is named');

  const twice = await ts.api('POST', '/actions/actions', body([{ name: 'axios', version: '1.6.2' }, { name: 'axios', version: '1.7.0' }]));
  assert.equal(twice.status, 400);
  assert.match(twice.body.message, /once/);
  const badVersion = await ts.api('POST', '/actions/actions', body([{ name: 'axios', version: '1.6.2; rm -rf /' }]));
  assert.equal(badVersion.status, 400);
  assert.match(badVersion.body.message, /version/);
  const noVersion = await ts.api('POST', '/actions/actions', body([{ name: 'axios' }]));
  assert.equal(noVersion.status, 400);

  // Packages run from their own code, lodash's one-method packages among them.
  const real = await ts.api('POST', '/actions/actions', body([{ name: 'lodash.merge', version: '4.6.2' }, { name: 'ipaddr.js', version: '2.2.0' }, { name: '@xmldom/xmldom', version: '0.8.10' }, { name: 'xpath', version: '0.0.34' }, { name: 'async', version: '3.2.5' }]));
  assert.equal(real.status, 201, JSON.stringify(real.body));
  const notLodash = await ts.api('POST', '/actions/actions', body([{ name: 'lodash.nosuchmethod', version: '1.0.0' }]));
  assert.equal(notLodash.status, 400);
  assert.match(notLodash.body.message, /lodash\.nosuchmethod is not available/);

  const ok = await ts.api('POST', '/actions/actions', body([{ name: 'axios', version: 'latest' }]));
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  const refused = await ts.api('PATCH', `/actions/actions/${ok.body.id}`, { dependencies: [{ name: 'request', version: '2.88.0' }] });
  assert.equal(refused.status, 400);
  assert.match(refused.body.message, /request is not available/);
  assert.deepEqual((await ts.api('GET', `/actions/actions/${ok.body.id}`)).body.dependencies, [{ name: 'axios', version: 'latest' }]);
});
