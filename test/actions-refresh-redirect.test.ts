import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { SignJWT, jwtVerify, decodeJwt } from 'jose';
import { startTestServer, discover, loginThroughForm, loginWithRefreshToken, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';
import { expectOAuthError } from './helpers/oidc-assert.ts';
import { createAction, deployAction, deployVersion, bindActions, latestExecution } from './helpers/actions.ts';
import { generate } from 'otplib';

/*
 * post-login beyond the first login: it runs again on refresh-token grants (no redirect or MFA
 * possible there, so asking for one ends the grant with an error instead of hanging), and a
 * chain paused by api.redirect.sendUserTo resumes only through a valid, unused, own /continue
 * state (SECURITY D18, D19).
 */

const API = 'https://refresh.api.example';
const CB = 'https://app-5176.example/cb';
const PASSWORD = 'refresh-redirect-pw-1';
/** Where the redirect actions send the browser. Never fetched: the test plays that page itself. */
const CONSENT = 'https://consent.example';
const SECRET = 'shared-with-the-consent-page-0123456789';

let ts: TestServer;
let config: oidc.Configuration;

/** Login with offline_access + prompt=consent (oidc-provider's rule for refresh tokens) for a JWT access token. */
async function loginWithRefresh(email: string) {
  return (await loginWithRefreshToken(config, { redirectUri: CB, email, password: PASSWORD, audience: API })).tokens;
}

before(async () => {
  ts = await startTestServer();
  await ts.api('POST', '/resource-servers', { name: 'Refresh API', identifier: API, scopes: [{ value: 'read:things', description: 'r' }] });
  const spa = (await ts.api('POST', '/clients', { name: 'Refresh Redirect SPA', app_type: 'spa', callbacks: [CB] })).body;
  config = await discover(ts, spa.client_id);
  for (const email of ['refresher@rr.example', 'deny-on-refresh@rr.example', 'redirect-on-refresh@rr.example', 'consent@rr.example', 'other@rr.example']) {
    assert.equal((await ts.api('POST', '/users', { email, password: PASSWORD })).status, 201);
  }
});
after(async () => { await ts?.close(); });

test('refresh runs post-login again: protocol oauth2-refresh-token, canRedirect() false, its claims in the refreshed tokens; unbinding drops them', async () => {
  await deployAction(ts, { name: 'on-refresh-claims', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      const runs = (event.user.app_metadata.runs || 0) + 1;
      api.user.setAppMetadata('runs', runs);
      api.idToken.setCustomClaim('https://rr/protocol', event.transaction.protocol);
      api.idToken.setCustomClaim('https://rr/can_redirect', api.redirect.canRedirect());
      api.idToken.setCustomClaim('https://rr/runs', runs);
      api.accessToken.setCustomClaim('https://rr/at_protocol', event.transaction.protocol);
    };` });
  await bindActions(ts, 'post-login', ['on-refresh-claims']);
  const first = await loginWithRefresh('refresher@rr.example');
  assert.equal(first.claims()!['https://rr/protocol'], 'oidc-basic-profile');
  assert.equal(first.claims()!['https://rr/can_redirect'], true);
  assert.equal(first.claims()!['https://rr/runs'], 1);
  assert.equal(decodeJwt(first.access_token)['https://rr/at_protocol'], 'oidc-basic-profile');

  const refreshed = await oidc.refreshTokenGrant(config, first.refresh_token!);
  assert.equal(refreshed.claims()!['https://rr/protocol'], 'oauth2-refresh-token');
  assert.equal(refreshed.claims()!['https://rr/can_redirect'], false);
  assert.equal(refreshed.claims()!['https://rr/runs'], 2, 'the chain ran again and saw the metadata the login wrote');
  assert.equal(refreshed.claims()!.sub, first.claims()!.sub);
  assert.equal(decodeJwt(refreshed.access_token)['https://rr/at_protocol'], 'oauth2-refresh-token');

  // With nothing bound, a refresh must not replay the claims an earlier run decided.
  await bindActions(ts, 'post-login', []);
  const plain = await oidc.refreshTokenGrant(config, refreshed.refresh_token!);
  assert.equal(plain.claims()!['https://rr/protocol'], undefined);
  assert.equal(decodeJwt(plain.access_token)['https://rr/at_protocol'], undefined);
});

test('the refresh event describes the login the token came from: its methods, session, API and scopes', async () => {
  // Regression: a refresh ran post-login with no authentication methods, no session, no
  // resource_server and no requested scopes, so Auth0's "deny callers of an API" check never
  // fired on refresh, and an action asking for MFA unless the login had it paused every refresh.
  await deployAction(ts, { name: 'refresh-event', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (!event.authentication.methods.some((m) => m.name === 'pwd')) api.authentication.challengeWith({ type: 'otp' });
      api.idToken.setCustomClaim('https://rr/seen', {
        methods: event.authentication.methods.map((m) => m.name), session: event.session.id || null,
        api: event.resource_server ? event.resource_server.identifier : null, scopes: event.transaction.requested_scopes,
        tx: event.transaction.id,
      });
    };` });
  await bindActions(ts, 'post-login', ['refresh-event']);
  try {
    // Two logins in one browser. The first starts the session: its event carries the id of the
    // session the login ends in (regression: it had none, oidc-provider made the session only
    // after the chain); the second is answered in that session and carries the same id.
    const browser = new Browser();
    const loginIn = async () => {
      const r = await loginThroughForm(config, { browser, redirectUri: CB, email: 'refresher@rr.example', password: PASSWORD, scope: 'openid email offline_access read:things', params: { prompt: 'login consent', audience: API } });
      assert.ok(r.callbackUrl, r.loginPage?.slice(0, 300));
      return oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
    };
    const firstOfBrowser = await loginIn();
    const started = firstOfBrowser.claims()!['https://rr/seen'] as { session: string | null };
    assert.equal(typeof started.session, 'string', 'a login that starts a session has its id');
    const first = await loginIn();
    const atLogin = first.claims()!['https://rr/seen'] as { session: string | null };
    assert.equal(typeof atLogin.session, 'string', 'a login in an existing session has its id');
    assert.equal(atLogin.session, started.session, 'the session the first login started is the one the second runs in');
    const refreshed = await oidc.refreshTokenGrant(config, first.refresh_token!);
    const seen = refreshed.claims()!['https://rr/seen'] as { methods: string[]; session: string | null; api: string | null; scopes: string[]; tx: string };
    assert.match(String(seen.tx), /^[\w-]{16,}$/, 'a transaction id of its own (it had none)');
    assert.notEqual(seen.tx, (first.claims()!['https://rr/seen'] as { tx: string }).tx);
    assert.deepEqual(seen.methods, ['pwd'], 'the login\'s methods, not none');
    assert.equal(typeof seen.session, 'string', 'the session the refresh token belongs to');
    assert.equal(seen.api, API);
    assert.deepEqual(seen.scopes, ['openid', 'email', 'offline_access', 'read:things']);
    assert.equal(seen.session, atLogin.session, 'the same session id as at login');
  } finally {
    await bindActions(ts, 'post-login', []);
  }
});

