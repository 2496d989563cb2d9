import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createUser, discover, loginThroughForm, silentAuthorization, startTestServer, type TestServer } from './helpers/server.ts';
import { bindActions, deployAction } from './helpers/actions.ts';
import { Browser } from './helpers/cookie-fetch.ts';

/*
 * Auth0's session metadata: api.session.setMetadata / deleteMetadata / evictMetadata in
 * post-login, event.session.metadata for the actions after it and for later logins in the
 * session, and session_metadata on the Management API's sessions (GET, PATCH).
 */

const CB = 'https://app-5191.example/cb';
const PASSWORD = 'session metadata password 1';
let ts: TestServer;
let config: oidc.Configuration;

before(async () => {
  ts = await startTestServer();
  const spa = (await ts.api('POST', '/clients', { name: 'Metadata SPA', app_type: 'spa', callbacks: [CB] })).body;
  config = await discover(ts, spa.client_id);
});
after(async () => { await ts?.close(); });

const userByEmail = async (email: string) => (await ts.api('GET', `/users-by-email?email=${encodeURIComponent(email)}`)).body[0];
const sessionsOf = async (email: string) => (await ts.api('GET', `/users/${encodeURIComponent((await userByEmail(email)).user_id)}/sessions`)).body.sessions;

test('set at a login: the actions after it see it at once; the session keeps it for later logins and the Management API', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'sm-writer', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      api.user.setAppMetadata('writer_saw', event.session.metadata);
      if (!event.session.metadata.device_name) api.session.setMetadata('device_name', 'Work laptop').session.setMetadata('terms', 'accepted');
      if (event.session.metadata.drop === 'yes') api.session.deleteMetadata('terms');
    };` });
  await deployAction(ts, { name: 'sm-reader', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.user.setAppMetadata('reader_saw', event.session.metadata); };` });
  await bindActions(ts, 'post-login', ['sm-writer', 'sm-reader']);
  await createUser(ts, 'laptop@meta.example', PASSWORD);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'laptop@meta.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  let u = await userByEmail('laptop@meta.example');
  assert.deepEqual(u.app_metadata.writer_saw, {}, 'a new session has none');
  assert.deepEqual(u.app_metadata.reader_saw, { device_name: 'Work laptop', terms: 'accepted' }, 'the next action sees it at once');
  const [s] = await sessionsOf('laptop@meta.example');
  assert.deepEqual(s.session_metadata, { device_name: 'Work laptop', terms: 'accepted' });
  // A later (silent) login in the session: the actions see what the session keeps.
  assert.equal(new URL(await silentAuthorization(config, r.browser, CB)).searchParams.get('error'), null);
  u = await userByEmail('laptop@meta.example');
  assert.deepEqual(u.app_metadata.writer_saw, { device_name: 'Work laptop', terms: 'accepted' });
  // The Management API replaces it; the next login's action deletes a key.
  const patched = await ts.api('PATCH', `/sessions/${encodeURIComponent(s.id)}`, { session_metadata: { device_name: 'Work laptop', terms: 'accepted', drop: 'yes' } });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.session_metadata.drop, 'yes');
  assert.equal(new URL(await silentAuthorization(config, r.browser, CB)).searchParams.get('error'), null);
  assert.deepEqual((await sessionsOf('laptop@meta.example'))[0].session_metadata, { device_name: 'Work laptop', drop: 'yes' });
  // evictMetadata empties it.
  await deployAction(ts, { name: 'sm-evict', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => { api.session.evictMetadata(); };` });
  await bindActions(ts, 'post-login', ['sm-evict']);
  assert.equal(new URL(await silentAuthorization(config, r.browser, CB)).searchParams.get('error'), null);
  assert.deepEqual((await sessionsOf('laptop@meta.example'))[0].session_metadata, {});
});

test('wrong keys and values throw where they are set; at most 25 keys; a denied login keeps nothing', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'sm-bad', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      const tries = [['n', 1], ['o', { a: 1 }], ['', 'x'], ['__proto__', 'x'], ['long', 'x'.repeat(256)], ['k'.repeat(256), 'x']];
      const out = tries.map(([k, v]) => { try { api.session.setMetadata(k, v); return 'set'; } catch (e) { return e.name; } });
      for (let i = 0; i < 25; i++) api.session.setMetadata('k' + i, String(i));
      let over; try { api.session.setMetadata('k25', 'x'); over = 'set'; } catch (e) { over = e.name; }
      api.user.setAppMetadata('sm_bad', { out, over, keys: Object.keys(event.session.metadata).length });
      if (event.user.app_metadata.deny_me) api.access.deny('not now');
    };` });
  await bindActions(ts, 'post-login', ['sm-bad']);
  const user = await createUser(ts, 'bad@meta.example', PASSWORD);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'bad@meta.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  const bad = (await userByEmail('bad@meta.example')).app_metadata.sm_bad;
  assert.deepEqual(bad.out, ['TypeError', 'TypeError', 'TypeError', 'TypeError', 'RangeError', 'TypeError']);
  assert.equal(bad.over, 'RangeError');
  assert.equal(bad.keys, 25);
  assert.equal(Object.keys((await sessionsOf('bad@meta.example'))[0].session_metadata).length, 25);
  // A denied login (another browser) keeps nothing for its session.
  await ts.api('PATCH', `/users/${encodeURIComponent(user.user_id)}`, { app_metadata: { deny_me: true } });
  const before = (await ts.ctx.db('session_metadata')).length;
  const denied = await loginThroughForm(config, { redirectUri: CB, email: 'bad@meta.example', password: PASSWORD });
  assert.equal(denied.callbackUrl?.searchParams.get('error'), 'access_denied');
  assert.equal((await ts.ctx.db('session_metadata')).length, before);
  // Deleting the user drops what their sessions kept.
  assert.equal((await ts.api('DELETE', `/users/${encodeURIComponent(user.user_id)}`)).status, 204);
  assert.equal((await ts.ctx.db('session_metadata').where({ user_id: user.user_id })).length, 0);
});

