import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createUser, discover, loginThroughForm, silentAuthorization, startTestServer, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';
import { bindActions, deployAction, latestExecution, startContinueBounce } from './helpers/actions.ts';

/*
 * Auth0's api.authentication.recordMethod(providerUrl): after a redirect to an outside
 * authenticator, onContinuePostLogin marks that method done in the session, and later logins
 * there find it in event.authentication.methods (so the action does not send the user again).
 */

const CB = 'https://app-5189.example/cb';
const PASSWORD = 'record method password 1';
const PROVIDER = 'https://mfa.partner.example/';
let ts: TestServer;
let config: oidc.Configuration;
let bounce: Awaited<ReturnType<typeof startContinueBounce>>;
let bounceUrl = '';
before(async () => {
  ts = await startTestServer();
  const spa = (await ts.api('POST', '/clients', { name: 'Record SPA', app_type: 'spa', callbacks: [CB] })).body;
  config = await discover(ts, spa.client_id);
  // The outside authenticator: sends the user straight back to /continue. Only the attacker of
  // the review test can pass it (the victim's phone is not theirs).
  bounce = await startContinueBounce(() => ts.issuer, { refuse: (q) => q.get('who') === 'victim@record.example' });
  bounceUrl = bounce.url;
});
after(async () => {
  await ts?.close();
  await bounce?.close();
});

const seenMethods = async (email: string) => (await ts.api('GET', `/users-by-email?email=${encodeURIComponent(email)}`)).body[0].app_metadata.methods_seen as string[];

test('recorded in onContinuePostLogin: later logins in the session see it and are not sent again; another session is', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'partner-mfa', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      api.user.setAppMetadata('methods_seen', event.authentication.methods.map((m) => m.name));
      if (!event.authentication.methods.some((m) => m.name === ${JSON.stringify(PROVIDER)})) api.redirect.sendUserTo(${JSON.stringify('BOUNCE')});
    };
    exports.onContinuePostLogin = async (event, api) => { api.authentication.recordMethod(${JSON.stringify(PROVIDER)}); };`.replace('BOUNCE', bounceUrl) });
  await bindActions(ts, 'post-login', ['partner-mfa']);
  await createUser(ts, 'partner@record.example', PASSWORD);
  const before = bounce.asked.length;
  const first = await loginThroughForm(config, { redirectUri: CB, email: 'partner@record.example', password: PASSWORD });
  assert.equal(first.callbackUrl?.searchParams.get('error'), null, first.callbackUrl?.searchParams.get('error_description') ?? String(first.status));
  assert.equal(bounce.asked.length, before + 1, 'sent to the authenticator once');
  assert.deepEqual(await seenMethods('partner@record.example'), ['pwd']);
  // The same session answers silently: the action finds the method and does not redirect
  // (a redirect would be interaction_required with prompt=none).
  const silent = new URL(await silentAuthorization(config, first.browser, CB));
  assert.equal(silent.searchParams.get('error'), null, silent.searchParams.get('error_description') ?? '');
  const seen = await seenMethods('partner@record.example');
  assert.deepEqual(seen, ['pwd', PROVIDER]);
  assert.equal(bounce.asked.length, before + 1);
  // Another browser: a new session, without the method: sent again.
  const other = await loginThroughForm(config, { redirectUri: CB, email: 'partner@record.example', password: PASSWORD });
  assert.equal(other.callbackUrl?.searchParams.get('error'), null);
  assert.equal(bounce.asked.length, before + 2);
  assert.deepEqual(await seenMethods('partner@record.example'), ['pwd']);
  // Ending a session drops what was recorded in it.
  const userId = (await ts.api('GET', '/users-by-email?email=partner%40record.example')).body[0].user_id;
  const rows: { session_uid: string; user_id: string }[] = await ts.ctx.db('session_methods').where({ name: PROVIDER }).select('session_uid', 'user_id');
  const recordedIn = rows.map((r) => r.session_uid);
  assert.equal(recordedIn.length, 2, 'one row per session that did it');
  for (const uid of recordedIn) assert.equal((await ts.api('DELETE', `/sessions/${encodeURIComponent(uid)}`)).status, 200);
  assert.equal((await ts.ctx.db('session_methods').where({ name: PROVIDER })).length, 0);
  assert.deepEqual(rows.map((r) => r.user_id), [userId, userId], 'recorded for the user who did it');
});

test('a chain that denies after the method was recorded records nothing', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'record-then', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.redirect.sendUserTo(${JSON.stringify('BOUNCE')}); };
    exports.onContinuePostLogin = async (event, api) => { api.authentication.recordMethod('https://denied.partner.example/'); };`.replace('BOUNCE', bounceUrl) });
  await deployAction(ts, { name: 'deny-after', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.access.deny('not today'); };` });
  await bindActions(ts, 'post-login', ['record-then', 'deny-after']);
  await createUser(ts, 'denied@record.example', PASSWORD);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'denied@record.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), 'access_denied');
  assert.equal((await ts.ctx.db('session_methods').where({ name: 'https://denied.partner.example/' })).length, 0);
});

test('outside onContinuePostLogin, or with something other than a URL, the call is refused and named; the login goes on', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'record-too-early', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      api.authentication.recordMethod(${JSON.stringify(PROVIDER)});
      api.authentication.recordMethod('not a url');
    };` });
  await bindActions(ts, 'post-login', ['record-too-early']);
  await createUser(ts, 'early@record.example', PASSWORD);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'early@record.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  const exe = await latestExecution(ts, 'post-login');
  assert.deepEqual(exe.results[0].rejected_commands, [
    'api.authentication.recordMethod is available in onContinuePostLogin only',
    'authentication.recordMethod needs an absolute URL',
  ]);
  // Nothing was recorded: a silent authorization's actions do not see it.
  await deployAction(ts, { name: 'report-methods', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.user.setAppMetadata('methods_seen', event.authentication.methods.map((m) => m.name)); };` });
  await bindActions(ts, 'post-login', ['report-methods']);
  assert.equal(new URL(await silentAuthorization(config, r.browser, CB)).searchParams.get('error'), null);
  assert.deepEqual(await seenMethods('early@record.example'), ['pwd']);
});

test('(review) a method passed in a login that never finished does not let the next account on that browser skip the authenticator', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'partner-mfa-who', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (!event.authentication.methods.some((m) => m.name === ${JSON.stringify(PROVIDER)})) api.redirect.sendUserTo(${JSON.stringify('BOUNCE')}, { query: { who: event.user.email } });
    };
    exports.onContinuePostLogin = async (event, api) => { api.authentication.recordMethod(${JSON.stringify(PROVIDER)}); };`.replace('BOUNCE', bounceUrl) });
  await bindActions(ts, 'post-login', ['partner-mfa-who']);
  await createUser(ts, 'attacker@record.example', PASSWORD);
  await createUser(ts, 'victim@record.example', PASSWORD);
  const browser = new Browser();
  // The attacker signs in as themself, passes their own authenticator, and stops right after
  // /continue: the authorization never resumes, the browser's new session never gets an account.
  let afterContinue = false;
  const a = await loginThroughForm(config, { browser, redirectUri: CB, email: 'attacker@record.example', password: PASSWORD, stop: (u) => {
    if (afterContinue) return true;
    if (u.pathname.endsWith('/continue') && u.pathname.includes('/interaction/')) afterContinue = true;
    return false;
  } });
  assert.equal(a.callbackUrl, undefined);
  // Then the victim's password, in the same browser: the victim must be sent to the authenticator too.
  bounce.asked.length = 0;
  const v = await loginThroughForm(config, { browser, redirectUri: CB, email: 'victim@record.example', password: PASSWORD });
  assert.deepEqual(bounce.asked, ['victim@record.example'], 'the victim was sent to the authenticator');
  assert.equal(v.callbackUrl?.searchParams.get('code') ?? null, null, 'and did not get a code');
});