test('a login as another account than the browser\'s session does not see that session\'s id', async () => {
  // Regression: the event carried the signed-in account's session id, though the login of the
  // other account ends that session (oidc-provider asks first) and continues in a new one.
  await deployAction(ts, { name: 'session-seen', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.user.setAppMetadata('seen_session', event.session.id || 'none'); };` });
  await bindActions(ts, 'post-login', ['session-seen']);
  try {
    const seen = async (email: string) => {
      const users = await ts.api('GET', `/users-by-email?email=${encodeURIComponent(email)}`);
      return (users.body as { app_metadata: { seen_session?: unknown } }[])[0].app_metadata.seen_session;
    };
    const browser = new Browser();
    const a = await loginThroughForm(config, { browser, redirectUri: CB, email: 'consent@rr.example', password: PASSWORD, scope: 'openid' });
    assert.ok(a.callbackUrl, a.loginPage?.slice(0, 300));
    const sessionOfA = await seen('consent@rr.example');
    assert.equal(typeof sessionOfA, 'string', 'a first login starts a session and sees its id');
    // Same browser, prompt=login, the other account: the chain runs after its password.
    const b = await loginThroughForm(config, { browser, redirectUri: CB, email: 'other@rr.example', password: PASSWORD, scope: 'openid', params: { prompt: 'login' } });
    assert.equal(b.posted, 303, 'the password was taken and the chain ran');
    assert.equal(await seen('other@rr.example'), 'none', 'not the other account\'s session id');
  } finally {
    await bindActions(ts, 'post-login', []);
  }
});

test('an action that denies on refresh ends the refresh with access_denied; the login itself worked', async () => {
  await deployAction(ts, { name: 'deny-on-refresh', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol === 'oauth2-refresh-token') api.access.deny('refresh is not allowed for this user');
    };` });
  await bindActions(ts, 'post-login', ['deny-on-refresh']);
  const first = await loginWithRefresh('deny-on-refresh@rr.example');
  const err = await expectOAuthError(oidc.refreshTokenGrant(config, first.refresh_token!), 'access_denied', 400);
  assert.equal(err.error_description, 'refresh is not allowed for this user');
  assert.equal((await latestExecution(ts, 'post-login')).status, 'denied');
  await bindActions(ts, 'post-login', []);
});

test('an action that throws on refresh fails it closed', async () => {
  await deployAction(ts, { name: 'throw-on-refresh', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event) => {
      if (event.transaction.protocol === 'oauth2-refresh-token') throw new Error('backend unavailable');
    };` });
  await bindActions(ts, 'post-login', ['throw-on-refresh']);
  const first = await loginWithRefresh('deny-on-refresh@rr.example');
  const err = await expectOAuthError(oidc.refreshTokenGrant(config, first.refresh_token!), 'access_denied', 400);
  assert.doesNotMatch(err.error_description ?? '', /backend unavailable/, 'the action\'s error text stays in the execution log');
  assert.equal((await latestExecution(ts, 'post-login')).results[0].error.message, 'backend unavailable');
  await bindActions(ts, 'post-login', []);
});

test('sendUserTo during a refresh: the refresh fails with an OAuth error (D19), it does not hang', async () => {
  await deployAction(ts, { name: 'redirect-on-refresh', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol === 'oauth2-refresh-token') api.redirect.sendUserTo('${CONSENT}/on-refresh');
    };` });
  await bindActions(ts, 'post-login', ['redirect-on-refresh']);
  const first = await loginWithRefresh('redirect-on-refresh@rr.example');
  const err = await expectOAuthError(oidc.refreshTokenGrant(config, first.refresh_token!), 'access_denied', 400);
  assert.match(err.error_description ?? '', /interaction/);
  const exe = await latestExecution(ts, 'post-login');
  assert.deepEqual(exe.results[0].commands, [{ type: 'redirect.sendUserTo', args: [`${CONSENT}/on-refresh`] }]);
  await bindActions(ts, 'post-login', []);
});

// ---- redirect + /continue ------------------------------------------------------------------

/** A redirect action: sets a claim before redirecting, reads the page's answer on return. */
const redirectAction = (tag: string) => `
  exports.onExecutePostLogin = async (event, api) => {
    api.idToken.setCustomClaim('https://rr/${tag}/before', 'set before the redirect');
    const token = api.redirect.encodeToken({ secret: event.secrets.SECRET, payload: { step: '${tag}' } });
    api.redirect.sendUserTo('${CONSENT}/${tag}', { query: { session_token: token } });
  };
  exports.onContinuePostLogin = async (event, api) => {
    const p = api.redirect.validateToken({ secret: event.secrets.SECRET, tokenParameterName: 'session_token' });
    api.idToken.setCustomClaim('https://rr/${tag}/answer', p.answer);
  };`;

/** Starts a login in `browser` and stops where the action sends it (the external page) or at the callback. */
async function beginLogin(email: string, browser = new Browser()) {
  const r = await loginThroughForm(config, { browser, redirectUri: CB, email, password: PASSWORD, scope: 'openid email', stop: (u) => u.origin === CONSENT });
  assert.equal(r.posted, 303, 'the password was accepted');
  return { browser, verifier: r.verifier, state: r.state, at: (r.callbackUrl ?? r.url)! };
}

/** Follows redirects, without requesting the external page or the client's callback (neither exists). */
async function followUntilAway(browser: Browser, url: URL | string) {
  const away = (u: URL) => u.origin === CONSENT || u.href.startsWith(CB);
  const u = new URL(url);
  return away(u) ? u : (await browser.follow(u, {}, away)).url;
}