test('metadata kept for another user of a session is not shown to this one', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'sm-who', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.user.setAppMetadata('saw', event.session.metadata); };` });
  await createUser(ts, 'first@meta.example', PASSWORD);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'first@meta.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  const [s] = await sessionsOf('first@meta.example');
  // A row the session holds for someone else (a user signed in on this browser before).
  await ts.ctx.db('session_metadata').insert({ session_uid: s.id, user_id: 'auth0|someone-else', metadata: JSON.stringify({ owner: 'someone else' }), updated_at: Date.now() });
  await bindActions(ts, 'post-login', ['sm-who']);
  assert.equal(new URL(await silentAuthorization(config, r.browser, CB)).searchParams.get('error'), null);
  assert.deepEqual((await userByEmail('first@meta.example')).app_metadata.saw, {});
  assert.deepEqual((await sessionsOf('first@meta.example'))[0].session_metadata, {});
});

test('PATCH /sessions/{id}: update:sessions needed; bad metadata refused with the field named, nothing changed', async () => {
  await createUser(ts, 'patch@meta.example', PASSWORD);
  await loginThroughForm(config, { redirectUri: CB, email: 'patch@meta.example', password: PASSWORD });
  const [s] = await sessionsOf('patch@meta.example');
  const readOnly = await ts.adminToken('read:sessions');
  assert.equal((await ts.api('PATCH', `/sessions/${encodeURIComponent(s.id)}`, { session_metadata: { a: 'b' } }, readOnly)).status, 403);
  for (const body of [{ session_metadata: { a: 1 } }, { session_metadata: { a: 'x'.repeat(256) } }, { session_metadata: Object.fromEntries(Array.from({ length: 26 }, (_, i) => [`k${i}`, 'v'])) }, { other: true }]) {
    const r = await ts.api('PATCH', `/sessions/${encodeURIComponent(s.id)}`, body);
    assert.equal(r.status, 400, JSON.stringify(body));
  }
  assert.deepEqual((await sessionsOf('patch@meta.example'))[0].session_metadata, {});
  assert.equal((await ts.api('PATCH', '/sessions/no-such-session', { session_metadata: {} })).status, 404);
});

// Review regressions (each failed before its fix).

test('(review) deleting keys makes room for the sets after them, as the engine counted', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await createUser(ts, 'order@meta.example', PASSWORD);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'order@meta.example', password: PASSWORD });
  const [s] = await sessionsOf('order@meta.example');
  const seed = { ...Object.fromEntries(Array.from({ length: 23 }, (_, i) => [`k${i}`, 'v'])), K: 'old', J: 'j' };
  assert.equal((await ts.api('PATCH', `/sessions/${encodeURIComponent(s.id)}`, { session_metadata: seed })).status, 200);
  await deployAction(ts, { name: 'sm-order', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      api.session.deleteMetadata('K').session.setMetadata('N', 'new').session.deleteMetadata('J').session.setMetadata('K', 'again');
    };` });
  await bindActions(ts, 'post-login', ['sm-order']);
  assert.equal(new URL(await silentAuthorization(config, r.browser, CB)).searchParams.get('error'), null);
  const stored = (await sessionsOf('order@meta.example'))[0].session_metadata;
  assert.equal(Object.keys(stored).length, 25);
  assert.equal(stored.N, 'new');
  assert.equal(stored.K, 'again');
  assert.equal(stored.J, undefined);
});

