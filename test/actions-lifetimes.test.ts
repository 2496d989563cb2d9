import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, loginWithRefreshToken, silentAuthorization, authorizationRequest, type TestServer } from './helpers/server.ts';
import { codeAt } from './helpers/mfa.ts';
import type { Browser } from './helpers/cookie-fetch.ts';
import { expectOAuthError } from './helpers/oidc-assert.ts';
import { deployAction, bindActions, latestExecution, startContinueBounce } from './helpers/actions.ts';

/*
 * How long sessions and refresh tokens live: the configured idle and absolute limits (Auth0's
 * "Inactivity timeout" and "Require log in after"), and what post-login actions set with
 * api.session.setExpiresAt / setIdleExpiresAt and api.refreshToken.setExpiresAt /
 * setIdleExpiresAt. Real logins, silent authorizations and refresh-token grants through
 * openid-client; the server runs in this process, so moving Date.now moves its clock.
 */

const API = 'https://lifetimes.api.example';
const CB = 'https://app-5178.example/cb';
const PASSWORD = 'lifetimes-password-1';
const IDLE = 3600;
const MAX = 3 * 3600;

let ts: TestServer;
let config: oidc.Configuration;
let bounce: Awaited<ReturnType<typeof startContinueBounce>>;
let bounceUrl = '';
// An API an action waits on until the test lets it answer (gate.open()): orders two requests without sleeping.
let gate: Server;
let gateUrl = '';
let releaseGate: () => void = () => {};
let gateReached: Promise<void> = Promise.resolve();
const realNow = Date.now;

/** Runs `fn` with the clock `seconds` ahead (the server's and openid-client's alike). */
async function later<T>(seconds: number, fn: () => Promise<T>): Promise<T> {
  const was = Date.now;
  Date.now = () => was() + seconds * 1000;
  try { return await fn(); } finally { Date.now = was; }
}
/** The clock moved on for the rest of a test (undone by `t.after`). */
function moveClock(t: { after(fn: () => void): void }, seconds: number) {
  const was = Date.now;
  Date.now = () => was() + seconds * 1000;
  t.after(() => { Date.now = realNow; });
}

const silentError = async (browser: Browser) => new URL(await silentAuthorization(config, browser, CB)).searchParams.get('error');
async function sessionsOf(email: string) {
  const u = (await ts.api('GET', `/users-by-email?email=${encodeURIComponent(email)}`)).body[0];
  return (await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}/sessions`)).body.sessions as { id: string; expires_at: string; idle_expires_at: string; authenticated_at: string }[];
}
const near = (iso: string, expectedMs: number, what: string) => assert.ok(Math.abs(Date.parse(iso) - expectedMs) <= 5000, `${what}: ${iso}, expected about ${new Date(expectedMs).toISOString()}`);

before(async () => {
  gate = createServer((_req, res) => {
    reachedGate();
    new Promise<void>((r) => { releaseGate = r; }).then(() => res.end('ok'), () => res.end('ok'));
  });
  await new Promise<void>((r) => gate.listen(0, '127.0.0.1', r));
  gateUrl = `http://127.0.0.1:${(gate.address() as AddressInfo).port}/wait`;
  ts = await startTestServer({ tokens: { sessionTtl: IDLE, sessionMaxTtl: MAX }, actions: { fetchAllow: [`127.0.0.1:${(gate.address() as AddressInfo).port}`] } });
  await ts.api('POST', '/resource-servers', { name: 'Lifetimes API', identifier: API, scopes: [{ value: 'read:things', description: 'r' }] });
  const spa = (await ts.api('POST', '/clients', { name: 'Lifetimes SPA', app_type: 'spa', callbacks: [CB] })).body;
  config = await discover(ts, spa.client_id);
  // A page an action sends the user to, which sends them straight back to /continue.
  bounce = await startContinueBounce(() => ts.issuer);
  bounceUrl = bounce.url;
  for (const email of ['parts@life.example', 'active@life.example', 'short@life.example', 'idle@life.example', 'again@life.example', 'rt@life.example', 'rt-idle@life.example', 'bad@life.example', 'rt-session@life.example', 'forward@life.example', 'first-seen@life.example', 'old@life.example', 'race@life.example', 'rt-login@life.example', 'reuse@life.example', 'step-up@life.example', 'own-code@life.example', 'consent@life.example', 'max-age@life.example', 'late-resume@life.example', 'consent-late@life.example', 'device@life.example']) {
    assert.equal((await ts.api('POST', '/users', { email, password: PASSWORD })).status, 201);
  }
});
after(async () => {
  Date.now = realNow;
  await ts?.close();
  await bounce?.close();
  releaseGate();
  await new Promise<void>((r) => gate.close(() => r()));
});
let reachedGate: () => void = () => {};
function armGate() { gateReached = new Promise<void>((r) => { reachedGate = r; }); }