/** What the external page does: check the action's token, answer with one bound to the same state. */
async function pageAnswer(at: URL, answer: string, secret = SECRET) {
  assert.equal(at.origin, CONSENT, `expected the external page, got ${at.href}`);
  const state = at.searchParams.get('state')!;
  const { payload } = await jwtVerify(at.searchParams.get('session_token')!, new TextEncoder().encode(SECRET), { algorithms: ['HS256'] });
  assert.equal(payload.state, state, 'the action\'s session token is bound to the state it is sent with');
  const token = await new SignJWT({ state, answer }).setProtectedHeader({ alg: 'HS256' }).setSubject(String(payload.sub)).setIssuedAt().setExpirationTime('2m')
    .sign(new TextEncoder().encode(secret));
  return { state, url: `${ts.issuer}/continue?state=${encodeURIComponent(state)}&session_token=${encodeURIComponent(token)}` };
}

const finishAt = (browser: Browser, url: string) => followUntilAway(browser, url);

test('a redirecting first action keeps the claim it set before the redirect; the chain after it runs on /continue', async () => {
  await deployAction(ts, { name: 'redirect-first', trigger: 'post-login', code: redirectAction('first'), secrets: [{ name: 'SECRET', value: SECRET }] });
  await deployAction(ts, { name: 'after-redirect', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://rr/after', true); };` });
  await bindActions(ts, 'post-login', ['redirect-first', 'after-redirect']);
  const b = await beginLogin('consent@rr.example');
  const back = await finishAt(b.browser, (await pageAnswer(b.at, 'yes')).url);
  assert.ok(back.href.startsWith(CB), back.href);
  const t = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: b.verifier, expectedState: b.state });
  assert.equal(t.claims()!['https://rr/first/before'], 'set before the redirect');
  assert.equal(t.claims()!['https://rr/first/answer'], 'yes');
  assert.equal(t.claims()!['https://rr/after'], true);
  await bindActions(ts, 'post-login', []);
});

test('the page may POST its answer to /continue: the token stays out of every URL and reaches the action as event.request.body', async () => {
  // Regression: POST /continue copied the whole form (session_token included) into the query of
  // its 303, so the token landed in browser history and proxy logs (SECURITY 3.7: POSTed back).
  await deployAction(ts, { name: 'redirect-posted', trigger: 'post-login', code: redirectAction('posted'), secrets: [{ name: 'SECRET', value: SECRET }] });
  await bindActions(ts, 'post-login', ['redirect-posted']);
  const b = await beginLogin('consent@rr.example');
  const answer = await pageAnswer(b.at, 'posted yes');
  const token = new URL(answer.url).searchParams.get('session_token')!;
  // Someone else who learnt the state (it was in the external page's URL) posts forms too, before
  // and after the user: the user's resume must read the user's own form, not theirs.
  const forged = (await pageAnswer(b.at, 'forged', 'a-key-the-attacker-chose-0123456789')).url;
  const attacker = new Browser();
  const post = (browser: Browser, fields: Record<string, string>) => browser.request(`${ts.issuer}/continue`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString(),
  });
  const forgedToken = new URL(forged).searchParams.get('session_token')!;
  assert.equal((await post(attacker, { state: answer.state, session_token: forgedToken, password: 'x' })).status, 303);
  const res = await post(b.browser, { state: answer.state, session_token: token });
  assert.equal((await post(attacker, { state: answer.state, session_token: forgedToken })).status, 303);
  assert.equal(res.status, 303);
  const next = new URL(res.headers.get('location')!, ts.issuer);
  assert.equal(next.searchParams.get('session_token'), null, 'the token is not moved into the URL');
  assert.equal(next.searchParams.get('state'), answer.state);
  // The user's form is named by a random id in a cookie of the user's browser, scoped to the
  // resume path: not in the URL, where whoever got the attacker's 303 could lure the user to it.
  assert.equal(next.search.includes('posted'), false);
  assert.match(res.headers.get('set-cookie') ?? '', new RegExp(`gh_continue=[A-Za-z0-9_-]{20,}; path=${next.pathname.replace(/[/]/g, '\\/')};.*httponly`, 'i'));
  // A flood of forms for one state is refused once a few are kept (none pushed out).
  const flood = [];
  for (let i = 0; i < 3; i++) flood.push((await post(attacker, { state: answer.state, session_token: forgedToken })).status);
  assert.deepEqual(flood, [303, 429, 429], 'four forms kept (two of the attacker\'s, the user\'s, one more), then refused');
  const seen: string[] = [];
  const away = (u: URL) => { seen.push(u.href); return u.origin === CONSENT || u.href.startsWith(CB); };
  const back = (await b.browser.follow(next, {}, away)).url;
  assert.ok(back.href.startsWith(CB), back.href);
  assert.ok(seen.every((u) => !u.includes(token)), 'no URL on the way back carries the token');
  const t = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: b.verifier, expectedState: b.state });
  assert.equal(t.claims()!['https://rr/posted/answer'], 'posted yes');
  const exe = await latestExecution(ts, 'post-login');
  assert.ok(!JSON.stringify(exe).includes(token), 'nor does the execution record');
  // No allow list on this server: redirects to any https host go, and each host is logged once.
  assert.equal(ts.logs.filter((l) => /not on an allow list/.test(l) && l.includes('"host":"consent.example"')).length, 1);
  await bindActions(ts, 'post-login', []);
});

test('a GET back to /continue gives onContinuePostLogin the whole query, as the page sent it', async () => {
  // Regression (of a review fix): the resume ran the query through the filter meant for the
  // login's authorization request, so a page answering with `code=…` lost it.
  await deployAction(ts, { name: 'redirect-query', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.redirect.sendUserTo('${CONSENT}/q'); };
    exports.onContinuePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://rr/q', event.request.query); };` });
  await bindActions(ts, 'post-login', ['redirect-query']);
  try {
    const b = await beginLogin('consent@rr.example');
    const state = b.at.searchParams.get('state')!;
    const back = await finishAt(b.browser, `${ts.issuer}/continue?state=${encodeURIComponent(state)}&code=verifier-answer-123&session_token=abc`);
    const t = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: b.verifier, expectedState: b.state });
    assert.deepEqual(t.claims()!['https://rr/q'], { state, code: 'verifier-answer-123', session_token: 'abc' });
  } finally {
    await bindActions(ts, 'post-login', []);
  }
});

