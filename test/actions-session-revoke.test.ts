import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, loginWithRefreshToken, silentAuthorization, authorizationRequest, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';
import { expectOAuthError } from './helpers/oidc-assert.ts';
import { deployAction, bindActions, latestExecution } from './helpers/actions.ts';

/*
 * api.session.revoke and api.refreshToken.revoke (Auth0's session and refresh-token management
 * from post-login): a deny that also ends the session (and, unless preserved, the refresh tokens
 * of its applications), or the refresh token being exchanged. Driven through real logins, silent
 * authorizations and refresh-token grants with openid-client.
 */

const API = 'https://revoke.api.example';
const CB = 'https://app-5177.example/cb';
const PASSWORD = 'session-revoke-pw-1';

let ts: TestServer;
let config: oidc.Configuration;

const loginWithRefresh = (email: string) => loginWithRefreshToken(config, { redirectUri: CB, email, password: PASSWORD, audience: API });

before(async () => {
  ts = await startTestServer();
  await ts.api('POST', '/resource-servers', { name: 'Revoke API', identifier: API, scopes: [{ value: 'read:things', description: 'r' }] });
  const spa = (await ts.api('POST', '/clients', { name: 'Revoke SPA', app_type: 'spa', callbacks: [CB] })).body;
  config = await discover(ts, spa.client_id);
  for (const email of ['hijacked@revoke.example', 'kept@revoke.example', 'stolen-rt@revoke.example', 'first@revoke.example', 'bad-call@revoke.example', 'resumed@revoke.example', 'device@revoke.example', 'no-follow@revoke.example', 'retry@revoke.example', 'unknown-device@revoke.example', 'gone-session@revoke.example', 'in-flight@revoke.example', 'deleted@revoke.example']) {
    assert.equal((await ts.api('POST', '/users', { email, password: PASSWORD })).status, 201);
  }
});
after(async () => { await ts?.close(); });

test('session.revoke on a silent authorization: access_denied with the reason, the session ends (login_required next), its refresh tokens end', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const { tokens, browser } = await loginWithRefresh('hijacked@revoke.example');
  assert.equal(new URL(await silentAuthorization(config, browser, CB)).searchParams.get('error'), null, 'the session answers silently before the revoke');
  await deployAction(ts, { name: 'revoke-session', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol !== 'oauth2-refresh-token') api.session.revoke('session looks hijacked');
    };` });
  await bindActions(ts, 'post-login', ['revoke-session']);

  const denied = new URL(await silentAuthorization(config, browser, CB));
  assert.equal(denied.searchParams.get('error'), 'access_denied');
  assert.equal(denied.searchParams.get('error_description'), 'session looks hijacked');
  const exe = await latestExecution(ts, 'post-login');
  assert.equal(exe.results[0].status, 'denied');
  assert.equal(exe.results[0].commands[0].type, 'session.revoke');

  await bindActions(ts, 'post-login', []);
  const after = new URL(await silentAuthorization(config, browser, CB));
  assert.equal(after.searchParams.get('error'), 'login_required', 'the browser has to sign in again');
  await expectOAuthError(oidc.refreshTokenGrant(config, tokens.refresh_token!), 'invalid_grant', 400);
});

test('session.revoke with preserveRefreshTokens: the session ends, the refresh token keeps working', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const { tokens, browser } = await loginWithRefresh('kept@revoke.example');
  await deployAction(ts, { name: 'revoke-keep-rt', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol !== 'oauth2-refresh-token') api.session.revoke('signed out everywhere', { preserveRefreshTokens: true });
    };` });
  await bindActions(ts, 'post-login', ['revoke-keep-rt']);
  assert.equal(new URL(await silentAuthorization(config, browser, CB)).searchParams.get('error'), 'access_denied');
  await bindActions(ts, 'post-login', []);
  assert.equal(new URL(await silentAuthorization(config, browser, CB)).searchParams.get('error'), 'login_required');
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  assert.ok(refreshed.access_token, 'the refresh token outlived the session');
});