// First: the tests after it move the clock on, and the execution records they leave would be the latest.
test('a time that is not milliseconds since the epoch is refused, named in the execution record; the login goes on', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'bad-expiry', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      api.session.setExpiresAt(Math.floor(Date.now() / 1000) + 600);
      api.session.setIdleExpiresAt('tomorrow');
      api.refreshToken.setExpiresAt(NaN);
    };` });
  await bindActions(ts, 'post-login', ['bad-expiry']);
  const at = Date.now();
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'bad@life.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  const exe = await latestExecution(ts, 'post-login');
  const rejected = exe.results[0].rejected_commands as string[];
  assert.equal(rejected.length, 3, JSON.stringify(rejected));
  for (const m of rejected) assert.match(m, /needs a time in milliseconds since the epoch/);
  const [s] = await sessionsOf('bad@life.example');
  near(s.expires_at, at + MAX * 1000, 'the configured end');
});

test('a login whose chain redirects and resumes keeps what each part set', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'end-then-redirect', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      api.session.setExpiresAt(Date.now() + 25 * 60 * 1000);
      api.redirect.sendUserTo(${JSON.stringify('BOUNCE')});
    };
    exports.onContinuePostLogin = async () => {};` .replace('BOUNCE', bounceUrl) });
  await deployAction(ts, { name: 'idle-after', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.session.setIdleExpiresAt(Date.now() + 15 * 60 * 1000); };` });
  await bindActions(ts, 'post-login', ['end-then-redirect', 'idle-after']);
  const at = Date.now();
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'parts@life.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null, r.callbackUrl?.searchParams.get('error_description') ?? String(r.status));
  const [s] = await sessionsOf('parts@life.example');
  near(s.expires_at, at + 25 * 60 * 1000, 'set before the redirect');
  near(s.idle_expires_at, at + 15 * 60 * 1000, 'set after it');
});

test('a session slides by the idle lifetime but ends at the absolute one, however active; the Management API shows both ends', async (t) => {
  const loggedInAt = Date.now();
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'active@life.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  const [s] = await sessionsOf('active@life.example');
  near(s.expires_at, loggedInAt + MAX * 1000, 'absolute end');
  near(s.idle_expires_at, loggedInAt + IDLE * 1000, 'idle end');
  // Used every 50 minutes: each use slides it on.
  for (const step of [1, 2, 3]) {
    assert.equal(await later(step * 3000, () => silentError(r.browser)), null, `still signed in after ${step * 50} minutes of activity`);
  }
  // Two hours and a half in, the idle end would be 3.5 h after sign-in: the absolute end comes first.
  const [s2] = await later(3 * 3000, () => sessionsOf('active@life.example'));
  near(s2.idle_expires_at, loggedInAt + MAX * 1000, 'the idle end stops at the absolute one');
  moveClock(t, MAX + 5);
  assert.equal(await silentError(r.browser), 'login_required', 'three hours after sign-in the user must sign in again');
  // The rest of the server is not affected by the clock: a fresh login works.
  const again = await loginThroughForm(config, { redirectUri: CB, email: 'active@life.example', password: PASSWORD });
  assert.equal(again.callbackUrl?.searchParams.get('error'), null);
});

test('api.session.setExpiresAt at an interactive login: the session ends then; event.session shows the ends', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'short-session', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      api.user.setAppMetadata('seen_session', event.session);
      if (!event.session.expires_at || Date.parse(event.session.expires_at) - Date.now() > 30 * 60 * 1000) api.session.setExpiresAt(Date.now() + 20 * 60 * 1000);
    };` });
  await bindActions(ts, 'post-login', ['short-session']);
  const at = Date.now();
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'short@life.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  const [s] = await sessionsOf('short@life.example');
  near(s.expires_at, at + 20 * 60 * 1000, 'the end the action set');
  near(s.idle_expires_at, at + 20 * 60 * 1000, 'the idle end never passes it');
  assert.equal((await latestExecution(ts, 'post-login')).results[0].rejected_commands.length, 0);
  // The next authorization's actions see the end the login's set.
  assert.equal(await silentError(r.browser), null);
  const seen = (await ts.api('GET', `/users/${encodeURIComponent((await ts.api('GET', '/users-by-email?email=short%40life.example')).body[0].user_id)}`)).body.app_metadata.seen_session;
  assert.equal(seen.id, s.id);
  near(seen.expires_at, at + 20 * 60 * 1000, 'event.session.expires_at');
  near(seen.idle_expires_at, at + 20 * 60 * 1000, 'event.session.idle_expires_at');
  await bindActions(ts, 'post-login', []);
  assert.equal(await later(15 * 60, () => silentError(r.browser)), null, 'signed in 15 minutes later');
  moveClock(t, 21 * 60);
  assert.equal(await silentError(r.browser), 'login_required', '21 minutes later the session is over');
});