test('two logins of one user at one client keep their own claims: one paused at a redirect keeps its first part while the other finishes', async () => {
  // Regression: claims were one row per (user, client); the second login's first part replaced
  // the paused one's, which then resumed without the claim it set before its redirect.
  await deployAction(ts, { name: 'redirect-keep', trigger: 'post-login', code: redirectAction('keep'), secrets: [{ name: 'SECRET', value: SECRET }] });
  await bindActions(ts, 'post-login', ['redirect-keep']);
  const a = await beginLogin('consent@rr.example');
  const b = await beginLogin('consent@rr.example');
  const bBack = await finishAt(b.browser, (await pageAnswer(b.at, 'from b')).url);
  const tb = await oidc.authorizationCodeGrant(config, bBack, { pkceCodeVerifier: b.verifier, expectedState: b.state });
  assert.equal(tb.claims()!['https://rr/keep/answer'], 'from b');
  const aBack = await finishAt(a.browser, (await pageAnswer(a.at, 'from a')).url);
  const ta = await oidc.authorizationCodeGrant(config, aBack, { pkceCodeVerifier: a.verifier, expectedState: a.state });
  assert.equal(ta.claims()!['https://rr/keep/before'], 'set before the redirect', 'the paused login kept its first part');
  assert.equal(ta.claims()!['https://rr/keep/answer'], 'from a');
  // Each session's tokens read their own login's claims.
  const info = async (t: { access_token: string }) => (await (await fetch(`${ts.base}/userinfo`, { headers: { authorization: `Bearer ${t.access_token}` } })).json() as Record<string, unknown>)['https://rr/keep/answer'];
  assert.equal(await info(ta), 'from a');
  assert.equal(await info(tb), 'from b');
  // Rows no token can ask for any more (not written for a refresh token's lifetime) are swept.
  const rows = () => ts.ctx.db('action_login_claims').count({ n: '*' }).first().then((r) => Number(r!.n));
  const live = await rows();
  // An hour old, swept at 30 minutes: the two logins' rows above, written moments ago, are kept
  // however slow the run (with 10 s and 5 s, 5 s between their last write and here swept them too).
  await ts.ctx.db('action_login_claims').insert({ account_id: 'u-gone', client_id: 'c', login_ref: 'session:old', updated_at: Date.now() - 3600_000 });
  assert.equal(await ts.ctx.actions.triggers.sweepLoginClaims(1800_000), 1);
  assert.equal(await rows(), live);
  await bindActions(ts, 'post-login', []);
});

test('two redirecting actions in one chain: each pauses and resumes once, each token bound to its own state', async () => {
  await deployAction(ts, { name: 'redirect-one', trigger: 'post-login', code: redirectAction('one'), secrets: [{ name: 'SECRET', value: SECRET }] });
  await deployAction(ts, { name: 'redirect-two', trigger: 'post-login', code: redirectAction('two'), secrets: [{ name: 'SECRET', value: SECRET }] });
  await bindActions(ts, 'post-login', ['redirect-one', 'redirect-two']);
  const b = await beginLogin('consent@rr.example');
  assert.equal(b.at.pathname, '/one');
  const one = await pageAnswer(b.at, 'first answer');
  const second = await finishAt(b.browser, one.url);
  assert.equal(second.pathname, '/two', `the second action redirects after the first resumed: ${second.href}`);
  const two = await pageAnswer(second, 'second answer');
  assert.notEqual(two.state, one.state);
  const back = await finishAt(b.browser, two.url);
  assert.ok(back.href.startsWith(CB), back.href);
  const t = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: b.verifier, expectedState: b.state });
  assert.equal(t.claims()!['https://rr/one/answer'], 'first answer');
  assert.equal(t.claims()!['https://rr/two/answer'], 'second answer');
  assert.equal(t.claims()!['https://rr/two/before'], 'set before the redirect');
  await bindActions(ts, 'post-login', []);
});

test('onContinuePostLogin may redirect again: its new token is bound to the state that redirect comes back with', async () => {
  // Regression: a token encoded in onContinuePostLogin carried the state being resumed (used
  // up), while the redirect was stored under the next one: the page saw a mismatch.
  await deployAction(ts, { name: 'two-step', trigger: 'post-login', secrets: [{ name: 'SECRET', value: SECRET }], code: `
    exports.onExecutePostLogin = async (event, api) => {
      api.redirect.sendUserTo('${CONSENT}/step-1', { query: { session_token: api.redirect.encodeToken({ secret: event.secrets.SECRET, payload: { step: 1 } }) } });
    };
    exports.onContinuePostLogin = async (event, api) => {
      const p = api.redirect.validateToken({ secret: event.secrets.SECRET, tokenParameterName: 'session_token' });
      if (p.answer === 'more') {
        api.redirect.sendUserTo('${CONSENT}/step-2', { query: { session_token: api.redirect.encodeToken({ secret: event.secrets.SECRET, payload: { step: 2 } }) } });
        return;
      }
      api.idToken.setCustomClaim('https://rr/steps', p.answer);
    };` });
  await bindActions(ts, 'post-login', ['two-step']);
  const b = await beginLogin('consent@rr.example');
  assert.equal(b.at.pathname, '/step-1');
  const one = await pageAnswer(b.at, 'more');
  const second = await finishAt(b.browser, one.url);
  assert.equal(second.pathname, '/step-2', second.href);
  const two = await pageAnswer(second, 'done');
  assert.notEqual(two.state, one.state);
  const back = await finishAt(b.browser, two.url);
  assert.ok(back.href.startsWith(CB), back.href);
  const t = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: b.verifier, expectedState: b.state });
  assert.equal(t.claims()!['https://rr/steps'], 'done');
  await bindActions(ts, 'post-login', []);
});