test('refreshToken.revoke on a refresh: access_denied, and the token is spent (a plain deny leaves it usable); event.refresh_token names it without giving it away', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const { tokens } = await loginWithRefresh('stolen-rt@revoke.example');
  await deployAction(ts, { name: 'revoke-rt', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol !== 'oauth2-refresh-token') return;
      api.user.setAppMetadata('seen_refresh_token', event.refresh_token);
      if (event.user.app_metadata.stolen) api.refreshToken.revoke('refresh token reported stolen');
    };` });
  await bindActions(ts, 'post-login', ['revoke-rt']);
  // Not stolen yet: the refresh works and the action saw the token described.
  const ok = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  const user = (await ts.api('GET', `/users/${encodeURIComponent(String(ok.claims()!.sub))}`)).body;
  const seen = user.app_metadata.seen_refresh_token;
  assert.match(seen.id, /^rt_[A-Za-z0-9_-]{22}$/);
  assert.equal(seen.client_id, config.clientMetadata().client_id);
  assert.equal(typeof seen.session_id, 'string');
  assert.ok(Date.parse(seen.created_at) > 0 && Date.parse(seen.expires_at) > Date.parse(seen.created_at), JSON.stringify(seen));
  assert.ok(!JSON.stringify(seen).includes(tokens.refresh_token!) && !JSON.stringify(seen).includes(ok.refresh_token!), 'the token itself is not in the event');
  assert.equal(seen.user_id, user.user_id);
  assert.equal(seen.rotating, true);
  assert.deepEqual(seen.resource_servers.map((r: { audience: string }) => r.audience), ['https://revoke.api.example'], 'the API the token is for');
  assert.ok(Array.isArray(seen.resource_servers[0].scopes));
  for (const oidcScope of ['openid', 'profile', 'email', 'offline_access']) assert.ok(!seen.resource_servers[0].scopes.includes(oidcScope), oidcScope);
  assert.equal(seen.last_exchanged_at, undefined, 'never exchanged before this refresh');
  // The rotated token: the same family (created_at), exchanged once since.
  const ok2 = await oidc.refreshTokenGrant(config, ok.refresh_token!);
  const seen2 = (await ts.api('GET', `/users/${encodeURIComponent(user.user_id)}`)).body.app_metadata.seen_refresh_token;
  // Auth0's refresh token keeps its id while it rotates (token-family.ts); it was a new id per token before.
  assert.equal(seen2.id, seen.id, 'a rotating token keeps its id');
  assert.equal(seen2.created_at, seen.created_at, 'created_at is the family\'s first issue');
  assert.ok(Date.parse(seen2.last_exchanged_at) >= Date.parse(seen.created_at), JSON.stringify(seen2));

  await ts.api('PATCH', `/users/${encodeURIComponent(user.user_id)}`, { app_metadata: { stolen: true } });
  const err = await expectOAuthError(oidc.refreshTokenGrant(config, ok2.refresh_token!), 'access_denied', 400);
  assert.equal(err.error_description, 'refresh token reported stolen');
  await bindActions(ts, 'post-login', []);
  await expectOAuthError(oidc.refreshTokenGrant(config, ok2.refresh_token!), 'invalid_grant', 400);
});

test('session.revoke at an interactive login: denied back to the application, and the signed-in session it ran in is gone', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const first = await loginThroughForm(config, { redirectUri: CB, email: 'first@revoke.example', password: PASSWORD });
  assert.equal(first.callbackUrl?.searchParams.get('error'), null);
  await deployAction(ts, { name: 'revoke-at-login', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.session.revoke('new device needs approval'); };` });
  await bindActions(ts, 'post-login', ['revoke-at-login']);
  // The session answers the authorization; post-login runs in an interaction (no password asked).
  const { url } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid email' });
  const back = await first.browser.follow(url, {}, (u) => u.href.startsWith(CB));
  assert.equal(back.url.searchParams.get('error'), 'access_denied', back.url.href + ' ' + back.res.status + ' ' + (await back.res.text()).slice(0, 800));
  assert.equal(back.url.searchParams.get('error_description'), 'new device needs approval');
  await bindActions(ts, 'post-login', []);
  assert.equal(new URL(await silentAuthorization(config, first.browser, CB)).searchParams.get('error'), 'login_required');

  // A first login (the browser had no session): denied the same way, nothing signed in after.
  await bindActions(ts, 'post-login', ['revoke-at-login']);
  const fresh = await loginThroughForm(config, { redirectUri: CB, email: 'first@revoke.example', password: PASSWORD });
  assert.equal(fresh.callbackUrl?.searchParams.get('error'), 'access_denied');
  await bindActions(ts, 'post-login', []);
  assert.equal(new URL(await silentAuthorization(config, fresh.browser, CB)).searchParams.get('error'), 'login_required');
});