test('api.session.setIdleExpiresAt at a silent authorization: idle until then, the absolute end unchanged; the next authorization slides it on', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'idle@life.example', password: PASSWORD });
  const [before] = await sessionsOf('idle@life.example');
  await deployAction(ts, { name: 'short-idle', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.session.setIdleExpiresAt(Date.now() + 5 * 60 * 1000); };` });
  await bindActions(ts, 'post-login', ['short-idle']);
  const at = Date.now();
  assert.equal(await silentError(r.browser), null);
  const [s] = await sessionsOf('idle@life.example');
  near(s.idle_expires_at, at + 5 * 60 * 1000, 'idle end set by the action');
  assert.equal(s.expires_at, before.expires_at, 'the absolute end is the sign-in\'s');
  await bindActions(ts, 'post-login', []);
  // Active within the 5 minutes: the authorization (no action bound now) gives it the configured idle time again.
  assert.equal(await later(4 * 60, () => silentError(r.browser)), null);
  const [slid] = await later(4 * 60, () => sessionsOf('idle@life.example'));
  near(slid.idle_expires_at, at + (4 * 60 + IDLE) * 1000, 'slid on by the idle lifetime');
  // Idle for 5 minutes right after the action's authorization: over.
  await bindActions(ts, 'post-login', ['short-idle']);
  assert.equal(await later(4 * 60, () => silentError(r.browser)), null);
  await bindActions(ts, 'post-login', []);
  moveClock(t, 4 * 60 + 6 * 60);
  assert.equal(await silentError(r.browser), 'login_required');
});

test('a new sign-in on the session starts afresh: the end an action set for the last one no longer holds', async () => {
  await deployAction(ts, { name: 'short-once', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.session.setExpiresAt(Date.now() + 10 * 60 * 1000); };` });
  await bindActions(ts, 'post-login', ['short-once']);
  let r;
  try {
    r = await loginThroughForm(config, { redirectUri: CB, email: 'again@life.example', password: PASSWORD });
    assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  } finally {
    await bindActions(ts, 'post-login', []);
  }
  const [short] = await sessionsOf('again@life.example');
  assert.ok(Date.parse(short.expires_at) - Date.now() < 11 * 60 * 1000, short.expires_at);
  // The user signs in again in the same browser (prompt=login), with no action bound.
  const at = await later(60, async () => {
    const t0 = Date.now();
    const again = await loginThroughForm(config, { browser: r.browser, redirectUri: CB, email: 'again@life.example', password: PASSWORD, params: { prompt: 'login' } });
    assert.equal(again.callbackUrl?.searchParams.get('error'), null);
    return t0;
  });
  const sessions = await later(60, () => sessionsOf('again@life.example'));
  assert.equal(sessions.length, 1, 'the same session, signed in again');
  near(sessions[0].expires_at, at + MAX * 1000, 'the configured absolute end, from the new sign-in');
  assert.equal(await later(30 * 60, () => silentError(r.browser)), null, 'past the old end, still signed in');
});

test('api.refreshToken.setExpiresAt on a refresh: every token rotated from it ends then; event.refresh_token shows both ends', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const { tokens } = await loginWithRefreshToken(config, { redirectUri: CB, email: 'rt@life.example', password: PASSWORD, audience: API });
  await deployAction(ts, { name: 'rt-expiry', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol !== 'oauth2-refresh-token') return;
      api.user.setAppMetadata('seen_rt', event.refresh_token);
      if (!event.user.app_metadata.capped) {
        api.user.setAppMetadata('capped', true);
        api.refreshToken.setExpiresAt(Date.now() + 30 * 60 * 1000);
      }
    };` });
  await bindActions(ts, 'post-login', ['rt-expiry']);
  const at = Date.now();
  const first = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  const userId = String(first.claims()!.sub);
  const seen1 = (await ts.api('GET', `/users/${encodeURIComponent(userId)}`)).body.app_metadata.seen_rt;
  assert.ok(Date.parse(seen1.expires_at) - at > 20 * 24 * 3600 * 1000, `before the cap: the grant's end, ${seen1.expires_at}`);
  // The next refresh (the action does not set it again) sees the cap the rotated token carries.
  const second = await later(60, () => oidc.refreshTokenGrant(config, first.refresh_token!));
  const seen2 = (await ts.api('GET', `/users/${encodeURIComponent(userId)}`)).body.app_metadata.seen_rt;
  near(seen2.expires_at, at + 30 * 60 * 1000, 'event.refresh_token.expires_at');
  near(seen2.idle_expires_at, at + 30 * 60 * 1000, 'event.refresh_token.idle_expires_at stops at it');
  const third = await later(20 * 60, () => oidc.refreshTokenGrant(config, second.refresh_token!));
  assert.ok(third.access_token);
  moveClock(t, 31 * 60);
  await expectOAuthError(oidc.refreshTokenGrant(config, third.refresh_token!), 'invalid_grant', 400);
});