test('(review) NUL and lone surrogates throw where they are set', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'sm-unstorable', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      const c = String.fromCharCode;
      const out = [['a', 'x' + c(0) + 'y'], ['b', c(0xd800)], [c(0xdc00), 'v']].map(([k, v]) => {
        try { api.session.setMetadata(k, v); return 'set'; } catch (e) { return e.name; }
      });
      api.user.setAppMetadata('unstorable', { out, keys: Object.keys(event.session.metadata) });
    };` });
  await bindActions(ts, 'post-login', ['sm-unstorable']);
  await createUser(ts, 'nul@meta.example', PASSWORD);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'nul@meta.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  assert.deepEqual((await userByEmail('nul@meta.example')).app_metadata.unstorable, { out: ['TypeError', 'TypeError', 'TypeError'], keys: [] });
});

test('(review) a silent login that ends in interaction_required keeps nothing', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await createUser(ts, 'unfinished@meta.example', PASSWORD);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'unfinished@meta.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  await deployAction(ts, { name: 'sm-mfa', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.session.setMetadata('written_by', 'unfinished'); api.multifactor.enable('any'); };` });
  await bindActions(ts, 'post-login', ['sm-mfa']);
  assert.equal(new URL(await silentAuthorization(config, r.browser, CB)).searchParams.get('error'), 'interaction_required');
  assert.deepEqual((await sessionsOf('unfinished@meta.example'))[0].session_metadata, {});
});

test('(review) concurrent logins of one session keep each other\'s keys', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await createUser(ts, 'concurrent@meta.example', PASSWORD);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'concurrent@meta.example', password: PASSWORD });
  await deployAction(ts, { name: 'sm-race', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.session.setMetadata('t_' + event.transaction.id.slice(0, 20), '1'); };` });
  await bindActions(ts, 'post-login', ['sm-race']);
  const outs = await Promise.all(Array.from({ length: 8 }, () => silentAuthorization(config, r.browser, CB)));
  assert.ok(outs.every((u) => new URL(u).searchParams.get('error') === null));
  assert.equal(Object.keys((await sessionsOf('concurrent@meta.example'))[0].session_metadata).length, 8);
});

test('(review) PATCH refuses keys actions could not delete, and takes null as empty', async () => {
  await createUser(ts, 'keys@meta.example', PASSWORD);
  await loginThroughForm(config, { redirectUri: CB, email: 'keys@meta.example', password: PASSWORD });
  const [s] = await sessionsOf('keys@meta.example');
  for (const k of ['a\u202eb', 'c\u2028', 'd\u200b', 'e\ud800']) {
    assert.equal((await ts.api('PATCH', `/sessions/${encodeURIComponent(s.id)}`, { session_metadata: { [k]: 'v' } })).status, 400, JSON.stringify(k));
  }
  assert.equal((await ts.api('PATCH', `/sessions/${encodeURIComponent(s.id)}`, { session_metadata: { a: 'b' } })).status, 200);
  const cleared = await ts.api('PATCH', `/sessions/${encodeURIComponent(s.id)}`, { session_metadata: null });
  assert.equal(cleared.status, 200, JSON.stringify(cleared.body));
  assert.deepEqual(cleared.body.session_metadata, {});
});

test('(review) a logout that ends the session drops what was kept beside it', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'sm-logout', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.session.setMetadata('device', 'laptop'); };` });
  await bindActions(ts, 'post-login', ['sm-logout']);
  await createUser(ts, 'logout@meta.example', PASSWORD);
  const browser = new Browser({ accept: 'text/html' });
  const r = await loginThroughForm(config, { browser, redirectUri: CB, email: 'logout@meta.example', password: PASSWORD });
  const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  const [s] = await sessionsOf('logout@meta.example');
  assert.deepEqual(s.session_metadata, { device: 'laptop' });
  const page = await browser.follow(oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token! }));
  await browser.submit(page.url, await page.res.text(), { logout: 'yes' }, { actionIncludes: '/oidc/logout/confirm' });
  assert.deepEqual(await sessionsOf('logout@meta.example'), []);
  // The listener runs as the logout answers: give it the moment it takes.
  for (let i = 0; i < 50 && (await ts.ctx.db('session_metadata').where({ session_uid: s.id })).length > 0; i++) await new Promise((res) => setTimeout(res, 20));
  assert.equal((await ts.ctx.db('session_metadata').where({ session_uid: s.id })).length, 0);
  assert.equal((await ts.ctx.db('session_devices').where({ session_uid: s.id })).length, 0);
});