test('an MFA pause (enrollWithAny) resumes the rest of the chain after the second factor, keeping the claims set before it', async () => {
  await deployAction(ts, { name: 'before-pause', trigger: 'post-login', code: "exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://rr/before_pause', 1); };" });
  await deployAction(ts, { name: 'pause-for-mfa', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.idToken.setCustomClaim('https://rr/pausing', 2);
    if (event.user.enrolledFactors.length === 0) api.authentication.enrollWithAny([{ type: 'otp' }]);
  };` });
  await deployAction(ts, { name: 'after-pause', trigger: 'post-login', code: "exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://rr/after_pause', event.authentication.methods.map((m) => m.name)); };" });
  await bindActions(ts, 'post-login', ['before-pause', 'pause-for-mfa', 'after-pause']);
  await ts.api('POST', '/users', { email: 'pause@rr.example', password: PASSWORD });
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'pause@rr.example', password: PASSWORD });
  assert.equal(r.callbackUrl, undefined, 'no code before the second factor');
  assert.ok(r.url && r.url.pathname.endsWith('/mfa'), r.url?.href);
  const secret = /data-secret="([A-Z2-7]+)"/.exec(r.loginPage ?? '')?.[1];
  assert.ok(secret);
  const enrolled = await r.browser.submit(r.url, r.loginPage!, { code: await generate({ secret }) });
  assert.equal(enrolled.status, 200);
  const done = await r.browser.submit(r.url, await enrolled.text(), {}, { actionIncludes: '/mfa/done' });
  const back = await followUntilAway(r.browser, new URL(done.headers.get('location')!, r.url));
  assert.ok(back.href.startsWith(CB), back.href);
  assert.equal(back.searchParams.get('error'), null, back.searchParams.get('error_description') ?? '');
  const t = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.equal(t.claims()!['https://rr/before_pause'], 1, 'claims from before the pause survive the resume');
  assert.equal(t.claims()!['https://rr/pausing'], 2);
  assert.deepEqual(t.claims()!['https://rr/after_pause'], ['pwd', 'mfa'], 'the rest of the chain ran after the second factor');
  await bindActions(ts, 'post-login', []);
});

test('/continue refuses missing, malformed, unknown, used and expired states with a clear 400 page (D18)', async () => {
  await deployAction(ts, { name: 'redirect-d18', trigger: 'post-login', code: redirectAction('d18'), secrets: [{ name: 'SECRET', value: SECRET }] });
  await bindActions(ts, 'post-login', ['redirect-d18']);
  const browser = new Browser();
  const expect400 = async (url: string, message: RegExp) => {
    const res = await browser.request(url);
    assert.equal(res.status, 400, url);
    assert.match(res.headers.get('content-type') ?? '', /html/);
    const html = await res.text();
    assert.match(html, message);
    assert.doesNotMatch(html, /at .*\.ts:\d+/, 'no stack trace');
  };
  await expect400(`${ts.base}/continue`, /missing its state/);
  await expect400(`${ts.base}/continue?state=short`, /missing its state or the state is malformed/);
  await expect400(`${ts.base}/continue?state=${encodeURIComponent('"><script>alert(1)</script>aaaaaaaaaaaaaaaa')}`, /malformed/);
  await expect400(`${ts.base}/continue?state=${'A'.repeat(65)}`, /malformed/);
  await expect400(`${ts.base}/continue?state=${'Q'.repeat(32)}`, /expired or was already used/);
  // POST works like GET (Auth0 recommends POSTing the token back), with the same checks.
  const post = await browser.request(`${ts.base}/continue`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'state=nope' });
  assert.equal(post.status, 400);

  // Used: the same link after a completed login.
  const done = await beginLogin('consent@rr.example');
  const answer = await pageAnswer(done.at, 'ok');
  assert.ok((await finishAt(done.browser, answer.url)).href.startsWith(CB));
  await expect400(answer.url, /expired or was already used/);

  // Expired: the state's 10-minute lifetime is over (aged in the database rather than waited for).
  const stale = await beginLogin('consent@rr.example');
  const staleAnswer = await pageAnswer(stale.at, 'late');
  await ts.ctx.db('action_continuations').where({ state: staleAnswer.state }).update({ expires_at: Date.now() - 1000 });
  const res = await stale.browser.request(staleAnswer.url);
  assert.equal(res.status, 400);
  assert.match(await res.text(), /expired or was already used/);
  await bindActions(ts, 'post-login', []);
});

test('a state from another browser\'s login is refused and cannot be used to finish that login; the owner still can', async () => {
  await deployAction(ts, { name: 'redirect-owner', trigger: 'post-login', code: redirectAction('owner'), secrets: [{ name: 'SECRET', value: SECRET }] });
  await bindActions(ts, 'post-login', ['redirect-owner']);
  const victim = await beginLogin('consent@rr.example');
  const answer = await pageAnswer(victim.at, 'mine');

  // The attacker's browser has no interaction of its own.
  const stranger = new Browser();
  const r1 = await stranger.follow(answer.url, {}, (u) => u.href.startsWith(CB));
  assert.equal(r1.res.status, 400);
  assert.match(await r1.res.text(), /expired|another browser|does not match/);

  // The attacker's browser with its own login paused at the same step, replaying the victim's state
  // against its own interaction.
  const attacker = await beginLogin('other@rr.example');
  const attackerUid = (await ts.ctx.db('action_continuations').where({ state: attacker.at.searchParams.get('state') }).first()).interaction_uid as string;
  const crossed = await attacker.browser.request(`${ts.base}/interaction/${attackerUid}/continue?${new URL(answer.url).searchParams}`);
  assert.equal(crossed.status, 400);
  assert.match(await crossed.text(), /belongs to another login|expired|already used/);
  const viaEntry = await attacker.browser.follow(answer.url, {}, (u) => u.href.startsWith(CB));
  assert.equal(viaEntry.res.status, 400, 'the attacker cannot resume the victim\'s interaction');

  // The refusals did not consume the victim's step.
  const back = await finishAt(victim.browser, answer.url);
  assert.ok(back.href.startsWith(CB), back.href);
  const t = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: victim.verifier, expectedState: victim.state });
  assert.equal(t.claims()!['https://rr/owner/answer'], 'mine');
  assert.equal(t.claims()!.email, 'consent@rr.example');
  await bindActions(ts, 'post-login', []);
});

test('/continue submitted twice at once resumes the login exactly once (D18 double submit)', async () => {
  await deployAction(ts, { name: 'redirect-double', trigger: 'post-login', code: redirectAction('double'), secrets: [{ name: 'SECRET', value: SECRET }] });
  await bindActions(ts, 'post-login', ['redirect-double']);
  const b = await beginLogin('consent@rr.example');
  const answer = await pageAnswer(b.at, 'once');
  const outcomes = await Promise.all([0, 1, 2].map(() => b.browser.follow(answer.url, {}, (u) => u.href.startsWith(CB))));
  const resumed = outcomes.filter((o) => o.url.href.startsWith(CB));
  assert.equal(resumed.length, 1, outcomes.map((o) => `${o.res.status} ${o.url.href}`).join('\n'));
  assert.ok(resumed[0].url.searchParams.get('code'));
  assert.deepEqual(outcomes.filter((o) => o !== resumed[0]).map((o) => o.res.status), [400, 400]);
  await bindActions(ts, 'post-login', []);
});

test('forged answers to onContinuePostLogin (alg none, another login\'s state, expired) fail the login closed, and the step is spent', async () => {
  await deployAction(ts, { name: 'redirect-forged', trigger: 'post-login', code: redirectAction('forged'), secrets: [{ name: 'SECRET', value: SECRET }] });
  await bindActions(ts, 'post-login', ['redirect-forged']);
  const key = new TextEncoder().encode(SECRET);
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const other = await beginLogin('other@rr.example');
  const otherState = other.at.searchParams.get('state')!;
  const forgeries: [string, (state: string, sub: string) => Promise<string>][] = [
    ['alg none', async (state, sub) => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ state, sub, answer: 'x', exp: Math.floor(Date.now() / 1000) + 60 })}.`],
    ['state of another login', (_state, sub) => new SignJWT({ state: otherState, answer: 'x' }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('2m').sign(key)],
    ['expired', (state, sub) => new SignJWT({ state, answer: 'x' }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt(Math.floor(Date.now() / 1000) - 600).setExpirationTime(Math.floor(Date.now() / 1000) - 300).sign(key)],
  ];
  for (const [label, forge] of forgeries) {
    const b = await beginLogin('consent@rr.example');
    const state = b.at.searchParams.get('state')!;
    const { payload } = await jwtVerify(b.at.searchParams.get('session_token')!, key);
    const url = `${ts.issuer}/continue?state=${encodeURIComponent(state)}&session_token=${encodeURIComponent(await forge(state, String(payload.sub)))}`;
    const back = await finishAt(b.browser, url);
    assert.ok(back.href.startsWith(CB), `${label}: ${back.href}`);
    assert.equal(back.searchParams.get('error'), 'access_denied', label);
    assert.equal(back.searchParams.get('code'), null, label);
    assert.match((await latestExecution(ts, 'post-login')).results[0].error.message, /session token/i, label);
    // The step was spent on the forgery: no second try with a good token.
    const retry = await b.browser.request((await pageAnswer(b.at, 'late')).url);
    assert.equal(retry.status, 400, label);
  }
  await bindActions(ts, 'post-login', []);
});

// Auth0 runs post-login on every authentication transaction, including one answered from an
// existing session (SSO): a deny bound after the user signed in must still apply then.
test('a deny bound after the user signed in still applies when the next authorization is answered from the session', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const first = await loginThroughForm(config, { redirectUri: CB, email: 'other@rr.example', password: PASSWORD });
  assert.ok(first.callbackUrl && !first.callbackUrl.searchParams.get('error'));
  await deployAction(ts, { name: 'deny-everyone', trigger: 'post-login', code: "exports.onExecutePostLogin = async (event, api) => { api.access.deny('closed for maintenance'); };" });
  await bindActions(ts, 'post-login', ['deny-everyone']);
  const again = await loginThroughForm(config, { browser: first.browser, redirectUri: CB, email: 'other@rr.example', password: PASSWORD });
  assert.ok(again.callbackUrl, again.loginPage);
  assert.equal(again.callbackUrl.searchParams.get('error'), 'access_denied', `a code was issued from the session without running post-login: ${again.callbackUrl.href}`);
});