test('api.refreshToken.setIdleExpiresAt on a refresh: the token it issues must be used by then; used in time, the next gets the configured idle time', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  // Two logins, two refresh tokens.
  const one = (await loginWithRefreshToken(config, { redirectUri: CB, email: 'rt-idle@life.example', password: PASSWORD, audience: API })).tokens;
  const two = (await loginWithRefreshToken(config, { redirectUri: CB, email: 'rt-idle@life.example', password: PASSWORD, audience: API })).tokens;
  await deployAction(ts, { name: 'rt-idle', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol === 'oauth2-refresh-token') api.refreshToken.setIdleExpiresAt(Date.now() + 2 * 60 * 1000);
    };` });
  await bindActions(ts, 'post-login', ['rt-idle']);
  const a = await oidc.refreshTokenGrant(config, one.refresh_token!);
  const b = await oidc.refreshTokenGrant(config, two.refresh_token!);
  await bindActions(ts, 'post-login', []);
  // Used within its 2 minutes (nothing bound now): the token that refresh issues lives the configured time.
  const a2 = await later(100, () => oidc.refreshTokenGrant(config, a.refresh_token!));
  assert.ok((await later(100 + 20 * 60, () => oidc.refreshTokenGrant(config, a2.refresh_token!))).access_token);
  // Left unused for 3 minutes: over.
  moveClock(t, 3 * 60);
  await expectOAuthError(oidc.refreshTokenGrant(config, b.refresh_token!), 'invalid_grant', 400);
});

test('api.session.setExpiresAt on a refresh brings the browser session\'s end forward (a refresh does not extend it)', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const { tokens, browser } = await loginWithRefreshToken(config, { redirectUri: CB, email: 'rt-session@life.example', password: PASSWORD, audience: API });
  const [before] = await sessionsOf('rt-session@life.example');
  await deployAction(ts, { name: 'rt-ends-session', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol === 'oauth2-refresh-token') api.session.setExpiresAt(Date.now() + 10 * 60 * 1000);
    };` });
  await bindActions(ts, 'post-login', ['rt-ends-session']);
  const at = Date.now();
  await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  await bindActions(ts, 'post-login', []);
  const [s] = await sessionsOf('rt-session@life.example');
  near(s.expires_at, at + 10 * 60 * 1000, 'the session\'s end, set from the refresh');
  assert.ok(Date.parse(s.idle_expires_at) <= Date.parse(before.idle_expires_at), 'not extended');
  moveClock(t, 11 * 60);
  assert.equal(await silentError(browser), 'login_required');
});

// Review regressions (each failed before its fix).

test('a later chain only brings the session\'s end forward: a refresh asking for a later end does not undo the sign-in\'s shorter one', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'later-on-refresh', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol === 'oauth2-refresh-token') api.session.setExpiresAt(Date.now() + 2 * 3600 * 1000);
      else api.session.setExpiresAt(Date.now() + 20 * 60 * 1000);
    };` });
  await bindActions(ts, 'post-login', ['later-on-refresh']);
  const { tokens, browser } = await loginWithRefreshToken(config, { redirectUri: CB, email: 'forward@life.example', password: PASSWORD, audience: API });
  await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  await bindActions(ts, 'post-login', []);
  assert.equal(await later(10 * 60, () => silentError(browser)), null);
  moveClock(t, 21 * 60);
  assert.equal(await silentError(browser), 'login_required', 'the sign-in\'s 20 minutes hold');
});

test('event.session at a sign-in shows the ends the session will have, not the pending login\'s', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'cap-if-long', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      api.user.setAppMetadata('seen', { expires_at: event.session.expires_at, idle_expires_at: event.session.idle_expires_at, authenticated_at: event.session.authenticated_at });
      if (Date.parse(event.session.expires_at) > Date.now() + 2 * 3600 * 1000) api.session.setExpiresAt(Date.now() + 2 * 3600 * 1000);
    };` });
  await bindActions(ts, 'post-login', ['cap-if-long']);
  const at = Date.now();
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'first-seen@life.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  const user = (await ts.api('GET', '/users-by-email?email=first-seen%40life.example')).body[0];
  near(user.app_metadata.seen.expires_at, at + MAX * 1000, 'the configured absolute end');
  near(user.app_metadata.seen.idle_expires_at, at + IDLE * 1000, 'the configured idle end');
  near(user.app_metadata.seen.authenticated_at, at, 'this sign-in');
  const [s] = await sessionsOf('first-seen@life.example');
  near(s.expires_at, at + 2 * 3600 * 1000, 'the action saw three hours and capped them at two');
});