test('(review) a silent authorization that ends in consent_required keeps nothing; answered, it keeps what it wrote', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const third = (await ts.api('POST', '/clients', { name: 'Third', app_type: 'spa', callbacks: [CB], is_first_party: false })).body;
  const thirdConfig = await discover(ts, third.client_id);
  await createUser(ts, 'consent@meta.example', PASSWORD);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'consent@meta.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  await deployAction(ts, { name: 'sm-by-client', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.session.setMetadata('by_' + event.client.name.replace(/ /g, '_'), 'x'); };` });
  await bindActions(ts, 'post-login', ['sm-by-client']);
  assert.equal(new URL(await silentAuthorization(thirdConfig, r.browser, CB)).searchParams.get('error'), 'consent_required');
  assert.deepEqual((await sessionsOf('consent@meta.example'))[0].session_metadata, {});
  assert.equal(new URL(await silentAuthorization(config, r.browser, CB)).searchParams.get('error'), null);
  assert.deepEqual((await sessionsOf('consent@meta.example'))[0].session_metadata, { by_Metadata_SPA: 'x' });
});

test('the sweep keeps what a live session holds however old, and drops what an ended one left', async () => {
  await createUser(ts, 'sweep@meta.example', PASSWORD);
  await loginThroughForm(config, { redirectUri: CB, email: 'sweep@meta.example', password: PASSWORD });
  const [s] = await sessionsOf('sweep@meta.example');
  const user = await userByEmail('sweep@meta.example');
  const longAgo = Date.now() - 400 * 86_400_000;
  await ts.ctx.db('session_metadata').insert({ session_uid: s.id, user_id: user.user_id, metadata: '{"k":"v"}', updated_at: longAgo });
  await ts.ctx.db('session_metadata').insert({ session_uid: 'ended-session', user_id: user.user_id, metadata: '{"k":"v"}', updated_at: Date.now() });
  await ts.ctx.db('session_methods').insert({ session_uid: s.id, user_id: user.user_id, name: 'https://old.partner.example/', recorded_at: longAgo });
  await ts.ctx.db('session_methods').insert({ session_uid: 'ended-session', user_id: user.user_id, name: 'https://old.partner.example/', recorded_at: Date.now() });
  await ts.ctx.actions.triggers.sweepLoginClaims(30 * 86_400_000);
  assert.deepEqual((await ts.ctx.db('session_metadata').whereIn('session_uid', [s.id, 'ended-session'])).map((r: { session_uid: string }) => r.session_uid), [s.id]);
  assert.deepEqual((await ts.ctx.db('session_methods').whereIn('session_uid', [s.id, 'ended-session'])).map((r: { session_uid: string }) => r.session_uid), [s.id]);
});