// ---- review fixes: MFA across a redirect, lost state, stale claims, transient refresh failures ----

/** Enrolls an authenticator on the enrollment page at `url` and finishes; returns where the login ends (the callback). */
async function enrollAt(browser: Browser, url: URL, html: string) {
  const secret = /data-secret="([A-Z2-7]+)"/.exec(html)?.[1];
  assert.ok(secret, `expected the enrollment page at ${url.href}:\n${html.slice(0, 300)}`);
  const enrolled = await browser.submit(url, html, { code: await generate({ secret }) });
  assert.equal(enrolled.status, 200);
  const done = await browser.submit(url, await enrolled.text(), {}, { actionIncludes: '/mfa/done' });
  const back = await followUntilAway(browser, new URL(done.headers.get('location')!, url));
  assert.ok(back.href.startsWith(CB), back.href);
  return back;
}

test('MFA asked for before a redirect is still required after /continue: multifactor.enable in an earlier action, a challenge in the redirecting action itself', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'enable-mfa-first', trigger: 'post-login', code: "exports.onExecutePostLogin = async (event, api) => { api.multifactor.enable('any'); };" });
  await deployAction(ts, { name: 'redirect-after-enable', trigger: 'post-login', code: redirectAction('mfa'), secrets: [{ name: 'SECRET', value: SECRET }] });
  await bindActions(ts, 'post-login', ['enable-mfa-first', 'redirect-after-enable']);
  await ts.api('POST', '/users', { email: 'mfa-redirect@rr.example', password: PASSWORD });
  const b = await beginLogin('mfa-redirect@rr.example');
  const answer = await pageAnswer(b.at, 'yes');
  const resumed = await b.browser.follow(answer.url, {}, (u) => u.origin === CONSENT || u.href.startsWith(CB));
  assert.ok(!resumed.url.href.startsWith(CB), `the login finished without the second factor: ${resumed.url.href}`);
  assert.match(resumed.url.pathname, /\/interaction\/[^/]+\/mfa$/);
  const back = await enrollAt(b.browser, resumed.url, await resumed.res.text());
  assert.equal(back.searchParams.get('error'), null, back.searchParams.get('error_description') ?? '');
  const tokens = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: b.verifier, expectedState: b.state });
  assert.deepEqual(tokens.claims()!.amr, ['pwd', 'otp']);
  assert.equal(tokens.claims()!['https://rr/mfa/answer'], 'yes', 'the chain resumed before the second factor');

  // One action asks for a challenge and redirects: the challenge is still owed after /continue.
  await deployAction(ts, { name: 'challenge-and-redirect', trigger: 'post-login', secrets: [{ name: 'SECRET', value: SECRET }], code: `
    exports.onExecutePostLogin = async (event, api) => {
      api.authentication.challengeWith({ type: 'otp' });
      api.redirect.sendUserTo('${CONSENT}/both', { query: { session_token: api.redirect.encodeToken({ secret: event.secrets.SECRET, payload: {} }) } });
    };
    exports.onContinuePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://rr/both/answer', api.redirect.validateToken({ secret: event.secrets.SECRET }).answer); };` });
  await bindActions(ts, 'post-login', ['challenge-and-redirect']);
  await ts.api('POST', '/users', { email: 'mfa-redirect-2@rr.example', password: PASSWORD });
  const b2 = await beginLogin('mfa-redirect-2@rr.example');
  const resumed2 = await b2.browser.follow((await pageAnswer(b2.at, 'both')).url, {}, (u) => u.origin === CONSENT || u.href.startsWith(CB));
  assert.ok(!resumed2.url.href.startsWith(CB), `the login finished without the challenge: ${resumed2.url.href}`);
  const back2 = await enrollAt(b2.browser, resumed2.url, await resumed2.res.text());
  const tokens2 = await oidc.authorizationCodeGrant(config, back2, { pkceCodeVerifier: b2.verifier, expectedState: b2.state });
  assert.deepEqual(tokens2.claims()!.amr, ['pwd', 'otp']);
  assert.equal(tokens2.claims()!['https://rr/both/answer'], 'both');
});