test('a session signed in longer ago than the absolute lifetime is not found, however recently it was saved', async () => {
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'old@life.example', password: PASSWORD });
  assert.equal(await silentError(r.browser), null);
  // As a session stored before there was an absolute lifetime (or before it was lowered): signed
  // in long ago, kept alive by use, its stored expiry still ahead.
  const uid = (await sessionsOf('old@life.example'))[0].id;
  const row = await ts.ctx.db('oidc_payloads').where({ type: 'Session', uid }).first();
  const p = JSON.parse(row.payload);
  p.loginTs = Math.floor(Date.now() / 1000) - MAX - 60;
  await ts.ctx.db('oidc_payloads').where({ type: 'Session', uid }).update({ payload: JSON.stringify(p) });
  assert.equal(await silentError(r.browser), 'login_required', 'not one more authorization');
  assert.deepEqual(await sessionsOf('old@life.example'), [], 'not listed as live either');
});

test('a browser request that loaded the session before a refresh brought its end forward does not take it back when it saves', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const { tokens, browser } = await loginWithRefreshToken(config, { redirectUri: CB, email: 'race@life.example', password: PASSWORD, audience: API });
  await deployAction(ts, { name: 'race', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol === 'oauth2-refresh-token') { api.session.setExpiresAt(Date.now() + 10 * 60 * 1000); return; }
      await fetch(${JSON.stringify('GATE')});
    };`.replace('GATE', gateUrl) });
  await bindActions(ts, 'post-login', ['race']);
  armGate();
  // The silent authorization loads the session, then its action waits at the gate.
  const silent = silentError(browser);
  await gateReached;
  await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  releaseGate();
  assert.equal(await silent, null);
  await bindActions(ts, 'post-login', []);
  moveClock(t, 11 * 60);
  assert.equal(await silentError(browser), 'login_required', 'the refresh\'s 10 minutes hold');
});

test('api.refreshToken.setExpiresAt at a login: the refresh token its code issues, and those rotated from it, end then', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'rt-at-login', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol !== 'oauth2-refresh-token') api.refreshToken.setExpiresAt(Date.now() + 15 * 60 * 1000);
    };` });
  await bindActions(ts, 'post-login', ['rt-at-login']);
  const { tokens } = await loginWithRefreshToken(config, { redirectUri: CB, email: 'rt-login@life.example', password: PASSWORD, audience: API });
  const next = await later(10 * 60, () => oidc.refreshTokenGrant(config, tokens.refresh_token!));
  moveClock(t, 16 * 60);
  await expectOAuthError(oidc.refreshTokenGrant(config, next.refresh_token!), 'invalid_grant', 400);
});