test('an invalid revoke call fails the login closed (the action asked to stop it)', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'revoke-bad-options', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.session.revoke('x', { preserveRefreshTokens: 'yes' }); };` });
  await bindActions(ts, 'post-login', ['revoke-bad-options']);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'bad-call@revoke.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), 'access_denied');
  const exe = await latestExecution(ts, 'post-login');
  assert.match(JSON.stringify(exe.results[0].rejected_commands), /preserveRefreshTokens must be a boolean/);
});

test('session.revoke in onContinuePostLogin (after a redirect): the resumed login is denied and its session ends', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'revoke-after-redirect', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.redirect.sendUserTo('https://verify.example/device'); };
    exports.onContinuePostLogin = async (event, api) => { api.session.revoke('the device was not approved'); };` });
  // A signed-in browser: its session holds the account (an anonymous one would grant nothing anyway).
  const first = await loginThroughForm(config, { redirectUri: CB, email: 'resumed@revoke.example', password: PASSWORD });
  assert.equal(first.callbackUrl?.searchParams.get('error'), null);
  await bindActions(ts, 'post-login', ['revoke-after-redirect']);
  // The session answers the authorization: post-login runs without the password and redirects.
  const { url } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid email' });
  const r = { browser: first.browser };
  const away = (await r.browser.follow(url, {}, (u) => u.origin === 'https://verify.example' || u.href.startsWith(CB))).url;
  assert.equal(away.origin, 'https://verify.example', away.href);
  const back = await r.browser.follow(new URL(`${ts.issuer}/continue?state=${encodeURIComponent(away.searchParams.get('state')!)}`), {}, (u) => u.href.startsWith(CB));
  assert.equal(back.url.searchParams.get('error'), 'access_denied', back.url.href);
  assert.equal(back.url.searchParams.get('error_description'), 'the device was not approved');
  await bindActions(ts, 'post-login', []);
  assert.equal(new URL(await silentAuthorization(config, r.browser, CB)).searchParams.get('error'), 'login_required', 'the session the login made was ended');
});