test('(review) a method recorded and then denied in a later part of the chain is not kept; deleting the user drops what was recorded', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'record-then-redirect', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.redirect.sendUserTo(${JSON.stringify('BOUNCE')}); };
    exports.onContinuePostLogin = async (event, api) => { api.authentication.recordMethod('https://twice.partner.example/'); };`.replace('BOUNCE', bounceUrl) });
  await deployAction(ts, { name: 'redirect-then-deny', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.redirect.sendUserTo(${JSON.stringify('BOUNCE')}); };
    exports.onContinuePostLogin = async (event, api) => { api.access.deny('second check failed'); };`.replace('BOUNCE', bounceUrl) });
  await bindActions(ts, 'post-login', ['record-then-redirect', 'redirect-then-deny']);
  await createUser(ts, 'twice@record.example', PASSWORD);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'twice@record.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), 'access_denied');
  assert.equal((await ts.ctx.db('session_methods').where({ name: 'https://twice.partner.example/' })).length, 0);
  // Recorded for a login that finishes, then the user deleted: gone with the user's sessions.
  await bindActions(ts, 'post-login', ['record-then-redirect']);
  const ok = await loginThroughForm(config, { redirectUri: CB, email: 'twice@record.example', password: PASSWORD });
  assert.equal(ok.callbackUrl?.searchParams.get('error'), null);
  assert.equal((await ts.ctx.db('session_methods').where({ name: 'https://twice.partner.example/' })).length, 1);
  const userId = (await ts.api('GET', '/users-by-email?email=twice%40record.example')).body[0].user_id;
  assert.equal((await ts.api('DELETE', `/users/${encodeURIComponent(userId)}`)).status, 204);
  assert.equal((await ts.ctx.db('session_methods').where({ name: 'https://twice.partner.example/' })).length, 0);
});