test('a new sign-in renews the grant: a refresh token it issues is not cut short by the first sign-in\'s grant', async () => {
  const short = await startTestServer({ tokens: { refreshTokenTtl: 3600, sessionTtl: 7200, sessionMaxTtl: 4 * 3600 } });
  try {
    await short.api('POST', '/resource-servers', { name: 'Short API', identifier: API, scopes: [{ value: 'read:things', description: 'r' }] });
    const spa = (await short.api('POST', '/clients', { name: 'Short SPA', app_type: 'spa', callbacks: [CB] })).body;
    const cfg = await discover(short, spa.client_id);
    await short.api('POST', '/users', { email: 'renew@life.example', password: PASSWORD });
    /** The user signs in again in `browser`'s session, `seconds` from now (prompt=login). */
    const signInAgain = (browser: Browser, seconds: number) => later(seconds, async () => {
      const r = await loginThroughForm(cfg, { browser, redirectUri: CB, email: 'renew@life.example', password: PASSWORD, scope: 'openid offline_access read:things', params: { prompt: 'login consent', audience: API } });
      assert.equal(r.callbackUrl?.searchParams.get('error'), null);
      return r;
    });
    /** Strips the family's end from a stored refresh token, as one issued before families had one. */
    const asIssuedBefore = async (refreshToken: string) => {
      const row = await short.ctx.db('oidc_payloads').where({ type: 'RefreshToken', id: refreshToken }).first();
      assert.ok(row, 'the refresh token is stored under its value');
      const p = JSON.parse(row.payload);
      delete p.ghExpiresAt;
      await short.ctx.db('oidc_payloads').where({ type: 'RefreshToken', id: row.id }).update({ payload: JSON.stringify(p) });
    };
    const first = await loginWithRefreshToken(cfg, { redirectUri: CB, email: 'renew@life.example', password: PASSWORD, audience: API });
    // 50 minutes on, the user signs in again in the same browser session (prompt=login).
    const again = await later(50 * 60, async () => {
      const r = await loginThroughForm(cfg, { browser: first.browser, redirectUri: CB, email: 'renew@life.example', password: PASSWORD, scope: 'openid offline_access read:things', params: { prompt: 'login consent', audience: API } });
      assert.equal(r.callbackUrl?.searchParams.get('error'), null, r.callbackUrl?.searchParams.get('error_description') ?? String(r.status));
      return oidc.authorizationCodeGrant(cfg, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
    });
    // 70 minutes after the first sign-in (past its grant's hour), 20 after the second.
    const refreshed = await later(70 * 60, () => oidc.refreshTokenGrant(cfg, again.refresh_token!));
    assert.ok(refreshed.access_token);
    // (Review) The first sign-in's family keeps its own hour: the renewed grant does not prolong it.
    const first2 = await loginWithRefreshToken(cfg, { redirectUri: CB, email: 'renew@life.example', password: PASSWORD, audience: API });
    const rotated = await later(50 * 60, () => oidc.refreshTokenGrant(cfg, first2.tokens.refresh_token!));
    await signInAgain(first2.browser, 55 * 60);
    await later(70 * 60, () => expectOAuthError(oidc.refreshTokenGrant(cfg, rotated.refresh_token!), 'invalid_grant', 400));
    // A token issued before families had an end (none in its payload) takes its grant's end when
    // it is rotated: a later sign-in renewing the grant does not prolong it either.
    const legacy = await loginWithRefreshToken(cfg, { redirectUri: CB, email: 'renew@life.example', password: PASSWORD, audience: API });
    await asIssuedBefore(legacy.tokens.refresh_token!);
    const legacyRotated = await later(50 * 60, () => oidc.refreshTokenGrant(cfg, legacy.tokens.refresh_token!));
    await signInAgain(legacy.browser, 55 * 60);
    await later(70 * 60, () => expectOAuthError(oidc.refreshTokenGrant(cfg, legacyRotated.refresh_token!), 'invalid_grant', 400));
    // (Review) Nor when the sign-in that renews the grant comes before the token's first rotation.
    const legacy2 = await loginWithRefreshToken(cfg, { redirectUri: CB, email: 'renew@life.example', password: PASSWORD, audience: API });
    await asIssuedBefore(legacy2.tokens.refresh_token!);
    await signInAgain(legacy2.browser, 50 * 60);
    const legacy2Rotated = await later(55 * 60, () => oidc.refreshTokenGrant(cfg, legacy2.tokens.refresh_token!));
    await later(70 * 60, () => expectOAuthError(oidc.refreshTokenGrant(cfg, legacy2Rotated.refresh_token!), 'invalid_grant', 400));
  } finally {
    await short.close();
  }
});

test('(review) an interactive authorization a session answers shows the sign-in\'s times in event.session and event.authentication', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const at = Date.now();
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'reuse@life.example', password: PASSWORD });
  await deployAction(ts, { name: 'seen-reuse', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      api.user.setAppMetadata('seen', { authenticated_at: event.session.authenticated_at, expires_at: event.session.expires_at, pwd_at: event.authentication.methods[0].timestamp });
    };` });
  await bindActions(ts, 'post-login', ['seen-reuse']);
  // 50 minutes on, an authorization without prompt=none: the session answers, post-login runs in an interaction.
  await later(50 * 60, async () => {
    const { url } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid' });
    const a = await r.browser.follow(url, {}, (x) => x.href.startsWith(CB));
    assert.ok(a.url.searchParams.get('code'), a.url.href);
  });
  const seen = (await ts.api('GET', '/users-by-email?email=reuse%40life.example')).body[0].app_metadata.seen;
  near(seen.authenticated_at, at, 'the sign-in, not this authorization');
  near(seen.pwd_at, at, 'the password\'s time');
  near(seen.expires_at, at + MAX * 1000, 'the sign-in\'s absolute end');
});

test('(review) a second factor added to a session that answers keeps the sign-in\'s time: enrolling cannot renew the session', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'step-up@life.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  // Kept active: a silent authorization every 50 minutes.
  for (const m of [50, 100, 150]) assert.equal(await later(m * 60, () => silentError(r.browser)), null);
  // 2h50 in, with the session cookie only: acr_values asks for a second factor, which the user enrolls.
  await later(170 * 60, async () => {
    const req = await authorizationRequest(config, { redirectUri: CB, scope: 'openid', params: { acr_values: 'http://schemas.openid.net/pape/policies/2007/06/multi-factor' } });
    const a = await r.browser.follow(req.url, {}, (u) => u.href.startsWith(CB));
    const html = await a.res.text();
    const secret = /data-secret="([A-Z2-7]+)"/.exec(html)?.[1];
    assert.ok(secret, `the enrollment page, at ${a.url}`);
    const codes = await r.browser.submit(a.url, html, { code: await codeAt(secret) });
    const done = await r.browser.submit(a.url, await codes.text(), {});
    const fin = await r.browser.follow(new URL(done.headers.get('location')!, a.url), {}, (u) => u.href.startsWith(CB));
    assert.ok(fin.url.searchParams.get('code'), fin.url.href);
  });
  moveClock(t, 3 * 3600 + 10 * 60);
  assert.equal(await silentError(r.browser), 'login_required', 'three hours after the password, whatever was added since');
});

test('(review) a code carries its own login\'s refresh-token end: another refresh of the session before the exchange does not change it', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const first = await loginWithRefreshToken(config, { redirectUri: CB, email: 'own-code@life.example', password: PASSWORD, audience: API });
  await deployAction(ts, { name: 'rt-at-login-only', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol !== 'oauth2-refresh-token') api.refreshToken.setExpiresAt(Date.now() + 15 * 60 * 1000);
    };` });
  await bindActions(ts, 'post-login', ['rt-at-login-only']);
  const r = await loginThroughForm(config, { browser: first.browser, redirectUri: CB, email: 'own-code@life.example', password: PASSWORD, scope: 'openid offline_access read:things', params: { prompt: 'login consent', audience: API } });
  assert.ok(r.callbackUrl?.searchParams.get('code'));
  // Another tab refreshes the first login's token before this code is exchanged.
  await oidc.refreshTokenGrant(config, first.tokens.refresh_token!);
  const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  moveClock(t, 16 * 60);
  await expectOAuthError(oidc.refreshTokenGrant(config, tokens.refresh_token!), 'invalid_grant', 400);
});