test('event.session describes the session and its device as before this request; an action revokes it when the browser changed', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'session-device', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      api.user.setAppMetadata('sessions', [...(event.user.app_metadata.sessions || []), event.session]);
      const d = event.session.device;
      if (d && d.last_user_agent !== event.request.user_agent) api.session.revoke('this session moved to another browser');
    };` });
  await bindActions(ts, 'post-login', ['session-device']);
  const first = await loginThroughForm(config, { redirectUri: CB, email: 'device@revoke.example', password: PASSWORD });
  assert.equal(first.callbackUrl?.searchParams.get('error'), null, first.callbackUrl?.href);
  const again = new URL(await silentAuthorization(config, first.browser, CB));
  assert.equal(again.searchParams.get('error'), null, 'the same browser: the session answers');
  // The session's cookie, now sent by another user agent.
  first.browser.headers['user-agent'] = 'another-browser/1.0';
  const moved = new URL(await silentAuthorization(config, first.browser, CB));
  assert.equal(moved.searchParams.get('error'), 'access_denied');
  assert.equal(moved.searchParams.get('error_description'), 'this session moved to another browser');

  const user = (await ts.api('GET', `/users?q=${encodeURIComponent('email:"device@revoke.example"')}`)).body[0];
  const [s1, s2, s3] = user.app_metadata.sessions;
  assert.equal(typeof s1.id, 'string');
  assert.equal(s2.id, s1.id, 'one session');
  assert.deepEqual(s1.device, { initial_ip: s1.device.initial_ip, initial_user_agent: 'gatehouse-test', last_ip: s1.device.initial_ip, last_user_agent: 'gatehouse-test' });
  assert.match(s1.device.initial_ip, /^(::ffff:)?127\.0\.0\.1$/);
  assert.ok(Date.parse(s1.created_at) > 0 && Date.parse(s1.authenticated_at) > 0, JSON.stringify(s1));
  // The silent authorization sees the login before it: its time, its application, its expiry.
  // (oidc-provider records the login when the authorization resumes, in whole seconds.)
  assert.ok(Math.abs(Date.parse(s2.authenticated_at) - Date.parse(s1.authenticated_at)) <= 1000, `${s1.authenticated_at} / ${s2.authenticated_at}`);
  assert.deepEqual(s2.clients, [{ client_id: config.clientMetadata().client_id }]);
  assert.ok(Date.parse(s2.expires_at) > Date.now(), JSON.stringify(s2));
  assert.equal(s3.device.initial_user_agent, 'gatehouse-test');
  assert.equal(s3.device.last_user_agent, 'gatehouse-test', 'the device as before this request');
});

// ---- review: the revocation must not depend on the client, nor a denied attempt count as the session's device ----

test('an interactive session.revoke holds even when the client never follows the redirect back (nor sends a HEAD)', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const { tokens, browser } = await loginWithRefresh('no-follow@revoke.example');
  await deployAction(ts, { name: 'revoke-no-follow', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.session.revoke('revoked at once'); };` });
  await bindActions(ts, 'post-login', ['revoke-no-follow']);
  // The session answers, post-login runs in an interaction; the client stops at the resume URL.
  const { url } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid email' });
  const stopped = await browser.follow(url, {}, (u) => new URL(u).pathname.startsWith('/authorize/'));
  assert.match(stopped.url.pathname, /^\/authorize\/./, stopped.url.href);
  await bindActions(ts, 'post-login', []);
  assert.equal(new URL(await silentAuthorization(config, browser, CB)).searchParams.get('error'), 'login_required');
  await expectOAuthError(oidc.refreshTokenGrant(config, tokens.refresh_token!), 'invalid_grant', 400);
});

test('a denied attempt from another browser does not become the session\'s last device: the next attempt is denied too', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'deny-other-browser', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      const d = event.session.device;
      if (d && d.last_user_agent !== event.request.user_agent) api.access.deny('not the browser this session was signed in on');
    };` });
  await bindActions(ts, 'post-login', ['deny-other-browser']);
  const first = await loginThroughForm(config, { redirectUri: CB, email: 'retry@revoke.example', password: PASSWORD });
  assert.equal(first.callbackUrl?.searchParams.get('error'), null);
  first.browser.headers['user-agent'] = 'attacker/1.0';
  assert.equal(new URL(await silentAuthorization(config, first.browser, CB)).searchParams.get('error'), 'access_denied');
  assert.equal(new URL(await silentAuthorization(config, first.browser, CB)).searchParams.get('error'), 'access_denied', 'the second attempt is judged against the same device');
  first.browser.headers['user-agent'] = 'gatehouse-test';
  assert.equal(new URL(await silentAuthorization(config, first.browser, CB)).searchParams.get('error'), null, 'the browser the session was signed in on still gets through');
});

test('a session signed in before any post-login action ran has no device in the event (unknown, not the current request)', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const first = await loginThroughForm(config, { redirectUri: CB, email: 'unknown-device@revoke.example', password: PASSWORD });
  assert.equal(first.callbackUrl?.searchParams.get('error'), null);
  await deployAction(ts, { name: 'no-device', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { if (!event.session.device) api.access.deny('device unknown: sign in again'); };` });
  await bindActions(ts, 'post-login', ['no-device']);
  first.browser.headers['user-agent'] = 'attacker/1.0';
  assert.equal(new URL(await silentAuthorization(config, first.browser, CB)).searchParams.get('error'), 'access_denied');
});