test('a login paused at a redirect or an MFA step fails closed when the chain changed meanwhile (another action at that place, or a new version)', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const waiting = await createAction(ts, { name: 'redirect-changing', trigger: 'post-login', code: redirectAction('changing'), secrets: [{ name: 'SECRET', value: SECRET }] });
  await deployVersion(ts, waiting.id);
  await deployAction(ts, { name: 'stand-in', trigger: 'post-login', code: "exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://rr/stand_in', true); };" });
  await bindActions(ts, 'post-login', ['redirect-changing']);
  const expectChanged = (back: URL) => {
    assert.ok(back.href.startsWith(CB), back.href);
    assert.equal(back.searchParams.get('code'), null, 'no code');
    assert.equal(back.searchParams.get('error'), 'access_denied');
    assert.match(back.searchParams.get('error_description') ?? '', /changed/);
  };

  // Another action moved into the place the login resumes at.
  const b = await beginLogin('consent@rr.example');
  const answer = await pageAnswer(b.at, 'yes');
  await bindActions(ts, 'post-login', ['stand-in', 'redirect-changing']);
  expectChanged(await finishAt(b.browser, answer.url));

  // The waiting action was redeployed.
  await bindActions(ts, 'post-login', ['redirect-changing']);
  const b2 = await beginLogin('consent@rr.example');
  const answer2 = await pageAnswer(b2.at, 'yes');
  await deployVersion(ts, waiting.id);
  expectChanged(await finishAt(b2.browser, answer2.url));

  // An MFA pause: the pausing action was redeployed while the user enrolled.
  const pausing = await createAction(ts, { name: 'pause-changing', trigger: 'post-login', code: "exports.onExecutePostLogin = async (event, api) => { api.authentication.enrollWithAny([{ type: 'otp' }]); };" });
  await deployVersion(ts, pausing.id);
  await bindActions(ts, 'post-login', ['pause-changing', 'stand-in']);
  await ts.api('POST', '/users', { email: 'pause-changing@rr.example', password: PASSWORD });
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'pause-changing@rr.example', password: PASSWORD });
  assert.ok(r.url && r.url.pathname.endsWith('/mfa'), r.url?.href);
  await deployVersion(ts, pausing.id);
  expectChanged(await enrollAt(r.browser, r.url, r.loginPage!));
});

test('a transient post-login failure on a refresh does not spend the refresh token: the retry succeeds, and the chain runs once per refresh', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'flaky-on-refresh', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol !== 'oauth2-refresh-token') return;
      if (event.user.app_metadata.upstream_down) throw new Error('upstream 503');
      api.user.setAppMetadata('refresh_runs', (event.user.app_metadata.refresh_runs || 0) + 1);
      api.accessToken.setCustomClaim('https://rr/refreshed', true);
    };` });
  await bindActions(ts, 'post-login', ['flaky-on-refresh']);
  const user = (await ts.api('POST', '/users', { email: 'flaky@rr.example', password: PASSWORD })).body;
  const setDown = async (down: boolean | null) => assert.equal((await ts.api('PATCH', `/users/${encodeURIComponent(user.user_id)}`, { app_metadata: { upstream_down: down } })).status, 200);
  const first = await loginWithRefresh('flaky@rr.example');

  await setDown(true);
  await expectOAuthError(oidc.refreshTokenGrant(config, first.refresh_token!), 'access_denied', 400);
  await setDown(null);
  const retried = await oidc.refreshTokenGrant(config, first.refresh_token!);
  assert.equal(decodeJwt(retried.access_token)['https://rr/refreshed'], true);
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(user.user_id)}`)).body.app_metadata.refresh_runs, 1, 'one refresh, one run of the chain');
  // The successful refresh rotated the token as usual.
  const next = await oidc.refreshTokenGrant(config, retried.refresh_token!);
  assert.ok(next.access_token);
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(user.user_id)}`)).body.app_metadata.refresh_runs, 2);
});

test('claims decided by post-login stay with their login: none after the action is unbound (SSO, userinfo), none from another session\'s login', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'numbered-logins', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      const n = (event.user.app_metadata.logins || 0) + 1;
      api.user.setAppMetadata('logins', n);
      api.idToken.setCustomClaim('https://rr/login_no', n);
    };` });
  await bindActions(ts, 'post-login', ['numbered-logins']);
  await ts.api('POST', '/users', { email: 'sso@rr.example', password: PASSWORD });
  const login = async (browser: Browser) => {
    const r = await loginThroughForm(config, { browser, redirectUri: CB, email: 'sso@rr.example', password: PASSWORD });
    assert.ok(r.callbackUrl && !r.callbackUrl.searchParams.get('error'), r.callbackUrl?.href ?? r.loginPage);
    return oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  };
  const userinfo = (tokens: { access_token: string; claims(): { sub: string } | undefined }) => oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);

  // Two browsers, two sessions: each login's claims, never the other's.
  const browserA = new Browser();
  const a = await login(browserA);
  assert.equal(a.claims()!['https://rr/login_no'], 1);
  const browserB = new Browser();
  const b = await login(browserB);
  assert.equal(b.claims()!['https://rr/login_no'], 2);
  assert.equal((await userinfo(b))['https://rr/login_no'], 2);
  assert.equal((await userinfo(a))['https://rr/login_no'], 1, 'session A reads its own login\'s claims, not session B\'s');

  // Unbound: an SSO login answered from session B (whose login decided the stored claims), and
  // userinfo with B's earlier token, carry nothing of the old chain. The stored claims go with
  // the last binding (logins with nothing bound neither read nor clear them).
  const stored = () => ts.ctx.db('action_login_claims').where({ account_id: a.claims()!.sub }).count({ n: '*' }).first().then((r) => Number(r?.n));
  assert.equal(await stored(), 2, 'each session\'s login at this client keeps its claims');
  await bindActions(ts, 'post-login', []);
  assert.equal(await stored(), 0, 'claims of unbound actions were kept after the last binding went');
  const sso = await login(browserB);
  assert.equal(sso.claims()!['https://rr/login_no'], undefined, 'a claim from an unbound action rode on an SSO login');
  assert.equal((await userinfo(sso))['https://rr/login_no'], undefined);
  assert.equal((await userinfo(b))['https://rr/login_no'], undefined);
  assert.equal((await login(browserA)).claims()!['https://rr/login_no'], undefined);

  // The same when the last bound action is deleted with ?force=true (its binding goes with it).
  await bindActions(ts, 'post-login', ['numbered-logins']);
  assert.ok((await login(browserA)).claims()!['https://rr/login_no']);
  assert.equal(await stored(), 1);
  const id = (await ts.api('GET', '/actions/actions?actionName=numbered-logins')).body.actions[0].id as string;
  assert.equal((await ts.api('DELETE', `/actions/actions/${id}?force=true`)).status, 204);
  assert.equal(await stored(), 0, 'claims of a deleted action were kept');
});