test('the end a login\'s action set survives a consent step after it (the authorization resumes twice)', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'end-before-consent', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { if (event.transaction.protocol !== 'oauth2-refresh-token') api.session.setExpiresAt(Date.now() + 20 * 60 * 1000); };` });
  await bindActions(ts, 'post-login', ['end-before-consent']);
  const at = Date.now();
  // prompt=consent (for the refresh token) puts a consent step after the login; the user takes a few seconds over it.
  const third = (await ts.api('POST', '/clients', { name: 'Third-party SPA', app_type: 'spa', callbacks: [CB], is_first_party: false })).body;
  const thirdConfig = await discover(ts, third.client_id);
  const r = await loginThroughForm(thirdConfig, { redirectUri: CB, email: 'consent@life.example', password: PASSWORD, scope: 'openid offline_access read:things', params: { prompt: 'consent', audience: API } });
  assert.ok(r.url && r.loginPage && !r.callbackUrl, `the consent page: ${r.status} ${r.url}`);
  const done = await later(5, async () => {
    const posted = await r.browser.submit(r.url!, r.loginPage!, {});
    return r.browser.follow(new URL(posted.headers.get('location')!, r.url), {}, (u) => u.href.startsWith(CB));
  });
  assert.ok(done.url.searchParams.get('code'), done.url.href);
  const [s] = await sessionsOf('consent@life.example');
  near(s.expires_at, at + 20 * 60 * 1000, 'the end the action set');
});

test('(review) a second factor that takes the session past the request\'s max_age ends in login_required, not in an auth_time older than max_age', async () => {
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'max-age@life.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  const req = await authorizationRequest(config, { redirectUri: CB, scope: 'openid', params: { acr_values: 'http://schemas.openid.net/pape/policies/2007/06/multi-factor', max_age: '60' } });
  const a = await r.browser.follow(req.url, {}, (u) => u.href.startsWith(CB));
  const html = await a.res.text();
  const secret = /data-secret="([A-Z2-7]+)"/.exec(html)?.[1];
  assert.ok(secret, `within max_age the session answers and the second factor is asked: ${a.url}`);
  // The user takes two minutes over the second factor.
  const end = await later(120, async () => {
    const codes = await r.browser.submit(a.url, html, { code: await codeAt(secret) });
    const done = await r.browser.submit(a.url, await codes.text(), {});
    return r.browser.follow(new URL(done.headers.get('location')!, a.url), {}, (u) => u.href.startsWith(CB));
  });
  assert.equal(end.url.searchParams.get('error'), 'login_required', end.url.href);
});

/** Signs in, then asks for a second factor (enrolled now) with max_age=60 within the minute; the resume redirect is not followed yet. */
async function stepUpWithinMaxAge(cfg: oidc.Configuration, email: string, extra: Record<string, string> = {}) {
  const r = await loginThroughForm(config, { redirectUri: CB, email, password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  const req = await authorizationRequest(cfg, { redirectUri: CB, scope: 'openid', params: { acr_values: 'http://schemas.openid.net/pape/policies/2007/06/multi-factor', max_age: '60', ...extra } });
  const a = await r.browser.follow(req.url, {}, (u) => u.href.startsWith(CB));
  const html = await a.res.text();
  const secret = /data-secret="([A-Z2-7]+)"/.exec(html)?.[1];
  assert.ok(secret, `the enrollment page, at ${a.url}`);
  const codes = await r.browser.submit(a.url, html, { code: await codeAt(secret) });
  const done = await r.browser.submit(a.url, await codes.text(), {});
  return { browser: r.browser, resume: new URL(done.headers.get('location')!, a.url) };
}

test('(review) max_age holds at every resume after a step-up: a resume followed late ends in login_required', async () => {
  const { browser, resume } = await stepUpWithinMaxAge(config, 'late-resume@life.example');
  const end = await later(120, () => browser.follow(resume, {}, (u) => u.href.startsWith(CB)));
  assert.equal(end.url.searchParams.get('error'), 'login_required', end.url.href);
});

test('(review) max_age holds at every resume after a step-up: a consent step confirmed late ends in login_required', async () => {
  const third = (await ts.api('POST', '/clients', { name: 'Third-party step-up', app_type: 'spa', callbacks: [CB], is_first_party: false })).body;
  const thirdConfig = await discover(ts, third.client_id);
  const { browser, resume } = await stepUpWithinMaxAge(thirdConfig, 'consent-late@life.example', { prompt: 'consent' });
  const c = await browser.follow(resume, {}, (u) => u.href.startsWith(CB));
  const page = await c.res.text();
  assert.match(page, /confirm/, `the consent page, at ${c.url}`);
  const end = await later(120, async () => {
    const posted = await browser.submit(c.url, page, {});
    return browser.follow(new URL(posted.headers.get('location')!, c.url), {}, (u) => u.href.startsWith(CB));
  });
  assert.equal(end.url.searchParams.get('error'), 'login_required', end.url.href);
});

test('event.refresh_token.device: where the token\'s family began and where this token was issued', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'rt-device', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol === 'oauth2-refresh-token') api.user.setAppMetadata('rt_device', event.refresh_token.device ?? null);
    };` });
  await bindActions(ts, 'post-login', ['rt-device']);
  const { tokens } = await loginWithRefreshToken(config, { redirectUri: CB, email: 'device@life.example', password: PASSWORD, audience: API });
  const phone = await discover(ts, config.clientMetadata().client_id);
  phone[oidc.customFetch] = (url, options) => {
    const headers = new Headers(options.headers as ConstructorParameters<typeof Headers>[0]);
    headers.set('user-agent', 'Phone/2.0');
    return fetch(url, { ...options, headers } as RequestInit);
  };
  const seen = async () => (await ts.api('GET', '/users-by-email?email=device%40life.example')).body[0].app_metadata.rt_device;
  const r1 = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  const first = await seen();
  assert.equal(first.initial_ip, '127.0.0.1');
  assert.equal(first.last_ip, '127.0.0.1');
  assert.equal(first.last_user_agent, first.initial_user_agent, 'the code exchange issued it');
  assert.notEqual(first.initial_user_agent, 'Phone/2.0');
  // Exchanged from the phone: the token that exchange issues says so; the family still began at the code exchange.
  const r2 = await oidc.refreshTokenGrant(phone, r1.refresh_token!);
  await oidc.refreshTokenGrant(config, r2.refresh_token!);
  const third = await seen();
  assert.equal(third.last_user_agent, 'Phone/2.0');
  assert.equal(third.initial_user_agent, first.initial_user_agent);
});
