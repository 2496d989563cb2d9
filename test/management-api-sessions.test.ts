import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, silentAuthorization, type TestServer } from './helpers/server.ts';
import { bindActions, deployAction, latestExecution } from './helpers/actions.ts';

/*
 * Auth0's sessions endpoints (GET /users/{id}/sessions, GET and DELETE /sessions/{id}, DELETE
 * /users/{id}/sessions), and the single-session policy actions build on them: keep the session
 * this login is in (event.session.id), end the user's others.
 */

let ts: TestServer;
let config: oidc.Configuration;
let spaId: string;
const CB = 'https://app.example/sessions-cb';
const PASSWORD = 'sessions-password-1';
let secrets: { name: string; value: string }[];

before(async () => {
  ts = await startTestServer();
  const spa = (await ts.api('POST', '/clients', { name: 'Sessions SPA', app_type: 'spa', callbacks: [CB] })).body;
  spaId = spa.client_id;
  config = await discover(ts, spa.client_id);
  const m2m = (await ts.api('POST', '/clients', { name: 'Sessions M2M', app_type: 'non_interactive' })).body;
  assert.equal((await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: `${ts.base}/api/v2/`, scope: ['read:sessions', 'delete:sessions'] })).status, 201);
  secrets = [{ name: 'DOMAIN', value: new URL(ts.issuer).host }, { name: 'CLIENT_ID', value: m2m.client_id }, { name: 'CLIENT_SECRET', value: m2m.client_secret }];
  for (const email of ['listed@sessions.example', 'single@sessions.example', 'all@sessions.example']) assert.equal((await ts.api('POST', '/users', { email, password: PASSWORD })).status, 201);
});
after(async () => { await ts?.close(); });

const login = async (email: string, userAgent?: string) => {
  const r = await loginThroughForm(config, { redirectUri: CB, email, password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null, r.callbackUrl?.href);
  if (userAgent) r.browser.headers['user-agent'] = userAgent;
  return r.browser;
};
const userId = async (email: string) => (await ts.api('GET', `/users?q=${encodeURIComponent(`email:"${email}"`)}`)).body[0].user_id as string;

test('a user\'s sessions: listed with their applications and times, one by id, an unknown id is a 404', async () => {
  await login('listed@sessions.example');
  const id = await userId('listed@sessions.example');
  const list = await ts.api('GET', `/users/${encodeURIComponent(id)}/sessions`);
  assert.equal(list.status, 200, JSON.stringify(list.body));
  assert.equal(list.body.sessions.length, 1);
  const s = list.body.sessions[0];
  assert.equal(s.user_id, id);
  assert.deepEqual(s.clients, [{ client_id: spaId }]);
  assert.ok(Date.parse(s.authenticated_at) > 0 && Date.parse(s.expires_at) > Date.now(), JSON.stringify(s));
  assert.deepEqual((await ts.api('GET', `/sessions/${s.id}`)).body, s);
  const missing = await ts.api('GET', '/sessions/nope');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.errorCode, 'inexistent_session');
});

test('a single-session action: each new login ends the user\'s other sessions through ManagementClient', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'single-session', trigger: 'post-login', secrets, code: `
const { ManagementClient } = require('auth0');
exports.onExecutePostLogin = async (event, api) => {
  const management = new ManagementClient({ domain: event.secrets.DOMAIN, clientId: event.secrets.CLIENT_ID, clientSecret: event.secrets.CLIENT_SECRET });
  const { data } = await management.users.getSessions({ user_id: event.user.user_id });
  let ended = 0;
  for (const s of data.sessions) if (s.id !== event.session.id) { await management.sessions.delete({ id: s.id }); ended++; }
  console.log('ended ' + ended);
};` });
  await bindActions(ts, 'post-login', ['single-session']);
  const first = await login('single@sessions.example', 'browser-one');
  const second = await login('single@sessions.example', 'browser-two');
  assert.match((await latestExecution(ts, 'post-login')).results[0].logs, /ended 1/);
  const one = new URL(await silentAuthorization(config, first, CB));
  assert.equal(one.searchParams.get('error'), 'login_required', 'the first browser\'s session was ended');
  const two = new URL(await silentAuthorization(config, second, CB));
  assert.equal(two.searchParams.get('error'), null, 'the session of the login that ran the action stays');
  const left = (await ts.api('GET', `/users/${encodeURIComponent(await userId('single@sessions.example'))}/sessions`)).body.sessions;
  assert.equal(left.length, 1);
  // Signed in with the test client's agent, then silently from 'browser-two' (post-login ran again).
  assert.deepEqual([left[0].device.initial_user_agent, left[0].device.last_user_agent], ['gatehouse-test', 'browser-two']);
});

test('DELETE /users/{id}/sessions ends every session of the user; the audit log says so', async () => {
  const a = await login('all@sessions.example');
  const b = await login('all@sessions.example');
  const id = await userId('all@sessions.example');
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(id)}/sessions`)).body.sessions.length, 2);
  // Checkpoint paging, as Auth0's: one at a time, then the next from where it stopped.
  const first = (await ts.api('GET', `/users/${encodeURIComponent(id)}/sessions?take=1`)).body;
  assert.equal(first.sessions.length, 1);
  assert.equal(typeof first.next, 'string');
  const second = (await ts.api('GET', `/users/${encodeURIComponent(id)}/sessions?take=1&from=${first.next}`)).body;
  assert.equal(second.sessions.length, 1);
  assert.equal(second.next, undefined);
  assert.notEqual(second.sessions[0].id, first.sessions[0].id);
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(id)}/sessions?from=bogus!`)).status, 400);
  assert.equal((await ts.api('DELETE', `/users/${encodeURIComponent(id)}/sessions`)).status, 202);
  assert.deepEqual((await ts.api('GET', `/users/${encodeURIComponent(id)}/sessions`)).body.sessions, []);
  for (const browser of [a, b]) assert.equal(new URL(await silentAuthorization(config, browser, CB)).searchParams.get('error'), 'login_required');
  const logged = (await ts.api('GET', '/logs?per_page=10')).body.find((l: { description: string }) => l.description === 'Delete a user\'s sessions');
  assert.equal(logged?.details?.sessions, 2, JSON.stringify(logged));
});