test('session.revoke on a refresh whose session is gone still ends that refresh token', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const { tokens } = await loginWithRefresh('gone-session@revoke.example');
  const sub = String(tokens.claims()!.sub);
  // The user signed out (or the session expired): offline refresh tokens outlive their session.
  assert.ok(await ts.ctx.db('oidc_payloads').where({ type: 'Session', account_id: sub }).delete() > 0, 'the session row was there to delete');
  await deployAction(ts, { name: 'revoke-on-refresh', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.session.revoke('compromised'); };` });
  await bindActions(ts, 'post-login', ['revoke-on-refresh']);
  await expectOAuthError(oidc.refreshTokenGrant(config, tokens.refresh_token!), 'access_denied', 400);
  await bindActions(ts, 'post-login', []);
  await expectOAuthError(oidc.refreshTokenGrant(config, tokens.refresh_token!), 'invalid_grant', 400);
});

test('a request already under way on the session when it is revoked does not save it back', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const first = await loginThroughForm(config, { redirectUri: CB, email: 'in-flight@revoke.example', password: PASSWORD });
  assert.equal(first.callbackUrl?.searchParams.get('error'), null);
  await deployAction(ts, { name: 'revoke-unless-slow', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.request.user_agent === 'slow') { await new Promise((r) => setTimeout(r, 600)); return; }
      api.session.revoke('revoked while another request ran');
    };` });
  await bindActions(ts, 'post-login', ['revoke-unless-slow']);
  // The same session's cookies in a second client, whose authorization is slow.
  const slow = new Browser({ 'user-agent': 'slow' });
  slow.cookies = first.browser.cookies.map((c) => ({ ...c }));
  const pending = silentAuthorization(config, slow, CB);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(new URL(await silentAuthorization(config, first.browser, CB)).searchParams.get('error'), 'access_denied');
  await pending; // it loaded the session before the revocation; when it ends, oidc-provider saves its copy
  await bindActions(ts, 'post-login', []);
  assert.equal(new URL(await silentAuthorization(config, first.browser, CB)).searchParams.get('error'), 'login_required', 'the revoked session stayed revoked');
  // A new login on the same browser afterwards is saved as usual.
  const again = await loginThroughForm(config, { browser: first.browser, redirectUri: CB, email: 'in-flight@revoke.example', password: PASSWORD });
  assert.equal(again.callbackUrl?.searchParams.get('error'), null);
  assert.equal(new URL(await silentAuthorization(config, first.browser, CB)).searchParams.get('error'), null);
});

test('deleting a user deletes the devices of its sessions with them (addresses and browsers are not kept for a sweep)', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'device-keeper', trigger: 'post-login', code: 'exports.onExecutePostLogin = async () => {};' });
  await bindActions(ts, 'post-login', ['device-keeper']);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'deleted@revoke.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null, r.callbackUrl?.href);
  const user = (await ts.api('GET', `/users?q=${encodeURIComponent('email:"deleted@revoke.example"')}`)).body[0];
  const sessions = await ts.ctx.db('oidc_payloads').where({ type: 'Session', account_id: user.user_id }).select('uid');
  assert.equal(sessions.length, 1);
  const devices = () => ts.ctx.db('session_devices').where({ session_uid: sessions[0].uid });
  assert.equal((await devices()).length, 1, 'the login recorded its device');
  assert.equal((await ts.api('DELETE', `/users/${encodeURIComponent(user.user_id)}`)).status, 204);
  assert.deepEqual(await devices(), []);
});