test('a second factor asked for on refresh: refused for a password-only login (multifactor.enable too), passed for a login that had one, the rest of the chain running', async () => {
  // Regression (outside probe): multifactor.enable was ignored on refresh, so a refresh token from a
  // password-only login kept working where a new login needed the second factor; and challengeWith
  // refused the refresh even when the login had passed the second factor.
  await deployAction(ts, { name: 'rf-enable', trigger: 'post-login', code: "exports.onExecutePostLogin = async (event, api) => { api.multifactor.enable('any'); };" });
  await deployAction(ts, { name: 'rf-challenge', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    if (event.user.enrolledFactors.length === 0) api.authentication.enrollWithAny([{ type: 'otp' }]);
    else api.authentication.challengeWith({ type: 'otp' });
  };` });
  await deployAction(ts, { name: 'rf-after', trigger: 'post-login', code: "exports.onExecutePostLogin = async (event, api) => { api.accessToken.setCustomClaim('https://rr/after_mfa', event.transaction.protocol); };" });

  // A password-only login (nothing bound then) keeps a refresh token.
  await bindActions(ts, 'post-login', []);
  const pwdOnly = await loginWithRefresh('refresher@rr.example');
  await deployAction(ts, { name: 'rf-enable-remember', trigger: 'post-login', code: "exports.onExecutePostLogin = async (event, api) => { api.multifactor.enable('any', { allowRememberBrowser: true }); };" });
  for (const chain of [['rf-enable'], ['rf-challenge', 'rf-after'], ['rf-enable-remember']]) {
    await bindActions(ts, 'post-login', chain);
    // Auth0's error for it (403 mfa_required), which its SDKs know.
    const err = await expectOAuthError(oidc.refreshTokenGrant(config, pwdOnly.refresh_token!), 'mfa_required', 403);
    assert.match(err.error_description ?? '', /second factor/, chain.join());
  }
  // Refused before the token was used: with the requirement gone it still works.
  await bindActions(ts, 'post-login', []);
  const kept = await oidc.refreshTokenGrant(config, pwdOnly.refresh_token!);
  // Auth0's documented way through for actions that let remembered browsers skip the code (their
  // logins' refresh tokens carry no second factor): skip refresh exchanges in the action.
  await deployAction(ts, { name: 'rf-enable-skip-refresh', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    if (event.transaction.protocol === 'oauth2-refresh-token') { api.accessToken.setCustomClaim('https://rr/skipped', true); return; }
    api.multifactor.enable('any', { allowRememberBrowser: true });
  };` });
  await bindActions(ts, 'post-login', ['rf-enable-skip-refresh']);
  const skipped = await oidc.refreshTokenGrant(config, kept.refresh_token!);
  assert.equal(decodeJwt(skipped.access_token)['https://rr/skipped'], true);

  // A login that passed the second factor: both pass on refresh, and the chain goes on after the pause.
  await bindActions(ts, 'post-login', ['rf-challenge', 'rf-after']);
  await ts.api('POST', '/users', { email: 'mfa-refresh@rr.example', password: PASSWORD });
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'mfa-refresh@rr.example', password: PASSWORD, scope: 'openid email offline_access read:things', params: { prompt: 'consent', audience: API } });
  const secret = /data-secret="([A-Z2-7]+)"/.exec(r.loginPage ?? '')?.[1];
  assert.ok(r.url && secret, 'enrollment page');
  const enrolled = await r.browser.submit(r.url, r.loginPage!, { code: await generate({ secret }) });
  const done = await r.browser.submit(r.url, await enrolled.text(), {}, { actionIncludes: '/mfa/done' });
  const back = await followUntilAway(r.browser, new URL(done.headers.get('location')!, r.url));
  assert.equal(back.searchParams.get('error'), null, back.searchParams.get('error_description') ?? '');
  const t = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.ok(t.refresh_token);
  const refreshed = await oidc.refreshTokenGrant(config, t.refresh_token!);
  assert.equal(decodeJwt(refreshed.access_token)['https://rr/after_mfa'], 'oauth2-refresh-token', 'the action after the pause ran on refresh');
  await bindActions(ts, 'post-login', ['rf-enable', 'rf-after']);
  const again = await oidc.refreshTokenGrant(config, refreshed.refresh_token!);
  assert.equal(decodeJwt(again.access_token)['https://rr/after_mfa'], 'oauth2-refresh-token');
  await bindActions(ts, 'post-login', []);
});
